// Chunker properties: token limits, overlap, heading and page boundaries, offsets into the text.
#include <gtest/gtest.h>

#include <string>

#include "pocket/core/error.h"
#include "pocket/embed/embedder.h"
#include "pocket/rag/chunker.h"
#include "pocket/rag/extract.h"
#include "support/test_support.h"

namespace pocket::test {
namespace {

using rag::ChunkInfo;
using rag::ChunkOptions;

// A document of `n` numbered sentences in paragraphs of five, under two headings.
rag::ExtractedText sample_markdown(int n) {
    std::string md = "# Manual\n\nOverview words here.\n\n## Details\n\n";
    for (int i = 0; i < n; ++i) {
        md += "Sentence number " + std::to_string(i) + " talks about topic " +
              std::to_string(i % 7) + " at some length.";
        md += i % 5 == 4 ? "\n\n" : " ";
    }
    md += "\n\n# Appendix\n\nLast words.\n";
    return rag::extract_bytes(md, "md", "m.md");
}

void check_offsets(const rag::ExtractedText& doc, const std::vector<ChunkInfo>& chunks) {
    for (size_t i = 0; i < chunks.size(); ++i) {
        const auto& c = chunks[i];
        EXPECT_EQ(c.ordinal, static_cast<int32_t>(i));
        ASSERT_LE(c.byte_begin, c.byte_end);
        ASSERT_LE(static_cast<size_t>(c.byte_end), doc.text.size());
        EXPECT_EQ(c.text, doc.text.substr(static_cast<size_t>(c.byte_begin),
                                          static_cast<size_t>(c.byte_end - c.byte_begin)));
        EXPECT_FALSE(c.text.empty());
    }
}

TEST(Chunker, CountsWordsAndPunctuation) {
    EXPECT_EQ(rag::count_words_and_punct(""), 0u);
    EXPECT_EQ(rag::count_words_and_punct("don't stop."), 5u);
    EXPECT_EQ(rag::count_words_and_punct("  a1 b_2\n\nc  "), 3u);
    EXPECT_EQ(rag::count_words_and_punct("héllo wörld"), 2u);
}

TEST(Chunker, RespectsTokenLimitsOffsetsAndHeadings) {
    const auto doc = sample_markdown(120);
    const ChunkOptions opt{.max_tokens = 60, .overlap_tokens = 12};
    const auto chunks = rag::chunk_document(doc, opt);
    ASSERT_GT(chunks.size(), 10u);
    check_offsets(doc, chunks);
    for (const auto& c : chunks) {
        EXPECT_LE(c.n_tokens, opt.max_tokens);
        EXPECT_EQ(static_cast<size_t>(c.n_tokens), rag::count_words_and_punct(c.text));
        // No chunk contains a heading other than at its very start.
        for (const auto& h : doc.headings)
            EXPECT_FALSE(h.offset > c.byte_begin && h.offset < c.byte_end)
                << "chunk " << c.ordinal << " crosses heading " << h.text;
    }
    EXPECT_EQ(chunks.front().heading, "Manual");
    EXPECT_EQ(chunks[1].heading, "Manual > Details");
    EXPECT_EQ(chunks.back().heading, "Appendix");
    EXPECT_EQ(chunks.back().text, "Appendix\n\nLast words.");
    EXPECT_EQ(chunks.back().page, 0);
}

TEST(Chunker, ConsecutiveChunksOverlapAndBreakAtSentences) {
    const auto doc = sample_markdown(120);
    const ChunkOptions opt{.max_tokens = 60, .overlap_tokens = 12};
    const auto chunks = rag::chunk_document(doc, opt);
    size_t overlapping = 0, pairs = 0;
    for (size_t i = 1; i < chunks.size(); ++i) {
        const auto &a = chunks[i - 1], &b = chunks[i];
        if (a.heading != b.heading) continue;
        ++pairs;
        EXPECT_GT(b.byte_begin, a.byte_begin) << "chunks move forward";
        if (b.byte_begin < a.byte_end) {
            ++overlapping;
            const auto shared = doc.text.substr(static_cast<size_t>(b.byte_begin),
                                                static_cast<size_t>(a.byte_end - b.byte_begin));
            EXPECT_LE(rag::count_words_and_punct(shared), 12u) << shared;
        }
        // Sentences here are 12 tokens, so every break can and should fall at a sentence end.
        EXPECT_EQ(a.text.back(), '.') << a.text;
    }
    ASSERT_GT(pairs, 5u);
    EXPECT_EQ(overlapping, pairs) << "every break within a section overlaps";

    const auto no_overlap = rag::chunk_document(doc, {.max_tokens = 60, .overlap_tokens = 0});
    for (size_t i = 1; i < no_overlap.size(); ++i)
        EXPECT_GE(no_overlap[i].byte_begin, no_overlap[i - 1].byte_end);
}

TEST(Chunker, PrefersParagraphEnds) {
    // Paragraphs of 33 tokens, chunks of 70: two whole paragraphs (66) per chunk, not 70 ending
    // mid-paragraph.
    std::string text;
    for (int p = 0; p < 6; ++p) {
        for (int s = 0; s < 3; ++s) text += "word word word word word word word word word end. ";
        text += "\n\n";
    }
    const auto doc = rag::extract_bytes(text, "txt", "p.txt");
    const auto chunks = rag::chunk_document(doc, {.max_tokens = 70, .overlap_tokens = 0});
    ASSERT_EQ(chunks.size(), 3u);
    for (const auto& c : chunks) EXPECT_EQ(c.n_tokens, 66);
}

TEST(Chunker, PagesAreBoundariesAndAttributed) {
    rag::ExtractedText doc;
    doc.format = "pdf";
    doc.text = "first page words.\n\nsecond page words.\n\nthird.";
    doc.page_starts = {0, 19, 39};
    const auto chunks = rag::chunk_document(doc, {.max_tokens = 100, .overlap_tokens = 10});
    ASSERT_EQ(chunks.size(), 3u);
    check_offsets(doc, chunks);
    for (int p = 0; p < 3; ++p) EXPECT_EQ(chunks[static_cast<size_t>(p)].page, p + 1);
    EXPECT_EQ(chunks[1].text, "second page words.");
}

TEST(Chunker, LongWordsAreSplitAndOptionsChecked) {
    const auto doc = rag::extract_bytes(std::string(5000, 'x') + " tail", "txt", "w.txt");
    // One 5000-byte word is one token for the word counter: a counter that charges per byte
    // forces the split.
    const rag::TokenCounter per_byte = [](std::string_view s) { return s.size(); };
    const auto chunks =
        rag::chunk_document(doc, {.max_tokens = 256, .overlap_tokens = 0}, per_byte);
    ASSERT_GT(chunks.size(), 10u);
    check_offsets(doc, chunks);
    for (const auto& c : chunks) EXPECT_LE(c.n_tokens, 256);
    EXPECT_THROW(rag::chunk_document(doc, {.max_tokens = 0, .overlap_tokens = 0}), Error);
    EXPECT_THROW(rag::chunk_document(doc, {.max_tokens = 10, .overlap_tokens = 10}), Error);
}

TEST(Chunker, EmbedderTokenizerCountsStayWithinTheLimit) {
    const auto embedder = embed::open_embedder(shared_path("models/embed/potion-base-4M-int8"));
    const rag::TokenCounter count = [&](std::string_view s) { return embedder->count_tokens(s); };
    const auto doc = sample_markdown(80);
    const auto chunks = rag::chunk_document(doc, {.max_tokens = 48, .overlap_tokens = 8}, count);
    ASSERT_GT(chunks.size(), 5u);
    check_offsets(doc, chunks);
    const size_t overhead = embedder->count_tokens("");
    for (const auto& c : chunks) {
        EXPECT_LE(c.n_tokens, 48);
        // Word-by-word sums match the tokenizer on the whole chunk (it splits at spaces first).
        EXPECT_NEAR(static_cast<double>(embedder->count_tokens(c.text) - overhead), c.n_tokens, 2);
    }
}

}  // namespace
}  // namespace pocket::test
