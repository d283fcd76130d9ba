// LoRA adapters: projection names, the in-memory adapter (find/add), reading and writing
// llama.cpp's adapter GGUF layout, and merging adapters into a model file.
#include "pocket/model/lora.h"

#include <algorithm>
#include <array>
#include <charconv>
#include <cmath>
#include <cstring>
#include <map>
#include <string>
#include <utility>

#include "kernels/kernels.h"
#include "pocket/core/error.h"
#include "pocket/core/thread_pool.h"
#include "pocket/gguf/gguf.h"
#include "pocket/model/model.h"

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

std::optional<ProjectionSite> parse_projection_tensor_name(std::string_view name) {
    constexpr std::string_view kWeight = ".weight";
    if (!name.ends_with(kWeight)) return std::nullopt;
    name.remove_suffix(kWeight.size());
    if (name == "output") return ProjectionSite{-1, Projection::Output};
    constexpr std::string_view kBlock = "blk.";
    if (!name.starts_with(kBlock)) return std::nullopt;
    name.remove_prefix(kBlock.size());
    const size_t dot = name.find('.');
    if (dot == std::string_view::npos || dot == 0 || dot > 9) return std::nullopt;
    // Digits only, no sign or leading zero, so each layer has exactly one spelling.
    const std::string_view digits = name.substr(0, dot);
    if (digits.size() > 1 && digits[0] == '0') return std::nullopt;
    int64_t layer = 0;
    const auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), layer);
    if (ec != std::errc{} || end != digits.data() + digits.size() || layer < 0) return std::nullopt;
    const std::string_view stem = name.substr(dot + 1);
    for (size_t i = 0; i < kTensorStems.size(); ++i) {
        const auto p = static_cast<Projection>(i);
        if (p != Projection::Output && kTensorStems[i] == stem) return ProjectionSite{layer, p};
    }
    return std::nullopt;
}

const TensorView* projection_weight(const Weights& w, int64_t layer, Projection p) {
    if (p == Projection::Output) return w.output.empty() || w.output_tied ? nullptr : &w.output;
    if (layer < 0 || layer >= static_cast<int64_t>(w.layers.size())) return nullptr;
    const LayerWeights& l = w.layers[static_cast<size_t>(layer)];
    const TensorView* v = nullptr;
    switch (p) {
        case Projection::Q:
            v = &l.wq;
            break;
        case Projection::K:
            v = &l.wk;
            break;
        case Projection::V:
            v = &l.wv;
            break;
        case Projection::QKV:
            v = &l.wqkv;
            break;
        case Projection::O:
            v = &l.wo;
            break;
        case Projection::Gate:
            v = &l.w_gate;
            break;
        case Projection::Up:
            v = &l.w_up;
            break;
        case Projection::Down:
            v = &l.w_down;
            break;
        case Projection::Output:
            break;
    }
    return v == nullptr || v->empty() ? nullptr : v;
}

