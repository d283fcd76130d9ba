// The one token id type of the whole library: tokenizer, model, sampling and generation all speak
// it. Signed so that kNoToken (-1) can say "none" (a vocabulary without a BOS, say).
#pragma once

#include <cstdint>

namespace pocket {

using TokenId = int32_t;
inline constexpr TokenId kNoToken = -1;

}  // namespace pocket
