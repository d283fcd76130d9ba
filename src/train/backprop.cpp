#include "pocket/train/backprop.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <vector>

#include "model/linear.h"
#include "model/ops.h"
#include "pocket/core/error.h"
#include "pocket/model/model.h"
#include "pocket/train/parameters.h"
#include "train/ops.h"

namespace pocket::train {

using model::Projection;

namespace {

using Buf = std::vector<float>;

void resize(Buf& b, int64_t n) {
    b.resize(static_cast<size_t>(n));
}

void zero(Buf& b, int64_t n) {
    b.assign(static_cast<size_t>(n), 0.0f);
}

// A 1-D weight (norm, bias): its values and, in full mode, the parameter that trains it.
struct Vec {
    const float* value = nullptr;
    Parameter* param = nullptr;
    bool present() const { return value != nullptr; }
    float* grad() const { return param != nullptr ? param->grad.data() : nullptr; }
};

// One weight matrix as a layer uses it: the base matrix (frozen, or trained in full mode) plus
// an optional LoRA pair y += s·B(A x).
struct Lin {
    ops::Matrix w;
    Parameter* full = nullptr;  // full mode: W's own gradient
    Parameter *lora_a = nullptr, *lora_b = nullptr;
    int64_t rank = 0;
    float scale = 0.0f;
    bool present() const { return w.rows > 0; }
    int64_t n_out() const { return w.rows; }
    int64_t n_in() const { return w.cols; }
};

struct LayerRefs {
    Vec attn_norm, attn_norm_b, bq, bk, bv, q_norm, k_norm, bo, post_attn_norm;
    Vec ffn_norm, ffn_norm_b, b_down, post_ffn_norm;
    Lin q, k, v, qkv, o, gate, up, down;
};

// What the backward pass of one layer needs from its forward pass (rows of n tokens).
struct LayerAct {
    Buf xn1, mean1, rstd1;    // attention norm
    Buf q0, k0, v;            // projections (+ biases), before the q/k norms
    Buf qr, kr;               // rstd of the q/k norms (n x heads)
    Buf q, k;                 // after norm, rope (and scale_q): what attention read
    Buf probs, att;           // softmax weights (n_head x n x n), attention output
    Buf o, po_mean, po_rstd;  // output projection (+ bias), rstd of the post-attention norm
    Buf x_mid;                // residual stream after attention
    Buf xn2, mean2, rstd2;    // FFN norm
    Buf g, u, h;              // gate, up, act(gate) * up
    Buf d, pd_mean, pd_rstd;  // down projection (+ bias), rstd of the post-FFN norm
    Buf fused;                // fused qkv / gate-up output (phi3)
    std::array<Buf, model::kProjectionCount> lora_u;  // s·A x of each adapted projection

