#include "cli/generate_options.h"

#include <CLI/CLI.hpp>

#include <nlohmann/json.hpp>

#include "pocket/core/error.h"
#include "pocket/core/read_file.h"
#include "pocket/generate/grammar_constraint.h"
#include "pocket/model/kv_cache.h"

namespace pocket::cli {

void add_sampling_options(CLI::App& app, SamplingParams& s) {
    app.add_option("--temp", s.temperature, "Temperature; 0 = greedy")->capture_default_str();
    app.add_option("--top-k", s.top_k, "Keep the k most likely tokens (0 = off)")
        ->capture_default_str();
    app.add_option("--top-p", s.top_p, "Nucleus sampling threshold (1 = off)")
        ->capture_default_str();
    app.add_option("--min-p", s.min_p, "Drop tokens below min-p x the top probability (0 = off)")
        ->capture_default_str();
    app.add_option("--repeat-penalty", s.repeat_penalty, "Repetition penalty (1 = off)")
        ->capture_default_str();
    app.add_option("--repeat-last-n", s.repeat_last_n,
                   "Tokens the penalties look back over (-1 = all)")
        ->capture_default_str();
    app.add_option("--frequency-penalty", s.frequency_penalty, "Frequency penalty")
        ->capture_default_str();
    app.add_option("--presence-penalty", s.presence_penalty, "Presence penalty")
        ->capture_default_str();
    app.add_option("-s,--seed", s.seed, "Random seed (default: random; printed in the summary)");
}

DType CacheTypeOptions::type_k() const {
    return model::kv_cache_type_from_name(k);
}

DType CacheTypeOptions::type_v() const {
    return model::kv_cache_type_from_name(v);
}

void add_cache_type_options(CLI::App& app, CacheTypeOptions& o) {
    const CLI::Validator kv_type(
        [](std::string& name) -> std::string {
            try {
                model::kv_cache_type_from_name(name);
                return {};
            } catch (const Error& e) {
                return e.what();
            }
        },
        "f16|q8_0|q4_0");
    app.add_option("--cache-type-k", o.k,
                   "KV cache type of the keys: f16, q8_0 (half the memory) or q4_0")
        ->capture_default_str()
        ->check(kv_type);
    app.add_option("--cache-type-v", o.v,
                   "KV cache type of the values: f16, q8_0 (half the memory) or q4_0")
        ->capture_default_str()
        ->check(kv_type);
}

std::vector<model::LoraFile> LoraCliOptions::list() const {
    std::vector<model::LoraFile> out;
    for (const std::string& f : files) out.push_back({f, scale});
    for (const auto& [f, s] : scaled) out.push_back({f, s});
    return out;
}

std::vector<model::AppliedLora> LoraCliOptions::load(const model::Model& base) const {
    const std::vector<model::LoraFile> l = list();
    return model::load_loras(l, base);
}

void add_lora_options(CLI::App& app, LoraCliOptions& o) {
    app.add_option("--lora", o.files,
                   "LoRA adapter (GGUF in llama.cpp's layout) at --lora-scale; repeatable")
        ->check(CLI::ExistingFile);
    app.add_option("--lora-scale", o.scale, "Scale of the --lora adapters")->capture_default_str();
    app.add_option("--lora-scaled", o.scaled,
                   "LoRA adapter at its own scale: FILE SCALE (llama.cpp's flag); repeatable");
}

void add_structured_output_options(CLI::App& app, StructuredOutputOptions& o) {
    auto* grammar = app.add_option("--grammar", o.grammar_file,
                                   "Constrain the output to a GBNF grammar (llama.cpp syntax)");
    auto* schema = app.add_option("--json-schema", o.schema_file,
                                  "Constrain the output to JSON valid under this JSON Schema file");
    auto* json = app.add_flag("--json", o.json, "Constrain the output to a JSON object");
    grammar->excludes(schema)->excludes(json);
    schema->excludes(json);
}

namespace {

nlohmann::ordered_json read_schema(const std::string& path) {
    try {
        return nlohmann::ordered_json::parse(read_file(path));
    } catch (const nlohmann::json::parse_error& e) {
        fail(path, ": not valid JSON: ", e.what());
    }
}

}  // namespace

nlohmann::json openai_response_format(const StructuredOutputOptions& o) {
    if (!o.schema_file.empty()) {
        return {{"type", "json_schema"},
                {"json_schema",
                 {{"name", "output"},
                  {"strict", true},
                  {"schema", nlohmann::json::parse(read_schema(o.schema_file).dump())}}}};
    }
    if (o.json) return {{"type", "json_object"}};
    return nullptr;
}

std::shared_ptr<const SamplingConstraint> make_structured_output(
    const StructuredOutputOptions& o, const tokenizer::Tokenizer& tokenizer) {
    std::shared_ptr<const Grammar> grammar;
    if (!o.grammar_file.empty()) {
        grammar = std::make_shared<const Grammar>(Grammar::parse_gbnf(read_file(o.grammar_file)));
    } else if (!o.schema_file.empty()) {
        grammar =
            std::make_shared<const Grammar>(Grammar::from_json_schema(read_schema(o.schema_file)));
    } else if (o.json) {
        grammar = std::make_shared<const Grammar>(Grammar::json());
    } else {
        return nullptr;
    }
    return std::make_shared<const GrammarConstraint>(std::move(grammar),
                                                     VocabularyIndex::build(tokenizer));
}

}  // namespace pocket::cli
