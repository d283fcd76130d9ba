#include "model/linear.h"

#include <algorithm>
#include <array>
#include <cstring>

#include "kernels/attention.h"
#include "kernels/interleaved.h"
#include "kernels/kernels.h"
#include "pocket/core/error.h"
#include "pocket/core/thread_pool.h"

namespace pocket::model {

const std::byte* ActivationCache::get(const float* x, int64_t n, int64_t k,
                                      kernels::FromFloatFn convert, size_t row_bytes,
                                      ThreadPool& pool) {
    if (convert == nullptr) return reinterpret_cast<const std::byte*>(x);
    if (source_ == x && convert_ == convert && n_ == n) return buffer_.data();
    start(x, n, k, convert, row_bytes);
    try {
        pool.parallel_for(n, [&](int64_t begin, int64_t end) {
            for (int64_t t = begin; t < end; ++t) fill_row(t);
        });
    } catch (...) {
        invalidate();  // valid only once every row is converted
        throw;
    }
    return buffer_.data();
}

void ActivationCache::start(const float* x, int64_t n, int64_t k, kernels::FromFloatFn convert,
                            size_t row_bytes) {
    source_ = x;
    convert_ = convert;
    n_ = n;
    k_ = k;
    row_bytes_ = row_bytes;
    if (convert_ != nullptr && buffer_.size() < row_bytes_ * static_cast<size_t>(n))
        buffer_.resize(row_bytes_ * static_cast<size_t>(n));
}

namespace {

// Threads split rows in slices of 16 (one 64-byte line of output floats), so with one token two
// threads share at most the line where their slices meet (none when y is line-aligned), the SIMD
// silu_mul body (8 or 16 lanes) sees the same groups as on a whole row, and slices of interleaved
// matrices are whole groups of 8 rows.
constexpr int64_t kRowGrain = 16;

// The kernels of one weight matrix: how its activations are prepared and how it is multiplied.
struct MatrixKernels {
    const kernels::TypeOps* ops = nullptr;
    kernels::FromFloatFn convert = nullptr;  // nullptr: F32 activations are read as they are
    size_t act_row_bytes = 0;
    bool interleaved = false;

    MatrixKernels() = default;
    explicit MatrixKernels(const TensorView& w) {
        ops = &kernels::ops(w.type);
        if (w.layout == Layout::Interleaved8) {
            // An instruction set forced after loading may lack interleaved kernels for the type;
            // the scalar reference (in every build) then computes the same values.
            if (ops->matmul_interleaved == nullptr)
                ops = &kernels::ops(w.type, kernels::Isa::Scalar);
            convert = ops->to_interleaved_act;
            act_row_bytes = kernels::interleaved_act_row_bytes(w.type, w.cols);
            interleaved = true;
            return;
        }
        convert = ops->dot_type == DType::F32 ? nullptr : ops->to_dot_type;
        act_row_bytes = kernels::activation_row_bytes(*ops, w.cols);
    }

    const std::byte* activations(const float* x, int64_t n, int64_t k, ActivationCache& cache,
                                 ThreadPool& pool) const {
        return cache.get(x, n, k, convert, act_row_bytes, pool);
    }