    size_t bytes() const {
        size_t n = 0;
        for (const Buf* b :
             {&xn1,   &mean1, &rstd1, &q0, &k0,      &v,       &qr,      &kr,   &q,
              &k,     &probs, &att,   &o,  &po_mean, &po_rstd, &x_mid,   &xn2,  &mean2,
              &rstd2, &g,     &u,     &h,  &d,       &pd_mean, &pd_rstd, &fused})
            n += b->capacity();
        for (const Buf& b : lora_u) n += b.capacity();
        return n * sizeof(float);
    }
};

// y = W x (+ s·B(A x)) for n rows; keeps s·A x in `u` for the backward pass.
void lin_forward(const Lin& l, const float* x, int64_t n, float* y, Buf& u) {
    ops::matmul(l.w, x, n, y, l.n_out());
    if (l.lora_a == nullptr) return;
    resize(u, n * l.rank);
    ops::matmul(ops::dense(l.lora_a->value.data(), l.rank, l.n_in()), x, n, u.data(), l.rank);
    for (float& val : u) val *= l.scale;
    ops::matmul(ops::dense(l.lora_b->value.data(), l.n_out(), l.rank), u.data(), n, y, l.n_out(),
                true);
}

// dx += dy·W (and the LoRA path); gradients of W (full mode) or of A and B added.
void lin_backward(const Lin& l, const float* x, int64_t n, const float* dy, float* dx,
                  const Buf& u) {
    ops::matmul_dx(l.w, dy, l.n_out(), n, dx);
    if (l.full != nullptr)
        ops::matmul_dw(dy, l.n_out(), x, n, l.n_out(), l.n_in(), l.full->grad.data());
    if (l.lora_a == nullptr) return;
    // y = B u with u = s·A x: dB += dy^T u; du = s·(dy B); dA += du^T x; dx += du A.
    Buf du(static_cast<size_t>(n * l.rank), 0.0f);
    ops::matmul_dx(ops::dense(l.lora_b->value.data(), l.n_out(), l.rank), dy, l.n_out(), n,
                   du.data());
    ops::matmul_dw(dy, l.n_out(), u.data(), n, l.n_out(), l.rank, l.lora_b->grad.data());
    for (float& val : du) val *= l.scale;
    ops::matmul_dw(du.data(), l.rank, x, n, l.rank, l.n_in(), l.lora_a->grad.data());
    ops::matmul_dx(ops::dense(l.lora_a->value.data(), l.rank, l.n_in()), du.data(), l.rank, n, dx);
}

void add_bias(const Vec& b, float* y, int64_t n, int64_t width) {
    if (!b.present()) return;
    for (int64_t t = 0; t < n; ++t) {
        for (int64_t i = 0; i < width; ++i) y[t * width + i] += b.value[i];
    }
}

void bias_grad(const Vec& b, const float* dy, int64_t n, int64_t width) {
    float* g = b.grad();
    if (g == nullptr) return;
    for (int64_t t = 0; t < n; ++t) {
        for (int64_t i = 0; i < width; ++i) g[i] += dy[t * width + i];
    }
}

// Copies columns [offset, offset + width) of rows of row_len into a dense n x width matrix, and
// back (for the fused projections).
void split_columns(const float* src, int64_t n, int64_t row_len, int64_t offset, int64_t width,
                   float* dst) {
    for (int64_t t = 0; t < n; ++t) std::copy_n(src + t * row_len + offset, width, dst + t * width);
}
void join_columns(const float* src, int64_t n, int64_t width, int64_t row_len, int64_t offset,
                  float* dst) {
    for (int64_t t = 0; t < n; ++t) std::copy_n(src + t * width, width, dst + t * row_len + offset);
}

}  // namespace

struct Backprop::Impl {
    const model::Model& base;
    TrainableWeights& weights;
    BackpropOptions options;
    const model::HParams& hp;
    const model::ArchSpec& arch;

    std::vector<LayerRefs> layers;
    Vec output_norm;
    Lin output;
    ops::Matrix token_embd;
    Parameter* token_embd_param = nullptr;

    // Activations: every layer's input (and the final stream), the per-layer intermediates (one
    // set reused with checkpointing), outputs.
    std::vector<Buf> inputs;
    std::vector<LayerAct> acts;
    Buf hn, out_mean, out_rstd, logits, dlogits, dx, cs;
    float cs_base = 0.0f, cs_scale = 0.0f;
    int64_t cs_n = -1;
    size_t peak_bytes = 0;

    Impl(const model::Model& b, TrainableWeights& w, BackpropOptions o)
        : base(b), weights(w), options(o), hp(b.hparams()), arch(b.arch()) {
        if (&w.base() != &b) fail("Backprop: the trainable weights were made from another model");
        bind();
    }

    Vec vec(const TensorView& v) {
        Vec out;
        if (v.empty()) return out;
        out.param = weights.find(v.name);
        out.value = out.param != nullptr ? out.param->value.data() : v.f32();
        return out;
    }

