#include "support/corrupt_corpus.h"

#include <cstring>
#include <fstream>
#include <map>
#include <stdexcept>

namespace pocket::test {
namespace {

using Bytes = std::vector<std::byte>;

// ---- a tiny little-endian encoder, deliberately independent of pocket's Writer ----

void append(Bytes& out, const void* data, size_t n) {
    const size_t at = out.size();
    out.resize(at + n);
    if (n != 0) std::memcpy(out.data() + at, data, n);
}

template <typename T>
void put(Bytes& out, T value) {
    append(out, &value, sizeof(T));
}

void put_str(Bytes& out, const std::string& s) {
    put<uint64_t>(out, s.size());
    append(out, s.data(), s.size());
}

template <typename T>
Bytes scalar(T value) {
    Bytes b;
    put(b, value);
    return b;
}

Bytes str(const std::string& s) {
    Bytes b;
    put_str(b, s);
    return b;
}

template <typename T>
void poke(Bytes& image, size_t at, T value) {
    if (at + sizeof(T) > image.size()) throw std::logic_error("corpus: poke out of range");
    std::memcpy(image.data() + at, &value, sizeof(T));
}

// GGUF value type codes and ggml type ids used below.
enum : uint32_t {
    U8 = 0,
    I8 = 1,
    U16 = 2,
    I16 = 3,
    U32 = 4,
    I32 = 5,
    F32 = 6,
    BOOL = 7,
    STRING = 8,
    ARRAY = 9,
    U64 = 10,
    I64 = 11,
    F64 = 12,
};
enum : uint32_t { T_F32 = 0, T_F16 = 1, T_Q8_0 = 8, T_F64 = 28 };

struct RawKv {
    std::string key;
    uint32_t type;
    Bytes payload;  // the encoded value, without the type tag
};

struct RawTensor {
    std::string name;
    std::vector<uint64_t> ne;
    uint32_t type;
    uint64_t offset;
    uint64_t n_bytes;  // computed by hand below (for the data section only)
};

struct Spec {
    uint32_t version = 3;
    std::vector<RawKv> kvs;
    std::vector<RawTensor> tensors;
    uint64_t alignment = 32;
};

struct Image {
    Bytes bytes;
    std::map<std::string, size_t> mark;  // section name -> absolute offset
};

Bytes tensor_payload(size_t index, uint64_t n) {
    Bytes b(n);
    for (uint64_t j = 0; j < n; ++j) b[j] = std::byte((index * 37 + j * 11 + 1) & 0xff);
    return b;
}

Image encode(const Spec& spec) {
    Image img;
    Bytes& b = img.bytes;
    for (char c : std::string("GGUF")) b.push_back(static_cast<std::byte>(c));
    img.mark["version"] = b.size();
    put<uint32_t>(b, spec.version);
    img.mark["n_tensors"] = b.size();
    put<uint64_t>(b, spec.tensors.size());
    img.mark["n_kv"] = b.size();
    put<uint64_t>(b, spec.kvs.size());
    for (size_t i = 0; i < spec.kvs.size(); ++i) {
        const auto p = "kv" + std::to_string(i) + ".";
        img.mark[p + "key"] = b.size();
        put_str(b, spec.kvs[i].key);
        img.mark[p + "type"] = b.size();
        put<uint32_t>(b, spec.kvs[i].type);
        img.mark[p + "value"] = b.size();
        b.insert(b.end(), spec.kvs[i].payload.begin(), spec.kvs[i].payload.end());
    }
    for (size_t i = 0; i < spec.tensors.size(); ++i) {
        const auto& t = spec.tensors[i];
        const auto p = "ti" + std::to_string(i) + ".";
        img.mark[p + "name"] = b.size();
        put_str(b, t.name);
        img.mark[p + "n_dims"] = b.size();
        put<uint32_t>(b, static_cast<uint32_t>(t.ne.size()));
        img.mark[p + "ne"] = b.size();
        for (uint64_t d : t.ne) put<uint64_t>(b, d);
        img.mark[p + "type"] = b.size();
        put<uint32_t>(b, t.type);
        img.mark[p + "offset"] = b.size();
        put<uint64_t>(b, t.offset);
    }
    img.mark["infos_end"] = b.size();
    if (!spec.tensors.empty()) {
        while (b.size() % spec.alignment != 0) b.push_back(std::byte{0});
    }
    const size_t data = b.size();
    img.mark["data"] = data;
    for (size_t i = 0; i < spec.tensors.size(); ++i) {
        const auto& t = spec.tensors[i];
        const Bytes payload = tensor_payload(i, t.n_bytes);
        if (b.size() < data + t.offset + t.n_bytes) b.resize(data + t.offset + t.n_bytes);
        std::memcpy(b.data() + data + t.offset, payload.data(), payload.size());
    }
    return img;
}

template <typename T>
Bytes array_of(uint32_t type, const std::vector<T>& items) {
    Bytes b;
    put<uint32_t>(b, type);
    put<uint64_t>(b, items.size());
    for (const T& x : items) put(b, x);
    return b;
}

Bytes string_array(const std::vector<std::string>& items) {
    Bytes b;
    put<uint32_t>(b, STRING);
    put<uint64_t>(b, items.size());
    for (const auto& s : items) put_str(b, s);
    return b;
}

// [[1, 2], []] as arrays of UINT16.
Bytes nested_array() {
    Bytes b;
    put<uint32_t>(b, ARRAY);
    put<uint64_t>(b, 2);
    Bytes first = array_of<uint16_t>(U16, {1, 2});
    Bytes second = array_of<uint16_t>(U16, {});
    b.insert(b.end(), first.begin(), first.end());
    b.insert(b.end(), second.begin(), second.end());
    return b;
}

// `levels` arrays nested in each other, the innermost an empty UINT8 array.
Bytes deep_array(int levels) {
    Bytes b;
    for (int i = 1; i < levels; ++i) {
        put<uint32_t>(b, ARRAY);
        put<uint64_t>(b, 1);
    }
    put<uint32_t>(b, U8);
    put<uint64_t>(b, 0);
    return b;
}

Spec base_spec() {
    Spec s;
    s.kvs = {
        {"general.architecture", STRING, str("llama")},
        {"test.u8", U8, scalar<uint8_t>(200)},
        {"test.i8", I8, scalar<int8_t>(-5)},
        {"test.u16", U16, scalar<uint16_t>(60000)},
        {"test.i16", I16, scalar<int16_t>(-30000)},
        {"test.u32", U32, scalar<uint32_t>(4000000000u)},
        {"test.i32", I32, scalar<int32_t>(-2000000000)},
        {"test.f32", F32, scalar<float>(1.5f)},
        {"test.bool", BOOL, scalar<uint8_t>(1)},
        {"test.u64", U64, scalar<uint64_t>(uint64_t{1} << 40)},
        {"test.i64", I64, scalar<int64_t>(-(int64_t{1} << 40))},
        {"test.f64", F64, scalar<double>(-2.25)},
        {"test.strings", ARRAY, string_array({"a", "bc", ""})},
        {"test.ints", ARRAY, array_of<int32_t>(I32, {1, -2, 3})},
        {"test.nested", ARRAY, nested_array()},
        {"general.alignment", U32, scalar<uint32_t>(32)},
    };
    // Sizes by hand: F32 4x3 = 48 bytes; Q8_0 2 rows of one 34-byte block = 68; F16 16 = 32.
    s.tensors = {
        {"tok.weight", {4, 3}, T_F32, 0, 48},
        {"blk.q", {32, 2}, T_Q8_0, 64, 68},
        {"norm", {16}, T_F16, 160, 32},
    };
    return s;
}

std::string kv_field(const Spec& s, size_t i) {
    return "kv " + std::to_string(i) + " '" + s.kvs[i].key + "'";
}
std::string ti_field(const Spec& s, size_t i) {
    return "tensor info " + std::to_string(i) + " '" + s.tensors[i].name + "'";
}

Bytes truncated(const Image& img, size_t n) {
    return Bytes(img.bytes.begin(), img.bytes.begin() + static_cast<std::ptrdiff_t>(n));
}

}  // namespace

std::vector<std::byte> small_valid_gguf() {
    return encode(base_spec()).bytes;
}

gguf::Writer small_valid_writer() {
    using gguf::Array;
    using gguf::Value;
    using gguf::ValueType;
    gguf::Writer w(3);
    w.set("general.architecture", std::string("llama"));
    w.set("test.u8", uint8_t{200});
    w.set("test.i8", int8_t{-5});
    w.set("test.u16", uint16_t{60000});
    w.set("test.i16", int16_t{-30000});
    w.set("test.u32", uint32_t{4000000000u});
    w.set("test.i32", int32_t{-2000000000});
    w.set("test.f32", 1.5f);
    w.set("test.bool", true);
    w.set("test.u64", uint64_t{1} << 40);
    w.set("test.i64", -(int64_t{1} << 40));
    w.set("test.f64", -2.25);
    w.set("test.strings",
          Array{ValueType::STRING, {std::string("a"), std::string("bc"), std::string()}});
    w.set("test.ints", Array{ValueType::INT32, {int32_t{1}, int32_t{-2}, int32_t{3}}});
    w.set("test.nested", Array{ValueType::ARRAY,
                               {Array{ValueType::UINT16, {uint16_t{1}, uint16_t{2}}},
                                Array{ValueType::UINT16, {}}}});
    w.set("general.alignment", uint32_t{32});
    w.add_tensor("tok.weight", DType::F32, {4, 3}, tensor_payload(0, 48));
    w.add_tensor("blk.q", DType::Q8_0, {32, 2}, tensor_payload(1, 68));
    w.add_tensor("norm", DType::F16, {16}, [](std::span<std::byte> out) {
        const Bytes payload = tensor_payload(2, 32);
        std::memcpy(out.data(), payload.data(), out.size());
    });
    return w;
}

std::vector<CorruptCase> corrupt_corpus() {
    const Spec spec = base_spec();
    const Image img = encode(spec);
    const auto& m = img.mark;
    const size_t size = img.bytes.size();
    std::vector<CorruptCase> cases;

    auto add = [&](std::string name, Bytes bytes, std::string field, std::string message = {},
                   std::optional<uint64_t> offset = std::nullopt) {
        cases.push_back(
            {std::move(name), std::move(bytes), std::move(field), std::move(message), offset});
    };
    // A copy of the valid image with one field overwritten.
    auto patched = [&](const std::string& mark, auto value, size_t extra = 0) {
        Bytes b = img.bytes;
        poke(b, m.at(mark) + extra, value);
        return b;
    };
    auto flipped = [&](size_t at, int bit) {
        Bytes b = img.bytes;
        b[at] ^= std::byte(1u << bit);
        return b;
    };
    auto encoded = [](const Spec& s) { return encode(s).bytes; };
    const uint64_t kHuge = uint64_t{1} << 63;
    const size_t last_kv = spec.kvs.size() - 1;  // general.alignment

    // ---- truncation at every section ----
    add("empty_file", {}, "magic", "too short", 0);
    add("trunc_in_magic", truncated(img, 2), "magic", "too short", 0);
    add("trunc_in_version", truncated(img, m.at("version") + 2), "version", "unexpected end",
        m.at("version"));
    add("trunc_in_n_tensors", truncated(img, m.at("n_tensors") + 3), "n_tensors", "unexpected end",
        m.at("n_tensors"));
    add("trunc_in_n_kv", truncated(img, m.at("n_kv") + 5), "n_kv", "unexpected end", m.at("n_kv"));
    const std::string k15 = "kv " + std::to_string(last_kv);
    add("trunc_in_key_length", truncated(img, m.at("kv15.key") + 4), k15 + ".key", "unexpected end",
        m.at("kv15.key"));
    add("trunc_in_key_bytes", truncated(img, m.at("kv15.key") + 10), k15 + ".key", "string length",
        m.at("kv15.key"));
    add("trunc_in_value_type", truncated(img, m.at("kv15.type") + 1), kv_field(spec, 15) + ".type",
        "unexpected end", m.at("kv15.type"));
    add("trunc_in_value", truncated(img, m.at("kv15.value") + 2), kv_field(spec, 15) + ".value",
        "unexpected end", m.at("kv15.value"));
    // test.nested = [[1, 2], []]: cut inside the second inner array's length field.
    add("trunc_in_nested_array", truncated(img, m.at("kv15.key") - 1),
        kv_field(spec, 14) + ".value[1].array_length", "unexpected end", m.at("kv15.key") - 8);
    add("trunc_in_tensor_name", truncated(img, m.at("ti1.name") + 9), "tensor info 1.name",
        "string length", m.at("ti1.name"));
    add("trunc_in_tensor_n_dims", truncated(img, m.at("ti0.n_dims") + 3),
        ti_field(spec, 0) + ".n_dims", "unexpected end", m.at("ti0.n_dims"));
    add("trunc_in_tensor_ne", truncated(img, m.at("ti1.ne") + 12), ti_field(spec, 1) + ".ne[1]",
        "unexpected end", m.at("ti1.ne") + 8);
    add("trunc_in_tensor_type", truncated(img, m.at("ti2.type") + 1), ti_field(spec, 2) + ".type",
        "unexpected end", m.at("ti2.type"));
    add("trunc_in_tensor_offset", truncated(img, m.at("ti2.offset") + 7),
        ti_field(spec, 2) + ".offset", "unexpected end", m.at("ti2.offset"));
    if (m.at("data") - m.at("infos_end") < 2) throw std::logic_error("corpus: no padding to cut");
    add("trunc_in_padding", truncated(img, m.at("infos_end") + 1), "padding", "inside the padding",
        m.at("infos_end"));
    add("trunc_in_first_tensor_data", truncated(img, m.at("data") + 10),
        ti_field(spec, 0) + ".offset", "extends past end of file", m.at("ti0.offset"));
    add("trunc_in_padding_between_tensors", truncated(img, m.at("data") + 50),
        ti_field(spec, 1) + ".offset", "extends past end of file", m.at("ti1.offset"));
    add("trunc_last_byte", truncated(img, size - 1), ti_field(spec, 2) + ".offset",
        "extends past end of file", m.at("ti2.offset"));

    // ---- huge counts and lengths ----
    add("huge_n_tensors", patched("n_tensors", kHuge), "n_tensors", "cannot fit",
        m.at("n_tensors"));
    add("huge_n_kv", patched("n_kv", kHuge), "n_kv", "cannot fit", m.at("n_kv"));
    add("max_n_kv", patched("n_kv", ~uint64_t{0}), "n_kv", "cannot fit", m.at("n_kv"));
    // The first tensor info is then read as a key-value pair; where that fails depends on the
    // bytes, so any field will do.
    add("n_kv_one_too_many", patched("n_kv", uint64_t{spec.kvs.size() + 1}), "");
    add("huge_string_array_length", patched("kv12.value", kHuge, 4),
        kv_field(spec, 12) + ".array_length", "exceeds", m.at("kv12.value") + 4);
    // 2^62 INT32 elements: a naive length * 4 wraps to 0.
    add("wrapping_int_array_length", patched("kv13.value", uint64_t{1} << 62, 4),
        kv_field(spec, 13) + ".array_length", "exceeds", m.at("kv13.value") + 4);
    add("huge_nested_array_length", patched("kv14.value", kHuge, 12 + 4),
        kv_field(spec, 14) + ".value[0].array_length", "exceeds", m.at("kv14.value") + 16);
    add("huge_string_length", patched("kv0.value", kHuge), kv_field(spec, 0) + ".value",
        "string length", m.at("kv0.value"));
    add("max_key_length", patched("kv1.key", ~uint64_t{0}), "kv 1.key", "string length",
        m.at("kv1.key"));
    add("huge_tensor_name_length", patched("ti0.name", kHuge), "tensor info 0.name",
        "string length", m.at("ti0.name"));

    // ---- bad tensor offsets ----
    add("unaligned_offset", patched("ti1.offset", uint64_t{65}), ti_field(spec, 1) + ".offset",
        "not a multiple of the alignment 32", m.at("ti1.offset"));
    add("offset_past_eof", patched("ti2.offset", uint64_t{4096}), ti_field(spec, 2) + ".offset",
        "extends past end of file", m.at("ti2.offset"));
    add("offset_overflows", patched("ti2.offset", ~uint64_t{0} - 31), ti_field(spec, 2) + ".offset",
        "overflows", m.at("ti2.offset"));
    add("data_end_overflows", patched("ti2.offset", ~uint64_t{0} - 31 - m.at("data")),
        ti_field(spec, 2) + ".offset", "overflows", m.at("ti2.offset"));
    add("overlapping_tensors", patched("ti1.offset", uint64_t{32}), ti_field(spec, 1) + ".offset",
        "overlaps tensor info 0", m.at("ti1.offset"));
    add("same_offset_tensors", patched("ti2.offset", uint64_t{0}), ti_field(spec, 2) + ".offset",
        "overlaps tensor info 0", m.at("ti2.offset"));

    // ---- bad value types ----
    add("value_type_13", patched("kv1.type", uint32_t{13}), kv_field(spec, 1) + ".type",
        "invalid value type 13", m.at("kv1.type"));
    add("value_type_max", patched("kv1.type", ~uint32_t{0}), kv_field(spec, 1) + ".type",
        "invalid value type", m.at("kv1.type"));
    add("array_element_type_13", patched("kv13.value", uint32_t{13}),
        kv_field(spec, 13) + ".array_type", "invalid array element type", m.at("kv13.value"));
    add("bool_value_2", patched("kv8.value", uint8_t{2}), kv_field(spec, 8) + ".value",
        "invalid BOOL value 2", m.at("kv8.value"));
    {
        Spec s = spec;
        s.kvs[14].payload = deep_array(gguf::kMaxArrayDepth + 1);
        add("arrays_nested_too_deep", encoded(s), kv_field(spec, 14), "nested deeper");
    }

    // ---- bad tensor types and shapes ----
    add("tensor_type_removed_q4_2", patched("ti0.type", uint32_t{4}), ti_field(spec, 0) + ".type",
        "unknown ggml tensor type id 4", m.at("ti0.type"));
    add("tensor_type_1000", patched("ti0.type", uint32_t{1000}), ti_field(spec, 0) + ".type",
        "unknown ggml tensor type id 1000", m.at("ti0.type"));
    add("row_not_multiple_of_block", patched("ti1.ne", uint64_t{33}), ti_field(spec, 1) + ".ne[0]",
        "not a multiple of the q8_0 block size 32", m.at("ti1.ne"));
    add("n_dims_0", patched("ti0.n_dims", uint32_t{0}), ti_field(spec, 0) + ".n_dims", "n_dims 0",
        m.at("ti0.n_dims"));
    add("n_dims_5", patched("ti0.n_dims", uint32_t{5}), ti_field(spec, 0) + ".n_dims", "n_dims 5",
        m.at("ti0.n_dims"));
    add("zero_dim", patched("ti0.ne", uint64_t{0}, 8), ti_field(spec, 0) + ".ne[1]", "is 0",
        m.at("ti0.ne") + 8);
    {
        Bytes b = patched("ti0.ne", uint64_t{1} << 32);
        poke(b, m.at("ti0.ne") + 8, uint64_t{1} << 32);
        add("element_count_overflow", b, ti_field(spec, 0) + ".ne[1]", "overflows",
            m.at("ti0.ne") + 8);
    }
    add("dim_2_pow_63", patched("ti0.ne", kHuge), ti_field(spec, 0) + ".ne[0]", "overflows",
        m.at("ti0.ne"));
    {
        // F64 [2^31, 2^31]: 2^62 elements is representable, 2^65 bytes is not.
        Bytes b = patched("ti0.ne", uint64_t{1} << 31);
        poke(b, m.at("ti0.ne") + 8, uint64_t{1} << 31);
        poke(b, m.at("ti0.type"), uint32_t{T_F64});
        add("byte_size_overflow", b, ti_field(spec, 0) + ".type", "byte size overflows",
            m.at("ti0.type"));
    }

    // ---- names and duplicates ----
    {
        Bytes b = img.bytes;
        b[m.at("kv2.key") + 8 + 5] = std::byte{'u'};  // "test.i8" -> "test.u8"
        add("duplicate_key", b, "kv 2.key", "duplicate key 'test.u8' (first defined by kv 1)",
            m.at("kv2.key"));
    }
    {
        Spec s = spec;
        s.tensors[2].name = "blk.q";
        add("duplicate_tensor_name", encoded(s), "tensor info 2.name",
            "duplicate tensor name 'blk.q'");
    }
    {
        Spec s = spec;
        s.tensors[1].name = "";
        add("empty_tensor_name", encoded(s), "tensor info 1.name", "empty tensor name");
    }
    {
        Spec s = spec;
        s.kvs[3].key = "";
        add("empty_key", encoded(s), "kv 3.key", "empty key");
    }
    {
        Spec s = spec;
        s.tensors[0].name = std::string(64, 'x');
        add("tensor_name_too_long", encoded(s), "tensor info 0.name", "the limit is 63");
    }
    {
        Spec s = spec;
        s.kvs[1].key = std::string("bad\x01\n\xff", 6);
        Image i = encode(s);
        poke(i.bytes, i.mark.at("kv1.type"), uint32_t{77});
        add("control_bytes_in_key", i.bytes, "kv 1 'bad\\x01\\x0a\\xff'.type",
            "invalid value type");
    }

    // ---- alignment ----
    add("alignment_0", patched("kv15.value", uint32_t{0}), "general.alignment",
        "not a nonzero power of two", m.at("kv15.value"));
    add("alignment_48", patched("kv15.value", uint32_t{48}), "general.alignment",
        "not a nonzero power of two", m.at("kv15.value"));
    {
        Spec s = spec;
        s.kvs[15] = {"general.alignment", U64, scalar<uint64_t>(32)};
        add("alignment_wrong_type", encoded(s), kv_field(spec, 15) + ".type", "must be UINT32");
    }
    {
        // 64 is a valid alignment, but tensor 2's offset 160 is not a multiple of it.
        Spec s = spec;
        s.kvs[15].payload = scalar<uint32_t>(64);
        s.alignment = 64;
        add("alignment_64_misaligns_offsets", encoded(s), ti_field(spec, 2) + ".offset",
            "not a multiple of the alignment 64");
    }

    // ---- version and magic ----
    add("version_1", patched("version", uint32_t{1}), "version", "version 1 is not supported", 4);
    add("version_4", patched("version", uint32_t{4}), "version", "unsupported GGUF version 4", 4);
    add("version_0", patched("version", uint32_t{0}), "version", "unsupported GGUF version 0", 4);
    add("version_big_endian", patched("version", uint32_t{0x03000000}), "version", "big-endian", 4);
    {
        Bytes b = img.bytes;
        std::memcpy(b.data(), "GGML", 4);
        add("magic_ggml", b, "magic", "expected 'GGUF'", 0);
        std::memcpy(b.data(), "FUGG", 4);
        add("magic_reversed", b, "magic", "not a GGUF file", 0);
    }

    // ---- single bit flips at meaningful places ----
    add("bitflip_n_kv_high_bit", flipped(m.at("n_kv") + 7, 7), "n_kv", "cannot fit", m.at("n_kv"));
    add("bitflip_value_type", flipped(m.at("kv5.type"), 7), kv_field(spec, 5) + ".type",
        "invalid value type 132", m.at("kv5.type"));
    add("bitflip_n_dims", flipped(m.at("ti0.n_dims"), 7), ti_field(spec, 0) + ".n_dims",
        "n_dims 130", m.at("ti0.n_dims"));
    add("bitflip_offset_low_bit", flipped(m.at("ti1.offset"), 0), ti_field(spec, 1) + ".offset",
        "not a multiple", m.at("ti1.offset"));
    add("bitflip_tensor_type_high_bit", flipped(m.at("ti0.type") + 3, 7),
        ti_field(spec, 0) + ".type", "unknown ggml tensor type", m.at("ti0.type"));
    add("bitflip_string_length", flipped(m.at("kv0.value") + 5, 0), kv_field(spec, 0) + ".value",
        "string length", m.at("kv0.value"));
    add("bitflip_magic", flipped(1, 2), "magic", "not a GGUF file", 0);

    // Sanity: the corruptions above must really have changed something.
    for (const auto& c : cases) {
        if (c.bytes == img.bytes) throw std::logic_error("corpus case " + c.name + " is unchanged");
    }
    return cases;
}

size_t write_corrupt_corpus(const std::filesystem::path& dir) {
    std::filesystem::create_directories(dir);
    const auto cases = corrupt_corpus();
    std::ofstream index(dir / "expected.tsv");
    for (const auto& c : cases) {
        std::ofstream out(dir / (c.name + ".gguf"), std::ios::binary | std::ios::trunc);
        out.write(reinterpret_cast<const char*>(c.bytes.data()),
                  static_cast<std::streamsize>(c.bytes.size()));
        if (!out) throw std::runtime_error("cannot write corpus file " + c.name);
        index << c.name << '\t' << c.expected_field << '\t' << c.expected_message << '\n';
    }
    if (!index) throw std::runtime_error("cannot write " + (dir / "expected.tsv").string());
    return cases.size();
}

}  // namespace pocket::test
