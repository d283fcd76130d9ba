// The acceptance property: constrained generation at high temperature always yields documents
// that parse and validate against their schema, checked by an independent validator
// (python3-jsonschema, tests/grammar/validate_outputs.py, one call for all outputs).
//
// Drivers: forward passes of a random-weight model built here around the full Llama 3 (128k)
// vocabulary (`tiny` shape, real tokenizer.json) and of the tiny random-weight models with their
// 50k vocabularies; and, cheaper, random logits over the full Llama 3 and Qwen 3 (151k)
// vocabularies (what a random-weight model around those vocabularies gives).
// 1,000 generations in the Release suite; a tenth under the sanitizers (or
// POCKET_GRAMMAR_GENERATIONS to choose).
#include <gtest/gtest.h>

#include <array>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "model/synth.h"
#include "pocket/convert/convert.h"
#include "pocket/core/rng.h"
#include "pocket/generate/grammar.h"
#include "pocket/generate/grammar_constraint.h"
#include "pocket/generate/sampling.h"
#include "pocket/gguf/gguf.h"
#include "pocket/model/context.h"
#include "pocket/model/model.h"
#include "pocket/tokenizer/hf_tokenizer.h"
#include "support/test_support.h"

namespace pocket {
namespace {

using nlohmann::ordered_json;

// Every string and array is bounded, so the grammar itself forces generations to finish.
const char* kSchemas[] = {
    R"({"type": "object", "properties": {
        "name": {"type": "string", "maxLength": 16},
        "age": {"type": "integer", "minimum": 0, "maximum": 120},
        "email": {"type": "string", "maxLength": 20},
        "role": {"enum": ["admin", "user", "guest"]}, "active": {"type": "boolean"}},
        "required": ["name", "age"]})",
    R"({"type": "object", "properties": {"orders": {"type": "array", "maxItems": 3, "items": {
        "type": "object", "properties": {"id": {"type": "integer"},
        "item": {"type": "string", "maxLength": 12}, "price": {"type": "number"},
        "tags": {"type": "array", "items": {"type": "string", "maxLength": 8}, "maxItems": 2}},
        "required": ["id", "item", "price"]}}}, "required": ["orders"]})",
    R"({"type": "object", "properties": {"kind": {"const": "point"},
        "x": {"type": "number"}, "y": {"type": "number"}}, "required": ["kind", "x", "y"]})",
    R"({"type": "object", "properties": {
        "note": {"type": ["string", "null"], "maxLength": 10},
        "count": {"type": ["integer", "null"]}}, "required": ["note", "count"]})",
    R"({"type": "object", "properties": {"value": {"anyOf": [{"type": "integer"},
        {"type": "boolean"}, {"type": "string", "maxLength": 5}]}}, "required": ["value"]})",
    R"({"$defs": {"node": {"type": "object", "properties": {
        "v": {"type": "integer", "minimum": 0, "maximum": 99},
        "kids": {"type": "array", "maxItems": 2, "items": {"$ref": "#/$defs/node"}}},
        "required": ["v"]}}, "$ref": "#/$defs/node"})",
    R"({"type": "object", "properties": {"a": {"type": "integer"}, "b": {"type": "boolean"},
        "c": {"type": "null"}}, "additionalProperties": false})",
    R"({"type": "array", "prefixItems": [{"type": "string", "maxLength": 6},
        {"type": "integer", "minimum": 0, "maximum": 9}]})",
    R"({"allOf": [{"type": "object", "properties": {"id": {"type": "integer"}},
        "required": ["id"]}, {"type": "object", "properties": {
        "label": {"type": "string", "maxLength": 8}}, "required": ["label"]}]})",
    R"({"type": "object", "properties": {"day": {"type": "string", "format": "date"},
        "id": {"type": "string", "format": "uuid"}}, "required": ["day", "id"]})",
    R"({"type": "array", "items": {"type": "array", "items": {"type": "number"},
        "maxItems": 3}, "minItems": 1, "maxItems": 3})",
    R"({"type": "object", "properties": {"code": {"type": "string", "minLength": 3,
        "maxLength": 5}, "flags": {"type": "array", "items": {"enum": [1, 2, 3]},
        "maxItems": 4}}, "required": ["code", "flags"]})",
};
constexpr size_t kNumSchemas = std::size(kSchemas);
constexpr int kMaxTokens = 256;

