// Errors are exceptions that carry their context in the message: what failed, where
// (file, offset, tensor, field) and why. Every layer throws pocket::Error or a subclass;
// front ends catch it, print what() and exit with a non-zero code.
#pragma once

#include <cstdint>
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

// A malformed input file (GGUF, safetensors, ...): names the file, the absolute byte offset and
// the field. what() reads "FILE: offset N (FIELD): MESSAGE". Front ends report these as bad input
// (exit code 65) rather than as runtime failures.
class FormatError : public Error {
  public:
    FormatError(std::string file, uint64_t offset, std::string field, const std::string& what)
        : Error(cat(file, ": offset ", offset, " (", field, "): ", what)),
          file_(std::move(file)),
          offset_(offset),
          field_(std::move(field)) {}
    const std::string& file() const { return file_; }
    uint64_t offset() const { return offset_; }
    const std::string& field() const { return field_; }

  private:
    std::string file_;
    uint64_t offset_;
    std::string field_;
};

}  // namespace pocket
