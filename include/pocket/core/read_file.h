// Reads a whole (small) file into memory: JSON configs, vocabularies, prompt files. Model weights
// are never read this way; they are memory-mapped (mapped_file.h).
#pragma once

#include <filesystem>
#include <string>

namespace pocket {

// The file's bytes; throws pocket::Error naming the path and the OS error when it cannot be read.
std::string read_file(const std::filesystem::path& path);

}  // namespace pocket
