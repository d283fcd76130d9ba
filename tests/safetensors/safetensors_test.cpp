// The safetensors reader, writer and sharded checkpoints. Hostile images are built by hand here
// (header length + JSON text + data), independently of the writer under test.
#include <gtest/gtest.h>

#include <cstring>
#include <fstream>
#include <random>

#include "pocket/safetensors/safetensors.h"
#include "support/test_support.h"

namespace st = pocket::safetensors;
using pocket::test::ScratchDir;
using pocket::test::shared_path;

namespace {

std::vector<std::byte> image(const std::string& header, size_t data_bytes = 0,
                             uint64_t length_override = UINT64_MAX) {
    const uint64_t length = length_override == UINT64_MAX ? header.size() : length_override;
    std::vector<std::byte> out(8 + header.size() + data_bytes);
    for (int i = 0; i < 8; ++i) out[static_cast<size_t>(i)] = std::byte((length >> (8 * i)) & 0xff);
    std::memcpy(out.data() + 8, header.data(), header.size());
    for (size_t i = 0; i < data_bytes; ++i) out[8 + header.size() + i] = std::byte(i & 0xff);
    return out;
}

st::File parse(const std::vector<std::byte>& bytes) {
    return st::File::parse(bytes, "test");
}

// Expects a FormatError whose message contains `needle`.
void expect_format_error(const std::vector<std::byte>& bytes, const std::string& needle) {
    try {
        parse(bytes);
        ADD_FAILURE() << "parsed without error; expected: " << needle;
    } catch (const st::FormatError& e) {
        EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
    }
}

const std::string kTwoTensors = R"({"__metadata__":{"format":"pt"},)"
                                R"("b":{"dtype":"F16","shape":[3],"data_offsets":[8,14]},)"
                                R"("a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})";

}  // namespace

TEST(SafetensorsReader, ParsesHandBuiltImage) {
    const auto bytes = image(kTwoTensors, 14);
    const auto file = parse(bytes);
    EXPECT_EQ(file.data_offset(), 8 + kTwoTensors.size());
    ASSERT_EQ(file.tensors().size(), 2u);
    EXPECT_EQ(file.tensors()[0].name, "a");  // sorted by offset, not by header order
    EXPECT_EQ(file.tensors()[1].name, "b");
    EXPECT_EQ(file.metadata().at("format"), "pt");
    const auto* b = file.find("b");
    ASSERT_NE(b, nullptr);
    EXPECT_EQ(b->dtype, st::DType::F16);
    EXPECT_EQ(b->shape, std::vector<uint64_t>{3});
    const auto data = file.data(*b);
    ASSERT_EQ(data.size(), 6u);
    EXPECT_EQ(data[0], std::byte(8));  // image() fills data byte i with i
    EXPECT_EQ(file.find("c"), nullptr);
}

TEST(SafetensorsReader, ReadsTheRealModel2VecFile) {
    const auto file =
        st::File::open(shared_path("models/embed/potion-base-4M-int8/model.safetensors"));
    ASSERT_EQ(file.tensors().size(), 1u);
    const auto& t = file.tensors()[0];
    EXPECT_EQ(t.name, "embeddings");
    EXPECT_EQ(t.dtype, st::DType::I8);
    EXPECT_EQ(t.shape, (std::vector<uint64_t>{29528, 128}));
    EXPECT_EQ(file.data_offset(), 88u);
    EXPECT_EQ(file.data(t).size(), 29528u * 128u);
}

TEST(SafetensorsReader, ScalarsAndEmptyTensors) {
    const auto file = parse(image(
        R"({"s":{"dtype":"I64","shape":[],"data_offsets":[0,8]},"e":{"dtype":"F32","shape":[0,5],"data_offsets":[8,8]}})",
        8));
    EXPECT_EQ(file.find("s")->n_elements(), 1u);
    EXPECT_EQ(file.find("e")->n_bytes(), 0u);
}

