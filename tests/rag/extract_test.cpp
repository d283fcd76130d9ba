// Text extraction per format: what text comes out, which headings and pages are recorded, and
// which files are refused.
#include <gtest/gtest.h>

#include <fstream>

#include "pdf_fixture.h"
#include "pocket/core/error.h"
#include "pocket/rag/extract.h"
#include "support/test_support.h"

namespace pocket::test {
namespace {

using rag::ExtractedText;

bool contains(std::string_view haystack, std::string_view needle) {
    return haystack.find(needle) != std::string_view::npos;
}

TEST(Extract, FormatsByExtension) {
    EXPECT_EQ(rag::format_for_path("a/b.TXT"), "txt");
    EXPECT_EQ(rag::format_for_path("x.md"), "md");
    EXPECT_EQ(rag::format_for_path("x.htm"), "html");
    EXPECT_EQ(rag::format_for_path("x.html"), "html");
    EXPECT_EQ(rag::format_for_path("x.pdf"), "pdf");
    for (const char* code : {"x.cpp", "x.h", "x.py", "x.rs", "x.go", "x.java", "x.sh", "x.ts"})
        EXPECT_EQ(rag::format_for_path(code), "code") << code;
    EXPECT_FALSE(rag::format_for_path("x.png"));
    EXPECT_FALSE(rag::format_for_path("x.sqlite"));
    EXPECT_FALSE(rag::format_for_path("noextension"));
}

TEST(Extract, PlainTextAsIsWithNewlinesNormalised) {
    const auto t = rag::extract_bytes("\xEF\xBB\xBFline one\r\nline two\rend", "txt", "a.txt");
    EXPECT_EQ(t.text, "line one\nline two\nend");
    EXPECT_EQ(t.format, "txt");
    EXPECT_TRUE(t.headings.empty());
    EXPECT_TRUE(t.page_starts.empty());
}

TEST(Extract, MarkdownHeadingsBecomeStructure) {
    const std::string md =
        "# Guide\n\nIntro text.\n\n## Setup ##\n\nInstall it.\n\nUsage\n-----\n\nRun it.\n\n"
        "```\n# not a heading\n```\n";
    const auto t = rag::extract_bytes(md, "md", "g.md");
    ASSERT_EQ(t.headings.size(), 3u);
    EXPECT_EQ(t.title, "Guide");
    const std::pair<int, std::string> want[] = {{1, "Guide"}, {2, "Setup"}, {2, "Usage"}};
    for (size_t i = 0; i < 3; ++i) {
        EXPECT_EQ(t.headings[i].level, want[i].first);
        EXPECT_EQ(t.headings[i].text, want[i].second);
        EXPECT_EQ(t.text.substr(static_cast<size_t>(t.headings[i].offset), want[i].second.size()),
                  want[i].second);
    }
    EXPECT_FALSE(contains(t.text, "## Setup"));
    EXPECT_FALSE(contains(t.text, "-----"));
    EXPECT_TRUE(contains(t.text, "# not a heading"));  // code blocks stay as written
    EXPECT_TRUE(contains(t.text, "Install it."));
}

TEST(Extract, HtmlTagsStrippedScriptsDroppedEntitiesDecoded) {
    const std::string html = R"(<!DOCTYPE html><html><head><title>My &amp; Page</title>
<style>body { color: red; }</style><script>var x = "<p>nope</p>";</script></head>
<body><!-- a comment --><h1>Main <em>Title</em></h1>
<p>Caf&eacute; &lt;tag&gt; &#233;&#x41; &nbsp;and   spaces
collapsed.</p><div>Second<br>line</div>
<h2 class="x">Sub</h2><p>Body&hellip; <a href="u?a=1&amp;b=2">link</a></p>
<pre>keep   this
  layout</pre></body></html>)";
    const auto t = rag::extract_bytes(html, "html", "p.html");
    EXPECT_EQ(t.title, "My & Page");
    EXPECT_FALSE(contains(t.text, "color"));
    EXPECT_FALSE(contains(t.text, "nope"));
    EXPECT_FALSE(contains(t.text, "comment"));
    EXPECT_FALSE(contains(t.text,
                          "<"
                          "p>"));
    EXPECT_TRUE(contains(t.text, "Café <tag> éA")) << t.text;
    EXPECT_TRUE(contains(t.text, "and spaces collapsed.")) << t.text;
    EXPECT_TRUE(contains(t.text, "Second\nline")) << t.text;
    EXPECT_TRUE(contains(t.text, "Body… link")) << t.text;
    EXPECT_TRUE(contains(t.text, "keep   this\n  layout")) << t.text;
    ASSERT_EQ(t.headings.size(), 2u);
    EXPECT_EQ(t.headings[0].text, "Main Title");
    EXPECT_EQ(t.headings[0].level, 1);
    EXPECT_EQ(t.headings[1].text, "Sub");
    EXPECT_EQ(t.headings[1].level, 2);
    for (const auto& h : t.headings)
        EXPECT_EQ(t.text.substr(static_cast<size_t>(h.offset), h.text.size()), h.text);
    // Blocks are paragraphs: a blank line between "collapsed." and "Second".
    EXPECT_TRUE(contains(t.text, "collapsed.\n\nSecond")) << t.text;
}

TEST(Extract, BinaryAndInvalidUtf8AreRefused) {
    const std::string nul("text\0more", 9);
    try {
        rag::extract_bytes(nul, "txt", "bin.txt");
        FAIL() << "no error";
    } catch (const Error& e) {
        EXPECT_TRUE(contains(e.what(), "bin.txt: binary file (NUL byte at offset 4)")) << e.what();
    }
    for (const std::string bad : {"ok \xC3\x28", "\xED\xA0\x80", "\xC0\xAF", "trail \xE2\x82"}) {
        EXPECT_THROW(rag::extract_bytes(bad, "md", "x.md"), Error) << bad;
    }
    EXPECT_NO_THROW(rag::extract_bytes("h\xC3\xA9llo \xF0\x9F\x98\x80", "txt", "ok.txt"));
}

TEST(Extract, PdfTextLandsOnItsPage) {
    ScratchDir dir;
    make_pdf(dir / "three.pdf",
             {"Alpha apples on the first page", "Bravo bananas on page two\nsecond line",
              "Charlie cherries close page three"},
             "Fruit Report");
    const auto t = rag::extract_file(dir / "three.pdf", "pdf");
    EXPECT_EQ(t.format, "pdf");
    EXPECT_EQ(t.title, "Fruit Report");
    ASSERT_EQ(t.page_starts.size(), 3u);
    const char* words[] = {"Alpha apples", "Bravo bananas", "Charlie cherries"};
    for (size_t p = 0; p < 3; ++p) {
        const auto pos = t.text.find(words[p]);
        ASSERT_NE(pos, std::string::npos) << t.text;
        EXPECT_GE(static_cast<int64_t>(pos), t.page_starts[p]);
        if (p + 1 < 3) {
            EXPECT_LT(static_cast<int64_t>(pos), t.page_starts[p + 1]);
        }
    }
}

TEST(Extract, TruncatedAndFakePdfsAreRefused) {
    ScratchDir dir;
    make_pdf(dir / "ok.pdf", {"Some text on a page", "and another page"});
    const std::string bytes = read_file_bytes(dir / "ok.pdf");
    try {
        rag::extract_bytes(bytes.substr(0, bytes.size() / 2), "pdf", "cut.pdf");
        FAIL() << "no error";
    } catch (const Error& e) {
        EXPECT_TRUE(contains(e.what(), "cut.pdf: truncated PDF")) << e.what();
    }
    EXPECT_THROW(rag::extract_bytes("just text", "pdf", "fake.pdf"), Error);
    // Header and end marker but garbage between: poppler cannot open it.
    EXPECT_THROW(rag::extract_bytes("%PDF-1.4\ngarbage\n%%EOF\n", "pdf", "junk.pdf"), Error);
}

}  // namespace
}  // namespace pocket::test
