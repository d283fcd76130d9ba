// Test helpers for the converter: a random-weight Hugging Face checkpoint written to a scratch
// folder, and a straightforward forward pass over those weights in Hugging Face's own
// conventions (rotate_half rope on each head's two halves, Gemma's (1 + w) norms, fused Phi-3
// projections split here), in double precision. It shares no code with pocket's model layer or
// the converter, so agreement checks the whole mapping: names, layouts, metadata.
#pragma once

#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <random>
#include <string>
#include <vector>

#include "pocket/core/error.h"
#include "pocket/core/fp16.h"
#include "pocket/safetensors/safetensors.h"

namespace pocket::test {

struct HfSpec {
    std::string model_type;  // llama, qwen2, qwen3, phi3, gemma2, gemma3
    int vocab = 0, embd = 32, layers = 2, heads = 4, heads_kv = 2, head_dim = 8, ff = 48;
    double theta = 10000.0, eps = 1e-6;
    bool tied = true;
    // gemma
    double attn_softcap = 0, final_softcap = 0;
    int sliding_window = 0;
    double local_theta = 10000.0;
    float matrix_scale = 1.0f;  // multiplies the range of every projection matrix
};

class HfCheckpoint {
  public:
    explicit HfCheckpoint(HfSpec spec, uint32_t seed = 1234) : s(std::move(spec)), rng_(seed) {}

    // Writes model.safetensors with random weights in the layout of s.model_type.
    void write_weights(const std::filesystem::path& dir) {
        safetensors::Writer w;
        const uint64_t E = s.embd, Q = s.heads * s.head_dim, KV = s.heads_kv * s.head_dim, F = s.ff;
        add(w, "model.embed_tokens.weight", {static_cast<uint64_t>(s.vocab), E}, 1.0f);
        const bool gemma = is_gemma();
        const float norm_offset = gemma ? 0.0f : 1.0f;  // gemma stores w of (1 + w)
        for (int l = 0; l < s.layers; ++l) {
            const std::string p = cat("model.layers.", l, ".");
            add(w, p + "input_layernorm.weight", {E}, 0.2f, norm_offset);
            if (s.model_type == "phi3") {
                add(w, p + "self_attn.qkv_proj.weight", {Q + 2 * KV, E}, 0.5f);
            } else {
                add(w, p + "self_attn.q_proj.weight", {Q, E}, 0.5f);
                add(w, p + "self_attn.k_proj.weight", {KV, E}, 0.5f);
                add(w, p + "self_attn.v_proj.weight", {KV, E}, 0.5f);
            }
            if (s.model_type == "qwen2") {
                add(w, p + "self_attn.q_proj.bias", {Q}, 0.5f);
                add(w, p + "self_attn.k_proj.bias", {KV}, 0.5f);
                add(w, p + "self_attn.v_proj.bias", {KV}, 0.5f);
            }
            if (has_qk_norm()) {
                add(w, p + "self_attn.q_norm.weight", {static_cast<uint64_t>(s.head_dim)}, 0.2f,
                    norm_offset);
                add(w, p + "self_attn.k_norm.weight", {static_cast<uint64_t>(s.head_dim)}, 0.2f,
                    norm_offset);
            }
            add(w, p + "self_attn.o_proj.weight", {E, Q}, 0.3f);
            add(w, p + "post_attention_layernorm.weight", {E}, 0.2f, norm_offset);
            if (gemma) {
                add(w, p + "pre_feedforward_layernorm.weight", {E}, 0.2f, norm_offset);
                add(w, p + "post_feedforward_layernorm.weight", {E}, 0.2f, norm_offset);
            }
            if (s.model_type == "phi3") {
                add(w, p + "mlp.gate_up_proj.weight", {2 * F, E}, 0.3f);
            } else {
                add(w, p + "mlp.gate_proj.weight", {F, E}, 0.3f);
                add(w, p + "mlp.up_proj.weight", {F, E}, 0.3f);
            }
            add(w, p + "mlp.down_proj.weight", {E, F}, 0.3f);
        }
        add(w, "model.norm.weight", {E}, 0.2f, norm_offset);
        if (!s.tied) add(w, "lm_head.weight", {static_cast<uint64_t>(s.vocab), E}, 0.5f);
        w.write(dir / "model.safetensors");
    }

    // Logits of the last of `tokens`, Hugging Face semantics.
    std::vector<double> logits(const std::vector<int32_t>& tokens) const;

