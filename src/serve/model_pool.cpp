#include "pocket/serve/model_pool.h"

#include <algorithm>

#include "pocket/model/arch.h"

namespace pocket::serve {
namespace {

using SteadyClock = std::chrono::steady_clock;

// Models whose only use is embedding: Model2Vec tables, Hugging Face folders, encoders.
bool embedding_only(const model::ModelEntry& header) {
    if (header.format != "gguf" || header.architecture == "model2vec") return true;
    const model::ArchSpec* arch = model::find_arch(header.architecture);
    return arch != nullptr && !arch->lm_head;
}

uint64_t kv_bytes(const model::Model& m, const SchedulerOptions& s, int64_t slot_ctx) {
    const auto& hp = m.hparams();
    // The scheduler's context exists by now, so both row sizes are known to be whole blocks.
    const auto n_kv = static_cast<uint64_t>(hp.n_embd_kv());
    const uint64_t row =
        row_bytes(s.type_k, n_kv).value_or(0) + row_bytes(s.type_v, n_kv).value_or(0);
    return static_cast<uint64_t>(slot_ctx) * static_cast<uint64_t>(s.n_slots) *
           static_cast<uint64_t>(hp.n_layer) * row;
}

}  // namespace

ModelNotFound::ModelNotFound(std::string name)
    : Error(cat("model '", name, "' not found")), name_(std::move(name)) {}

const model::Model& LoadedModel::model() const {
    if (!model_) fail("model '", name_, "' is an embedding model; it does not generate");
    return *model_;
}

BatchScheduler& LoadedModel::scheduler() const {
    if (!scheduler_) fail("model '", name_, "' is an embedding model; it does not generate");
    return *scheduler_;
}

const ModelChatTemplate& LoadedModel::chat_template() const {
    if (!template_) fail("model '", name_, "' is an embedding model; it has no chat template");
    return *template_;
}

const embed::Embedder& LoadedModel::embedder() const {
    std::lock_guard lock(embedder_mutex_);
    if (!embedder_) embedder_ = embed::open_embedder(path_);
    return *embedder_;
}

ModelPool::ModelPool(ModelPoolOptions options) : options_(std::move(options)) {
    for (const ModelSpec& spec : options_.models) {
        if (entries_.contains(spec.name))
            fail("model pool: two models are named '", spec.name, "'");
        Entry e;
        e.spec = spec;
        e.loading = std::make_shared<std::mutex>();
        e.header = model::describe_model(spec.path);
        if (!e.header.error.empty()) fail("model '", spec.name, "': ", e.header.error);
        entries_.emplace(spec.name, std::move(e));
    }
    janitor_ = std::thread([this] { janitor(); });
}

ModelPool::~ModelPool() {
    {
        std::lock_guard lock(mutex_);
        stop_ = true;
    }
    wake_.notify_all();
    janitor_.join();
}

const ModelPool::Entry* ModelPool::find(std::string_view name) const {
    const auto it = entries_.find(name);
    return it == entries_.end() ? nullptr : &it->second;
}

ModelPool::Entry& ModelPool::entry(std::string_view name) {
    const auto it = entries_.find(name);
    if (it == entries_.end()) throw ModelNotFound(std::string(name));
    return it->second;
}

bool ModelPool::contains(std::string_view name) const {
    std::lock_guard lock(mutex_);
    return find(name) != nullptr;
}

bool ModelPool::unused(const Entry& e) const {
    if (!e.loaded || e.loaded.use_count() > 1) return false;
    return !e.loaded->is_generator() || e.loaded->scheduler().idle();
}

std::shared_ptr<const LoadedModel> ModelPool::load(const ModelSpec& spec) const {
    auto m = std::make_shared<LoadedModel>();
    m->name_ = spec.name;
    m->path_ = spec.path;
    m->loaded_at_ = std::chrono::system_clock::now();
    const model::ModelEntry header = model::describe_model(spec.path);
    if (embedding_only(header)) {
        if (!spec.loras.empty())
            fail("model '", spec.name,
                 "' is an embedding model: LoRA adapters apply to language "
                 "models");
        m->embedder_ = embed::open_embedder(spec.path);
        m->memory_bytes_ = header.size_bytes;
        return m;
    }
    m->model_ = model::Model::load(spec.path, options_.load);
    m->template_ = std::make_unique<ModelChatTemplate>(chat_template_for(*m->model_));
    SchedulerOptions scheduler = options_.scheduler;
    if (!spec.loras.empty()) scheduler.loras = model::load_loras(spec.loras, *m->model_);
    m->scheduler_ = std::make_unique<BatchScheduler>(*m->model_, scheduler);
    m->memory_bytes_ =
        header.size_bytes + kv_bytes(*m->model_, options_.scheduler, m->scheduler_->slot_ctx());
    return m;
}

// Unloads unused models, least recently used first, until `bytes` more fit under max_memory.
void ModelPool::make_room(uint64_t bytes, const Entry& for_entry) {
    if (options_.max_memory == 0) return;
    for (;;) {
        uint64_t used = 0;
        Entry* lru = nullptr;
        for (auto& [name, e] : entries_) {
            if (!e.loaded) continue;
            used += e.loaded->memory_bytes();
            if (&e != &for_entry && unused(e) && (!lru || e.last_used < lru->last_used)) lru = &e;
        }
        if (used + bytes <= options_.max_memory) return;
        if (!lru) {
            if (used == 0) return;  // a model larger than the limit alone still loads
            throw OutOfModelMemory(cat("model '", for_entry.spec.name, "' needs ", bytes,
                                       " bytes; ", used, " of the ", options_.max_memory,
                                       " allowed are held by models in use"));
        }
        lru->loaded.reset();
    }
}

std::shared_ptr<const LoadedModel> ModelPool::acquire(std::string_view name) {
    std::unique_lock lock(mutex_);
    Entry* e = &entry(name);
    e->last_used = SteadyClock::now();
    if (e->loaded) return e->loaded;
    const std::shared_ptr<std::mutex> loading = e->loading;
    lock.unlock();
    std::lock_guard one_load(*loading);
    lock.lock();
    e = &entry(name);
    if (e->loaded) return e->loaded;
    make_room(e->header.size_bytes, *e);
    const ModelSpec spec = e->spec;
    lock.unlock();
    std::shared_ptr<const LoadedModel> loaded = load(spec);
    lock.lock();
    e = &entry(name);
    e->loaded = loaded;
    e->last_used = SteadyClock::now();
    lock.unlock();
    wake_.notify_all();
    return loaded;
}

void ModelPool::touch(std::string_view name, std::optional<std::chrono::milliseconds> keep_alive) {
    {
        std::lock_guard lock(mutex_);
        Entry& e = entry(name);
        e.last_used = SteadyClock::now();
        if (keep_alive) e.keep_alive = keep_alive;
    }
    wake_.notify_all();
}

void ModelPool::unload(std::string_view name) {
    touch(name, std::chrono::milliseconds(0));
}

std::vector<PoolModelInfo> ModelPool::list() const {
    std::lock_guard lock(mutex_);
    std::vector<PoolModelInfo> out;
    for (const auto& [name, e] : entries_) {
        PoolModelInfo info;
        info.entry = e.header;
        info.entry.name = name;
        info.loaded = e.loaded != nullptr;
        if (e.loaded) {
            info.memory_bytes = e.loaded->memory_bytes();
            const auto keep = e.keep_alive.value_or(options_.keep_alive);
            if (keep.count() >= 0) {
                info.expires = std::chrono::system_clock::now() +
                               std::chrono::duration_cast<std::chrono::system_clock::duration>(
                                   e.last_used + keep - SteadyClock::now());
            }
        }
        out.push_back(std::move(info));
    }
    return out;
}

SchedulerStats ModelPool::stats() const {
    std::vector<std::shared_ptr<const LoadedModel>> loaded;
    {
        std::lock_guard lock(mutex_);
        for (const auto& [name, e] : entries_) {
            if (e.loaded && e.loaded->is_generator()) loaded.push_back(e.loaded);
        }
    }
    SchedulerStats total;
    for (const auto& m : loaded) {
        const SchedulerStats s = m->scheduler().stats();
        total.slots_total += s.slots_total;
        total.slots_busy += s.slots_busy;
        total.queue_depth += s.queue_depth;
        total.prompt_tokens += s.prompt_tokens;
        total.cached_tokens += s.cached_tokens;
        total.evaluated_tokens += s.evaluated_tokens;
        total.generated_tokens += s.generated_tokens;
        total.steps += s.steps;
    }
    return total;
}

void ModelPool::cancel_all() {
    std::lock_guard lock(mutex_);
    for (auto& [name, e] : entries_) {
        if (e.loaded && e.loaded->is_generator()) e.loaded->scheduler().cancel_all();
    }
}

size_t ModelPool::loaded_count() const {
    std::lock_guard lock(mutex_);
    return static_cast<size_t>(std::count_if(entries_.begin(), entries_.end(),
                                             [](const auto& kv) { return kv.second.loaded; }));
}

void ModelPool::janitor() {
    std::unique_lock lock(mutex_);
    while (!stop_) {
        const auto now = SteadyClock::now();
        std::optional<SteadyClock::time_point> next;
        bool in_use = false;
        std::vector<std::shared_ptr<const LoadedModel>> expired;
        for (auto& [name, e] : entries_) {
            if (!e.loaded) continue;
            const auto keep = e.keep_alive.value_or(options_.keep_alive);
            if (!unused(e)) {
                in_use = true;
                continue;
            }
            if (keep.count() < 0) continue;
            const auto deadline = e.last_used + keep;
            if (deadline <= now) {
                expired.push_back(std::move(e.loaded));
            } else if (!next || deadline < *next) {
                next = deadline;
            }
        }
        if (!expired.empty()) {
            // Models are destroyed (threads joined, memory unmapped) outside the lock.
            lock.unlock();
            expired.clear();
            lock.lock();
            continue;
        }
        // Models in use are checked again each second, to start their keep-alive once free;
        // otherwise the thread sleeps until the next deadline or a change.
        if (in_use) {
            const auto poll = now + std::chrono::seconds(1);
            next = next ? std::min(*next, poll) : poll;
        }
        if (next) {
            wake_.wait_until(lock, *next);
        } else {
            wake_.wait(lock);
        }
    }
}

}  // namespace pocket::serve