    Lin lin(const TensorView& v, int64_t layer, Projection p) {
        Lin out;
        if (v.empty()) return out;
        out.full = weights.find(v.name);
        out.w = out.full != nullptr ? ops::dense(out.full->value.data(), v.rows, v.cols)
                                    : ops::frozen(v);
        if (weights.is_lora()) {
            if (const model::LoraMatrix* m = weights.adapter().find(layer, p)) {
                const std::string name = model::projection_tensor_name(p, layer);
                out.lora_a = weights.find(name + ".lora_a");
                out.lora_b = weights.find(name + ".lora_b");
                if (out.lora_a == nullptr || out.lora_b == nullptr)
                    fail("Backprop: no parameters for the LoRA pair of ", name);
                out.rank = m->rank;
                out.scale = weights.adapter().scale(*m, 1.0f);
            }
        }
        return out;
    }

    void bind() {
        const model::Weights& w = base.weights();
        for (int64_t il = 0; il < hp.n_layer; ++il) {
            const model::LayerWeights& L = w.layers[static_cast<size_t>(il)];
            LayerRefs r;
            r.attn_norm = vec(L.attn_norm);
            r.attn_norm_b = vec(L.attn_norm_b);
            r.bq = vec(L.bq);
            r.bk = vec(L.bk);
            r.bv = vec(L.bv);
            r.q_norm = vec(L.q_norm);
            r.k_norm = vec(L.k_norm);
            r.bo = vec(L.bo);
            r.post_attn_norm = vec(L.post_attn_norm);
            r.ffn_norm = vec(L.ffn_norm);
            r.ffn_norm_b = vec(L.ffn_norm_b);
            r.b_down = vec(L.b_down);
            r.post_ffn_norm = vec(L.post_ffn_norm);
            r.q = lin(L.wq, il, Projection::Q);
            r.k = lin(L.wk, il, Projection::K);
            r.v = lin(L.wv, il, Projection::V);
            r.qkv = lin(L.wqkv, il, Projection::QKV);
            r.o = lin(L.wo, il, Projection::O);
            r.gate = lin(L.w_gate, il, Projection::Gate);
            r.up = lin(L.w_up, il, Projection::Up);
            r.down = lin(L.w_down, il, Projection::Down);
            layers.push_back(r);
        }
        output_norm = vec(w.output_norm);
        output = lin(w.output, -1, Projection::Output);
        token_embd_param = weights.find(w.token_embd.name);
        token_embd = token_embd_param != nullptr ? ops::dense(token_embd_param->value.data(),
                                                              w.token_embd.rows, w.token_embd.cols)
                                                 : ops::frozen(w.token_embd);
    }

    // ---- norms over rows ----
    void norm_forward(const Vec& w, const Vec& b, const float* x, float* y, int64_t n,
                      int64_t width, Buf& mean, Buf& rstd) {
        resize(mean, n);
        resize(rstd, n);
        for (int64_t t = 0; t < n; ++t) {
            if (arch.norm == model::NormKind::Layer) {
                ops::layer_norm(x + t * width, w.value, b.value, y + t * width, width, hp.norm_eps,
                                &mean[t], &rstd[t]);
            } else {
                ops::rms_norm(x + t * width, w.value, y + t * width, width, hp.norm_eps, &rstd[t]);
            }
        }
    }
    // dx += d(norm)/dx · dy.
    void norm_backward(const Vec& w, const Vec& b, const float* x, const Buf& mean, const Buf& rstd,
                       const float* dy, float* dx, int64_t n, int64_t width) {
        Buf row(static_cast<size_t>(width));
        for (int64_t t = 0; t < n; ++t) {
            if (arch.norm == model::NormKind::Layer) {
                ops::layer_norm_backward(x + t * width, w.value, mean[t], rstd[t], dy + t * width,
                                         row.data(), w.grad(), b.grad(), width);
            } else {
                ops::rms_norm_backward(x + t * width, w.value, rstd[t], dy + t * width, row.data(),
                                       w.grad(), width);
            }
            for (int64_t i = 0; i < width; ++i) dx[t * width + i] += row[i];
        }
    }

