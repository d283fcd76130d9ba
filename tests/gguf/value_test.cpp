// Metadata values, typed getters and their errors, read options, and the mmap wrapper.
#include <gtest/gtest.h>

#include <fstream>
#include <limits>

#include "pocket/core/mapped_file.h"
#include "pocket/gguf/gguf.h"
#include "support/corrupt_corpus.h"
#include "support/test_support.h"

namespace pocket::test {
namespace {

using gguf::Array;
using gguf::File;
using gguf::FormatError;
using gguf::Value;
using gguf::ValueType;

TEST(GgufValue, TypeCodesAndNames) {
    EXPECT_EQ(Value(uint8_t{1}).type(), ValueType::UINT8);
    EXPECT_EQ(Value(int64_t{1}).type(), ValueType::INT64);
    EXPECT_EQ(Value(1.0).type(), ValueType::FLOAT64);
    EXPECT_EQ(Value(std::string("s")).type(), ValueType::STRING);
    EXPECT_EQ(Value(Array{}).type(), ValueType::ARRAY);
    EXPECT_EQ(gguf::value_type_name(ValueType::FLOAT32), "FLOAT32");
    EXPECT_EQ(gguf::value_type_name(ValueType::ARRAY), "ARRAY");
    EXPECT_EQ(gguf::value_type_name(static_cast<ValueType>(13)), "INVALID");
}

TEST(GgufValue, CheckedConversions) {
    EXPECT_EQ(Value(uint16_t{65535}).as_int(), 65535);
    EXPECT_EQ(Value(int8_t{-3}).as_int(), -3);
    EXPECT_THROW(Value(std::numeric_limits<uint64_t>::max()).as_int(), Error);
    EXPECT_EQ(Value(std::numeric_limits<uint64_t>::max()).as_uint(),
              std::numeric_limits<uint64_t>::max());
    EXPECT_THROW(Value(int32_t{-1}).as_uint(), Error);
    EXPECT_EQ(Value(int64_t{7}).as_uint(), 7u);
    EXPECT_EQ(Value(1.5f).as_double(), 1.5);
    EXPECT_EQ(Value(int32_t{-2}).as_double(), -2.0);
    EXPECT_THROW(Value(true).as_int(), Error);
    EXPECT_FALSE(Value(true).is_integer());
    EXPECT_FALSE(Value(true).is_number());
    EXPECT_TRUE(Value(0.5).is_number());
    EXPECT_THROW(Value(uint32_t{1}).as_string(), Error);
    EXPECT_THROW(Value(std::string("x")).as_bool(), Error);
    EXPECT_THROW(Value(std::string("x")).as_array(), Error);
    EXPECT_TRUE(Value(Array{ValueType::INT8, {int8_t{1}}}) ==
                Value(Array{ValueType::INT8, {int8_t{1}}}));
    EXPECT_FALSE(Value(Array{ValueType::INT8, {}}) == Value(Array{ValueType::UINT8, {}}));
    EXPECT_FALSE(Value(uint32_t{1}) == Value(int32_t{1}));
}

TEST(GgufValue, TensorShapeArithmetic) {
    EXPECT_EQ(gguf::tensor_bytes(DType::Q4_K, std::vector<uint64_t>{512, 3}), 2u * 144 * 3);
    EXPECT_EQ(gguf::tensor_bytes(DType::F16, std::vector<uint64_t>{5, 1, 2}), 20u);
    EXPECT_THROW(gguf::tensor_bytes(DType::Q8_0, std::vector<uint64_t>{33}), Error);
    gguf::TensorInfo t;
    t.shape = {4, 3, 2};
    EXPECT_EQ(t.n_elements(), 24u);
    EXPECT_EQ(t.rows(), 6u);
}

class SmallFile : public ::testing::Test {
  protected:
    File f = File::parse(small_valid_gguf(), "small.gguf");
};

TEST_F(SmallFile, TypedGetters) {
    EXPECT_EQ(f.get_string("general.architecture"), "llama");
    EXPECT_EQ(f.get_int("test.i16"), -30000);
    EXPECT_EQ(f.get_int("test.u32"), 4000000000);
    EXPECT_EQ(f.get_uint("test.u64"), uint64_t{1} << 40);
    EXPECT_EQ(f.get_float("test.f32"), 1.5);
    EXPECT_EQ(f.get_float("test.f64"), -2.25);
    EXPECT_EQ(f.get_float("test.u8"), 200.0);  // integers are numbers too
    EXPECT_EQ(f.get_bool("test.bool"), true);
    ASSERT_NE(f.get_array("test.ints"), nullptr);
    EXPECT_EQ(f.get_array("test.ints")->items[1].as_int(), -2);
    EXPECT_EQ(f.get_string("missing"), std::nullopt);
    EXPECT_EQ(f.get_int("missing"), std::nullopt);
    EXPECT_EQ(f.get_array("missing"), nullptr);
    EXPECT_EQ(f.find("missing"), nullptr);
    EXPECT_EQ(f.find_tensor("missing"), nullptr);
}

TEST_F(SmallFile, WrongTypesThrowFormatErrorsNamingTheKey) {
    try {
        f.get_string("test.u32");
        FAIL() << "no error";
    } catch (const FormatError& e) {
        EXPECT_EQ(e.field(), "kv 5 'test.u32'");
        EXPECT_NE(std::string(e.what()).find("expected STRING, found UINT32"), std::string::npos)
            << e.what();
        EXPECT_EQ(e.file(), "small.gguf");
        EXPECT_GT(e.offset(), 24u);
    }
    EXPECT_THROW(f.get_uint("test.i8"), FormatError);  // -5 is negative
    EXPECT_THROW(f.get_int("test.f32"), FormatError);
    EXPECT_THROW(f.get_bool("test.u8"), FormatError);
    EXPECT_THROW(f.get_float("test.strings"), FormatError);
    EXPECT_THROW(f.get_array("test.u8"), FormatError);
}

TEST_F(SmallFile, TensorViews) {
    const auto* q = f.find_tensor("blk.q");
    ASSERT_NE(q, nullptr);
    EXPECT_EQ(q->type, DType::Q8_0);
    EXPECT_EQ(q->shape, (std::vector<uint64_t>{32, 2}));
    EXPECT_EQ(q->n_bytes, 68u);
    EXPECT_EQ(q->offset, 64u);
    const auto data = f.tensor_data(*q);
    ASSERT_EQ(data.size(), 68u);
    // The corpus fills tensor i's byte j with (i*37 + j*11 + 1) & 0xff.
    for (size_t j = 0; j < data.size(); ++j) {
        EXPECT_EQ(data[j], std::byte((37 + j * 11 + 1) & 0xff)) << j;
    }
    gguf::TensorInfo foreign = *q;
    foreign.offset = 1 << 20;
    EXPECT_THROW(f.tensor_data(foreign), Error);
}

TEST(GgufReadOptions, UncomputableTypesCanBeRefused) {
    gguf::Writer w;
    w.add_tensor("ids", DType::I32, {4}, std::vector<std::byte>(16));
    const auto bytes = w.to_bytes();
    EXPECT_NO_THROW(File::parse(bytes, "x"));
    gguf::ReadOptions strict;
    strict.allow_uncomputable_types = false;
    try {
        File::parse(bytes, "x", strict);
        FAIL() << "no error";
    } catch (const FormatError& e) {
        EXPECT_EQ(e.field(), "tensor info 0 'ids'.type");
    }
}

TEST(MappedFile, MapsFilesAndReportsErrors) {
    ScratchDir dir;
    {
        std::ofstream(dir / "data.bin", std::ios::binary) << "hello";
        std::ofstream(dir / "empty.bin", std::ios::binary);
    }
    MappedFile m(dir / "data.bin");
    ASSERT_EQ(m.size(), 5u);
    EXPECT_EQ(static_cast<char>(m.bytes()[1]), 'e');
    MappedFile moved = std::move(m);
    EXPECT_EQ(moved.size(), 5u);
    EXPECT_EQ(m.size(), 0u);  // NOLINT(bugprone-use-after-move): the moved-from state is defined

    EXPECT_EQ(MappedFile(dir / "empty.bin").size(), 0u);
    try {
        MappedFile missing(dir / "missing.gguf");
        FAIL() << "no error";
    } catch (const Error& e) {
        EXPECT_NE(std::string(e.what()).find("missing.gguf"), std::string::npos);
    }
    EXPECT_THROW(MappedFile{dir.path()}, Error);  // a directory

    // Through the GGUF reader: an empty file is a format error, a missing one an I/O error.
    try {
        File::open(dir / "empty.bin");
        FAIL() << "no error";
    } catch (const FormatError& e) {
        EXPECT_EQ(e.field(), "magic");
    }
    EXPECT_THROW(File::open(dir / "missing.gguf"), Error);
}

}  // namespace
}  // namespace pocket::test
