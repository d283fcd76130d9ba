// Cost of the grammar constraint's token mask per generated token, on a real tokenizer.
//
//   bench_grammar_mask TOKENIZER_JSON|MODEL.gguf [GENERATIONS]
//
// For each schema it runs GENERATIONS constrained generations driven by random logits (what a
// random-weight model gives) at temperature 1 with every truncation step off, so the walk sees
// the whole variety of states a sampler can reach, and times GrammarConstraint::apply() (the
// mask plus writing it into the 100k+ candidates) on every token:
//   cold: the first generation on a fresh constraint (every state's mask computed from scratch),
//   warm: the later generations, which share the constraint's mask cache as clones would.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "pocket/core/rng.h"
#include "pocket/generate/grammar.h"
#include "pocket/generate/grammar_constraint.h"
#include "pocket/generate/sampling.h"
#include "pocket/gguf/gguf.h"
#include "pocket/tokenizer/hf_tokenizer.h"

namespace {

using Clock = std::chrono::steady_clock;

struct Stats {
    std::vector<double> ms;
    void print(const char* label) {
        if (ms.empty()) return;
        std::sort(ms.begin(), ms.end());
        double sum = 0;
        for (double v : ms) sum += v;
        auto at = [&](double q) { return ms[std::min(ms.size() - 1, size_t(q * ms.size()))]; };
        std::printf("    %-5s %6zu tokens  mean %7.3f ms  p50 %7.3f  p99 %7.3f  max %7.3f\n", label,
                    ms.size(), sum / ms.size(), at(0.5), at(0.99), ms.back());
    }
};

const char* kSchemas[][2] = {
    {"person",
     R"({"type": "object", "properties": {
        "name": {"type": "string"}, "age": {"type": "integer", "minimum": 0, "maximum": 150},
        "email": {"type": "string"}, "role": {"enum": ["admin", "user", "guest"]},
        "active": {"type": "boolean"}}, "required": ["name", "age", "role"]})"},
    {"orders",
     R"({"type": "object", "properties": {"orders": {"type": "array", "maxItems": 4, "items": {
        "type": "object", "properties": {"id": {"type": "integer"},
        "item": {"type": "string", "maxLength": 24}, "price": {"type": "number"},
        "tags": {"type": "array", "items": {"type": "string", "maxLength": 12}, "maxItems": 3}},
        "required": ["id", "item", "price"]}}}, "required": ["orders"]})"},
    {"json", nullptr},
};

}  // namespace

int main(int argc, char** argv) {
    if (argc < 2) {
        std::fprintf(stderr, "usage: %s TOKENIZER_JSON|MODEL.gguf [GENERATIONS]\n", argv[0]);
        return 2;
    }
    const int generations = argc > 2 ? std::atoi(argv[2]) : 20;
    const int max_tokens = 200;
    const std::string path = argv[1];
    auto tok = path.ends_with(".gguf")
                   ? pocket::tokenizer::load_tokenizer(pocket::gguf::File::open(path))
                   : pocket::tokenizer::load_hf_tokenizer(path);
    auto t0 = Clock::now();
    auto index = pocket::VocabularyIndex::build(*tok);
    double build_ms = std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
    std::printf("%s: %zu tokens, trie %zu nodes, index built in %.1f ms\n", argv[1], tok->n_vocab(),
                index->trie().size(), build_ms);

    for (const auto& [name, schema] : kSchemas) {
        auto grammar = std::make_shared<const pocket::Grammar>(
            schema ? pocket::Grammar::from_json_schema(nlohmann::ordered_json::parse(schema))
                   : pocket::Grammar::json());
        pocket::GrammarConstraint constraint(grammar, index);
        pocket::SamplingParams params;
        params.temperature = 1.0f;
        params.top_k = 0;
        params.top_p = 1.0f;
        params.min_p = 0.0f;
        params.seed = 42;
        pocket::Sampler sampler(params);
        pocket::Rng rng(7);
        std::vector<float> logits(tok->n_vocab());
        pocket::CandidateList candidates;
        Stats cold, warm;
        int ended = 0;
        for (int g = 0; g < generations; ++g) {
            constraint.reset();
            for (int t = 0; t < max_tokens; ++t) {
                for (float& l : logits) l = static_cast<float>(rng.uniform01()) * 8.0f;
                candidates.assign(logits);
                auto start = Clock::now();
                constraint.apply(candidates);
                (g == 0 ? cold : warm)
                    .ms.push_back(
                        std::chrono::duration<double, std::milli>(Clock::now() - start).count());
                // Sample from the masked logits (the Sampler would mask again; reuse its steps).
                for (size_t i = 0; i < logits.size(); ++i) logits[i] = candidates[i].logit;
                pocket::TokenId id = sampler.sample(logits);
                if (index->is_eog(id)) {
                    ++ended;
                    break;
                }
                constraint.accept(id);
            }
        }
        std::printf("  schema %-7s (%d generations, %d ended by EOG, cap %d tokens)\n", name,
                    generations, ended, max_tokens);
        cold.print("cold");
        warm.print("warm");
    }
    return 0;
}
