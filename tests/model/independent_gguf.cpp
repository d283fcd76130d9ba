#include "model/independent_gguf.h"

#include <cmath>
#include <cstring>
#include <numbers>
#include <random>
#include <string>

#include "model/synth.h"
#include "pocket/gguf/gguf.h"

namespace pocket::test::independent {
namespace {

// Box-Muller on top of mt19937_64 (whose output sequence the standard fixes), so the weights are
// the same on every platform, unlike std::normal_distribution's.
class Normal {
  public:
    explicit Normal(uint64_t seed) : rng_(seed) {}
    float operator()(float mean, float sigma) {
        const double u1 = (static_cast<double>(rng_() >> 11) + 0.5) * 0x1.0p-53;
        const double u2 = static_cast<double>(rng_() >> 11) * 0x1.0p-53;
        const double z = std::sqrt(-2.0 * std::log(u1)) * std::cos(2.0 * std::numbers::pi * u2);
        return static_cast<float>(mean + sigma * z);
    }
    std::vector<float> fill(size_t n, float mean, float sigma) {
        std::vector<float> v(n);
        for (float& x : v) x = (*this)(mean, sigma);
        return v;
    }

  private:
    std::mt19937_64 rng_;
};

std::vector<std::byte> f32_bytes(const std::vector<float>& v) {
    std::vector<std::byte> out(v.size() * sizeof(float));
    std::memcpy(out.data(), v.data(), out.size());
    return out;
}

}  // namespace

Weights random_weights(const Spec& s, uint64_t seed, const WeightScales& k) {
    Normal n(seed);
    const size_t E = s.n_embd, Q = size_t(s.n_head) * s.head_dim,
                 KV = size_t(s.n_head_kv) * s.head_dim, F = s.n_ff, D = s.head_dim;
    Weights w;
    w.token_embd = n.fill(size_t(s.n_vocab) * E, 0.0f, k.embd_sigma);
    for (int l = 0; l < s.n_layer; ++l) {
        Layer L;
        L.attn_norm = n.fill(E, k.norm_center, k.norm_sigma);
        L.wq = n.fill(Q * E, 0.0f, k.matrix_sigma);
        L.wk = n.fill(KV * E, 0.0f, k.matrix_sigma);
        L.wv = n.fill(KV * E, 0.0f, k.matrix_sigma);
        if (s.qkv_bias) {
            L.bq = n.fill(Q, 0.0f, 0.2f);
            L.bk = n.fill(KV, 0.0f, 0.2f);
            L.bv = n.fill(KV, 0.0f, 0.2f);
        }
        if (s.qk_norm) {
            L.q_norm = n.fill(D, k.qk_norm_center, k.norm_sigma);
            L.k_norm = n.fill(D, k.qk_norm_center, k.norm_sigma);
        }
        L.wo = n.fill(E * Q, 0.0f, k.matrix_sigma);
        if (s.post_norms) L.post_attn_norm = n.fill(E, k.norm_center, k.norm_sigma);
        L.ffn_norm = n.fill(E, k.norm_center, k.norm_sigma);
        L.w_gate = n.fill(F * E, 0.0f, k.matrix_sigma);
        L.w_up = n.fill(F * E, 0.0f, k.matrix_sigma);
        L.w_down = n.fill(E * F, 0.0f, k.matrix_sigma);
        if (s.post_norms) L.post_ffn_norm = n.fill(E, k.norm_center, k.norm_sigma);
        w.layers.push_back(std::move(L));
    }
    w.output_norm = n.fill(E, k.output_norm_center, k.norm_sigma);
    if (!s.tied_output) w.output = n.fill(size_t(s.n_vocab) * E, 0.0f, 0.15f);
    return w;
}

// Keys and tensor names as llama.cpp spells them (gguf-py/gguf/constants.py, Keys.LLM /
// Keys.Attention / Keys.Rope and TENSOR_NAMES), with the values its converters write
// (convert_hf_to_gguf.py: Qwen2Model, Qwen3Model, Gemma2Model, Gemma3Model).
void write_gguf(const Spec& s, const Weights& w, const std::filesystem::path& path) {
    gguf::Writer out;
    const std::string a = s.arch;
    auto u32 = [](int v) { return gguf::Value(static_cast<uint32_t>(v)); };
    auto f32 = [](double v) { return gguf::Value(static_cast<float>(v)); };
    out.set("general.architecture", a);
    out.set("general.name", "independent-" + a);
    out.set(a + ".context_length", u32(4096));
    out.set(a + ".embedding_length", u32(s.n_embd));
    out.set(a + ".block_count", u32(s.n_layer));
    out.set(a + ".feed_forward_length", u32(s.n_ff));
    out.set(a + ".attention.head_count", u32(s.n_head));
    out.set(a + ".attention.head_count_kv", u32(s.n_head_kv));
    // Qwen2 files carry no key_length: the head size is n_embd / n_head there.
    if (s.head_dim != s.n_embd / s.n_head || a != "qwen2") {
        out.set(a + ".attention.key_length", u32(s.head_dim));
        out.set(a + ".attention.value_length", u32(s.head_dim));
    }
    out.set(a + ".rope.freq_base", f32(s.rope_base));
    out.set(a + ".attention.layer_norm_rms_epsilon", f32(s.norm_eps));
    if (s.sliding_window > 0) out.set(a + ".attention.sliding_window", u32(s.sliding_window));
    if (s.attn_softcap > 0) out.set(a + ".attn_logit_softcapping", f32(s.attn_softcap));
    if (s.final_softcap > 0) out.set(a + ".final_logit_softcapping", f32(s.final_softcap));
    if (s.rope_linear_factor != 1.0) {
        out.set(a + ".rope.scaling.type", std::string("linear"));
        out.set(a + ".rope.scaling.factor", f32(s.rope_linear_factor));
    }
    out.set("general.file_type", u32(0));  // ALL_F32

    const auto vocab = model::make_synth_vocab(s.n_vocab);
    gguf::Array tokens{gguf::ValueType::STRING, {}}, scores{gguf::ValueType::FLOAT32, {}},
        types{gguf::ValueType::INT32, {}};
    for (size_t i = 0; i < vocab.tokens.size(); ++i) {
        tokens.items.emplace_back(vocab.tokens[i]);
        scores.items.emplace_back(vocab.scores[i]);
        types.items.emplace_back(vocab.types[i]);
    }
    out.set("tokenizer.ggml.model", std::string("llama"));
    out.set("tokenizer.ggml.tokens", std::move(tokens));
    out.set("tokenizer.ggml.scores", std::move(scores));
    out.set("tokenizer.ggml.token_type", std::move(types));
    out.set("tokenizer.ggml.bos_token_id", uint32_t{1});
    out.set("tokenizer.ggml.eos_token_id", uint32_t{2});
    out.set("tokenizer.ggml.unknown_token_id", uint32_t{0});
    out.set("tokenizer.ggml.add_bos_token", true);

    const uint64_t E = s.n_embd, Q = uint64_t(s.n_head) * s.head_dim,
                   KV = uint64_t(s.n_head_kv) * s.head_dim, F = s.n_ff, D = s.head_dim;
    // Shapes in ggml order: {inputs, outputs}.
    auto add = [&](const std::string& name, std::vector<uint64_t> shape,
                   const std::vector<float>& data) {
        out.add_tensor(name, DType::F32, std::move(shape), f32_bytes(data));
    };
    add("token_embd.weight", {E, uint64_t(s.n_vocab)}, w.token_embd);
    for (int l = 0; l < s.n_layer; ++l) {
        const Layer& L = w.layers[l];
        const std::string p = "blk." + std::to_string(l) + ".";
        add(p + "attn_norm.weight", {E}, L.attn_norm);
        add(p + "attn_q.weight", {E, Q}, L.wq);
        add(p + "attn_k.weight", {E, KV}, L.wk);
        add(p + "attn_v.weight", {E, KV}, L.wv);
        if (s.qkv_bias) {
            add(p + "attn_q.bias", {Q}, L.bq);
            add(p + "attn_k.bias", {KV}, L.bk);
            add(p + "attn_v.bias", {KV}, L.bv);
        }
        if (s.qk_norm) {
            add(p + "attn_q_norm.weight", {D}, L.q_norm);
            add(p + "attn_k_norm.weight", {D}, L.k_norm);
        }
        add(p + "attn_output.weight", {Q, E}, L.wo);
        if (s.post_norms) add(p + "post_attention_norm.weight", {E}, L.post_attn_norm);
        add(p + "ffn_norm.weight", {E}, L.ffn_norm);
        add(p + "ffn_gate.weight", {E, F}, L.w_gate);
        add(p + "ffn_up.weight", {E, F}, L.w_up);
        add(p + "ffn_down.weight", {F, E}, L.w_down);
        if (s.post_norms) add(p + "post_ffw_norm.weight", {E}, L.post_ffn_norm);
    }
    add("output_norm.weight", {E}, w.output_norm);
    if (!s.tied_output) add("output.weight", {E, uint64_t(s.n_vocab)}, w.output);
    out.write(path);
}

}  // namespace pocket::test::independent
