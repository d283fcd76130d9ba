#include "model/linear.h"

#include <algorithm>
#include <cstring>

#include "pocket/core/error.h"
#include "pocket/core/thread_pool.h"
#include "pocket/kernels/attention.h"
#include "pocket/kernels/kernels.h"

namespace pocket::model {

const std::byte* ActivationCache::get(const float* x, int64_t n, int64_t k, DType dot_type,
                                      size_t* row_bytes, ThreadPool& pool) {
    if (dot_type == DType::F32) {
        *row_bytes = static_cast<size_t>(k) * sizeof(float);
        return reinterpret_cast<const std::byte*>(x);
    }
    if (source_ == x && type_ == dot_type && n_ == n) {
        *row_bytes = row_bytes_;
        return buffer_.data();
    }
    const auto bytes = pocket::row_bytes(dot_type, static_cast<uint64_t>(k));
    if (!bytes) fail("row of ", k, " values cannot be converted to ", dtype_name(dot_type));
    row_bytes_ = static_cast<size_t>(*bytes);
    if (buffer_.size() < row_bytes_ * static_cast<size_t>(n))
        buffer_.resize(row_bytes_ * static_cast<size_t>(n));
    const auto from_float = kernels::ops(dot_type).from_float;
    std::byte* out = buffer_.data();
    const size_t stride = row_bytes_;
    pool.parallel_for(n, [&](int64_t begin, int64_t end) {
        for (int64_t t = begin; t < end; ++t) {
            from_float(x + t * k, out + static_cast<size_t>(t) * stride, k);
        }
    });
    source_ = x;
    type_ = dot_type;
    n_ = n;
    *row_bytes = row_bytes_;
    return buffer_.data();
}

void linear(const TensorView& w, const float* x, int64_t n, float* y, ActivationCache& cache,
            ThreadPool& pool) {
    const kernels::TypeOps& ops = kernels::ops(w.type);
    size_t act_row_bytes = 0;
    const std::byte* act = cache.get(x, n, w.cols, ops.dot_type, &act_row_bytes, pool);
    const int64_t rows = w.rows;
    const int64_t k = w.cols;
    pool.parallel_for(rows, [&](int64_t begin, int64_t end) {
        kernels::matmul_rows(ops, k, w.data, w.row_bytes, act, act_row_bytes, n, y,
                             static_cast<size_t>(rows), begin, end);
    });
}

namespace {

// Threads split rows in slices of 16 (one 64-byte line of output floats), so with one token two
// threads share at most the line where their slices meet (none when y is line-aligned), and the
// SIMD silu_mul body (8 or 16 lanes) sees the same groups as on a whole row.
constexpr int64_t kRowGrain = 16;

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

void linear_fused(std::span<const LinearPart> parts, const float* x, int64_t n,
                  ActivationCache& cache, ThreadPool& pool) {
    if (parts.empty()) return;
    const TensorView& first = *parts[0].w;
    const DType dot_type = kernels::ops(first.type).dot_type;
    bool fusable = true;
    for (const LinearPart& p : parts) {
        fusable =
            fusable && p.w->cols == first.cols && kernels::ops(p.w->type).dot_type == dot_type;
    }
    if (!fusable) {
        for (const LinearPart& p : parts) {
            linear(*p.w, x, n, p.y, cache, pool);
            add_row_bias(p.y, n, p.w->rows, p.bias, 0, p.w->rows);
        }
        return;
    }
    const int64_t k = first.cols;
    size_t act_row_bytes = 0;
    const std::byte* act = cache.get(x, n, k, dot_type, &act_row_bytes, pool);
    // Work items are kRowGrain-row slices of each part, numbered across the parts in order.
    int64_t total_slices = 0;
    for (const LinearPart& p : parts) total_slices += (p.w->rows + kRowGrain - 1) / kRowGrain;
    pool.parallel_for(total_slices, [&](int64_t slice_begin, int64_t slice_end) {
        int64_t part_first_slice = 0;
        for (const LinearPart& p : parts) {
            const int64_t rows = p.w->rows;
            const int64_t slices = (rows + kRowGrain - 1) / kRowGrain;
            const int64_t s0 = std::max(slice_begin, part_first_slice) - part_first_slice;
            const int64_t s1 = std::min(slice_end, part_first_slice + slices) - part_first_slice;
            part_first_slice += slices;
            if (s0 >= s1) continue;
            const int64_t begin = s0 * kRowGrain;
            const int64_t end = std::min(rows, s1 * kRowGrain);
            kernels::matmul_rows(kernels::ops(p.w->type), k, p.w->data, p.w->row_bytes, act,
                                 act_row_bytes, n, p.y, static_cast<size_t>(rows), begin, end);
            add_row_bias(p.y, n, rows, p.bias, begin, end);
        }
    });
}

void linear_swiglu(const TensorView& gate_w, const TensorView& up_w, const float* x, int64_t n,
                   float* gate, float* up, ActivationCache& cache, ThreadPool& pool) {
    const kernels::TypeOps& gate_ops = kernels::ops(gate_w.type);
    const kernels::TypeOps& up_ops = kernels::ops(up_w.type);
    const kernels::AttentionOps& attn = kernels::attention_ops();
    if (gate_w.rows != up_w.rows || gate_w.cols != up_w.cols ||
        gate_ops.dot_type != up_ops.dot_type) {
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
    size_t act_row_bytes = 0;
    const std::byte* act = cache.get(x, n, k, gate_ops.dot_type, &act_row_bytes, pool);
    const int64_t slices = (rows + kRowGrain - 1) / kRowGrain;
    pool.parallel_for(slices, [&](int64_t slice_begin, int64_t slice_end) {
        const int64_t begin = slice_begin * kRowGrain;
        const int64_t end = std::min(rows, slice_end * kRowGrain);
        kernels::matmul_rows(gate_ops, k, gate_w.data, gate_w.row_bytes, act, act_row_bytes, n,
                             gate, static_cast<size_t>(rows), begin, end);
        kernels::matmul_rows(up_ops, k, up_w.data, up_w.row_bytes, act, act_row_bytes, n, up,
                             static_cast<size_t>(rows), begin, end);
        // silu_mul is element-wise; its SIMD body covers multiples of 8 (kRowGrain is 16), so a
        // slice gets exactly the values the whole row would.
        for (int64_t t = 0; t < n; ++t) {
            attn.silu_mul(gate + t * rows + begin, up + t * rows + begin, end - begin);
        }
    });
}

void dequantize_row(const TensorView& table, int64_t index, float* out) {
    if (index < 0 || index >= table.rows) fail("row ", index, " outside tensor '", table.name, "'");
    kernels::ops(table.type).to_float(table.row(index), out, table.cols);
}

}  // namespace pocket::model
