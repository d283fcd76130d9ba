#include "server/auth.h"

#include <array>
#include <cstdint>

#include "pocket/core/sha256.h"

namespace pocket::server {

namespace {

std::array<uint8_t, 32> digest(std::string_view s) {
    Sha256 h;
    h.update(s);
    return h.finish();
}

bool is_space(char c) {
    return c == ' ' || c == '\t';
}

char lower(char c) {
    return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c;
}

}  // namespace

bool constant_time_equal(std::string_view a, std::string_view b) {
    // Hashing first gives the loop equal-length inputs, so neither the key's length nor the
    // length of a common prefix shows in the time taken. volatile keeps the compiler from
    // turning the accumulation into an early exit.
    const auto da = digest(a), db = digest(b);
    volatile uint8_t diff = 0;
    for (size_t i = 0; i < da.size(); ++i) diff = diff | (da[i] ^ db[i]);
    return diff == 0;
}

bool bearer_matches(std::string_view header, std::string_view api_key) {
    if (api_key.empty()) return false;
    // Surrounding whitespace is not part of the value (RFC 9110 field values are trimmed).
    while (!header.empty() && is_space(header.front())) header.remove_prefix(1);
    while (!header.empty() && is_space(header.back())) header.remove_suffix(1);
    constexpr std::string_view kScheme = "bearer";
    if (header.size() <= kScheme.size() || !is_space(header[kScheme.size()])) return false;
    for (size_t i = 0; i < kScheme.size(); ++i) {
        if (lower(header[i]) != kScheme[i]) return false;  // the scheme is public, not secret
    }
    std::string_view token = header.substr(kScheme.size());
    while (!token.empty() && is_space(token.front())) token.remove_prefix(1);
    return constant_time_equal(token, api_key);
}

}  // namespace pocket::server