TEST(SafetensorsReader, RejectsHostileHeaders) {
    expect_format_error({}, "too short");
    expect_format_error(image("{}", 0, 100'000'001), "exceeds the limit");
    expect_format_error(image("{}", 0, UINT64_MAX - 1), "exceeds the limit");
    expect_format_error(image("{}", 0, 50), "truncated");
    expect_format_error(image("[]"), "does not start with '{'");
    expect_format_error(image("{\"a\":"), "invalid JSON");
    expect_format_error(image("{} trailing"), "invalid JSON");
    expect_format_error(image(std::string(40, '{')), "");
    expect_format_error(image(R"({"a":)" + std::string(100, '[') + std::string(100, ']') + "}"),
                        "nested deeper");
    expect_format_error(image("{\"a\":\"\xff\"}"), "invalid JSON");
    expect_format_error(
        image(
            R"({"x":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"x":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}})",
            4),
        "duplicate key 'x'");
    expect_format_error(image(R"({"__metadata__":{"k":1}})"), "must be strings");
    expect_format_error(image(R"({"__metadata__":[1]})"), "object of strings");
    expect_format_error(image(R"({"x":3})"), "not an object");
    expect_format_error(image(R"({"x":{"shape":[1],"data_offsets":[0,4]}})", 4), "dtype");
    expect_format_error(image(R"({"x":{"dtype":"F4","shape":[1],"data_offsets":[0,4]}})", 4),
                        "unsupported dtype 'F4'");
    expect_format_error(image(R"({"x":{"dtype":7,"shape":[1],"data_offsets":[0,4]}})", 4),
                        "must be a string");
    expect_format_error(image(R"({"x":{"dtype":"F32","shape":[-1],"data_offsets":[0,4]}})", 4),
                        "non-negative integer");
    expect_format_error(image(R"({"x":{"dtype":"F32","shape":[1.5],"data_offsets":[0,4]}})", 4),
                        "non-negative integer");
    expect_format_error(image(R"({"x":{"dtype":"F32","shape":1,"data_offsets":[0,4]}})", 4),
                        "must be an array");
    expect_format_error(
        image(R"({"x":{"dtype":"F32","shape":[4294967296,4294967296],"data_offsets":[0,4]}})", 4),
        "overflows");
    expect_format_error(
        image(R"({"x":{"dtype":"F64","shape":[4611686018427387904],"data_offsets":[0,4]}})", 4),
        "overflows");
    expect_format_error(
        image(R"({"x":{"dtype":"F32","shape":[99999999999999999999],"data_offsets":[0,4]}})", 4),
        "non-negative integer");
    expect_format_error(image(R"({"x":{"dtype":"F32","shape":[1],"data_offsets":[4,0]}})", 4),
                        "before begin");
    expect_format_error(image(R"({"x":{"dtype":"F32","shape":[1],"data_offsets":[0]}})", 4),
                        "[begin, end]");
    expect_format_error(image(R"({"x":{"dtype":"F32","shape":[2],"data_offsets":[0,4]}})", 4),
                        "needs 8");
    expect_format_error(image(R"({"x":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}})", 4),
                        "past the data section");
    expect_format_error(
        image(R"({"x":{"dtype":"F32","shape":[2],"data_offsets":[18446744073709551608,0]}})", 4),
        "before begin");
    expect_format_error(
        image(
            R"({"x":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"y":{"dtype":"F32","shape":[1],"data_offsets":[2,6]}})",
            8),
        "overlaps");
    expect_format_error(
        image(
            R"({"x":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"y":{"dtype":"F32","shape":[1],"data_offsets":[6,10]}})",
            10),
        "gap of 2 bytes");
    expect_format_error(image(R"({"x":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}})", 5),
                        "1 bytes after the last tensor");
}

TEST(SafetensorsReader, EveryTruncationAndByteFlipFailsCleanly) {
    st::Writer writer;
    writer.set_metadata("format", "pt");
    writer.add_tensor("w", st::DType::BF16, {2, 3}, std::vector<std::byte>(12, std::byte{1}));
    writer.add_tensor("b", st::DType::I32, {3}, std::vector<std::byte>(12, std::byte{2}));
    const auto good = writer.to_bytes();
    ASSERT_NO_THROW(parse(good));
    for (size_t n = 0; n < good.size(); ++n) {
        const std::vector<std::byte> cut(good.begin(), good.begin() + static_cast<long>(n));
        EXPECT_THROW(parse(cut), st::FormatError) << "prefix of " << n << " bytes";
    }
    std::mt19937 rng(7);
    for (int trial = 0; trial < 3000; ++trial) {
        auto bad = good;
        const int flips = 1 + trial % 3;
        for (int f = 0; f < flips; ++f) {
            bad[rng() % bad.size()] = std::byte(rng() & 0xff);
        }
        try {
            const auto file = parse(bad);
            for (const auto& t : file.tensors()) {
                EXPECT_LE(file.data_offset() + t.end, bad.size());
            }
        } catch (const st::FormatError&) {
        }
    }
}

