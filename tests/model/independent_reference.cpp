// Sources of the formulas (cited next to each use below):
//   [HF-Q2] transformers/models/qwen2/modeling_qwen2.py   (Qwen2RMSNorm, Qwen2Attention,
//           Qwen2MLP, Qwen2DecoderLayer, Qwen2Model, apply_rotary_pos_emb, repeat_kv,
//           eager_attention_forward)
//   [HF-Q3] transformers/models/qwen3/modeling_qwen3.py   (Qwen3Attention: q_norm / k_norm)
//   [HF-G2] transformers/models/gemma2/modeling_gemma2.py (Gemma2RMSNorm, Gemma2MLP,
//           Gemma2Attention, Gemma2DecoderLayer, Gemma2Model, Gemma2ForCausalLM)
//   [HF-G3] transformers/models/gemma3/modeling_gemma3.py (Gemma3TextScaledWordEmbedding,
//           Gemma3Attention, Gemma3DecoderLayer, Gemma3TextModel: rotary_emb_local)
//   [HF-MASK] transformers/masking_utils.py (causal_mask_function, sliding_window_overlay)
//   [RoFormer] Su et al. 2021, "RoFormer: Enhanced Transformer with Rotary Position Embedding"
//   [GQA] Ainslie et al. 2023, "GQA: Training Generalized Multi-Query Transformer Models"
//   [Qwen2-TR] arXiv:2407.10671 §2.2.1 (QKV bias); [Qwen3-TR] arXiv:2505.09388 §2 (QK-Norm
//           instead of QKV bias); [Gemma2-TR] arXiv:2408.00118 §2 (alternating local/global
//           attention, logit soft-capping, pre- and post-norm); [Gemma3-TR] arXiv:2503.19786
//           §2 (5 local : 1 global, QK-norm, RoPE base 10k local / 1M global, linear positional
//           interpolation on global layers).
#include "model/independent_reference.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numbers>
#include <stdexcept>

#include "pocket/core/fp16.h"

