#include "model/linear.h"

#include <cstring>

#include "pocket/core/error.h"
#include "pocket/core/thread_pool.h"
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
    if (buffer_.size() < row_bytes_ * static_cast<size_t>(n)) buffer_.resize(row_bytes_ * static_cast<size_t>(n));
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

void dequantize_row(const TensorView& table, int64_t index, float* out) {
    if (index < 0 || index >= table.rows) fail("row ", index, " outside tensor '", table.name, "'");
    kernels::ops(table.type).to_float(table.row(index), out, table.cols);
}

}  // namespace pocket::model
