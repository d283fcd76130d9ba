// The validating GGUF parser. Every read is bounds-checked against the file image and every count
// is checked against the bytes left before anything is allocated, so a hostile file can only
// produce a FormatError naming the offending field and its absolute offset.
#include <algorithm>
#include <bit>
#include <cstring>
#include <limits>

#include "parsed.h"
#include "printable.h"

namespace pocket::gguf::detail {

static_assert(std::endian::native == std::endian::little,
              "the GGUF parser decodes little-endian fields with memcpy");

namespace {

constexpr char kMagic[4] = {'G', 'G', 'U', 'F'};
constexpr uint32_t kNumValueTypes = 13;
// Smallest encodings, used to bound counts by the bytes left before allocating anything:
// a key-value pair is a key (length + at least 1 byte), a type and at least a 1-byte value;
// a tensor info is a name (length + at least 1 byte), n_dims, at least one dim, type and offset.
constexpr uint64_t kMinKvBytes = 8 + 1 + 4 + 1;
constexpr uint64_t kMinTensorInfoBytes = 8 + 1 + 4 + 8 + 4 + 8;
constexpr uint64_t kMaxElements = static_cast<uint64_t>(std::numeric_limits<int64_t>::max());

// Bytes of a scalar on disk; 0 for STRING and ARRAY (variable size).
uint64_t fixed_size(ValueType type) {
    switch (type) {
        case ValueType::UINT8:
        case ValueType::INT8:
        case ValueType::BOOL:
            return 1;
        case ValueType::UINT16:
        case ValueType::INT16:
            return 2;
        case ValueType::UINT32:
        case ValueType::INT32:
        case ValueType::FLOAT32:
            return 4;
        case ValueType::UINT64:
        case ValueType::INT64:
        case ValueType::FLOAT64:
            return 8;
        default:
            return 0;
    }
}

uint64_t min_encoded_size(ValueType type) {
    if (type == ValueType::STRING) return 8;     // length
    if (type == ValueType::ARRAY) return 4 + 8;  // element type + length
    return fixed_size(type);
}

uint32_t byteswap32(uint32_t v) {
    return (v >> 24) | ((v >> 8) & 0xff00) | ((v << 8) & 0xff0000) | (v << 24);
}

class Parser {
  public:
    Parser(Parsed& out, const ReadOptions& options)
        : out_(out), bytes_(out.bytes), options_(options) {}

    void run() {
        read_header();
        read_metadata();
        read_tensor_infos();
        check_tensor_data();
    }

  private:
    uint64_t size() const { return bytes_.size(); }
    uint64_t remaining() const { return size() - pos_; }

    [[noreturn]] void fail_at(uint64_t offset, std::string field, const std::string& message) {
        throw FormatError(out_.name, offset, std::move(field), message);
    }

    template <typename FieldFn>
    void need(uint64_t n, FieldFn&& field) {
        if (n > remaining()) {
            fail_at(pos_, field(),
                    cat("unexpected end of file: need ", n, " bytes, ", remaining(),
                        " left (file size ", size(), ")"));
        }
    }

    template <typename T>
    T load_at(uint64_t at) const {
        T value;
        std::memcpy(&value, bytes_.data() + at, sizeof(T));
        return value;
    }

    template <typename T, typename FieldFn>
    T read(FieldFn&& field) {
        need(sizeof(T), field);
        const T value = load_at<T>(pos_);
        pos_ += sizeof(T);
        return value;
    }

    template <typename FieldFn>
    std::string read_string(FieldFn&& field) {
        const uint64_t at = pos_;
        const auto length = read<uint64_t>(field);
        if (length > remaining()) {
            fail_at(at, field(),
                    cat("string length ", length, " exceeds the ", remaining(),
                        " bytes left in the file"));
        }
        std::string s(reinterpret_cast<const char*>(bytes_.data() + pos_), length);
        pos_ += length;
        return s;
    }

    // ---- header ----