namespace {

constexpr std::string_view kSuffixA = ".lora_a";
constexpr std::string_view kSuffixB = ".lora_b";
// A rank beyond this is no low-rank update; refusing it bounds what a hostile file can make us
// allocate and compute (the shapes are otherwise pinned by the base matrix).
constexpr int64_t kMaxRank = 65536;

std::string shape_string(const std::vector<uint64_t>& shape) {
    std::string s = "[";
    for (size_t i = 0; i < shape.size(); ++i) s += cat(i ? ", " : "", shape[i]);
    return s + "]";
}

// (ne[0], ne[1]) of a tensor that is a matrix once trailing dimensions of 1 are dropped (ggml
// writes a rank-1 lora_a, [n_in, 1], as the 1-D [n_in]); nullopt otherwise.
std::optional<std::pair<int64_t, int64_t>> matrix_shape(const gguf::TensorInfo& t) {
    std::vector<uint64_t> shape = t.shape;
    while (shape.size() > 2 && shape.back() == 1) shape.pop_back();
    if (shape.empty() || shape.size() > 2) return std::nullopt;
    return std::pair{static_cast<int64_t>(shape[0]),
                     static_cast<int64_t>(shape.size() == 2 ? shape[1] : 1)};
}

// The tensor's values in F32, rows dequantized with the scalar kernels (the same values on every
// instruction set).
std::vector<float> read_values(const gguf::File& file, const gguf::TensorInfo& t) {
    if (!kernels::has_ops(t.type)) {
        fail(file.name(), ": tensor '", t.name, "' has type ", dtype_name(t.type),
             ", which pocket cannot read");
    }
    const kernels::TypeOps& ops = kernels::ops(t.type, kernels::Isa::Scalar);
    const auto cols = static_cast<int64_t>(t.shape[0]);
    const auto rows = static_cast<int64_t>(t.rows());
    const auto row = static_cast<size_t>(*row_bytes(t.type, t.shape[0]));
    const std::span<const std::byte> data = file.tensor_data(t);
    std::vector<float> out(static_cast<size_t>(cols * rows));
    for (int64_t r = 0; r < rows; ++r)
        ops.to_float(data.data() + static_cast<size_t>(r) * row, &out[r * cols], cols);
    return out;
}

void check_store_type(DType type, std::string_view what) {
    if (type != DType::F32 && type != DType::F16 && type != DType::BF16)
        fail(what, " must be f32, f16 or bf16, not ", dtype_name(type));
}

// `values` in `type` (F32, F16 or BF16), as the bytes of a tensor.
std::vector<std::byte> encode(std::span<const float> values, DType type) {
    const size_t elem = type == DType::F32 ? 4 : 2;
    std::vector<std::byte> out(values.size() * elem);
    kernels::ops(type, kernels::Isa::Scalar)
        .from_float_ref(values.data(), out.data(), static_cast<int64_t>(values.size()));
    return out;
}

// Throws unless `m` fits the base matrix `w` names (which may be null: absent in the model).
void check_matrix(const LoraMatrix& m, const TensorView* w, std::string_view context) {
    const std::string name = projection_tensor_name(m.projection, m.layer);
    if (w == nullptr)
        fail(context, ": '", name, "' does not exist in the base model (wrong base model?)");
    if (m.n_in != w->cols || m.n_out != w->rows) {
        fail(context, ": the LoRA pair for '", name, "' maps ", m.n_in, " inputs to ", m.n_out,
             " outputs, but the base matrix has ", w->cols, " columns and ", w->rows, " rows");
    }
    if (m.rank <= 0 || m.rank > kMaxRank)
        fail(context, ": the LoRA pair for '", name, "' has rank ", m.rank, " (1 to ", kMaxRank,
             " allowed)");
    if (m.a.size() != static_cast<size_t>(m.rank * m.n_in) ||
        m.b.size() != static_cast<size_t>(m.n_out * m.rank)) {
        fail(context, ": the LoRA pair for '", name, "' holds ", m.a.size(), " + ", m.b.size(),
             " values, expected ", m.rank * m.n_in, " + ", m.n_out * m.rank);
    }
}

}  // namespace

LoraAdapter LoraAdapter::load(const std::filesystem::path& path, const Model& base) {
    return load(gguf::File::open(path), base);
}

LoraAdapter LoraAdapter::load(const gguf::File& file, const Model& base) {
    const std::string& name = file.name();
    const std::optional<std::string> general_type = file.get_string("general.type");
    if (general_type != "adapter") {
        fail(name, ": not a LoRA adapter (general.type is ",
             general_type ? cat("'", *general_type, "'") : std::string("missing"),
             ", expected 'adapter')");
    }
    const std::optional<std::string> adapter_type = file.get_string("adapter.type");
    if (adapter_type != "lora") {
        fail(name, ": not a LoRA adapter (adapter.type is ",
             adapter_type ? cat("'", *adapter_type, "'") : std::string("missing"),
             ", expected 'lora')");
    }
    const std::optional<std::string> arch = file.get_string("general.architecture");
    if (!arch) fail(name, ": the adapter has no general.architecture");
    if (*arch != base.arch().name) {
        fail(name, ": the adapter is for architecture '", *arch, "', the base model is '",
             base.arch().name, "'");
    }
    // llama.cpp reads a missing alpha as 0, which means "scale by the user scale alone".
    const double alpha = file.get_float("adapter.lora.alpha").value_or(0.0);
    if (!std::isfinite(alpha) || std::abs(alpha) > 1e30)
        fail(name, ": adapter.lora.alpha is ", alpha, ", expected a finite number");
    LoraAdapter adapter(*arch, static_cast<float>(alpha));

    // Pairs in the order their first half appears, so a save/load round trip keeps the order.
    struct Pair {
        std::string base;
        const gguf::TensorInfo* a = nullptr;
        const gguf::TensorInfo* b = nullptr;
    };
    std::vector<Pair> pairs;
    std::map<std::string, size_t, std::less<>> index;
    for (const gguf::TensorInfo& t : file.tensors()) {
        const std::string_view tname = t.name;
        const bool is_a = tname.ends_with(kSuffixA), is_b = tname.ends_with(kSuffixB);
        if (!is_a && !is_b) {
            // llama.cpp skips norm vectors some converters emit; so do we.
            if (tname.ends_with("_norm.weight")) continue;
            fail(name, ": tensor '", t.name,
                 "' is not half of a LoRA pair (expected NAME.lora_a and NAME.lora_b)");
        }
        std::string base_name(tname.substr(0, tname.size() - kSuffixA.size()));
        auto it = index.find(base_name);
        if (it == index.end()) {
            it = index.emplace(base_name, pairs.size()).first;
            pairs.push_back(Pair{std::move(base_name)});
        }
        (is_a ? pairs[it->second].a : pairs[it->second].b) = &t;
    }
    if (pairs.empty()) fail(name, ": the adapter holds no LoRA pairs");

    for (const Pair& pair : pairs) {
        if (pair.a == nullptr || pair.b == nullptr) {
            fail(name, ": the LoRA pair for '", pair.base, "' has no ",
                 pair.a == nullptr ? "lora_a" : "lora_b", " tensor");
        }
        const std::optional<ProjectionSite> site = parse_projection_tensor_name(pair.base);
        if (!site) {
            fail(name, ": '", pair.base,
                 "' is not a matrix pocket can adapt (the attention and FFN projections of a "
                 "layer, or output.weight)");
        }
        const TensorView* w = projection_weight(base.weights(), site->layer, site->projection);
        if (w == nullptr) {
            fail(name, ": '", pair.base, "' does not exist in the base model",
                 site->projection == Projection::Output && base.weights().output_tied
                     ? " (it ties output.weight to token_embd.weight)"
                     : " (wrong base model?)");
        }
        const auto sa = matrix_shape(*pair.a), sb = matrix_shape(*pair.b);
        if (!sa || !sb || sa->first != w->cols || sb->second != w->rows ||
            sa->second != sb->first) {
            fail(name, ": the LoRA pair for '", pair.base, "' has shapes ",
                 shape_string(pair.a->shape), " (lora_a) and ", shape_string(pair.b->shape),
                 " (lora_b); the base matrix takes ", w->cols, " inputs to ", w->rows,
                 " outputs, so expected [", w->cols, ", rank] and [rank, ", w->rows, "]");
        }
        const int64_t rank = sa->second;
        if (rank > kMaxRank)
            fail(name, ": the LoRA pair for '", pair.base, "' has rank ", rank, " (at most ",
                 kMaxRank, ")");
        LoraMatrix& m = adapter.add(site->layer, site->projection, rank, w->cols, w->rows);
        m.a = read_values(file, *pair.a);
        m.b = read_values(file, *pair.b);
    }
    return adapter;
}

