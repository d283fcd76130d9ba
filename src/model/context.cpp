#include "pocket/model/context.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <unordered_map>

#include "model/linear.h"
#include "model/ops.h"
#include "pocket/core/error.h"
#include "pocket/core/fp16.h"
#include "pocket/core/thread_pool.h"

namespace pocket::model {

// Buffers sized once for the largest batch, so decoding a token allocates nothing.
struct Context::Scratch {
    std::vector<float> x, xn, q, k, v, attn, tmp, gate, up;
    std::vector<float> fused;  // output of a fused qkv or gate-up projection
    std::vector<float> out_hidden;  // normalised hidden states of the rows that want logits
    std::vector<int64_t> out_rows;
    ActivationCache act;
    // Per-thread attention workspace: scores over the context, F16 query, F32 accumulator.
    struct alignas(64) ThreadSpace {
        std::vector<float> scores;
        std::vector<f16_t> q16;
        std::vector<float> acc;    // head_dim x 16 lanes for the probability-weighted values
    };
    std::vector<ThreadSpace> threads;
};

namespace {

int64_t default_ctx(const HParams& hp) { return std::min<int64_t>(hp.n_ctx_train, 4096); }

}  // namespace

Context::Context(const Model& model, const ContextParams& params)
    : model_(model),
      params_(params),
      n_ctx_(params.n_ctx > 0 ? params.n_ctx : default_ctx(model.hparams())),
      kv_(KvCacheParams{model.hparams().n_layer, model.hparams().n_embd_kv(), n_ctx_, 64}),
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
    s.fused.resize(nb * std::max(hp.n_embd_q() + 2 * hp.n_embd_kv(), 2 * hp.n_ff));
    s.out_hidden.resize(nb * hp.n_embd);
    s.out_rows.reserve(nb);
    s.threads.resize(static_cast<size_t>(ThreadPool::global().n_threads()));
    for (auto& t : s.threads) {
        t.scores.resize(static_cast<size_t>(n_ctx_));
        t.q16.resize(static_cast<size_t>(hp.head_dim));
        t.acc.resize(static_cast<size_t>(hp.head_dim) * 16);
    }
}

Context::~Context() = default;

std::span<const float> Context::embedding(size_t i) const {
    if (i >= n_outputs_) fail("embedding(", i, ") requested but the last batch produced ", n_outputs_);
    const auto n_embd = static_cast<size_t>(model_.hparams().n_embd);
    return {embeddings_.data() + i * n_embd, n_embd};
}

std::span<const float> Context::logits(size_t i) const {
    if (!model_.arch().lm_head) fail(model_.arch().name, " models have no language-model head: use embeddings");
    if (i >= n_outputs_) fail("logits(", i, ") requested but the last batch produced ", n_outputs_);
    const auto n_vocab = static_cast<size_t>(model_.hparams().n_vocab);
    return {logits_.data() + i * n_vocab, n_vocab};
}

std::span<const float> Context::eval(std::span<const TokenId> tokens, SeqId seq) {
    if (tokens.empty()) fail("eval() needs at least one token");
    std::vector<BatchEntry> batch(tokens.size());
    const int64_t start = kv_.length(seq);
    for (size_t i = 0; i < tokens.size(); ++i) {
        batch[i] = BatchEntry{tokens[i], start + static_cast<int64_t>(i), seq, i + 1 == tokens.size()};
    }
    decode(batch);
    return logits(0);
}

void Context::decode(std::span<const BatchEntry> batch) {
    const HParams& hp = model_.hparams();
    // Validate the whole batch before touching the cache.
    std::unordered_map<SeqId, int64_t> next_pos;
    size_t n_logits = 0;
    for (const auto& e : batch) {
        if (e.token < 0 || e.token >= hp.n_vocab) {
            fail("token id ", e.token, " is outside the vocabulary (", hp.n_vocab, " tokens)");
        }
        auto [it, inserted] = next_pos.try_emplace(e.seq, kv_.length(e.seq));
        if (e.pos != it->second) {
            fail("sequence ", e.seq, ": position ", e.pos, " given where ", it->second, " comes next");
        }
        ++it->second;
        n_logits += e.logits ? 1 : 0;
    }
    int64_t extra = 0;
    for (const auto& [seq, next] : next_pos) {
        const int64_t page = kv_.params().page_tokens;
        const int64_t pages_now = (kv_.length(seq) + page - 1) / page;
        const int64_t pages_then = (next + page - 1) / page;
        extra += (pages_then - pages_now) * page;
    }
    if (extra > kv_.free_positions()) {
        fail("context is full: the batch needs ", extra, " more positions, ", kv_.free_positions(),
             " are free (raise the context size)");
    }

    if (model_.arch().lm_head) logits_.resize(n_logits * static_cast<size_t>(hp.n_vocab));
    embeddings_.resize(n_logits * static_cast<size_t>(hp.n_embd));
    n_outputs_ = 0;
    for (size_t start = 0; start < batch.size(); start += static_cast<size_t>(params_.n_batch)) {
        const size_t count = std::min(batch.size() - start, static_cast<size_t>(params_.n_batch));
        forward(batch.subspan(start, count));
    }
}

