#include "safety/jailbreak.h"

#include <array>
#include <initializer_list>

namespace pocket::safety {

namespace {

char lower(char c) {
    return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c;
}
bool is_alpha(char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}
bool is_digit(char c) {
    return c >= '0' && c <= '9';
}

// A word of the text: its byte span and its lower-case ASCII letters, digits and apostrophes.
struct Word {
    size_t begin, end;
    std::string lower;
};

std::vector<Word> split_words(std::string_view text) {
    std::vector<Word> words;
    size_t i = 0;
    while (i < text.size()) {
        if (!is_alpha(text[i]) && !is_digit(text[i])) {
            ++i;
            continue;
        }
        Word w{i, i, {}};
        while (i < text.size() && (is_alpha(text[i]) || is_digit(text[i]) || text[i] == '\'')) {
            w.lower += lower(text[i]);
            ++i;
        }
        w.end = i;
        words.push_back(std::move(w));
    }
    return words;
}

// One step of a phrase: a word out of `any`, or (gap > 0) up to `gap` words skipped.
struct Slot {
    std::initializer_list<std::string_view> any;
    int gap = 0;
};
using Phrase = std::initializer_list<Slot>;

Slot gap(int n) {
    return Slot{{}, n};
}

// Instruction overrides: the request to drop the model's rules.
const std::array<Phrase, 8> kOverride = {
    Phrase{{{"ignore", "disregard", "forget", "bypass", "override", "abandon"}},
           gap(3),
           {{"instructions", "instruction", "rules", "guidelines", "prompts", "directives",
             "restrictions", "programming", "policies", "constraints", "filters"}}},
    Phrase{{{"developer", "god", "unrestricted", "unfiltered"}}, {{"mode"}}},
    Phrase{{{"no", "without", "free", "freed", "beyond"}},
           gap(1),
           {{"restrictions", "filters", "filter", "limitations", "guidelines", "boundaries",
             "morals", "ethics", "restraints"}}},
    Phrase{{{"jailbreak", "jailbroken", "jailbreaking"}}},
    Phrase{{{"do"}}, {{"anything"}}, {{"now"}}},
    Phrase{{{"never", "not", "don't", "cannot", "can't", "won't"}},
           gap(2),
           {{"refuse", "decline", "apologize", "apologise", "deviate"}}},
    // "(please) disregard any possible ethical implications"
    Phrase{{{"ignore", "disregard", "forget", "bypass", "override"}},
           gap(3),
           {{"implications", "ethics", "morals", "morality", "consequences", "legality"}}},
    Phrase{{{"without", "no"}}, gap(2), {{"warnings", "disclaimers", "caveats", "apologies"}}},
};

// Role-play framing: the request presented as a character's line or a story's plot.
const std::array<Phrase, 11> kRoleplay = {
    Phrase{{{"pretend", "imagine", "suppose"}}, gap(1), {{"you", "you're", "you've", "to"}}},
    Phrase{{{"act", "behave", "respond", "reply", "answer", "roleplay", "pose"}}, {{"as", "like"}}},
    Phrase{{{"you"}}, {{"are"}}, {{"now"}}},
    Phrase{{{"from"}}, {{"now"}}, {{"on"}}},
    Phrase{{{"role", "roleplay", "rp"}}, {{"play", "playing", "game", "scenario"}}},
    Phrase{{{"hypothetical", "hypothetically", "fictional", "fictitious", "imaginary", "alternate",
             "alternative", "fantasy"}},
           gap(1),
           {{"story", "world", "scenario", "setting", "universe", "novel", "narrative", "tale",
             "screenplay", "script", "reality", "response", "situation"}}},
    Phrase{{{"stay", "remain", "break", "staying"}}, {{"in", "out"}}, {{"character"}}},
    Phrase{{{"character", "persona", "ai", "chatbot", "assistant"}}, {{"named", "called"}}},
    // A persona handed to the model: "You are a PR specialist who ...".
    Phrase{{{"you"}}, {{"are"}}, {{"a", "an"}}},
    // "purely hypothetical", "for fictional purposes", "for educational and research purposes"
    Phrase{{{"purely", "entirely", "just", "completely", "strictly"}},
           {{"hypothetical", "hypothetically", "fictional", "fictionally", "fiction"}}},
    Phrase{{{"for"}}, gap(2), {{"educational", "research", "fictional"}}, gap(2), {{"purposes"}}},
};

// Longest match of `phrase` starting at word `at`: the index one past its last word, or 0.
size_t match(const std::vector<Word>& words, size_t at, const Phrase& phrase) {
    // Depth-first over the gap choices; phrases are short, so this stays tiny.
    struct Frame {
        const Slot* slot;
        size_t word;
    };
    size_t best = 0;
    std::vector<Frame> stack{{phrase.begin(), at}};
    while (!stack.empty()) {
        const Frame f = stack.back();
        stack.pop_back();
        if (f.slot == phrase.end()) {
            best = std::max(best, f.word);
            continue;
        }
        if (f.slot->gap > 0) {
            for (int skip = 0; skip <= f.slot->gap && f.word + skip <= words.size(); ++skip)
                stack.push_back({f.slot + 1, f.word + skip});
            continue;
        }
        if (f.word >= words.size()) continue;
        for (std::string_view alt : f.slot->any) {
            if (words[f.word].lower == alt) {
                stack.push_back({f.slot + 1, f.word + 1});
                break;
            }
        }
    }
    return best;
}

// Marks the bytes of every match as cut; true when anything matched.
template <size_t N>
bool find_phrases(const std::vector<Word>& words, const std::array<Phrase, N>& phrases,
                  std::vector<bool>& cut) {
    bool any = false;
    for (size_t i = 0; i < words.size(); ++i) {
        for (const Phrase& p : phrases) {
            const size_t end = match(words, i, p);
            if (end == 0) continue;
            any = true;
            for (size_t b = words[i].begin; b < words[end - 1].end; ++b) cut[b] = true;
        }
    }
    return any;
}

// "DAN" (Do Anything Now), upper case only: the name Dan in ordinary text is not a signal.
bool has_dan(std::string_view text, const std::vector<Word>& words) {
    for (const Word& w : words)
        if (text.substr(w.begin, w.end - w.begin) == "DAN") return true;
    return false;
}

int base64_value(char c) {
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (is_digit(c)) return c - '0' + 52;
    if (c == '+' || c == '-') return 62;
    if (c == '/' || c == '_') return 63;
    return -1;
}

// Decodes a base64 run when it reads as text: printable ASCII or UTF-8 of at least 4 letters,
// with at most one byte in 20 outside that (ordinary words, hashes and ids decode to noise).
bool decode_text(std::string_view run, std::string& out) {
    out.clear();
    uint32_t acc = 0;
    int bits = 0;
    for (char c : run) {
        if (c == '=') break;
        acc = (acc << 6) | static_cast<uint32_t>(base64_value(c));
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out += static_cast<char>((acc >> bits) & 0xff);
        }
    }
    size_t bad = 0, letters = 0;
    for (unsigned char c : out) {
        if (c >= 0x80) continue;  // UTF-8 of non-English text counts as text
        if (c == '\n' || c == '\t' || c == '\r' || (c >= 0x20 && c < 0x7f)) {
            letters += is_alpha(static_cast<char>(c)) ? 1 : 0;
        } else {
            ++bad;
        }
    }
    size_t high = 0;
    for (unsigned char c : out) high += c >= 0x80 ? 1 : 0;
    return letters >= 4 && bad * 20 <= out.size() && high * 4 <= out.size();
}

// Base64 runs of 16+ characters that decode to text.
std::vector<std::string> find_base64(std::string_view text) {
    std::vector<std::string> decoded;
    size_t i = 0;
    while (i < text.size()) {
        if (base64_value(text[i]) < 0) {
            ++i;
            continue;
        }
        const size_t begin = i;
        bool upper = false, lower_case = false, digit_or_sign = false;
        while (i < text.size() && base64_value(text[i]) >= 0) {
            upper |= text[i] >= 'A' && text[i] <= 'Z';
            lower_case |= text[i] >= 'a' && text[i] <= 'z';
            digit_or_sign |= !is_alpha(text[i]);
            ++i;
        }
        const size_t len = i - begin;
        while (i < text.size() && text[i] == '=') ++i;
        // A long English word is letters only; base64 of text mixes cases and almost always
        // has a digit or sign by 16 characters.
        if (len < 16 || !(upper && lower_case) || (!digit_or_sign && len < 24)) continue;
        std::string out;
        if (decode_text(text.substr(begin, len), out)) decoded.push_back(std::move(out));
    }
    return decoded;
}

char leet_letter(char c) {
    switch (c) {
        case '0':
            return 'o';
        case '1':
            return 'i';
        case '3':
            return 'e';
        case '4':
            return 'a';
        case '5':
            return 's';
        case '7':
            return 't';
        case '@':
            return 'a';
        case '$':
            return 's';
        case '!':
            return 'i';
        default:
            return 0;
    }
}

// Spells out leetspeak words ("h0w", "b0mb", "m4k3", "@ss3mbly"): a run of letters and leet
// characters with at least two letters and a leet character between letters. Version numbers,
// "mp3", "Python3" and "COVID19" (digits only at the end) are left alone. With `loose` (the text
// has such words already), short words with leet at an edge count too ("t0", "m3", "4ll").
bool normalise_leet(std::string& text, bool loose) {
    bool changed = false;
    size_t i = 0;
    while (i < text.size()) {
        if (!is_alpha(text[i]) && !leet_letter(text[i])) {
            ++i;
            continue;
        }
        const size_t begin = i;
        while (i < text.size() && (is_alpha(text[i]) || leet_letter(text[i]))) ++i;
        const size_t end = i;
        // A word with other digits in it ("h264", "x86") is not leetspeak.
        if (end < text.size() && is_digit(text[end])) {
            while (i < text.size() && (is_alpha(text[i]) || is_digit(text[i]))) ++i;
            continue;
        }
        // An e-mail address ("ann@example.com") is not leetspeak.
        if (end < text.size() && text[end] == '.' &&
            text.substr(begin, end - begin).find('@') != std::string::npos)
            continue;
        size_t letters = 0;
        bool inner_leet = false;
        for (size_t k = begin; k < end; ++k) {
            if (is_alpha(text[k])) {
                ++letters;
            } else if (k > begin && k + 1 < end && is_alpha(text[k - 1])) {
                // a leet character followed, possibly after more leet, by a letter
                for (size_t m = k + 1; m < end; ++m) {
                    if (is_alpha(text[m])) {
                        inner_leet = true;
                        break;
                    }
                }
            }
        }
        // '!' and '$' often end or start ordinary words ("hi!", "$5"): only inner ones count.
        // Chemical formulas ("C4H7") are capitals and digits; leetspeak has small letters.
        bool small = false;
        for (size_t k = begin; k < end; ++k) small |= text[k] >= 'a' && text[k] <= 'z';
        const bool strong = letters >= 2 && inner_leet && small;
        const bool weak = loose && letters >= 1 && end - begin >= 2 && letters < end - begin;
        if (!strong && !weak) continue;
        for (size_t k = begin; k < end; ++k) {
            if (!is_alpha(text[k])) {
                text[k] = leet_letter(text[k]);
                changed = true;
            }
        }
    }
    return changed;
}

// Optimised adversarial suffixes (GCG and its kind) end a plain request with a run of tokens no
// writer produces: letters fused with brackets and signs ("](textit", "correctedilde]$."), or
// words with a capital in the middle ("argueRIPT"). Counted over the last 30 whitespace-separated
// tokens; code and maths in ordinary questions have such tokens too, hence the count and share.
bool has_adversarial_suffix(std::string_view text) {
    std::vector<std::string_view> tokens;
    size_t i = text.size();
    while (i > 0 && tokens.size() < 20) {
        while (i > 0 && (text[i - 1] == ' ' || text[i - 1] == '\n' || text[i - 1] == '\t')) --i;
        const size_t end = i;
        while (i > 0 && text[i - 1] != ' ' && text[i - 1] != '\n' && text[i - 1] != '\t') --i;
        if (end > i) tokens.push_back(text.substr(i, end - i));
    }
    if (tokens.size() < 10) return false;
    // Not ( ) * = _ ; : prose, lists and maths use them.
    constexpr std::string_view kSigns = "[]{}<>$\\|^~`@#";
    int odd = 0;
    for (std::string_view t : tokens) {
        int letters = 0, signs = 0;
        bool inner_capital = false;
        for (size_t k = 0; k < t.size(); ++k) {
            if (is_alpha(t[k])) {
                ++letters;
                if (k > 0 && t[k] >= 'A' && t[k] <= 'Z' && t[k - 1] >= 'a' && t[k - 1] <= 'z')
                    inner_capital = true;
            } else if (kSigns.find(t[k]) != std::string_view::npos) {
                ++signs;
            }
        }
        // Units and names ("mmHg", "IgE", "iPhone") are short; "argueRIPT" is not.
        if ((letters >= 2 && signs >= 1) || (letters == 0 && signs >= 2) ||
            (inner_capital && letters >= 6))
            ++odd;
    }
    return odd >= 3 && odd * 6 >= static_cast<int>(tokens.size());
}

}  // namespace

