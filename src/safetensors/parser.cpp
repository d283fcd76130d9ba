// The validating safetensors parser. The header length is bounded before anything is allocated,
// the JSON is parsed with duplicate keys and deep nesting refused, and every tensor's shape,
// dtype and byte range is checked (overflow-safe) against the data section, so a hostile file can
// only produce a FormatError naming the file, the offset and the field.
#include <algorithm>
#include <bit>
#include <cstring>
#include <limits>
#include <set>

#include <nlohmann/json.hpp>

#include "parser.h"

namespace pocket::safetensors::detail {

static_assert(std::endian::native == std::endian::little,
              "the safetensors parser decodes the little-endian header length with memcpy");

namespace {

constexpr uint64_t kHeaderAt = 8;
// No real header nests deeper than 3 (root, tensor entry, shape); refuse silly depths early.
constexpr int kMaxJsonDepth = 16;

class Parser {
  public:
    explicit Parser(Parsed& out) : out_(out) {}

    void run() {
        const nlohmann::json header = read_header();
        for (const auto& [key, value] : header.items()) {
            if (key == kMetadataKey) {
                read_metadata(value);
            } else {
                out_.tensors.push_back(read_tensor(key, value));
            }
        }
        check_layout();
        for (size_t i = 0; i < out_.tensors.size(); ++i)
            out_.index.emplace(out_.tensors[i].name, i);
    }

  private:
    [[noreturn]] void fail_at(uint64_t offset, std::string field,
                              const std::string& message) const {
        throw FormatError(out_.name, offset, std::move(field), message);
    }

    uint64_t data_size() const { return out_.bytes.size() - out_.data_offset; }

    nlohmann::json read_header() {
        const auto bytes = out_.bytes;
        if (bytes.size() < kHeaderAt) {
            fail_at(0, "header length",
                    cat("file too short for the 8-byte header length (", bytes.size(), " bytes)"));
        }
        uint64_t length = 0;
        std::memcpy(&length, bytes.data(), sizeof length);
        if (length > kMaxHeaderBytes) {
            fail_at(0, "header length",
                    cat("header length ", length, " exceeds the limit of ", kMaxHeaderBytes,
                        " bytes: not a safetensors file, or a corrupt one"));
        }
        if (length > bytes.size() - kHeaderAt) {
            fail_at(0, "header length",
                    cat("header length ", length, " exceeds the ", bytes.size() - kHeaderAt,
                        " bytes after it: the file is truncated or not a safetensors file"));
        }
        if (length < 2) fail_at(kHeaderAt, "header", "header too short for a JSON object");
        out_.data_offset = kHeaderAt + length;
        const char* text = reinterpret_cast<const char*>(bytes.data() + kHeaderAt);
        if (text[0] != '{') {
            fail_at(kHeaderAt, "header", "the JSON header does not start with '{'");
        }

        std::set<std::string, std::less<>> seen;
        std::string duplicate;
        bool too_deep = false;
        auto callback = [&](int depth, nlohmann::json::parse_event_t event,
                            nlohmann::json& parsed) {
            if (depth > kMaxJsonDepth) too_deep = true;
            if (event == nlohmann::json::parse_event_t::key && depth == 1 && parsed.is_string()) {
                auto key = parsed.get<std::string>();
                if (!seen.insert(key).second && duplicate.empty()) duplicate = std::move(key);
            }
            return !too_deep;
        };
        nlohmann::json header;
        try {
            header = nlohmann::json::parse(text, text + length, callback);
        } catch (const nlohmann::json::exception& e) {
            fail_at(kHeaderAt, "header", cat("invalid JSON: ", e.what()));
        }
        if (too_deep) fail_at(kHeaderAt, "header", cat("JSON nested deeper than ", kMaxJsonDepth));
        if (!duplicate.empty()) {
            fail_at(kHeaderAt, "header", cat("duplicate key '", duplicate, "'"));
        }
        if (!header.is_object()) fail_at(kHeaderAt, "header", "the JSON header is not an object");
        return header;
    }

    void read_metadata(const nlohmann::json& value) {
        const std::string field(kMetadataKey);
        if (value.is_null()) return;
        if (!value.is_object()) fail_at(kHeaderAt, field, "must be an object of strings");
        for (const auto& [key, item] : value.items()) {
            if (!item.is_string()) {
                fail_at(kHeaderAt, cat(field, ".", key),
                        cat("metadata values must be strings, found ", item.type_name()));
            }
            out_.metadata.emplace(key, item.get<std::string>());
        }
    }