struct Outcome {
    int complete = 0;
    int capped = 0;
    std::vector<std::pair<size_t, std::string>> outputs;  // (schema, text) of complete ones
};

bool sanitized() {
#ifdef POCKET_TEST_UNDER_ASAN
    return true;
#else
    return false;
#endif
}

int total_generations() {
    if (const char* env = std::getenv("POCKET_GRAMMAR_GENERATIONS")) return std::atoi(env);
    return sanitized() ? 100 : 1000;
}

SamplingParams hot(uint64_t seed) {
    SamplingParams p;
    p.temperature = 1.5f;
    p.top_k = 0;
    p.top_p = 1.0f;
    p.min_p = 0.0f;
    p.seed = seed;
    return p;
}

// One generation: `next_logits(last_token)` gives the logits to sample from.
template <typename NextLogits>
void generate(Sampler& sampler, const VocabularyIndex& index, size_t schema, Outcome& out,
              NextLogits&& next_logits) {
    std::string text;
    TokenId last = kNoToken;
    for (int t = 0; t < kMaxTokens; ++t) {
        TokenId id = sampler.sample(next_logits(last));
        if (index.is_eog(id)) {
            ASSERT_TRUE(sampler.can_end());
            ++out.complete;
            out.outputs.emplace_back(schema, text);
            return;
        }
        sampler.accept(id);
        text += index.piece(id);
        last = id;
    }
    ++out.capped;
}

struct Constraints {
    std::shared_ptr<const VocabularyIndex> index;
    std::vector<std::shared_ptr<const Grammar>> grammars;

    explicit Constraints(const tokenizer::Tokenizer& tok) : index(VocabularyIndex::build(tok)) {
        for (const char* s : kSchemas) {
            grammars.push_back(
                std::make_shared<const Grammar>(Grammar::from_json_schema(ordered_json::parse(s))));
        }
    }
    // One sampler per schema, reused (reset) across generations so the mask cache is shared.
    std::vector<Sampler> samplers(uint64_t seed) const {
        std::vector<Sampler> out;
        for (size_t i = 0; i < grammars.size(); ++i) {
            out.emplace_back(hot(seed + i));
            out.back().add_constraint(std::make_unique<GrammarConstraint>(grammars[i], index));
        }
        return out;
    }
};

void random_logit_generations(const std::filesystem::path& tokenizer_json, int n, Outcome& out) {
    auto tok = tokenizer::load_hf_tokenizer(tokenizer_json);
    Constraints c(*tok);
    std::vector<Sampler> samplers = c.samplers(1234);
    Rng rng(99);
    std::vector<float> logits(tok->n_vocab());
    for (int g = 0; g < n; ++g) {
        const size_t schema = static_cast<size_t>(g) % kNumSchemas;
        samplers[schema].reset();
        generate(samplers[schema], *c.index, schema, out, [&](TokenId) {
            for (float& l : logits) l = static_cast<float>(rng.uniform01()) * 6.0f;
            return std::span<const float>(logits);
        });
    }
}

void model_generations(const std::filesystem::path& gguf, int n, Outcome& out) {
    auto model = model::Model::load(gguf);
    const tokenizer::Tokenizer& tok = model->tokenizer();
    Constraints c(tok);
    std::vector<Sampler> samplers = c.samplers(77);
    model::Context ctx(*model, {.n_ctx = 512});
    const std::vector<TokenId> prompt = tok.encode("Answer in JSON:", true, false);
    const std::vector<float> prompt_logits = [&] {
        auto l = ctx.eval(prompt);
        return std::vector<float>(l.begin(), l.end());
    }();
    for (int g = 0; g < n; ++g) {
        const size_t schema = static_cast<size_t>(g) % kNumSchemas;
        samplers[schema].reset();
        ctx.kv().truncate(0, static_cast<int64_t>(prompt.size()));
        generate(samplers[schema], *c.index, schema, out, [&](TokenId last) {
            if (last == kNoToken) return std::span<const float>(prompt_logits);
            return ctx.eval(std::span<const TokenId>(&last, 1));
        });
    }
}

