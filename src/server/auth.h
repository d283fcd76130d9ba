// API-key check for `pocket serve --api-key`: only "Authorization: Bearer <key>" is accepted
// (the scheme in any case, as RFC 7235 makes it case-insensitive).
#pragma once

#include <string_view>

namespace pocket::server {

// True when the header is "Bearer <api_key>". The key comparison takes the same time whatever
// bytes match, so response timing reveals nothing about the key. An empty api_key never
// matches (a server without a key must not call this to let requests through).
bool bearer_matches(std::string_view authorization_header, std::string_view api_key);

// Compares SHA-256 digests of both strings over all 32 bytes without an early exit, so the time
// depends neither on where they differ nor on their lengths' relation.
bool constant_time_equal(std::string_view a, std::string_view b);

}  // namespace pocket::server
