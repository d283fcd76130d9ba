#include "arch_plan.h"

#include "pocket/model/rope_scaling.h"

#include <cmath>
#include <fstream>
#include <map>
#include <regex>

#include "pocket/core/error.h"

namespace pocket::convert::detail {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

bool has(const json& c, const char* key) {
    return c.contains(key) && !c[key].is_null();
}

int64_t get_int(const json& c, const char* key, std::optional<int64_t> fallback = {}) {
    if (has(c, key)) {
        if (!c[key].is_number_integer()) fail("config.json: '", key, "' is not an integer");
        return c[key].get<int64_t>();
    }
    if (fallback) return *fallback;
    fail("config.json: missing integer '", key, "'");
}

double get_float(const json& c, const char* key, std::optional<double> fallback = {}) {
    if (has(c, key)) {
        if (!c[key].is_number()) fail("config.json: '", key, "' is not a number");
        return c[key].get<double>();
    }
    if (fallback) return *fallback;
    fail("config.json: missing number '", key, "'");
}

[[noreturn]] void unsupported(const char* key, const json& value, const std::string& why) {
    fail("config.json: '", key, "' = ", value.dump(), " is not supported by the converter (", why,
         ")");
}

// A field that must be absent, null or false.
void require_off(const json& c, const char* key, const std::string& why) {
    if (has(c, key) && !(c[key].is_boolean() && !c[key].get<bool>())) unsupported(key, c[key], why);
}

void require_activation(const json& c, const char* key, std::initializer_list<const char*> ok) {
    if (!has(c, key)) return;
    const std::string act = c[key].is_string() ? c[key].get<std::string>() : "";
    for (const char* a : ok) {
        if (act == a) return;
    }
    unsupported(key, c[key], "pocket's forward pass has a fixed activation per architecture");
}

uint32_t u32(int64_t v) {
    return static_cast<uint32_t>(v);
}

bool is_gemma(const std::string& arch) {
    return arch == "gemma2" || arch == "gemma3";
}

}  // namespace

ArchPlan ArchPlan::from_config(const json& full_config) {
    ArchPlan plan;
    plan.model_type_ = full_config.value("model_type", "");
    // Multimodal Gemma 3 nests the language model's hyper-parameters; only the text model converts.
    plan.config_ = full_config.contains("text_config") && full_config["text_config"].is_object()
                       ? full_config["text_config"]
                       : full_config;
    const json& c = plan.config_;
    const std::string& mt = plan.model_type_;
    if (mt == "llama" || mt == "qwen2" || mt == "qwen3" || mt == "phi3" || mt == "gemma2" ||
        mt == "bert") {
        plan.arch_ = mt;
    } else if (mt == "gemma3" || mt == "gemma3_text") {
        plan.arch_ = "gemma3";
    } else {
        fail("config.json: model_type '", mt,
             "' is not supported by the converter (supported: llama, qwen2, qwen3, phi3, gemma2, "
             "gemma3, bert, model2vec)");
    }

    plan.n_embd_ = get_int(c, "hidden_size");
    plan.n_head_ = get_int(c, "num_attention_heads");
    plan.n_head_kv_ = get_int(c, "num_key_value_heads", plan.n_head_);
    if (plan.n_head_ <= 0 || plan.n_head_kv_ <= 0 || plan.n_head_ % plan.n_head_kv_ != 0)
        fail("config.json: num_attention_heads ", plan.n_head_,
             " is not a positive multiple of num_key_value_heads ", plan.n_head_kv_);
    plan.head_dim_ = get_int(c, "head_dim", plan.n_embd_ / plan.n_head_);
    const std::string& a = plan.arch_;

    if (a == "bert") {
        if (has(c, "position_embedding_type") && c["position_embedding_type"] != "absolute")
            unsupported("position_embedding_type", c["position_embedding_type"],
                        "only absolute position embeddings");
        require_activation(c, "hidden_act", {"gelu", "gelu_new", "gelu_pytorch_tanh"});
        return plan;
    }

    if (a == "gemma3") {
        if (has(c, "rope_scaling")) {
            const json& rs = c["rope_scaling"];
            const std::string type = rs.value("rope_type", rs.value("type", ""));
            if (type != "linear" || !rs.contains("factor"))
                unsupported("rope_scaling", rs, "only linear scaling");
        }
    } else if (a == "llama" && has(c, "rope_scaling")) {
        // Llama 3.1/3.2: frequency divisors, written as the rope_freqs tensor (extra_tensors()).
        const json& rs = c["rope_scaling"];
        const std::string type = rs.value("rope_type", rs.value("type", ""));
        if (type != "llama3" && type != "linear")
            unsupported("rope_scaling", rs, "llama3 or linear scaling");
    } else if (has(c, "rope_scaling")) {
        unsupported("rope_scaling", c["rope_scaling"], "rope scaling is not converted yet");
    }
    if (is_gemma(a)) {
        require_activation(c, "hidden_activation", {"gelu_pytorch_tanh"});
        if (!has(c, "hidden_activation"))
            require_activation(c, "hidden_act", {"gelu_pytorch_tanh", "gelu"});
        // pocket scales queries by 1/sqrt(head_dim), or by 1/sqrt(n_embd/n_head) for the 27B
        // layer counts (llama.cpp's rule); any other query_pre_attn_scalar would be ignored.
        const int64_t n_layer = get_int(c, "num_hidden_layers");
        const bool big = (a == "gemma2" && n_layer == 46) || (a == "gemma3" && n_layer == 62);
        const int64_t expected = big ? plan.n_embd_ / plan.n_head_ : plan.head_dim_;
        if (has(c, "query_pre_attn_scalar") &&
            get_float(c, "query_pre_attn_scalar") != static_cast<double>(expected))
            unsupported("query_pre_attn_scalar", c["query_pre_attn_scalar"],
                        cat("pocket uses ", expected, " for this model size"));
    } else {
        require_activation(c, "hidden_act", {"silu"});
    }
    if (a == "gemma3") {
        if (has(c, "attn_logit_softcapping"))
            unsupported("attn_logit_softcapping", c["attn_logit_softcapping"],
                        "gemma3 has no attention soft-capping in pocket");
        if (has(c, "rope_local_base_freq") && get_float(c, "rope_local_base_freq") != 10000.0)
            unsupported("rope_local_base_freq", c["rope_local_base_freq"],
                        "pocket's gemma3 local layers use 10000");
        if (has(c, "sliding_window_pattern") && get_int(c, "sliding_window_pattern") != 6)
            unsupported("sliding_window_pattern", c["sliding_window_pattern"],
                        "pocket's gemma3 has one global layer in six");
        if (has(c, "layer_types") && c["layer_types"].is_array()) {
            for (size_t i = 0; i < c["layer_types"].size(); ++i) {
                const bool sliding = c["layer_types"][i] == "sliding_attention";
                if (sliding != ((i + 1) % 6 != 0))
                    unsupported("layer_types", c["layer_types"][i],
                                cat("layer ", i, ": pocket's gemma3 has one global layer in six"));
            }
        }
    }
    if (a == "llama") {
        require_off(c, "attention_bias", "llama q/k/v biases are not supported");
        require_off(c, "mlp_bias", "llama FFN biases are not supported");
    }
    if (a == "qwen2") require_off(c, "use_sliding_window", "qwen2 sliding-window attention");
    if (a == "qwen3") require_off(c, "attention_bias", "qwen3 q/k/v biases are not supported");
    return plan;
}