// A random-weight model of the `tiny` shape carrying the real Llama 3 vocabulary (128,256 tokens).
std::filesystem::path synth_llama3_vocab_model(const test::ScratchDir& dir) {
    const std::filesystem::path tokenizer_json =
        test::shared_path("tokenizers/hf/llama3/tokenizer.json");
    model::SynthOptions options;
    options.vocabulary = [&](gguf::Writer& w, int64_t min_tokens) {
        convert::add_vocab(w, tokenizer_json,
                           convert::detect_pre_tokenizer(test::read_file_bytes(tokenizer_json)),
                           static_cast<size_t>(min_tokens));
    };
    const std::filesystem::path path = dir / "tiny-llama3-vocab.gguf";
    model::write_synth_model(*model::find_synth_shape("tiny"), options, path);
    return path;
}

TEST(GrammarProperty, ConstrainedGenerationsValidateAgainstTheirSchemas) {
    const int total = total_generations();
    Outcome out;
    // Shares: 10% forward passes of a model with the full Llama 3 vocabulary, 25% random logits
    // over it, 35% random logits over Qwen 3, 15% each tiny model.
    const int with_model = total / 10, llama3 = total / 4, qwen3 = total * 35 / 100;
    const int tiny = (total - with_model - llama3 - qwen3) / 2;
    test::ScratchDir models;
    const auto full_vocab_model = synth_llama3_vocab_model(models);
    {
        auto m = model::Model::load(full_vocab_model);
        ASSERT_EQ(m->tokenizer().n_vocab(), 128256u);
    }
    model_generations(full_vocab_model, with_model, out);
    random_logit_generations(test::shared_path("tokenizers/hf/llama3/tokenizer.json"), llama3, out);
    random_logit_generations(test::shared_path("tokenizers/hf/qwen3/tokenizer.json"), qwen3, out);
    model_generations(test::shared_path("models/tiny/tiny-qwen2.gguf"), tiny, out);
    model_generations(test::shared_path("models/tiny/tiny-llama-bpe.gguf"),
                      total - with_model - llama3 - qwen3 - tiny, out);
    ASSERT_EQ(out.complete + out.capped, total);
    std::printf("[ grammar  ] %d generations: %d ended by EOG, %d hit the %d-token cap\n", total,
                out.complete, out.capped, kMaxTokens);
    EXPECT_GE(out.complete, total * 9 / 10);

    test::ScratchDir dir;
    {
        ordered_json schemas = ordered_json::array();
        for (const char* s : kSchemas) schemas.push_back(ordered_json::parse(s));
        std::ofstream(dir / "schemas.json") << schemas.dump();
        std::ofstream lines(dir / "outputs.jsonl");
        for (const auto& [schema, text] : out.outputs) {
            // dump() throws on invalid UTF-8, which is a failure in itself.
            lines << ordered_json{{"schema", schema}, {"text", text}}.dump() << "\n";
        }
    }
    // In the source tree (not found through __FILE__: ccache may make that path relative).
    const std::string script =
        (pocket::test::source_dir() / "tests/grammar/validate_outputs.py").string();
    const std::string cmd = "python3 '" + script + "' '" + (dir / "schemas.json").string() + "' '" +
                            (dir / "outputs.jsonl").string() + "'";
    std::unique_ptr<FILE, int (*)(FILE*)> pipe(popen(cmd.c_str(), "r"), pclose);
    ASSERT_TRUE(pipe);
    std::string result;
    std::array<char, 4096> buf{};
    while (size_t n = fread(buf.data(), 1, buf.size(), pipe.get())) result.append(buf.data(), n);
    ordered_json report = ordered_json::parse(result);
    EXPECT_EQ(report["checked"].get<int>(), out.complete);
    EXPECT_EQ(report["n_failures"].get<int>(), 0) << report["failures"].dump(2);
}

}  // namespace
}  // namespace pocket
