#include "pocket/model/context.h"

#include <algorithm>
#include <cmath>
#include <memory>
#include <new>
#include <type_traits>
#include <utility>
#include <vector>

#include "kernels/attention.h"
#include "model/attention.h"
#include "model/linear.h"
#include "model/ops.h"
#include "pocket/core/error.h"
#include "pocket/core/fp16.h"
#include "pocket/core/thread_pool.h"
#include "pocket/model/matmul_observer.h"

namespace pocket::model {

namespace {

// Allocates without value-initialising: a buffer that is written before it is read needs no
// zeroes, and zeroing it would touch every page up front. Untouched, the pages cost neither
// memory nor first-touch time, so a context sized for n_batch-token passes that only ever sees
// short prompts (a chat, the first token of a request) keeps most of its scratch unmapped.
template <typename T>
struct UninitAllocator : std::allocator<T> {
    template <typename U>
    struct rebind {
        using other = UninitAllocator<U>;
    };
    UninitAllocator() = default;
    template <typename U>
    UninitAllocator(const UninitAllocator<U>&) noexcept {}
    template <typename U>
    void construct(U* p) noexcept(std::is_nothrow_default_constructible_v<U>) {
        ::new (static_cast<void*>(p)) U;
    }
    template <typename U, typename... Args>
    void construct(U* p, Args&&... args) {
        ::new (static_cast<void*>(p)) U(std::forward<Args>(args)...);
    }
};

using Buffer = std::vector<float, UninitAllocator<float>>;

}  // namespace

// Buffers sized once for the largest batch, so decoding a token allocates nothing. Every row of
// them is written by a pass before that pass reads it.
struct Context::Scratch {
    Buffer x, xn, q, k, v, attn, tmp, gate, up;
    Buffer fused;       // output of a fused qkv or gate-up projection
    Buffer out_hidden;  // normalised hidden states of the rows that want logits
    std::vector<int64_t> out_rows;
    // The batch entries the last layer keeps past its K and V: those that want outputs.
    std::vector<BatchEntry> out_batch;
    // decode()'s bookkeeping, kept so generating a token allocates nothing: eval()'s batch, and
    // each sequence of the batch with the position it expects next (batches hold few sequences).
    std::vector<BatchEntry> eval_batch;
    std::vector<std::pair<SeqId, int64_t>> next_pos;
    ActivationCache act;
    // cos/sin of the rotary angles of every token of the batch (n_rot values per token), for the
    // rope base and scale they were computed with: layers sharing those reuse them.
    Buffer rope_cs;
    float rope_cs_base = 0.0f, rope_cs_scale = 0.0f;
    bool rope_cs_valid = false;
    // Attention's per-thread tiles and the partial results of split generations.
    TiledAttention attention;
};

namespace {

// An F32 view of `rows` x `cols` values (a LoRA matrix) for linear().
TensorView f32_view(const std::vector<float>& values, int64_t rows, int64_t cols,
                    std::string name) {
    TensorView v;
    v.name = std::move(name);
    v.type = DType::F32;
    v.cols = cols;
    v.rows = rows;
    v.row_bytes = static_cast<size_t>(cols) * sizeof(float);
    v.data = reinterpret_cast<const std::byte*>(values.data());
    return v;
}

}  // namespace

// The adapters in use, arranged for the forward pass: for each (layer, projection) the pairs
// that adapt it, as F32 matrix views the ordinary linear() multiplies (A x, then B(A x)).
struct Context::Loras {
    struct Use {
        TensorView a, b;  // rank rows of n_in; n_out rows of rank
        float scale = 0.0f;
    };
    // uses[site(layer, p)]; the output projection is layer -1.
    std::vector<std::vector<Use>> uses;
    Buffer low;           // A x: rows x rank
    Buffer out;           // B(A x): rows x n_out, for `chunk(n_out)` rows at a time
    ActivationCache act;  // F32 weights read activations as they are; kept apart from Scratch's

    // Checks `loras` against the model and arranges them; null when nothing would change a logit
    // (no adapters, or only zero scales), so the base path runs untouched.
    static std::unique_ptr<Loras> make(const Model& model, const std::vector<AppliedLora>& loras,
                                       int64_t n_batch);

    static size_t site(int64_t layer, Projection p) {
        return static_cast<size_t>(layer + 1) * kProjectionCount + static_cast<size_t>(p);
    }
    bool has(int64_t layer, Projection p) const { return !uses[site(layer, p)].empty(); }
    int64_t chunk(int64_t n_out) const {
        return std::max<int64_t>(1, static_cast<int64_t>(out.size()) / n_out);
    }

