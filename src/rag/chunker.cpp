// Token-bounded chunking that follows the document's structure (see chunker.h for the rules).
// The text is cut into sections at headings and page starts, each section into words ("pieces")
// that remember how strong the break after them is; chunks are then packed greedily from pieces.
#include "pocket/rag/chunker.h"

#include <algorithm>
#include <cctype>
#include <string>

#include "pocket/core/error.h"

namespace pocket::rag {
namespace {

// How good a place to end a chunk the gap after a piece is.
enum Strength : int { kWord = 0, kLine = 1, kSentence = 2, kParagraph = 3 };

struct Piece {
    size_t begin = 0, end = 0;  // bytes in the document text
    size_t tokens = 0;
    int strength = kWord;
};

bool is_space(char c) {
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f';
}

bool ends_sentence(std::string_view word) {
    // "end." "end?)" "end!\"" — closing quotes and brackets may follow the mark.
    size_t n = word.size();
    while (n > 0 &&
           (word[n - 1] == '"' || word[n - 1] == '\'' || word[n - 1] == ')' || word[n - 1] == ']'))
        --n;
    return n > 0 && (word[n - 1] == '.' || word[n - 1] == '!' || word[n - 1] == '?' ||
                     word[n - 1] == ':' || word[n - 1] == ';');
}

// Start of the UTF-8 character holding byte `i` (so splits never cut a character).
size_t char_start(std::string_view s, size_t i) {
    while (i > 0 && i < s.size() && (static_cast<unsigned char>(s[i]) & 0xC0) == 0x80) --i;
    return i;
}

class Chunker {
  public:
    Chunker(const ExtractedText& doc, const ChunkOptions& opt, const TokenCounter& count)
        : doc_(doc), opt_(opt), count_(count) {
        // Tokens the counter adds to any text (e.g. [CLS] [SEP]), so words can be summed.
        overhead_ = count_("");
    }

    std::vector<ChunkInfo> run() {
        std::vector<size_t> cuts = {0, doc_.text.size()};
        for (const auto& h : doc_.headings) cuts.push_back(static_cast<size_t>(h.offset));
        for (auto p : doc_.page_starts) cuts.push_back(static_cast<size_t>(p));
        std::sort(cuts.begin(), cuts.end());
        cuts.erase(std::unique(cuts.begin(), cuts.end()), cuts.end());

        size_t next_heading = 0;
        std::vector<const Heading*> path;
        for (size_t c = 0; c + 1 < cuts.size(); ++c) {
            const size_t begin = cuts[c], end = std::min(cuts[c + 1], doc_.text.size());
            while (next_heading < doc_.headings.size() &&
                   static_cast<size_t>(doc_.headings[next_heading].offset) <= begin) {
                const Heading& h = doc_.headings[next_heading++];
                while (!path.empty() && path.back()->level >= h.level) path.pop_back();
                path.push_back(&h);
            }
            std::string heading;
            for (const Heading* h : path) heading += (heading.empty() ? "" : " > ") + h->text;
            const auto page_it =
                std::upper_bound(doc_.page_starts.begin(), doc_.page_starts.end(), int64_t(begin));
            const int page =
                doc_.page_starts.empty() ? 0 : static_cast<int>(page_it - doc_.page_starts.begin());
            pack(split(begin, end), heading, std::max(page, doc_.page_starts.empty() ? 0 : 1));
        }
        return std::move(chunks_);
    }

  private:
    size_t tokens(std::string_view s) const {
        const size_t n = count_(s);
        return n > overhead_ ? n - overhead_ : 0;
    }

    // The words of text[begin, end), each with the strength of the gap that follows it.
    std::vector<Piece> split(size_t begin, size_t end) const {
        const std::string_view text = doc_.text;
        std::vector<Piece> pieces;
        size_t i = begin;
        while (i < end) {
            size_t newlines = 0;
            while (i < end && is_space(text[i])) newlines += text[i++] == '\n';
            if (!pieces.empty()) {
                Piece& prev = pieces.back();
                if (newlines >= 2)
                    prev.strength = std::max(prev.strength, int(kParagraph));
                else if (newlines == 1)
                    prev.strength = std::max(prev.strength, int(kLine));
            }
            if (i >= end) break;
            const size_t w = i;
            while (i < end && !is_space(text[i])) ++i;
            add_word(w, i, pieces);
        }
        return pieces;
    }

