// Jailbreak awareness before classification: the wrappers real attacks put around a harmful
// request (role-play framing, instruction overrides) are cut out and flagged, and encoded payloads
// are decoded (base64 runs that decode to text are appended; leetspeak words are spelled out), so
// the classifier sees the request itself; an optimised adversarial suffix (GCG-style token soup at
// the end) is flagged. Works on bytes: any input, invalid UTF-8 included.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace pocket::safety {

struct Unwrapped {
    std::string text;  // what to classify
    // "roleplay", "override", "base64", "leetspeak", "adversarial_suffix" (in that order)
    std::vector<std::string> flags;
};

// Never throws except std::bad_alloc.
Unwrapped unwrap_jailbreak(std::string_view text);

}  // namespace pocket::safety