    uint64_t read_uint(const nlohmann::json& value, const std::string& field) const {
        if (!value.is_number_unsigned()) {
            fail_at(kHeaderAt, field,
                    cat("expected a non-negative integer, found ", value.dump(-1, ' ', true)));
        }
        return value.get<uint64_t>();
    }

    TensorInfo read_tensor(const std::string& name, const nlohmann::json& value) const {
        const std::string field = cat("tensor '", name, "'");
        if (name.empty()) fail_at(kHeaderAt, field, "empty tensor name");
        if (!value.is_object()) fail_at(kHeaderAt, field, "tensor entry is not an object");
        for (const char* required : {"dtype", "shape", "data_offsets"}) {
            if (!value.contains(required)) {
                fail_at(kHeaderAt, cat(field, ".", required), "missing");
            }
        }
        TensorInfo info;
        info.name = name;

        const auto& dtype = value["dtype"];
        if (!dtype.is_string()) fail_at(kHeaderAt, field + ".dtype", "must be a string");
        const auto parsed_dtype = dtype_from_name(dtype.get<std::string>());
        if (!parsed_dtype) {
            fail_at(kHeaderAt, field + ".dtype",
                    cat("unknown or unsupported dtype '", dtype.get<std::string>(), "'"));
        }
        info.dtype = *parsed_dtype;

        const auto& shape = value["shape"];
        if (!shape.is_array()) fail_at(kHeaderAt, field + ".shape", "must be an array");
        uint64_t elements = 1;
        for (size_t i = 0; i < shape.size(); ++i) {
            const uint64_t dim = read_uint(shape[i], cat(field, ".shape[", i, "]"));
            info.shape.push_back(dim);
            if (dim != 0 && elements > std::numeric_limits<uint64_t>::max() / dim) {
                fail_at(kHeaderAt, field + ".shape", "element count overflows 64 bits");
            }
            elements *= dim;
        }
        const uint64_t element_size = dtype_size(info.dtype);
        if (elements > std::numeric_limits<uint64_t>::max() / element_size) {
            fail_at(kHeaderAt, field + ".shape", "byte size overflows 64 bits");
        }
        const uint64_t expected_bytes = elements * element_size;

        const auto& offsets = value["data_offsets"];
        if (!offsets.is_array() || offsets.size() != 2) {
            fail_at(kHeaderAt, field + ".data_offsets", "must be an array [begin, end]");
        }
        info.begin = read_uint(offsets[0], field + ".data_offsets[0]");
        info.end = read_uint(offsets[1], field + ".data_offsets[1]");
        if (info.end < info.begin) {
            fail_at(kHeaderAt, field + ".data_offsets",
                    cat("end ", info.end, " is before begin ", info.begin));
        }
        if (info.end - info.begin != expected_bytes) {
            fail_at(kHeaderAt, field + ".data_offsets",
                    cat("range [", info.begin, ", ", info.end, ") holds ", info.end - info.begin,
                        " bytes but ", dtype_name(info.dtype), " shape needs ", expected_bytes));
        }
        if (info.end > data_size()) {
            fail_at(out_.data_offset + std::min(info.begin, data_size()), field + ".data_offsets",
                    cat("range [", info.begin, ", ", info.end, ") extends past the data section (",
                        data_size(), " bytes)"));
        }
        return info;
    }

    // Tensors must tile the data section: sorted by begin, each starts where the previous ended.
    void check_layout() {
        auto& tensors = out_.tensors;
        std::sort(tensors.begin(), tensors.end(), [](const TensorInfo& a, const TensorInfo& b) {
            return a.begin != b.begin ? a.begin < b.begin : a.end < b.end;
        });
        uint64_t expected = 0;
        for (const auto& t : tensors) {
            if (t.begin < expected) {
                fail_at(out_.data_offset + t.begin, cat("tensor '", t.name, "'.data_offsets"),
                        cat("range [", t.begin, ", ", t.end, ") overlaps the previous tensor, ",
                            "which ends at ", expected));
            }
            if (t.begin > expected) {
                fail_at(out_.data_offset + expected, cat("tensor '", t.name, "'.data_offsets"),
                        cat("gap of ", t.begin - expected, " bytes before this tensor"));
            }
            expected = t.end;
        }
        if (expected != data_size()) {
            fail_at(out_.data_offset + expected, "data",
                    cat(data_size() - expected, " bytes after the last tensor"));
        }
    }

    Parsed& out_;
};

}  // namespace

void parse_image(Parsed& out) {
    Parser(out).run();
}

}  // namespace pocket::safetensors::detail