    bool is_gemma() const { return s.model_type == "gemma2" || s.model_type == "gemma3"; }
    bool has_qk_norm() const { return s.model_type == "qwen3" || s.model_type == "gemma3"; }
    bool is_sliding(int layer) const {
        if (s.sliding_window <= 0) return false;
        if (s.model_type == "gemma2") return layer % 2 == 0;
        if (s.model_type == "gemma3") return (layer + 1) % 6 != 0;
        return false;
    }

    HfSpec s;
    std::map<std::string, std::vector<float>> w;

  private:
    void add(safetensors::Writer& writer, const std::string& name, std::vector<uint64_t> shape,
             float scale, float offset = 0.0f) {
        size_t n = 1;
        for (auto d : shape) n *= d;
        if (shape.size() == 2 && name.find("embed_tokens") == std::string::npos)
            scale *= s.matrix_scale;
        std::uniform_real_distribution<float> dist(-scale, scale);
        std::vector<float> m(n);
        for (auto& v : m) v = offset + dist(rng_);
        std::vector<std::byte> bytes(n * 4);
        std::memcpy(bytes.data(), m.data(), bytes.size());
        writer.add_tensor(name, safetensors::DType::F32, std::move(shape), std::move(bytes));
        w[name] = std::move(m);
    }
    std::mt19937 rng_;
};

inline std::vector<double> matvec(const std::vector<float>& m, const std::vector<double>& x,
                                  size_t rows, size_t row_offset = 0) {
    const size_t cols = x.size();
    std::vector<double> y(rows, 0.0);
    for (size_t r = 0; r < rows; ++r) {
        for (size_t c = 0; c < cols; ++c)
            y[r] += static_cast<double>(m[(r + row_offset) * cols + c]) * x[c];
    }
    return y;
}

inline std::vector<double> hf_logits(const HfCheckpoint& m, const std::vector<int32_t>& tokens) {
    const HfSpec& s = m.s;
    const bool gemma = m.is_gemma();
    const double norm_add = gemma ? 1.0 : 0.0;
    auto rms = [&](const std::vector<double>& x, const std::vector<float>& g, size_t off = 0,
                   size_t n = 0) {
        n = n ? n : x.size();
        double ss = 0;
        for (size_t i = 0; i < n; ++i) ss += x[off + i] * x[off + i];
        const double scale = 1.0 / std::sqrt(ss / static_cast<double>(n) + s.eps);
        std::vector<double> y(x);
        for (size_t i = 0; i < n; ++i) y[off + i] = x[off + i] * scale * (g[i] + norm_add);
        return y;
    };
    auto gelu_tanh = [](double x) {
        return 0.5 * x * (1.0 + std::tanh(std::sqrt(2.0 / M_PI) * (x + 0.044715 * x * x * x)));
    };
    const size_t n = tokens.size(), D = static_cast<size_t>(s.head_dim);
    const auto& E = m.w.at("model.embed_tokens.weight");
    std::vector<std::vector<double>> x(n);
    for (size_t t = 0; t < n; ++t) {
        x[t].assign(E.begin() + tokens[t] * s.embd, E.begin() + (tokens[t] + 1) * s.embd);
        if (gemma)
            for (double& v : x[t]) v *= std::sqrt(static_cast<double>(s.embd));
    }
    const size_t Q = s.heads * D, KV = s.heads_kv * D;
    for (int l = 0; l < s.layers; ++l) {
        auto W = [&](const std::string& name) -> const std::vector<float>& {
            return m.w.at(cat("model.layers.", l, ".", name));
        };
        const double theta =
            gemma && m.is_sliding(l) && s.model_type == "gemma3" ? s.local_theta : s.theta;
        auto rope = [&](std::vector<double>& v, int heads, int pos) {
            for (int h = 0; h < heads; ++h) {
                for (size_t i = 0; i < D / 2; ++i) {
                    const double angle = pos * std::pow(theta, -2.0 * static_cast<double>(i) /
                                                                   static_cast<double>(D));
                    double& a = v[h * D + i];
                    double& b = v[h * D + i + D / 2];
                    const double x0 = a, x1 = b;
                    a = x0 * std::cos(angle) - x1 * std::sin(angle);
                    b = x1 * std::cos(angle) + x0 * std::sin(angle);
                }
            }
        };
        std::vector<std::vector<double>> q(n), k(n), v(n);
        for (size_t t = 0; t < n; ++t) {
            const auto h = rms(x[t], W("input_layernorm.weight"));
            if (s.model_type == "phi3") {
                const auto& qkv = W("self_attn.qkv_proj.weight");
                q[t] = matvec(qkv, h, Q, 0);
                k[t] = matvec(qkv, h, KV, Q);
                v[t] = matvec(qkv, h, KV, Q + KV);
            } else {
                q[t] = matvec(W("self_attn.q_proj.weight"), h, Q);
                k[t] = matvec(W("self_attn.k_proj.weight"), h, KV);
                v[t] = matvec(W("self_attn.v_proj.weight"), h, KV);
            }
            if (s.model_type == "qwen2") {
                for (size_t i = 0; i < Q; ++i) q[t][i] += W("self_attn.q_proj.bias")[i];
                for (size_t i = 0; i < KV; ++i) k[t][i] += W("self_attn.k_proj.bias")[i];
                for (size_t i = 0; i < KV; ++i) v[t][i] += W("self_attn.v_proj.bias")[i];
            }
            if (m.has_qk_norm()) {
                for (int h2 = 0; h2 < s.heads; ++h2)
                    q[t] = rms(q[t], W("self_attn.q_norm.weight"), h2 * D, D);
                for (int h2 = 0; h2 < s.heads_kv; ++h2)
                    k[t] = rms(k[t], W("self_attn.k_norm.weight"), h2 * D, D);
            }
            rope(q[t], s.heads, static_cast<int>(t));
            rope(k[t], s.heads_kv, static_cast<int>(t));
            // pocket, like llama.cpp, keeps K and V in an F16 cache and rounds Q to F16 for Q·K.
            for (auto* vec : {&q[t], &k[t], &v[t]}) {
                for (double& e : *vec) e = round_to_f16(static_cast<float>(e));
            }
        }
        for (size_t t = 0; t < n; ++t) {
            std::vector<double> attn(Q, 0.0);
            for (int h = 0; h < s.heads; ++h) {
                const int kv = h / (s.heads / s.heads_kv);
                std::vector<double> sc(t + 1, -INFINITY);
                double mx = -INFINITY;
                for (size_t j = 0; j <= t; ++j) {
                    if (m.is_sliding(l) && t - j >= static_cast<size_t>(s.sliding_window)) continue;
                    double d = 0;
                    for (size_t i = 0; i < D; ++i) d += q[t][h * D + i] * k[j][kv * D + i];
                    d /= std::sqrt(static_cast<double>(D));
                    if (s.attn_softcap > 0) d = s.attn_softcap * std::tanh(d / s.attn_softcap);
                    sc[j] = d;
                    mx = std::max(mx, d);
                }
                double sum = 0;
                for (auto& e : sc) sum += (e = std::exp(e - mx));
                for (size_t j = 0; j <= t; ++j) {
                    for (size_t i = 0; i < D; ++i)
                        attn[h * D + i] += sc[j] / sum * v[j][kv * D + i];
                }
            }
            auto o = matvec(W("self_attn.o_proj.weight"), attn, s.embd);
            if (gemma) o = rms(o, W("post_attention_layernorm.weight"));
            for (int i = 0; i < s.embd; ++i) x[t][i] += o[i];
            const auto h2 = rms(x[t], W(gemma ? "pre_feedforward_layernorm.weight"
                                              : "post_attention_layernorm.weight"));
            std::vector<double> g, u;
            if (s.model_type == "phi3") {
                g = matvec(W("mlp.gate_up_proj.weight"), h2, s.ff, 0);
                u = matvec(W("mlp.gate_up_proj.weight"), h2, s.ff, s.ff);
            } else {
                g = matvec(W("mlp.gate_proj.weight"), h2, s.ff);
                u = matvec(W("mlp.up_proj.weight"), h2, s.ff);
            }
            for (int i = 0; i < s.ff; ++i)
                g[i] = (gemma ? gelu_tanh(g[i]) : g[i] / (1.0 + std::exp(-g[i]))) * u[i];
            auto d = matvec(W("mlp.down_proj.weight"), g, s.embd);
            if (gemma) d = rms(d, W("post_feedforward_layernorm.weight"));
            for (int i = 0; i < s.embd; ++i) x[t][i] += d[i];
        }
    }
    const auto h = rms(x.back(), m.w.at("model.norm.weight"));
    auto out = matvec(s.tied ? E : m.w.at("lm_head.weight"), h, s.vocab);
    if (s.final_softcap > 0)
        for (double& e : out) e = s.final_softcap * std::tanh(e / s.final_softcap);
    return out;
}

inline std::vector<double> HfCheckpoint::logits(const std::vector<int32_t>& tokens) const {
    return hf_logits(*this, tokens);
}

}  // namespace pocket::test
