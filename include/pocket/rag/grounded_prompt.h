// Grounded answers: from retrieved chunks (retriever.h) to a chat prompt that tells the model to
// answer only from numbered sources and to cite them as [1], [2], fitted to the context budget
// with the chat model's own tokenizer and template, and the citation map that turns [n] back into
// a file, page and heading. What `pocket ask` and the server's RAG extension of
// /v1/chat/completions both use; an application embedding pocket needs nothing else.
//
// Deterministic "don't know": when the best hit's relevance is below GroundingOptions::
// min_relevance (calibrated in docs/RAG.md, "Answering"), the prompt is not built, the model is
// not called, and the answer is no_answer_text().
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "pocket/generate/chat_template.h"
#include "pocket/generate/session.h"
#include "pocket/rag/retriever.h"

namespace pocket::tokenizer {
class Tokenizer;
}

namespace pocket::rag {

// The relevance (SearchHit::relevance, 0..1) below which the best hit counts as "nothing
// relevant found", per retrieval mode (the mode actually used: Bm25 when Hybrid fell back).
// Calibrated on SciFact claims vs. off-topic NQ-open questions (docs/RAG.md, "Answering",
// bench/rag/ask_threshold.py): vector and hybrid 0.50, bm25 0.60.
double default_min_relevance(SearchMode mode);
inline constexpr double kDefaultMinRelevance = 0.50;  // hybrid's

// The system message's instructions (the numbered sources follow them).
std::string_view default_grounding_instructions();
// What is answered, without calling the model, when nothing relevant was found.
std::string_view no_answer_text();

struct GroundingOptions {
    // Tokens the prompt and the answer share (the chat context, n_ctx).
    int64_t context_tokens = 4096;
    // Tokens kept free for the answer; the prompt gets context_tokens - answer_tokens.
    int64_t answer_tokens = 512;
    // Hits below this relevance are left out; if none is left, there is no answer.
    double min_relevance = kDefaultMinRelevance;
    // A source is never trimmed to fewer than this many bytes of text: below that it is dropped.
    size_t min_source_bytes = 200;
    std::string instructions = std::string(default_grounding_instructions());
};

// One numbered source of a grounded prompt: what [number] in the answer refers to.
struct Source {
    int number = 0;  // 1-based, in rank order
    std::string path;
    std::string title;
    std::string heading;  // empty when none
    int32_t page = 0;     // 0 when not paged
    int64_t chunk_id = 0;
    double score = 0;
    double relevance = 0;
    std::string text;      // the text given to the model (possibly trimmed)
    bool trimmed = false;  // the chunk's text was cut to fit the budget
};

struct GroundedPrompt {
    // False when no hit reached min_relevance: answer no_answer_text() without a model.
    bool relevant = false;
    std::vector<Source> sources;
    // Hits that passed the threshold but did not fit the budget (lowest-ranked first to go).
    int64_t dropped_sources = 0;
    // Hits under min_relevance.
    int64_t irrelevant_hits = 0;
    // The messages given to the template: the grounded system message, then the conversation.
    nlohmann::ordered_json messages = nlohmann::ordered_json::array();
    bool system_folded = false;  // the template rejects a system role: folded into a user turn
    RenderedPrompt rendered;
    std::vector<TokenId> tokens;  // the rendered prompt, tokenized as ChatSession does
};

// The header line of a source as the model and the user see it: "path, page 3 > Heading".
std::string source_label(const Source& source);
// The system message: instructions, then "[n] label\ntext" for each source.
std::string grounded_system_message(std::string_view instructions, std::span<const Source> sources);

// Builds the grounded prompt for `conversation` ([{"role","content"}...], ending with the user's
// question; a system message of the caller's, if first, is kept after the grounding). Sources are
// the hits at or above min_relevance, in rank order; while the rendered prompt exceeds the budget
// the lowest-ranked source is dropped, and the last one kept is trimmed (at a line or word
// boundary) rather than dropped when trimming makes it fit. Throws pocket::Error when even the
// prompt with no sources exceeds the budget, TemplateError when the template rejects the messages.
GroundedPrompt build_grounded_conversation(const ModelChatTemplate& chat_template,
                                           const tokenizer::Tokenizer& tokenizer,
                                           const nlohmann::ordered_json& conversation,
                                           std::span<const SearchHit> hits,
                                           const GroundingOptions& options);
// build_grounded_conversation for one question.
GroundedPrompt build_grounded_prompt(const ModelChatTemplate& chat_template,
                                     const tokenizer::Tokenizer& tokenizer,
                                     std::string_view question, std::span<const SearchHit> hits,
                                     const GroundingOptions& options);

// The numbers [n] an answer cites, each once, in order of first citation ([1, 2], [1][3] and
// [1-3] are understood); numbers that name no source are left out.
std::vector<int> cited_sources(std::string_view answer, size_t n_sources);

// "Sources:\n[1] path, page 3 > Heading\n..." (empty string for no sources).
std::string format_source_list(std::span<const Source> sources);
// [{"n":1,"path":...,"title":...,"page":...,"heading":...,"chunk_id":...,"score":...,
//   "relevance":...,"cited":bool}, ...]; `answer` decides "cited" (empty: all false).
nlohmann::ordered_json citations_json(std::span<const Source> sources,
                                      std::string_view answer = {});
// One search hit as JSON, the shape /v1/rag/search and `pocket search --json` return:
// {"rank","path","title","page","heading","chunk_id","score","bm25_score","vector_score",
//  "relevance","snippet","text"}.
nlohmann::ordered_json hit_json(const SearchHit& hit, int rank);

struct GroundedAnswer {
    GroundedPrompt prompt;
    std::string text;        // the answer (no_answer_text() when !prompt.relevant)
    GenerateResult result;   // empty when the model was not called
    std::vector<int> cited;  // cited_sources(text)
};

// The whole answer: builds the prompt for `question` from `hits` and, when something relevant was
// found, generates with `session` (streaming pieces through on_text); otherwise streams
// no_answer_text() through on_text without touching the model. options.context_tokens is taken
// from the session's context when 0; gen.max_tokens < 0 means options.answer_tokens.
GroundedAnswer answer_grounded(Session& session, const ModelChatTemplate& chat_template,
                               std::string_view question, std::span<const SearchHit> hits,
                               GroundingOptions options, GenerateOptions gen,
                               const TextCallback& on_text = {});

}  // namespace pocket::rag
