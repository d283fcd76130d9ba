// Writer round trips: every stored .gguf is rewritten byte for byte (streaming its tensors), and
// files built from scratch with every value type read back unchanged.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <limits>
#include <set>

#include "pocket/core/mapped_file.h"
#include "pocket/gguf/gguf.h"
#include "support/test_support.h"

namespace pocket::test {
namespace {

using gguf::Array;
using gguf::File;
using gguf::Value;
using gguf::ValueType;
using gguf::Writer;
namespace fs = std::filesystem;

std::vector<fs::path> stored_gguf_files() {
    std::vector<fs::path> files;
    for (const auto& e : fs::recursive_directory_iterator(shared_path("models"))) {
        if (e.is_regular_file() && e.path().extension() == ".gguf") files.push_back(e.path());
    }
    for (const auto& e : fs::directory_iterator(shared_path("tokenizers"))) {
        if (e.is_regular_file() && e.path().extension() == ".gguf") files.push_back(e.path());
    }
    std::sort(files.begin(), files.end());
    return files;
}

// A writer holding everything `f` holds, in the same order; tensor data stream from the mapping.
Writer copy_of(const File& f) {
    Writer w(f.version());
    for (const auto& kv : f.metadata()) w.set(kv.key, kv.value);
    for (const auto& t : f.tensors()) {
        w.add_tensor(t.name, t.type, t.shape, [&f, &t](std::span<std::byte> out) {
            const auto data = f.tensor_data(t);
            ASSERT_EQ(out.size(), data.size());
            std::memcpy(out.data(), data.data(), data.size());
        });
    }
    return w;
}

void expect_same_bytes(std::span<const std::byte> a, std::span<const std::byte> b,
                       const std::string& what) {
    EXPECT_EQ(a.size(), b.size()) << what;
    const auto [pa, pb] = std::mismatch(a.begin(), a.end(), b.begin(), b.end());
    if (pa != a.end() || pb != b.end()) {
        ADD_FAILURE() << what << ": first difference at offset " << (pa - a.begin());
    }
}

TEST(GgufRoundTrip, EveryStoredFileIsRewrittenByteForByte) {
    const auto files = stored_gguf_files();
    ASSERT_GE(files.size(), 34u);
    // Every file the inventory describes is covered (and nothing is silently skipped).
    const auto inventory = read_json(shared_path("reference/gguf-inventory.json"));
    std::set<fs::path> listed;
    for (const auto& e : inventory.at("files")) listed.insert(shared_path(e.at("file")));
    for (const auto& p : listed) EXPECT_TRUE(std::count(files.begin(), files.end(), p)) << p;

    ScratchDir dir;
    for (const auto& path : files) {
        const File original = File::open(path);
        const auto out = dir / "copy.gguf";
        copy_of(original).write(out);
        const MappedFile copy(out);
        expect_same_bytes(copy.bytes(), original.bytes(), path.string());
    }
}

// Deterministic pseudo-random bytes.
std::vector<std::byte> pattern(size_t n, uint32_t seed) {
    std::vector<std::byte> b(n);
    uint32_t x = seed * 2654435761u + 1;
    for (auto& v : b) {
        x = x * 1664525u + 1013904223u;
        v = std::byte(x >> 24);
    }
    return b;
}

Writer every_value_type_writer(uint32_t version) {
    Writer w(version);
    w.set("general.architecture", std::string("test"));
    w.set("u8", uint8_t{255});
    w.set("i8", int8_t{-128});
    w.set("u16", uint16_t{65535});
    w.set("i16", int16_t{-32768});
    w.set("u32", std::numeric_limits<uint32_t>::max());
    w.set("i32", std::numeric_limits<int32_t>::min());
    w.set("f32", -std::numeric_limits<float>::infinity());
    w.set("bool.true", true);
    w.set("bool.false", false);
    w.set("string", std::string("h\xc3\xa9llo \x00 w\xf0\x9f\x98\x80rld", 17));
    w.set("string.empty", std::string());
    w.set("u64", std::numeric_limits<uint64_t>::max());
    w.set("i64", std::numeric_limits<int64_t>::min());
    w.set("f64", 1e300);
    w.set("array.u8", Array{ValueType::UINT8, {uint8_t{0}, uint8_t{255}}});
    w.set("array.i8", Array{ValueType::INT8, {int8_t{-1}}});
    w.set("array.u16", Array{ValueType::UINT16, {uint16_t{7}}});
    w.set("array.i16", Array{ValueType::INT16, {int16_t{-7}, int16_t{7}}});
    w.set("array.u32", Array{ValueType::UINT32, {uint32_t{1}, uint32_t{2}, uint32_t{3}}});
    w.set("array.i32", Array{ValueType::INT32, {int32_t{-1}}});
    w.set("array.f32", Array{ValueType::FLOAT32, {0.5f, -0.0f, 3.25f}});
    w.set("array.bool", Array{ValueType::BOOL, {true, false, true}});
    w.set("array.string", Array{ValueType::STRING, {std::string("x"), std::string()}});
    w.set("array.u64", Array{ValueType::UINT64, {uint64_t{1} << 63}});
    w.set("array.i64", Array{ValueType::INT64, {int64_t{-3}}});
    w.set("array.f64", Array{ValueType::FLOAT64, {0.1, 0.2}});
    w.set("array.empty", Array{ValueType::FLOAT32, {}});
    w.set("array.nested",
          Array{ValueType::ARRAY,
                {Array{ValueType::STRING, {std::string("a")}},
                 Array{ValueType::ARRAY, {Array{ValueType::INT64, {int64_t{5}, int64_t{6}}}}},
                 Array{ValueType::BOOL, {}}}});
    w.add_tensor("f32", DType::F32, {3, 2}, pattern(24, 1));
    w.add_tensor("f16", DType::F16, {5}, pattern(10, 2));
    w.add_tensor("bf16", DType::BF16, {2, 2, 2}, pattern(16, 3));
    w.add_tensor("q4_0", DType::Q4_0, {64, 1, 1, 3}, pattern(6 * 18, 4));
    w.add_tensor("q4_k", DType::Q4_K, {256, 2}, pattern(2 * 144, 5));
    w.add_tensor("iq4_nl", DType::IQ4_NL, {32}, pattern(18, 6));
    w.add_tensor("i8", DType::I8, {7}, pattern(7, 7));
    w.add_tensor("f64", DType::F64, {1, 1}, [](std::span<std::byte> out) {
        const double v = 2.5;
        std::memcpy(out.data(), &v, sizeof v);
    });
    return w;
}

TEST(GgufRoundTrip, EveryValueTypeReadsBackUnchanged) {
    const Writer w = every_value_type_writer(3);
    const auto bytes = w.to_bytes();
    const File f = File::parse(bytes, "scratch.gguf");
    EXPECT_EQ(f.version(), 3u);

    // Compare against what we put in, entry by entry (independent of the writer's internals).
    const Writer expected_writer = every_value_type_writer(3);
    const File again = File::parse(expected_writer.to_bytes(), "again");
    ASSERT_EQ(f.metadata().size(), 29u);
    EXPECT_EQ(f.find("u64")->as_uint(), std::numeric_limits<uint64_t>::max());
    EXPECT_EQ(f.find("i64")->as_int(), std::numeric_limits<int64_t>::min());
    EXPECT_EQ(f.get_int("i8"), -128);
    EXPECT_EQ(f.get_float("f32"), -std::numeric_limits<double>::infinity());
    EXPECT_EQ(f.get_bool("bool.false"), false);
    EXPECT_EQ(f.get_string("string")->size(), 17u);
    EXPECT_EQ(f.get_string("string"), std::string("h\xc3\xa9llo \x00 w\xf0\x9f\x98\x80rld", 17));
    const Array* nested = f.get_array("array.nested");
    ASSERT_NE(nested, nullptr);
    ASSERT_EQ(nested->items.size(), 3u);
    const Array& inner = nested->items[1].as_array().items[0].as_array();
    EXPECT_EQ(inner.element_type, ValueType::INT64);
    EXPECT_EQ(inner.items[1].as_int(), 6);
    EXPECT_EQ(nested->items[2].as_array().element_type, ValueType::BOOL);
    EXPECT_EQ(f.get_array("array.empty")->element_type, ValueType::FLOAT32);
    EXPECT_TRUE(std::signbit(std::get<float>(f.get_array("array.f32")->items[1].v)));
    for (size_t i = 0; i < f.metadata().size(); ++i) {
        EXPECT_EQ(f.metadata()[i].key, again.metadata()[i].key);
        EXPECT_TRUE(f.metadata()[i].value == again.metadata()[i].value) << f.metadata()[i].key;
    }

    // Tensors: data, packed layout with alignment padding, as llama.cpp lays them out.
    ASSERT_EQ(f.tensors().size(), 8u);
    uint64_t expected_offset = 0;
    for (const auto& t : f.tensors()) {
        EXPECT_EQ(t.offset, expected_offset) << t.name;
        expected_offset += (t.n_bytes + 31) / 32 * 32;
    }
    EXPECT_EQ(f.data_offset() % 32, 0u);
    EXPECT_EQ(f.file_size(), f.data_offset() + expected_offset);
    const auto q4 = f.tensor_data(*f.find_tensor("q4_0"));
    const auto q4_expected = pattern(6 * 18, 4);
    EXPECT_TRUE(std::equal(q4.begin(), q4.end(), q4_expected.begin(), q4_expected.end()));
    EXPECT_EQ(f.find_tensor("q4_0")->shape, (std::vector<uint64_t>{64, 1, 1, 3}));
    double v = 0;
    std::memcpy(&v, f.tensor_data(*f.find_tensor("f64")).data(), sizeof v);
    EXPECT_EQ(v, 2.5);
    // Padding bytes are zero.
    for (uint64_t i = f.data_offset() + 24; i < f.data_offset() + 32; ++i) {
        EXPECT_EQ(f.bytes()[i], std::byte{0});
    }

    // Reading it back and writing it again gives the same bytes.
    EXPECT_EQ(copy_of(f).to_bytes(), bytes);
}

TEST(GgufRoundTrip, VersionTwoFilesDifferOnlyInTheVersionField) {
    const auto v2 = every_value_type_writer(2).to_bytes();
    auto v3 = every_value_type_writer(3).to_bytes();
    const File f = File::parse(v2, "v2.gguf");
    EXPECT_EQ(f.version(), 2u);
    EXPECT_EQ(copy_of(f).to_bytes(), v2);
    ASSERT_EQ(v2.size(), v3.size());
    v3[4] = std::byte{2};
    EXPECT_EQ(v2, v3);
}

TEST(GgufRoundTrip, CustomAlignmentIsStoredAndHonoured) {
    Writer w;
    w.set("general.architecture", std::string("x"));
    w.set_alignment(64);
    EXPECT_EQ(w.alignment(), 64u);
    w.add_tensor("a", DType::F32, {3}, pattern(12, 1));
    w.add_tensor("b", DType::F32, {20}, pattern(80, 2));
    const auto bytes = w.to_bytes();
    const File f = File::parse(bytes, "aligned.gguf");
    EXPECT_EQ(f.alignment(), 64u);
    EXPECT_EQ(f.get_uint("general.alignment"), 64u);
    EXPECT_EQ(f.data_offset() % 64, 0u);
    EXPECT_EQ(f.find_tensor("b")->offset, 64u);
    EXPECT_EQ(f.file_size(), f.data_offset() + 64 + 128);

    // Back to the default: the key is kept (updated) because it was set, so files round-trip.
    w.set_alignment(32);
    EXPECT_EQ(File::parse(w.to_bytes(), "x").get_uint("general.alignment"), 32u);
    EXPECT_TRUE(w.remove("general.alignment"));
    EXPECT_EQ(File::parse(w.to_bytes(), "x").find("general.alignment"), nullptr);
    // Setting the default on a writer without the key adds nothing.
    Writer plain;
    plain.set_alignment(32);
    EXPECT_EQ(File::parse(plain.to_bytes(), "x").metadata().size(), 0u);
}

TEST(GgufWriter, FileWithoutTensorsEndsAfterTheMetadata) {
    Writer w;
    w.set("k", std::string("vv"));
    const auto bytes = w.to_bytes();
    // magic 4 + version 4 + counts 16 + key (8 + 1) + type 4 + value (8 + 2)
    EXPECT_EQ(bytes.size(), 4u + 4 + 16 + 9 + 4 + 10);
    const File f = File::parse(bytes, "vocab.gguf");
    EXPECT_EQ(f.data_offset(), 64u);  // the aligned end of the header, past the end of the file
    EXPECT_TRUE(f.tensors().empty());
}

TEST(GgufWriter, SetReplacesInPlace) {
    Writer w;
    w.set("a", uint32_t{1});
    w.set("b", uint32_t{2});
    w.set("a", std::string("three"));
    const File f = File::parse(w.to_bytes(), "x");
    ASSERT_EQ(f.metadata().size(), 2u);
    EXPECT_EQ(f.metadata()[0].key, "a");
    EXPECT_EQ(f.get_string("a"), "three");
    EXPECT_FALSE(w.remove("missing"));
}

TEST(GgufWriter, StreamsProducersAndWritesTheSameBytesAsToBytes) {
    Writer w;
    int calls = 0;
    w.add_tensor("big", DType::F16, {1024, 64}, [&](std::span<std::byte> out) {
        ++calls;
        EXPECT_EQ(out.size(), 1024u * 64 * 2);
        const auto p = pattern(out.size(), 9);
        std::memcpy(out.data(), p.data(), p.size());
    });
    ScratchDir dir;
    w.write(dir / "s.gguf");
    EXPECT_EQ(calls, 1);
    const MappedFile written(dir / "s.gguf");
    const auto in_memory = w.to_bytes();
    expect_same_bytes(written.bytes(), in_memory, "write vs to_bytes");
    // Only the finished file is left behind.
    EXPECT_EQ(std::distance(fs::directory_iterator(dir.path()), fs::directory_iterator()), 1);
}

TEST(GgufWriter, FailedWriteLeavesNoFile) {
    Writer w;
    w.add_tensor("t", DType::F32, {4},
                 [](std::span<std::byte>) { throw std::runtime_error("producer failed"); });
    ScratchDir dir;
    EXPECT_THROW(w.write(dir / "out.gguf"), std::runtime_error);
    EXPECT_EQ(std::distance(fs::directory_iterator(dir.path()), fs::directory_iterator()), 0);
    EXPECT_THROW(Writer().write(dir / "missing-dir" / "x.gguf"), Error);
}

TEST(GgufWriter, RejectsInvalidInput) {
    EXPECT_THROW(Writer(1), Error);
    EXPECT_THROW(Writer(4), Error);
    Writer w;
    EXPECT_THROW(w.set("", uint8_t{1}), Error);
    EXPECT_THROW(w.set("general.alignment", uint64_t{32}), Error);
    EXPECT_THROW(w.set("general.alignment", uint32_t{0}), Error);
    EXPECT_THROW(w.set("general.alignment", uint32_t{48}), Error);
    EXPECT_THROW(w.set_alignment(3), Error);
    EXPECT_THROW(w.set_alignment(uint64_t{1} << 33), Error);
    EXPECT_EQ(w.alignment(), 32u);
    EXPECT_THROW(w.set("mixed", Array{ValueType::INT32, {int32_t{1}, uint32_t{2}}}), Error);
    EXPECT_THROW(w.set("bad.type", Array{static_cast<ValueType>(13), {}}), Error);
    // Eight levels of nesting are allowed, nine are not (the reader has the same limit).
    Value deep = Array{ValueType::UINT8, {}};
    for (int level = 1; level < gguf::kMaxArrayDepth; ++level)
        deep = Array{ValueType::ARRAY, {deep}};
    EXPECT_NO_THROW(w.set("deep", deep));
    EXPECT_NO_THROW(File::parse(w.to_bytes(), "deep"));
    EXPECT_THROW(w.set("deeper", Array{ValueType::ARRAY, {deep}}), Error);

    const auto data = pattern(16, 1);
    EXPECT_THROW(w.add_tensor("", DType::F32, {4}, data), Error);
    EXPECT_THROW(w.add_tensor(std::string(64, 'n'), DType::F32, {4}, data), Error);
    EXPECT_NO_THROW(w.add_tensor(std::string(63, 'n'), DType::F32, {4}, data));
    EXPECT_THROW(w.add_tensor(std::string(63, 'n'), DType::F32, {4}, data), Error);  // duplicate
    EXPECT_THROW(w.add_tensor("t", DType::F32, {}, data), Error);
    EXPECT_THROW(w.add_tensor("t", DType::F32, {1, 1, 1, 1, 4}, data), Error);
    EXPECT_THROW(w.add_tensor("t", DType::F32, {4, 0}, data), Error);
    EXPECT_THROW(w.add_tensor("t", DType::F32, {2}, data), Error);  // 8 bytes needed, 16 given
    EXPECT_THROW(w.add_tensor("t", DType::Q4_0, {31}, pattern(18, 1)), Error);
    EXPECT_THROW(w.add_tensor("t", static_cast<DType>(4), {4}, data), Error);
    EXPECT_THROW(w.add_tensor("t", DType::F32, {uint64_t{1} << 32, uint64_t{1} << 32},
                              Writer::Producer([](std::span<std::byte>) {})),
                 Error);
    EXPECT_THROW(w.add_tensor("t", DType::F32, {4}, Writer::Producer{}), Error);
    EXPECT_NO_THROW(w.add_tensor("t", DType::F32, {4}, data));
}

}  // namespace
}  // namespace pocket::test