    void read_header() {
        if (size() < 4) {
            fail_at(0, "magic",
                    cat("file too short for the GGUF magic (", size(), " bytes, need 4)"));
        }
        if (std::memcmp(bytes_.data(), kMagic, 4) != 0) {
            const std::string_view found(reinterpret_cast<const char*>(bytes_.data()), 4);
            fail_at(0, "magic",
                    cat("not a GGUF file: magic is ", detail::quoted(found), ", expected 'GGUF'"));
        }
        pos_ = 4;
        const uint32_t version = read<uint32_t>([] { return std::string("version"); });
        const uint32_t swapped = byteswap32(version);
        if (version == 1) {
            fail_at(4, "version",
                    "GGUF version 1 is not supported (it used 32-bit counts and lengths; "
                    "supported versions are 2 and 3)");
        }
        if (version != 2 && version != 3) {
            if ((version & 0xffff) == 0 && swapped >= 1 && swapped <= 3) {
                fail_at(
                    4, "version",
                    cat("file is big-endian (version reads as ", version, " little-endian, ",
                        swapped, " byte-swapped); only little-endian GGUF files are supported"));
            }
            fail_at(4, "version",
                    cat("unsupported GGUF version ", version, " (supported: 2 and 3)"));
        }
        out_.version = version;

        // Both counts are read before either is checked, so a file cut inside n_kv is reported
        // as truncated there rather than as an implausible tensor count.
        const uint64_t tensors_at = pos_;
        n_tensors_ = read<uint64_t>([] { return std::string("n_tensors"); });
        const uint64_t kv_at = pos_;
        n_kv_ = read<uint64_t>([] { return std::string("n_kv"); });
        if (n_tensors_ > remaining() / kMinTensorInfoBytes) {
            fail_at(tensors_at, "n_tensors",
                    cat("tensor count ", n_tensors_, " cannot fit in the ", remaining(),
                        " bytes left (each tensor info takes at least ", kMinTensorInfoBytes,
                        " bytes): the count is corrupt or the file is truncated"));
        }
        if (n_kv_ > remaining() / kMinKvBytes) {
            fail_at(kv_at, "n_kv",
                    cat("metadata count ", n_kv_, " cannot fit in the ", remaining(),
                        " bytes left (each key-value pair takes at least ", kMinKvBytes,
                        " bytes): the count is corrupt or the file is truncated"));
        }
    }

    // ---- metadata ----

    enum class Part { value, array_type, array_length };

    // "kv 3 'key'.value", "kv 3 'key'.value[2][0]", "kv 3 'key'.value[2].array_length", ...
    std::string value_field(Part part) const {
        std::string field = kv_field_;
        if (!index_path_.empty() || part == Part::value) field += ".value";
        for (uint64_t i : index_path_) field += cat("[", i, "]");
        if (part == Part::array_type) field += ".array_type";
        if (part == Part::array_length) field += ".array_length";
        return field;
    }

    void read_metadata() {
        out_.metadata.reserve(n_kv_);
        out_.kv_offsets.reserve(n_kv_);
        for (uint64_t i = 0; i < n_kv_; ++i) {
            const uint64_t key_at = pos_;
            auto key_field = [&] { return cat("kv ", i, ".key"); };
            std::string key = read_string(key_field);
            if (key.empty()) fail_at(key_at, key_field(), "empty key");
            if (auto it = out_.kv_index.find(key); it != out_.kv_index.end()) {
                fail_at(key_at, key_field(),
                        cat("duplicate key ", detail::quoted(key), " (first defined by kv ",
                            it->second, ")"));
            }
            kv_field_ = cat("kv ", i, " ", detail::quoted(key));

            const uint64_t type_at = pos_;
            const uint32_t type_id = read<uint32_t>([&] { return kv_field_ + ".type"; });
            if (type_id >= kNumValueTypes) {
                fail_at(type_at, kv_field_ + ".type",
                        cat("invalid value type ", type_id, " (valid types are 0..12)"));
            }
            const auto type = static_cast<ValueType>(type_id);
            const uint64_t value_at = pos_;
            Value value = read_value(type, 0);

            if (key == kAlignmentKey) check_alignment(value, type_at, value_at);
            out_.kv_index.emplace(key, out_.metadata.size());
            out_.metadata.push_back(KeyValue{std::move(key), std::move(value)});
            out_.kv_offsets.push_back(type_at);
        }
    }