    // cos/sin of the rotary angles of positions 0..n-1 for a layer's base and scale.
    const float* rope_cs(int64_t n, float base_freq, float scale) {
        if (cs_n == n && cs_base == base_freq && cs_scale == scale) return cs.data();
        const TensorView& rf = base.weights().rope_freqs;
        resize(cs, n * hp.n_rot);
        for (int64_t t = 0; t < n; ++t)
            model::ops::rope_angles(hp.n_rot, t, base_freq, scale, rf.empty() ? nullptr : rf.f32(),
                                    &cs[t * hp.n_rot]);
        cs_n = n;
        cs_base = base_freq;
        cs_scale = scale;
        return cs.data();
    }

    ops::AttentionShape attention_shape(int64_t il, int64_t n) const {
        const bool sliding = hp.is_sliding_layer(arch, il);
        return ops::AttentionShape{.n = n,
                                   .n_head = hp.n_head,
                                   .n_head_kv = hp.n_head_kv,
                                   .head_dim = hp.head_dim,
                                   .scale = arch.scale_q ? 1.0f : hp.attn_scale,
                                   .softcap = hp.attn_softcap,
                                   .window = sliding ? hp.sliding_window : 0};
    }

    const float* layer_rope(int64_t il, int64_t n) {
        if (arch.rope == model::RopeStyle::None || hp.n_rot <= 0) return nullptr;
        const bool local = hp.is_sliding_layer(arch, il) && arch.local_rope_base > 0.0f;
        return rope_cs(n, local ? arch.local_rope_base : hp.rope_freq_base,
                       local ? 1.0f : hp.rope_freq_scale);
    }