namespace {

// Copies columns [offset, offset + width) of an n x row_len matrix into a dense n x width one.
void split_columns(const float* src, int64_t n, int64_t row_len, int64_t offset, int64_t width, float* dst) {
    for (int64_t t = 0; t < n; ++t) std::copy_n(src + t * row_len + offset, width, dst + t * width);
}

void add_bias(float* x, int64_t n, const TensorView& bias) {
    if (bias.empty()) return;
    const int64_t w = bias.cols;
    for (int64_t t = 0; t < n; ++t) {
        for (int64_t i = 0; i < w; ++i) x[t * w + i] += bias.f32()[i];
    }
}

// RMSNorm or LayerNorm (with its bias) of n rows, as the architecture says.
void norm_rows(NormKind kind, const float* x, const TensorView& weight, const TensorView& bias, float* y,
               int64_t n, int64_t width, float eps) {
    for (int64_t t = 0; t < n; ++t) {
        if (kind == NormKind::Layer) {
            ops::layer_norm(x + t * width, weight.f32(), bias.empty() ? nullptr : bias.f32(), y + t * width,
                            width, eps);
        } else {
            ops::rms_norm(x + t * width, weight.f32(), y + t * width, width, eps);
        }
    }
}

void add_rows(float* x, const float* y, int64_t count) {
    for (int64_t i = 0; i < count; ++i) x[i] += y[i];
}

}  // namespace