std::vector<AppliedLora> load_loras(std::span<const LoraFile> files, const Model& base) {
    std::vector<AppliedLora> out;
    out.reserve(files.size());
    for (const LoraFile& f : files) {
        out.push_back(
            {std::make_shared<const LoraAdapter>(LoraAdapter::load(f.path, base)), f.scale});
    }
    return out;
}

void LoraAdapter::check(const Model& base) const {
    if (arch_ != base.arch().name) {
        fail("the LoRA adapter is for architecture '", arch_, "', the model is '", base.arch().name,
             "'");
    }
    for (const LoraMatrix& m : matrices_)
        check_matrix(m, projection_weight(base.weights(), m.layer, m.projection), "LoRA adapter");
}

void LoraAdapter::save(const std::filesystem::path& path, DType type,
                       std::span<const std::pair<std::string, std::string>> metadata) const {
    const std::string context = path.string();
    check_store_type(type, "the adapter's tensor type");
    if (arch_.empty()) fail(context, ": the adapter has no architecture");
    if (matrices_.empty()) fail(context, ": the adapter holds no LoRA pairs");
    gguf::Writer w;
    w.set("general.architecture", std::string(arch_));
    w.set("general.type", std::string("adapter"));
    w.set("adapter.type", std::string("lora"));
    w.set("adapter.lora.alpha", alpha_);
    for (const auto& [key, value] : metadata) {
        if (key == "general.architecture" || key == "general.type" || key == "adapter.type" ||
            key == "adapter.lora.alpha" || key == gguf::kAlignmentKey) {
            fail(context, ": metadata key '", key, "' is written by the adapter itself");
        }
        w.set(key, value);
    }
    for (const LoraMatrix& m : matrices_) {
        const std::string base = projection_tensor_name(m.projection, m.layer);
        if (m.rank <= 0 || m.a.size() != static_cast<size_t>(m.rank * m.n_in) ||
            m.b.size() != static_cast<size_t>(m.n_out * m.rank)) {
            fail(context, ": the LoRA pair for '", base, "' (rank ", m.rank, ", ", m.n_in,
                 " inputs, ", m.n_out, " outputs) holds ", m.a.size(), " + ", m.b.size(),
                 " values");
        }
        const auto n_in = static_cast<uint64_t>(m.n_in), n_out = static_cast<uint64_t>(m.n_out),
                   rank = static_cast<uint64_t>(m.rank);
        w.add_tensor(base + std::string(kSuffixA), type, {n_in, rank}, encode(m.a, type));
        w.add_tensor(base + std::string(kSuffixB), type, {rank, n_out}, encode(m.b, type));
    }
    w.write(path);
}

