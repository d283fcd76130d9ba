// Knowledge distillation: a student learns from a teacher's next-token distributions (Hinton et
// al., "Distilling the Knowledge in a Neural Network"), not only from the text's next tokens.
//
// The teacher runs once: one pass of model::Context over the training sequences writes, for every
// position, the teacher's top-K token ids and logits plus two log-masses of its distribution at
// temperature τ (the log-sum-exp over the whole vocabulary, and the log of the probability outside
// the top K) to a cache file. Students then train from the cache without loading the teacher. The
// cache's header names what it was made from (teacher file size and SHA-256, vocabulary size, K,
// τ, SHA-256 of the token sequences); TeacherCache::open refuses a cache made for another run.
//
// KD losses compare the teacher's and the student's distributions over K + 1 buckets: the
// teacher's top-K tokens one by one, and everything else lumped into one "rest" bucket (the
// teacher's tail mass, known from the cache, against the student's probability outside the same
// K ids). Merging outcomes can only lower a divergence (data processing inequality), so the
// bucketed loss is a lower bound of the full one, exact when K covers the vocabulary, and its
// minimum is still the teacher's distribution; unlike renormalising over the top K it keeps the
// student from piling mass onto tokens the teacher gives almost nothing.
#pragma once

#include <array>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <span>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "pocket/core/mapped_file.h"
#include "pocket/core/token.h"
#include "pocket/train/backprop.h"
#include "pocket/train/dataset.h"
#include "pocket/train/trainer.h"

namespace pocket::model {
class Model;
}
namespace pocket::tokenizer {
class Tokenizer;
}

namespace pocket::train {

enum class KdLoss : uint8_t {
    ForwardKl,  // KL(p_T || p_S): mean-seeking, the classic KD loss
    ReverseKl,  // KL(p_S || p_T): mode-seeking
    Jsd,        // Jensen-Shannon divergence: symmetric, bounded by log 2
};
std::string_view kd_loss_name(KdLoss loss);   // "forward-kl", "reverse-kl", "jsd"
KdLoss parse_kd_loss(std::string_view name);  // throws pocket::Error listing the names

// The teacher's rows for one sequence (views into a TeacherCache or a TeacherRows).
struct TeacherView {
    int64_t n_rows = 0;
    int64_t top_k = 0;
    float temperature = 1.0f;
    std::span<const int32_t> ids;   // n_rows x top_k, each row by descending logit
    std::span<const float> logits;  // n_rows x top_k, the teacher's logits (at temperature 1)
    std::span<const float> lse;     // n_rows: log Σ_all exp(logit / τ)
    // n_rows: log of the teacher's probability (at τ) outside the row's top K; −inf when the top
    // K is the whole vocabulary.
    std::span<const float> log_rest;
};

// Owning rows (top_k_rows below; tests).
struct TeacherRows {
    int64_t n_rows = 0, top_k = 0;
    float temperature = 1.0f;
    std::vector<int32_t> ids;
    std::vector<float> logits, lse, log_rest;
    TeacherView view() const { return {n_rows, top_k, temperature, ids, logits, lse, log_rest}; }
};

// The top-K rows of full logits (n_rows x n_vocab), computed as the cache writer does.
TeacherRows top_k_rows(std::span<const float> logits, int64_t n_rows, int64_t n_vocab,
                       int64_t top_k, float temperature);

// τ² · D(p_T^τ, p_S^τ) per row over the K + 1 buckets (see the file comment), times the row's
// weight (empty weights = 1 each; 0 = the row does not count). sum = Σ weighted values, weight =
// Σ weights; d(sum)/d(logits) is written into `dlogits` (zeros in rows that do not count). The τ²
// keeps the gradient's size independent of τ (Hinton et al.), so α mixes comparable terms.
LossValue kd_loss(std::span<const float> logits, int64_t n_rows, int64_t n_vocab,
                  const TeacherView& teacher, KdLoss kind, std::span<const float> weights,
                  std::span<float> dlogits);

struct DistillLossOptions {
    KdLoss kind = KdLoss::ForwardKl;
    float alpha = 0.5f;  // α·KD + (1 − α)·CE; α = 0 is training on the text alone
};

// α·kd_loss + (1 − α)·cross_entropy(targets) with the same row weights.
LossValue distill_loss(std::span<const float> logits, int64_t n_rows, int64_t n_vocab,
                       const TeacherView& teacher, std::span<const TokenId> targets,
                       std::span<const float> weights, const DistillLossOptions& options,
                       std::span<float> dlogits);

// What a cache was made from; a cache is used only for the run it was made for.
struct CacheKey {
    uint64_t teacher_bytes = 0;
    std::array<uint8_t, 32> teacher_sha256{};
    int64_t n_vocab = 0;
    int64_t top_k = 0;
    float temperature = 1.0f;
    std::array<uint8_t, 32> data_sha256{};  // hash_sequences of the sequences, in order
    friend bool operator==(const CacheKey&, const CacheKey&) = default;
};

// SHA-256 over the sequences' lengths and token ids (so a different cut of the same text differs).
std::array<uint8_t, 32> hash_sequences(std::span<const std::vector<TokenId>> sequences);
// The key of `teacher` (hashes its file image) for these sequences, K and τ.
CacheKey cache_key(const model::Model& teacher, std::span<const std::vector<TokenId>> sequences,
                   int64_t top_k, float temperature);

// Runs the teacher over every sequence (each from position 0, its own causal context, batched
// through model::Context) and writes the cache atomically (a temporary file, then rename).
// `progress(done, total)` is called after each sequence when given.
void write_teacher_cache(const model::Model& teacher,
                         std::span<const std::vector<TokenId>> sequences, int64_t top_k,
                         float temperature, const std::filesystem::path& path,
                         const std::function<void(size_t, size_t)>& progress = {});

class TeacherCache {
  public:
    // Maps the cache and checks it against `expected`; throws pocket::Error naming the file and
    // the first field that differs (or the damage: bad magic, version, truncated sections).
    static TeacherCache open(const std::filesystem::path& path, const CacheKey& expected);

