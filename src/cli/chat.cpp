// `pocket chat -m MODEL`: a conversation in the terminal, in the model's own chat format.
// On a terminal: line editing and history (libedit), streamed answers, multi-line input (end a
// line with \ or wrap a block in """), commands (/help), Ctrl-C stops the answer being written,
// Ctrl-D quits. Otherwise (a pipe or a file): one user message per input line, one answer per
// message on stdout, each followed by a newline, so the command can be scripted.
#include <editline/readline.h>
#include <signal.h>
#include <unistd.h>
#include <CLI/CLI.hpp>

#include <atomic>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <memory>
#include <string>

#include "cli/cloud_options.h"
#include "cli/commands.h"
#include "cli/format.h"
#include "cli/generate_options.h"
#include "cli/guard_options.h"
#include "cli/model_path.h"
#include "pocket/convert/hf_loader.h"
#include "pocket/core/error.h"
#include "pocket/core/read_file.h"
#include "pocket/core/thread_pool.h"
#include "pocket/generate/chat.h"
#include "pocket/model/model.h"

namespace pocket::cli {
namespace {

struct ChatCliOptions {
    std::string model;
    std::string system;
    std::string template_file;
    std::string variant;
    int64_t ctx_size = 0;
    CacheTypeOptions cache_types;
    LoraCliOptions lora;
    int64_t n_predict = -1;
    int threads = 0;
    SamplingParams sampling;
    CloudCliOptions cloud;
    GuardCliOptions guard;
};

// The session a Ctrl-C should stop. A signal handler can reach nothing else, so this one pointer
// is process state; it is set only while an answer is being generated.
std::atomic<Session*> g_generating{nullptr};
// Set by Ctrl-C while a cloud answer streams (polled by the cloud client).
std::atomic<bool> g_stop_cloud{false};

void on_interrupt(int) {
    if (Session* s = g_generating.load()) s->cancel();
    g_stop_cloud.store(true);
}

void note(const std::string& text) {
    std::fprintf(stderr, "%s\n", text.c_str());
}

class ChatCli {
  public:
    ChatCli(const ChatCliOptions& opt, model::Context& ctx)
        : opt_(opt), chat_(ctx, chat_options(opt)) {
        gen_.sampling = opt.sampling;
        gen_.max_tokens = opt.n_predict;
        if (auto h = hybrid_options(opt.cloud)) {
            hybrid_ = std::make_unique<route::HybridRouter>(std::move(*h));
            route_ = route::parse_route_request(opt.cloud.route);
        }
        guard_ = make_guard(opt.guard);
    }

    bool template_is_builtin() const { return chat_.template_is_builtin(); }

    // Sends one user message and streams the answer.
    void answer(const std::string& text) {
        const ActiveGuard* guard = guard_ ? &*guard_ : nullptr;
        // A blocked message gets the refusal; neither goes into the conversation or the cloud.
        if (const auto refusal = refuse_prompt(guard, text)) {
            write_out(*refusal + "\n");
            return;
        }
        GuardedAnswer out(guard, text, write_out);
        if (hybrid_ && answer_from_cloud(text, out)) return;
        g_generating.store(&chat_.session());
        ChatReply reply;
        try {
            reply =
                chat_.send(text, gen_, [&out](std::string_view piece) { return out.push(piece); });
        } catch (...) {
            g_generating.store(nullptr);
            throw;
        }
        g_generating.store(nullptr);
        out.finish();
        write_out("\n");
        if (out.blocked()) {
            // The conversation keeps what the user saw, not the generated text the guard cut.
            replace_last_answer(out.shown());
            note("[the guard stopped the answer]");
        } else if (reply.result.finish == FinishReason::Cancelled) {
            note("[stopped]");
        }
        if (reply.dropped_messages > 0) {
            note(cat("[the context is full: the ", reply.dropped_messages,
                     " oldest messages were left out of this answer's prompt]"));
        }
        last_ = reply.result;
    }