    // ---- one layer ----
    void layer_forward(int64_t il, const float* x_in, float* x_out, int64_t n, LayerAct& a) {
        const LayerRefs& L = layers[static_cast<size_t>(il)];
        const int64_t e = hp.n_embd, nq = hp.n_embd_q(), nkv = hp.n_embd_kv(), hd = hp.head_dim;
        const int64_t ff = hp.n_ff;
        resize(a.xn1, n * e);
        norm_forward(L.attn_norm, L.attn_norm_b, x_in, a.xn1.data(), n, e, a.mean1, a.rstd1);
        resize(a.q0, n * nq);
        resize(a.k0, n * nkv);
        resize(a.v, n * nkv);
        if (arch.fused_qkv) {
            const int64_t row = nq + 2 * nkv;
            resize(a.fused, n * row);
            lin_forward(L.qkv, a.xn1.data(), n, a.fused.data(), a.lora_u[size_t(Projection::QKV)]);
            split_columns(a.fused.data(), n, row, 0, nq, a.q0.data());
            split_columns(a.fused.data(), n, row, nq, nkv, a.k0.data());
            split_columns(a.fused.data(), n, row, nq + nkv, nkv, a.v.data());
        } else {
            lin_forward(L.q, a.xn1.data(), n, a.q0.data(), a.lora_u[size_t(Projection::Q)]);
            lin_forward(L.k, a.xn1.data(), n, a.k0.data(), a.lora_u[size_t(Projection::K)]);
            lin_forward(L.v, a.xn1.data(), n, a.v.data(), a.lora_u[size_t(Projection::V)]);
        }
        add_bias(L.bq, a.q0.data(), n, nq);
        add_bias(L.bk, a.k0.data(), n, nkv);
        add_bias(L.bv, a.v.data(), n, nkv);

        const float* cs = layer_rope(il, n);
        const bool neox = arch.rope == model::RopeStyle::Neox;
        a.q = a.q0;
        a.k = a.k0;
        resize(a.qr, n * hp.n_head);
        resize(a.kr, n * hp.n_head_kv);
        for (int64_t t = 0; t < n; ++t) {
            for (int64_t h = 0; h < hp.n_head; ++h) {
                float* q = &a.q[t * nq + h * hd];
                if (L.q_norm.present())
                    ops::rms_norm(q, L.q_norm.value, q, hd, hp.norm_eps, &a.qr[t * hp.n_head + h]);
                if (cs != nullptr) model::ops::rope_rotate(q, hp.n_rot, cs + t * hp.n_rot, neox);
                if (arch.scale_q) {
                    for (int64_t d = 0; d < hd; ++d) q[d] *= hp.attn_scale;
                }
            }
            for (int64_t h = 0; h < hp.n_head_kv; ++h) {
                float* k = &a.k[t * nkv + h * hd];
                if (L.k_norm.present())
                    ops::rms_norm(k, L.k_norm.value, k, hd, hp.norm_eps,
                                  &a.kr[t * hp.n_head_kv + h]);
                if (cs != nullptr) model::ops::rope_rotate(k, hp.n_rot, cs + t * hp.n_rot, neox);
            }
        }
        resize(a.probs, hp.n_head * n * n);
        resize(a.att, n * nq);
        ops::attention(attention_shape(il, n), a.q.data(), a.k.data(), a.v.data(), a.att.data(),
                       a.probs.data());
        resize(a.o, n * e);
        lin_forward(L.o, a.att.data(), n, a.o.data(), a.lora_u[size_t(Projection::O)]);
        add_bias(L.bo, a.o.data(), n, e);
        resize(a.x_mid, n * e);
        if (L.post_attn_norm.present()) {
            norm_forward(L.post_attn_norm, {}, a.o.data(), a.x_mid.data(), n, e, a.po_mean,
                         a.po_rstd);
            for (int64_t i = 0; i < n * e; ++i) a.x_mid[i] += x_in[i];
        } else {
            for (int64_t i = 0; i < n * e; ++i) a.x_mid[i] = x_in[i] + a.o[i];
        }

        resize(a.xn2, n * e);
        norm_forward(L.ffn_norm, L.ffn_norm_b, a.x_mid.data(), a.xn2.data(), n, e, a.mean2,
                     a.rstd2);
        resize(a.g, n * ff);
        resize(a.u, n * ff);
        resize(a.h, n * ff);
        if (arch.fused_gate_up) {
            resize(a.fused, n * 2 * ff);
            lin_forward(L.up, a.xn2.data(), n, a.fused.data(), a.lora_u[size_t(Projection::Up)]);
            split_columns(a.fused.data(), n, 2 * ff, 0, ff, a.g.data());
            split_columns(a.fused.data(), n, 2 * ff, ff, ff, a.u.data());
        } else {
            lin_forward(L.gate, a.xn2.data(), n, a.g.data(), a.lora_u[size_t(Projection::Gate)]);
            lin_forward(L.up, a.xn2.data(), n, a.u.data(), a.lora_u[size_t(Projection::Up)]);
        }
        const bool gelu = arch.ffn == model::FfnKind::GeluGlu;
        for (int64_t i = 0; i < n * ff; ++i)
            a.h[i] = (gelu ? ops::gelu(a.g[i]) : ops::silu(a.g[i])) * a.u[i];
        resize(a.d, n * e);
        lin_forward(L.down, a.h.data(), n, a.d.data(), a.lora_u[size_t(Projection::Down)]);
        add_bias(L.b_down, a.d.data(), n, e);
        if (L.post_ffn_norm.present()) {
            norm_forward(L.post_ffn_norm, {}, a.d.data(), x_out, n, e, a.pd_mean, a.pd_rstd);
            for (int64_t i = 0; i < n * e; ++i) x_out[i] += a.x_mid[i];
        } else {
            for (int64_t i = 0; i < n * e; ++i) x_out[i] = a.x_mid[i] + a.d[i];
        }
    }

