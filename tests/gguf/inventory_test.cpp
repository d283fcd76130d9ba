// Field-by-field comparison of our reader with the GGUF inventory that llama.cpp's gguf-py
// produced for every stored .gguf (reference/gguf-inventory.json).
#include <gtest/gtest.h>

#include <cctype>
#include <map>

#include "pocket/core/mapped_file.h"
#include "pocket/core/sha256.h"
#include "pocket/gguf/gguf.h"
#include "support/test_support.h"

namespace pocket::test {
namespace {

using gguf::Array;
using gguf::File;
using gguf::Value;
using gguf::ValueType;
using nlohmann::json;

std::string upper(std::string_view s) {
    std::string out(s);
    for (auto& c : out) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    return out;
}

// Compares one scalar value with its JSON rendering by gguf-py.
void expect_scalar_eq(const Value& v, const json& expected, const std::string& where) {
    switch (v.type()) {
        case ValueType::UINT8:
        case ValueType::UINT16:
        case ValueType::UINT32:
        case ValueType::UINT64:
            EXPECT_EQ(v.as_uint(), expected.get<uint64_t>()) << where;
            break;
        case ValueType::INT8:
        case ValueType::INT16:
        case ValueType::INT32:
        case ValueType::INT64:
            EXPECT_EQ(v.as_int(), expected.get<int64_t>()) << where;
            break;
        case ValueType::FLOAT32:
            // gguf-py widened the float32 to a double; the widening is exact.
            EXPECT_EQ(static_cast<double>(std::get<float>(v.v)), expected.get<double>()) << where;
            break;
        case ValueType::FLOAT64:
            EXPECT_EQ(std::get<double>(v.v), expected.get<double>()) << where;
            break;
        case ValueType::BOOL:
            EXPECT_EQ(v.as_bool(), expected.get<bool>()) << where;
            break;
        case ValueType::STRING:
            EXPECT_EQ(v.as_string(), expected.get<std::string>()) << where;
            break;
        case ValueType::ARRAY:
            ADD_FAILURE() << where << ": nested arrays are not in the inventory";
            break;
    }
}

std::string len_prefixed_strings_sha256(const Array& array) {
    Sha256 h;
    for (const auto& item : array.items) {
        const std::string& s = item.as_string();
        const uint64_t n = s.size();
        std::byte len[8];
        for (int i = 0; i < 8; ++i) len[i] = std::byte(n >> (8 * i));
        h.update(len);
        h.update(s);
    }
    return h.finish_hex();
}

void check_file(const json& entry) {
    const std::string rel = entry.at("file");
    SCOPED_TRACE(rel);
    const auto path = shared_path(rel);
    const File f = File::open(path);

    EXPECT_EQ(f.file_size(), entry.at("size").get<uint64_t>());
    EXPECT_EQ(sha256_hex(f.bytes()), entry.at("sha256").get<std::string>());
    EXPECT_EQ(f.version(), entry.at("gguf_version").get<uint32_t>());
    EXPECT_EQ(f.alignment(), entry.at("alignment").get<uint64_t>());
    EXPECT_EQ(f.data_offset(), entry.at("data_section_offset").get<uint64_t>());
    ASSERT_EQ(f.metadata().size(), entry.at("n_kv").get<size_t>());
    ASSERT_EQ(f.tensors().size(), entry.at("n_tensors").get<size_t>());

    const auto& kvs = entry.at("kv");
    ASSERT_EQ(kvs.size(), f.metadata().size());
    for (size_t i = 0; i < kvs.size(); ++i) {
        const auto& expected = kvs[i];
        const auto& kv = f.metadata()[i];
        const std::string where = rel + " kv " + std::to_string(i) + " " + kv.key;
        EXPECT_EQ(kv.key, expected.at("key").get<std::string>()) << where;
        EXPECT_EQ(gguf::value_type_name(kv.value.type()), expected.at("type").get<std::string>())
            << where;
        EXPECT_EQ(f.find(kv.key), &kv.value) << where;
        if (kv.value.type() != ValueType::ARRAY) {
            expect_scalar_eq(kv.value, expected.at("value"), where);
            continue;
        }
        const Array& array = kv.value.as_array();
        EXPECT_EQ(gguf::value_type_name(array.element_type),
                  expected.at("element_type").get<std::string>())
            << where;
        EXPECT_EQ(array.items.size(), expected.at("length").get<size_t>()) << where;
        const auto& first = expected.at("first");
        ASSERT_EQ(first.size(), std::min<size_t>(8, array.items.size())) << where;
        for (size_t j = 0; j < first.size(); ++j) {
            expect_scalar_eq(array.items[j], first[j], where + "[" + std::to_string(j) + "]");
        }
        if (array.element_type == ValueType::STRING) {
            EXPECT_EQ(len_prefixed_strings_sha256(array),
                      expected.at("sha256_len_prefixed_strings").get<std::string>())
                << where;
        }
    }

    std::map<std::string, int> type_counts;
    const auto& tensors = entry.at("tensors");
    for (size_t i = 0; i < tensors.size(); ++i) {
        const auto& expected = tensors[i];
        const auto& t = f.tensors()[i];
        const std::string where = rel + " tensor " + std::to_string(i);
        EXPECT_EQ(t.name, expected.at("name").get<std::string>()) << where;
        EXPECT_EQ(upper(dtype_name(t.type)), expected.at("type").get<std::string>()) << where;
        EXPECT_EQ(t.shape, expected.at("ne").get<std::vector<uint64_t>>()) << where;
        EXPECT_EQ(t.n_bytes, expected.at("n_bytes").get<uint64_t>()) << where;
        EXPECT_EQ(t.offset, expected.at("offset_in_data").get<uint64_t>()) << where;
        EXPECT_EQ(f.find_tensor(t.name), &t) << where;
        const auto data = f.tensor_data(t);
        EXPECT_EQ(data.data(), f.bytes().data() + f.data_offset() + t.offset) << where;
        EXPECT_EQ(data.size(), t.n_bytes) << where;
        ++type_counts[upper(dtype_name(t.type))];
    }
    EXPECT_EQ(json(type_counts), entry.at("tensor_type_counts"));
}

TEST(GgufInventory, ReaderMatchesGgufPyForEveryStoredFile) {
    const json inventory = read_json(shared_path("reference/gguf-inventory.json"));
    const auto& files = inventory.at("files");
    ASSERT_GE(files.size(), 34u);
    for (const auto& entry : files) check_file(entry);
}

TEST(GgufInventory, OpenAndParseAgree) {
    const auto path = shared_path("models/tiny/tiny-llama-bpe.gguf");
    const File mapped = File::open(path);
    const MappedFile raw(path);
    const File copied = File::parse(raw.bytes(), "copy");
    ASSERT_EQ(mapped.metadata().size(), copied.metadata().size());
    for (size_t i = 0; i < mapped.metadata().size(); ++i) {
        EXPECT_EQ(mapped.metadata()[i].key, copied.metadata()[i].key);
        EXPECT_TRUE(mapped.metadata()[i].value == copied.metadata()[i].value);
    }
    ASSERT_EQ(mapped.tensors().size(), copied.tensors().size());
    for (size_t i = 0; i < mapped.tensors().size(); ++i) {
        const auto a = mapped.tensor_data(mapped.tensors()[i]);
        const auto b = copied.tensor_data(copied.tensors()[i]);
        ASSERT_EQ(a.size(), b.size());
        EXPECT_TRUE(std::equal(a.begin(), a.end(), b.begin()));
        // Zero-copy: views point into the mapping / the owned copy (64-byte aligned).
        EXPECT_EQ(reinterpret_cast<uintptr_t>(copied.bytes().data()) % 64, 0u);
    }
}

}  // namespace
}  // namespace pocket::test
