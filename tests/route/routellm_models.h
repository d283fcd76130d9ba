// The model pair of RouteLLM's published battle data (data/routing/routellm in the shared folder):
// the "weak" and "strong" columns the routing examples are read with.
#pragma once

#include <string>

namespace pocket::test {

inline const std::string kRouteLlmWeak = "mistralai/Mixtral-8x7B-Instruct-v0.1";
inline const std::string kRouteLlmStrong = "gpt-4-1106-preview";

}  // namespace pocket::test