namespace pocket::test::independent {
namespace {

using Vec = std::vector<double>;

// y = W x for W stored as `out` rows of `in` values (torch.nn.Linear.weight layout).
Vec matvec(const std::vector<float>& w, const Vec& x, int out) {
    const size_t in = x.size();
    if (w.size() != in * static_cast<size_t>(out)) throw std::logic_error("matvec: bad shape");
    Vec y(out, 0.0);
    for (int o = 0; o < out; ++o) {
        double s = 0.0;
        for (size_t i = 0; i < in; ++i) s += static_cast<double>(w[o * in + i]) * x[i];
        y[o] = s;
    }
    return y;
}

void add_bias(Vec& y, const std::vector<float>& b) {
    for (size_t i = 0; i < y.size(); ++i) y[i] += b[i];
}

// RMSNorm [HF-Q2 Qwen2RMSNorm.forward]: x * rsqrt(mean(x^2) + eps) * weight. Gemma's version
// [HF-G2 Gemma2RMSNorm] multiplies by (1 + weight); the GGUF file already holds 1 + weight, so in
// file space both are the same formula. Applied to `n` values starting at `offset`.
void rms_norm_inplace(Vec& x, const std::vector<float>& w, double eps, size_t offset = 0,
                      size_t n = 0) {
    if (n == 0) n = x.size();
    double ss = 0.0;
    for (size_t i = 0; i < n; ++i) ss += x[offset + i] * x[offset + i];
    const double inv = 1.0 / std::sqrt(ss / static_cast<double>(n) + eps);
    for (size_t i = 0; i < n; ++i) x[offset + i] = x[offset + i] * inv * w[i];
}

Vec rms_norm(const Vec& x, const std::vector<float>& w, double eps) {
    Vec y = x;
    rms_norm_inplace(y, w, eps);
    return y;
}

// Rotary embedding of one head [RoFormer eq. 34; HF-Q2 apply_rotary_pos_emb + rotate_half]:
// q' = q * cos + rotate_half(q) * sin with rotate_half(q) = cat(-q[d/2:], q[:d/2]), i.e. the
// pairs are (i, i + d/2) ("NEOX" order), angle pos * inv_freq[i], inv_freq[i] =
// base^(-2i/d) [HF _compute_default_rope_parameters]. Linear scaling ("linear" rope_type,
// Gemma 3's global layers) divides the positions, i.e. the frequencies, by the factor
// [HF _compute_linear_scaling_rope_parameters].
void rope_inplace(Vec& v, size_t offset, int d, int64_t pos, double base, double linear_factor) {
    const int half = d / 2;
    for (int i = 0; i < half; ++i) {
        const double inv_freq = std::pow(base, -2.0 * i / d) / linear_factor;
        const double angle = static_cast<double>(pos) * inv_freq;
        const double c = std::cos(angle), s = std::sin(angle);
        const double a = v[offset + i], b = v[offset + i + half];
        v[offset + i] = a * c - b * s;
        v[offset + i + half] = b * c + a * s;
    }
}

// gelu_pytorch_tanh [HF activations.PytorchGELUTanh; Hendrycks & Gimpel 2016 eq. for the tanh
// approximation]: 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))).
double gelu_tanh(double x) {
    const double k = std::sqrt(2.0 / std::numbers::pi);
    return 0.5 * x * (1.0 + std::tanh(k * (x + 0.044715 * x * x * x)));
}

// Round to the nearest F16 value (pocket/core/fp16.h, checked bit-exactly against F16C).
double to_f16(double x) {
    return f16_to_f32(f32_to_f16(static_cast<float>(x)));
}

// SiLU [HF-Q2 Qwen2MLP, hidden_act "silu"]: x * sigmoid(x).
double silu(double x) {
    return x / (1.0 + std::exp(-x));
}

}  // namespace

// Which layers use the sliding window: Gemma 2 [HF-G2 Gemma2DecoderLayer: is_sliding =
// not bool(layer_idx % 2)] slides on even layers; Gemma 3 [HF-G3 / Gemma3TextConfig
// sliding_window_pattern 6: layer_types[i] = "sliding_attention" if (i + 1) % 6 else
// "full_attention"] has five local layers per global one.
bool Spec::is_sliding(int layer) const {
    if (sliding_window <= 0 || sliding_pattern <= 0) return false;
    if (sliding_pattern == 2) return layer % 2 == 0;
    return (layer + 1) % sliding_pattern != 0;
}

Decoder::Decoder(const Spec& spec, const Weights& weights, Rounding rounding)
    : spec_(spec), w_(weights), rounding_(rounding), keys_(spec.n_layer), values_(spec.n_layer) {}

// Self-attention of one new token [HF-Q2 Qwen2Attention.forward / eager_attention_forward].
std::vector<double> Decoder::attention(int layer, const Vec& x) {
    const Spec& s = spec_;
    const Layer& L = w_.layers[layer];
    const int d = s.head_dim;
    Vec q = matvec(L.wq, x, s.n_head * d);
    Vec k = matvec(L.wk, x, s.n_head_kv * d);
    Vec v = matvec(L.wv, x, s.n_head_kv * d);
    if (s.qkv_bias) {  // [HF-Q2 q_proj/k_proj/v_proj bias=True; Qwen2-TR §2.2.1]
        add_bias(q, L.bq);
        add_bias(k, L.bk);
        add_bias(v, L.bv);
    }
    // QK-norm: an RMSNorm over each head's head_dim values, before rope [HF-Q3
    // Qwen3Attention.forward: q_norm(q_proj(x).view(..., head_dim)); HF-G3 likewise].
    if (s.qk_norm) {
        for (int h = 0; h < s.n_head; ++h) rms_norm_inplace(q, L.q_norm, s.norm_eps, h * d, d);
        for (int h = 0; h < s.n_head_kv; ++h) rms_norm_inplace(k, L.k_norm, s.norm_eps, h * d, d);
    }
    // Rope base and scaling per layer: Gemma 3's sliding layers use rope_local_base_freq
    // (10000) without scaling, its global layers rope_theta with the configured rope_scaling
    // [HF-G3 Gemma3TextModel: rotary_emb vs rotary_emb_local; Gemma3-TR §2].
    const bool sliding = s.is_sliding(layer);
    double base = s.rope_base, factor = s.rope_linear_factor;
    if (sliding && s.rope_local_base > 0.0) {
        base = s.rope_local_base;
        factor = 1.0;
    }
    for (int h = 0; h < s.n_head; ++h) rope_inplace(q, h * d, d, pos_, base, factor);
    for (int h = 0; h < s.n_head_kv; ++h) rope_inplace(k, h * d, d, pos_, base, factor);

    // scaling = head_dim^-0.5 [HF-Q2 Qwen2Attention.scaling]; Gemma: query_pre_attn_scalar^-0.5
    // [HF-G2/G3 Gemma*Attention.scaling], which is head_dim for the models tested here.
    const double pre = s.query_pre_attn_scalar > 0 ? s.query_pre_attn_scalar : d;
    double scaling = 1.0 / std::sqrt(pre);
    if (rounding_.f16_like_llama_cpp) {
        for (double& x : k) x = to_f16(x);
        for (double& x : v) x = to_f16(x);
        if (s.arch.starts_with("gemma")) {  // llama.cpp scales Gemma's Q, then rounds it
            for (double& x : q) x *= scaling;
            scaling = 1.0;
        }
        for (double& x : q) x = to_f16(x);
    }
    keys_[layer].push_back(k);
    values_[layer].push_back(v);
    const int group = s.n_head / s.n_head_kv;  // [GQA; HF repeat_kv: head h uses kv head h/group]
    const int64_t n_keys = pos_ + 1;
    Vec out(static_cast<size_t>(s.n_head) * d, 0.0);
    for (int h = 0; h < s.n_head; ++h) {
        const int kvh = h / group;
        Vec scores(n_keys, -std::numeric_limits<double>::infinity());
        double max_score = -std::numeric_limits<double>::infinity();
        for (int64_t j = 0; j < n_keys; ++j) {
            // Causal mask (j <= pos holds by construction) and, on sliding layers, key j is
            // visible only when pos - j < window [HF-MASK sliding_window_overlay:
            // kv_idx > q_idx - sliding_window].
            if (sliding && pos_ - j >= s.sliding_window) continue;
            const Vec& kj = keys_[layer][j];
            double dot = 0.0;
            for (int i = 0; i < d; ++i) dot += q[h * d + i] * kj[kvh * d + i];
            double score = dot * scaling;
            // Attention logit soft-capping, after scaling and before the mask and softmax
            // [HF-G2 eager_attention_forward: w / softcap, tanh, * softcap; Gemma2-TR §2].
            if (s.attn_softcap > 0) score = s.attn_softcap * std::tanh(score / s.attn_softcap);
            scores[j] = score;
            max_score = std::max(max_score, score);
        }
        double sum = 0.0;
        for (auto& sc : scores) {
            sc = std::isinf(sc) ? 0.0 : std::exp(sc - max_score);
            sum += sc;
        }
        for (int64_t j = 0; j < n_keys; ++j) {
            double p = scores[j] / sum;
            if (rounding_.f16_like_llama_cpp) p = to_f16(p);
            if (p == 0.0) continue;
            const Vec& vj = values_[layer][j];
            for (int i = 0; i < d; ++i) out[h * d + i] += p * vj[kvh * d + i];
        }
    }
    return matvec(L.wo, out, s.n_embd);  // o_proj, no bias [HF-Q2 o_proj bias=False]
}

// Gated feed-forward [HF-Q2 Qwen2MLP / HF-G2 Gemma2MLP]: down(act(gate(x)) * up(x)).
std::vector<double> Decoder::feed_forward(int layer, const Vec& x) const {
    const Layer& L = w_.layers[layer];
    Vec g = matvec(L.w_gate, x, spec_.n_ff);
    const Vec u = matvec(L.w_up, x, spec_.n_ff);
    for (int i = 0; i < spec_.n_ff; ++i) {
        double act = 0.0;
        if (!spec_.gelu_ffn) {
            act = silu(g[i]);
        } else if (!rounding_.f16_like_llama_cpp) {
            act = gelu_tanh(g[i]);
        } else {  // llama.cpp's GELU table: F16 in, F16 out, identity / zero beyond +-10
            act = g[i] >= 10.0 ? g[i] : g[i] <= -10.0 ? 0.0 : to_f16(gelu_tanh(to_f16(g[i])));
        }
        g[i] = act * u[i];
    }
    return matvec(L.w_down, g, spec_.n_embd);
}

std::vector<double> Decoder::step(int32_t token) {
    const Spec& s = spec_;
    if (token < 0 || token >= s.n_vocab) throw std::out_of_range("token id");
    Vec h(s.n_embd);
    for (int i = 0; i < s.n_embd; ++i)
        h[i] = w_.token_embd[static_cast<size_t>(token) * s.n_embd + i];
    // Gemma scales the embeddings by sqrt(hidden_size) [HF-G2 Gemma2Model.forward: normalizer;
    // HF-G3 Gemma3TextScaledWordEmbedding: embed_scale = hidden_size**0.5].
    if (s.embed_scale)
        for (double& v : h) v *= std::sqrt(static_cast<double>(s.n_embd));

    // Pre-norm residual blocks [HF-Q2 Qwen2DecoderLayer.forward]; Gemma adds a norm on each
    // block's output before the residual add [HF-G2 Gemma2DecoderLayer.forward:
    // post_attention_layernorm, pre_feedforward_layernorm, post_feedforward_layernorm;
    // Gemma2-TR §2 "post-norm and pre-norm with RMSNorm"].
    for (int l = 0; l < s.n_layer; ++l) {
        const Layer& L = w_.layers[l];
        Vec a = attention(l, rms_norm(h, L.attn_norm, s.norm_eps));
        if (s.post_norms) rms_norm_inplace(a, L.post_attn_norm, s.norm_eps);
        for (int i = 0; i < s.n_embd; ++i) h[i] += a[i];
        Vec f = feed_forward(l, rms_norm(h, L.ffn_norm, s.norm_eps));
        if (s.post_norms) rms_norm_inplace(f, L.post_ffn_norm, s.norm_eps);
        for (int i = 0; i < s.n_embd; ++i) h[i] += f[i];
    }
    rms_norm_inplace(h, w_.output_norm, s.norm_eps);  // final norm [HF-Q2 Qwen2Model.norm]
    // LM head; tied models reuse the embedding matrix [HF tie_word_embeddings].
    Vec logits = matvec(s.tied_output ? w_.token_embd : w_.output, h, s.n_vocab);
    // Final logit soft-capping [HF-G2 Gemma2ForCausalLM.forward: logits / cap, tanh, * cap].
    if (s.final_softcap > 0)
        for (double& z : logits) z = s.final_softcap * std::tanh(z / s.final_softcap);
    ++pos_;
    return logits;
}

}  // namespace pocket::test::independent
