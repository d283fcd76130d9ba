// Privacy before egress: finds personal data in a prompt (e-mail addresses, phone numbers, payment
// cards, IBANs, IP addresses, national IDs, URLs with credentials, secrets and API keys, and the
// user's own private terms) and replaces it with placeholders such as [EMAIL_1] before a request
// leaves the machine; the cloud's answer gets the values back locally (re-hydration), also while it
// streams. The detectors favour checksums and strict formats over loose patterns, because a false
// positive costs the cloud model context it needs (a year, a price, a version number) and a false
// negative leaks data. Which formats are recognised, and the measured precision and recall, are in
// docs/ROUTING.md.
#pragma once

#include <cstddef>
#include <filesystem>
#include <map>
#include <set>
#include <string>
#include <string_view>
#include <vector>

namespace pocket::route {

enum class PiiKind {
    email,
    phone,
    card,
    iban,
    ip,
    national_id,
    url_credentials,
    secret,
    private_term
};

// Every kind, in the enum's order: what a placeholder's prefix can be, and the rows of the
// evaluation's table.
inline constexpr PiiKind kAllPiiKinds[] = {PiiKind::email,
                                           PiiKind::phone,
                                           PiiKind::card,
                                           PiiKind::iban,
                                           PiiKind::ip,
                                           PiiKind::national_id,
                                           PiiKind::url_credentials,
                                           PiiKind::secret,
                                           PiiKind::private_term};

// "EMAIL", "PHONE", "CARD", "IBAN", "IP", "NATIONAL_ID", "URL_CREDENTIALS", "SECRET", "PRIVATE":
// the placeholder's prefix and the audit log's key.
std::string_view pii_kind_name(PiiKind kind);

// Byte offsets into the searched text; find() returns them sorted and non-overlapping.
struct PiiSpan {
    size_t begin = 0, end = 0;
    PiiKind kind = PiiKind::email;
    bool operator==(const PiiSpan&) const = default;
};

struct RedactorOptions {
    // Names, projects, customers: matched case-insensitively (ASCII, Latin, Greek and Cyrillic
    // letters) on word boundaries; the spaces inside a multi-word term match any run of whitespace.
    std::vector<std::string> private_terms;
};

class Redactor {
  public:
    explicit Redactor(RedactorOptions options = {});

    // One term per line; blank lines and lines starting with '#' ignored, surrounding whitespace
    // trimmed. Throws pocket::Error naming the path when the file cannot be read.
    static std::vector<std::string> read_terms_file(const std::filesystem::path& path);

    // Every piece of personal data in `text` (any bytes; invalid UTF-8 is tolerated).
    std::vector<PiiSpan> find(std::string_view text) const;

  private:
    struct Term {
        std::vector<std::string> words;  // case-folded, split on whitespace
        bool bounded_front = true;       // needs a word boundary before (false for CJK starts)
        bool bounded_back = true;
    };
    std::vector<Term> terms_;
    void find_terms(std::string_view text, std::vector<PiiSpan>& out) const;
};

// One request's redaction: the same value gets the same placeholder in every message of the
// request ([EMAIL_1], [EMAIL_2], [PHONE_1], ...), so the cloud sees a consistent conversation.
// Holds a reference to its Redactor, which must outlive it.
class Redaction {
  public:
    explicit Redaction(const Redactor& redactor);

    // Replaces every span the redactor finds with its placeholder.
    std::string redact(std::string_view text);
    // Placeholders back to their values; unknown placeholders are left as they are.
    std::string rehydrate(std::string_view text) const;
    bool empty() const { return values_.empty(); }
    // Kind name -> number of distinct values redacted (for the audit log; never the values).
    std::map<std::string, size_t> counts() const;

    // Streaming re-hydration: push() the cloud's text deltas in order; each call returns the text
    // that can be shown now, holding back only a possible placeholder prefix ("[EMA") until it is
    // complete or ruled out; finish() returns what is still held.
    class Stream {
      public:
        explicit Stream(const Redaction& redaction) : redaction_(&redaction) {}
        std::string push(std::string_view delta);
        std::string finish();

      private:
        const Redaction* redaction_;
        std::string held_;
    };
    Stream stream() const { return Stream(*this); }

  private:
    const Redactor* redactor_;
    std::map<std::string, std::string> values_;        // placeholder -> original value
    std::map<std::string, std::string> placeholders_;  // kind name + '\0' + key -> placeholder
    std::map<std::string, size_t> next_;               // kind name -> last number used
    std::map<std::string, size_t> distinct_;           // kind name -> values redacted
    // Placeholder-shaped strings the user's own text contained ("[EMAIL_1]" typed literally):
    // never issued, so the cloud's echo of them is not re-hydrated into someone's value.
    std::set<std::string> literal_;
};

}  // namespace pocket::route
