// The redactor's labelled evaluation set and its scoring. The synthetic values are generated here
// with their own checksum code (not the detectors'), so a detector bug is not mirrored by the
// generator.
#include "pocket/route/pii_eval.h"

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <string_view>

#include <nlohmann/json.hpp>

#include "pocket/core/error.h"

namespace pocket::route {
namespace {

// splitmix64: the same numbers on every platform and standard library (std::shuffle and the
// distributions are not specified exactly), so a seed names one set everywhere.
class Rng {
  public:
    explicit Rng(uint64_t seed) : state_(seed) {}
    uint64_t next() {
        uint64_t z = (state_ += 0x9E3779B97F4A7C15ull);
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
        return z ^ (z >> 31);
    }
    size_t below(size_t n) { return n ? size_t(next() % n) : 0; }
    int between(int lo, int hi) { return lo + int(below(size_t(hi - lo + 1))); }
    bool chance(double p) { return double(next() >> 11) / double(1ull << 53) < p; }
    template <typename T>
    const T& pick(const std::vector<T>& v) {
        return v[below(v.size())];
    }
    std::string digits(size_t n) {
        std::string s;
        for (size_t k = 0; k < n; ++k) s += char('0' + below(10));
        return s;
    }
    std::string chars(size_t n, std::string_view alphabet) {
        std::string s;
        for (size_t k = 0; k < n; ++k) s += alphabet[below(alphabet.size())];
        return s;
    }

