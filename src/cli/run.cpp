// `pocket run -m MODEL -p PROMPT`: generate text, streamed to stdout as it is produced; a timing
// summary goes to stderr so stdout holds nothing but the text.
#include <CLI/CLI.hpp>

#include <chrono>
#include <cstdio>
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
#include "pocket/generate/session.h"
#include "pocket/model/context.h"
#include "pocket/model/model.h"
#include "pocket/tokenizer/tokenizer.h"

namespace pocket::cli {
namespace {

using Clock = std::chrono::steady_clock;

double ms_since(Clock::time_point start) {
    return std::chrono::duration<double, std::milli>(Clock::now() - start).count();
}

struct RunOptions {
    std::string model;
    std::string prompt;
    std::string prompt_file;
    int n_predict = 128;
    int threads = 0;
    int64_t ctx_size = 0;
    CacheTypeOptions cache_types;
    LoraCliOptions lora;
    bool ignore_eos = false;
    bool parse_special = false;
    bool echo = false;
    bool quiet = false;
    std::vector<std::string> stop;
    SamplingParams sampling;
    StructuredOutputOptions structured;
    std::string draft_model;
    int32_t draft_max = 8;
    bool lookup = false;
    CloudCliOptions cloud;
    GuardCliOptions guard;
};

// Routes the prompt; true when the cloud answered it (printed). After a cloud failure under
// --cloud-fallback local, `shown` holds what was printed before the failure.
bool answer_from_cloud(const RunOptions& opt, route::HybridOptions options, std::string& shown,
                       GuardedAnswer& out) {
    route::HybridRouter hybrid(std::move(options));
    const std::string texts[] = {opt.prompt};
    // A GBNF grammar has no OpenAI form: only the local model can follow it.
    const bool grammar = !opt.structured.grammar_file.empty();
    route::RouteDecision decision = hybrid.decide(
        opt.prompt, texts,
        grammar ? route::RouteRequest::local : route::parse_route_request(opt.cloud.route));
    if (grammar) decision.reason = "--grammar: only the local model follows a GBNF grammar";
    report_route(decision);  // also with -q: where the prompt went is not a timing detail
    if (decision.target != route::RouteTarget::cloud) return false;
    const nlohmann::json messages =
        nlohmann::json::array({{{"role", "user"}, {"content", opt.prompt}}});
    nlohmann::json extra = route::openai_sampling_fields(opt.sampling, opt.n_predict, opt.stop);
    if (nlohmann::json format = openai_response_format(opt.structured); !format.is_null())
        extra["response_format"] = std::move(format);
    const route::CloudAnswer answer =
        hybrid.ask_cloud(messages, extra, decision, "pocket-run",
                         [&out](std::string_view text) { return out.push(text); });
    if (answer.ok || out.blocked()) {
        out.finish();
        write_out("\n");
        return true;
    }
    if (hybrid.options().on_cloud_failure == route::CloudFailurePolicy::fail)
        fail("the cloud endpoint failed: ", answer.error);
    // Structured output starts its grammar afresh: a cut JSON answer is not continued.
    const bool structured = !opt.structured.schema_file.empty() || opt.structured.json;
    const bool continues = !answer.text.empty() && !structured;
    if (!answer.text.empty() && !continues) write_out("\n");
    std::fprintf(stderr, "pocket: the cloud endpoint failed (%s); the local model %s\n",
                 answer.error.c_str(), continues ? "continues" : "answers");
    if (continues) shown = answer.text;
    return false;
}

int run_generate(RunOptions opt) {
    if (opt.threads > 0) ThreadPool::set_global_threads(opt.threads);
    if (!opt.prompt_file.empty()) opt.prompt = read_file(opt.prompt_file);

    const auto t_load = Clock::now();
    const auto model = load_model_arg(opt.model);
    model::Context ctx(*model, {.n_ctx = opt.ctx_size,
                                .type_k = opt.cache_types.type_k(),
                                .type_v = opt.cache_types.type_v(),
                                .loras = opt.lora.load(*model)});
    const double load_ms = ms_since(t_load);

    // Hybrid routing: a prompt the router finds hard is answered by the cloud endpoint; if that
    // fails, the local model continues from what was already printed.
    // Moderation: a blocked prompt gets the refusal and goes nowhere (not to the cloud either);
    // the answer is shown sentence by sentence as the guard passes it.
    const std::optional<ActiveGuard> guard = make_guard(opt.guard);
    if (const auto refusal = refuse_prompt(guard ? &*guard : nullptr, opt.prompt)) {
        write_out(*refusal + "\n");
        return kExitOk;
    }
    GuardedAnswer out(guard ? &*guard : nullptr, opt.prompt, write_out);
    std::string shown;
    if (auto hybrid_opts = hybrid_options(opt.cloud)) {
        if (opt.echo) write_out(opt.prompt);
        opt.echo = false;
        if (answer_from_cloud(opt, std::move(*hybrid_opts), shown, out)) return kExitOk;
    }

    const std::vector<TokenId> prompt =
        model->tokenizer().encode(opt.prompt + shown, /*add_special=*/true, opt.parse_special);
    if (prompt.empty())
        fail("the prompt is empty and the model adds no BOS token: nothing to start from");
    const int64_t budget = ctx.n_ctx() - static_cast<int64_t>(prompt.size());
    if (budget < 1) {
        fail("the prompt has ", prompt.size(), " tokens but the context holds ", ctx.n_ctx(),
             " (raise --ctx-size)");
    }
    GenerateOptions gen;
    gen.sampling = opt.sampling;
    gen.max_tokens = opt.n_predict;
    gen.ignore_eos = opt.ignore_eos;
    gen.stop = opt.stop;
    if (auto c = make_structured_output(opt.structured, model->tokenizer()))
        gen.constraints.push_back(std::move(c));
    std::unique_ptr<model::Model> draft;
    std::unique_ptr<model::Context> draft_ctx;
    if (!opt.draft_model.empty()) {
        draft = load_model_arg(opt.draft_model);
        draft_ctx =
            std::make_unique<model::Context>(*draft, model::ContextParams{.n_ctx = ctx.n_ctx()});
        gen.speculative.draft = draft_ctx.get();
    }
    gen.speculative.prompt_lookup = opt.lookup;
    gen.speculative.max_draft = opt.draft_max;
    if (opt.n_predict > budget + 1 && !opt.quiet) {
        std::fprintf(stderr, "pocket: context holds only %lld more tokens; stopping there\n",
                     (long long)budget);
    }

    if (opt.echo) write_out(opt.prompt);
    Session session(ctx);
    const GenerateResult r =
        session.generate(prompt, gen, [&out](std::string_view piece) { return out.push(piece); });
    out.finish();
    if (opt.echo || !out.shown().empty()) write_out("\n");

    if (!opt.quiet) {
        const auto evaluated = std::max<int64_t>(0, r.completion_tokens - 1);
        std::fprintf(stderr,
                     "pocket: load %.1f ms | prompt %zu tokens in %.1f ms (%.1f tokens/s) | "
                     "generated %lld tokens, finish %s, in %.1f ms (%.1f tokens/s) | seed %llu | "
                     "threads %d\n",
                     load_ms, prompt.size(), r.prompt_ms,
                     1000.0 * static_cast<double>(prompt.size()) / r.prompt_ms,
                     (long long)r.completion_tokens,
                     std::string(finish_reason_name(r.finish)).c_str(), r.generate_ms,
                     evaluated > 0 ? 1000.0 * static_cast<double>(evaluated) / r.generate_ms : 0.0,
                     static_cast<unsigned long long>(r.seed), ThreadPool::global().n_threads());
        if (gen.speculative.enabled()) {
            std::fprintf(stderr,
                         "pocket: speculative: %lld drafted, %lld accepted (%.1f%%) in %lld "
                         "target passes\n",
                         (long long)r.speculative.drafted, (long long)r.speculative.accepted,
                         100.0 * r.speculative.acceptance_rate(), (long long)r.speculative.steps);
        }
    }
    return kExitOk;
}

}  // namespace

Runner register_run(CLI::App& app) {
    auto opt = std::make_shared<RunOptions>();
    app.add_option("-m,--model", opt->model,
                   "GGUF file, Hugging Face folder, or a model name in the models folder")
        ->required();
    auto* prompt = app.add_option("-p,--prompt", opt->prompt, "Prompt text");
    app.add_option("-f,--file", opt->prompt_file, "Read the prompt from a file (bytes as they are)")
        ->excludes(prompt);
    app.add_option("-n,--n-predict", opt->n_predict,
                   "Tokens to generate (-1: until the context is full)")
        ->capture_default_str();
    app.add_option("-t,--threads", opt->threads, "Threads (default: physical cores)");
    app.add_option("-c,--ctx-size", opt->ctx_size,
                   "Context size in tokens (default: min(train, 4096))");
    add_cache_type_options(app, opt->cache_types);
    add_lora_options(app, opt->lora);
    add_sampling_options(app, opt->sampling);
    add_structured_output_options(app, opt->structured);
    add_cloud_options(app, opt->cloud, /*with_route=*/true);
    add_guard_options(app, opt->guard);
    app.add_option("--draft", opt->draft_model,
                   "Speculative decoding with this draft model (same vocabulary)");
    app.add_option("--draft-max", opt->draft_max, "Tokens drafted per step")->capture_default_str();
    app.add_flag("--lookup", opt->lookup,
                 "Speculative decoding by prompt lookup (n-grams of the prompt; no draft model)");
    app.add_option("--stop", opt->stop,
                   "Stop where the output contains this text (not printed; repeatable)");
    app.add_flag("--ignore-eos", opt->ignore_eos, "Keep generating after end-of-generation tokens");
    app.add_flag("--special", opt->parse_special,
                 "Parse special-token text such as <|im_start|> in the prompt");
    app.add_flag("--echo", opt->echo, "Print the prompt before the generated text");
    app.add_flag("-q,--quiet", opt->quiet, "No timing summary on stderr");
    return [opt] { return run_generate(*opt); };
}

}  // namespace pocket::cli