    // dx: in, the gradient of the layer's output; out, that of its input.
    void layer_backward(int64_t il, const float* x_in, int64_t n, LayerAct& a, Buf& dx) {
        const LayerRefs& L = layers[static_cast<size_t>(il)];
        const int64_t e = hp.n_embd, nq = hp.n_embd_q(), nkv = hp.n_embd_kv(), hd = hp.head_dim;
        const int64_t ff = hp.n_ff;
        // ---- FFN: x_out = x_mid + post_ffn_norm(d) ----
        Buf dd(static_cast<size_t>(n * e), 0.0f);
        if (L.post_ffn_norm.present()) {
            norm_backward(L.post_ffn_norm, {}, a.d.data(), a.pd_mean, a.pd_rstd, dx.data(),
                          dd.data(), n, e);
        } else {
            dd = dx;
        }
        bias_grad(L.b_down, dd.data(), n, e);
        Buf dh(static_cast<size_t>(n * ff), 0.0f);
        lin_backward(L.down, a.h.data(), n, dd.data(), dh.data(),
                     a.lora_u[size_t(Projection::Down)]);
        Buf dg(static_cast<size_t>(n * ff)), du(static_cast<size_t>(n * ff));
        const bool gelu = arch.ffn == model::FfnKind::GeluGlu;
        for (int64_t i = 0; i < n * ff; ++i) {
            const float act = gelu ? ops::gelu(a.g[i]) : ops::silu(a.g[i]);
            const float dact = gelu ? ops::gelu_grad(a.g[i]) : ops::silu_grad(a.g[i]);
            dg[i] = dh[i] * a.u[i] * dact;
            du[i] = dh[i] * act;
        }
        Buf dxn(static_cast<size_t>(n * e), 0.0f);
        if (arch.fused_gate_up) {
            Buf dfused(static_cast<size_t>(n * 2 * ff));
            join_columns(dg.data(), n, ff, 2 * ff, 0, dfused.data());
            join_columns(du.data(), n, ff, 2 * ff, ff, dfused.data());
            lin_backward(L.up, a.xn2.data(), n, dfused.data(), dxn.data(),
                         a.lora_u[size_t(Projection::Up)]);
        } else {
            lin_backward(L.gate, a.xn2.data(), n, dg.data(), dxn.data(),
                         a.lora_u[size_t(Projection::Gate)]);
            lin_backward(L.up, a.xn2.data(), n, du.data(), dxn.data(),
                         a.lora_u[size_t(Projection::Up)]);
        }
        // dx now holds d/dx_mid: the residual plus the FFN norm's path.
        norm_backward(L.ffn_norm, L.ffn_norm_b, a.x_mid.data(), a.mean2, a.rstd2, dxn.data(),
                      dx.data(), n, e);

        // ---- attention: x_mid = x_in + post_attn_norm(o) ----
        Buf dout(static_cast<size_t>(n * e), 0.0f);
        if (L.post_attn_norm.present()) {
            norm_backward(L.post_attn_norm, {}, a.o.data(), a.po_mean, a.po_rstd, dx.data(),
                          dout.data(), n, e);
        } else {
            dout = dx;
        }
        bias_grad(L.bo, dout.data(), n, e);
        Buf datt(static_cast<size_t>(n * nq), 0.0f);
        lin_backward(L.o, a.att.data(), n, dout.data(), datt.data(),
                     a.lora_u[size_t(Projection::O)]);
        Buf dq(static_cast<size_t>(n * nq)), dk(static_cast<size_t>(n * nkv)),
            dv(static_cast<size_t>(n * nkv));
        ops::attention_backward(attention_shape(il, n), a.q.data(), a.k.data(), a.v.data(),
                                a.probs.data(), datt.data(), dq.data(), dk.data(), dv.data());
        const float* cs = layer_rope(il, n);
        const bool neox = arch.rope == model::RopeStyle::Neox;
        Buf row(static_cast<size_t>(hd));
        for (int64_t t = 0; t < n; ++t) {
            for (int64_t h = 0; h < hp.n_head; ++h) {
                float* g = &dq[t * nq + h * hd];
                if (arch.scale_q) {
                    for (int64_t d = 0; d < hd; ++d) g[d] *= hp.attn_scale;
                }
                if (cs != nullptr) ops::rope_backward(g, hp.n_rot, cs + t * hp.n_rot, neox);
                if (L.q_norm.present()) {
                    ops::rms_norm_backward(&a.q0[t * nq + h * hd], L.q_norm.value,
                                           a.qr[t * hp.n_head + h], g, g, L.q_norm.grad(), hd);
                }
            }
            for (int64_t h = 0; h < hp.n_head_kv; ++h) {
                float* g = &dk[t * nkv + h * hd];
                if (cs != nullptr) ops::rope_backward(g, hp.n_rot, cs + t * hp.n_rot, neox);
                if (L.k_norm.present()) {
                    ops::rms_norm_backward(&a.k0[t * nkv + h * hd], L.k_norm.value,
                                           a.kr[t * hp.n_head_kv + h], g, g, L.k_norm.grad(), hd);
                }
            }
        }
        bias_grad(L.bq, dq.data(), n, nq);
        bias_grad(L.bk, dk.data(), n, nkv);
        bias_grad(L.bv, dv.data(), n, nkv);
        std::fill(dxn.begin(), dxn.end(), 0.0f);
        if (arch.fused_qkv) {
            const int64_t row_len = nq + 2 * nkv;
            Buf dfused(static_cast<size_t>(n * row_len));
            join_columns(dq.data(), n, nq, row_len, 0, dfused.data());
            join_columns(dk.data(), n, nkv, row_len, nq, dfused.data());
            join_columns(dv.data(), n, nkv, row_len, nq + nkv, dfused.data());
            lin_backward(L.qkv, a.xn1.data(), n, dfused.data(), dxn.data(),
                         a.lora_u[size_t(Projection::QKV)]);
        } else {
            lin_backward(L.q, a.xn1.data(), n, dq.data(), dxn.data(),
                         a.lora_u[size_t(Projection::Q)]);
            lin_backward(L.k, a.xn1.data(), n, dk.data(), dxn.data(),
                         a.lora_u[size_t(Projection::K)]);
            lin_backward(L.v, a.xn1.data(), n, dv.data(), dxn.data(),
                         a.lora_u[size_t(Projection::V)]);
        }
        norm_backward(L.attn_norm, L.attn_norm_b, x_in, a.mean1, a.rstd1, dxn.data(), dx.data(), n,
                      e);
    }

