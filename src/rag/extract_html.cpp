// HTML to text: a small tag scanner, not a full HTML5 parser, which is enough for search: tags
// are stripped, script/style/template content dropped, character references decoded, block
// elements become paragraph breaks, <h1>..<h6> become headings and <title> the title. Whitespace
// collapses as a browser would collapse it, except inside <pre>.
#include <cctype>
#include <cstdint>
#include <string>
#include <string_view>

#include "pocket/rag/extract.h"
#include "pocket/tokenizer/utf8.h"

namespace pocket::rag {
namespace {

bool ieq(std::string_view a, std::string_view b) {
    if (a.size() != b.size()) return false;
    for (size_t i = 0; i < a.size(); ++i)
        if (std::tolower(static_cast<unsigned char>(a[i])) !=
            std::tolower(static_cast<unsigned char>(b[i])))
            return false;
    return true;
}

bool is_space(char c) {
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f';
}

// The named references that show up in real pages; unknown ones are kept as written.
struct NamedEntity {
    std::string_view name;
    uint32_t cp;
};
constexpr NamedEntity kEntities[] = {
    {"amp", '&'},      {"lt", '<'},        {"gt", '>'},       {"quot", '"'},     {"apos", '\''},
    {"nbsp", 0xA0},    {"copy", 0xA9},     {"reg", 0xAE},     {"trade", 0x2122}, {"mdash", 0x2014},
    {"ndash", 0x2013}, {"hellip", 0x2026}, {"lsquo", 0x2018}, {"rsquo", 0x2019}, {"ldquo", 0x201C},
    {"rdquo", 0x201D}, {"laquo", 0xAB},    {"raquo", 0xBB},   {"middot", 0xB7},  {"bull", 0x2022},
    {"deg", 0xB0},     {"times", 0xD7},    {"divide", 0xF7},  {"euro", 0x20AC},  {"pound", 0xA3},
    {"yen", 0xA5},     {"cent", 0xA2},     {"sect", 0xA7},    {"para", 0xB6},    {"eacute", 0xE9},
    {"egrave", 0xE8},  {"agrave", 0xE0},   {"aacute", 0xE1},  {"uuml", 0xFC},    {"ouml", 0xF6},
    {"auml", 0xE4},    {"Uuml", 0xDC},     {"Ouml", 0xD6},    {"Auml", 0xC4},    {"szlig", 0xDF},
    {"ccedil", 0xE7},  {"ntilde", 0xF1},   {"rarr", 0x2192},  {"larr", 0x2190},  {"shy", 0xAD},
    {"zwj", 0x200D},   {"zwnj", 0x200C},   {"thinsp", 0x2009}};

// Decodes the reference at s[i] == '&'; returns the bytes consumed (0: not a reference).
size_t decode_entity(std::string_view s, size_t i, std::string& out) {
    const size_t semi = s.find(';', i);
    if (semi == std::string_view::npos || semi - i > 32) return 0;
    const std::string_view body = s.substr(i + 1, semi - i - 1);
    if (body.size() >= 2 && body[0] == '#') {
        const bool hex = body[1] == 'x' || body[1] == 'X';
        const std::string_view digits = body.substr(hex ? 2 : 1);
        if (digits.empty() || digits.size() > 8) return 0;
        uint32_t cp = 0;
        for (char c : digits) {
            const int d = std::isdigit(static_cast<unsigned char>(c)) ? c - '0'
                          : hex && std::isxdigit(static_cast<unsigned char>(c))
                              ? std::tolower(static_cast<unsigned char>(c)) - 'a' + 10
                              : -1;
            if (d < 0) return 0;
            cp = cp * (hex ? 16 : 10) + static_cast<uint32_t>(d);
        }
        tokenizer::utf8::append(out, cp == 0 ? char32_t{0xFFFD} : char32_t(cp));
        return semi - i + 1;
    }
    for (const auto& e : kEntities) {
        if (e.name == body) {
            tokenizer::utf8::append(out, e.cp);
            return semi - i + 1;
        }
    }
    return 0;
}

std::string decode_entities(std::string_view s) {
    std::string out;
    for (size_t i = 0; i < s.size(); ++i) {
        if (s[i] == '&') {
            if (const size_t n = decode_entity(s, i, out)) {
                i += n - 1;
                continue;
            }
        }
        out += s[i];
    }
    return out;
}

// Elements that end a paragraph; their text starts a new block.
constexpr std::string_view kBlockTags[] = {
    "p",    "div",    "section",    "article", "header",  "footer",  "nav",        "aside",
    "main", "ul",     "ol",         "li",      "dl",      "dt",      "dd",         "table",
    "tr",   "td",     "th",         "thead",   "tbody",   "pre",     "blockquote", "hr",
    "form", "figure", "figcaption", "address", "details", "summary", "caption"};

bool is_block(std::string_view tag) {
    for (auto b : kBlockTags)
        if (ieq(tag, b)) return true;
    return false;
}

// Whose content is not text a reader sees.
bool is_hidden(std::string_view tag) {
    return ieq(tag, "script") || ieq(tag, "style") || ieq(tag, "template") ||
           ieq(tag, "noscript") || ieq(tag, "svg");
}

int heading_level(std::string_view tag) {
    if (tag.size() == 2 && (tag[0] == 'h' || tag[0] == 'H') && tag[1] >= '1' && tag[1] <= '6')
        return tag[1] - '0';
    return 0;
}

// Builds the text with collapsed whitespace and blank lines between blocks.
class TextBuilder {
  public:
    std::string text;