    void add_word(size_t begin, size_t end, std::vector<Piece>& pieces) const {
        const std::string_view word = std::string_view(doc_.text).substr(begin, end - begin);
        const int strength = ends_sentence(word) ? kSentence : kWord;
        const size_t n = tokens(word);
        if (n <= static_cast<size_t>(opt_.max_tokens)) {
            pieces.push_back({begin, end, n, strength});
            return;
        }
        // A "word" longer than a chunk (base64, a minified line): cut it into slices of about
        // half a chunk each, at character boundaries.
        const size_t slice =
            std::max<size_t>(4, word.size() * static_cast<size_t>(opt_.max_tokens) / n / 2);
        for (size_t s = begin; s < end;) {
            size_t e = s + slice >= end ? end : char_start(doc_.text, s + slice);
            if (e <= s) e = std::min(end, s + slice);
            pieces.push_back({s, e, tokens(std::string_view(doc_.text).substr(s, e - s)), kWord});
            s = e;
        }
        pieces.back().strength = strength;
    }

    void pack(const std::vector<Piece>& p, const std::string& heading, int page) {
        const size_t m = p.size();
        if (m == 0) return;
        std::vector<size_t> sum(m + 1, 0);  // sum[k] = tokens of pieces [0, k)
        for (size_t k = 0; k < m; ++k) sum[k + 1] = sum[k] + p[k].tokens;
        const auto max = static_cast<size_t>(opt_.max_tokens);
        const auto overlap = static_cast<size_t>(opt_.overlap_tokens);

        size_t i = 0;
        while (i < m) {
            size_t j = i + 1;  // at least one piece, even one over the limit
            while (j < m && sum[j + 1] - sum[i] <= max) ++j;
            size_t e = j;
            if (j < m) {
                // The strongest break at least half way into the chunk; the latest among equals.
                int best = -1;
                for (size_t k = j; k > i; --k) {
                    if ((sum[k] - sum[i]) * 2 < max && k != j) break;
                    if (p[k - 1].strength > best) {
                        best = p[k - 1].strength;
                        e = k;
                    }
                }
            }
            emit(p, sum, i, e, heading, page);
            if (e >= m) break;
            // Step back over up to `overlap` tokens of whole words, always moving forward.
            size_t k = e;
            while (k - 1 > i && sum[e] - sum[k - 1] <= overlap) --k;
            for (size_t s = k; s < e; ++s) {
                if (p[s - 1].strength >= kSentence) {  // start the overlap at a sentence
                    k = s;
                    break;
                }
            }
            i = k;
        }
    }

    void emit(const std::vector<Piece>& p, const std::vector<size_t>& sum, size_t i, size_t e,
              const std::string& heading, int page) {
        ChunkInfo c;
        c.ordinal = static_cast<int32_t>(chunks_.size());
        c.byte_begin = static_cast<int64_t>(p[i].begin);
        c.byte_end = static_cast<int64_t>(p[e - 1].end);
        c.text = doc_.text.substr(p[i].begin, p[e - 1].end - p[i].begin);
        c.heading = heading;
        c.page = page;
        c.n_tokens = static_cast<int32_t>(sum[e] - sum[i]);
        chunks_.push_back(std::move(c));
    }

    const ExtractedText& doc_;
    const ChunkOptions& opt_;
    const TokenCounter& count_;
    size_t overhead_ = 0;
    std::vector<ChunkInfo> chunks_;
};

}  // namespace

size_t count_words_and_punct(std::string_view text) {
    size_t n = 0;
    bool in_word = false;
    for (char ch : text) {
        const auto c = static_cast<unsigned char>(ch);
        // Bytes >= 0x80 belong to non-ASCII letters often enough to count as word characters.
        const bool word = std::isalnum(c) || c >= 0x80 || c == '_';
        if (word) {
            if (!in_word) ++n;
        } else if (!is_space(ch)) {
            ++n;
        }
        in_word = word;
    }
    return n;
}

std::vector<ChunkInfo> chunk_document(const ExtractedText& doc, const ChunkOptions& options,
                                      const TokenCounter& count) {
    if (options.max_tokens < 1)
        fail("chunk size must be at least 1 token, not ", options.max_tokens);
    if (options.overlap_tokens < 0 || options.overlap_tokens >= options.max_tokens)
        fail("chunk overlap must be in [0, ", options.max_tokens, "), not ",
             options.overlap_tokens);
    const TokenCounter fallback = [](std::string_view s) { return count_words_and_punct(s); };
    return Chunker(doc, options, count ? count : fallback).run();
}

}  // namespace pocket::rag
