// Errors are exceptions that carry their context in the message: what failed, where
// (file, offset, tensor, field) and why. Every layer throws pocket::Error or a subclass;
// front ends catch it, print what() and exit with a non-zero code.
#pragma once

#include <sstream>
#include <stdexcept>
#include <string>
#include <utility>

namespace pocket {

class Error : public std::runtime_error {
public:
    explicit Error(const std::string& message) : std::runtime_error(message) {}
};

// Concatenates anything streamable into one string: cat("tensor '", name, "' has ", n, " dims").
template <typename... Parts>
std::string cat(Parts&&... parts) {
    std::ostringstream out;
    (out << ... << std::forward<Parts>(parts));
    return out.str();
}

template <typename... Parts>
[[noreturn]] void fail(Parts&&... parts) {
    throw Error(cat(std::forward<Parts>(parts)...));
}

}  // namespace pocket
