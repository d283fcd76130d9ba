#include "kernels/kv_rows.h"

#include <cstring>

#include "kernels/attention.h"
#include "pocket/core/error.h"

namespace pocket::kernels {

size_t kv_rows_scratch(DType type, int64_t col, int64_t width) {
    if (type == DType::F16) return 0;
    const auto block = static_cast<int64_t>(traits(type).block_size);
    const int64_t first = col / block, last = (col + width + block - 1) / block;
    return static_cast<size_t>((last - first) * block);
}

void kv_rows_to_f16(DType type, const std::byte* rows, size_t row_bytes, int64_t n_rows,
                    int64_t col, int64_t width, f16_t* out, int64_t out_stride,
                    std::span<float> scratch, Isa isa) {
    if (type == DType::F16) {
        for (int64_t r = 0; r < n_rows; ++r) {
            std::memcpy(out + r * out_stride,
                        rows + static_cast<size_t>(r) * row_bytes + col * sizeof(f16_t),
                        static_cast<size_t>(width) * sizeof(f16_t));
        }
        return;
    }
    const size_t need = kv_rows_scratch(type, col, width);
    if (scratch.size() < need) {
        fail("kv_rows_to_f16: ", scratch.size(), " floats of scratch, ", need, " needed");
    }
    const DTypeTraits& t = traits(type);
    const auto block = static_cast<int64_t>(t.block_size);
    const int64_t first_block = col / block;
    const int64_t skip = col - first_block * block;  // values of the first block before col
    // Heads of whole blocks (head_dim 64, 128, ...): one pass, with no F32 scratch.
    if (skip == 0 && width % block == 0 && (type == DType::Q8_0 || type == DType::Q4_0)) {
        const AttentionOps& a = attention_ops(isa);
        (type == DType::Q8_0 ? a.q8_0_rows_to_f16 : a.q4_0_rows_to_f16)(
            rows, row_bytes, n_rows, first_block, width / block, out, out_stride);
        return;
    }
    const ToFloatFn to_float = ops(type, isa).to_float;
    const auto to_f16 = attention_ops(isa).to_f16;
    const size_t offset = static_cast<size_t>(first_block) * t.block_bytes;
    for (int64_t r = 0; r < n_rows; ++r) {
        to_float(rows + static_cast<size_t>(r) * row_bytes + offset, scratch.data(),
                 static_cast<int64_t>(need));
        to_f16(scratch.data() + skip, out + r * out_stride, width);
    }
}

void kv_rows_to_f16(DType type, const std::byte* rows, size_t row_bytes, int64_t n_rows,
                    int64_t col, int64_t width, f16_t* out, int64_t out_stride,
                    std::span<float> scratch) {
    kv_rows_to_f16(type, rows, row_bytes, n_rows, col, width, out, out_stride, scratch,
                   active_isa());
}

}  // namespace pocket::kernels
