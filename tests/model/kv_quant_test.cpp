// The KV cache with quantized keys and values (Q8_0, Q4_0) on its own: type names, the memory a
// position takes, rows stored as the type's quantizer writes them, and fork / truncate /
// copy-on-write moving quantized rows exactly as F16 ones.
#include <gtest/gtest.h>

#include <cstring>
#include <string>
#include <vector>

#include "kernels/kernels.h"
#include "pocket/core/error.h"
#include "pocket/model/kv_cache.h"

namespace pocket::test {
namespace {

using model::KvCache;
using model::SeqId;

TEST(KvQuant, TypeNamesAreLlamaCppsAndOthersAreRejected) {
    EXPECT_EQ(model::kv_cache_type_from_name("f16"), DType::F16);
    EXPECT_EQ(model::kv_cache_type_from_name("q8_0"), DType::Q8_0);
    EXPECT_EQ(model::kv_cache_type_from_name("Q4_0"), DType::Q4_0);
    for (const char* bad : {"", "fp16", "q8", "q5_0", "f32", "q4_0 "}) {
        try {
            model::kv_cache_type_from_name(bad);
            ADD_FAILURE() << "accepted '" << bad << "'";
        } catch (const Error& e) {
            const std::string what = e.what();
            EXPECT_NE(what.find("f16, q8_0 or q4_0"), std::string::npos) << what;
            EXPECT_NE(what.find(std::string("'") + bad + "'"), std::string::npos) << what;
        }
    }
}

TEST(KvQuant, RowsThatDoNotFillBlocksAreRefusedWithTheReason) {
    // 40 values: F16 is fine, the 32-value blocks are not.
    EXPECT_NO_THROW(KvCache({.n_layer = 1, .n_embd_kv = 40, .capacity = 8}));
    try {
        KvCache({.n_layer = 1, .n_embd_kv = 40, .capacity = 8, .type_v = DType::Q4_0});
        ADD_FAILURE() << "accepted Q4_0 values of 40";
    } catch (const Error& e) {
        const std::string what = e.what();
        EXPECT_NE(what.find("values as q4_0"), std::string::npos) << what;
        EXPECT_NE(what.find("40"), std::string::npos) << what;
        EXPECT_NE(what.find("32"), std::string::npos) << what;
    }
    EXPECT_THROW(KvCache({.n_layer = 1, .n_embd_kv = 64, .capacity = 8, .type_k = DType::Q4_1}),
                 Error);
}

TEST(KvQuant, BytesPerPositionFollowTheTypes) {
    // 2 layers of 64 values: F16 128 bytes a row, Q8_0 2 blocks of 34, Q4_0 2 blocks of 18.
    const auto cache = [](DType k, DType v) {
        return KvCache({.n_layer = 2,
                        .n_embd_kv = 64,
                        .capacity = 100,
                        .page_tokens = 16,
                        .type_k = k,
                        .type_v = v});
    };
    const KvCache f16 = cache(DType::F16, DType::F16);
    const KvCache q8 = cache(DType::Q8_0, DType::Q8_0);
    const KvCache q4 = cache(DType::Q4_0, DType::Q4_0);
    const KvCache mixed = cache(DType::Q8_0, DType::Q4_0);
    EXPECT_EQ(f16.bytes_per_position(), 2u * (128 + 128));
    EXPECT_EQ(q8.key_row_bytes(), 68u);
    EXPECT_EQ(q8.bytes_per_position(), 2u * (68 + 68));
    EXPECT_EQ(q4.bytes_per_position(), 2u * (36 + 36));
    EXPECT_EQ(mixed.bytes_per_position(), 2u * (68 + 36));
    // 100 positions take 7 pages of 16.
    EXPECT_EQ(f16.bytes_allocated(), 112u * f16.bytes_per_position());
    EXPECT_EQ(q8.bytes_allocated(), 112u * q8.bytes_per_position());
    EXPECT_EQ(mixed.type_k(), DType::Q8_0);
    EXPECT_EQ(mixed.type_v(), DType::Q4_0);
}

// A row of 64 values that differs with (seq tag, layer, pos, kv): quantized rows of different
// positions differ in their bytes.
std::vector<float> row_values(int tag, int64_t layer, int64_t pos, int kv) {
    std::vector<float> row(64);
    for (size_t i = 0; i < row.size(); ++i) {
        row[i] =
            static_cast<float>((tag * 7 + layer * 3 + pos * 5 + kv + static_cast<int>(i)) % 23) -
            11.0f + 0.01f * static_cast<float>(tag + pos);
    }
    return row;
}

std::vector<std::byte> expected_row(DType type, const std::vector<float>& values) {
    std::vector<std::byte> out(*row_bytes(type, values.size()));
    if (type == DType::F16) {
        for (size_t i = 0; i < values.size(); ++i) {
            const f16_t h = f32_to_f16(values[i]);
            std::memcpy(out.data() + 2 * i, &h, 2);
        }
    } else {
        kernels::ops(type, kernels::Isa::Scalar)
            .from_float(values.data(), out.data(), static_cast<int64_t>(values.size()));
    }
    return out;
}

class KvQuantCache : public ::testing::TestWithParam<DType> {
  protected:
    KvCache kv_{{.n_layer = 2,
                 .n_embd_kv = 64,
                 .capacity = 128,
                 .page_tokens = 16,
                 .type_k = GetParam(),
                 .type_v = GetParam() == DType::F16 ? DType::Q8_0 : DType::F16}};

