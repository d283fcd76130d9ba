// Plain text, source code and Markdown. Text and code are taken as they are (line ends
// normalised); Markdown keeps its body as written but turns heading lines ("## Setup", or a line
// underlined with === / ---) into the bare heading text and records them as structure.
#include <string>
#include <string_view>

#include "pocket/rag/extract.h"

namespace pocket::rag {
namespace {

// CRLF and lone CR become LF, so offsets and paragraph breaks mean the same in every file.
std::string normalise_newlines(std::string_view s) {
    std::string out;
    out.reserve(s.size());
    for (size_t i = 0; i < s.size(); ++i) {
        if (s[i] == '\r') {
            out += '\n';
            if (i + 1 < s.size() && s[i + 1] == '\n') ++i;
        } else {
            out += s[i];
        }
    }
    return out;
}

std::string_view trim(std::string_view s) {
    const auto first = s.find_first_not_of(" \t");
    if (first == std::string_view::npos) return {};
    const auto last = s.find_last_not_of(" \t");
    return s.substr(first, last - first + 1);
}

// "## Title ##" -> level 2, "Title"; 0 when the line is not an ATX heading.
int atx_heading(std::string_view line, std::string_view& text) {
    size_t indent = 0;
    while (indent < line.size() && indent < 4 && line[indent] == ' ') ++indent;
    if (indent > 3) return 0;
    size_t level = 0;
    while (indent + level < line.size() && line[indent + level] == '#') ++level;
    if (level == 0 || level > 6) return 0;
    const size_t rest = indent + level;
    if (rest < line.size() && line[rest] != ' ' && line[rest] != '\t') return 0;
    std::string_view body = trim(line.substr(rest));
    // A closing run of '#' preceded by a space is not part of the heading.
    const auto hashes = body.find_last_not_of('#');
    if (hashes == std::string_view::npos) {
        body = {};
    } else if (hashes + 1 < body.size() && (body[hashes] == ' ' || body[hashes] == '\t')) {
        body = trim(body.substr(0, hashes));
    }
    text = body;
    return static_cast<int>(level);
}

// A setext underline: only '=' (level 1) or only '-' (level 2), at least two of them.
int setext_underline(std::string_view line) {
    const auto t = trim(line);
    if (t.size() < 2) return 0;
    if (t.find_first_not_of('=') == std::string_view::npos) return 1;
    if (t.find_first_not_of('-') == std::string_view::npos) return 2;
    return 0;
}

bool is_fence(std::string_view line) {
    const auto t = trim(line);
    return t.starts_with("```") || t.starts_with("~~~");
}

}  // namespace

ExtractedText extract_plain(std::string_view bytes, std::string_view name,
                            std::string_view format) {
    require_utf8_text(bytes, name);
    ExtractedText out;
    out.format = std::string(format);
    out.text = normalise_newlines(strip_bom(bytes));
    return out;
}

ExtractedText extract_markdown(std::string_view bytes, std::string_view name) {
    require_utf8_text(bytes, name);
    const std::string src = normalise_newlines(strip_bom(bytes));
    std::vector<std::string_view> lines;
    for (size_t pos = 0; pos <= src.size();) {
        const auto nl = src.find('\n', pos);
        const size_t end = nl == std::string::npos ? src.size() : nl;
        lines.push_back(std::string_view(src).substr(pos, end - pos));
        if (nl == std::string::npos) break;
        pos = nl + 1;
    }

    ExtractedText out;
    out.format = "md";
    bool in_code = false;
    for (size_t i = 0; i < lines.size(); ++i) {
        const std::string_view line = lines[i];
        std::string_view heading;
        int level = 0;
        bool setext = false;
        if (is_fence(line)) {
            in_code = !in_code;
        } else if (!in_code) {
            level = atx_heading(line, heading);
            // A paragraph line underlined by === or --- (a lone --- after a blank is a rule).
            if (level == 0 && i + 1 < lines.size() && !trim(line).empty() &&
                (i == 0 || trim(lines[i - 1]).empty())) {
                level = setext_underline(lines[i + 1]);
                if (level != 0) heading = trim(line);
                setext = level != 0;
            }
        }
        if (level != 0 && !heading.empty()) {
            out.headings.push_back(
                {static_cast<int64_t>(out.text.size()), level, std::string(heading)});
            if (out.title.empty()) out.title = heading;
            out.text += heading;
            if (setext) ++i;  // the underline line goes too
        } else {
            out.text += line;
        }
        if (i + 1 < lines.size()) out.text += '\n';
    }
    return out;
}

}  // namespace pocket::rag