    void check_alignment(const Value& value, uint64_t type_at, uint64_t value_at) {
        if (value.type() != ValueType::UINT32) {
            fail_at(type_at, kv_field_ + ".type",
                    cat(kAlignmentKey, " must be UINT32, found ", value_type_name(value.type())));
        }
        const uint32_t alignment = std::get<uint32_t>(value.v);
        if (alignment == 0 || !std::has_single_bit(alignment)) {
            fail_at(value_at, kv_field_ + ".value",
                    cat(kAlignmentKey, " ", alignment, " is not a nonzero power of two"));
        }
        out_.alignment = alignment;
    }

    Value read_value(ValueType type, int depth) {
        const uint64_t at = pos_;
        auto field = [&] { return value_field(Part::value); };
        switch (type) {
            case ValueType::UINT8:
                return read<uint8_t>(field);
            case ValueType::INT8:
                return read<int8_t>(field);
            case ValueType::UINT16:
                return read<uint16_t>(field);
            case ValueType::INT16:
                return read<int16_t>(field);
            case ValueType::UINT32:
                return read<uint32_t>(field);
            case ValueType::INT32:
                return read<int32_t>(field);
            case ValueType::FLOAT32:
                return read<float>(field);
            case ValueType::UINT64:
                return read<uint64_t>(field);
            case ValueType::INT64:
                return read<int64_t>(field);
            case ValueType::FLOAT64:
                return read<double>(field);
            case ValueType::BOOL:
                return decode_bool(read<uint8_t>(field), at);
            case ValueType::STRING:
                return read_string(field);
            case ValueType::ARRAY:
                return read_array(depth + 1);
        }
        fail_at(at, field(), "invalid value type");  // unreachable: callers validate the type
    }

    // Only 0 and 1 are accepted (llama.cpp maps any nonzero byte to true), so every file we
    // accept can be written back byte for byte.
    bool decode_bool(uint8_t byte, uint64_t at) {
        if (byte > 1) {
            fail_at(at, value_field(Part::value),
                    cat("invalid BOOL value ", int{byte}, " (must be 0 or 1)"));
        }
        return byte == 1;
    }

    template <typename T>
    void read_fixed_items(Array& array, uint64_t n) {
        // The length was checked against the bytes left, so the whole run is inside the file.
        for (uint64_t i = 0; i < n; ++i, pos_ += sizeof(T))
            array.items.emplace_back(load_at<T>(pos_));
    }

    Array read_array(int depth) {
        const uint64_t type_at = pos_;
        const uint32_t type_id = read<uint32_t>([&] { return value_field(Part::array_type); });
        if (type_id >= kNumValueTypes) {
            fail_at(type_at, value_field(Part::array_type),
                    cat("invalid array element type ", type_id, " (valid types are 0..12)"));
        }
        if (depth > kMaxArrayDepth) {
            fail_at(type_at, value_field(Part::array_type),
                    cat("arrays nested deeper than ", kMaxArrayDepth, " levels"));
        }
        const auto element_type = static_cast<ValueType>(type_id);
        const uint64_t length_at = pos_;
        const auto length = read<uint64_t>([&] { return value_field(Part::array_length); });
        const uint64_t min_size = min_encoded_size(element_type);
        if (length > remaining() / min_size) {
            fail_at(length_at, value_field(Part::array_length),
                    cat("array length ", length, " exceeds what the ", remaining(),
                        " bytes left can hold (each ", value_type_name(element_type),
                        " element takes at least ", min_size, " bytes)"));
        }

        Array array;
        array.element_type = element_type;
        array.items.reserve(length);
        switch (element_type) {
            case ValueType::UINT8:
                read_fixed_items<uint8_t>(array, length);
                break;
            case ValueType::INT8:
                read_fixed_items<int8_t>(array, length);
                break;
            case ValueType::UINT16:
                read_fixed_items<uint16_t>(array, length);
                break;
            case ValueType::INT16:
                read_fixed_items<int16_t>(array, length);
                break;
            case ValueType::UINT32:
                read_fixed_items<uint32_t>(array, length);
                break;
            case ValueType::INT32:
                read_fixed_items<int32_t>(array, length);
                break;
            case ValueType::FLOAT32:
                read_fixed_items<float>(array, length);
                break;
            case ValueType::UINT64:
                read_fixed_items<uint64_t>(array, length);
                break;
            case ValueType::INT64:
                read_fixed_items<int64_t>(array, length);
                break;
            case ValueType::FLOAT64:
                read_fixed_items<double>(array, length);
                break;
            case ValueType::BOOL:
            case ValueType::STRING:
            case ValueType::ARRAY:
                for (uint64_t i = 0; i < length; ++i) {
                    index_path_.push_back(i);
                    array.items.push_back(element_type == ValueType::ARRAY
                                              ? Value(read_array(depth + 1))
                                              : read_value(element_type, depth));
                    index_path_.pop_back();
                }
                break;
        }
        return array;
    }