    // y[t * y_stride + o] += s·(B(A x_t))[o] for every pair adapting (layer, p); x holds n rows.
    void apply(int64_t layer, Projection p, const float* x, int64_t n, float* y, int64_t y_stride,
               ThreadPool& pool) {
        for (const Use& u : uses[site(layer, p)]) {
            const int64_t n_in = u.a.cols, n_out = u.b.rows;
            const int64_t step = chunk(n_out);
            for (int64_t t0 = 0; t0 < n; t0 += step) {
                const int64_t rows = std::min(step, n - t0);
                linear(u.a, x + t0 * n_in, rows, low.data(), act, pool);
                linear(u.b, low.data(), rows, out.data(), act, pool);
                pool.parallel_for(rows, [&](int64_t begin, int64_t end) {
                    for (int64_t t = begin; t < end; ++t) {
                        float* yt = y + (t0 + t) * y_stride;
                        const float* d = &out[static_cast<size_t>(t * n_out)];
                        for (int64_t o = 0; o < n_out; ++o) yt[o] += u.scale * d[o];
                    }
                });
            }
        }
    }
};

std::unique_ptr<Context::Loras> Context::Loras::make(const Model& model,
                                                     const std::vector<AppliedLora>& loras,
                                                     int64_t n_batch) {
    for (const AppliedLora& l : loras) {
        if (!l.adapter) fail("a LoRA adapter given to the context is null");
        l.adapter->check(model);
    }
    auto r = std::make_unique<Context::Loras>();
    const HParams& hp = model.hparams();
    r->uses.resize(static_cast<size_t>(hp.n_layer + 1) * kProjectionCount);
    int64_t max_rank = 0, max_out = 0, vocab_out = 0;
    bool any = false;
    for (const AppliedLora& l : loras) {
        for (const LoraMatrix& m : l.adapter->matrices()) {
            const float scale = l.adapter->scale(m, l.scale);
            // A zero scale adds exactly nothing: skipping it keeps the base logits bit for bit
            // (and keeps NaN values of an unused adapter out of them).
            if (scale == 0.0f) continue;
            const std::string name = projection_tensor_name(m.projection, m.layer);
            r->uses[Context::Loras::site(m.layer, m.projection)].push_back(
                {f32_view(m.a, m.rank, m.n_in, name + ".lora_a"),
                 f32_view(m.b, m.n_out, m.rank, name + ".lora_b"), scale});
            max_rank = std::max(max_rank, m.rank);
            if (m.projection == Projection::Output) {
                vocab_out = std::max(vocab_out, m.n_out);
            } else {
                max_out = std::max(max_out, m.n_out);
            }
            any = true;
        }
    }
    if (!any) return nullptr;
    r->low.resize(static_cast<size_t>(n_batch * max_rank));
    // Room for a whole batch of any layer projection; the output projection's vocabulary-wide
    // rows go through it in chunks rather than growing it to n_batch x n_vocab.
    r->out.resize(static_cast<size_t>(
        std::max(n_batch * max_out, std::min<int64_t>(n_batch, 16) * vocab_out)));
    return r;
}

namespace {

int64_t default_ctx(const HParams& hp) {
    return std::min<int64_t>(hp.n_ctx_train, 4096);
}

int64_t context_size(const ContextParams& params, const HParams& hp) {
    if (params.n_ctx < 0) fail("n_ctx must be positive (or 0 for the default), got ", params.n_ctx);
    const int64_t n_ctx = params.n_ctx > 0 ? params.n_ctx : default_ctx(hp);
    if (n_ctx <= 0) fail("the model states no training context: give n_ctx explicitly");
    return n_ctx;
}

// Entries of `batch` that belong to `seq`.
int64_t batch_tokens(std::span<const BatchEntry> batch, SeqId seq) {
    return std::count_if(batch.begin(), batch.end(),
                         [&](const BatchEntry& e) { return e.seq == seq; });
}

}  // namespace

Context::Context(const Model& model, const ContextParams& params)
    : model_(model),
      params_(params),
      n_ctx_(context_size(params, model.hparams())),
      kv_(KvCacheParams{model.hparams().n_layer, model.hparams().n_embd_kv(), n_ctx_, 64,
                        params.type_k, params.type_v}),
      scratch_(std::make_unique<Scratch>()) {
    if (params_.n_batch <= 0) fail("n_batch must be positive");
    const HParams& hp = model.hparams();
    const auto nb = static_cast<size_t>(params_.n_batch);
    Scratch& s = *scratch_;
    s.x.resize(nb * hp.n_embd);
    s.xn.resize(nb * hp.n_embd);
    s.q.resize(nb * hp.n_embd_q());
    s.k.resize(nb * hp.n_embd_kv());
    s.v.resize(nb * hp.n_embd_kv());
    s.attn.resize(nb * hp.n_embd_q());
    s.tmp.resize(nb * hp.n_embd);
    s.gate.resize(nb * hp.n_ff);
    s.up.resize(nb * hp.n_ff);
    // Only architectures with fused projections need it (empty for the others).
    const ArchSpec& arch = model.arch();
    const size_t fused_qkv = arch.fused_qkv ? hp.n_embd_q() + 2 * hp.n_embd_kv() : 0;
    const size_t fused_gate_up = arch.fused_gate_up ? 2 * hp.n_ff : 0;
    s.fused.resize(nb * std::max(fused_qkv, fused_gate_up));
    s.out_hidden.resize(nb * hp.n_embd);
    s.out_rows.reserve(nb);
    s.out_batch.reserve(nb);
    s.rope_cs.resize(nb * static_cast<size_t>(std::max<int64_t>(hp.n_rot, 0)));
    s.attention.reserve(ThreadPool::global().n_threads(), hp.n_head, hp.n_head_kv, hp.head_dim);
    loras_ = Loras::make(model, params_.loras, params_.n_batch);
}

void Context::set_loras(std::vector<AppliedLora> loras) {
    std::unique_ptr<Loras> arranged = Loras::make(model_, loras, params_.n_batch);
    params_.loras = std::move(loras);
    loras_ = std::move(arranged);
}

Context::~Context() = default;

std::span<const float> Context::embedding(size_t i) const {
    if (i >= n_outputs_)
        fail("embedding(", i, ") requested but the last batch produced ", n_outputs_);
    const auto n_embd = static_cast<size_t>(model_.hparams().n_embd);
    return {embeddings_.data() + i * n_embd, n_embd};
}

std::span<const float> Context::logits(size_t i) const {
    if (!model_.arch().lm_head)
        fail(model_.arch().name, " models have no language-model head: use embeddings");
    if (i >= n_outputs_) fail("logits(", i, ") requested but the last batch produced ", n_outputs_);
    const auto n_vocab = static_cast<size_t>(model_.hparams().n_vocab);
    return {logits_.data() + i * n_vocab, n_vocab};
}

std::span<const float> Context::eval(std::span<const TokenId> tokens, SeqId seq) {
    if (tokens.empty()) fail("eval() needs at least one token");
    std::vector<BatchEntry>& batch = scratch_->eval_batch;
    batch.resize(tokens.size());
    const int64_t start = kv_.length(seq);
    for (size_t i = 0; i < tokens.size(); ++i) {
        batch[i] =
            BatchEntry{tokens[i], start + static_cast<int64_t>(i), seq, i + 1 == tokens.size()};
    }
    decode(batch);
    return logits(0);
}

void Context::decode(std::span<const BatchEntry> batch) {
    const HParams& hp = model_.hparams();
    // Validate the whole batch before touching the cache.
    auto& next_pos = scratch_->next_pos;
    next_pos.clear();
    size_t n_logits = 0;
    for (const auto& e : batch) {
        if (e.token < 0 || e.token >= hp.n_vocab) {
            fail("token id ", e.token, " is outside the vocabulary (", hp.n_vocab, " tokens)");
        }
        const TensorView& position_embd = model_.weights().position_embd;
        if (!position_embd.empty() && e.pos >= position_embd.rows) {
            fail("position ", e.pos, " is beyond the model's ", position_embd.rows,
                 " position embeddings");
        }
        auto it = std::find_if(next_pos.begin(), next_pos.end(),
                               [&](const auto& p) { return p.first == e.seq; });
        if (it == next_pos.end()) it = next_pos.insert(next_pos.end(), {e.seq, kv_.length(e.seq)});
        if (e.pos != it->second) {
            fail("sequence ", e.seq, ": position ", e.pos, " given where ", it->second,
                 " comes next");
        }
        ++it->second;
        n_logits += e.logits ? 1 : 0;
    }
    if (!model_.arch().causal) {
        // Every token of an encoder attends to its whole sequence, so a sequence must arrive
        // complete, in one pass: no continuation of cached tokens, no split across passes.
        if (static_cast<int64_t>(batch.size()) > params_.n_batch) {
            fail(model_.arch().name, " batches must fit in one pass: ", batch.size(),
                 " tokens, n_batch is ", params_.n_batch);
        }
        for (const auto& [seq, next] : next_pos) {
            if (kv_.length(seq) != 0) {
                fail(model_.arch().name, " sequence ", seq,
                     " must be evaluated whole: clear it first");
            }
        }
    }
    // Every buffer sized from n_ctx (the attention scores above all) relies on this: no sequence
    // holds more than n_ctx positions, and all of them together no more than n_ctx either.
    kv_.check_grow(next_pos);

    if (model_.arch().lm_head) logits_.resize(n_logits * static_cast<size_t>(hp.n_vocab));
    embeddings_.resize(n_logits * static_cast<size_t>(hp.n_embd));
    n_outputs_ = 0;
    try {
        for (size_t start = 0; start < batch.size();
             start += static_cast<size_t>(params_.n_batch)) {
            const size_t count =
                std::min(batch.size() - start, static_cast<size_t>(params_.n_batch));
            forward(batch.subspan(start, count));
        }
    } catch (...) {
        // Nothing above should fail once the batch is validated, but if something does, the
        // sequences go back to their lengths before the call rather than keep half a batch.
        for (const auto& [seq, next] : next_pos) {
            const int64_t before = next - batch_tokens(batch, seq);
            if (before == 0) {
                kv_.clear(seq);
            } else {
                kv_.truncate(seq, before);
            }
        }
        n_outputs_ = 0;
        throw;
    }
}

namespace {

// Copies columns [offset, offset + width) of an n x row_len matrix into a dense n x width one.
void split_columns(const float* src, int64_t n, int64_t row_len, int64_t offset, int64_t width,
                   float* dst) {
    for (int64_t t = 0; t < n; ++t) std::copy_n(src + t * row_len + offset, width, dst + t * width);
}

void add_bias(float* x, int64_t n, const TensorView& bias) {
    if (bias.empty()) return;
    const int64_t w = bias.cols;
    for (int64_t t = 0; t < n; ++t) {
        for (int64_t i = 0; i < w; ++i) x[t * w + i] += bias.f32()[i];
    }
}

// RMSNorm or LayerNorm (with its bias) of one row, as the architecture says.
void norm_row(NormKind kind, const float* x, const TensorView& weight, const TensorView& bias,
              float* y, int64_t width, float eps) {
    if (kind == NormKind::Layer) {
        ops::layer_norm(x, weight.f32(), bias.empty() ? nullptr : bias.f32(), y, width, eps);
    } else {
        ops::rms_norm(x, weight.f32(), y, width, eps);
    }
}

// The same for n rows.
void norm_rows(NormKind kind, const float* x, const TensorView& weight, const TensorView& bias,
               float* y, int64_t n, int64_t width, float eps) {
    // Rows are independent; one row (generation) is too little work to hand to the pool.
    ThreadPool::global().parallel_for(n, [&](int64_t begin, int64_t end) {
        for (int64_t t = begin; t < end; ++t)
            norm_row(kind, x + t * width, weight, bias, y + t * width, width, eps);
    });
}

void add_rows(float* x, const float* y, int64_t count) {
    for (int64_t i = 0; i < count; ++i) x[i] += y[i];
}

// The weights that close a sub-layer (attention or FFN).
struct SublayerEnd {
    const TensorView& bias;      // of the output projection (optional)
    const TensorView& out_norm;  // gemma2/3's norm of the sub-layer output (optional)
    const TensorView& norm;      // post-norm blocks (bert): the norm after the residual add
    const TensorView& norm_b;

