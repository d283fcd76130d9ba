// Tokenization and the choice of scored tokens, per task, as llama.cpp's perplexity tool does
// it (see multiple_choice.h for the rules).
#include <algorithm>

#include "pocket/eval/multiple_choice.h"
#include "pocket/tokenizer/tokenizer.h"

namespace pocket::eval {
namespace {

std::vector<TokenId> tokenize(const tokenizer::Tokenizer& tok, const std::string& text) {
    // llama.cpp's common_tokenize(ctx, text, true): BOS as the vocabulary asks, and special
    // tokens inside benchmark text are plain text.
    return tok.encode(text, /*add_special=*/true, /*parse_special=*/false);
}

size_t common_prefix(const std::vector<Candidate>& cands) {
    size_t min_len = cands.front().tokens.size();
    for (const auto& c : cands) min_len = std::min(min_len, c.tokens.size());
    size_t n = 0;
    while (n < min_len && std::all_of(cands.begin(), cands.end(), [&](const Candidate& c) {
               return c.tokens[n] == cands.front().tokens[n];
           })) {
        ++n;
    }
    // Keep at least one token of each candidate to score (identical candidates, or one that is
    // a prefix of another, would otherwise score nothing; llama.cpp reads out of bounds there).
    return std::min(n, min_len - 1);
}

void score_after_prefix(PreparedQuestion& p) {
    for (auto& c : p.candidates) {
        c.score_begin = p.shared;
        c.score_end = c.tokens.size();
    }
}

// winogrande_score: score what follows the option, without the sentence's last token, unless
// either option leaves 3 or fewer tokens after the shared prefix.
void score_winogrande(PreparedQuestion& p, const std::vector<size_t>& n_base) {
    constexpr size_t kMinTrailing = 3;
    bool skip_choice = true;
    for (const auto& c : p.candidates) skip_choice &= c.tokens.size() - p.shared > kMinTrailing;
    for (size_t i = 0; i < p.candidates.size(); ++i) {
        Candidate& c = p.candidates[i];
        const size_t base = skip_choice ? n_base[i] : p.shared;
        const size_t last = c.tokens.size() > base + 1 ? 1 : 0;
        c.score_begin = base;
        c.score_end = c.tokens.size() - last;
        if (c.score_begin >= c.score_end || c.score_begin == 0) {
            // The option's own tokens merged into the rest: fall back to everything after the
            // shared prefix.
            c.score_begin = p.shared;
            c.score_end = c.tokens.size();
        }
    }
}

}  // namespace

PreparedQuestion prepare_question(Task task, const Question& q,
                                  const tokenizer::Tokenizer& tokenizer) {
    PreparedQuestion p;
    p.answer = q.answer;
    std::vector<size_t> n_base;
    for (const auto& choice : q.choices) {
        Candidate c;
        if (task == Task::winogrande) {
            c.tokens = tokenize(tokenizer, q.context + choice + q.after);
            n_base.push_back(tokenize(tokenizer, q.context + choice).size());
        } else {
            c.tokens = tokenize(tokenizer, q.context + " " + choice);
        }
        p.candidates.push_back(std::move(c));
    }
    if (p.candidates.empty()) fail("question at line ", q.line, " has no choices");
    p.shared = common_prefix(p.candidates);
    if (p.shared == 0) {
        fail("question at line ", q.line,
             ": the choices share no first token to condition on (the model adds no BOS and the "
             "context is empty)");
    }
    if (task == Task::winogrande) {
        score_winogrande(p, n_base);
    } else {
        score_after_prefix(p);
    }
    return p;
}

}  // namespace pocket::eval
