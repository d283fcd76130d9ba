// The models a server offers, loaded on first use and unloaded when idle, as Ollama does.
//
// A model is named by the caller (usually the file name without ".gguf"). acquire() loads it
// when needed and returns a handle that keeps it loaded while held; a model nobody holds and
// whose scheduler is idle is unloaded once it has been idle for keep_alive, or sooner when
// loading another would pass max_memory (least recently used first). A janitor thread does the
// unloading; it sleeps between deadlines, so an idle pool costs no CPU.
//
// Language models get a BatchScheduler (continuous batching) and their chat template; embedding
// models (BERT-style GGUF files, Model2Vec folders) get an Embedder. A language model can embed
// too (its last hidden state): its Embedder is opened on first use.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "pocket/core/error.h"
#include "pocket/embed/embedder.h"
#include "pocket/generate/chat_template.h"
#include "pocket/model/model.h"
#include "pocket/model/model_directory.h"
#include "pocket/serve/batch_scheduler.h"

namespace pocket::serve {

struct ModelSpec {
    std::string name;  // what requests put in their "model" field
    std::filesystem::path path;
    // LoRA adapters loaded with the model and applied to all its generations (`pocket serve
    // --lora`); a language model's only.
    std::vector<model::LoraFile> loras{};
};

struct ModelPoolOptions {
    std::vector<ModelSpec> models;
    SchedulerOptions scheduler;
    // How long an unused model stays loaded; negative: forever.
    std::chrono::milliseconds keep_alive = std::chrono::minutes(5);
    // Bytes of weights and KV cache that loaded models may take together; 0: no limit.
    uint64_t max_memory = 0;
    model::LoadOptions load;
};

// No model of that name (HTTP 404).
class ModelNotFound : public Error {
  public:
    explicit ModelNotFound(std::string name);
    const std::string& name() const { return name_; }

  private:
    std::string name_;
};

// Loading the model would pass max_memory and nothing can be unloaded now (HTTP 503).
class OutOfModelMemory : public Error {
  public:
    using Error::Error;
};

class LoadedModel {
  public:
    const std::string& name() const { return name_; }
    const std::filesystem::path& path() const { return path_; }
    // Language models only (is_generator()).
    bool is_generator() const { return scheduler_ != nullptr; }
    const model::Model& model() const;
    BatchScheduler& scheduler() const;
    const ModelChatTemplate& chat_template() const;
    // The model's embedder, opened on first use. Thread-safe.
    const embed::Embedder& embedder() const;
    // What the pool charges this model against max_memory.
    uint64_t memory_bytes() const { return memory_bytes_; }
    std::chrono::system_clock::time_point loaded_at() const { return loaded_at_; }

  private:
    friend class ModelPool;
    std::string name_;
    std::filesystem::path path_;
    std::unique_ptr<model::Model> model_;
    std::unique_ptr<BatchScheduler> scheduler_;
    std::unique_ptr<ModelChatTemplate> template_;
    mutable std::mutex embedder_mutex_;
    mutable std::unique_ptr<embed::Embedder> embedder_;
    uint64_t memory_bytes_ = 0;
    std::chrono::system_clock::time_point loaded_at_;
};

struct PoolModelInfo {
    model::ModelEntry entry;  // from the file's header
    bool loaded = false;
    std::optional<std::chrono::system_clock::time_point> expires;  // when it unloads if unused
    uint64_t memory_bytes = 0;
};

class ModelPool {
  public:
    explicit ModelPool(ModelPoolOptions options);
    ~ModelPool();
    ModelPool(const ModelPool&) = delete;
    ModelPool& operator=(const ModelPool&) = delete;

    // The model, loaded if it was not. Throws ModelNotFound, OutOfModelMemory, or pocket::Error
    // when the file does not load. Concurrent calls for one model load it once.
    std::shared_ptr<const LoadedModel> acquire(std::string_view name);
    // Marks a model used now (its keep-alive restarts); `keep_alive` overrides the pool's for
    // this model from now on (Ollama's per-request keep_alive).
    void touch(std::string_view name,
               std::optional<std::chrono::milliseconds> keep_alive = std::nullopt);
    // Unloads the model as soon as nothing holds it.
    void unload(std::string_view name);

    // Cancels every generation of every loaded model (a server shutting down).
    void cancel_all();

    bool contains(std::string_view name) const;
    const std::vector<ModelSpec>& models() const { return options_.models; }
    std::vector<PoolModelInfo> list() const;
    // Scheduler counters summed over the loaded models.
    SchedulerStats stats() const;
    size_t loaded_count() const;

  private:
    struct Entry {
        ModelSpec spec;
        std::shared_ptr<const LoadedModel> loaded;
        std::shared_ptr<std::mutex> loading;  // one load at a time per model
        std::chrono::steady_clock::time_point last_used;
        std::optional<std::chrono::milliseconds> keep_alive;
        model::ModelEntry header;
    };
    Entry& entry(std::string_view name);
    const Entry* find(std::string_view name) const;
    std::shared_ptr<const LoadedModel> load(const ModelSpec& spec) const;
    bool unused(const Entry& e) const;
    void make_room(uint64_t bytes, const Entry& for_entry);
    void janitor();

    ModelPoolOptions options_;
    mutable std::mutex mutex_;
    std::condition_variable wake_;
    std::map<std::string, Entry, std::less<>> entries_;
    bool stop_ = false;
    std::thread janitor_;
};

}  // namespace pocket::serve