void ArchPlan::write_metadata(gguf::Writer& w, const fs::path& dir) const {
    const json& c = config_;
    const std::string p = arch_ + ".";
    w.set("general.architecture", arch_);
    w.set(p + "context_length", u32(get_int(c, "max_position_embeddings", 2048)));
    w.set(p + "embedding_length", u32(n_embd_));
    w.set(p + "block_count", u32(get_int(c, "num_hidden_layers")));
    w.set(p + "feed_forward_length", u32(get_int(c, "intermediate_size")));
    w.set(p + "attention.head_count", u32(n_head_));
    w.set(p + "attention.head_count_kv", u32(n_head_kv_));

    if (arch_ == "bert") {
        w.set(p + "attention.layer_norm_epsilon",
              static_cast<float>(get_float(c, "layer_norm_eps", 1e-12)));
        w.set(p + "attention.causal", false);
        // sentence-transformers names its pooling in modules.json -> <path>/config.json; without
        // it, mean pooling (what llama.cpp's embedding example and pocket default to).
        uint32_t pooling = 1;  // mean
        if (fs::exists(dir / "modules.json")) {
            std::ifstream in(dir / "modules.json");
            for (const json& mod : json::parse(in)) {
                if (mod.value("type", "") != "sentence_transformers.models.Pooling") continue;
                std::ifstream pin(dir / mod.value("path", "") / "config.json");
                if (!pin) fail(dir.string(), ": pooling config named by modules.json is missing");
                const json pc = json::parse(pin);
                if (pc.value("pooling_mode_mean_tokens", false))
                    pooling = 1;
                else if (pc.value("pooling_mode_cls_token", false))
                    pooling = 2;
                else
                    fail(dir.string(), ": only mean and CLS pooling are supported");
            }
        }
        w.set(p + "pooling_type", pooling);
        w.set("tokenizer.ggml.token_type_count", u32(get_int(c, "type_vocab_size", 2)));
        return;
    }

    const double default_theta = arch_ == "gemma3" ? 1e6 : 10000.0;
    w.set(p + "rope.freq_base", static_cast<float>(get_float(c, "rope_theta", default_theta)));
    w.set(p + "attention.layer_norm_rms_epsilon",
          static_cast<float>(get_float(c, "rms_norm_eps", 1e-6)));
    if (arch_ == "llama") w.set(p + "rope.dimension_count", u32(head_dim_));
    if (has(c, "head_dim") || head_dim_ != n_embd_ / n_head_ || arch_ == "qwen3" ||
        is_gemma(arch_)) {
        w.set(p + "attention.key_length", u32(head_dim_));
        w.set(p + "attention.value_length", u32(head_dim_));
    }
    if (arch_ == "phi3") {
        const double rot = get_float(c, "partial_rotary_factor", 1.0);
        w.set(p + "rope.dimension_count",
              u32(static_cast<int64_t>(rot * static_cast<double>(n_embd_)) / n_head_));
        w.set(p + "rope.scaling.original_context_length",
              u32(get_int(c, "original_max_position_embeddings",
                          get_int(c, "max_position_embeddings", 4096))));
    }
    if (arch_ == "phi3" || is_gemma(arch_)) {
        if (has(c, "sliding_window"))
            w.set(p + "attention.sliding_window", u32(get_int(c, "sliding_window")));
    }
    if (arch_ == "gemma2") {
        if (has(c, "attn_logit_softcapping"))
            w.set(p + "attn_logit_softcapping",
                  static_cast<float>(get_float(c, "attn_logit_softcapping")));
    }
    if (is_gemma(arch_) && has(c, "final_logit_softcapping")) {
        w.set(p + "final_logit_softcapping",
              static_cast<float>(get_float(c, "final_logit_softcapping")));
    }
    if (arch_ == "llama" && has(c, "rope_scaling")) {
        const json& rs = c["rope_scaling"];
        if (rs.value("rope_type", rs.value("type", "")) == "linear") {
            w.set(p + "rope.scaling.type", std::string("linear"));
            w.set(p + "rope.scaling.factor", static_cast<float>(get_float(rs, "factor")));
        }
    }
    if (arch_ == "gemma3" && has(c, "rope_scaling")) {
        w.set(p + "rope.scaling.type", std::string("linear"));
        w.set(p + "rope.scaling.factor",
              static_cast<float>(get_float(c["rope_scaling"], "factor")));
    }
}