  private:
    uint64_t state_;
};

constexpr std::string_view upper_alnum = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
constexpr std::string_view base62 =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
constexpr std::string_view base64url =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
constexpr std::string_view base64 =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

// A random token that holds at least one digit (real keys virtually always do; without one, a
// 16-character AWS id or a short token is indistinguishable from a word).
std::string token(Rng& rng, size_t n, std::string_view alphabet) {
    std::string s = rng.chars(n, alphabet);
    s[rng.below(n)] = char('0' + rng.below(10));
    return s;
}

// ---- synthetic values ----

struct Value {
    std::string lead;   // words before the value ("call ", "password: ")
    std::string value;  // the personal data: the gold span
    std::string trail;  // punctuation after it
};

std::string luhn_complete(const std::string& partial) {
    int sum = 0;
    bool twice =
        true;  // the rightmost digit of the partial number is doubled once the check digit follows
    for (size_t k = partial.size(); k-- > 0;) {
        int d = partial[k] - '0';
        if (twice) {
            d *= 2;
            if (d > 9) d -= 9;
        }
        sum += d;
        twice = !twice;
    }
    return partial + char('0' + (10 - sum % 10) % 10);
}

std::string group(const std::string& s, const std::vector<size_t>& sizes, char sep) {
    std::string out;
    size_t at = 0;
    for (size_t n : sizes) {
        if (at >= s.size()) break;
        if (!out.empty()) out += sep;
        out += s.substr(at, n);
        at += n;
    }
    if (at < s.size()) out += sep + s.substr(at);
    return out;
}

Value make_email(Rng& rng) {
    static const std::vector<std::string> first = {"anna",      "james", "li",     "maria",
                                                   "oluwaseun", "sven",  "priya",  "jose",
                                                   "mei",       "tom",   "Fatima", "Kenji"};
    static const std::vector<std::string> last = {"smith",  "garcia",  "chen",   "kowalski",
                                                  "okafor", "nguyen",  "muller", "rossi",
                                                  "Haddad", "ODonnell"};
    static const std::vector<std::string> domains = {
        "example.com",   "mail.example.org", "corp.example.net", "uni-example.ac.uk",
        "example.co.jp", "post.example.de",  "Example.IO"};
    static const std::vector<std::string> leads = {
        "", "email ", "contact: ", "write to ", "mail ", "cc "};
    std::string f = rng.pick(first), l = rng.pick(last), user;
    switch (rng.below(5)) {
        case 0:
            user = f + "." + l;
            break;
        case 1:
            user = f + "_" + l + rng.digits(2);
            break;
        case 2:
            user = f.substr(0, 1) + l;
            break;
        case 3:
            user = f + "." + l + "+" + "news";
            break;
        default:
            user = f + "-" + l.substr(0, 3) + rng.digits(3);
            break;
    }
    return {rng.pick(leads), user + "@" + rng.pick(domains), rng.chance(0.3) ? "," : ""};
}

Value make_phone(Rng& rng) {
    static const std::vector<std::string> leads = {
        "", "call ", "phone: ", "tel. ", "mobile ", "ring me on "};
    auto nxx = [&] { return std::string(1, char('2' + rng.below(8))) + rng.digits(2); };
    std::string area = nxx(), exchange = nxx(), line = rng.digits(4), v;
    switch (rng.below(14)) {
        case 0:
            v = "+1 (" + area + ") " + exchange + "-" + line;
            break;
        case 1:
            v = "+1-" + area + "-" + exchange + "-" + line;
            break;
        case 2:
            v = area + "-" + exchange + "-" + line;
            break;
        case 3:
            v = "(" + area + ") " + exchange + "-" + line;
            break;
        case 4:
            v = area + "." + exchange + "." + line;
            break;
        case 5:
            v = "+1" + area + exchange + line;
            break;
        case 6:
            v = "+44 20 " + rng.digits(4) + " " + rng.digits(4);
            break;
        case 7:
            v = "020 " + rng.digits(4) + " " + rng.digits(4);
            break;
        case 8:
            v = "+44 7700 9" + rng.digits(5);
            break;
        case 9:
            v = "07700 9" + rng.digits(5);
            break;
        case 10:
            v = "+49 30 " + rng.digits(7);
            break;
        case 11:
            v = "030-" + rng.digits(8);
            break;
        case 12:
            v = "+33 6 " + rng.digits(2) + " " + rng.digits(2) + " " + rng.digits(2) + " " +
                rng.digits(2);
            break;
        default:
            v = "06 " + rng.digits(2) + " " + rng.digits(2) + " " + rng.digits(2) + " " +
                rng.digits(2);
            break;
    }
    return {rng.pick(leads), v, rng.chance(0.3) ? "." : ""};
}

Value make_card(Rng& rng) {
    static const std::vector<std::string> leads = {"",      "card ",      "card number ",
                                                   "Visa ", "paid with ", "CC# "};
    std::string prefix;
    size_t length = 16;
    switch (rng.below(7)) {
        case 0:
            prefix = "4";
            length = rng.chance(0.1) ? 13 : 16;
            break;
        case 1:
            prefix = std::to_string(rng.between(51, 55));
            break;
        case 2:
            prefix = std::to_string(rng.between(2221, 2720));
            break;
        case 3:
            prefix = rng.chance(0.5) ? "34" : "37";
            length = 15;
            break;
        case 4:
            prefix = "6011";
            break;
        case 5:
            prefix = std::to_string(rng.between(3528, 3589));
            break;
        default:
            prefix = "36";
            length = 14;
            break;
    }
    std::string number = luhn_complete(prefix + rng.digits(length - 1 - prefix.size()));
    std::string v;
    switch (rng.below(3)) {
        case 0:
            v = number;
            break;
        case 1:
            v = length == 15 || length == 14 ? group(number, {4, 6}, ' ')
                                             : group(number, {4, 4, 4, 4}, ' ');
            break;
        default:
            v = group(number, {4, 4, 4, 4}, '-');
            break;
    }
    return {rng.pick(leads), v, rng.chance(0.3) ? "," : ""};
}

// mod 97 of an IBAN-style string (letters as 10..35), written independently of the detector's.
int mod97(const std::string& s) {
    int m = 0;
    for (char c : s) {
        std::string v = c >= 'A' && c <= 'Z' ? std::to_string(c - 'A' + 10) : std::string(1, c);
        for (char d : v) m = (m * 10 + (d - '0')) % 97;
    }
    return m;
}

Value make_iban(Rng& rng) {
    static const std::vector<std::string> leads = {"", "IBAN ", "account ", "transfer to ",
                                                   "IBAN: "};
    constexpr std::string_view letters = "ABCDEFGHIJKLMNOPQRSTUVWXYZ";
    std::string country, bban;
    switch (rng.below(8)) {
        case 0:
            country = "DE";
            bban = rng.digits(18);
            break;
        case 1:
            country = "GB";
            bban = rng.chars(4, letters) + rng.digits(14);
            break;
        case 2:
            country = "FR";
            bban = rng.digits(10) + rng.chars(11, upper_alnum) + rng.digits(2);
            break;
        case 3:
            country = "NL";
            bban = rng.chars(4, letters) + rng.digits(10);
            break;
        case 4:
            country = "ES";
            bban = rng.digits(20);
            break;
        case 5:
            country = "IT";
            bban = rng.chars(1, letters) + rng.digits(10) + rng.chars(12, upper_alnum);
            break;
        case 6:
            country = "CH";
            bban = rng.digits(5) + rng.chars(12, upper_alnum);
            break;
        default:
            country = "BE";
            bban = rng.digits(12);
            break;
    }
    int check = 98 - mod97(bban + country + "00");
    std::string iban = country + (check < 10 ? "0" : "") + std::to_string(check) + bban;
    std::string v = rng.chance(0.6) ? group(iban, {4, 4, 4, 4, 4, 4, 4, 4}, ' ') : iban;
    return {rng.pick(leads), v, rng.chance(0.3) ? "." : ""};
}

Value make_ip(Rng& rng) {
    static const std::vector<std::string> leads = {"",           "host ", "from ",
                                                   "server at ", "IP ",   "ssh to "};
    auto hex = [&] {
        std::string h = rng.chars(size_t(rng.between(1, 4)), "0123456789abcdef");
        return h;
    };
    std::string v;
    switch (rng.below(4)) {
        case 0:
        case 1:
            v = std::to_string(rng.between(1, 223)) + "." + std::to_string(rng.between(0, 255)) +
                "." + std::to_string(rng.between(0, 255)) + "." +
                std::to_string(rng.between(1, 254));
            break;
        case 2:
            for (int k = 0; k < 8; ++k) v += (k ? ":" : "") + hex();
            break;
        default:
            v = rng.chance(0.5) ? "2001:db8:" + hex() + "::" + hex()
                                : "fe80::" + hex() + ":" + hex() + ":" + hex();
            break;
    }
    return {rng.pick(leads), v, rng.chance(0.3) ? "," : ""};
}

Value make_national_id(Rng& rng) {
    static const std::vector<std::string> leads = {"",           "SSN ", "ID ",
                                                   "NI number ", "DNI ", "personnummer "};
    constexpr std::string_view dni_letters = "TRWAGMYFPDXBNJZSQVHLCKE";
    std::string v;
    switch (rng.below(5)) {
        case 0: {
            int area = rng.between(1, 898);
            if (area == 666) area = 667;
            char sep = rng.chance(0.8) ? '-' : ' ';
            char buf[48];
            std::snprintf(buf, sizeof buf, "%03d%c%02d%c%04d", area, sep, rng.between(1, 99), sep,
                          rng.between(1, 9999));
            v = buf;
            break;
        }
        case 1: {
            std::string a, b;
            do {
                a = rng.chars(1, "ABCEGHJKLMNOPRSTWXYZ");
                b = rng.chars(1, "ABCEGHJKLMNPRSTWXYZ");
            } while ((a + b) == "GB" || (a + b) == "NK" || (a + b) == "KN" || (a + b) == "NT" ||
                     (a + b) == "TN" || (a + b) == "ZZ" || (a + b) == "BG");
            std::string d = rng.digits(6), s = rng.chars(1, "ABCD");
            v = rng.chance(0.5) ? a + b + d + s : a + b + " " + group(d, {2, 2, 2}, ' ') + " " + s;
            break;
        }
        case 2: {
            std::string d = rng.digits(8);
            v = d + (rng.chance(0.2) ? "-" : "") + dni_letters[std::stol(d) % 23];
            break;
        }
        case 3: {
            int x = rng.between(0, 2);
            std::string d = rng.digits(7);
            v = std::string(1, char('X' + x)) + d +
                dni_letters[std::stol(std::to_string(x) + d) % 23];
            break;
        }
        default: {
            char date[40];
            std::snprintf(date, sizeof date, "%02d%02d%02d", rng.between(0, 99), rng.between(1, 12),
                          rng.between(1, 28));
            std::string ten = luhn_complete(date + rng.digits(3));
            v = (rng.chance(0.3) ? std::string(rng.chance(0.5) ? "19" : "20") : "") +
                ten.substr(0, 6) + "-" + ten.substr(6);
            break;
        }
    }
    return {rng.pick(leads), v, rng.chance(0.3) ? "," : ""};
}

Value make_url_credentials(Rng& rng) {
    static const std::vector<std::string> schemes = {"https", "postgres", "mysql",  "redis",
                                                     "amqp",  "ftp",      "mongodb"};
    static const std::vector<std::string> users = {"admin", "deploy", "svc_app",
                                                   "root",  "jdoe",   "backup"};
    static const std::vector<std::string> hosts = {"db.internal.example.com", "10.1.2.3",
                                                   "cache.example.net", "files.example.org",
                                                   "localhost"};
    static const std::vector<std::string> leads = {"", "connect to ", "DSN ", "url: ", "using "};
    std::string v =
        rng.pick(schemes) + "://" + rng.pick(users) + ":" +
        token(rng, size_t(rng.between(8, 16)), "abcdefghijkmnpqrstuvwxyzABCDEFGH23456789!$") + "@" +
        rng.pick(hosts);
    if (rng.chance(0.5)) v += ":" + std::to_string(rng.between(1024, 65535));
    if (rng.chance(0.5)) v += "/" + std::string(rng.chance(0.5) ? "prod" : "data/export");
    return {rng.pick(leads), v, rng.chance(0.3) ? "." : ""};
}

Value make_secret(Rng& rng) {
    switch (rng.below(11)) {
        case 0:
            return {"aws key ", "AKIA" + token(rng, 16, upper_alnum), ""};
        case 1:
            return {"token ", "ghp_" + token(rng, 36, base62), ""};
        case 2:
            return {"", "github_pat_" + token(rng, 22, base62) + "_" + token(rng, 59, base62), ""};
        case 3:
            return {"OPENAI_API_KEY=", "sk-proj-" + token(rng, 48, base64url), ""};
        case 4:
            return {"slack ",
                    "xoxb-" + rng.digits(12) + "-" + rng.digits(13) + "-" + token(rng, 24, base62),
                    ""};
        case 5:
            return {"key=", "AIza" + token(rng, 35, base64url), ""};
        case 6:
            return {"stripe ", "sk_live_" + token(rng, 24, base62), ""};
        case 7:
            return {"Bearer ",
                    "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJ" +
                        token(rng, size_t(rng.between(30, 80)), base64url) + "." +
                        token(rng, 43, base64url),
                    ""};
        case 8:
            return {rng.chance(0.5) ? "the token is " : "",
                    token(rng, size_t(rng.between(32, 48)), base62), ""};
        case 9:
            return {rng.chance(0.5) ? "password: " : "db_password=",
                    token(rng, size_t(rng.between(8, 14)), base62), ""};
        default: {
            std::string pem = "-----BEGIN RSA PRIVATE KEY-----\n";
            for (int k = 0; k < 3; ++k) pem += token(rng, 64, base64) + "\n";
            return {"key:\n", pem + "-----END RSA PRIVATE KEY-----", ""};
        }
    }
}

const std::vector<std::string>& private_terms() {
    static const std::vector<std::string> terms = {
        "Marguerite Okonkwo", "Project Bluefin", "Hallström Logistics", "Zoë Abernathy",
        "Kestrel Dynamics",   "Tavish Rourke",   "Operation Sandpiper", "Nordlys Bank"};
    return terms;
}

Value make_private(Rng& rng) {
    static const std::vector<std::string> leads = {"", "for ", "with ", "from ", "about "};
    std::string v = rng.pick(private_terms());
    if (rng.chance(0.15))
        for (char& c : v)
            if (c >= 'a' && c <= 'z') c = char(c - 'a' + 'A');
    if (rng.chance(0.15))
        for (char& c : v)
            if (c >= 'A' && c <= 'Z') c = char(c - 'A' + 'a');
    return {rng.pick(leads), v, rng.chance(0.3) ? "'s" : ""};
}

Value make_value(PiiKind kind, Rng& rng) {
    switch (kind) {
        case PiiKind::email:
            return make_email(rng);
        case PiiKind::phone:
            return make_phone(rng);
        case PiiKind::card:
            return make_card(rng);
        case PiiKind::iban:
            return make_iban(rng);
        case PiiKind::ip:
            return make_ip(rng);
        case PiiKind::national_id:
            return make_national_id(rng);
        case PiiKind::url_credentials:
            return make_url_credentials(rng);
        case PiiKind::secret:
            return make_secret(rng);
        case PiiKind::private_term:
            return make_private(rng);
    }
    return {};
}

// Look-alikes that are NOT personal data: near misses of every format (a wrong check digit, an
// out-of-range octet, an unissued SSN area) and the numbers real prompts are full of. They are
// inserted unlabelled, so flagging one counts against precision.
std::string make_decoy(Rng& rng) {
    auto hex = [&](size_t n) { return rng.chars(n, "0123456789abcdef"); };
    switch (rng.below(24)) {
        case 0: {  // a card number with its check digit off by one
            std::string card = luhn_complete("4" + rng.digits(14));
            card.back() = char('0' + (card.back() - '0' + 1) % 10);
            return "card " + group(card, {4, 4, 4, 4}, ' ');
        }
        case 1: {  // an IBAN with wrong check digits
            std::string bban = rng.digits(18);
            int check = 98 - mod97(bban + "DE00");
            check = check == 98 ? 2 : check + 1;
            return "IBAN DE" + std::string(check < 10 ? "0" : "") + std::to_string(check) + bban;
        }
        case 2:
            return "version " + std::to_string(rng.between(1, 20)) + "." +
                   std::to_string(rng.between(0, 9)) + "." + std::to_string(rng.between(0, 30));
        case 3:
            return "v" + std::to_string(rng.between(1, 9)) + "." +
                   std::to_string(rng.between(0, 9)) + "." + std::to_string(rng.between(0, 9)) +
                   "." + std::to_string(rng.between(0, 99));
        case 4:
            return std::to_string(rng.between(256, 999)) + "." +
                   std::to_string(rng.between(0, 255)) + "." + std::to_string(rng.between(0, 255)) +
                   "." + std::to_string(rng.between(0, 255));
        case 5: {
            char b[48];
            std::snprintf(b, sizeof b, "%04d-%02d-%02d", rng.between(1900, 2030),
                          rng.between(1, 12), rng.between(1, 28));
            return b;
        }
        case 6: {
            char b[48];
            std::snprintf(b, sizeof b, "%02d.%02d.%04d", rng.between(1, 28), rng.between(1, 12),
                          rng.between(1900, 2030));
            return b;
        }
        case 7: {
            char b[48];
            std::snprintf(b, sizeof b, "%02d:%02d:%02d", rng.between(0, 23), rng.between(0, 59),
                          rng.between(0, 59));
            return "at " + std::string(b);
        }
        case 8:
            return "ISBN 978-" + rng.digits(1) + "-" + rng.digits(2) + "-" + rng.digits(6) + "-" +
                   rng.digits(1);
        case 9:
            return "ISBN 0-" + rng.digits(3) + "-" + rng.digits(5) + "-" + rng.digits(1);
        case 10:
            return "$" + std::to_string(rng.between(1, 999)) + "," + rng.digits(3) + "." +
                   rng.digits(2);
        case 11: {  // SSNs from never-issued areas
            static const std::vector<std::string> areas = {"000", "666", "900", "987"};
            return "SSN " + rng.pick(areas) + "-" + std::to_string(rng.between(10, 99)) + "-" +
                   rng.digits(4);
        }
        case 12:
            return "QQ" + rng.digits(6) + "C";  // the NINO documentation placeholder
        case 13:
            return "commit " + hex(40);
        case 14:
            return hex(8) + "-" + hex(4) + "-" + hex(4) + "-" + hex(4) + "-" + hex(12);
        case 15:
            return "https://www.example.org/wiki/Special:Search?q=" + rng.digits(4) + "&page=2";
        case 16:
            return std::to_string(rng.between(1, 99)) + "," + rng.digits(3) + "," + rng.digits(3) +
                   " people";
        case 17:
            return std::to_string(rng.between(100, 199)) + "-" + rng.digits(3) + "-" +
                   rng.digits(4);
        case 18:
            return "getUserAccountDetails" + std::to_string(rng.between(2, 9)) + "ForCustomerId";
        case 19:
            return "doi:10." + rng.digits(4) + "/nature" + rng.digits(5);
        case 20:
            return "arXiv:" + rng.digits(4) + "." + rng.digits(5) + "v" +
                   std::to_string(rng.between(1, 3));
        case 21:
            return rng.digits(2) + "." + rng.digits(4) + "° N, " + rng.digits(1) + "." +
                   rng.digits(4) + "° W";
        case 22:
            return "pages " + std::to_string(rng.between(100, 999)) + "-" +
                   std::to_string(rng.between(1000, 1999));
        default:
            return "pip install scikit-learn==1." + std::to_string(rng.between(0, 5)) + "." +
                   rng.digits(1);
    }
}

// ---- real sentences ----

std::string read_all(const std::filesystem::path& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) fail("cannot read ", path.string());
    return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

std::vector<std::string> lines_of(const std::string& text) {
    std::vector<std::string> out;
    size_t at = 0;
    while (at < text.size()) {
        size_t nl = text.find('\n', at);
        if (nl == std::string::npos) nl = text.size();
        out.push_back(text.substr(at, nl - at));
        at = nl + 1;
    }
    return out;
}

std::string trimmed(std::string_view s, std::string_view strip = " \t\r") {
    size_t b = s.find_first_not_of(strip);
    if (b == s.npos) return {};
    size_t e = s.find_last_not_of(strip);
    return std::string(s.substr(b, e - b + 1));
}

bool usable(const std::string& s) {
    return s.size() >= 40 && s.size() <= 400;
}

// WikiText: article lines split at " . " into sentences; headings (" = Title = ") skipped.
std::vector<std::string> wikitext_sentences(const std::filesystem::path& path) {
    std::vector<std::string> out;
    for (const std::string& line : lines_of(read_all(path))) {
        std::string t = trimmed(line);
        if (t.empty() || t.front() == '=') continue;
        size_t at = 0;
        while (at < t.size()) {
            size_t dot = t.find(" . ", at);
            std::string s =
                trimmed(t.substr(at, dot == std::string::npos ? std::string::npos : dot + 2 - at));
            if (usable(s)) out.push_back(s);
            if (dot == std::string::npos) break;
            at = dot + 3;
        }
    }
    return out;
}

// SciFact corpus CSV: each abstract is a Python list literal of sentences, one per line
// ("['First.'\n 'Second.']"); the quotes, brackets and trailing column are peeled off.
std::vector<std::string> scifact_sentences(const std::filesystem::path& path) {
    std::vector<std::string> out;
    bool header = true;
    for (std::string line : lines_of(read_all(path))) {
        if (header) {
            header = false;
            continue;
        }
        size_t open = line.find("\"['");
        if (open == std::string::npos) open = line.find("\"[\"");
        if (open != std::string::npos) line = line.substr(open + 2);
        for (std::string_view tail : {"\",False", "\",True"})
            if (line.size() >= tail.size() &&
                line.compare(line.size() - tail.size(), tail.size(), tail) == 0)
                line.resize(line.size() - tail.size());
        std::string s = trimmed(line, " \t\r'\"[]");
        if (usable(s)) out.push_back(s);
    }
    return out;
}

// JSONL files: the named string field, or every string of the named array field.
std::vector<std::string> jsonl_texts(const std::filesystem::path& path, const std::string& field) {
    std::vector<std::string> out;
    size_t number = 0;
    for (const std::string& line : lines_of(read_all(path))) {
        ++number;
        if (trimmed(line).empty()) continue;
        nlohmann::json j = nlohmann::json::parse(line, nullptr, false);
        if (j.is_discarded() || !j.contains(field))
            fail(path.string(), ":", number, ": no '", field, "' field");
        const nlohmann::json& v = j[field];
        if (v.is_string()) {
            if (usable(v.get<std::string>())) out.push_back(v.get<std::string>());
        } else if (v.is_array()) {
            for (const auto& e : v)
                if (e.is_string() && usable(e.get<std::string>()))
                    out.push_back(e.get<std::string>());
        }
    }
    return out;
}

void shuffle(std::vector<std::string>& v, Rng& rng) {
    for (size_t k = v.size(); k > 1; --k) std::swap(v[k - 1], v[rng.below(k)]);
}

std::string context(std::string_view text, size_t begin, size_t end) {
    size_t b = begin > 30 ? begin - 30 : 0;
    size_t e = std::min(text.size(), end + 30);
    std::string out = std::string(text.substr(b, begin - b)) + "«" +
                      std::string(text.substr(begin, end - begin)) + "»" +
                      std::string(text.substr(end, e - end));
    for (char& c : out)
        if (c == '\n' || c == '|') c = ' ';
    return out;
}

}  // namespace

std::vector<std::string> load_pii_eval_sentences(const std::filesystem::path& data_dir,
                                                 size_t per_source, uint64_t seed) {
    std::vector<std::vector<std::string>> sources = {
        wikitext_sentences(data_dir / "lm/wikitext-2-raw-test.txt"),
        scifact_sentences(data_dir / "retrieval/scifact/corpus_train.csv"),
        jsonl_texts(data_dir / "retrieval/nq_open_dev.jsonl", "question"),
        jsonl_texts(data_dir / "routing/mt_bench_questions.jsonl", "turns"),
    };
    Rng rng(seed);
    std::vector<std::string> out;
    for (auto& source : sources) {
        shuffle(source, rng);
        if (source.size() > per_source) source.resize(per_source);
        out.insert(out.end(), source.begin(), source.end());
    }
    shuffle(out, rng);
    return out;
}

std::vector<std::string> pii_eval_private_terms() {
    return private_terms();
}

std::vector<LabelledText> make_pii_eval_set(std::span<const std::string> sentences, uint64_t seed,
                                            size_t n) {
    if (sentences.empty()) fail("the PII evaluation set needs real sentences to insert into");
    Rng rng(seed);
    std::vector<LabelledText> set;
    size_t turn = 0;
    for (size_t t = 0; t < n; ++t) {
        std::string base;
        size_t count = 1 + rng.below(3), first = rng.below(sentences.size());
        for (size_t k = 0; k < count; ++k) {
            if (!base.empty()) base += ' ';
            base += sentences[(first + k) % sentences.size()];
        }
        size_t inserts = rng.below(8) == 0 ? 0 : 1 + rng.below(2);
        // Insert at spaces between words (or at the very end), left to right.
        std::vector<size_t> spaces;
        for (size_t k = 0; k < base.size(); ++k)
            if (base[k] == ' ') spaces.push_back(k);
        spaces.push_back(base.size());
        // One look-alike in half the texts: (position, true) marks it.
        std::vector<std::pair<size_t, bool>> at;
        for (size_t k = 0; k < inserts; ++k)
            at.push_back({spaces[rng.below(spaces.size())], false});
        if (rng.chance(0.5)) at.push_back({spaces[rng.below(spaces.size())], true});
        std::sort(at.begin(), at.end());
        at.erase(std::unique(at.begin(), at.end(),
                             [](const auto& x, const auto& y) { return x.first == y.first; }),
                 at.end());
        LabelledText item;
        size_t from = 0;
        for (auto [pos, decoy] : at) {
            item.text.append(base, from, pos - from);
            from = pos;
            if (decoy) {
                item.text += ' ' + make_decoy(rng);
                continue;
            }
            // The kinds in turn, so every kind gets its share of values.
            const PiiKind kind = kAllPiiKinds[turn++ % std::size(kAllPiiKinds)];
            Value v = make_value(kind, rng);
            item.text += ' ';
            item.text += v.lead;
            size_t begin = item.text.size();
            item.text += v.value;
            item.spans.push_back({begin, item.text.size(), kind});
            item.text += v.trail;
        }
        item.text.append(base, from, std::string::npos);
        set.push_back(std::move(item));
    }
    return set;
}

double PiiKindScore::f1() const {
    double p = precision(), r = recall();
    return p + r > 0 ? 2 * p * r / (p + r) : 0.0;
}

PiiScores score_redactor(const Redactor& redactor, std::span<const LabelledText> set,
                         size_t max_mistakes) {
    PiiScores scores;
    auto overlap = [](const PiiSpan& a, const PiiSpan& b) {
        return a.begin < b.end && b.begin < a.end;
    };
    auto add = [&](PiiKind kind, auto&& update) {
        update(scores.kinds[kind]);
        update(scores.total);
    };
    for (const LabelledText& item : set) {
        ++scores.texts;
        scores.bytes += item.text.size();
        std::vector<PiiSpan> detected = redactor.find(item.text);
        for (const PiiSpan& gold : item.spans) {
            bool hit = std::any_of(detected.begin(), detected.end(), [&](const PiiSpan& d) {
                return d.kind == gold.kind && overlap(d, gold);
            });
            add(gold.kind, [&](PiiKindScore& s) {
                ++s.inserted;
                s.found += hit;
            });
            if (!hit && scores.mistakes.size() < max_mistakes)
                scores.mistakes.push_back(cat("FN ", pii_kind_name(gold.kind), ": ",
                                              context(item.text, gold.begin, gold.end)));
        }
        for (const PiiSpan& d : detected) {
            bool correct = std::any_of(item.spans.begin(), item.spans.end(), [&](const PiiSpan& g) {
                return g.kind == d.kind && overlap(d, g);
            });
            bool exact = std::any_of(item.spans.begin(), item.spans.end(),
                                     [&](const PiiSpan& g) { return g == d; });
            add(d.kind, [&](PiiKindScore& s) {
                ++s.detected;
                s.correct += correct;
                s.exact += exact;
            });
            if (!correct && scores.mistakes.size() < max_mistakes)
                scores.mistakes.push_back(
                    cat("FP ", pii_kind_name(d.kind), ": ", context(item.text, d.begin, d.end)));
        }
    }
    return scores;
}

std::string format_pii_scores(const PiiScores& scores) {
    std::string out =
        "| kind | inserted | found | detected | correct | precision | recall | F1 | exact bounds "
        "|\n"
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|\n";
    auto row = [&](std::string_view name, const PiiKindScore& s) {
        char buf[256];
        std::snprintf(
            buf, sizeof buf, "| %s | %zu | %zu | %zu | %zu | %.4f | %.4f | %.4f | %.1f%% |\n",
            std::string(name).c_str(), s.inserted, s.found, s.detected, s.correct, s.precision(),
            s.recall(), s.f1(), s.correct ? 100.0 * double(s.exact) / double(s.correct) : 0.0);
        out += buf;
    };
    for (PiiKind kind : kAllPiiKinds) {
        auto it = scores.kinds.find(kind);
        row(pii_kind_name(kind), it == scores.kinds.end() ? PiiKindScore{} : it->second);
    }
    row("**all**", scores.total);
    return out;
}

}  // namespace pocket::route