    void add(std::string_view decoded, bool pre) {
        for (char c : decoded) {
            if (pre) {
                if (c == '\n') {
                    trim_spaces();
                    text += '\n';
                } else {
                    text += c;
                }
                pending_space_ = false;
            } else if (is_space(c)) {
                pending_space_ = !text.empty() && text.back() != '\n';
            } else {
                if (pending_space_) text += ' ';
                pending_space_ = false;
                text += c;
            }
        }
    }
    void line_break() {
        trim_spaces();
        if (!text.empty() && text.back() != '\n') text += '\n';
        pending_space_ = false;
    }
    void paragraph_break() {
        trim_spaces();
        if (!text.empty() && !text.ends_with("\n\n")) text += text.back() == '\n' ? "\n" : "\n\n";
        pending_space_ = false;
    }

  private:
    void trim_spaces() {
        while (!text.empty() && (text.back() == ' ' || text.back() == '\t')) text.pop_back();
    }
    bool pending_space_ = false;
};

}  // namespace

ExtractedText extract_html(std::string_view bytes, std::string_view name) {
    require_utf8_text(bytes, name);
    const std::string_view s = strip_bom(bytes);
    ExtractedText out;
    out.format = "html";
    TextBuilder tb;
    int pre_depth = 0;
    int heading = 0;  // level of the open <hN>, 0 when none
    int64_t heading_start = 0;
    std::string title, first_h1;

    size_t i = 0;
    while (i < s.size()) {
        if (s[i] != '<') {
            const size_t next = s.find('<', i);
            const size_t end = next == std::string_view::npos ? s.size() : next;
            tb.add(decode_entities(s.substr(i, end - i)), pre_depth > 0);
            i = end;
            continue;
        }
        if (s.substr(i, 4) == "<!--") {
            const size_t end = s.find("-->", i + 4);
            i = end == std::string_view::npos ? s.size() : end + 3;
            continue;
        }
        if (i + 1 < s.size() && (s[i + 1] == '!' || s[i + 1] == '?')) {  // doctype, PI
            const size_t end = s.find('>', i);
            i = end == std::string_view::npos ? s.size() : end + 1;
            continue;
        }
        const bool closing = i + 1 < s.size() && s[i + 1] == '/';
        size_t p = i + (closing ? 2 : 1);
        const size_t name_start = p;
        while (p < s.size() && (std::isalnum(static_cast<unsigned char>(s[p])) || s[p] == '-')) ++p;
        const std::string_view tag = s.substr(name_start, p - name_start);
        if (tag.empty()) {  // a lone '<' is text
            tb.add("<", pre_depth > 0);
            ++i;
            continue;
        }
        // The tag's end, skipping quoted attribute values that may hold '>'.
        char quote = 0;
        while (p < s.size() && (quote || s[p] != '>')) {
            if (quote && s[p] == quote) {
                quote = 0;
            } else if (!quote && (s[p] == '"' || s[p] == '\'')) {
                quote = s[p];
            }
            ++p;
        }
        i = p < s.size() ? p + 1 : s.size();

        if (!closing && (is_hidden(tag) || ieq(tag, "title"))) {
            // Raw text up to the matching close tag (case-insensitive search).
            size_t end = i;
            for (;; ++end) {
                end = s.find("</", end);
                if (end == std::string_view::npos || ieq(s.substr(end + 2, tag.size()), tag)) break;
            }
            if (end == std::string_view::npos) end = s.size();
            if (ieq(tag, "title")) {
                TextBuilder t;
                t.add(decode_entities(s.substr(i, end - i)), false);
                title = t.text;
            }
            const size_t close = s.find('>', end);
            i = end == s.size() || close == std::string_view::npos ? s.size() : close + 1;
            continue;
        }
        if (const int level = heading_level(tag)) {
            tb.paragraph_break();
            if (!closing) {
                heading = level;
                heading_start = static_cast<int64_t>(tb.text.size());
            } else if (heading != 0) {
                std::string text = tb.text.substr(static_cast<size_t>(heading_start));
                while (!text.empty() && is_space(text.back())) text.pop_back();
                if (!text.empty()) {
                    out.headings.push_back({heading_start, heading, text});
                    if (first_h1.empty()) first_h1 = text;
                }
                heading = 0;
            }
            continue;
        }
        if (ieq(tag, "br")) {
            tb.line_break();
        } else if (is_block(tag)) {
            if (ieq(tag, "pre")) pre_depth = closing ? std::max(0, pre_depth - 1) : pre_depth + 1;
            tb.paragraph_break();
        }
    }
    tb.paragraph_break();
    while (!tb.text.empty() && tb.text.back() == '\n') tb.text.pop_back();
    out.text = std::move(tb.text);
    out.title = !title.empty() ? title : first_h1;
    return out;
}

}  // namespace pocket::rag