Unwrapped unwrap_jailbreak(std::string_view text) {
    Unwrapped out;
    const std::vector<Word> words = split_words(text);
    std::vector<bool> cut(text.size(), false);
    const bool roleplay = find_phrases(words, kRoleplay, cut) || has_dan(text, words);
    const bool override = find_phrases(words, kOverride, cut);

    std::string kept;
    kept.reserve(text.size());
    for (size_t i = 0; i < text.size(); ++i) {
        if (!cut[i]) {
            kept += text[i];
        } else if (kept.empty() || kept.back() != ' ') {
            kept += ' ';  // a cut phrase leaves one space, so its neighbours stay apart
        }
    }
    const std::vector<std::string> decoded = find_base64(text);
    for (const std::string& d : decoded) {
        kept += '\n';
        kept += d;
    }
    const bool leet = normalise_leet(kept, /*loose=*/false);
    if (leet) normalise_leet(kept, /*loose=*/true);

    if (roleplay) out.flags.emplace_back("roleplay");
    if (override) out.flags.emplace_back("override");
    if (!decoded.empty()) out.flags.emplace_back("base64");
    if (leet) out.flags.emplace_back("leetspeak");
    if (has_adversarial_suffix(text)) out.flags.emplace_back("adversarial_suffix");
    out.text = std::move(kept);
    return out;
}

}  // namespace pocket::safety
