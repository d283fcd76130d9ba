// The individual PII detectors. They are hand-written scanners rather than regular expressions:
// std::regex is far too slow for the < 1 ms budget on a 2 KB prompt, and most formats need a
// checksum or a context check after the match anyway. Every detector looks only at bytes inside
// the text (bounds are checked at each step), so invalid UTF-8 or truncated input cannot make it
// read past the end.
#include "route/pii_detectors.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <cstring>
#include <string>

namespace pocket::route::detail {
namespace {

bool is_digit(char c) {
    return c >= '0' && c <= '9';
}
bool is_upper(char c) {
    return c >= 'A' && c <= 'Z';
}
bool is_lower(char c) {
    return c >= 'a' && c <= 'z';
}
bool is_alpha(char c) {
    return is_upper(c) || is_lower(c);
}
bool is_alnum(char c) {
    return is_alpha(c) || is_digit(c);
}
bool is_hex(char c) {
    return is_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}
char to_upper(char c) {
    return is_lower(c) ? char(c - 'a' + 'A') : c;
}
char to_lower(char c) {
    return is_upper(c) ? char(c - 'A' + 'a') : c;
}

// A word character (any script) ends just before `i`.
bool word_before(std::string_view t, size_t i) {
    if (i == 0) return false;
    return is_word_code_point(previous_code_point(t, i));
}
// A word character (any script) starts at `i`.
bool word_at(std::string_view t, size_t i) {
    if (i >= t.size()) return false;
    return is_word_code_point(next_code_point(t, i));
}
// The number goes on before `i`: a letter or digit, or a separator that follows a digit
// ("12-" + "345"): then what starts at `i` is the tail of a longer number, not a number of its own.
bool number_continues_before(std::string_view t, size_t i) {
    if (i == 0) return false;
    char p = t[i - 1];
    if (word_before(t, i)) return true;
    if (std::strchr("-./,:+", p) && i >= 2 && is_digit(t[i - 2])) return true;
    return false;
}
// The number goes on at `j`: a letter or digit, or a separator followed by a digit.
// A group of digits ends just before `i` with one space between ("3704 0044"): what
// starts at `i` may be the middle of a grouped number (an IBAN, a card), not a phone number.
bool group_before(std::string_view t, size_t i) {
    if (i < 2 || t[i - 1] != ' ' || !is_digit(t[i - 2])) return false;
    size_t b = i - 2;
    while (b > 0 && is_digit(t[b - 1])) --b;
    return b == 0 || !word_before(t, b);  // "IRF3 020 ..." is a gene name, then a number
}
bool number_continues_at(std::string_view t, size_t j) {
    if (j >= t.size()) return false;
    if (word_at(t, j)) return true;
    if (std::strchr("-./,:", t[j]) && j + 1 < t.size() && is_digit(t[j + 1])) return true;
    return false;
}

size_t digit_run(std::string_view t, size_t i) {
    size_t j = i;
    while (j < t.size() && is_digit(t[j])) ++j;
    return j - i;
}

std::string digits_of(std::string_view s) {
    std::string d;
    for (char c : s)
        if (is_digit(c)) d += c;
    return d;
}

int number(std::string_view digits) {
    int v = 0;
    for (char c : digits) v = v * 10 + (c - '0');
    return v;
}

// Digit groups split by one separator character, the same one throughout ("4111 1111 1111 1111",
// "020-7946-0958"). Stops at the first group that breaks the pattern.
struct Groups {
    std::vector<std::pair<size_t, size_t>> spans;  // [begin, end) of each group
    char sep = 0;
};
Groups digit_groups(std::string_view t, size_t i, const char* separators, size_t max_groups) {
    Groups g;
    size_t j = i;
    while (g.spans.size() < max_groups) {
        size_t n = digit_run(t, j);
        if (n == 0) break;
        g.spans.push_back({j, j + n});
        j += n;
        if (j + 1 >= t.size() || !std::strchr(separators, t[j]) || t[j] == 0 || !is_digit(t[j + 1]))
            break;
        if (g.sep == 0) g.sep = t[j];
        if (t[j] != g.sep) break;
        ++j;
    }
    return g;
}

}  // namespace

// ---- UTF-8 and case folding ----

char32_t next_code_point(std::string_view t, size_t& i) {
    auto byte = [&](size_t k) { return static_cast<unsigned char>(t[k]); };
    unsigned char b = byte(i);
    if (b < 0x80) {
        ++i;
        return b;
    }
    size_t len = b >= 0xF0 && b < 0xF5 ? 4 : b >= 0xE0 ? 3 : b >= 0xC2 && b < 0xE0 ? 2 : 0;
    if (b >= 0xF5) len = 0;
    if (len == 0 || i + len > t.size()) {
        ++i;
        return 0xFFFD;
    }
    char32_t c = b & (0x7F >> len);
    for (size_t k = 1; k < len; ++k) {
        unsigned char cont = byte(i + k);
        if ((cont & 0xC0) != 0x80) {
            ++i;
            return 0xFFFD;
        }
        c = (c << 6) | (cont & 0x3F);
    }
    i += len;
    return c;
}

char32_t previous_code_point(std::string_view t, size_t end) {
    if (end == 0) return 0;
    size_t start = end - 1;
    // Back over at most three continuation bytes to the lead byte.
    while (start > 0 && end - start < 4 && (static_cast<unsigned char>(t[start]) & 0xC0) == 0x80)
        --start;
    size_t i = start;
    char32_t c = next_code_point(t, i);
    return i == end ? c : 0xFFFD;
}

bool is_word_code_point(char32_t c) {
    if (c < 0x80) return is_alnum(char(c)) || c == '_';
    if (c == 0xFFFD) return false;
    if (c < 0xC0) return c == 0xAA || c == 0xB5 || c == 0xBA;  // Latin-1 punctuation and signs
    if (c == 0xD7 || c == 0xF7) return false;                  // × ÷
    if (c >= 0x2000 && c <= 0x2BFF) return false;              // punctuation, symbols, arrows, math
    if (c >= 0x3000 && c <= 0x303F) return false;              // CJK punctuation
    if (c >= 0xFE30 && c <= 0xFE4F) return false;
    if (c >= 0xFF00 && c <= 0xFF0F) return false;  // fullwidth punctuation
    if (c >= 0x1F000) return false;                // emoji and pictographs
    return true;
}

bool is_unspaced_script(char32_t c) {
    return (c >= 0x3040 && c <= 0x30FF) || (c >= 0x3400 && c <= 0x4DBF) ||
           (c >= 0x4E00 && c <= 0x9FFF) || (c >= 0xF900 && c <= 0xFAFF) ||
           (c >= 0x0E00 && c <= 0x0E7F);  // Thai
}

namespace {
char32_t fold_code_point(char32_t c) {
    if (c < 0x80) return char32_t(to_lower(char(c)));
    if (c >= 0xC0 && c <= 0xDE && c != 0xD7) return c + 0x20;
    // Latin Extended-A pairs upper/lower on even/odd code points, except a few irregular ranges.
    if (c >= 0x100 && c <= 0x137 && c != 0x130) return c | 1;
    if (c >= 0x139 && c <= 0x148) return (c & 1) ? c + 1 : c;
    if (c >= 0x14A && c <= 0x177) return c | 1;
    if (c == 0x178) return 0xFF;
    if (c >= 0x179 && c <= 0x17E) return (c & 1) ? c + 1 : c;
    if (c >= 0x391 && c <= 0x3AB && c != 0x3A2) return c + 0x20;  // Greek
    if (c >= 0x410 && c <= 0x42F) return c + 0x20;                // Cyrillic
    if (c >= 0x400 && c <= 0x40F) return c + 0x50;
    return c;
}
void append_utf8(std::string& out, char32_t c) {
    if (c < 0x80) {
        out += char(c);
    } else if (c < 0x800) {
        out += char(0xC0 | (c >> 6));
        out += char(0x80 | (c & 0x3F));
    } else if (c < 0x10000) {
        out += char(0xE0 | (c >> 12));
        out += char(0x80 | ((c >> 6) & 0x3F));
        out += char(0x80 | (c & 0x3F));
    } else {
        out += char(0xF0 | (c >> 18));
        out += char(0x80 | ((c >> 12) & 0x3F));
        out += char(0x80 | ((c >> 6) & 0x3F));
        out += char(0x80 | (c & 0x3F));
    }
}
}  // namespace

std::string fold_case(std::string_view t) {
    std::string out;
    out.reserve(t.size());
    size_t i = 0;
    while (i < t.size()) {
        size_t start = i;
        char32_t c = next_code_point(t, i);
        if (c < 0x80) {
            out += char(fold_code_point(c));
        } else if (c == 0xFFFD && i - start == 1) {
            out += t[start];  // invalid byte: kept as it is, so lengths still line up
        } else {
            char32_t f = fold_code_point(c);
            size_t before = out.size();
            append_utf8(out, f);
            // Every fold above keeps the encoded length; anything else is copied unchanged.
            if (out.size() - before != i - start) {
                out.resize(before);
                out.append(t.substr(start, i - start));
            }
        }
    }
    return out;
}

// ---- checksums ----

bool luhn_valid(std::string_view digits) {
    if (digits.empty()) return false;
    int sum = 0;
    bool twice = false;
    for (size_t k = digits.size(); k-- > 0;) {
        if (!is_digit(digits[k])) return false;
        int d = digits[k] - '0';
        if (twice) d = d * 2 > 9 ? d * 2 - 9 : d * 2;
        sum += d;
        twice = !twice;
    }
    return sum % 10 == 0;
}

bool card_number_valid(std::string_view d) {
    size_t n = d.size();
    if (n < 13 || n > 19) return false;
    for (char c : d)
        if (!is_digit(c)) return false;
    auto prefix = [&](size_t k) { return number(d.substr(0, k)); };
    bool ok = false;
    if (d[0] == '4')
        ok = n == 13 || n == 16 || n == 19;  // Visa
    else if (prefix(2) >= 51 && prefix(2) <= 55)
        ok = n == 16;  // Mastercard
    else if (prefix(4) >= 2221 && prefix(4) <= 2720)
        ok = n == 16;  // Mastercard 2-series
    else if (prefix(2) == 34 || prefix(2) == 37)
        ok = n == 15;  // Amex
    else if (prefix(4) == 6011 || prefix(2) == 65 || (prefix(3) >= 644 && prefix(3) <= 649))
        ok = n >= 16;  // Discover
    else if (prefix(4) >= 3528 && prefix(4) <= 3589)
        ok = n >= 16;  // JCB
    else if ((prefix(3) >= 300 && prefix(3) <= 305) || prefix(2) == 36 || prefix(2) == 38 ||
             prefix(2) == 39)
        ok = n >= 14;  // Diners
    else if (prefix(2) == 62)
        ok = n >= 16;  // UnionPay
    else if (prefix(2) == 50 || (prefix(2) >= 56 && prefix(2) <= 69))
        ok = true;  // Maestro
    return ok && luhn_valid(d);
}

namespace {
// IBAN lengths per country (SWIFT IBAN registry).
int iban_length(char a, char b) {
    static constexpr std::pair<const char*, int> table[] = {
        {"AD", 24}, {"AE", 23}, {"AL", 28}, {"AT", 20}, {"AZ", 28}, {"BA", 20}, {"BE", 16},
        {"BG", 22}, {"BH", 22}, {"BI", 27}, {"BR", 29}, {"BY", 28}, {"CH", 21}, {"CR", 22},
        {"CY", 28}, {"CZ", 24}, {"DE", 22}, {"DJ", 27}, {"DK", 18}, {"DO", 28}, {"EE", 20},
        {"EG", 29}, {"ES", 24}, {"FI", 18}, {"FK", 18}, {"FO", 18}, {"FR", 27}, {"GB", 22},
        {"GE", 22}, {"GI", 23}, {"GL", 18}, {"GR", 27}, {"GT", 28}, {"HR", 21}, {"HU", 28},
        {"IE", 22}, {"IL", 23}, {"IQ", 23}, {"IS", 26}, {"IT", 27}, {"JO", 30}, {"KW", 30},
        {"KZ", 20}, {"LB", 28}, {"LC", 32}, {"LI", 21}, {"LT", 20}, {"LU", 20}, {"LV", 21},
        {"LY", 25}, {"MC", 27}, {"MD", 24}, {"ME", 22}, {"MK", 19}, {"MN", 20}, {"MR", 27},
        {"MT", 31}, {"MU", 30}, {"NI", 28}, {"NL", 18}, {"NO", 15}, {"OM", 23}, {"PK", 24},
        {"PL", 28}, {"PS", 29}, {"PT", 25}, {"QA", 29}, {"RO", 24}, {"RS", 22}, {"RU", 33},
        {"SA", 24}, {"SC", 31}, {"SD", 18}, {"SE", 24}, {"SI", 19}, {"SK", 24}, {"SM", 27},
        {"SO", 23}, {"ST", 25}, {"SV", 28}, {"TL", 23}, {"TN", 24}, {"TR", 26}, {"UA", 29},
        {"VA", 22}, {"VG", 24}, {"XK", 20},
    };
    for (const auto& [code, length] : table)
        if (code[0] == a && code[1] == b) return length;
    return 0;
}
}  // namespace

bool iban_valid(std::string_view text) {
    std::string s;
    for (char c : text) {
        if (c == ' ') continue;
        if (!is_alnum(c)) return false;
        s += to_upper(c);
    }
    if (s.size() < 15 || !is_upper(s[0]) || !is_upper(s[1]) || !is_digit(s[2]) || !is_digit(s[3]))
        return false;
    if (int(s.size()) != iban_length(s[0], s[1])) return false;
    int check = number(s.substr(2, 2));
    if (check < 2 || check > 98) return false;
    // mod 97 of the number formed by moving the first four characters to the end, letters
    // as 10..35.
    int mod = 0;
    std::string moved = s.substr(4) + s.substr(0, 4);
    for (char c : moved) {
        int v = is_digit(c) ? c - '0' : c - 'A' + 10;
        mod = v >= 10 ? (mod * 100 + v) % 97 : (mod * 10 + v) % 97;
    }
    return mod == 1;
}

bool us_ssn_valid(std::string_view s) {
    if (s.size() != 11 || (s[3] != '-' && s[3] != ' ') || s[6] != s[3]) return false;
    std::string d = digits_of(s);
    if (d.size() != 9) return false;
    int area = number(d.substr(0, 3)), group = number(d.substr(3, 2)), serial = number(d.substr(5));
    // The SSA never issues area 000, 666 or 900-999, group 00 or serial 0000.
    return area != 0 && area != 666 && area < 900 && group != 0 && serial != 0;
}

bool uk_nino_valid(std::string_view text) {
    std::string s;
    for (char c : text)
        if (c != ' ') s += c;
    if (s.size() != 9 || !is_upper(s[0]) || !is_upper(s[1])) return false;
    for (size_t k = 2; k < 8; ++k)
        if (!is_digit(s[k])) return false;
    if (s[8] < 'A' || s[8] > 'D') return false;
    if (std::strchr("DFIQUV", s[0]) || std::strchr("DFIOQUV", s[1])) return false;
    static constexpr const char* never[] = {"BG", "GB", "KN", "NK", "NT", "TN", "ZZ"};
    for (const char* p : never)
        if (s[0] == p[0] && s[1] == p[1]) return false;
    return true;
}

bool es_dni_valid(std::string_view text) {
    std::string s;
    for (char c : text)
        if (c != '-') s += c;
    if (s.size() != 9 || !is_upper(s[8])) return false;
    std::string digits = s.substr(0, 8);
    // NIE (foreigners): X, Y, Z stand for 0, 1, 2 in front of seven digits.
    if (s[0] == 'X' || s[0] == 'Y' || s[0] == 'Z') digits[0] = char('0' + (s[0] - 'X'));
    for (char c : digits)
        if (!is_digit(c)) return false;
    static constexpr char letters[] = "TRWAGMYFPDXBNJZSQVHLCKE";
    return s[8] == letters[std::stol(digits) % 23];
}

bool se_personnummer_valid(std::string_view s) {
    size_t sep = s.find_first_of("-+");
    if (sep != 6 && sep != 8) return false;
    if (s.size() != sep + 5) return false;
    std::string d = digits_of(s);
    if (d.size() != sep + 4) return false;
    std::string ten = d.substr(d.size() - 10);
    int month = number(ten.substr(2, 2)), day = number(ten.substr(4, 2));
    if (month < 1 || month > 12) return false;
    // Coordination numbers (samordningsnummer) add 60 to the day.
    if (!((day >= 1 && day <= 31) || (day >= 61 && day <= 91))) return false;
    return luhn_valid(ten);
}

bool ipv6_valid(std::string_view t) {
    if (t.empty()) return false;
    size_t gap = t.find("::");
    if (gap != std::string_view::npos && t.find("::", gap + 1) != std::string_view::npos)
        return false;
    auto count_groups = [](std::string_view part, bool may_end_ipv4, int& groups) {
        if (part.empty()) return true;
        size_t start = 0;
        while (true) {
            size_t colon = part.find(':', start);
            std::string_view g =
                part.substr(start, colon == std::string_view::npos ? part.npos : colon - start);
            bool last = colon == std::string_view::npos;
            if (last && may_end_ipv4 && g.find('.') != g.npos) {
                // Embedded IPv4 ("::ffff:192.0.2.1"): four decimal octets, two groups' worth.
                int octets = 0;
                size_t k = 0;
                while (k <= g.size()) {
                    size_t dot = g.find('.', k);
                    std::string_view o = g.substr(k, dot == g.npos ? g.npos : dot - k);
                    if (o.empty() || o.size() > 3 || digits_of(o).size() != o.size() ||
                        number(o) > 255)
                        return false;
                    ++octets;
                    if (dot == g.npos) break;
                    k = dot + 1;
                }
                if (octets != 4) return false;
                groups += 2;
                return true;
            }
            if (g.empty() || g.size() > 4) return false;
            for (char c : g)
                if (!is_hex(c)) return false;
            ++groups;
            if (last) return true;
            start = colon + 1;
        }
    };
    int groups = 0;
    if (gap == std::string_view::npos) return count_groups(t, true, groups) && groups == 8;
    if (!count_groups(t.substr(0, gap), false, groups)) return false;
    if (!count_groups(t.substr(gap + 2), true, groups)) return false;
    return groups <= 7;
}

double shannon_entropy(std::string_view token) {
    if (token.empty()) return 0;
    std::array<int, 256> count{};
    for (char c : token) ++count[static_cast<unsigned char>(c)];
    double h = 0, n = double(token.size());
    for (int c : count)
        if (c) h -= c / n * std::log2(c / n);
    return h;
}

// ---- detectors ----

void find_emails(std::string_view t, std::vector<PiiSpan>& out) {
    // A practical subset of RFC 5322: dot-atom local part (no quoted strings, no comments), a
    // domain of at least two labels with an alphabetic top-level label; no IP-literal domains.
    auto local_char = [](char c) { return is_alnum(c) || (c && std::strchr(".!#$%&*+=?^_~-", c)); };
    for (size_t at = t.find('@'); at != t.npos; at = t.find('@', at + 1)) {
        size_t b = at;
        while (b > 0 && local_char(t[b - 1])) --b;
        while (b < at && (t[b] == '.' || t[b] == '-')) ++b;
        if (b == at || at - b > 64 || t[at - 1] == '.') continue;
        if (t.substr(b, at - b).find("..") != t.npos) continue;
        size_t e = at + 1, labels = 0, last_label = e;
        while (true) {
            size_t s = e;
            while (e < t.size() && (is_alnum(t[e]) || t[e] == '-')) ++e;
            if (e == s || e - s > 63 || t[s] == '-' || t[e - 1] == '-') {
                e = s;
                break;
            }
            ++labels;
            last_label = s;
            if (e + 1 < t.size() && t[e] == '.' && is_alnum(t[e + 1])) {
                ++e;
                continue;
            }
            break;
        }
        if (labels < 2) continue;
        // Trailing label that failed validation: the domain ends at the label before it.
        if (e <= last_label) continue;
        bool alphabetic_tld = e - last_label >= 2;
        for (size_t k = last_label; k < e; ++k) alphabetic_tld = alphabetic_tld && is_alpha(t[k]);
        if (!alphabetic_tld) continue;
        out.push_back({b, e, PiiKind::email});
    }
}

void find_url_credentials(std::string_view t, std::vector<PiiSpan>& out) {
    for (size_t p = t.find("://"); p != t.npos; p = t.find("://", p + 1)) {
        size_t b = p;
        while (b > 0 &&
               (is_alnum(t[b - 1]) || t[b - 1] == '+' || t[b - 1] == '-' || t[b - 1] == '.'))
            --b;
        while (b < p && !is_alpha(t[b])) ++b;
        if (b == p) continue;
        auto ends_url = [](char c) {
            return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '"' || c == '\'' ||
                   c == '<' || c == '>' || c == '`';
        };
        size_t authority_end = p + 3;
        while (authority_end < t.size() && !ends_url(t[authority_end]) &&
               !std::strchr("/?#", t[authority_end]))
            ++authority_end;
        std::string_view authority = t.substr(p + 3, authority_end - p - 3);
        size_t at = authority.rfind('@');
        if (at == authority.npos || at + 1 == authority.size()) continue;
        size_t colon = authority.find(':');
        // user:password, both present; a bare user@host carries no credential.
        if (colon == authority.npos || colon == 0 || colon + 1 >= at) continue;
        size_t e = authority_end;
        while (e < t.size() && !ends_url(t[e])) ++e;
        // Sentence punctuation after the URL is not part of it (the host may end the URL).
        while (e > p + 3 + at + 1 && std::strchr(".,;:!?)]}", t[e - 1])) --e;
        out.push_back({b, e, PiiKind::url_credentials});
        p = e > p ? e - 1 : p;
    }
}

void find_cards(std::string_view t, std::vector<PiiSpan>& out) {
    for (size_t i = 0; i < t.size(); ++i) {
        if (!is_digit(t[i]) || number_continues_before(t, i)) continue;
        Groups g = digit_groups(t, i, " -", 8);
        // The longest run of whole groups that is a valid card number. Printed cards group their
        // digits by 3 to 6 (the last group of a 13- or 19-digit number may be shorter).
        size_t best_end = 0;
        std::string digits;
        bool grouped = g.spans.size() > 1;
        for (const auto& [gb, ge] : g.spans) {
            if (grouped && ge - gb > 6) {
                // An unseparated number followed by another number ("4111111111111111 5.2").
                if (gb == i && card_number_valid(t.substr(gb, ge - gb))) best_end = ge;
                break;
            }
            digits.append(t.substr(gb, ge - gb));
            if (digits.size() > 19) break;
            if (card_number_valid(digits)) best_end = ge;
            if (grouped && ge - gb < 3) break;
        }
        if (best_end == g.spans.back().second && number_continues_at(t, best_end)) best_end = 0;
        if (best_end && !word_at(t, best_end)) {
            out.push_back({i, best_end, PiiKind::card});
            i = best_end;
        } else {
            i = g.spans.front().second;  // a card may still start at the next group
        }
    }
}

void find_ibans(std::string_view t, std::vector<PiiSpan>& out) {
    for (size_t i = 0; i + 4 < t.size(); ++i) {
        if (!is_upper(t[i]) || !is_upper(t[i + 1]) || !is_digit(t[i + 2]) || !is_digit(t[i + 3]))
            continue;
        if (word_before(t, i)) continue;
        int length = iban_length(t[i], t[i + 1]);
        if (length == 0) continue;
        // Printed in groups of four separated by single spaces, or without spaces.
        size_t j = i;
        int count = 0;
        while (count < length && j < t.size()) {
            if (is_alnum(t[j])) {
                ++count;
                ++j;
            } else if (t[j] == ' ' && count % 4 == 0 && count > 0 && j + 1 < t.size() &&
                       is_alnum(t[j + 1])) {
                ++j;
            } else {
                break;
            }
        }
        if (count != length || word_at(t, j)) continue;
        if (iban_valid(t.substr(i, j - i))) {
            out.push_back({i, j, PiiKind::iban});
            i = j - 1;
        }
    }
}

namespace {
// Words after which a dotted number is a section, figure or version, not an address.
bool dotted_number_context(std::string_view t, size_t i) {
    size_t e = i;
    while (e > 0 && (t[e - 1] == ' ' || t[e - 1] == '\t')) --e;
    size_t b = e;
    while (b > 0 && is_alpha(t[b - 1])) --b;
    std::string word;
    for (size_t k = b; k < e; ++k) word += to_lower(t[k]);
    if (e == i && !word.empty()) return true;  // "v1.2.3.4": glued to a word
    static constexpr const char* words[] = {
        "version",  "v",         "ver",   "release",  "section",  "sec",  "figure", "fig",
        "table",    "chapter",   "step",  "eq",       "equation", "rule", "clause", "article",
        "appendix", "paragraph", "build", "firmware", "kernel",   "ec"};  // EC: enzyme numbers
    for (const char* w : words)
        if (word == w) return true;
    return false;
}
}  // namespace

void find_ips(std::string_view t, std::vector<PiiSpan>& out) {
    // IPv4: four decimal octets 0-255 without leading zeros, not part of a longer dotted number.
    for (size_t i = 0; i < t.size(); ++i) {
        if (!is_digit(t[i])) continue;
        if (i > 0 && (is_alnum(t[i - 1]) || t[i - 1] == '.' || t[i - 1] == '_')) {
            while (i + 1 < t.size() && is_digit(t[i + 1])) ++i;
            continue;
        }
        size_t j = i;
        int octets = 0;
        bool ok = true;
        while (octets < 4) {
            size_t n = digit_run(t, j);
            if (n == 0 || n > 3 || (n > 1 && t[j] == '0') || number(t.substr(j, n)) > 255) {
                ok = false;
                break;
            }
            j += n;
            ++octets;
            if (octets < 4) {
                if (j >= t.size() || t[j] != '.') {
                    ok = false;
                    break;
                }
                ++j;
            }
        }
        bool longer = j < t.size() && (is_alnum(t[j]) || t[j] == '_' ||
                                       (t[j] == '.' && j + 1 < t.size() && is_digit(t[j + 1])));
        if (ok && !longer && !dotted_number_context(t, i)) {
            out.push_back({i, j, PiiKind::ip});
            i = j - 1;
        } else {
            while (i + 1 < t.size() && (is_digit(t[i + 1]) || t[i + 1] == '.')) ++i;
        }
    }
    // IPv6: a run of hex digits, colons (and dots for an embedded IPv4) that parses as an address.
    // Compressed forms need two explicit groups and a digit, so C++ "std::" or "dead::beef" do not
    // count.
    auto v6_char = [](char c) { return is_hex(c) || c == ':' || c == '.'; };
    for (size_t i = 0; i < t.size(); ++i) {
        if (!v6_char(t[i])) continue;
        size_t j = i;
        while (j < t.size() && v6_char(t[j])) ++j;
        size_t b = i;
        i = j;
        if (b > 0 && (is_alnum(t[b - 1]) || t[b - 1] == '_')) continue;
        if (word_at(t, j) || (j < t.size() && t[j] == '_')) continue;
        size_t e = j;
        while (e > b && t[e - 1] == '.') --e;
        if (e > b + 1 && t[e - 1] == ':' && t[e - 2] != ':') --e;
        std::string_view cand = t.substr(b, e - b);
        size_t colons = 0, explicit_groups = 0;
        bool digit = false;
        for (size_t k = 0; k < cand.size(); ++k) {
            colons += cand[k] == ':';
            digit = digit || is_digit(cand[k]);
            if (cand[k] != ':' && (k == 0 || cand[k - 1] == ':')) ++explicit_groups;
        }
        if (colons < 2 || !ipv6_valid(cand)) continue;
        if (cand.find("::") != cand.npos && (explicit_groups < 2 || !digit)) continue;
        out.push_back({b, e, PiiKind::ip});
    }
}

void find_phones(std::string_view t, std::vector<PiiSpan>& out) {
    for (size_t i = 0; i < t.size(); ++i) {
        char c = t[i];
        // International: "+CC ..." or "00CC ..." with 8 to 15 digits (E.164), separated by
        // spaces, dashes, dots or a parenthesised area/trunk part ("+44 (0)20 7946 0958").
        bool plus = c == '+' && i + 1 < t.size() && is_digit(t[i + 1]) && t[i + 1] != '0';
        bool double_zero = c == '0' && i + 2 < t.size() && t[i + 1] == '0' && is_digit(t[i + 2]) &&
                           t[i + 2] != '0';
        if ((plus && (i == 0 || (!is_alnum(t[i - 1]) && t[i - 1] != '+'))) ||
            (double_zero && !number_continues_before(t, i) && !group_before(t, i))) {
            size_t j = i + (plus ? 1 : 2), end = 0, digits = 0, groups = 0;
            while (j < t.size() && is_digit(t[j])) {
                size_t n = digit_run(t, j);
                if (digits + n > 15) break;
                digits += n;
                ++groups;
                j += n;
                end = j;
                size_t s = j;
                int spaces = 0;
                while (j < t.size() && j - s < 3 &&
                       (t[j] == ' ' || t[j] == '-' || t[j] == '.' || t[j] == '(' || t[j] == ')')) {
                    spaces += t[j] == ' ';
                    ++j;
                }
                // A dot separates only on its own ("+33.1.23"); ". " ends a sentence.
                bool dot = std::string_view(t.substr(s, j - s)).find('.') != std::string_view::npos;
                if (j == s || spaces > 1 || (dot && j - s > 1) || j >= t.size() || !is_digit(t[j]))
                    break;
            }
            bool enough = groups > 1 ? digits >= 8 : (plus && digits >= 10);
            if (end && enough && !word_at(t, end)) {
                out.push_back({i, end, PiiKind::phone});
                i = end - 1;
                continue;
            }
        }
        if (!is_digit(c) && c != '(') continue;
        if (c == '(' ? word_before(t, i) : number_continues_before(t, i) || group_before(t, i))
            continue;
        // North American: "(NXX) NXX-XXXX", "NXX-NXX-XXXX", "NXX.NXX.XXXX", optionally "1-" first;
        // area code and exchange start with 2-9. Space-only "NXX NXX XXXX" is left out: in prose it
        // is as likely three numbers.
        {
            size_t j = i;
            if (t[j] == '1' && j + 2 < t.size() &&
                (t[j + 1] == '-' || t[j + 1] == ' ' || t[j + 1] == '.') &&
                (is_digit(t[j + 2]) || t[j + 2] == '('))
                j += 2;
            bool matched = false;
            size_t e = 0;
            if (j < t.size() && t[j] == '(') {
                if (j + 5 < t.size() && digit_run(t, j + 1) == 3 && t[j + 4] == ')' &&
                    t[j + 1] >= '2') {
                    size_t k = j + 5;
                    if (k < t.size() && t[k] == ' ') ++k;
                    if (k + 8 <= t.size() && digit_run(t, k) == 3 && t[k] >= '2' &&
                        (t[k + 3] == '-' || t[k + 3] == '.' || t[k + 3] == ' ') &&
                        digit_run(t, k + 4) == 4) {
                        matched = true;
                        e = k + 8;
                    }
                }
            } else if (j + 12 <= t.size() && digit_run(t, j) == 3 && t[j] >= '2') {
                char sep = t[j + 3];
                if ((sep == '-' || sep == '.') && digit_run(t, j + 4) == 3 && t[j + 4] >= '2' &&
                    t[j + 7] == sep && digit_run(t, j + 8) == 4) {
                    matched = true;
                    e = j + 12;
                }
            }
            if (matched && !number_continues_at(t, e)) {
                out.push_back({i, e, PiiKind::phone});
                i = e - 1;
                continue;
            }
        }
        // National with a trunk zero (UK, DE, FR, NL, IT...): "020 7946 0958", "07700 900123",
        // "01 23 45 67 89", "030-12345678": 9 to 11 digits in at least two groups, one kind of
        // separator; dates ("01.02.2003") are too short and ISBNs ("0-306-40615-2") have a
        // one-digit group.
        if (c == '0' && i + 1 < t.size() && is_digit(t[i + 1]) && t[i + 1] != '0') {
            Groups g = digit_groups(t, i, " -.", 6);
            // The longest run of whole groups with 9 to 11 digits. When more space-separated
            // digits follow ("020 3038 2405 97 people"), the number is taken to end where it
            // can: leaking a phone number costs more than redacting a count after it.
            size_t digits = 0, end = 0, taken = 0;
            for (size_t k = 0; k < g.spans.size(); ++k) {
                size_t len = g.spans[k].second - g.spans[k].first;
                if (k == 0 ? len < 2 || len > 5 : len < 2 || len > 8) break;
                digits += len;
                if (digits > 11) break;
                if (k >= 1 && digits >= 9) {
                    end = g.spans[k].second;
                    taken = k + 1;
                }
            }
            bool whole = taken == g.spans.size();
            if (end && (whole ? !number_continues_at(t, end) : g.sep == ' ')) {
                out.push_back({i, end, PiiKind::phone});
                i = end - 1;
                continue;
            }
        }
    }
}

namespace {
// A Spanish DNI or NIE starting at `begin` whose digits end at `digits_end`: an optional '-', the
// check letter, no word character after it. Returns the end of the ID, 0 when the letter is
// missing or does not match the digits.
size_t es_check_letter_end(std::string_view t, size_t begin, size_t digits_end) {
    size_t e = digits_end;
    if (e < t.size() && t[e] == '-') ++e;
    if (e < t.size() && is_upper(t[e]) && !word_at(t, e + 1) &&
        es_dni_valid(t.substr(begin, e + 1 - begin)))
        return e + 1;
    return 0;
}
}  // namespace

void find_national_ids(std::string_view t, std::vector<PiiSpan>& out) {
    for (size_t i = 0; i < t.size(); ++i) {
        char c = t[i];
        if (is_digit(c)) {
            if (number_continues_before(t, i)) {
                while (i + 1 < t.size() && is_digit(t[i + 1])) ++i;
                continue;
            }
            size_t n = digit_run(t, i);
            // US SSN "AAA-GG-SSSS" (or with spaces).
            if (n == 3 && i + 11 <= t.size() && !number_continues_at(t, i + 11) &&
                us_ssn_valid(t.substr(i, 11))) {
                out.push_back({i, i + 11, PiiKind::national_id});
                i += 10;
                continue;
            }
            // Spanish DNI "12345678Z" / "12345678-Z".
            if (n == 8) {
                if (const size_t e = es_check_letter_end(t, i, i + 8)) {
                    out.push_back({i, e, PiiKind::national_id});
                    i = e - 1;
                    continue;
                }
            }
            // Swedish personnummer "YYMMDD-NNNN" / "YYYYMMDD-NNNN" ('+' after 100 years).
            if ((n == 6 || n == 8) && i + n + 5 <= t.size() &&
                (t[i + n] == '-' || t[i + n] == '+') && digit_run(t, i + n + 1) == 4 &&
                !number_continues_at(t, i + n + 5) && se_personnummer_valid(t.substr(i, n + 5))) {
                out.push_back({i, i + n + 5, PiiKind::national_id});
                i += n + 4;
                continue;
            }
            i += n - 1;
            continue;
        }
        if (!is_upper(c) || word_before(t, i)) continue;
        // Spanish NIE "X1234567L".
        if ((c == 'X' || c == 'Y' || c == 'Z')) {
            size_t k = i + 1;
            if (k < t.size() && t[k] == '-') ++k;
            if (digit_run(t, k) == 7) {
                if (const size_t e = es_check_letter_end(t, i, k + 7)) {
                    out.push_back({i, e, PiiKind::national_id});
                    i = e - 1;
                    continue;
                }
            }
        }
        // UK National Insurance number "AB123456C" / "AB 12 34 56 C".
        if (i + 1 < t.size() && is_upper(t[i + 1])) {
            size_t k = i + 2;
            std::string s(t.substr(i, 2));
            bool spaced = k < t.size() && t[k] == ' ';
            for (int pair = 0; pair < 3; ++pair) {
                if (spaced && k < t.size() && t[k] == ' ') ++k;
                if (k + 2 > t.size() || !is_digit(t[k]) || !is_digit(t[k + 1])) break;
                s.append(t.substr(k, 2));
                k += 2;
            }
            if (s.size() == 8) {
                if (spaced && k < t.size() && t[k] == ' ') ++k;
                if (k < t.size() && !word_at(t, k + 1)) {
                    s += t[k];
                    if (uk_nino_valid(s)) {
                        out.push_back({i, k + 1, PiiKind::national_id});
                        i = k;
                        continue;
                    }
                }
            }
        }
    }
}

namespace {
bool token_char(char c) {
    return is_alnum(c) || c == '_' || c == '-';
}
}  // namespace

void find_known_secrets(std::string_view t, std::vector<PiiSpan>& out) {
    struct Prefix {
        const char* text;
        size_t min_rest;    // characters needed after the prefix
        const char* extra;  // allowed besides letters and digits
    };
    static constexpr Prefix prefixes[] = {
        {"AKIA", 16, ""},     {"ASIA", 16, ""},  // AWS access key ids
        {"ghp_", 30, ""},     {"gho_", 30, ""},
        {"ghu_", 30, ""},     {"ghs_", 30, ""},
        {"ghr_", 30, ""},     {"github_pat_", 22, "_"},  // GitHub fine-grained token
        {"glpat-", 20, "_-"},                            // GitLab
        {"sk-", 20, "_-"},                               // OpenAI, Anthropic (sk-ant-...)
        {"xoxb-", 10, "-"},   {"xoxp-", 10, "-"},
        {"xoxa-", 10, "-"},   {"xoxo-", 10, "-"},
        {"xoxr-", 10, "-"},   {"xoxs-", 10, "-"},  // Slack
        {"AIza", 35, "_-"},                        // Google API key
        {"sk_live_", 16, ""}, {"sk_test_", 16, ""},
        {"rk_live_", 16, ""}, {"rk_test_", 16, ""},  // Stripe
        {"hf_", 30, ""},                             // Hugging Face
    };
    for (const Prefix& p : prefixes) {
        size_t plen = std::strlen(p.text);
        for (size_t i = t.find(p.text); i != t.npos; i = t.find(p.text, i + 1)) {
            if (i > 0 && (is_alnum(t[i - 1]) || t[i - 1] == '_' || t[i - 1] == '-')) continue;
            size_t e = i + plen;
            bool digit = false;
            while (e < t.size() && (is_alnum(t[e]) || (t[e] && std::strchr(p.extra, t[e])))) {
                digit = digit || is_digit(t[e]);
                ++e;
            }
            // A real key's body is random: it holds a digit ("sk-learn-and-scikit-..." does not).
            if (e - i - plen < p.min_rest || !digit) continue;
            out.push_back({i, e, PiiKind::secret});
        }
    }
    // JSON Web Tokens: base64url header "eyJ..." . payload . signature.
    for (size_t i = t.find("eyJ"); i != t.npos; i = t.find("eyJ", i + 1)) {
        if (i > 0 && token_char(t[i - 1])) continue;
        size_t e = i;
        int parts = 1;
        size_t part_start = i;
        bool ok = true;
        while (true) {
            while (e < t.size() && token_char(t[e])) ++e;
            if (e - part_start < (parts < 3 ? 10u : 0u)) ok = false;
            if (parts < 3 && e < t.size() && t[e] == '.') {
                ++e;
                ++parts;
                part_start = e;
                continue;
            }
            break;
        }
        if (ok && parts == 3) {
            out.push_back({i, e, PiiKind::secret});
            i = e - 1;
        }
    }
    // Values assigned to a secret-looking name: "password: hunter2", "API_KEY=...",
    // "client_secret": "...". The name says what the value is, so the value needs no entropy,
    // only to look like a value rather than a word of prose (a digit, a symbol, inner capitals,
    // or 16+ characters).
    static constexpr const char* names[] = {"password",   "passwd",      "pwd",        "secret",
                                            "token",      "apikey",      "api_key",    "api-key",
                                            "access_key", "private_key", "credentials"};
    for (size_t i = 0; i < t.size(); ++i) {
        if (t[i] != '=' && t[i] != ':') continue;
        size_t n = i;
        while (n > 0 && (t[n - 1] == ' ' || t[n - 1] == '"' || t[n - 1] == '\'')) --n;
        size_t b = n;
        while (b > 0 && (is_alnum(t[b - 1]) || t[b - 1] == '_' || t[b - 1] == '-')) --b;
        if (b == n || i - n > 2) continue;
        std::string name;
        for (size_t k = b; k < n; ++k) name += to_lower(t[k]);
        bool named = false;
        for (const char* w : names) {
            size_t wl = std::strlen(w);
            named = named || (name.size() >= wl && name.compare(name.size() - wl, wl, w) == 0);
        }
        if (!named) continue;
        size_t v = i + 1;
        while (v < t.size() && v - i <= 3 && (t[v] == ' ' || t[v] == '"' || t[v] == '\'')) ++v;
        size_t e = v;
        while (e < t.size() && static_cast<unsigned char>(t[e]) > ' ' && t[e] != '"' &&
               t[e] != '\'' && t[e] != ',' && t[e] != ';' && t[e] != '}')
            ++e;
        while (e > v && std::strchr(".)]", t[e - 1])) --e;
        if (e - v < 6) continue;
        bool valueish = e - v >= 16;
        for (size_t k = v; k < e && !valueish; ++k)
            valueish = is_digit(t[k]) || !is_alpha(t[k]) || (k > v && is_upper(t[k]));
        if (!valueish) continue;
        out.push_back({v, e, PiiKind::secret});
        i = e - 1;
    }
    // PEM private keys, to the END line or, cut off, to the end of the text.
    for (size_t i = t.find("-----BEGIN "); i != t.npos; i = t.find("-----BEGIN ", i + 1)) {
        size_t line_end = t.find("-----", i + 11);
        if (line_end == t.npos) continue;
        std::string_view label = t.substr(i + 11, line_end - i - 11);
        if (label.size() > 40 || label.find("PRIVATE KEY") == label.npos) continue;
        size_t end = t.find("-----END ", line_end + 5);
        size_t e = t.size();
        if (end != t.npos) {
            size_t close = t.find("-----", end + 9);
            e = close == t.npos ? t.size() : close + 5;
        }
        out.push_back({i, e, PiiKind::secret});
        i = e - 1;
    }
}

void find_entropy_secrets(std::string_view t, std::vector<PiiSpan>& out) {
    // A token is a run of base64/base64url characters; '=' only as trailing padding, so that
    // "api_key=VALUE" splits into name and value. A token counts as a secret when it is at least
    // 20 characters long with an unbroken stretch of 16 letters and digits, mixes lower case,
    // upper case and digits (or '+' '/'), changes character class often (40% of neighbours), and
    // its Shannon entropy reaches the threshold below: random base62 keys do; words, CamelCase
    // identifiers, paths and gene lists do not. Hex-only strings (hashes,
    // UUIDs, commit ids) have no upper case and are left alone on purpose: they are rarely secret
    // and the cloud often needs them; prefixed hex keys are caught by find_known_secrets.
    auto body = [](char c) { return is_alnum(c) || c == '_' || c == '-' || c == '+' || c == '/'; };
    for (size_t i = 0; i < t.size(); ++i) {
        if (!body(t[i])) continue;
        size_t e = i;
        while (e < t.size() && body(t[e])) ++e;
        size_t b = i;
        i = e;
        if (word_before(t, b) || word_at(t, e)) continue;  // glued to non-ASCII letters
        // Trim separators at the ends ("/path/", "--flag").
        while (b < e && !is_alnum(t[b])) ++b;
        size_t pad = 0;
        while (e + pad < t.size() && t[e + pad] == '=' && pad < 2) ++pad;
        while (e > b && !is_alnum(t[e - 1])) --e;
        if (e - b < 20) continue;
        std::string_view tok = t.substr(b, e - b);
        int lower = 0, upper = 0, digit = 0, symbol = 0, changes = 0;
        auto cls = [](char c) { return is_lower(c) ? 0 : is_upper(c) ? 1 : is_digit(c) ? 2 : 3; };
        // Class changes are counted between letters and digits only, skipping separators, so that
        // "Living_People_2019/Archive_Page" reads as the few words it is.
        int previous = -1, alnums = 0;
        size_t run = 0, longest_run = 0;  // longest stretch of letters and digits
        for (char ch : tok) {
            int x = cls(ch);
            lower += x == 0;
            upper += x == 1;
            digit += x == 2;
            symbol += ch == '+' || ch == '/';
            run = x == 3 ? 0 : run + 1;
            longest_run = std::max(longest_run, run);
            if (x == 3) continue;
            if (previous >= 0 && previous != x) ++changes;
            previous = x;
            ++alnums;
        }
        // Gene lists and compound names ("Oct4/Sox2/Klf4/Myc-iPSCs") are short words joined by
        // separators; a random key has a long unbroken stretch.
        if (!lower || !upper || !(digit || symbol) || alnums < 20 || longest_run < 16) continue;
        if (double(changes) / double(alnums - 1) < 0.4) continue;
        // Random base62 of length n has an empirical entropy near log2(n) while n is well under
        // 62; this threshold leaves about 1% of random 20-30 character keys out and keeps
        // structured strings out ("Gln356Pro871Glu1038Ser1613": 3.83 bits, needs 3.95).
        double n = double(tok.size());
        double threshold =
            std::max(0.8 * std::log2(std::min(n, 64.0)), std::min(std::log2(n) - 0.75, 4.0));
        if (shannon_entropy(tok) < threshold) continue;
        // Padding belongs to a base64 value, but only directly after it.
        size_t end = e == i ? e + pad : e;
        out.push_back({b, end, PiiKind::secret});
    }
}

}  // namespace pocket::route::detail