std::vector<std::pair<std::string, std::vector<float>>> ArchPlan::extra_tensors() const {
    std::vector<std::pair<std::string, std::vector<float>>> extra;
    const json& c = config_;
    if (arch_ == "llama" && has(c, "rope_scaling")) {
        const json& rs = c["rope_scaling"];
        if (rs.value("rope_type", rs.value("type", "")) == "llama3") {
            const model::Llama3RopeScaling scaling{
                .factor = static_cast<float>(get_float(rs, "factor")),
                .low_freq_factor = static_cast<float>(get_float(rs, "low_freq_factor", 1.0)),
                .high_freq_factor = static_cast<float>(get_float(rs, "high_freq_factor", 4.0)),
                .original_context = get_int(rs, "original_max_position_embeddings", 8192)};
            extra.emplace_back(
                "rope_freqs.weight",
                model::llama3_rope_factors(static_cast<float>(get_float(c, "rope_theta", 10000.0)),
                                           head_dim_, scaling));
        }
    }
    return extra;
}

std::optional<TensorPlan> ArchPlan::map(const std::string& hf_name) const {
    auto plan = arch_ == "bert" ? map_bert(hf_name) : map_decoder(hf_name);
    return plan;
}

std::optional<TensorPlan> ArchPlan::map_decoder(const std::string& original) const {
    std::string name = original;
    // Multimodal Gemma 3 checkpoints: keep the language model, drop the vision parts.
    for (const char* skip : {"vision_tower.", "multi_modal_projector.", "model.vision_tower.",
                             "model.multi_modal_projector."}) {
        if (arch_ == "gemma3" && name.starts_with(skip)) return std::nullopt;
    }
    if (arch_ == "gemma3") {
        if (name.starts_with("language_model.")) name = name.substr(15);
        if (name.starts_with("model.language_model.")) name = "model." + name.substr(21);
    }
    if (name.find("rotary_emb.inv_freq") != std::string::npos) return std::nullopt;  // recomputed
    const Transform norm = is_gemma(arch_) ? Transform::PlusOne : Transform::None;
    if (name == "model.embed_tokens.weight") return TensorPlan{"token_embd.weight"};
    if (name == "model.norm.weight") return TensorPlan{"output_norm.weight", norm};
    if (name == "lm_head.weight") {
        // Gemma ties its output to the embeddings; llama.cpp drops a stray lm_head too.
        if (is_gemma(arch_)) return std::nullopt;
        return TensorPlan{"output.weight"};
    }

    static const std::regex layer_re(R"(model\.layers\.(\d+)\.(.+))");
    std::smatch m;
    if (!std::regex_match(name, m, layer_re))
        fail(original, ": tensor not known to the ", arch_, " converter");
    const std::string blk = cat("blk.", m[1].str(), ".");
    const std::string rest = m[2].str();
    const bool llama = arch_ == "llama", gemma = is_gemma(arch_);
    const bool qk_norm = arch_ == "qwen3" || arch_ == "gemma3";

    struct Rule {
        const char* hf;
        const char* gguf;
        Transform transform;
        bool when;
    };
    const Rule rules[] = {
        {"input_layernorm.weight", "attn_norm.weight", norm, true},
        {"self_attn.q_proj.weight", "attn_q.weight", llama ? Transform::PermuteQ : Transform::None,
         arch_ != "phi3"},
        {"self_attn.k_proj.weight", "attn_k.weight", llama ? Transform::PermuteK : Transform::None,
         arch_ != "phi3"},
        {"self_attn.v_proj.weight", "attn_v.weight", Transform::None, arch_ != "phi3"},
        {"self_attn.q_proj.bias", "attn_q.bias", Transform::None, arch_ == "qwen2"},
        {"self_attn.k_proj.bias", "attn_k.bias", Transform::None, arch_ == "qwen2"},
        {"self_attn.v_proj.bias", "attn_v.bias", Transform::None, arch_ == "qwen2"},
        {"self_attn.qkv_proj.weight", "attn_qkv.weight", Transform::None, arch_ == "phi3"},
        {"self_attn.q_norm.weight", "attn_q_norm.weight", norm, qk_norm},
        {"self_attn.k_norm.weight", "attn_k_norm.weight", norm, qk_norm},
        {"self_attn.o_proj.weight", "attn_output.weight", Transform::None, true},
        {"post_attention_layernorm.weight",
         gemma ? "post_attention_norm.weight" : "ffn_norm.weight", norm, true},
        {"pre_feedforward_layernorm.weight", "ffn_norm.weight", norm, gemma},
        {"post_feedforward_layernorm.weight", "post_ffw_norm.weight", norm, gemma},
        {"mlp.gate_proj.weight", "ffn_gate.weight", Transform::None, arch_ != "phi3"},
        {"mlp.up_proj.weight", "ffn_up.weight", Transform::None, arch_ != "phi3"},
        {"mlp.gate_up_proj.weight", "ffn_up.weight", Transform::None, arch_ == "phi3"},
        {"mlp.down_proj.weight", "ffn_down.weight", Transform::None, true},
    };
    for (const Rule& r : rules) {
        if (r.when && rest == r.hf) return TensorPlan{blk + r.gguf, r.transform};
    }
    fail(original, ": tensor not known to the ", arch_, " converter");
}

