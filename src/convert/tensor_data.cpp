#include "tensor_data.h"

#include <cstring>

#include "kernels/kernels.h"
#include "pocket/core/error.h"
#include "pocket/core/fp16.h"

namespace pocket::convert::detail {

namespace st = pocket::safetensors;

std::vector<float> to_f32(const st::Checkpoint::Tensor& t) {
    const auto data = t.data();
    const size_t n = t.info->n_elements();
    const size_t size = st::dtype_size(t.info->dtype);
    std::vector<float> out(n);
    for (size_t i = 0; i < n; ++i) {
        const std::byte* p = data.data() + i * size;
        uint16_t h;
        switch (t.info->dtype) {
            case st::DType::F32:
                std::memcpy(&out[i], p, 4);
                break;
            case st::DType::F16:
                std::memcpy(&h, p, 2);
                out[i] = f16_to_f32(h);
                break;
            case st::DType::BF16:
                std::memcpy(&h, p, 2);
                out[i] = bf16_to_f32(h);
                break;
            default:
                fail("tensor '", t.info->name, "': dtype ", st::dtype_name(t.info->dtype),
                     " cannot be converted (F32, F16, BF16)");
        }
    }
    return out;
}

std::vector<float> permute_rotary_rows(std::span<const float> w, int64_t rows, int64_t cols,
                                       int64_t n_head) {
    if (rows % n_head != 0 || (rows / n_head) % 2 != 0)
        fail("rotary rows (", rows, ") do not split into ", n_head, " heads of even size");
    const int64_t d = rows / n_head, half = d / 2;
    std::vector<float> out(w.size());
    for (int64_t h = 0; h < n_head; ++h) {
        for (int64_t part = 0; part < 2; ++part) {
            for (int64_t j = 0; j < half; ++j) {
                const int64_t from = h * d + part * half + j, to = h * d + 2 * j + part;
                std::memcpy(&out[static_cast<size_t>(to * cols)],
                            &w[static_cast<size_t>(from * cols)],
                            static_cast<size_t>(cols) * sizeof(float));
            }
        }
    }
    return out;
}

void encode_rows(std::span<const float> values, DType type, int64_t cols,
                 std::span<std::byte> out) {
    const auto row = row_bytes(type, static_cast<uint64_t>(cols));
    if (!row) fail("rows of ", cols, " values do not split into ", dtype_name(type), " blocks");
    const size_t rows = values.size() / static_cast<size_t>(cols);
    if (out.size() != rows * *row) fail("encode_rows: output size mismatch");
    const auto& ops = kernels::ops(type);
    for (size_t r = 0; r < rows; ++r) {
        ops.from_float_ref(values.data() + r * static_cast<size_t>(cols), out.data() + r * *row,
                           cols);
    }
}

}  // namespace pocket::convert::detail
