#include "pocket/model/context.h"

#include <algorithm>
#include <cmath>
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
    std::vector<float> out_hidden;  // normalised hidden states of the rows that want logits
    std::vector<int64_t> out_rows;
    ActivationCache act;
    // Per-thread attention workspace: scores over the context, F16 query, F32 accumulator.
    struct alignas(64) ThreadSpace {
        std::vector<float> scores;
        std::vector<f16_t> q16;
        std::vector<float> acc;
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
    s.out_hidden.resize(nb * hp.n_embd);
    s.out_rows.reserve(nb);
    s.threads.resize(static_cast<size_t>(ThreadPool::global().n_threads()));
    for (auto& t : s.threads) {
        t.scores.resize(static_cast<size_t>(n_ctx_));
        t.q16.resize(static_cast<size_t>(hp.head_dim));
        t.acc.resize(static_cast<size_t>(hp.head_dim));
    }
}

Context::~Context() = default;

std::span<const float> Context::logits(size_t i) const {
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

    logits_.resize(n_logits * static_cast<size_t>(hp.n_vocab));
    n_outputs_ = 0;
    for (size_t start = 0; start < batch.size(); start += static_cast<size_t>(params_.n_batch)) {
        const size_t count = std::min(batch.size() - start, static_cast<size_t>(params_.n_batch));
        forward(batch.subspan(start, count));
    }
}

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
    const float kq_scale = 1.0f / std::sqrt(static_cast<float>(hd));

    for (const auto& e : batch) kv_.grow(e.seq, e.pos + 1);
    for (int64_t t = 0; t < n; ++t) dequantize_row(w.token_embd, batch[t].token, &s.x[t * n_embd]);

    for (int64_t il = 0; il < hp.n_layer; ++il) {
        const LayerWeights& L = w.layers[static_cast<size_t>(il)];

        // Attention block.
        for (int64_t t = 0; t < n; ++t) {
            ops::rms_norm(&s.x[t * n_embd], L.attn_norm.f32(), &s.xn[t * n_embd], n_embd, hp.norm_eps);
        }
        s.act.invalidate();
        linear(L.wq, s.xn.data(), n, s.q.data(), s.act, pool);
        linear(L.wk, s.xn.data(), n, s.k.data(), s.act, pool);
        linear(L.wv, s.xn.data(), n, s.v.data(), s.act, pool);
        for (int64_t t = 0; t < n; ++t) {
            if (!L.bq.empty()) {
                for (int64_t i = 0; i < n_q; ++i) s.q[t * n_q + i] += L.bq.f32()[i];
                for (int64_t i = 0; i < n_kv; ++i) s.k[t * n_kv + i] += L.bk.f32()[i];
                for (int64_t i = 0; i < n_kv; ++i) s.v[t * n_kv + i] += L.bv.f32()[i];
            }
            for (int64_t h = 0; h < hp.n_head; ++h) {
                ops::rope(&s.q[t * n_q + h * hd], hp.n_rot, batch[t].pos, hp.rope_freq_base,
                          hp.rope_freq_scale, freq_factors, neox);
            }
            for (int64_t h = 0; h < hp.n_head_kv; ++h) {
                ops::rope(&s.k[t * n_kv + h * hd], hp.n_rot, batch[t].pos, hp.rope_freq_base,
                          hp.rope_freq_scale, freq_factors, neox);
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
                const int64_t n_pos = e.pos + 1;
                kv_.for_each_run(il, e.seq, n_pos, [&](const KvCache::Run& run) {
                    for (int64_t j = 0; j < run.count; ++j) {
                        const f16_t* key = run.keys + j * n_kv + kvh * hd;
                        float dot = 0.0f;
                        for (int64_t d = 0; d < hd; ++d) dot += f16_to_f32(ws.q16[d]) * f16_to_f32(key[d]);
                        ws.scores[run.first_pos + j] = dot;
                    }
                });
                ops::scaled_softmax(ws.scores.data(), n_pos, kq_scale);
                std::fill(ws.acc.begin(), ws.acc.end(), 0.0f);
                kv_.for_each_run(il, e.seq, n_pos, [&](const KvCache::Run& run) {
                    for (int64_t j = 0; j < run.count; ++j) {
                        const float p = round_to_f16(ws.scores[run.first_pos + j]);
                        const f16_t* value = run.values + j * n_kv + kvh * hd;
                        for (int64_t d = 0; d < hd; ++d) ws.acc[d] += p * f16_to_f32(value[d]);
                    }
                });
                std::copy(ws.acc.begin(), ws.acc.end(), &s.attn[t * n_q + h * hd]);
            }
        });
        s.act.invalidate();
        linear(L.wo, s.attn.data(), n, s.tmp.data(), s.act, pool);
        for (int64_t i = 0; i < n * n_embd; ++i) s.x[i] += s.tmp[i];

        // Feed-forward block.
        for (int64_t t = 0; t < n; ++t) {
            ops::rms_norm(&s.x[t * n_embd], L.ffn_norm.f32(), &s.xn[t * n_embd], n_embd, hp.norm_eps);
        }
        s.act.invalidate();
        linear(L.w_gate, s.xn.data(), n, s.gate.data(), s.act, pool);
        linear(L.w_up, s.xn.data(), n, s.up.data(), s.act, pool);
        for (int64_t i = 0; i < n * hp.n_ff; ++i) s.gate[i] = ops::silu(s.gate[i]) * s.up[i];
        s.act.invalidate();
        linear(L.w_down, s.gate.data(), n, s.tmp.data(), s.act, pool);
        for (int64_t i = 0; i < n * n_embd; ++i) s.x[i] += s.tmp[i];
    }

    // Output head, only for the rows that asked for logits.
    s.out_rows.clear();
    for (int64_t t = 0; t < n; ++t) {
        if (!batch[t].logits) continue;
        const auto row = static_cast<int64_t>(s.out_rows.size());
        ops::rms_norm(&s.x[t * n_embd], w.output_norm.f32(), &s.out_hidden[row * n_embd], n_embd,
                      hp.norm_eps);
        s.out_rows.push_back(t);
    }
    if (s.out_rows.empty()) return;
    const auto n_out = static_cast<int64_t>(s.out_rows.size());
    s.act.invalidate();
    linear(w.output, s.out_hidden.data(), n_out, logits_.data() + n_outputs_ * hp.n_vocab, s.act, pool);
    n_outputs_ += static_cast<size_t>(n_out);
}

}  // namespace pocket::model
