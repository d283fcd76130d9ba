// LoRA adapters: the in-memory part (projection names, find/add). Reading and writing
// llama.cpp's adapter GGUF layout and merging live beside it (worker L's part of issue 16).
#include "pocket/model/lora.h"

#include <array>
#include <string>
#include <utility>

#include "pocket/core/error.h"

namespace pocket::model {
namespace {

constexpr std::array<std::string_view, kProjectionCount> kNames = {
    "q", "k", "v", "qkv", "o", "gate", "up", "down", "output"};
// GGUF tensor names of each projection (llama.cpp's LLM_TENSOR_* spellings), without the
// "blk.N." prefix and ".weight" suffix.
constexpr std::array<std::string_view, kProjectionCount> kTensorStems = {
    "attn_q",   "attn_k", "attn_v",   "attn_qkv", "attn_output",
    "ffn_gate", "ffn_up", "ffn_down", "output"};

}  // namespace

std::string_view projection_name(Projection p) {
    return kNames[static_cast<size_t>(p)];
}

Projection parse_projection(std::string_view name) {
    for (size_t i = 0; i < kNames.size(); ++i) {
        if (kNames[i] == name) return static_cast<Projection>(i);
    }
    fail("'", name, "' is not a LoRA target (use q, k, v, qkv, o, gate, up, down or output)");
}

std::string projection_tensor_name(Projection p, int64_t layer) {
    const std::string_view stem = kTensorStems[static_cast<size_t>(p)];
    if (p == Projection::Output) return std::string(stem) + ".weight";
    return cat("blk.", layer, ".", stem, ".weight");
}

const LoraMatrix* LoraAdapter::find(int64_t layer, Projection p) const {
    if (p == Projection::Output) layer = -1;
    for (const LoraMatrix& m : matrices_) {
        if (m.layer == layer && m.projection == p) return &m;
    }
    return nullptr;
}

LoraMatrix* LoraAdapter::find(int64_t layer, Projection p) {
    return const_cast<LoraMatrix*>(std::as_const(*this).find(layer, p));
}

LoraMatrix& LoraAdapter::add(int64_t layer, Projection p, int64_t rank, int64_t n_in,
                             int64_t n_out) {
    if (p == Projection::Output) layer = -1;
    if (find(layer, p) != nullptr)
        fail("the adapter already has a LoRA pair for ", projection_tensor_name(p, layer));
    if (rank <= 0 || n_in <= 0 || n_out <= 0)
        fail("LoRA pair for ", projection_tensor_name(p, layer), ": rank ", rank, ", n_in ", n_in,
             ", n_out ", n_out, " must all be positive");
    LoraMatrix& m = matrices_.emplace_back();
    m.layer = layer;
    m.projection = p;
    m.rank = rank;
    m.n_in = n_in;
    m.n_out = n_out;
    m.a.assign(static_cast<size_t>(rank * n_in), 0.0f);
    m.b.assign(static_cast<size_t>(n_out * rank), 0.0f);
    return m;
}

}  // namespace pocket::model
