#include "pocket/train/parameters.h"

#include <cmath>
#include <map>
#include <numeric>
#include <utility>

#include "kernels/kernels.h"
#include "model/linear.h"
#include "pocket/core/error.h"
#include "pocket/core/rng.h"
#include "pocket/gguf/gguf.h"
#include "pocket/model/model.h"

namespace pocket::train {

struct TrainableWeights::Impl {
    const model::Model* base = nullptr;
    bool lora = false;
    model::LoraAdapter adapter;
    // Full mode: GGUF name -> F32 values. A map, so the parameters' spans stay where they are.
    std::map<std::string, std::vector<float>, std::less<>> full;
    std::vector<Parameter> params;

    Parameter& add_param(std::string name, std::span<float> value, bool decay) {
        Parameter& p = params.emplace_back();
        p.name = std::move(name);
        p.value = value;
        p.grad.assign(value.size(), 0.0f);
        p.decay = decay;
        return p;
    }

    void add_lora_params() {
        for (model::LoraMatrix& m : adapter.matrices()) {
            const std::string tensor = model::projection_tensor_name(m.projection, m.layer);
            add_param(tensor + ".lora_a", m.a, true);
            add_param(tensor + ".lora_b", m.b, true);
        }
        if (params.empty()) fail("the LoRA adapter adapts no matrix of the model");
    }
};

namespace {

// The base matrix a projection of a layer names, or nullptr when the architecture lacks it.
const TensorView* projection_view(const model::Model& base, int64_t layer, model::Projection p) {
    const model::Weights& w = base.weights();
    if (p == model::Projection::Output) return w.output.empty() ? nullptr : &w.output;
    const model::LayerWeights& L = w.layers[static_cast<size_t>(layer)];
    const TensorView* v = nullptr;
    switch (p) {
        case model::Projection::Q:
            v = &L.wq;
            break;
        case model::Projection::K:
            v = &L.wk;
            break;
        case model::Projection::V:
            v = &L.wv;
            break;
        case model::Projection::QKV:
            v = &L.wqkv;
            break;
        case model::Projection::O:
            v = &L.wo;
            break;
        case model::Projection::Gate:
            v = &L.w_gate;
            break;
        case model::Projection::Up:
            v = &L.w_up;
            break;
        case model::Projection::Down:
            v = &L.w_down;
            break;
        case model::Projection::Output:
            break;
    }
    return v != nullptr && !v->empty() ? v : nullptr;
}

void check_trainable_arch(const model::Model& base) {
    const model::ArchSpec& arch = base.arch();
    if (!arch.lm_head || !arch.causal || arch.post_norm || arch.absolute_positions)
        fail("training needs a causal language model; ", arch.name, " is not one");
}

}  // namespace

TrainableWeights::TrainableWeights(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
TrainableWeights::TrainableWeights(TrainableWeights&&) noexcept = default;
TrainableWeights& TrainableWeights::operator=(TrainableWeights&&) noexcept = default;
TrainableWeights::~TrainableWeights() = default;

TrainableWeights TrainableWeights::lora(const model::Model& base, const LoraSpec& spec) {
    check_trainable_arch(base);
    if (spec.rank <= 0) fail("LoRA rank must be positive, got ", spec.rank);
    auto impl = std::make_unique<Impl>();
    impl->base = &base;
    impl->lora = true;
    impl->adapter = model::LoraAdapter(std::string(base.arch().name), spec.alpha);
    Rng rng(spec.seed);
    const int64_t n_layer = base.hparams().n_layer;
    for (int64_t il = 0; il < n_layer; ++il) {
        for (model::Projection p : spec.targets) {
            if (p == model::Projection::Output) continue;  // once, below
            const TensorView* v = projection_view(base, il, p);
            if (v == nullptr || impl->adapter.find(il, p) != nullptr) continue;
            impl->adapter.add(il, p, spec.rank, v->cols, v->rows);
        }
    }
    for (model::Projection p : spec.targets) {
        if (p != model::Projection::Output || impl->adapter.find(-1, p) != nullptr) continue;
        const TensorView& out = base.weights().output;
        impl->adapter.add(-1, p, spec.rank, out.cols, out.rows);
    }
    // PEFT's init: A ~ Kaiming-uniform with a = sqrt(5), whose bound is 1/sqrt(n_in); B = 0, so
    // the adapted model starts equal to the base and A still receives gradient through B later.
    for (model::LoraMatrix& m : impl->adapter.matrices()) {
        const double bound = 1.0 / std::sqrt(static_cast<double>(m.n_in));
        for (float& a : m.a) a = static_cast<float>((2.0 * rng.uniform01() - 1.0) * bound);
    }
    impl->add_lora_params();
    return TrainableWeights(std::move(impl));
}

TrainableWeights TrainableWeights::lora(const model::Model& base, model::LoraAdapter adapter) {
    check_trainable_arch(base);
    for (const model::LoraMatrix& m : adapter.matrices()) {
        if (m.projection != model::Projection::Output &&
            (m.layer < 0 || m.layer >= base.hparams().n_layer))
            fail("LoRA pair for layer ", m.layer, " but the model has ", base.hparams().n_layer);
        const TensorView* v = projection_view(base, m.layer, m.projection);
        const std::string name = model::projection_tensor_name(m.projection, m.layer);
        if (v == nullptr) fail("the adapter adapts ", name, ", which the model does not have");
        if (v->cols != m.n_in || v->rows != m.n_out)
            fail("LoRA pair for ", name, " is ", m.n_in, " -> ", m.n_out, " but the tensor is ",
                 v->cols, " -> ", v->rows);
    }
    auto impl = std::make_unique<Impl>();
    impl->base = &base;
    impl->lora = true;
    impl->adapter = std::move(adapter);
    impl->add_lora_params();
    return TrainableWeights(std::move(impl));
}

TrainableWeights TrainableWeights::full(const model::Model& base) {
    check_trainable_arch(base);
    auto impl = std::make_unique<Impl>();
    impl->base = &base;
    const model::Weights& w = base.weights();
    std::vector<const TensorView*> views = {&w.token_embd};
    for (const model::LayerWeights& L : w.layers) {
        for (const TensorView* v : {&L.attn_norm, &L.attn_norm_b,    &L.wq,       &L.wk,
                                    &L.wv,        &L.wqkv,           &L.bq,       &L.bk,
                                    &L.bv,        &L.q_norm,         &L.k_norm,   &L.wo,
                                    &L.bo,        &L.post_attn_norm, &L.ffn_norm, &L.ffn_norm_b,
                                    &L.w_gate,    &L.w_up,           &L.w_down,   &L.b_up,
                                    &L.b_down,    &L.post_ffn_norm})
            views.push_back(v);
    }
    views.push_back(&w.output_norm);
    if (!w.output_tied) views.push_back(&w.output);
    // rope_freqs is a fixed property of the positions, not a weight: it stays frozen.
    for (const TensorView* v : views) {
        if (v->empty()) continue;
        std::vector<float>& values = impl->full[v->name];
        values.resize(static_cast<size_t>(v->rows * v->cols));
        for (int64_t r = 0; r < v->rows; ++r) model::dequantize_row(*v, r, &values[r * v->cols]);
    }
    for (const TensorView* v : views) {
        if (v->empty()) continue;
        // Matrices decay; norm weights and biases (one row) do not, as in common AdamW setups.
        impl->add_param(v->name, impl->full.find(v->name)->second, v->rows > 1);
    }
    return TrainableWeights(std::move(impl));
}

bool TrainableWeights::is_lora() const {
    return impl_->lora;
}

std::span<Parameter> TrainableWeights::params() {
    return impl_->params;
}

std::span<const Parameter> TrainableWeights::params() const {
    return impl_->params;
}

void TrainableWeights::zero_grad() {
    for (Parameter& p : impl_->params) std::fill(p.grad.begin(), p.grad.end(), 0.0f);
}

int64_t TrainableWeights::n_values() const {
    int64_t n = 0;
    for (const Parameter& p : impl_->params) n += static_cast<int64_t>(p.value.size());
    return n;
}

Parameter* TrainableWeights::find(std::string_view name) {
    for (Parameter& p : impl_->params) {
        if (p.name == name) return &p;
    }
    return nullptr;
}

const Parameter* TrainableWeights::find(std::string_view name) const {
    return const_cast<TrainableWeights*>(this)->find(name);
}

const model::Model& TrainableWeights::base() const {
    return *impl_->base;
}

const model::LoraAdapter& TrainableWeights::adapter() const {
    if (!impl_->lora) fail("adapter() of full-mode trainable weights");
    return impl_->adapter;
}

const std::vector<float>* TrainableWeights::full_tensor(std::string_view name) const {
    const auto it = impl_->full.find(name);
    return it == impl_->full.end() ? nullptr : &it->second;
}

void TrainableWeights::save_model(const std::filesystem::path& path, DType type) const {
    if (impl_->lora) fail("save_model() is for full-mode training; LoRA saves its adapter");
    if (type != DType::F32 && type != DType::F16 && type != DType::BF16)
        fail("save_model: matrices can be written as F32, F16 or BF16, not ", dtype_name(type),
             " (quantize the result with `pocket quantize`)");
    // The loaded model dropped its vocabulary arrays (model.h), so the metadata comes from the
    // file again.
    const gguf::File source = gguf::File::open(impl_->base->file().name());
    gguf::Writer w;
    for (const gguf::KeyValue& kv : source.metadata()) w.set(kv.key, kv.value);
    for (const gguf::TensorInfo& t : source.tensors()) {
        const auto it = impl_->full.find(t.name);
        if (it == impl_->full.end()) {  // frozen (rope_freqs): copied as it is
            const std::span<const std::byte> data = source.tensor_data(t);
            w.add_tensor(t.name, t.type, t.shape, std::vector<std::byte>(data.begin(), data.end()));
            continue;
        }
        const std::vector<float>& values = it->second;
        // Norm weights and biases (one row) stay F32, as llama.cpp's converters write them.
        const DType out = t.rows() > 1 ? type : DType::F32;
        const auto cols = static_cast<int64_t>(t.shape[0]);
        const auto rows = static_cast<int64_t>(t.rows());
        w.add_tensor(t.name, out, t.shape, [&values, out, cols, rows](std::span<std::byte> dst) {
            const auto from_float = kernels::ops(out, kernels::Isa::Scalar).from_float_ref;
            const size_t row = dst.size() / static_cast<size_t>(rows);
            for (int64_t r = 0; r < rows; ++r)
                from_float(&values[static_cast<size_t>(r * cols)], dst.data() + r * row, cols);
        });
    }
    w.write(path);
}

}  // namespace pocket::train