    // ---- whole model ----
    // Runs the forward pass up to the logits; keeps every layer's input, and every layer's
    // intermediates too unless checkpointing (or `keep` is false: forward only).
    void run_forward(std::span<const TokenId> tokens, bool keep) {
        const auto n = static_cast<int64_t>(tokens.size());
        if (n == 0) fail("Backprop: no tokens");
        const int64_t limit = options.max_tokens > 0 ? options.max_tokens : hp.n_ctx_train;
        if (limit > 0 && n > limit)
            fail("Backprop: ", n, " tokens, more than the ", limit, " allowed (max_tokens)");
        const int64_t e = hp.n_embd;
        for (TokenId tok : tokens) {
            if (tok < 0 || tok >= hp.n_vocab)
                fail("token id ", tok, " is outside the vocabulary (", hp.n_vocab, " tokens)");
        }
        inputs.resize(static_cast<size_t>(hp.n_layer + 1));
        for (Buf& b : inputs) resize(b, n * e);
        float* x0 = inputs[0].data();
        const TensorView& te = base.weights().token_embd;
        for (int64_t t = 0; t < n; ++t) {
            if (token_embd.f32 != nullptr) {
                std::copy_n(token_embd.f32 + tokens[t] * e, e, x0 + t * e);
            } else {
                model::dequantize_row(te, tokens[t], x0 + t * e);
            }
        }
        if (arch.embed_scale) {
            const float scale = std::sqrt(static_cast<float>(e));
            for (int64_t i = 0; i < n * e; ++i) x0[i] *= scale;
        }
        const bool per_layer = keep && !options.checkpoint;
        acts.resize(per_layer ? static_cast<size_t>(hp.n_layer) : 1);
        for (int64_t il = 0; il < hp.n_layer; ++il) {
            LayerAct& a = acts[per_layer ? static_cast<size_t>(il) : 0];
            layer_forward(il, inputs[il].data(), inputs[il + 1].data(), n, a);
        }
        resize(hn, n * e);
        norm_forward(output_norm, {}, inputs[hp.n_layer].data(), hn.data(), n, e, out_mean,
                     out_rstd);
        resize(logits, n * hp.n_vocab);
        lin_forward(output, hn.data(), n, logits.data(), output_u);
        if (hp.final_softcap > 0.0f) {
            for (float& z : logits) z = ops::softcap(z, hp.final_softcap);
        }
        track();
    }