void Context::forward(std::span<const BatchEntry> batch) {
    const HParams& hp = model_.hparams();
    const ArchSpec& arch = model_.arch();
    const Weights& w = model_.weights();
    Scratch& s = *scratch_;
    ThreadPool& pool = ThreadPool::global();
    const auto n = static_cast<int64_t>(batch.size());
    const int64_t n_embd = hp.n_embd, n_q = hp.n_embd_q(), n_kv = hp.n_embd_kv(), hd = hp.head_dim;
    const bool neox = arch.rope == RopeStyle::Neox;
    const float* freq_factors = w.rope_freqs.empty() ? nullptr : w.rope_freqs.f32();
    // With scale_q the factor is applied to Q itself and the scores are used as they are.
    const float kq_scale = arch.scale_q ? 1.0f : hp.attn_scale;

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
                fail("position ", batch[t].pos, " is beyond the model's ", w.position_embd.rows, " position embeddings");
            }
            dequantize_row(w.position_embd, batch[t].pos, s.tmp.data());
            add_rows(x, s.tmp.data(), n_embd);
        }
    }
    if (arch.embed_scale) {
        const float scale = std::sqrt(static_cast<float>(n_embd));
        for (int64_t i = 0; i < n * n_embd; ++i) s.x[i] *= scale;
    }
    if (arch.embed_norm) norm_rows(arch.norm, s.x.data(), w.embd_norm, w.embd_norm_b, s.x.data(), n, n_embd, hp.norm_eps);

    const bool rope = arch.rope != RopeStyle::None && hp.n_rot > 0;
    for (int64_t il = 0; il < hp.n_layer; ++il) {
        const LayerWeights& L = w.layers[static_cast<size_t>(il)];
        const bool sliding = hp.is_sliding_layer(arch, il);
        // gemma3's local layers rotate with their own base and without the global scaling.
        const bool local_rope = sliding && arch.local_rope_base > 0.0f;
        const float rope_base = local_rope ? arch.local_rope_base : hp.rope_freq_base;
        const float rope_scale = local_rope ? 1.0f : hp.rope_freq_scale;

        // ---- attention ----
        // Pre-norm blocks read the normalised stream; post-norm blocks (bert) the raw one.
        const float* attn_in = s.x.data();
        if (!arch.post_norm) {
            norm_rows(arch.norm, s.x.data(), L.attn_norm, L.attn_norm_b, s.xn.data(), n, n_embd, hp.norm_eps);
            attn_in = s.xn.data();
        }
        s.act.invalidate();
        if (arch.fused_qkv) {
            linear(L.wqkv, attn_in, n, s.fused.data(), s.act, pool);
            const int64_t row = n_q + 2 * n_kv;
            split_columns(s.fused.data(), n, row, 0, n_q, s.q.data());
            split_columns(s.fused.data(), n, row, n_q, n_kv, s.k.data());
            split_columns(s.fused.data(), n, row, n_q + n_kv, n_kv, s.v.data());
        } else {
            linear(L.wq, attn_in, n, s.q.data(), s.act, pool);
            linear(L.wk, attn_in, n, s.k.data(), s.act, pool);
            linear(L.wv, attn_in, n, s.v.data(), s.act, pool);
        }
        add_bias(s.q.data(), n, L.bq);
        add_bias(s.k.data(), n, L.bk);
        add_bias(s.v.data(), n, L.bv);
        for (int64_t t = 0; t < n; ++t) {
            for (int64_t h = 0; h < hp.n_head; ++h) {
                float* q = &s.q[t * n_q + h * hd];
                if (!L.q_norm.empty()) ops::rms_norm(q, L.q_norm.f32(), q, hd, hp.norm_eps);
                if (rope) ops::rope(q, hp.n_rot, batch[t].pos, rope_base, rope_scale, freq_factors, neox);
                if (arch.scale_q) {
                    for (int64_t d = 0; d < hd; ++d) q[d] *= hp.attn_scale;
                }
            }
            for (int64_t h = 0; h < hp.n_head_kv; ++h) {
                float* k = &s.k[t * n_kv + h * hd];
                if (!L.k_norm.empty()) ops::rms_norm(k, L.k_norm.f32(), k, hd, hp.norm_eps);
                if (rope) ops::rope(k, hp.n_rot, batch[t].pos, rope_base, rope_scale, freq_factors, neox);
            }
            f16_t* kc = kv_.key(il, batch[t].seq, batch[t].pos);
            f16_t* vc = kv_.value(il, batch[t].seq, batch[t].pos);
            for (int64_t i = 0; i < n_kv; ++i) {
                kc[i] = f32_to_f16(s.k[t * n_kv + i]);
                vc[i] = f32_to_f16(s.v[t * n_kv + i]);
            }
        }

        // Scores against the F16 cache with the query rounded to F16, softmax in F32, the
        // probabilities rounded to F16 before weighting the values: llama.cpp's numerics.
        const int64_t window = sliding ? hp.sliding_window : 0;
        const int64_t n_tasks = n * hp.n_head;
        const int64_t n_gqa = hp.n_gqa();
        pool.run_on_all([&](int thread, int n_threads) {
            auto& ws = s.threads[static_cast<size_t>(thread)];
            const int64_t begin = n_tasks * thread / n_threads;
            const int64_t end = n_tasks * (thread + 1) / n_threads;
            for (int64_t task = begin; task < end; ++task) {
                const int64_t t = task / hp.n_head, h = task % hp.n_head;
                const int64_t kvh = h / n_gqa;
                const BatchEntry& e = batch[t];
                const float* q = &s.q[t * n_q + h * hd];
                for (int64_t d = 0; d < hd; ++d) ws.q16[d] = f32_to_f16(q[d]);
                // Causal: positions up to the token's own; otherwise the whole sequence.
                const int64_t n_pos = arch.causal ? e.pos + 1 : kv_.length(e.seq);
                // A sliding-window layer sees the positions p with e.pos - p < window.
                const int64_t first = window > 0 ? std::max<int64_t>(0, e.pos - window + 1) : 0;
                kv_.for_each_run(il, e.seq, n_pos, [&](const KvCache::Run& run) {
                    for (int64_t j = 0; j < run.count; ++j) {
                        const f16_t* key = run.keys + j * n_kv + kvh * hd;
                        ws.scores[run.first_pos + j] = ops::dot_f16(ws.q16.data(), key, hd);
                    }
                });
                float* scores = ws.scores.data();
                if (hp.attn_softcap > 0.0f) {
                    for (int64_t j = first; j < n_pos; ++j) scores[j] = ops::softcap(scores[j], hp.attn_softcap);
                }
                // Positions outside the window stay in the row, masked, so the softmax groups
                // line up with the positions as in llama.cpp's masked rows.
                std::fill(scores, scores + first, -std::numeric_limits<float>::infinity());
                ops::scaled_softmax(scores, n_pos, kq_scale);
                // out[d] = sum_j p[j] * v[j][d] as 16 lanes by position (lane = j mod 16) of fused
                // multiply-adds, folded by a pairwise tree: llama.cpp's GEMM over the padded row.
                std::fill(ws.acc.begin(), ws.acc.end(), 0.0f);
                kv_.for_each_run(il, e.seq, n_pos, [&](const KvCache::Run& run) {
                    for (int64_t j = std::max<int64_t>(0, first - run.first_pos); j < run.count; ++j) {
                        const int64_t pos = run.first_pos + j;
                        const float p = round_to_f16(ws.scores[pos]);
                        float* lane = &ws.acc[static_cast<size_t>((pos % 16) * hd)];
                        const f16_t* value = run.values + j * n_kv + kvh * hd;
                        for (int64_t d = 0; d < hd; ++d) lane[d] = std::fma(p, f16_to_f32(value[d]), lane[d]);
                    }
                });
                float* out = &s.attn[t * n_q + h * hd];
                for (int64_t d = 0; d < hd; ++d) {
                    float lanes[16];
                    for (int l = 0; l < 16; ++l) lanes[l] = ws.acc[static_cast<size_t>(l * hd + d)];
                    out[d] = ops::tree_sum16(lanes);
                }
            }
        });
        s.act.invalidate();
        linear(L.wo, s.attn.data(), n, s.tmp.data(), s.act, pool);
        add_bias(s.tmp.data(), n, L.bo);
        if (!L.post_attn_norm.empty()) norm_rows(arch.norm, s.tmp.data(), L.post_attn_norm, {}, s.tmp.data(), n, n_embd, hp.norm_eps);
        if (arch.post_norm) {
            add_rows(s.tmp.data(), s.x.data(), n * n_embd);  // attention output + block input
            norm_rows(arch.norm, s.tmp.data(), L.attn_norm, L.attn_norm_b, s.x.data(), n, n_embd, hp.norm_eps);
        } else {
            add_rows(s.x.data(), s.tmp.data(), n * n_embd);
        }

        // ---- feed-forward ----
        const float* ffn_in = s.x.data();
        if (!arch.post_norm) {
            norm_rows(arch.norm, s.x.data(), L.ffn_norm, L.ffn_norm_b, s.xn.data(), n, n_embd, hp.norm_eps);
            ffn_in = s.xn.data();
        }
        s.act.invalidate();
        const int64_t n_ff = hp.n_ff;
        if (arch.ffn == FfnKind::Gelu) {
            linear(L.w_up, ffn_in, n, s.gate.data(), s.act, pool);
            add_bias(s.gate.data(), n, L.b_up);
            for (int64_t i = 0; i < n * n_ff; ++i) s.gate[i] = ops::gelu(s.gate[i]);
        } else {
            if (arch.fused_gate_up) {
                linear(L.w_up, ffn_in, n, s.fused.data(), s.act, pool);
                split_columns(s.fused.data(), n, 2 * n_ff, 0, n_ff, s.gate.data());
                split_columns(s.fused.data(), n, 2 * n_ff, n_ff, n_ff, s.up.data());
            } else {
                linear(L.w_gate, ffn_in, n, s.gate.data(), s.act, pool);
                linear(L.w_up, ffn_in, n, s.up.data(), s.act, pool);
            }
            if (arch.ffn == FfnKind::GeluGlu) {
                for (int64_t i = 0; i < n * n_ff; ++i) s.gate[i] = ops::gelu(s.gate[i]) * s.up[i];
            } else {
                for (int64_t t = 0; t < n; ++t) ops::silu_mul_row(&s.gate[t * n_ff], &s.up[t * n_ff], n_ff);
            }
        }
        s.act.invalidate();
        linear(L.w_down, s.gate.data(), n, s.tmp.data(), s.act, pool);
        add_bias(s.tmp.data(), n, L.b_down);
        if (!L.post_ffn_norm.empty()) norm_rows(arch.norm, s.tmp.data(), L.post_ffn_norm, {}, s.tmp.data(), n, n_embd, hp.norm_eps);
        if (arch.post_norm) {
            add_rows(s.tmp.data(), s.x.data(), n * n_embd);  // FFN output + its input
            norm_rows(arch.norm, s.tmp.data(), L.ffn_norm, L.ffn_norm_b, s.x.data(), n, n_embd, hp.norm_eps);
        } else {
            add_rows(s.x.data(), s.tmp.data(), n * n_embd);
        }
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
            norm_rows(arch.norm, &s.x[t * n_embd], w.output_norm, {}, hidden, 1, n_embd, hp.norm_eps);
        }
        s.out_rows.push_back(t);
    }
    if (s.out_rows.empty()) return;
    const auto n_out = static_cast<int64_t>(s.out_rows.size());
    std::copy_n(s.out_hidden.data(), n_out * n_embd, embeddings_.data() + n_outputs_ * n_embd);
    if (arch.lm_head) {
        float* out = logits_.data() + n_outputs_ * hp.n_vocab;
        s.act.invalidate();
        linear(w.output, s.out_hidden.data(), n_out, out, s.act, pool);
        if (hp.final_softcap > 0.0f) {
            for (int64_t i = 0; i < n_out * hp.n_vocab; ++i) out[i] = ops::softcap(out[i], hp.final_softcap);
        }
    }
    n_outputs_ += static_cast<size_t>(n_out);
}

}  // namespace pocket::model