    void write(SeqId seq, int64_t from, int64_t to, int tag) {
        for (int64_t layer = 0; layer < 2; ++layer) {
            for (int64_t p = from; p < to; ++p) {
                kv_.store_key(layer, seq, p, row_values(tag, layer, p, 0));
                kv_.store_value(layer, seq, p, row_values(tag, layer, p, 1));
            }
        }
    }
    void expect(SeqId seq, int64_t from, int64_t to, int tag) {
        for (int64_t layer = 0; layer < 2; ++layer) {
            for (int64_t p = from; p < to; ++p) {
                const auto k = expected_row(kv_.type_k(), row_values(tag, layer, p, 0));
                const auto v = expected_row(kv_.type_v(), row_values(tag, layer, p, 1));
                ASSERT_EQ(std::memcmp(kv_.key_row(layer, seq, p), k.data(), k.size()), 0)
                    << "key of seq " << seq << " layer " << layer << " pos " << p;
                ASSERT_EQ(std::memcmp(kv_.value_row(layer, seq, p), v.data(), v.size()), 0)
                    << "value of seq " << seq << " layer " << layer << " pos " << p;
            }
        }
    }
};

TEST_P(KvQuantCache, StoredRowsAreTheQuantizersBytes) {
    kv_.grow(0, 40);
    write(0, 0, 40, 1);
    expect(0, 0, 40, 1);
    // Runs hand out the same rows, page by page.
    int64_t seen = 0;
    kv_.for_each_run(1, 0, 37, [&](const KvCache::Run& run) {
        EXPECT_EQ(run.first_pos, seen);
        EXPECT_EQ(run.key_data, kv_.key_row(1, 0, run.first_pos));
        EXPECT_EQ(run.value_data, kv_.value_row(1, 0, run.first_pos));
        EXPECT_EQ(run.key_data + (run.count - 1) * kv_.key_row_bytes(),
                  kv_.key_row(1, 0, run.first_pos + run.count - 1));
        EXPECT_EQ(run.keys != nullptr, kv_.type_k() == DType::F16);
        EXPECT_EQ(run.values != nullptr, kv_.type_v() == DType::F16);
        seen += run.count;
    });
    EXPECT_EQ(seen, 37);
    // The F16 accessors refuse the quantized half.
    if (kv_.type_k() != DType::F16) {
        EXPECT_THROW(kv_.key(0, 0, 0), Error);
    }
    if (kv_.type_v() != DType::F16) {
        EXPECT_THROW(kv_.value(0, 0, 0), Error);
    }
    EXPECT_THROW(kv_.store_key(0, 0, 0, std::vector<float>(63)), Error);
}

TEST_P(KvQuantCache, ForkTruncateAndCopyOnWriteKeepQuantizedRows) {
    kv_.grow(0, 40);
    write(0, 0, 40, 1);
    kv_.fork(0, 1);
    EXPECT_EQ(kv_.used_positions(), 40);
    expect(1, 0, 40, 1);
    EXPECT_THROW(kv_.store_key(0, 1, 39, row_values(9, 0, 39, 0)), Error);  // shared
    // The fork appends: its partly filled last page is copied (8 quantized rows) first.
    kv_.grow(1, 45);
    write(1, 40, 45, 2);
    expect(1, 0, 40, 1);
    expect(1, 40, 45, 2);
    // The source appends into its own page, which the fork no longer sees.
    kv_.grow(0, 43);
    write(0, 40, 43, 3);
    expect(0, 0, 40, 1);
    expect(0, 40, 43, 3);
    expect(1, 40, 45, 2);
    // Truncating into the middle of a page and writing again.
    kv_.truncate(1, 20);
    kv_.grow(1, 30);
    write(1, 20, 30, 4);
    expect(1, 0, 20, 1);
    expect(1, 20, 30, 4);
    expect(0, 0, 40, 1);
    kv_.clear(0);
    expect(1, 0, 20, 1);
    EXPECT_EQ(kv_.used_positions(), 30);
}

INSTANTIATE_TEST_SUITE_P(Types, KvQuantCache,
                         ::testing::Values(DType::F16, DType::Q8_0, DType::Q4_0),
                         [](const auto& info) { return std::string(dtype_name(info.param)); });

}  // namespace
}  // namespace pocket::test