std::optional<TensorPlan> ArchPlan::map_bert(const std::string& original) const {
    std::string name = original;
    if (name.starts_with("bert.")) name = name.substr(5);
    if (name.ends_with(".gamma")) name = name.substr(0, name.size() - 6) + ".weight";
    if (name.ends_with(".beta")) name = name.substr(0, name.size() - 5) + ".bias";
    // Only the encoder is kept: pocket uses BERT for embeddings.
    if (name == "embeddings.position_ids" || name.starts_with("pooler.") ||
        name.starts_with("cls."))
        return std::nullopt;
    static const std::map<std::string, std::string> top = {
        {"embeddings.word_embeddings.weight", "token_embd.weight"},
        {"embeddings.position_embeddings.weight", "position_embd.weight"},
        {"embeddings.token_type_embeddings.weight", "token_types.weight"},
        {"embeddings.LayerNorm.weight", "token_embd_norm.weight"},
        {"embeddings.LayerNorm.bias", "token_embd_norm.bias"},
    };
    if (auto it = top.find(name); it != top.end()) return TensorPlan{it->second};
    static const std::regex layer_re(R"(encoder\.layer\.(\d+)\.(.+)\.(weight|bias))");
    static const std::map<std::string, std::string> layer = {
        {"attention.self.query", "attn_q"},
        {"attention.self.key", "attn_k"},
        {"attention.self.value", "attn_v"},
        {"attention.output.dense", "attn_output"},
        {"attention.output.LayerNorm", "attn_output_norm"},
        {"intermediate.dense", "ffn_up"},
        {"output.dense", "ffn_down"},
        {"output.LayerNorm", "layer_output_norm"},
    };
    std::smatch m;
    if (std::regex_match(name, m, layer_re)) {
        if (auto it = layer.find(m[2].str()); it != layer.end())
            return TensorPlan{cat("blk.", m[1].str(), ".", it->second, ".", m[3].str())};
    }
    fail(original, ": tensor not known to the bert converter");
}

}  // namespace pocket::convert::detail