    // ---- tensor infos ----

    void read_tensor_infos() {
        out_.tensors.reserve(n_tensors_);
        offset_field_at_.reserve(n_tensors_);
        for (uint64_t i = 0; i < n_tensors_; ++i) {
            const uint64_t name_at = pos_;
            auto name_field = [&] { return cat("tensor info ", i, ".name"); };
            TensorInfo info;
            info.name = read_string(name_field);
            if (info.name.empty()) fail_at(name_at, name_field(), "empty tensor name");
            if (info.name.size() > kMaxTensorNameBytes) {
                fail_at(name_at, name_field(),
                        cat("tensor name ", detail::quoted(info.name), " is ", info.name.size(),
                            " bytes long; the limit is ", kMaxTensorNameBytes));
            }
            if (auto it = out_.tensor_index.find(info.name); it != out_.tensor_index.end()) {
                fail_at(name_at, name_field(),
                        cat("duplicate tensor name ", detail::quoted(info.name),
                            " (first used by tensor info ", it->second, ")"));
            }
            const std::string base = cat("tensor info ", i, " ", detail::quoted(info.name));

            const uint64_t dims_at = pos_;
            const auto n_dims = read<uint32_t>([&] { return base + ".n_dims"; });
            if (n_dims < 1 || n_dims > 4) {
                fail_at(dims_at, base + ".n_dims", cat("n_dims ", n_dims, " is not in 1..4"));
            }
            const uint64_t shape_at = pos_;
            uint64_t elements = 1;
            for (uint32_t j = 0; j < n_dims; ++j) {
                const uint64_t dim_at = pos_;
                const std::string dim_field = cat(base, ".ne[", j, "]");
                const auto dim = read<uint64_t>([&] { return dim_field; });
                if (dim == 0) fail_at(dim_at, dim_field, cat("dimension ", j, " is 0"));
                if (dim > kMaxElements / elements) {
                    fail_at(dim_at, dim_field,
                            cat("element count overflows: dimension ", j, " is ", dim,
                                " and the product must stay below 2^63"));
                }
                elements *= dim;
                info.shape.push_back(dim);
            }

            const uint64_t type_at = pos_;
            const auto type_id = read<uint32_t>([&] { return base + ".type"; });
            const auto traits = dtype_traits(type_id);
            if (!traits) {
                fail_at(type_at, base + ".type", cat("unknown ggml tensor type id ", type_id));
            }
            if (!options_.allow_uncomputable_types && !traits->computable) {
                fail_at(type_at, base + ".type",
                        cat("tensor type ", traits->name, " is not supported by pocket"));
            }
            info.type = traits->type;
            if (info.shape[0] % traits->block_size != 0) {
                fail_at(shape_at, base + ".ne[0]",
                        cat("row length ", info.shape[0], " is not a multiple of the ",
                            traits->name, " block size ", traits->block_size));
            }
            const uint64_t row = info.shape[0] / traits->block_size * traits->block_bytes;
            const uint64_t rows = elements / info.shape[0];
            if (rows > std::numeric_limits<uint64_t>::max() / row) {
                fail_at(type_at, base + ".type", "tensor byte size overflows 64 bits");
            }
            info.n_bytes = rows * row;

            const uint64_t offset_at = pos_;
            info.offset = read<uint64_t>([&] { return base + ".offset"; });
            if (info.offset % out_.alignment != 0) {
                fail_at(offset_at, base + ".offset",
                        cat("offset ", info.offset, " is not a multiple of the alignment ",
                            out_.alignment));
            }
            out_.tensor_index.emplace(info.name, out_.tensors.size());
            out_.tensors.push_back(std::move(info));
            offset_field_at_.push_back(offset_at);
        }
        // pos_ <= size < 2^64 - alignment in practice; the sum cannot wrap.
        out_.data_offset = (pos_ + out_.alignment - 1) / out_.alignment * out_.alignment;
        if (n_tensors_ > 0 && out_.data_offset > size()) {
            fail_at(pos_, "padding",
                    cat("file ends inside the padding before the data section (data starts at ",
                        out_.data_offset, ", file size ", size(), ")"));
        }
    }

