#include "pocket/route/redactor.h"

#include <algorithm>
#include <fstream>

#include "pocket/core/error.h"
#include "route/pii_detectors.h"

namespace pocket::route {

using namespace detail;

namespace {

// Which detector wins where two overlap: the more specific format first. A URL with credentials
// contains something e-mail-like ("pass@host"); a key prefix or PEM block beats the generic
// entropy token found inside it; checksum-verified numbers beat the looser phone patterns; a
// private term inside an e-mail address is covered by the address.
int priority(PiiKind kind, bool entropy_secret) {
    if (entropy_secret) return 9;
    switch (kind) {
        case PiiKind::url_credentials:
            return 0;
        case PiiKind::secret:
            return 1;
        case PiiKind::email:
            return 2;
        case PiiKind::iban:
            return 3;
        case PiiKind::card:
            return 4;
        case PiiKind::national_id:
            return 5;
        case PiiKind::ip:
            return 6;
        case PiiKind::phone:
            return 7;
        case PiiKind::private_term:
            return 8;
    }
    return 10;
}

bool is_space(char c) {
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

std::string_view trim(std::string_view s) {
    while (!s.empty() && is_space(s.front())) s.remove_prefix(1);
    while (!s.empty() && is_space(s.back())) s.remove_suffix(1);
    return s;
}

}  // namespace

std::string_view pii_kind_name(PiiKind kind) {
    switch (kind) {
        case PiiKind::email:
            return "EMAIL";
        case PiiKind::phone:
            return "PHONE";
        case PiiKind::card:
            return "CARD";
        case PiiKind::iban:
            return "IBAN";
        case PiiKind::ip:
            return "IP";
        case PiiKind::national_id:
            return "NATIONAL_ID";
        case PiiKind::url_credentials:
            return "URL_CREDENTIALS";
        case PiiKind::secret:
            return "SECRET";
        case PiiKind::private_term:
            return "PRIVATE";
    }
    return "UNKNOWN";
}

Redactor::Redactor(RedactorOptions options) {
    for (const std::string& raw : options.private_terms) {
        std::string folded = fold_case(trim(raw));
        Term term;
        size_t i = 0;
        while (i < folded.size()) {
            while (i < folded.size() && is_space(folded[i])) ++i;
            size_t b = i;
            while (i < folded.size() && !is_space(folded[i])) ++i;
            if (i > b) term.words.emplace_back(folded.substr(b, i - b));
        }
        if (term.words.empty()) continue;
        // A term in a script written without spaces ("東京") is found inside longer runs of text;
        // a term ending in punctuation ("Acme Inc.") needs no boundary on that side either.
        size_t first = 0;
        char32_t c0 = next_code_point(term.words.front(), first);
        term.bounded_front = is_word_code_point(c0) && !is_unspaced_script(c0);
        const std::string& last = term.words.back();
        char32_t cn = previous_code_point(last, last.size());
        term.bounded_back = is_word_code_point(cn) && !is_unspaced_script(cn);
        terms_.push_back(std::move(term));
    }
}

std::vector<std::string> Redactor::read_terms_file(const std::filesystem::path& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) fail("cannot read the private terms file ", path.string());
    std::vector<std::string> terms;
    std::string line;
    while (std::getline(in, line)) {
        std::string_view term = trim(line);
        if (term.empty() || term.front() == '#') continue;
        terms.emplace_back(term);
    }
    if (in.bad()) fail("error reading the private terms file ", path.string());
    return terms;
}

void Redactor::find_terms(std::string_view text, std::vector<PiiSpan>& out) const {
    if (terms_.empty()) return;
    // Folding keeps every character's byte length, so offsets carry over to `text`.
    std::string folded = fold_case(text);
    std::string_view f = folded;
    for (const Term& term : terms_) {
        const std::string& first = term.words.front();
        for (size_t pos = f.find(first); pos != f.npos; pos = f.find(first, pos + 1)) {
            if (term.bounded_front && pos > 0 && is_word_code_point(previous_code_point(f, pos)))
                continue;
            size_t e = pos + first.size();
            bool ok = true;
            for (size_t w = 1; w < term.words.size() && ok; ++w) {
                size_t s = e;
                // Any run of whitespace, the no-break space (U+00A0) included.
                while (e < f.size()) {
                    if (is_space(f[e])) {
                        ++e;
                    } else if (f.substr(e, 2) == "\xC2\xA0") {
                        e += 2;
                    } else {
                        break;
                    }
                }
                ok = e > s && f.substr(e, term.words[w].size()) == term.words[w];
                e += term.words[w].size();
            }
            if (!ok) continue;
            if (term.bounded_back && e < f.size()) {
                size_t k = e;
                if (is_word_code_point(next_code_point(f, k))) continue;
            }
            out.push_back({pos, e, PiiKind::private_term});
        }
    }
}

std::vector<PiiSpan> Redactor::find(std::string_view text) const {
    std::vector<PiiSpan> candidates;
    find_url_credentials(text, candidates);
    find_known_secrets(text, candidates);
    find_emails(text, candidates);
    find_ibans(text, candidates);
    find_cards(text, candidates);
    find_national_ids(text, candidates);
    find_ips(text, candidates);
    find_phones(text, candidates);
    find_terms(text, candidates);
    size_t generic_from = candidates.size();
    find_entropy_secrets(text, candidates);

    // Resolve overlaps: by priority, then the longer span, then the earlier one.
    std::vector<std::pair<int, size_t>> order;
    order.reserve(candidates.size());
    for (size_t k = 0; k < candidates.size(); ++k)
        order.push_back({priority(candidates[k].kind, k >= generic_from), k});
    std::sort(order.begin(), order.end(), [&](const auto& a, const auto& b) {
        if (a.first != b.first) return a.first < b.first;
        const PiiSpan& x = candidates[a.second];
        const PiiSpan& y = candidates[b.second];
        if (x.end - x.begin != y.end - y.begin) return x.end - x.begin > y.end - y.begin;
        return x.begin < y.begin;
    });
    std::vector<PiiSpan> kept;
    for (const auto& [p, k] : order) {
        const PiiSpan& s = candidates[k];
        if (s.end <= s.begin) continue;
        bool overlaps = std::any_of(kept.begin(), kept.end(), [&](const PiiSpan& o) {
            return s.begin < o.end && o.begin < s.end;
        });
        if (!overlaps) kept.push_back(s);
    }
    std::sort(kept.begin(), kept.end(),
              [](const PiiSpan& a, const PiiSpan& b) { return a.begin < b.begin; });
    return kept;
}

// ---- Redaction ----

Redaction::Redaction(const Redactor& redactor) : redactor_(&redactor) {}

namespace {

// Length of a placeholder "[KIND_N]" at text[i] (text[i] == '['), 0 when there is none.
size_t placeholder_length(std::string_view text, size_t i) {
    for (PiiKind kind : kAllPiiKinds) {
        std::string_view name = pii_kind_name(kind);
        if (text.substr(i + 1, name.size()) != name) continue;
        size_t k = i + 1 + name.size();
        if (k >= text.size() || text[k] != '_') continue;
        size_t d = ++k;
        while (k < text.size() && k - d < 10 && text[k] >= '0' && text[k] <= '9') ++k;
        if (k > d && k < text.size() && text[k] == ']') return k + 1 - i;
    }
    return 0;
}

// Whether text (starting with '[', holding no ']') could still grow into a placeholder.
bool placeholder_prefix(std::string_view text) {
    std::string_view rest = text.substr(1);
    for (PiiKind kind : kAllPiiKinds) {
        std::string_view name = pii_kind_name(kind);
        if (rest.size() <= name.size()) {
            if (name.substr(0, rest.size()) == rest) return true;
            continue;
        }
        if (rest.substr(0, name.size()) != name || rest[name.size()] != '_') continue;
        std::string_view digits = rest.substr(name.size() + 1);
        if (digits.size() > 10) continue;
        if (std::all_of(digits.begin(), digits.end(), [](char c) { return c >= '0' && c <= '9'; }))
            return true;
    }
    return false;
}

}  // namespace

std::string Redaction::redact(std::string_view text) {
    for (size_t i = text.find('['); i != text.npos; i = text.find('[', i + 1))
        if (size_t n = placeholder_length(text, i)) literal_.emplace(text.substr(i, n));
    std::string out;
    out.reserve(text.size());
    size_t at = 0;
    for (const PiiSpan& span : redactor_->find(text)) {
        out.append(text.substr(at, span.begin - at));
        std::string_view value = text.substr(span.begin, span.end - span.begin);
        std::string kind(pii_kind_name(span.kind));
        // Private terms are matched case-insensitively, so "ACME" and "Acme" are one value; the
        // first spelling seen is the one re-hydrated.
        std::string key =
            kind + '\0' +
            (span.kind == PiiKind::private_term ? fold_case(value) : std::string(value));
        auto [it, fresh] = placeholders_.try_emplace(key);
        if (fresh) {
            do {
                it->second = cat('[', kind, '_', ++next_[kind], ']');
            } while (literal_.count(it->second));
            values_[it->second] = std::string(value);
            ++distinct_[kind];
        }
        out += it->second;
        at = span.end;
    }
    out.append(text.substr(at));
    return out;
}

std::string Redaction::rehydrate(std::string_view text) const {
    std::string out;
    out.reserve(text.size());
    size_t at = 0;
    for (size_t i = text.find('['); i != text.npos; i = text.find('[', i + 1)) {
        size_t n = placeholder_length(text, i);
        if (n == 0) continue;
        auto it = values_.find(std::string(text.substr(i, n)));
        if (it == values_.end()) continue;
        out.append(text.substr(at, i - at));
        out += it->second;
        at = i + n;
        i = at - 1;
    }
    out.append(text.substr(at));
    return out;
}

std::map<std::string, size_t> Redaction::counts() const {
    return distinct_;
}

std::string Redaction::Stream::push(std::string_view delta) {
    held_.append(delta);
    // A placeholder prefix cannot contain '[', so only the text from the last '[' on can be one;
    // everything before it is settled (any whole placeholder in it is complete).
    size_t cut = held_.rfind('[');
    if (cut == std::string::npos || !placeholder_prefix(std::string_view(held_).substr(cut)))
        cut = held_.size();
    std::string ready = redaction_->rehydrate(std::string_view(held_).substr(0, cut));
    held_.erase(0, cut);
    return ready;
}

std::string Redaction::Stream::finish() {
    std::string rest = redaction_->rehydrate(held_);
    held_.clear();
    return rest;
}

}  // namespace pocket::route
