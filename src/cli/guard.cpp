// `pocket guard [--guard FILE] [--threshold T] [--json] (TEXT | --jsonl FILE)`: moderates one
// text, or a JSON-lines file of {"text": ...} or {"prompt": ..., "response": ...} records, with
// the guard load_guard gives (safety/guard.h). --jsonl prints one line per record, in order; a
// record that cannot be read prints {"line": N, "error": ...} in its place, the rest are still
// checked, and the exit status is then 65. `pocket guard train` is src/cli/guard_train.cpp.
#include <CLI/CLI.hpp>

#include <cstdio>
#include <fstream>
#include <iostream>
#include <memory>
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "cli/commands.h"
#include "pocket/core/error.h"
#include "pocket/safety/guard.h"

namespace pocket::cli {
namespace {

struct GuardCommandOptions {
    std::string guard;
    std::optional<double> threshold;
    bool json = false;
    std::string jsonl;
    std::string text;
};

// The documented key order: safe, score, categories (+ flags when any).
nlohmann::ordered_json verdict_json(const safety::GuardVerdict& v) {
    nlohmann::ordered_json out;
    out["safe"] = v.safe;
    out["score"] = v.score;
    out["categories"] = nlohmann::ordered_json::array();
    for (int c : v.categories) out["categories"].push_back(safety::category_code(c));
    if (!v.flags.empty()) out["flags"] = v.flags;
    return out;
}

std::string dump(const nlohmann::ordered_json& j) {
    return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

// A record's strings; throws std::runtime_error with what is wrong with it.
struct Record {
    std::string prompt;
    std::optional<std::string> response;
};

Record parse_record(const std::string& line) {
    const auto j = nlohmann::json::parse(line, nullptr, /*allow_exceptions=*/false);
    if (j.is_discarded()) throw std::runtime_error("not valid JSON");
    if (!j.is_object()) throw std::runtime_error("not a JSON object");
    auto string_field = [&](const char* key) -> std::optional<std::string> {
        const auto it = j.find(key);
        if (it == j.end()) return std::nullopt;
        if (!it->is_string())
            throw std::runtime_error(std::string("\"") + key + "\" is not a string");
        return it->get<std::string>();
    };
    const auto text = string_field("text");
    const auto prompt = string_field("prompt");
    const auto response = string_field("response");
    if (text && (prompt || response))
        throw std::runtime_error("has \"text\" and \"prompt\"/\"response\": one or the other");
    if (text) return {*text, std::nullopt};
    if (!prompt) throw std::runtime_error("no \"text\" or \"prompt\" field");
    return {*prompt, response};
}

int run_jsonl(const safety::Guard& guard, const std::string& path) {
    std::ifstream file;
    std::istream* in = &std::cin;
    if (path != "-") {
        file.open(path, std::ios::binary);
        if (!file) fail("cannot open ", path);
        in = &file;
    }
    std::string line;
    size_t number = 0, bad = 0;
    while (std::getline(*in, line)) {
        ++number;
        if (!line.empty() && line.back() == '\r') line.pop_back();
        if (line.find_first_not_of(" \t") == std::string::npos) continue;  // blank: no record
        Record record;
        try {
            record = parse_record(line);
        } catch (const std::exception& e) {
            ++bad;
            std::fprintf(stderr, "pocket guard: %s:%zu: %s\n", path.c_str(), number, e.what());
            std::printf("%s\n", dump({{"line", number}, {"error", e.what()}}).c_str());
            continue;
        }
        const safety::GuardInput input{
            record.prompt,
            record.response ? std::optional<std::string_view>(*record.response) : std::nullopt};
        std::printf("%s\n", dump(verdict_json(guard.check(input))).c_str());
        std::fflush(stdout);  // a consumer reading the pipe sees each verdict as it is made
    }
    if (bad > 0) {
        std::fprintf(stderr, "pocket guard: %zu of %zu records could not be read\n", bad, number);
        return kExitInvalidFile;
    }
    return kExitOk;
}

int run_text(const safety::Guard& guard, const GuardCommandOptions& o) {
    const safety::GuardVerdict v = guard.check({o.text, std::nullopt});
    if (o.json) {
        std::printf("%s\n", dump(verdict_json(v)).c_str());
        return kExitOk;
    }
    std::printf("%s (P(unsafe) %.3f, threshold %.3f, %s)\n", v.safe ? "safe" : "UNSAFE", v.score,
                guard.threshold(), guard.describe().c_str());
    for (int c : v.categories)
        std::printf("  %s %s\n", safety::category_code(c).c_str(),
                    std::string(safety::category_name(c)).c_str());
    if (!v.flags.empty()) {
        std::string flags;
        for (const auto& f : v.flags) flags += (flags.empty() ? "" : ", ") + f;
        std::printf("  jailbreak signals: %s\n", flags.c_str());
    }
    return kExitOk;
}

}  // namespace

Runner register_guard(CLI::App& app) {
    auto o = std::make_shared<GuardCommandOptions>();
    app.add_option("--guard", o->guard,
                   "Guard file: a classifier from `pocket guard train` or a guard model GGUF "
                   "(Llama Guard 3 style); default: the built-in classifier");
    app.add_option("--threshold", o->threshold, "P(unsafe) at or above which a text is unsafe")
        ->check(CLI::Range(0.0, 1.0));
    app.add_flag("--json", o->json, "Print the verdict of TEXT as JSON");
    auto* jsonl = app.add_option("--jsonl", o->jsonl,
                                 "Check each line of this file ('-': stdin): {\"text\": ...} or "
                                 "{\"prompt\": ..., \"response\": ...}; one JSON verdict per line");
    auto* text = app.add_option("text", o->text, "The text to check");
    jsonl->excludes(text);
    Runner train = add_guard_train(app);
    return [o, &app, train]() -> int {
        if (app.got_subcommand("train")) return train();
        if (o->jsonl.empty() && app.count("text") == 0) {
            std::fprintf(stderr, "pocket guard: give a TEXT or --jsonl FILE\n");
            return kExitUsage;
        }
        auto guard = safety::load_guard(o->guard);
        if (o->threshold) guard->set_threshold(*o->threshold);
        return o->jsonl.empty() ? run_text(*guard, *o) : run_jsonl(*guard, o->jsonl);
    };
}

}  // namespace pocket::cli
