// An evaluation context: a KV cache plus scratch buffers for one model. decode() runs the
// forward pass over a batch of tokens that may belong to several sequences (continuous
// batching), appending their keys and values to the cache and producing logits where asked.
// Not thread-safe: one context per thread of control; the work inside decode() is parallel.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <vector>

#include "pocket/core/token.h"
#include "pocket/model/kv_cache.h"
#include "pocket/model/lora.h"
#include "pocket/model/model.h"

namespace pocket {
class ThreadPool;
}

namespace pocket::model {

class MatmulObserver;

struct ContextParams {
    // Positions in the KV cache over all sequences, exactly (also the longest a sequence can be);
    // 0 = min(train ctx, 4096).
    int64_t n_ctx = 0;
    int64_t n_batch =
        512;  // largest number of tokens evaluated in one pass (longer batches are split)
    // How the KV cache stores keys and values: F16, Q8_0 or Q4_0 (kv_cache_type_from_name reads
    // llama.cpp's names). Q8_0 halves the cache (34 bytes per 32 values instead of 64), Q4_0
    // takes 28 %; the accuracy cost is measured in docs/BENCHMARKS.md.
    DType type_k = DType::F16;
    DType type_v = DType::F16;
    // LoRA adapters applied by every decode() without merging them: each adapted matrix computes
    // W x + s·B(A x) (see lora.h for s). Checked against the model when the context is made.
    // Empty: the base model, on exactly the path it takes without adapters.
    std::vector<AppliedLora> loras = {};
};

struct BatchEntry {
    TokenId token = 0;
    int64_t pos = 0;  // must continue the sequence: kv.length(seq), then +1 for each later entry
    SeqId seq = 0;
    bool logits = false;  // produce outputs for this entry: logits and its final hidden state
};

class Context {
  public:
    Context(const Model& model, const ContextParams& params = {});
    ~Context();
    Context(const Context&) = delete;
    Context& operator=(const Context&) = delete;

    // Evaluates the batch. On error (bad token, position gap, a sequence that would hold more
    // than n_ctx positions, full cache) throws and leaves the cache as it was before the call.
    void decode(std::span<const BatchEntry> batch);

    // Logits of the i-th entry of the last batch that had logits == true (n_vocab values).
    std::span<const float> logits(size_t i) const;
    // Final hidden state (after the output norm, if the model has one) of the i-th output entry:
    // token embeddings for encoders, the input of the LM head for decoders.
    std::span<const float> embedding(size_t i) const;
    size_t n_outputs() const { return n_outputs_; }

    // Appends `tokens` to sequence `seq` and returns the logits of the last one.
    std::span<const float> eval(std::span<const TokenId> tokens, SeqId seq = 0);

    KvCache& kv() { return kv_; }
    const KvCache& kv() const { return kv_; }
    const Model& model() const { return model_; }
    int64_t n_ctx() const { return n_ctx_; }

    // Replaces the adapters (ContextParams::loras); throws pocket::Error, changing nothing, when
    // one does not fit the model. Keys and values already in the cache were computed with the
    // adapters before: clear the sequences that must not mix the two.
    void set_loras(std::vector<AppliedLora> loras);
    const std::vector<AppliedLora>& loras() const { return params_.loras; }

    // Shows every weight-matrix input of later decode() calls to `observer` (not owned; it must
    // outlive its use here). nullptr stops it.
    void set_matmul_observer(MatmulObserver* observer) { observer_ = observer; }

  private:
    struct Scratch;
    struct Loras;
    void forward(std::span<const BatchEntry> batch);
    // Moves the query and residual rows of the entries that want outputs to the front of the
    // scratch buffers and lists those entries in it; returns how many there are.
    int64_t keep_output_rows(std::span<const BatchEntry> batch, int64_t n_q, int64_t n_embd);

    const Model& model_;
    ContextParams params_;
    int64_t n_ctx_;
    KvCache kv_;
    std::unique_ptr<Scratch> scratch_;
    std::unique_ptr<Loras> loras_;  // null without adapters
    std::vector<float> logits_;
    std::vector<float> embeddings_;
    size_t n_outputs_ = 0;
    MatmulObserver* observer_ = nullptr;
};

}  // namespace pocket::model