    std::string tensor_offset_field(size_t i) const {
        return cat("tensor info ", i, " ", detail::quoted(out_.tensors[i].name), ".offset");
    }

    void check_tensor_data() {
        const auto& tensors = out_.tensors;
        for (size_t i = 0; i < tensors.size(); ++i) {
            const auto& t = tensors[i];
            const uint64_t at = offset_field_at_[i];
            if (t.offset > std::numeric_limits<uint64_t>::max() - out_.data_offset) {
                fail_at(at, tensor_offset_field(i),
                        cat("offset ", t.offset, " overflows when added to the data section start ",
                            out_.data_offset));
            }
            const uint64_t begin = out_.data_offset + t.offset;
            if (t.n_bytes > std::numeric_limits<uint64_t>::max() - begin) {
                fail_at(at, tensor_offset_field(i),
                        cat("data [", begin, ", ", begin, " + ", t.n_bytes, ") overflows"));
            }
            const uint64_t end = begin + t.n_bytes;
            if (end > size()) {
                fail_at(at, tensor_offset_field(i),
                        cat("data [", begin, ", ", end, ") extends past end of file (size ", size(),
                            ")"));
            }
        }
        std::vector<size_t> order(tensors.size());
        for (size_t i = 0; i < order.size(); ++i) order[i] = i;
        std::stable_sort(order.begin(), order.end(),
                         [&](size_t a, size_t b) { return tensors[a].offset < tensors[b].offset; });
        for (size_t k = 1; k < order.size(); ++k) {
            const auto& prev = tensors[order[k - 1]];
            const auto& cur = tensors[order[k]];
            if (prev.offset + prev.n_bytes > cur.offset) {
                const uint64_t base = out_.data_offset;
                fail_at(
                    offset_field_at_[order[k]], tensor_offset_field(order[k]),
                    cat("data [", base + cur.offset, ", ", base + cur.offset + cur.n_bytes,
                        ") overlaps tensor info ", order[k - 1], " ", detail::quoted(prev.name),
                        " at [", base + prev.offset, ", ", base + prev.offset + prev.n_bytes, ")"));
            }
        }
    }

    Parsed& out_;
    std::span<const std::byte> bytes_;
    const ReadOptions& options_;
    uint64_t pos_ = 0;
    uint64_t n_tensors_ = 0;
    uint64_t n_kv_ = 0;
    std::string kv_field_;                   // "kv 3 'key'" while reading that entry
    std::vector<uint64_t> index_path_;       // array indices down to the value being read
    std::vector<uint64_t> offset_field_at_;  // absolute offset of each tensor's offset field
};

}  // namespace

void parse_image(Parsed& out, const ReadOptions& options) {
    Parser(out, options).run();
}

}  // namespace pocket::gguf::detail
