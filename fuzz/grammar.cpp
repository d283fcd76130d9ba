// Fuzz target: GBNF grammars. The input is a grammar, optionally followed by a NUL byte and a
// text. Malformed grammars must end in pocket::Error. A grammar that parses must print back
// (to_gbnf) to a grammar that parses and accepts the text exactly when the original does; the
// sampling constraint is then stepped over a few tokens of a small vocabulary (stories260K's
// 512 pieces): the allowed-token mask, apply() on a candidate list, accept(), clone().
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "fuzz_support.h"
#include "pocket/generate/grammar.h"
#include "pocket/generate/grammar_constraint.h"
#include "pocket/generate/sampling_candidates.h"
#include "pocket/gguf/gguf.h"
#include "pocket/tokenizer/tokenizer.h"

namespace {

struct Vocabulary {
    std::unique_ptr<pocket::tokenizer::Tokenizer> tokenizer;
    std::shared_ptr<const pocket::VocabularyIndex> index;
};

const Vocabulary& vocabulary() {
    static const Vocabulary v = [] {
        Vocabulary out;
        const auto file =
            pocket::gguf::File::open(pocket::fuzz::shared_path("models/stories260K.gguf"));
        out.tokenizer = pocket::tokenizer::load_tokenizer(file);
        out.index = pocket::VocabularyIndex::build(*out.tokenizer);
        return out;
    }();
    return v;
}

// Up to four tokens: each step takes the allowed token the text's next byte points at.
void step_constraint(const std::shared_ptr<const pocket::Grammar>& grammar, std::string_view text) {
    const Vocabulary& v = vocabulary();
    pocket::GrammarConstraint constraint(grammar, v.index);
    const size_t n_vocab = v.tokenizer->n_vocab();
    std::vector<float> zeros(n_vocab, 0.0f);
    pocket::CandidateList candidates;
    for (size_t step = 0; step < 4; ++step) {
        candidates.assign(zeros);
        constraint.apply(candidates);
        std::vector<pocket::TokenId> allowed;
        const auto mask = constraint.allowed_mask();
        for (size_t id = 0; id < n_vocab; ++id)
            if (mask[id / 64] >> (id % 64) & 1) allowed.push_back(static_cast<pocket::TokenId>(id));
        size_t survivors = 0;
        for (const auto& c : candidates.items()) survivors += c.logit > -1e30f;
        if (survivors != allowed.size())
            pocket::fuzz::invariant_failed("apply() and allowed_mask() disagree");
        (void)constraint.can_end();
        if (allowed.empty() || constraint.finished()) break;
        const size_t pick = step < text.size() ? uint8_t(text[step]) : 0;
        const pocket::TokenId token = allowed[pick % allowed.size()];
        if (v.index->is_eog(token)) break;
        auto copy = constraint.clone();
        constraint.accept(token);
        copy->accept(token);
    }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    const auto [gbnf, text] =
        pocket::fuzz::split(pocket::fuzz::as_text(data, size), std::string_view("\0", 1));
    std::shared_ptr<const pocket::Grammar> grammar;
    try {
        grammar = std::make_shared<const pocket::Grammar>(pocket::Grammar::parse_gbnf(gbnf));
    } catch (const pocket::Error&) {
        return 0;
    }
    pocket::Grammar reparsed;
    try {
        reparsed = pocket::Grammar::parse_gbnf(grammar->to_gbnf());
    } catch (const pocket::Error& e) {
        pocket::fuzz::invariant_failed("to_gbnf() does not parse back:", e.what());
    }
    // A grammar too ambiguous to match in bounded time is refused with pocket::Error, by both
    // copies alike.
    int matches[2];
    const pocket::Grammar* both[2] = {grammar.get(), &reparsed};
    for (int i = 0; i < 2; ++i) {
        try {
            matches[i] = pocket::grammar_matches(*both[i], text);
        } catch (const pocket::Error&) {
            matches[i] = -1;
        }
    }
    if (matches[0] != matches[1])
        pocket::fuzz::invariant_failed("to_gbnf() changed what the grammar accepts");
    try {
        step_constraint(grammar, text);
    } catch (const pocket::Error&) {
    }
    return 0;
}
