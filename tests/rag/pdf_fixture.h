// Makes small PDFs for the RAG tests with Ghostscript, from a PostScript program written here:
// one page per string, the string drawn as lines of text (split at '\n').
#pragma once

#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

namespace pocket::test {

inline std::string ps_escape(const std::string& s) {
    std::string out;
    for (char c : s) {
        if (c == '(' || c == ')' || c == '\\') out += '\\';
        out += c;
    }
    return out;
}

// Writes `pages` as a PDF at `pdf` (via a .ps next to it); fails the test when gs fails.
inline void make_pdf(const std::filesystem::path& pdf, const std::vector<std::string>& pages,
                     const std::string& title = "") {
    const auto ps = std::filesystem::path(pdf).replace_extension(".ps.in");
    {
        std::ofstream out(ps);
        out << "%!PS\n";
        if (!title.empty()) out << "[ /Title (" << ps_escape(title) << ") /DOCINFO pdfmark\n";
        for (const auto& page : pages) {
            out << "/Helvetica findfont 12 scalefont setfont\n";
            int y = 720;
            size_t pos = 0;
            while (pos <= page.size()) {
                const auto nl = page.find('\n', pos);
                const auto line = page.substr(pos, nl == std::string::npos ? nl : nl - pos);
                out << "72 " << y << " moveto (" << ps_escape(line) << ") show\n";
                y -= 16;
                if (nl == std::string::npos) break;
                pos = nl + 1;
            }
            out << "showpage\n";
        }
    }
    const std::string cmd = "gs -q -dNOPAUSE -dBATCH -dSAFER -sDEVICE=pdfwrite -o '" +
                            pdf.string() + "' '" + ps.string() + "' >/dev/null 2>&1";
    ASSERT_EQ(std::system(cmd.c_str()), 0) << cmd;
    std::filesystem::remove(ps);
}

}  // namespace pocket::test