    static SublayerEnd attention(const LayerWeights& L) {
        return {L.bo, L.post_attn_norm, L.attn_norm, L.attn_norm_b};
    }
    static SublayerEnd ffn(const LayerWeights& L) {
        return {L.b_down, L.post_ffn_norm, L.ffn_norm, L.ffn_norm_b};
    }
};

// Adds one row of a sub-layer's output `out` into the residual stream row `x`: bias and optional
// output norm first; then pre-norm blocks add it to x, post-norm blocks normalise out + x back
// into x.
void close_row(const ArchSpec& arch, const SublayerEnd& end, float* out, float* x, int64_t width,
               float eps) {
    if (!end.bias.empty()) add_rows(out, end.bias.f32(), width);
    if (!end.out_norm.empty()) norm_row(arch.norm, out, end.out_norm, {}, out, width, eps);
    if (arch.post_norm) {
        add_rows(out, x, width);
        norm_row(arch.norm, out, end.norm, end.norm_b, x, width, eps);
    } else {
        add_rows(x, out, width);
    }
}

// The step between two sub-layers, in one parallel region over the tokens (each row is
// independent): close the previous sub-layer into the residual stream x (when `close` is given:
// its output rows are `out`), normalise x into xn for the next one (pre-norm blocks; post-norm
// blocks read x itself), and convert those rows into the activation cache for `first`, the first
// matrix that reads them. Returns the rows the sub-layer reads.
struct SublayerStart {
    const SublayerEnd* close = nullptr;
    float* out = nullptr;
    const TensorView* norm = nullptr;  // the pre-norm (unused by post-norm blocks)
    const TensorView* norm_b = nullptr;
    const TensorView* first = nullptr;
};

const float* start_sublayer(const ArchSpec& arch, const SublayerStart& step, float* x, float* xn,
                            int64_t n, int64_t width, float eps, ActivationCache& cache,
                            ThreadPool& pool) {
    const float* in = arch.post_norm ? x : xn;
    cache.begin_fill(*step.first, in, n);
    pool.parallel_for(n, [&](int64_t begin, int64_t end) {
        for (int64_t t = begin; t < end; ++t) {
            float* row = x + t * width;
            if (step.close != nullptr)
                close_row(arch, *step.close, step.out + t * width, row, width, eps);
            if (!arch.post_norm)
                norm_row(arch.norm, row, *step.norm, *step.norm_b, xn + t * width, width, eps);
            cache.fill_row(t);
        }
    });
    return in;
}

}  // namespace

int64_t Context::keep_output_rows(std::span<const BatchEntry> batch, int64_t n_q, int64_t n_embd) {
    Scratch& s = *scratch_;
    s.out_batch.clear();
    for (size_t t = 0; t < batch.size(); ++t) {
        if (!batch[t].logits) continue;
        const size_t row = s.out_batch.size();
        if (row != t) {  // row < t: a forward copy never overwrites a row still to move
            std::copy_n(&s.q[t * n_q], n_q, &s.q[row * n_q]);
            std::copy_n(&s.x[t * n_embd], n_embd, &s.x[row * n_embd]);
        }
        s.out_batch.push_back(batch[t]);
    }
    return std::ssize(s.out_batch);
}

void Context::forward(std::span<const BatchEntry> batch) {
    const HParams& hp = model_.hparams();
    const ArchSpec& arch = model_.arch();
    const Weights& w = model_.weights();
    Scratch& s = *scratch_;
    ThreadPool& pool = ThreadPool::global();
    auto n = static_cast<int64_t>(batch.size());  // shrinks to the output rows in the last layer
    const int64_t n_embd = hp.n_embd, n_q = hp.n_embd_q(), n_kv = hp.n_embd_kv(), hd = hp.head_dim;
    const bool neox = arch.rope == RopeStyle::Neox;
    const float* freq_factors = w.rope_freqs.empty() ? nullptr : w.rope_freqs.f32();
    // With scale_q the factor is applied to Q itself and the scores are used as they are.
    const float kq_scale = arch.scale_q ? 1.0f : hp.attn_scale;
    Loras* const lora = loras_.get();  // null without adapters: one test per projection

    for (const auto& e : batch) kv_.grow(e.seq, e.pos + 1);
    for (int64_t t = 0; t < n; ++t) {
        float* x = &s.x[t * n_embd];
        dequantize_row(w.token_embd, batch[t].token, x);
        if (!w.token_types.empty()) {  // every token is of type 0 ("sentence A")
            dequantize_row(w.token_types, 0, s.tmp.data());
            add_rows(x, s.tmp.data(), n_embd);
        }
        if (!w.position_embd.empty()) {
            if (batch[t].pos >= w.position_embd.rows) {
                fail("position ", batch[t].pos, " is beyond the model's ", w.position_embd.rows,
                     " position embeddings");
            }
            dequantize_row(w.position_embd, batch[t].pos, s.tmp.data());
            add_rows(x, s.tmp.data(), n_embd);
        }
    }
    if (arch.embed_scale) {
        const float scale = std::sqrt(static_cast<float>(n_embd));
        for (int64_t i = 0; i < n * n_embd; ++i) s.x[i] *= scale;
    }
    if (arch.embed_norm)
        norm_rows(arch.norm, s.x.data(), w.embd_norm, w.embd_norm_b, s.x.data(), n, n_embd,
                  hp.norm_eps);

    const bool rope = arch.rope != RopeStyle::None && hp.n_rot > 0;
    const kernels::AttentionOps& attn = kernels::attention_ops();
    const auto observe = [&](const TensorView& weight, const float* x, int64_t rows) {
        if (observer_ != nullptr && !weight.empty()) observer_->observe(weight, x, rows);
    };
    s.rope_cs_valid = false;  // new positions
    for (int64_t il = 0; il < hp.n_layer; ++il) {
        const LayerWeights& L = w.layers[static_cast<size_t>(il)];
        const bool sliding = hp.is_sliding_layer(arch, il);
        // gemma3's local layers rotate with their own base and without the global scaling.
        const bool local_rope = sliding && arch.local_rope_base > 0.0f;
        const float rope_base = local_rope ? arch.local_rope_base : hp.rope_freq_base;
        const float rope_scale = local_rope ? 1.0f : hp.rope_freq_scale;

        // ---- attention ----
        // The previous layer's FFN closes here, in the same region as this norm.
        const SublayerEnd prev_ffn =
            SublayerEnd::ffn(il > 0 ? w.layers[static_cast<size_t>(il - 1)] : L);
        const float* attn_in =
            start_sublayer(arch,
                           {.close = il > 0 ? &prev_ffn : nullptr,
                            .out = s.tmp.data(),
                            .norm = &L.attn_norm,
                            .norm_b = &L.attn_norm_b,
                            .first = arch.fused_qkv ? &L.wqkv : &L.wq},
                           s.x.data(), s.xn.data(), n, n_embd, hp.norm_eps, s.act, pool);
        if (arch.fused_qkv) {
            observe(L.wqkv, attn_in, n);
            linear(L.wqkv, attn_in, n, s.fused.data(), s.act, pool);
            const int64_t row = n_q + 2 * n_kv;
            if (lora) lora->apply(il, Projection::QKV, attn_in, n, s.fused.data(), row, pool);
            split_columns(s.fused.data(), n, row, 0, n_q, s.q.data());
            split_columns(s.fused.data(), n, row, n_q, n_kv, s.k.data());
            split_columns(s.fused.data(), n, row, n_q + n_kv, n_kv, s.v.data());
            add_bias(s.q.data(), n, L.bq);
            add_bias(s.k.data(), n, L.bk);
            add_bias(s.v.data(), n, L.bv);
        } else {
            // One parallel region for the three projections and their biases. K comes first: with
            // the rows split in halves, each of two threads then starts one matrix and finishes
            // another. In the order Q, K, V one thread ran three kernel calls and the other one;
            // K first made a 32-token prompt 4 % faster (docs/BENCHMARKS.md).
            const LinearPart qkv[] = {
                {&L.wk, s.k.data(), &L.bk}, {&L.wq, s.q.data(), &L.bq}, {&L.wv, s.v.data(), &L.bv}};
            for (const LinearPart& part : qkv) observe(*part.w, attn_in, n);
            linear_fused(qkv, attn_in, n, s.act, pool);
            if (lora) {
                lora->apply(il, Projection::Q, attn_in, n, s.q.data(), n_q, pool);
                lora->apply(il, Projection::K, attn_in, n, s.k.data(), n_kv, pool);
                lora->apply(il, Projection::V, attn_in, n, s.v.data(), n_kv, pool);
            }
        }
        // The rotary angles depend on the position only: computed once per token, and again only
        // for a layer whose base or scale differs (gemma3's local layers).
        const int64_t n_rot = hp.n_rot;
        if (rope &&
            !(s.rope_cs_valid && s.rope_cs_base == rope_base && s.rope_cs_scale == rope_scale)) {
            pool.parallel_for(n, [&](int64_t begin, int64_t end) {
                for (int64_t t = begin; t < end; ++t) {
                    ops::rope_angles(n_rot, batch[t].pos, rope_base, rope_scale, freq_factors,
                                     &s.rope_cs[t * n_rot]);
                }
            });
            s.rope_cs_valid = true;
            s.rope_cs_base = rope_base;
            s.rope_cs_scale = rope_scale;
        }
        pool.parallel_for(n, [&](int64_t begin, int64_t end) {
            for (int64_t t = begin; t < end; ++t) {
                const float* cs = rope ? &s.rope_cs[t * n_rot] : nullptr;
                for (int64_t h = 0; h < hp.n_head; ++h) {
                    float* q = &s.q[t * n_q + h * hd];
                    if (!L.q_norm.empty()) ops::rms_norm(q, L.q_norm.f32(), q, hd, hp.norm_eps);
                    if (rope) ops::rope_rotate(q, n_rot, cs, neox);
                    if (arch.scale_q) {
                        for (int64_t d = 0; d < hd; ++d) q[d] *= hp.attn_scale;
                    }
                }
                for (int64_t h = 0; h < hp.n_head_kv; ++h) {
                    float* k = &s.k[t * n_kv + h * hd];
                    if (!L.k_norm.empty()) ops::rms_norm(k, L.k_norm.f32(), k, hd, hp.norm_eps);
                    if (rope) ops::rope_rotate(k, n_rot, cs, neox);
                }
                // Rounded to F16 or quantized to the cache's types, once, as the row is written.
                const auto row = static_cast<size_t>(n_kv);
                kv_.store_key(il, batch[t].seq, batch[t].pos, {&s.k[t * n_kv], row});
                kv_.store_value(il, batch[t].seq, batch[t].pos, {&s.v[t * n_kv], row});
            }
        });

        // Past its K and V, the last layer serves only the rows that ask for outputs (llama.cpp
        // skips the others' feed-forward; here their attention and output projection too): their
        // queries and residual rows move to the front. A micro-batch without outputs ends here.
        // An observer (importance statistics) sees every row, so it keeps them all.
        if (il + 1 == hp.n_layer && observer_ == nullptr) {
            n = keep_output_rows(batch, n_q, n_embd);
            batch = s.out_batch;
            if (n == 0) break;
        }

        // Tiled attention with an online softmax (model/attention.h): K/V tiles read once for
        // a block of tokens and their GQA group, the KV range of a generation shared by the
        // threads. Rows ending within the first TiledAttention::kExactEnd positions keep
        // llama.cpp's exact order (the reference logits need it; see attention.h).
        const AttentionLayer layer{.kv = &kv_,
                                   .layer = il,
                                   .n_head = hp.n_head,
                                   .n_head_kv = hp.n_head_kv,
                                   .head_dim = hd,
                                   .scale = kq_scale,
                                   .softcap = hp.attn_softcap,
                                   .window = sliding ? hp.sliding_window : 0,
                                   .causal = arch.causal};
        s.attention.run(attn, pool, layer, batch, s.q.data(), s.attn.data());
        s.act.invalidate();
        observe(L.wo, s.attn.data(), n);
        linear(L.wo, s.attn.data(), n, s.tmp.data(), s.act, pool);
        if (lora) lora->apply(il, Projection::O, s.attn.data(), n, s.tmp.data(), n_embd, pool);

        // ---- feed-forward ----
        const SublayerEnd attn_end = SublayerEnd::attention(L);
        const bool ffn_up_first = arch.ffn == FfnKind::Gelu || arch.fused_gate_up;
        const float* ffn_in =
            start_sublayer(arch,
                           {.close = &attn_end,
                            .out = s.tmp.data(),
                            .norm = &L.ffn_norm,
                            .norm_b = &L.ffn_norm_b,
                            .first = ffn_up_first ? &L.w_up : &L.w_gate},
                           s.x.data(), s.xn.data(), n, n_embd, hp.norm_eps, s.act, pool);
        const int64_t n_ff = hp.n_ff;
        if (arch.ffn == FfnKind::Gelu) {
            observe(L.w_up, ffn_in, n);
            linear(L.w_up, ffn_in, n, s.gate.data(), s.act, pool);
            if (lora) lora->apply(il, Projection::Up, ffn_in, n, s.gate.data(), n_ff, pool);
            add_bias(s.gate.data(), n, L.b_up);
            pool.parallel_for(n, [&](int64_t begin, int64_t end) {
                attn.gelu_mul(&s.gate[begin * n_ff], nullptr, (end - begin) * n_ff);
            });
        } else if (arch.ffn == FfnKind::SwiGlu && !arch.fused_gate_up &&
                   !(lora && (lora->has(il, Projection::Gate) || lora->has(il, Projection::Up)))) {
            // gate, up and silu(gate) * up in one parallel region (adapters on gate or up must
            // add their part before silu, so they take the path below).
            observe(L.w_gate, ffn_in, n);
            observe(L.w_up, ffn_in, n);
            linear_swiglu(L.w_gate, L.w_up, ffn_in, n, s.gate.data(), s.up.data(), s.act, pool);
        } else {
            if (arch.fused_gate_up) {
                observe(L.w_up, ffn_in, n);
                linear(L.w_up, ffn_in, n, s.fused.data(), s.act, pool);
                if (lora)
                    lora->apply(il, Projection::Up, ffn_in, n, s.fused.data(), 2 * n_ff, pool);
                split_columns(s.fused.data(), n, 2 * n_ff, 0, n_ff, s.gate.data());
                split_columns(s.fused.data(), n, 2 * n_ff, n_ff, n_ff, s.up.data());
            } else {
                const LinearPart gate_up[] = {{&L.w_gate, s.gate.data(), nullptr},
                                              {&L.w_up, s.up.data(), nullptr}};
                for (const LinearPart& part : gate_up) observe(*part.w, ffn_in, n);
                linear_fused(gate_up, ffn_in, n, s.act, pool);
                if (lora) {
                    lora->apply(il, Projection::Gate, ffn_in, n, s.gate.data(), n_ff, pool);
                    lora->apply(il, Projection::Up, ffn_in, n, s.up.data(), n_ff, pool);
                }
            }
            if (arch.ffn == FfnKind::GeluGlu) {
                pool.parallel_for(n, [&](int64_t begin, int64_t end) {
                    attn.gelu_mul(&s.gate[begin * n_ff], &s.up[begin * n_ff], (end - begin) * n_ff);
                });
            } else {
                pool.parallel_for(n, [&](int64_t begin, int64_t end) {
                    for (int64_t t = begin; t < end; ++t)
                        attn.silu_mul(&s.gate[t * n_ff], &s.up[t * n_ff], n_ff);
                });
            }
        }
        s.act.invalidate();
        observe(L.w_down, s.gate.data(), n);
        linear(L.w_down, s.gate.data(), n, s.tmp.data(), s.act, pool);
        if (lora) lora->apply(il, Projection::Down, s.gate.data(), n, s.tmp.data(), n_embd, pool);
        // The FFN closes at the next layer's norm, or just below after the last layer.
    }
    // Only the rows that asked for outputs read the last layer's result.
    const bool any_output =
        std::any_of(batch.begin(), batch.end(), [](const BatchEntry& e) { return e.logits; });
    if (hp.n_layer > 0 && any_output) {
        const SublayerEnd last_ffn = SublayerEnd::ffn(w.layers.back());
        pool.parallel_for(n, [&](int64_t begin, int64_t end) {
            for (int64_t t = begin; t < end; ++t) {
                if (!batch[static_cast<size_t>(t)].logits) continue;
                close_row(arch, last_ffn, &s.tmp[t * n_embd], &s.x[t * n_embd], n_embd,
                          hp.norm_eps);
            }
        });
    }

    // ---- outputs, only for the rows that asked: final hidden states, then logits ----
    s.out_rows.clear();
    for (int64_t t = 0; t < n; ++t) {
        if (!batch[t].logits) continue;
        const auto row = static_cast<int64_t>(s.out_rows.size());
        float* hidden = &s.out_hidden[row * n_embd];
        if (w.output_norm.empty()) {
            std::copy_n(&s.x[t * n_embd], n_embd, hidden);
        } else {
            norm_rows(arch.norm, &s.x[t * n_embd], w.output_norm, {}, hidden, 1, n_embd,
                      hp.norm_eps);
        }
        s.out_rows.push_back(t);
    }
    if (s.out_rows.empty()) return;
    const auto n_out = static_cast<int64_t>(s.out_rows.size());
    std::copy_n(s.out_hidden.data(), n_out * n_embd, embeddings_.data() + n_outputs_ * n_embd);
    if (arch.lm_head) {
        float* out = logits_.data() + n_outputs_ * hp.n_vocab;
        s.act.invalidate();
        observe(w.output, s.out_hidden.data(), n_out);
        linear(w.output, s.out_hidden.data(), n_out, out, s.act, pool);
        if (lora)
            lora->apply(-1, Projection::Output, s.out_hidden.data(), n_out, out, hp.n_vocab, pool);
        if (hp.final_softcap > 0.0f) {
            // A tanh per logit: Gemma 2's 256k vocabulary takes milliseconds on one thread.
            pool.parallel_for(n_out * hp.n_vocab, [&](int64_t begin, int64_t end) {
                for (int64_t i = begin; i < end; ++i)
                    out[i] = ops::softcap(out[i], hp.final_softcap);
            });
        }
    }
    n_outputs_ += static_cast<size_t>(n_out);
}

}  // namespace pocket::model