    const CacheKey& key() const { return key_; }
    size_t n_sequences() const { return offsets_.size() - 1; }
    // The rows of sequence i (one per token of the sequence).
    TeacherView rows(size_t i) const;

  private:
    TeacherCache(MappedFile file, CacheKey key);
    MappedFile file_;
    CacheKey key_;
    std::vector<uint64_t> offsets_;  // n_sequences + 1 row offsets
    std::span<const int32_t> ids_;
    std::span<const float> logits_, lse_, log_rest_;
};

// Throws pocket::Error unless the two vocabularies are the same tokens in the same order (a
// student's logits must index the teacher's tokens), naming the first difference.
void check_same_vocabulary(const tokenizer::Tokenizer& teacher,
                           const tokenizer::Tokenizer& student);

// What the teacher reads for each example: tokens[0 .. n-1), the student's inputs (row t of both
// predicts tokens[t + 1]). These are the sequences of the cache.
std::vector<std::vector<TokenId>> teacher_inputs(const Dataset& data);

// The distillation objective for train::Trainer: distill_loss of the student (Backprop over
// `weights`) against the cached teacher rows of the example, found by the example's tokens (so
// any order or batching of the training set works; an example the cache does not hold is an
// error). evaluate() is the plain next-token cross-entropy, so held-out perplexity compares with
// a student trained on the text alone.
class DistillObjective final : public Objective {
  public:
    // `cache` must hold teacher_inputs(train) (TeacherCache::open checked that); neither it, the
    // data, the backprop nor the weights are owned.
    DistillObjective(Backprop& backprop, TrainableWeights& weights, const TeacherCache& cache,
                     const Dataset& train, DistillLossOptions options);
    std::span<Parameter> params() override;
    LossValue forward_backward(const Example& example, float grad_scale) override;
    LossValue evaluate(const Example& example) override;

  private:
    size_t find(const Example& example) const;

    Backprop& backprop_;
    TrainableWeights& weights_;
    const TeacherCache& cache_;
    const Dataset& train_;
    DistillLossOptions options_;
    std::unordered_multimap<uint64_t, size_t> index_;  // hash of the inputs -> example
    std::vector<float> logits_, dlogits_;
};

// The student against the teacher on `data`'s weighted rows: each one's next-token negative
// log-likelihood (mean per weighted target; perplexity = exp) and how often the student's most
// likely token is the teacher's (greedy tokens, lower id on ties).
struct TeacherComparison {
    double student_nll = 0.0;
    double teacher_nll = 0.0;
    double top1_agreement = 0.0;  // fraction of weighted rows
    double weight = 0.0;          // weighted rows (targets) compared
};
TeacherComparison compare_with_teacher(const model::Model& teacher, Backprop& student,
                                       const Dataset& data);

}  // namespace pocket::train
