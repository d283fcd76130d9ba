// The metadata value model, tensor shape arithmetic and FormatError.
#include <array>
#include <cmath>
#include <limits>

#include "pocket/gguf/gguf.h"
#include "printable.h"

namespace pocket::gguf {

std::string_view value_type_name(ValueType type) {
    static constexpr std::array<std::string_view, 13> kNames = {
        "UINT8", "INT8",   "UINT16", "INT16",  "UINT32", "INT32",  "FLOAT32",
        "BOOL",  "STRING", "ARRAY",  "UINT64", "INT64",  "FLOAT64"};
    const auto index = static_cast<uint32_t>(type);
    return index < kNames.size() ? kNames[index] : std::string_view("INVALID");
}

bool operator==(const Array& a, const Array& b) {
    return a.element_type == b.element_type && a.items == b.items;
}

bool operator==(const Value& a, const Value& b) {
    return a.v == b.v;
}

bool Value::is_integer() const {
    switch (type()) {
        case ValueType::UINT8:
        case ValueType::INT8:
        case ValueType::UINT16:
        case ValueType::INT16:
        case ValueType::UINT32:
        case ValueType::INT32:
        case ValueType::UINT64:
        case ValueType::INT64:
            return true;
        default:
            return false;
    }
}

bool Value::is_number() const {
    return is_integer() || type() == ValueType::FLOAT32 || type() == ValueType::FLOAT64;
}

namespace {

[[noreturn]] void wrong_type(std::string_view wanted, ValueType actual) {
    fail("metadata value type mismatch: expected ", wanted, ", found ", value_type_name(actual));
}

}  // namespace

int64_t Value::as_int() const {
    if (!is_integer()) wrong_type("an integer", type());
    if (const auto* u = std::get_if<uint64_t>(&v)) {
        if (*u > static_cast<uint64_t>(std::numeric_limits<int64_t>::max()))
            fail("metadata value ", *u, " does not fit a signed 64-bit integer");
        return static_cast<int64_t>(*u);
    }
    return std::visit(
        [](const auto& x) -> int64_t {
            using T = std::decay_t<decltype(x)>;
            if constexpr (std::is_integral_v<T> && !std::is_same_v<T, bool>) {
                return static_cast<int64_t>(x);
            } else {
                return 0;  // unreachable: is_integer() checked above
            }
        },
        v);
}

uint64_t Value::as_uint() const {
    if (!is_integer()) wrong_type("an unsigned integer", type());
    return std::visit(
        [](const auto& x) -> uint64_t {
            using T = std::decay_t<decltype(x)>;
            if constexpr (std::is_integral_v<T> && !std::is_same_v<T, bool>) {
                if constexpr (std::is_signed_v<T>) {
                    if (x < 0) fail("metadata value ", int64_t{x}, " is negative");
                }
                return static_cast<uint64_t>(x);
            } else {
                return 0;  // unreachable: is_integer() checked above
            }
        },
        v);
}

double Value::as_double() const {
    if (const auto* f = std::get_if<float>(&v)) return *f;
    if (const auto* d = std::get_if<double>(&v)) return *d;
    if (const auto* u = std::get_if<uint64_t>(&v)) return static_cast<double>(*u);
    if (is_integer()) return static_cast<double>(as_int());
    wrong_type("a number", type());
}

bool Value::as_bool() const {
    if (const auto* b = std::get_if<bool>(&v)) return *b;
    wrong_type("BOOL", type());
}

const std::string& Value::as_string() const {
    if (const auto* s = std::get_if<std::string>(&v)) return *s;
    wrong_type("STRING", type());
}

const Array& Value::as_array() const {
    if (const auto* a = std::get_if<Array>(&v)) return *a;
    wrong_type("ARRAY", type());
}

uint64_t TensorInfo::n_elements() const {
    uint64_t n = 1;
    for (uint64_t d : shape) n *= d;
    return n;
}

uint64_t TensorInfo::rows() const {
    uint64_t n = 1;
    for (size_t i = 1; i < shape.size(); ++i) n *= shape[i];
    return n;
}

uint64_t tensor_bytes(DType type, std::span<const uint64_t> shape) {
    if (shape.empty() || shape.size() > 4)
        fail("tensor has ", shape.size(), " dimensions; GGUF tensors have 1 to 4");
    // ggml indexes elements with int64_t, so the element count must stay below 2^63.
    constexpr uint64_t kMaxElements = static_cast<uint64_t>(std::numeric_limits<int64_t>::max());
    uint64_t elements = 1;
    for (size_t i = 0; i < shape.size(); ++i) {
        if (shape[i] == 0) fail("tensor dimension ", i, " is 0");
        if (shape[i] > kMaxElements / elements)
            fail("tensor element count overflows (dimension ", i, " is ", shape[i], ")");
        elements *= shape[i];
    }
    const auto& t = traits(type);
    const auto row = row_bytes(type, shape[0]);
    if (!row) {
        fail("row length ", shape[0], " is not a multiple of the ", t.name, " block size ",
             t.block_size);
    }
    const uint64_t rows = elements / shape[0];
    if (*row != 0 && rows > std::numeric_limits<uint64_t>::max() / *row)
        fail("tensor byte size overflows");
    return rows * *row;
}

}  // namespace pocket::gguf
