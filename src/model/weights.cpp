#include "pocket/model/weights.h"

#include <initializer_list>

#include "kernels/kernels.h"
#include "pocket/core/error.h"
#include "pocket/gguf/gguf.h"

namespace pocket::model {
namespace {

std::string shape_string(const std::vector<uint64_t>& shape) {
    std::string s = "[";
    for (size_t i = 0; i < shape.size(); ++i) s += cat(i ? ", " : "", shape[i]);
    return s + "]";
}

class Binder {
  public:
    explicit Binder(const gguf::File& file) : file_(file) {}

    // Binds a matrix with rows of `cols` elements and `rows` rows (ggml shape [cols, rows]).
    // any_rows: the row count is not fixed by the hyper-parameters (e.g. token type tables).
    TensorView matrix(const std::string& name, int64_t cols, int64_t rows, bool required = true,
                      bool any_rows = false) {
        if (any_rows) {
            const gguf::TensorInfo* info = file_.find_tensor(name);
            if (info && info->shape.size() >= 2) rows = static_cast<int64_t>(info->shape[1]);
        }
        return bind(name, {static_cast<uint64_t>(cols), static_cast<uint64_t>(rows)}, required,
                    true);
    }

    TensorView vector(const std::string& name, int64_t n, bool required = true) {
        return bind(name, {static_cast<uint64_t>(n)}, required, false);
    }

    uint64_t total_bytes() const { return total_bytes_; }

  private:
    TensorView bind(const std::string& name, std::initializer_list<uint64_t> expected,
                    bool required, bool is_matrix) {
        const gguf::TensorInfo* info = file_.find_tensor(name);
        if (!info) {
            if (required) fail(file_.name(), ": missing tensor '", name, "'");
            return {};
        }
        // Trailing dimensions of 1 are equivalent (ggml stores [n] and [n, 1] alike).
        std::vector<uint64_t> shape = info->shape;
        while (shape.size() > expected.size() && shape.back() == 1) shape.pop_back();
        if (shape != std::vector<uint64_t>(expected)) {
            fail(file_.name(), ": tensor '", name, "' has shape ", shape_string(info->shape),
                 ", expected ", shape_string(std::vector<uint64_t>(expected)));
        }
        if (!traits(info->type).computable) {
            fail(file_.name(), ": tensor '", name, "' has type ", dtype_name(info->type),
                 ", which pocket cannot compute with yet");
        }
        if (!is_matrix && info->type != DType::F32) {
            fail(file_.name(), ": tensor '", name, "' has type ", dtype_name(info->type),
                 ", expected f32 for a norm/bias vector");
        }
        TensorView view;
        view.name = name;
        view.type = info->type;
        view.cols = static_cast<int64_t>(shape[0]);
        view.rows = is_matrix ? static_cast<int64_t>(shape[1]) : 1;
        view.row_bytes = *row_bytes(info->type, shape[0]);  // the reader checked divisibility
        view.data = file_.tensor_data(*info).data();
        total_bytes_ += info->n_bytes;
        return view;
    }