    // Runs a /command; false when it asks to quit.
    bool command(const std::string& line) {
        const size_t space = line.find(' ');
        const std::string name = line.substr(0, space);
        const std::string arg = space == std::string::npos ? "" : line.substr(space + 1);
        if (name == "/quit" || name == "/exit") return false;
        if (name == "/help") {
            note(kHelp);
        } else if (name == "/reset") {
            chat_.reset();
            note("[conversation cleared]");
        } else if (name == "/system") {
            chat_.set_system(arg);
            note(arg.empty() ? "[system prompt removed]" : "[system prompt set]");
        } else if (name == "/save") {
            if (arg.empty()) return usage("/save FILE");
            std::ofstream out(arg, std::ios::binary);
            out << chat_.to_json().dump(2) << "\n";
            if (!out) fail("cannot write ", arg);
            note("[saved " + std::to_string(chat_.messages().size()) + " messages to " + arg + "]");
        } else if (name == "/load") {
            if (arg.empty()) return usage("/load FILE");
            chat_.load_json(nlohmann::ordered_json::parse(read_file(arg)));
            note("[loaded " + std::to_string(chat_.messages().size()) + " messages from " + arg +
                 "]");
        } else if (name == "/stats") {
            stats();
        } else {
            note("unknown command " + name + " (/help lists them)");
        }
        return true;
    }

  private:
    // Routes the message; true when it was dealt with by the cloud (answered, stopped, or failed
    // under --cloud-fallback fail), false when the local model is to answer it.
    void replace_last_answer(const std::string& shown) {
        nlohmann::ordered_json conversation = chat_.to_json();
        auto& messages = conversation["messages"];
        if (messages.empty() || messages.back()["role"] != "assistant") return;
        messages.back()["content"] = shown;
        chat_.load_json(conversation);
    }

    bool answer_from_cloud(const std::string& text, GuardedAnswer& out) {
        nlohmann::json messages = nlohmann::json::array();
        std::vector<std::string> outbound;
        if (!chat_.system().empty()) {
            messages.push_back({{"role", "system"}, {"content", chat_.system()}});
            outbound.push_back(chat_.system());
        }
        for (const auto& m : chat_.messages()) {
            messages.push_back(nlohmann::json::parse(m.dump()));
            if (m.contains("content") && m["content"].is_string())
                outbound.push_back(m["content"].get<std::string>());
        }
        messages.push_back({{"role", "user"}, {"content", text}});
        outbound.push_back(text);
        const route::RouteDecision decision = hybrid_->decide(text, outbound, route_);
        report_route(decision);
        if (decision.target != route::RouteTarget::cloud) return false;
        g_stop_cloud.store(false);
        const route::CloudAnswer answer = hybrid_->ask_cloud(
            messages, route::openai_sampling_fields(opt_.sampling, opt_.n_predict, {}), decision,
            "pocket-chat", [&out](std::string_view piece) { return out.push(piece); },
            [] { return g_stop_cloud.load(); });
        const bool stopped = !answer.ok && answer.error == "cancelled";
        if (answer.ok || stopped) {
            out.finish();
            write_out("\n");
            if (out.blocked()) {
                note("[the guard stopped the answer]");
            } else if (stopped) {
                note("[stopped]");
            }
            chat_.add_message("user", text);
            chat_.add_message("assistant", out.shown());
            return true;
        }
        if (!answer.text.empty()) write_out("\n");
        if (hybrid_->options().on_cloud_failure == route::CloudFailurePolicy::fail) {
            note("[the cloud endpoint failed: " + answer.error + "; the message was not answered]");
            return true;
        }
        note("[the cloud endpoint failed: " + answer.error + "; the local model answers]");
        return false;
    }

    static constexpr const char* kHelp =
        "commands: /reset  /system TEXT  /save FILE  /load FILE  /stats  /help  /quit\n"
        "end a line with \\ to continue it; \"\"\" starts and ends a multi-line block;\n"
        "Ctrl-C stops an answer, Ctrl-D quits";

    static ChatOptions chat_options(const ChatCliOptions& opt) {
        ChatOptions o;
        o.system = opt.system;
        o.template_variant = opt.variant;
        if (!opt.template_file.empty()) o.template_source = read_file(opt.template_file);
        return o;
    }

    bool usage(const char* text) {
        note(std::string("usage: ") + text);
        return true;
    }

    void stats() const {
        const Session& s = const_cast<ChatSession&>(chat_).session();
        const auto& ctx = s.context();
        note(cat("messages: ", chat_.messages().size(), " | context: ", s.cached_tokens().size(),
                 " of ", ctx.n_ctx(), " tokens"));
        if (last_.completion_tokens > 0 || last_.prompt_tokens > 0) {
            const double tps =
                last_.generate_ms > 0
                    ? 1000.0 * static_cast<double>(last_.completion_tokens) / last_.generate_ms
                    : 0.0;
            note(cat("last answer: prompt ", last_.prompt_tokens, " tokens (", last_.reused_tokens,
                     " reused) in ", static_cast<int>(last_.prompt_ms), " ms | ",
                     last_.completion_tokens, " tokens at ", static_cast<int>(tps),
                     " tokens/s | finish ", finish_reason_name(last_.finish)));
        }
    }