    LossValue forward_backward(std::span<const TokenId> tokens, const LossFn& loss,
                               float grad_scale) {
        run_forward(tokens, true);
        const auto n = static_cast<int64_t>(tokens.size());
        const int64_t e = hp.n_embd, vocab = hp.n_vocab;
        resize(dlogits, n * vocab);
        std::fill(dlogits.begin(), dlogits.end(), 0.0f);
        const LossValue value = loss(logits, n, vocab, dlogits);
        for (int64_t i = 0; i < n * vocab; ++i) {
            float g = dlogits[i] * grad_scale;
            if (hp.final_softcap > 0.0f)
                g *= ops::softcap_grad_from_output(logits[i], hp.final_softcap);
            dlogits[i] = g;
        }
        Buf dhn(static_cast<size_t>(n * e), 0.0f);
        lin_backward(output, hn.data(), n, dlogits.data(), dhn.data(), output_u);
        zero(dx, n * e);
        norm_backward(output_norm, {}, inputs[hp.n_layer].data(), out_mean, out_rstd, dhn.data(),
                      dx.data(), n, e);
        for (int64_t il = hp.n_layer - 1; il >= 0; --il) {
            LayerAct* a = &acts[0];
            if (!options.checkpoint) {
                a = &acts[static_cast<size_t>(il)];
            } else if (il != hp.n_layer - 1) {
                // Recompute the layer from its kept input (the last layer's intermediates are
                // still those of the forward pass); its output (inputs[il + 1]) is no longer
                // needed, so it is the scratch the recomputation writes.
                layer_forward(il, inputs[il].data(), inputs[il + 1].data(), n, *a);
            }
            layer_backward(il, inputs[il].data(), n, *a, dx);
        }
        track();
        if (token_embd_param != nullptr) {
            const float scale = arch.embed_scale ? std::sqrt(static_cast<float>(e)) : 1.0f;
            float* g = token_embd_param->grad.data();
            for (int64_t t = 0; t < n; ++t) {
                for (int64_t i = 0; i < e; ++i) g[tokens[t] * e + i] += dx[t * e + i] * scale;
            }
        }
        return value;
    }

    Buf output_u;

    void track() {
        size_t bytes = 0;
        for (const Buf& b : inputs) bytes += b.capacity() * sizeof(float);
        for (const LayerAct& a : acts) bytes += a.bytes();
        for (const Buf* b : {&hn, &out_mean, &out_rstd, &logits, &dlogits, &dx, &cs, &output_u})
            bytes += b->capacity() * sizeof(float);
        peak_bytes = std::max(peak_bytes, bytes);
    }
};

Backprop::Backprop(const model::Model& base, TrainableWeights& weights, BackpropOptions options)
    : impl_(std::make_unique<Impl>(base, weights, options)) {}

Backprop::~Backprop() = default;

LossValue Backprop::forward_backward(std::span<const TokenId> tokens, const LossFn& loss,
                                     float grad_scale) {
    return impl_->forward_backward(tokens, loss, grad_scale);
}

void Backprop::forward(std::span<const TokenId> tokens, std::vector<float>& logits) {
    impl_->run_forward(tokens, false);
    logits = impl_->logits;
}

size_t Backprop::activation_bytes() const {
    return impl_->peak_bytes;
}

}  // namespace pocket::train
