#include "pocket/rag/grounded_prompt.h"

#include <algorithm>
#include <cctype>

#include "pocket/core/error.h"
#include "pocket/generate/chat.h"
#include "pocket/model/context.h"
#include "pocket/model/model.h"
#include "pocket/tokenizer/tokenizer.h"

namespace pocket::rag {
namespace {

using json = nlohmann::ordered_json;

constexpr std::string_view kEllipsis = " ...";

// The system text goes in front of the first user message (for templates that reject a system
// role, e.g. Gemma's), as ChatSession and the server do.
json fold_system(json messages) {
    if (messages.empty() || messages[0]["role"] != "system") return messages;
    const std::string system = messages[0]["content"].get<std::string>();
    messages.erase(messages.begin());
    for (auto& m : messages) {
        if (m["role"] == "user" && m["content"].is_string()) {
            m["content"] = system + "\n\n" + m["content"].get<std::string>();
            return messages;
        }
    }
    messages.insert(messages.begin(), json{{"role", "user"}, {"content", system}});
    return messages;
}

// The conversation with the grounded system message in front (a caller's system message, if
// first, follows the grounding in the same message).
json grounded_messages(const json& conversation, const std::string& system) {
    json out = json::array();
    size_t first = 0;
    std::string text = system;
    if (!conversation.empty() && conversation[0].value("role", "") == "system" &&
        conversation[0]["content"].is_string()) {
        const std::string own = conversation[0]["content"].get<std::string>();
        if (!own.empty()) text += "\n\n" + own;
        first = 1;
    }
    out.push_back(json{{"role", "system"}, {"content", std::move(text)}});
    for (size_t i = first; i < conversation.size(); ++i) out.push_back(conversation[i]);
    return out;
}

struct Rendered {
    json messages;
    RenderedPrompt prompt;
    std::vector<TokenId> tokens;
    bool folded = false;
};

Rendered render(const ModelChatTemplate& tmpl, const tokenizer::Tokenizer& tok,
                const json& conversation, const std::string& system) {
    Rendered r;
    r.messages = grounded_messages(conversation, system);
    ChatTemplateInputs inputs = tmpl.inputs();
    inputs.add_generation_prompt = true;
    inputs.messages = r.messages;
    try {
        r.prompt = tmpl.tmpl.render(inputs);
    } catch (const TemplateError&) {
        r.messages = fold_system(std::move(r.messages));
        inputs.messages = r.messages;
        r.prompt = tmpl.tmpl.render(inputs);
        r.folded = true;
    }
    r.tokens = tokenize_rendered(tok, r.prompt);
    return r;
}

// The first `bytes` bytes of text, cut back to a UTF-8 character boundary and, when one lies in
// the last half, to the last line break or space, with an ellipsis.
std::string trim_text(const std::string& text, size_t bytes) {
    size_t p = std::min(bytes, text.size());
    while (p > 0 && p < text.size() && (static_cast<unsigned char>(text[p]) & 0xC0) == 0x80) --p;
    const size_t nl = text.rfind('\n', p == 0 ? 0 : p - 1);
    const size_t sp = text.find_last_of(" \t", p == 0 ? 0 : p - 1);
    if (nl != std::string::npos && nl >= p / 2 && nl > 0) {
        p = nl;
    } else if (sp != std::string::npos && sp >= p / 2 && sp > 0) {
        p = sp;
    }
    std::string out = text.substr(0, p);
    while (!out.empty() && std::isspace(static_cast<unsigned char>(out.back()))) out.pop_back();
    out += kEllipsis;
    return out;
}

Source source_of(const SearchHit& hit, int number) {
    Source s;
    s.number = number;
    s.path = hit.document.path;
    s.title = hit.document.title;
    s.heading = hit.chunk.heading;
    s.page = hit.chunk.page;
    s.chunk_id = hit.chunk.id;
    s.score = hit.score;
    s.relevance = hit.relevance;
    s.text = hit.chunk.text;
    return s;
}

}  // namespace

double default_min_relevance(SearchMode mode) {
    return mode == SearchMode::Bm25 ? 0.60 : kDefaultMinRelevance;
}

std::string_view default_grounding_instructions() {
    return "You answer questions using only the numbered sources below. Cite the sources that "
           "support each statement with their numbers in square brackets, like [1] or [2][3]. "
           "Do not use knowledge from outside the sources. If the sources do not contain the "
           "answer, say \"I don't know\" and nothing else.";
}

std::string_view no_answer_text() {
    return "I don't know: nothing in the index is relevant enough to answer this question.";
}

std::string source_label(const Source& source) {
    std::string label = source.path.empty() ? source.title : source.path;
    if (source.page > 0) label += cat(", page ", source.page);
    if (!source.heading.empty()) label += " > " + source.heading;
    return label;
}

std::string grounded_system_message(std::string_view instructions,
                                    std::span<const Source> sources) {
    std::string out(instructions);
    out += "\n\nSources:";
    if (sources.empty()) out += "\n(none)";
    for (const Source& s : sources) {
        out += cat("\n\n[", s.number, "] ", source_label(s), "\n");
        out += s.text;
    }
    return out;
}

GroundedPrompt build_grounded_conversation(const ModelChatTemplate& chat_template,
                                           const tokenizer::Tokenizer& tokenizer,
                                           const nlohmann::ordered_json& conversation,
                                           std::span<const SearchHit> hits,
                                           const GroundingOptions& options) {
    GroundedPrompt out;
    std::vector<Source> all;
    for (const SearchHit& hit : hits) {
        if (hit.relevance >= options.min_relevance) {
            all.push_back(source_of(hit, static_cast<int>(all.size()) + 1));
        } else {
            ++out.irrelevant_hits;
        }
    }
    if (all.empty()) return out;
    out.relevant = true;

    const int64_t budget = options.context_tokens - options.answer_tokens;
    auto fits = [&](const Rendered& r) { return static_cast<int64_t>(r.tokens.size()) <= budget; };
    auto render_with = [&](std::span<const Source> sources) {
        return render(chat_template, tokenizer, conversation,
                      grounded_system_message(options.instructions, sources));
    };

    Rendered best = render_with({});
    if (budget <= 0 || !fits(best))
        fail("the question and instructions take ", best.tokens.size(), " tokens, more than the ",
             std::max<int64_t>(0, budget), " the context leaves after reserving ",
             options.answer_tokens,
             " for the answer (raise the context size or lower the answer length)");

    // The most sources, in rank order, that fit (more sources never take fewer tokens).
    size_t lo = 0, hi = all.size();
    {
        Rendered full = render_with(all);
        if (fits(full)) {
            lo = hi;
            best = std::move(full);
        }
    }
    while (lo < hi) {  // invariant: lo fits (best holds it), hi does not
        const size_t mid = lo + (hi - lo + 1) / 2;
        if (mid == hi) break;
        Rendered r = render_with(std::span(all).first(mid));
        if (fits(r)) {
            lo = mid;
            best = std::move(r);
        } else {
            hi = mid;
        }
    }
    size_t kept = lo;
    // The next source, trimmed to what still fits, rather than nothing.
    if (kept < all.size() && all[kept].text.size() > options.min_source_bytes) {
        std::vector<Source> trial(all.begin(), all.begin() + static_cast<ptrdiff_t>(kept) + 1);
        const std::string full_text = all[kept].text;
        size_t good = 0, a = options.min_source_bytes, b = full_text.size();
        std::optional<Rendered> trimmed;
        while (a < b) {
            const size_t mid = a + (b - a) / 2;
            trial.back().text = trim_text(full_text, mid);
            Rendered r = render_with(trial);
            if (fits(r)) {
                good = mid;
                trimmed = std::move(r);
                a = mid + 1;
            } else {
                b = mid;
            }
        }
        if (trimmed) {
            all[kept].text = trim_text(full_text, good);
            all[kept].trimmed = true;
            best = std::move(*trimmed);
            ++kept;
        }
    }
    if (kept == 0)
        fail("the context leaves no room for any source (", budget,
             " tokens after the answer's share); raise the context size or lower the answer "
             "length");
    out.dropped_sources = static_cast<int64_t>(all.size() - kept);
    all.resize(kept);
    out.sources = std::move(all);
    out.messages = std::move(best.messages);
    out.system_folded = best.folded;
    out.rendered = std::move(best.prompt);
    out.tokens = std::move(best.tokens);
    return out;
}

GroundedPrompt build_grounded_prompt(const ModelChatTemplate& chat_template,
                                     const tokenizer::Tokenizer& tokenizer,
                                     std::string_view question, std::span<const SearchHit> hits,
                                     const GroundingOptions& options) {
    json conversation = json::array({json{{"role", "user"}, {"content", std::string(question)}}});
    return build_grounded_conversation(chat_template, tokenizer, conversation, hits, options);
}

std::vector<int> cited_sources(std::string_view answer, size_t n_sources) {
    std::vector<int> out;
    auto add = [&](long n) {
        if (n < 1 || static_cast<size_t>(n) > n_sources) return;
        if (std::find(out.begin(), out.end(), static_cast<int>(n)) == out.end())
            out.push_back(static_cast<int>(n));
    };
    size_t i = 0;
    while ((i = answer.find('[', i)) != std::string_view::npos) {
        const size_t close = answer.find(']', i + 1);
        if (close == std::string_view::npos) break;
        const std::string_view inner = answer.substr(i + 1, close - i - 1);
        // Digits, separated by commas, spaces and dashes (ranges); anything else is not a citation.
        bool ok = !inner.empty() && inner.size() <= 32;
        for (const char c : inner)
            ok = ok &&
                 (std::isdigit(static_cast<unsigned char>(c)) || c == ',' || c == ' ' || c == '-');
        if (ok) {
            std::vector<long> nums;
            std::vector<bool> range_after;
            size_t p = 0;
            while (p < inner.size()) {
                if (std::isdigit(static_cast<unsigned char>(inner[p]))) {
                    long v = 0;
                    while (p < inner.size() && std::isdigit(static_cast<unsigned char>(inner[p])))
                        v = std::min<long>(v * 10 + (inner[p++] - '0'), 1 << 20);
                    nums.push_back(v);
                    range_after.push_back(false);
                } else {
                    if (inner[p] == '-' && !range_after.empty()) range_after.back() = true;
                    ++p;
                }
            }
            for (size_t k = 0; k < nums.size(); ++k) {
                if (range_after[k] && k + 1 < nums.size() && nums[k + 1] >= nums[k] &&
                    nums[k + 1] - nums[k] <= 64) {
                    for (long v = nums[k]; v < nums[k + 1]; ++v) add(v);
                } else {
                    add(nums[k]);
                }
            }
        }
        i = close + 1;
    }
    return out;
}

std::string format_source_list(std::span<const Source> sources) {
    if (sources.empty()) return {};
    std::string out = "Sources:";
    for (const Source& s : sources) out += cat("\n[", s.number, "] ", source_label(s));
    out += "\n";
    return out;
}

nlohmann::ordered_json citations_json(std::span<const Source> sources, std::string_view answer) {
    const std::vector<int> cited = cited_sources(answer, sources.size());
    json out = json::array();
    for (const Source& s : sources) {
        out.push_back(json{
            {"n", s.number},
            {"path", s.path},
            {"title", s.title},
            {"page", s.page},
            {"heading", s.heading},
            {"chunk_id", s.chunk_id},
            {"score", s.score},
            {"relevance", s.relevance},
            {"trimmed", s.trimmed},
            {"cited", std::find(cited.begin(), cited.end(), s.number) != cited.end()},
        });
    }
    return out;
}

nlohmann::ordered_json hit_json(const SearchHit& hit, int rank) {
    return json{
        {"rank", rank},
        {"path", hit.document.path},
        {"title", hit.document.title},
        {"page", hit.chunk.page},
        {"heading", hit.chunk.heading},
        {"chunk_id", hit.chunk.id},
        {"score", hit.score},
        {"bm25_score", hit.bm25_score},
        {"vector_score", hit.vector_score},
        {"relevance", hit.relevance},
        {"snippet", hit.snippet},
        {"text", hit.chunk.text},
    };
}

GroundedAnswer answer_grounded(Session& session, const ModelChatTemplate& chat_template,
                               std::string_view question, std::span<const SearchHit> hits,
                               GroundingOptions options, GenerateOptions gen,
                               const TextCallback& on_text) {
    if (options.context_tokens <= 0) options.context_tokens = session.context().n_ctx();
    if (gen.max_tokens < 0) gen.max_tokens = options.answer_tokens;
    options.answer_tokens = std::min(options.answer_tokens, gen.max_tokens);
    GroundedAnswer out;
    out.prompt = build_grounded_prompt(chat_template, session.context().model().tokenizer(),
                                       question, hits, options);
    if (!out.prompt.relevant) {
        out.text = std::string(no_answer_text());
        out.result.finish = FinishReason::Stop;
        if (on_text) on_text(out.text);
        return out;
    }
    out.result = session.generate(out.prompt.tokens, gen, on_text);
    out.text = out.result.text;
    out.cited = cited_sources(out.text, out.prompt.sources.size());
    return out;
}

}  // namespace pocket::rag