void merge_lora(const std::filesystem::path& base, std::span<const AppliedLora> loras,
                const std::filesystem::path& out, DType merged_type) {
    std::error_code ec;
    if (std::filesystem::exists(out, ec) && std::filesystem::equivalent(base, out, ec))
        fail("merge-lora: the output '", out.string(), "' is the base model");
    merge_lora(gguf::File::open(base), loras, out, merged_type);
}

void merge_lora(const gguf::File& base, std::span<const AppliedLora> loras,
                const std::filesystem::path& out, DType merged_type) {
    const std::string& name = base.name();
    check_store_type(merged_type, "the merged matrices' type");
    const std::optional<std::string> arch = base.get_string("general.architecture");
    if (!arch) fail(name, ": no general.architecture");

    // Every update of each adapted tensor, by base tensor name.
    struct Update {
        const LoraMatrix* m;
        float scale;
    };
    std::map<std::string, std::vector<Update>, std::less<>> updates;
    for (const AppliedLora& lora : loras) {
        if (!lora.adapter) fail("merge-lora: an adapter is missing");
        const LoraAdapter& adapter = *lora.adapter;
        if (adapter.arch() != *arch) {
            fail(name, ": a LoRA adapter for architecture '", adapter.arch(),
                 "' cannot be merged into a '", *arch, "' model");
        }
        for (const LoraMatrix& m : adapter.matrices()) {
            const std::string tname = projection_tensor_name(m.projection, m.layer);
            const gguf::TensorInfo* t = base.find_tensor(tname);
            // A view with the file's shape, so check_matrix reads it like a bound weight.
            TensorView view;
            if (t != nullptr) {
                const auto shape = matrix_shape(*t);
                view.cols = shape ? shape->first : 0;
                view.rows = shape ? shape->second : 0;
                view.data = base.tensor_data(*t).data();
            }
            check_matrix(m, t == nullptr ? nullptr : &view, name);
            const float scale = adapter.scale(m, lora.scale);
            if (scale != 0.0f) updates[tname].push_back(Update{&m, scale});
        }
    }

    gguf::Writer w;
    for (const gguf::KeyValue& kv : base.metadata()) w.set(kv.key, kv.value);
    for (const gguf::TensorInfo& t : base.tensors()) {
        const std::span<const std::byte> data = base.tensor_data(t);
        const auto it = updates.find(t.name);
        if (it == updates.end()) {
            w.add_tensor(t.name, t.type, t.shape, [data](std::span<std::byte> dst) {
                std::memcpy(dst.data(), data.data(), data.size());
            });
            continue;
        }
        if (!kernels::has_ops(t.type)) {
            fail(name, ": tensor '", t.name, "' has type ", dtype_name(t.type),
                 ", which pocket cannot dequantize to merge into");
        }
        const std::vector<Update>& ups = it->second;
        const gguf::TensorInfo* info = &t;
        w.add_tensor(
            t.name, merged_type, t.shape,
            [info, data, &ups, merged_type](std::span<std::byte> dst) {
                const auto cols = static_cast<int64_t>(info->shape[0]);
                const auto rows = static_cast<int64_t>(info->rows());
                const auto src_row = static_cast<size_t>(*row_bytes(info->type, info->shape[0]));
                const auto dst_row = static_cast<size_t>(*row_bytes(merged_type, info->shape[0]));
                const auto to_float = kernels::ops(info->type, kernels::Isa::Scalar).to_float;
                const auto from_float =
                    kernels::ops(merged_type, kernels::Isa::Scalar).from_float_ref;
                ThreadPool::global().parallel_for(rows, [&](int64_t begin, int64_t end) {
                    std::vector<float> row(static_cast<size_t>(cols));
                    for (int64_t o = begin; o < end; ++o) {
                        to_float(data.data() + static_cast<size_t>(o) * src_row, row.data(), cols);
                        // Row o of s·B·A is Σ_r s·B[o][r] · A[r].
                        for (const Update& u : ups) {
                            const LoraMatrix& m = *u.m;
                            for (int64_t r = 0; r < m.rank; ++r) {
                                const float c = u.scale * m.b[static_cast<size_t>(o * m.rank + r)];
                                const float* a = &m.a[static_cast<size_t>(r * m.n_in)];
                                for (int64_t i = 0; i < cols; ++i) row[i] += c * a[i];
                            }
                        }
                        from_float(row.data(), dst.data() + static_cast<size_t>(o) * dst_row, cols);
                    }
                });
            });
    }
    w.write(out);
}

}  // namespace pocket::model