    const gguf::File& file_;
    uint64_t total_bytes_ = 0;
};

}  // namespace

Weights bind_weights(const gguf::File& file, const HParams& hp, const ArchSpec& arch) {
    Binder b(file);
    Weights w;
    w.token_embd = b.matrix("token_embd.weight", hp.n_embd, hp.n_vocab);
    if (arch.token_types)
        w.token_types = b.matrix("token_types.weight", hp.n_embd, 0, true, /*any_rows=*/true);
    if (arch.absolute_positions)
        w.position_embd = b.matrix("position_embd.weight", hp.n_embd, hp.n_ctx_train);
    if (arch.embed_norm) {
        w.embd_norm = b.vector("token_embd_norm.weight", hp.n_embd);
        w.embd_norm_b = b.vector("token_embd_norm.bias", hp.n_embd);
    }
    if (arch.lm_head) {
        w.output_norm = b.vector("output_norm.weight", hp.n_embd);
        w.output = b.matrix("output.weight", hp.n_embd, hp.n_vocab, !arch.output_tied_ok);
        if (w.output.empty()) {
            w.output = w.token_embd;
            w.output_tied = true;
        }
    }
    w.rope_freqs = b.vector("rope_freqs.weight", hp.n_rot / 2, false);
    if (w.rope_freqs.empty()) {
        // Phi-3 long-context files carry short/long factor sets; the short set applies within the
        // original training context, which is all pocket supports so far.
        w.rope_freqs = b.vector("rope_factors_short.weight", hp.n_rot / 2, false);
    }

    w.layers.resize(static_cast<size_t>(hp.n_layer));
    for (int64_t i = 0; i < hp.n_layer; ++i) {
        const std::string p = cat("blk.", i, ".");
        LayerWeights& l = w.layers[static_cast<size_t>(i)];
        const bool layer_norm = arch.norm == NormKind::Layer;
        const std::string attn_norm_name = arch.post_norm ? "attn_output_norm" : "attn_norm";
        const std::string ffn_norm_name = arch.post_norm ? "layer_output_norm" : "ffn_norm";
        l.attn_norm = b.vector(p + attn_norm_name + ".weight", hp.n_embd);
        if (layer_norm) l.attn_norm_b = b.vector(p + attn_norm_name + ".bias", hp.n_embd);
        if (arch.fused_qkv) {
            l.wqkv = b.matrix(p + "attn_qkv.weight", hp.n_embd, hp.n_embd_q() + 2 * hp.n_embd_kv());
        } else {
            l.wq = b.matrix(p + "attn_q.weight", hp.n_embd, hp.n_embd_q());
            l.wk = b.matrix(p + "attn_k.weight", hp.n_embd, hp.n_embd_kv());
            l.wv = b.matrix(p + "attn_v.weight", hp.n_embd, hp.n_embd_kv());
        }
        if (arch.qkv_bias) {
            l.bq = b.vector(p + "attn_q.bias", hp.n_embd_q());
            l.bk = b.vector(p + "attn_k.bias", hp.n_embd_kv());
            l.bv = b.vector(p + "attn_v.bias", hp.n_embd_kv());
        }
        if (arch.qk_norm) {
            l.q_norm = b.vector(p + "attn_q_norm.weight", hp.head_dim);
            l.k_norm = b.vector(p + "attn_k_norm.weight", hp.head_dim);
        }
        l.wo = b.matrix(p + "attn_output.weight", hp.n_embd_q(), hp.n_embd);
        if (arch.linear_biases) l.bo = b.vector(p + "attn_output.bias", hp.n_embd);
        if (arch.post_attn_norm)
            l.post_attn_norm = b.vector(p + "post_attention_norm.weight", hp.n_embd);
        l.ffn_norm = b.vector(p + ffn_norm_name + ".weight", hp.n_embd);
        if (layer_norm) l.ffn_norm_b = b.vector(p + ffn_norm_name + ".bias", hp.n_embd);
        if (arch.ffn == FfnKind::Gelu) {
            l.w_up = b.matrix(p + "ffn_up.weight", hp.n_embd, hp.n_ff);
        } else if (arch.fused_gate_up) {
            l.w_up = b.matrix(p + "ffn_up.weight", hp.n_embd, 2 * hp.n_ff);
        } else {
            l.w_gate = b.matrix(p + "ffn_gate.weight", hp.n_embd, hp.n_ff);
            l.w_up = b.matrix(p + "ffn_up.weight", hp.n_embd, hp.n_ff);
        }
        l.w_down = b.matrix(p + "ffn_down.weight", hp.n_ff, hp.n_embd);
        if (arch.linear_biases) {
            l.b_up = b.vector(p + "ffn_up.bias", hp.n_ff);
            l.b_down = b.vector(p + "ffn_down.bias", hp.n_embd);
        }
        if (arch.post_ffn_norm) l.post_ffn_norm = b.vector(p + "post_ffw_norm.weight", hp.n_embd);
    }
    w.total_bytes = b.total_bytes();
    return w;
}

}  // namespace pocket::model
