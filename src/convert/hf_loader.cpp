#include "pocket/convert/hf_loader.h"

#include <atomic>
#include <system_error>

#include <unistd.h>

#include "pocket/core/error.h"

namespace pocket::model {
namespace {

namespace fs = std::filesystem;

// Removes the temporary file however loading ends; an mmap'd file stays readable after unlink.
class TempFile {
  public:
    explicit TempFile(fs::path path) : path_(std::move(path)) {}
    ~TempFile() {
        std::error_code ignored;
        fs::remove(path_, ignored);
    }
    TempFile(const TempFile&) = delete;
    TempFile& operator=(const TempFile&) = delete;
    const fs::path& path() const { return path_; }

  private:
    fs::path path_;
};

fs::path temp_gguf_path() {
    static std::atomic<uint64_t> counter{0};
    return fs::temp_directory_path() /
           cat("pocket-hf-", ::getpid(), "-", counter.fetch_add(1), ".gguf");
}

}  // namespace

bool is_hf_model_dir(const fs::path& path) {
    std::error_code ec;
    return fs::is_directory(path, ec) && fs::exists(path / "config.json", ec);
}

std::unique_ptr<Model> load_hf_model(const fs::path& dir, const convert::ConvertOptions& options,
                                     const LoadOptions& load) {
    if (!is_hf_model_dir(dir))
        fail(dir.string(), ": not a Hugging Face model folder (no config.json)");
    auto writer = convert::build_gguf(dir, options);
    TempFile temp(temp_gguf_path());
    writer.write(temp.path());
    try {
        return Model::from_file(gguf::File::open(temp.path()), load);
    } catch (const Error& e) {
        fail(dir.string(), " (converted to GGUF in memory): ", e.what());
    }
}

std::unique_ptr<Model> load_model(const std::filesystem::path& path, const LoadOptions& options) {
    return is_hf_model_dir(path) ? load_hf_model(path, {}, options) : Model::load(path, options);
}

}  // namespace pocket::model