    const ChatCliOptions& opt_;
    ChatSession chat_;
    GenerateOptions gen_;
    GenerateResult last_;
    std::unique_ptr<route::HybridRouter> hybrid_;  // --cloud
    std::optional<ActiveGuard> guard_;             // --guard
    route::RouteRequest route_ = route::RouteRequest::automatic;
};

// Reads one message from the terminal: continuation lines after a trailing backslash, or a
// """-delimited block. Returns false at end of input (Ctrl-D).
bool read_message(std::string& message) {
    message.clear();
    std::unique_ptr<char, decltype(&std::free)> line(readline("> "), &std::free);
    if (!line) return false;
    std::string text = line.get();
    if (text == "\"\"\"") {
        for (;;) {
            line.reset(readline(". "));
            if (!line) return !message.empty();
            if (std::string(line.get()) == "\"\"\"") break;
            message += line.get();
            message += '\n';
        }
        if (!message.empty()) message.pop_back();
    } else {
        while (!text.empty() && text.back() == '\\') {
            text.pop_back();
            message += text + "\n";
            line.reset(readline(". "));
            if (!line) break;
            text = line.get();
        }
        message += text;
    }
    if (!message.empty()) add_history(message.c_str());
    return true;
}

int run_interactive(ChatCli& cli) {
    // Ctrl-C while an answer streams stops it; at the prompt it is ignored by the handler, and
    // libedit clears the line.
    struct sigaction sa {};
    sa.sa_handler = on_interrupt;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, nullptr);
    note("pocket chat: type a message, /help for commands, Ctrl-D to quit");
    std::string message;
    while (read_message(message)) {
        if (message.empty()) continue;
        if (message[0] == '/') {
            try {
                if (!cli.command(message)) break;
            } catch (const std::exception& e) {
                note(std::string("error: ") + e.what());
            }
            continue;
        }
        cli.answer(message);
    }
    write_out("\n");
    return kExitOk;
}

int run_scripted(ChatCli& cli) {
    std::string line;
    while (std::getline(std::cin, line)) {
        if (!line.empty() && line.back() == '\r') line.pop_back();
        if (line.empty()) continue;
        if (line[0] == '/') {
            if (!cli.command(line)) break;
            continue;
        }
        cli.answer(line);
    }
    return kExitOk;
}

int run_chat(const ChatCliOptions& opt) {
    if (opt.threads > 0) ThreadPool::set_global_threads(opt.threads);
    const auto model = load_model_arg(opt.model);
    model::Context ctx(*model, {.n_ctx = opt.ctx_size,
                                .type_k = opt.cache_types.type_k(),
                                .type_v = opt.cache_types.type_v(),
                                .loras = opt.lora.load(*model)});
    ChatCli cli(opt, ctx);
    if (cli.template_is_builtin())
        note("pocket chat: the model has no chat template; using a built-in ChatML template");
    return isatty(STDIN_FILENO) ? run_interactive(cli) : run_scripted(cli);
}

}  // namespace

Runner register_chat(CLI::App& app) {
    auto opt = std::make_shared<ChatCliOptions>();
    app.add_option("-m,--model", opt->model,
                   "GGUF file, Hugging Face folder, or a model name in the models folder")
        ->required();
    app.add_option("--system", opt->system, "System prompt");
    app.add_option("--template-file", opt->template_file,
                   "Use this Jinja chat template instead of the model's");
    app.add_option("--template-variant", opt->variant,
                   "Use the model's named template variant (e.g. tool_use)");
    app.add_option("-n,--n-predict", opt->n_predict,
                   "Most tokens per answer (-1: until the model ends it or the context is full)")
        ->capture_default_str();
    app.add_option("-t,--threads", opt->threads, "Threads (default: physical cores)");
    app.add_option("-c,--ctx-size", opt->ctx_size,
                   "Context size in tokens (default: min(train, 4096))");
    add_cache_type_options(app, opt->cache_types);
    add_lora_options(app, opt->lora);
    add_sampling_options(app, opt->sampling);
    add_cloud_options(app, opt->cloud, /*with_route=*/true);
    add_guard_options(app, opt->guard);
    return [opt] { return run_chat(*opt); };
}

}  // namespace pocket::cli
