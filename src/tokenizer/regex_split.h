// Pre-tokenizer regular expressions, run with PCRE2 in UTF mode with Unicode properties (\p{L},
// \p{N}, and \s, \d, \w meaning their Unicode versions), which is how both llama.cpp's and
// Hugging Face's pre-tokenizers read these patterns.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace pocket::tokenizer {

class Regex {
  public:
    // Throws pocket::Error naming the pattern when PCRE2 cannot compile it. `caseless` compiles
    // the whole pattern case-insensitively.
    explicit Regex(std::string pattern, bool caseless = false);
    ~Regex();
    Regex(Regex&&) noexcept;
    Regex& operator=(Regex&&) noexcept;

    // Every leftmost non-overlapping match in `text` as [begin, end) byte offsets, scanning
    // left to right; an empty match advances by one character. `$` matches only at the very end.
    std::vector<std::pair<size_t, size_t>> find_all(std::string_view text) const;

    const std::string& pattern() const { return pattern_; }

  private:
    struct Impl;
    std::string pattern_;
    std::unique_ptr<Impl> impl_;
};

// llama.cpp's way of applying a list of regexes: each one cuts every piece produced so far into
// its matches and the text between them (both kept), so the pieces always tile the input.
void split_isolated(const Regex& regex, std::vector<std::string_view>& pieces);

}  // namespace pocket::tokenizer
