// Command-line options shared by the commands that generate (run, chat): sampling settings and the
// model-loading flags, registered the same way everywhere so they mean the same thing.
#pragma once

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "pocket/core/dtype.h"
#include "pocket/generate/sampling.h"
#include "pocket/model/lora.h"

namespace CLI {
class App;
}

namespace pocket::tokenizer {
class Tokenizer;
}

namespace pocket::cli {

// --temp, --top-k, --top-p, --min-p, --repeat-penalty, --repeat-last-n, --frequency-penalty,
// --presence-penalty, --seed.
void add_sampling_options(CLI::App& app, SamplingParams& s);

// --cache-type-k / --cache-type-v: how the KV cache stores keys and values (f16, q8_0, q4_0:
// llama.cpp's flags and names), for model::ContextParams::type_k/type_v. Names are checked when
// the command line is parsed.
struct CacheTypeOptions {
    std::string k = "f16";
    std::string v = "f16";
    DType type_k() const;
    DType type_v() const;
};
void add_cache_type_options(CLI::App& app, CacheTypeOptions& o);

// LoRA adapters applied without merging: --lora FILE (repeatable; each at --lora-scale, default 1)
// and llama.cpp's --lora-scaled FILE SCALE (repeatable).
struct LoraCliOptions {
    std::vector<std::string> files;
    float scale = 1.0f;
    std::vector<std::pair<std::string, float>> scaled;
    std::vector<model::LoraFile> list() const;
    // Loads them against `base` (empty when none were given).
    std::vector<model::AppliedLora> load(const model::Model& base) const;
};
void add_lora_options(CLI::App& app, LoraCliOptions& o);

// Structured output: --grammar FILE (GBNF), --json-schema FILE, --json (any JSON object).
struct StructuredOutputOptions {
    std::string grammar_file;
    std::string schema_file;
    bool json = false;
};
void add_structured_output_options(CLI::App& app, StructuredOutputOptions& o);
// The same request as an OpenAI `response_format` (json_schema or json_object), for a cloud
// endpoint; null when there is none. A GBNF grammar has no OpenAI form: null as well, so check
// grammar_file before sending a request out.
nlohmann::json openai_response_format(const StructuredOutputOptions& o);
// The constraint the options ask for, or nullptr. Throws pocket::Error for a bad grammar/schema.
std::shared_ptr<const SamplingConstraint> make_structured_output(
    const StructuredOutputOptions& o, const tokenizer::Tokenizer& tokenizer);

}  // namespace pocket::cli
