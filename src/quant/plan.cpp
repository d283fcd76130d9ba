#include "plan.h"

#include <algorithm>
#include <array>
#include <cstdio>
#include <regex>

#include "pocket/core/error.h"

namespace pocket::quant::detail {
namespace {

bool contains(std::string_view s, std::string_view part) {
    return s.find(part) != std::string_view::npos;
}

// llama-quantize's tensor_allows_quantization (c392e50): matrices named *weight, not norms, not
// the MoE router, positional/token-type embeddings or a few small special tensors.
bool allows_quantization(const gguf::TensorInfo& t, const QuantizeOptions& options) {
    if (t.shape.size() < 2) return false;
    const std::string_view name = t.name;
    if (!name.ends_with("weight")) return false;
    if (contains(name, "_norm.weight")) return false;
    if (options.keep_output && name == "output.weight") return false;
    static constexpr std::array kNever = {"ffn_gate_inp.weight",
                                          "altup",
                                          "laurel",
                                          "per_layer_model_proj",
                                          "ssm_conv1d",
                                          "shortconv.conv.weight",
                                          "time_mix_first.weight",
                                          "time_mix_w1.weight",
                                          "time_mix_w2.weight",
                                          "time_mix_decay_w1.weight",
                                          "time_mix_decay_w2.weight",
                                          "time_mix_lerp_fused.weight",
                                          "attn_rel_b.weight"};
    for (const char* part : kNever) {
        if (contains(name, part)) return false;
    }
    return name != "position_embd.weight" && name != "token_types.weight";
}

TensorRole role_of(std::string_view name) {
    if (name == "token_embd.weight" || name == "per_layer_token_embd.weight")
        return TensorRole::TokenEmbedding;
    if (name == "output.weight") return TensorRole::Output;
    // Fused q/k/v and MLA's kv_b count as attn_v, as in llama-quantize.
    if (contains(name, "attn_v.weight") || contains(name, "attn_qkv.weight") ||
        contains(name, "attn_kv_b.weight"))
        return TensorRole::AttnV;
    if (contains(name, "attn_k.weight")) return TensorRole::AttnK;
    if (contains(name, "attn_q.weight")) return TensorRole::AttnQ;
    if (contains(name, "attn_output.weight")) return TensorRole::AttnOutput;
    if (contains(name, "ffn_up")) return TensorRole::FfnUp;
    if (contains(name, "ffn_gate")) return TensorRole::FfnGate;
    if (contains(name, "ffn_down")) return TensorRole::FfnDown;
    return TensorRole::Other;
}

int64_t head_ratio(const Source& source) {
    const gguf::Value* arch = source.find("general.architecture");
    if (arch == nullptr || arch->type() != gguf::ValueType::STRING) return 1;
    const std::string prefix = arch->as_string() + ".attention.";
    const gguf::Value* heads = source.find(prefix + "head_count");
    const gguf::Value* kv = source.find(prefix + "head_count_kv");
    // Per-layer arrays (some architectures) are left at 1: the GQA rules then do not apply.
    if (heads == nullptr || kv == nullptr || !heads->is_integer() || !kv->is_integer()) return 1;
    const int64_t h = heads->as_int(), k = kv->as_int();
    return k > 0 ? h / k : 1;
}

}  // namespace

bool is_float_type(DType type) {
    return type == DType::F32 || type == DType::F16 || type == DType::BF16;
}

QuantizeResult plan(const Source& source, const Scheme& scheme, const QuantizeOptions& options) {
    std::vector<std::regex> leave;
    for (const auto& pattern : options.leave_tensors) {
        try {
            leave.emplace_back(pattern, std::regex::ECMAScript);
        } catch (const std::regex_error& e) {
            fail("--leave-tensors: invalid regular expression '", pattern, "': ", e.what());
        }
    }
    const size_t n = source.tensor_count();
    // llama-quantize counts attn_v-like and ffn_down tensors and numbers them in file order.
    int64_t n_attn_v = 0, n_ffn_down = 0;
    bool has_output = false;
    for (size_t i = 0; i < n; ++i) {
        const auto& t = source.tensor(i);
        const TensorRole role = role_of(t.name);
        n_attn_v += role == TensorRole::AttnV;
        n_ffn_down += role == TensorRole::FfnDown;
        has_output |= t.name == "output.weight";
    }
    const int64_t n_gqa = head_ratio(source);

    // llama-quantize walks its loader's weights map, ordered by block number (tensors outside
    // blocks first), then by name; its attn_v/ffn_down counters follow that order too.
    std::vector<size_t> order(n);
    for (size_t i = 0; i < n; ++i) order[i] = i;
    if (!options.source_order) {
        auto block = [&](size_t i) {
            int layer = -1;
            std::sscanf(source.tensor(i).name.c_str(), "blk.%d.", &layer);
            return layer;
        };
        std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) {
            const int la = block(a), lb = block(b);
            if (la != lb) return la < lb;
            return source.tensor(a).name < source.tensor(b).name;
        });
    }

    QuantizeResult result;
    int64_t i_attn_v = 0, i_ffn_down = 0;
    size_t requantized = 0;
    for (size_t i : order) {
        const auto& t = source.tensor(i);
        TensorPlan p{
            .name = t.name, .shape = t.shape, .from = t.type, .to = t.type, .source_index = i};
        const TensorRole role = role_of(t.name);
        const int64_t index = role == TensorRole::AttnV     ? i_attn_v++
                              : role == TensorRole::FfnDown ? i_ffn_down++
                                                            : 0;
        bool left = false;
        for (const auto& re : leave) left |= std::regex_search(t.name, re);
        if (!left && allows_quantization(t, options)) {
            DType wanted = scheme.base;
            const auto row = static_cast<int64_t>(t.shape[0]);
            if (!is_float_type(scheme.base)) {
                if (!options.pure) {
                    wanted = mix_type(scheme,
                                      {.role = role,
                                       .layer = index,
                                       .n_layer = role == TensorRole::AttnV ? n_attn_v : n_ffn_down,
                                       .row_length = row,
                                       .output_tied = !has_output,
                                       .n_gqa = n_gqa});
                }
                p.to = fallback_type(wanted, row);
                if (p.to != wanted) result.fallbacks.push_back({t.name, wanted, p.to, row});
            } else {
                p.to = wanted;
            }
            if (p.to != p.from && !is_float_type(p.from)) ++requantized;
        }
        result.tensors.push_back(std::move(p));
    }
    if (requantized > 0) {
        result.warnings.push_back(cat(requantized,
                                      " tensors are already quantized; they are dequantized and "
                                      "quantized again, which loses more quality than quantizing "
                                      "the original F32/F16/BF16 weights"));
    }
    return result;
}

}  // namespace pocket::quant::detail