    // y[t * y_stride + r] for rows [begin, end) of w.
    void multiply(const TensorView& w, const std::byte* act, int64_t n, float* y, size_t y_stride,
                  int64_t begin, int64_t end) const {
        if (interleaved) {
            ops->matmul_interleaved(w.cols, w.data, w.row_bytes, act, act_row_bytes, n, y, y_stride,
                                    begin, end);
        } else {
            kernels::matmul_rows(*ops, w.cols, w.data, w.row_bytes, act, act_row_bytes, n, y,
                                 y_stride, begin, end);
        }
    }
};

}  // namespace

void ActivationCache::begin_fill(const TensorView& w, const float* x, int64_t n) {
    const MatrixKernels kernels_of(w);
    start(x, n, w.cols, kernels_of.convert, kernels_of.act_row_bytes);
}

void ActivationCache::fill_row(int64_t t) {
    if (convert_ == nullptr) return;  // F32 activations are read as they are
    convert_(source_ + t * k_, buffer_.data() + static_cast<size_t>(t) * row_bytes_, k_);
}

namespace {

void add_row_bias(float* y, int64_t n, int64_t rows, const TensorView* bias, int64_t begin,
                  int64_t end) {
    if (bias == nullptr || bias->empty()) return;
    const float* b = bias->f32();
    for (int64_t t = 0; t < n; ++t) {
        float* out = y + t * rows;
        for (int64_t r = begin; r < end; ++r) out[r] += b[r];
    }
}

}  // namespace

void linear(const TensorView& w, const float* x, int64_t n, float* y, ActivationCache& cache,
            ThreadPool& pool) {
    const LinearPart part{&w, y, nullptr};
    linear_fused(std::span(&part, 1), x, n, cache, pool);
}

void linear_fused(std::span<const LinearPart> parts, const float* x, int64_t n,
                  ActivationCache& cache, ThreadPool& pool) {
    if (parts.empty()) return;
    // A fixed array: this runs for every matrix of every token, where nothing is allocated.
    constexpr size_t kMaxParts = 4;
    if (parts.size() > kMaxParts) fail("linear_fused: more than ", kMaxParts, " matrices");
    std::array<MatrixKernels, kMaxParts> kernels_of;
    for (size_t i = 0; i < parts.size(); ++i) kernels_of[i] = MatrixKernels(*parts[i].w);
    const int64_t k = parts[0].w->cols;
    bool fusable = true;
    for (size_t i = 0; i < parts.size(); ++i) {
        fusable =
            fusable && parts[i].w->cols == k && kernels_of[i].convert == kernels_of[0].convert;
    }
    if (!fusable) {
        for (const LinearPart& p : parts) linear_fused(std::span(&p, 1), x, n, cache, pool);
        return;
    }
    const std::byte* act = kernels_of[0].activations(x, n, k, cache, pool);
    // Work items are kRowGrain-row slices of each part, numbered across the parts in order.
    int64_t total_slices = 0;
    for (const LinearPart& p : parts) total_slices += (p.w->rows + kRowGrain - 1) / kRowGrain;
    pool.parallel_for_balanced(total_slices, [&](int64_t slice_begin, int64_t slice_end) {
        int64_t part_first_slice = 0;
        for (size_t i = 0; i < parts.size(); ++i) {
            const LinearPart& p = parts[i];
            const int64_t rows = p.w->rows;
            const int64_t slices = (rows + kRowGrain - 1) / kRowGrain;
            const int64_t s0 = std::max(slice_begin, part_first_slice) - part_first_slice;
            const int64_t s1 = std::min(slice_end, part_first_slice + slices) - part_first_slice;
            part_first_slice += slices;
            if (s0 >= s1) continue;
            const int64_t begin = s0 * kRowGrain;
            const int64_t end = std::min(rows, s1 * kRowGrain);
            kernels_of[i].multiply(*p.w, act, n, p.y, static_cast<size_t>(rows), begin, end);
            add_row_bias(p.y, n, rows, p.bias, begin, end);
        }
    });
}

void linear_swiglu(const TensorView& gate_w, const TensorView& up_w, const float* x, int64_t n,
                   float* gate, float* up, ActivationCache& cache, ThreadPool& pool) {
    const MatrixKernels gate_k(gate_w);
    const MatrixKernels up_k(up_w);
    const kernels::AttentionOps& attn = kernels::attention_ops();
    if (gate_w.rows != up_w.rows || gate_w.cols != up_w.cols || gate_k.convert != up_k.convert) {
        linear(gate_w, x, n, gate, cache, pool);
        linear(up_w, x, n, up, cache, pool);
        const int64_t n_ff = gate_w.rows;
        pool.parallel_for(n, [&](int64_t begin, int64_t end) {
            for (int64_t t = begin; t < end; ++t)
                attn.silu_mul(gate + t * n_ff, up + t * n_ff, n_ff);
        });
        return;
    }
    const int64_t k = gate_w.cols;
    const int64_t rows = gate_w.rows;
    const std::byte* act = gate_k.activations(x, n, k, cache, pool);
    const int64_t slices = (rows + kRowGrain - 1) / kRowGrain;
    pool.parallel_for_balanced(slices, [&](int64_t slice_begin, int64_t slice_end) {
        const int64_t begin = slice_begin * kRowGrain;
        const int64_t end = std::min(rows, slice_end * kRowGrain);
        gate_k.multiply(gate_w, act, n, gate, static_cast<size_t>(rows), begin, end);
        up_k.multiply(up_w, act, n, up, static_cast<size_t>(rows), begin, end);
        // silu_mul is element-wise; its SIMD body covers multiples of 8 (kRowGrain is 16), so a
        // slice gets exactly the values the whole row would.
        for (int64_t t = 0; t < n; ++t) {
            attn.silu_mul(gate + t * rows + begin, up + t * rows + begin, end - begin);
        }
    });
}

void dequantize_row(const TensorView& table, int64_t index, float* out) {
    if (index < 0 || index >= table.rows) fail("row ", index, " outside tensor '", table.name, "'");
    if (table.layout == Layout::Interleaved8) {
        kernels::interleaved_row_to_float(table.type, table.cols, table.data, index, out);
        return;
    }
    kernels::ops(table.type).to_float(table.row(index), out, table.cols);
}

}  // namespace pocket::model