TEST(SafetensorsWriter, RoundTripsAndPadsTheHeader) {
    st::Writer writer;
    writer.set_metadata("format", "pt");
    std::vector<std::byte> w(2 * 3 * 4);
    for (size_t i = 0; i < w.size(); ++i) w[i] = std::byte(i * 7);
    writer.add_tensor("model.w", st::DType::F32, {2, 3}, w);
    writer.add_tensor("model.b", st::DType::U8, {5}, std::vector<std::byte>(5, std::byte{9}));
    EXPECT_THROW(writer.add_tensor("model.b", st::DType::U8, {1}, {std::byte{0}}), pocket::Error);
    EXPECT_THROW(writer.add_tensor("x", st::DType::F32, {2}, {std::byte{0}}), pocket::Error);
    const auto bytes = writer.to_bytes();
    uint64_t length = 0;
    std::memcpy(&length, bytes.data(), 8);
    EXPECT_EQ((8 + length) % 8, 0u);
    EXPECT_EQ(bytes.size(), 8 + length + 24 + 5);

    ScratchDir dir;
    writer.write(dir / "m.safetensors");
    const auto file = st::File::open(dir / "m.safetensors");
    EXPECT_EQ(file.metadata().at("format"), "pt");
    const auto* t = file.find("model.w");
    ASSERT_NE(t, nullptr);
    EXPECT_EQ(t->shape, (std::vector<uint64_t>{2, 3}));
    const auto data = file.data(*t);
    EXPECT_TRUE(std::equal(data.begin(), data.end(), w.begin(), w.end()));
}

TEST(SafetensorsCheckpoint, OpensShardedCheckpoints) {
    ScratchDir dir;
    st::Writer a, b;
    a.add_tensor("x", st::DType::F32, {1}, std::vector<std::byte>(4, std::byte{1}));
    b.add_tensor("y", st::DType::F32, {2}, std::vector<std::byte>(8, std::byte{2}));
    a.write(dir / "model-00001-of-00002.safetensors");
    b.write(dir / "model-00002-of-00002.safetensors");
    const std::string index_json =
        R"({"metadata":{"total_size":12},"weight_map":{"x":"model-00001-of-00002.safetensors","y":"model-00002-of-00002.safetensors"}})";
    std::ofstream(dir / "model.safetensors.index.json") << index_json;

    const auto ckpt = st::Checkpoint::open(dir.path());
    EXPECT_EQ(ckpt.names(), (std::vector<std::string>{"x", "y"}));
    EXPECT_EQ(ckpt.at("y").data().size(), 8u);
    EXPECT_EQ(ckpt.at("y").data()[0], std::byte{2});
    EXPECT_FALSE(ckpt.find("z"));
    EXPECT_THROW(ckpt.at("z"), pocket::Error);

    // A single file opens too, by file or by folder.
    ScratchDir single;
    a.write(single / "model.safetensors");
    EXPECT_EQ(st::Checkpoint::open(single.path()).names(), std::vector<std::string>{"x"});
    EXPECT_EQ(st::Checkpoint::open(single / "model.safetensors").names(),
              std::vector<std::string>{"x"});
}

TEST(SafetensorsCheckpoint, RejectsInconsistentIndexes) {
    ScratchDir dir;
    st::Writer a;
    a.add_tensor("x", st::DType::F32, {1}, std::vector<std::byte>(4, std::byte{1}));
    a.write(dir / "s1.safetensors");
    a.write(dir / "s2.safetensors");
    auto expect_fail = [&](const std::string& json, const std::string& needle) {
        std::ofstream(dir / "model.safetensors.index.json", std::ios::trunc) << json;
        try {
            st::Checkpoint::open(dir.path());
            ADD_FAILURE() << "opened; expected: " << needle;
        } catch (const pocket::Error& e) {
            EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
        }
    };
    expect_fail(R"({"weight_map":{"x":"s1.safetensors","y":"s1.safetensors"}})",
                "does not hold it");
    expect_fail(R"({"weight_map":{"x":"s1.safetensors","z":"s2.safetensors"}})", "in two shards");
    expect_fail(R"({"weight_map":{"x":"../s1.safetensors"}})", "outside its folder");
    expect_fail(R"({"weight_map":{"x":"/etc/passwd"}})", "outside its folder");
    expect_fail(R"({"weight_map":{"x":"missing.safetensors"}})", "missing.safetensors");
    expect_fail(R"({"weight_map":[1]})", "weight_map");
    expect_fail(R"({"weight_map":)", "invalid JSON");
}
