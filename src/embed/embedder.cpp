// The embedder interface's shared parts: batching over the thread pool and the factory that picks
// an implementation from what a path is.
#include "pocket/embed/embedder.h"

#include "pocket/core/error.h"
#include "pocket/core/thread_pool.h"
#include "pocket/embed/static_embedder.h"
#include "pocket/embed/transformer_embedder.h"
#include "pocket/gguf/gguf.h"
#include "pocket/model/arch.h"

namespace pocket::embed {

Embedder::~Embedder() = default;

std::vector<std::vector<float>> Embedder::embed_batch(std::span<const std::string> texts) const {
    std::vector<std::vector<float>> out(texts.size());
    ThreadPool::global().parallel_for(
        static_cast<int64_t>(texts.size()), [&](int64_t begin, int64_t end) {
            for (int64_t i = begin; i < end; ++i) {
                out[static_cast<size_t>(i)] = embed(texts[static_cast<size_t>(i)]);
            }
        });
    return out;
}

std::unique_ptr<Embedder> open_embedder(const std::filesystem::path& path) {
    namespace fs = std::filesystem;
    if (fs::is_directory(path)) {
        if (fs::exists(path / "model.safetensors") && fs::exists(path / "tokenizer.json")) {
            return StaticEmbedder::open_hf(path);
        }
        fail(path.string(),
             ": not an embedding model folder (expected model.safetensors and tokenizer.json)");
    }
    if (!fs::exists(path)) fail(path.string(), ": no such file or folder");
    const auto file = gguf::File::open(path);
    const auto arch = file.get_string("general.architecture").value_or("");
    if (arch == kStaticArch) return StaticEmbedder::from_gguf(file);
    if (model::find_arch(arch))
        return std::make_unique<TransformerEmbedder>(
            model::Model::from_file(gguf::File::open(path)));
    fail(path.string(), ": embedding with GGUF models of architecture '", arch,
         "' is not supported (supported: static Model2Vec models as a Hugging Face folder or GGUF, "
         "and the transformer architectures pocket runs)");
}

}  // namespace pocket::embed
