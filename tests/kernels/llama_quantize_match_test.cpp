// The reference quantizers against llama.cpp itself: tiny-llama-spm.<T>.gguf were written by
// `llama-quantize --pure` from the all-F32 tiny-llama-spm.gguf, so quantizing every F32 tensor of
// the source with from_float_ref must reproduce the quantized file's tensor bytes exactly.
#include <gtest/gtest.h>

#include <cstring>
#include <string>
#include <vector>

#include "kernels/kernels.h"
#include "pocket/gguf/gguf.h"
#include "support/test_support.h"

namespace pocket::kernels {
namespace {

struct QuantizedCopy {
    std::string suffix;  // file name part
    DType type;
};

class LlamaQuantizeMatch : public ::testing::TestWithParam<QuantizedCopy> {};

const gguf::File& source_model() {
    static const gguf::File file =
        gguf::File::open(test::shared_path("models/tiny/tiny-llama-spm.gguf"));
    return file;
}

TEST_P(LlamaQuantizeMatch, ReferenceQuantizerReproducesFileBytes) {
    const QuantizedCopy& copy = GetParam();
    const gguf::File& source = source_model();
    const gguf::File quantized =
        gguf::File::open(test::shared_path("models/tiny/tiny-llama-spm." + copy.suffix + ".gguf"));
    const TypeOps& kernels = ops(copy.type, Isa::Scalar);

    int checked = 0;
    for (const gguf::TensorInfo& q_info : quantized.tensors()) {
        const gguf::TensorInfo* f_info = source.find_tensor(q_info.name);
        ASSERT_NE(f_info, nullptr) << q_info.name;
        ASSERT_EQ(f_info->type, DType::F32) << q_info.name;
        ASSERT_EQ(f_info->shape, q_info.shape) << q_info.name;
        const auto src_bytes = source.tensor_data(*f_info);
        const auto expected = quantized.tensor_data(q_info);
        if (q_info.type == DType::F32) {  // norms stay F32
            EXPECT_EQ(std::memcmp(src_bytes.data(), expected.data(), src_bytes.size()), 0)
                << q_info.name;
            continue;
        }
        ASSERT_EQ(q_info.type, copy.type) << q_info.name;

        const int64_t n = static_cast<int64_t>(f_info->n_elements());
        std::vector<float> values(static_cast<size_t>(n));
        std::memcpy(values.data(), src_bytes.data(), values.size() * sizeof(float));
        std::vector<std::byte> actual(expected.size());
        const int64_t row = static_cast<int64_t>(q_info.shape[0]);
        const size_t row_size = expected.size() / static_cast<size_t>(n / row);
        for (int64_t r = 0; r < n / row; ++r) {
            kernels.from_float_ref(values.data() + r * row, actual.data() + r * row_size, row);
        }
        size_t first_diff = 0;
        while (first_diff < actual.size() && actual[first_diff] == expected[first_diff])
            ++first_diff;
        EXPECT_EQ(first_diff, actual.size())
            << q_info.name << ": first differing byte " << first_diff << " of " << actual.size()
            << " (block " << first_diff / (row_size / (row / traits(copy.type).block_size)) << ")";
        ++checked;
    }
    EXPECT_EQ(checked, 16);  // every 2-D weight of the model
}

INSTANTIATE_TEST_SUITE_P(
    AllTypes, LlamaQuantizeMatch,
    ::testing::Values(QuantizedCopy{"Q8_0", DType::Q8_0}, QuantizedCopy{"Q4_0", DType::Q4_0},
                      QuantizedCopy{"Q4_1", DType::Q4_1}, QuantizedCopy{"Q5_0", DType::Q5_0},
                      QuantizedCopy{"Q5_1", DType::Q5_1}, QuantizedCopy{"Q4_K", DType::Q4_K},
                      QuantizedCopy{"Q5_K", DType::Q5_K}, QuantizedCopy{"Q6_K", DType::Q6_K},
                      QuantizedCopy{"Q2_K", DType::Q2_K}, QuantizedCopy{"Q3_K", DType::Q3_K},
                      QuantizedCopy{"IQ4_NL", DType::IQ4_NL}, QuantizedCopy{"F16", DType::F16},
                      QuantizedCopy{"BF16", DType::BF16}),
    [](const auto& info) { return info.param.suffix; });

}  // namespace
}  // namespace pocket::kernels
