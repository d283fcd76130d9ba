// Helpers every test layer uses: where the shared reference data lives, reading it, scratch files,
// and running the `pocket` binary.
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

// Defined in the sanitizer build (scripts/test's second pass, AddressSanitizer with UBSan):
// shadow memory and quarantine make memory bounds meaningless and everything runs several times
// slower, so some tests skip a bound or scale their work down.
#if defined(__SANITIZE_ADDRESS__)
#define POCKET_TEST_UNDER_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define POCKET_TEST_UNDER_ASAN 1
#endif
#endif

namespace pocket::test {

// The shared reference folder: $POCKET_SHARED_DIR if set, else the CMake option (default
// ../shared).
std::filesystem::path shared_dir();
std::filesystem::path shared_path(const std::string& relative);
// The shared 260K-parameter stories model, the smallest real model the tests load.
std::string stories_model();

// The source checkout and the `pocket` binary under test. They are compiled into the support
// library alone, so no other test object holds an absolute path and ccache can reuse them from
// a clone in another folder.
std::filesystem::path source_dir();
std::string pocket_binary();

nlohmann::json read_json(const std::filesystem::path& path);
std::string read_file_bytes(const std::filesystem::path& path);

// A fresh directory under the system temp dir, removed when the object goes away.
class ScratchDir {
  public:
    ScratchDir();
    ~ScratchDir();
    ScratchDir(const ScratchDir&) = delete;
    ScratchDir& operator=(const ScratchDir&) = delete;
    const std::filesystem::path& path() const { return path_; }
    std::filesystem::path operator/(const std::string& name) const { return path_ / name; }

  private:
    std::filesystem::path path_;
};

struct CommandResult {
    int exit_code = -1;
    std::string out;  // stdout
    std::string err;  // stderr
};

// Runs the built `pocket` binary with the given arguments (no shell involved).
CommandResult run_pocket(const std::vector<std::string>& args);
// The same with `input` on its standard input (nullopt: /dev/null).
CommandResult run_pocket(const std::vector<std::string>& args,
                         const std::optional<std::string>& input);

// Parses a llama.cpp tokenizer vector pair (.inp/.out) into (text, expected ids) cases.
struct TokenizerCase {
    std::string text;
    std::vector<int32_t> ids;
};
std::vector<TokenizerCase> read_tokenizer_vectors(const std::filesystem::path& inp,
                                                  const std::filesystem::path& out);

// Sets (or, with nullopt, unsets) an environment variable for the scope; a child `pocket`
// started by run_pocket inherits it. Tests that use it must not run threads that read the
// environment meanwhile.
class ScopedEnv {
  public:
    ScopedEnv(const char* name, const std::optional<std::string>& value);
    ~ScopedEnv();
    ScopedEnv(const ScopedEnv&) = delete;
    ScopedEnv& operator=(const ScopedEnv&) = delete;

  private:
    const char* name_;
    std::optional<std::string> old_;
};

}  // namespace pocket::test
