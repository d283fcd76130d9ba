// GGUF files: the metadata value model, the validating zero-copy reader and the writer.
//
// Format facts (GGUF v2/v3, little-endian): magic "GGUF", uint32 version, uint64 tensor count,
// uint64 metadata count; metadata entries (string key, uint32 value type, value); tensor infos
// (string name, uint32 n_dims, uint64 ne[n_dims], uint32 ggml type, uint64 offset relative to
// the data section); padding to `general.alignment` (default 32); the data section.
// Strings are uint64 length + bytes (no terminator).
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "pocket/core/dtype.h"
#include "pocket/core/error.h"

namespace pocket::gguf {

// Metadata value type codes, as stored in the file.
enum class ValueType : uint32_t {
    UINT8 = 0,
    INT8 = 1,
    UINT16 = 2,
    INT16 = 3,
    UINT32 = 4,
    INT32 = 5,
    FLOAT32 = 6,
    BOOL = 7,
    STRING = 8,
    ARRAY = 9,
    UINT64 = 10,
    INT64 = 11,
    FLOAT64 = 12,
};
std::string_view value_type_name(ValueType type);  // "UINT8", ..., "ARRAY"

// Arrays may nest (gguf-py writes them; llama.cpp itself does not); deeper nesting is rejected so
// hostile files cannot exhaust the stack.
inline constexpr int kMaxArrayDepth = 8;
inline constexpr uint64_t kDefaultAlignment = 32;
// llama.cpp stores tensor names in a 64-byte buffer (GGML_MAX_NAME) including the terminator and
// rejects longer names, so we do too (reader and writer).
inline constexpr size_t kMaxTensorNameBytes = 63;
inline constexpr std::string_view kAlignmentKey = "general.alignment";

struct Value;

// A typed array; arrays may nest (element_type ARRAY).
struct Array {
    ValueType element_type = ValueType::UINT8;
    std::vector<Value> items;
    friend bool operator==(const Array&, const Array&);
};

// One metadata value. The variant's index equals the ValueType code.
struct Value {
    using Storage = std::variant<uint8_t, int8_t, uint16_t, int16_t, uint32_t, int32_t, float, bool,
                                 std::string, Array, uint64_t, int64_t, double>;
    Storage v;

    Value() = default;
    template <typename T>
    requires std::is_constructible_v<Storage, T&&> Value(T&& value) : v(std::forward<T>(value)) {}

    ValueType type() const { return static_cast<ValueType>(v.index()); }
    bool is_integer() const;  // any of the 8 integer types (not bool)
    bool is_number() const;   // integer or float
    // Checked conversions; throw pocket::Error naming the expected and actual type.
    // Integers convert when the value fits the requested type.
    int64_t as_int() const;
    uint64_t as_uint() const;
    double as_double() const;
    bool as_bool() const;
    const std::string& as_string() const;
    const Array& as_array() const;

    friend bool operator==(const Value&, const Value&);  // same type and value (NaN != NaN)
};

struct KeyValue {
    std::string key;
    Value value;
};

struct TensorInfo {
    std::string name;
    DType type = DType::F32;
    std::vector<uint64_t> shape;  // ggml order: shape[0] is the row length (contiguous dim)
    uint64_t offset = 0;          // relative to the data section
    uint64_t n_bytes = 0;         // bytes the tensor occupies
    uint64_t n_elements() const;
    uint64_t rows() const;  // product of shape[1..]
};

// Bytes a tensor of this type and shape occupies; throws pocket::Error when the shape is invalid
// (no dims, more than 4, a zero dim, a row length that is not a multiple of the block size, or a
// size that overflows).
uint64_t tensor_bytes(DType type, std::span<const uint64_t> shape);

// Parse/validation failure: names the file, the absolute byte offset and the field.
// what() reads "FILE: offset N (FIELD): MESSAGE", e.g.
// "model.gguf: offset 1234 (tensor info 7 'blk.0.attn_q.weight'.offset): data [x, y) extends past
// end of file (size z)". Fields are spelled "magic", "version", "n_tensors", "n_kv",
// "kv I.key", "kv I 'KEY'.type|.array_type|.array_length|.value[J]..", "padding",
// "tensor info I.name", "tensor info I 'NAME'.n_dims|.ne[J]|.type|.offset".
using FormatError = pocket::FormatError;

struct ReadOptions {
    // Accept tensors of types pocket cannot compute with (e.g. for `pocket info`); types unknown
    // to ggml are always rejected.
    bool allow_uncomputable_types = true;
};

// A parsed GGUF file. Owns the memory mapping; tensor data are zero-copy views into it and stay
// valid as long as the File lives. Move-only.
class File {
  public:
    // mmaps the file read-only and validates the whole structure; throws FormatError (or
    // pocket::Error when the file cannot be opened). Accepted: versions 2 and 3, little-endian;
    // tensor data aligned, inside the file and non-overlapping (llama.cpp additionally requires
    // them packed in order). With no tensors the padding before the (empty) data section may be
    // missing, as in files written by gguf-py.
    static File open(const std::filesystem::path& path, const ReadOptions& options = {});
    // Parses an in-memory image (copied into owned storage); `name` is used in error messages.
    static File parse(std::span<const std::byte> bytes, std::string name,
                      const ReadOptions& options = {});

    File(File&&) noexcept;
    File& operator=(File&&) noexcept;
    ~File();

    const std::string& name() const;
    uint32_t version() const;
    uint64_t alignment() const;
    // Absolute offset of the data section (the end of the tensor infos rounded up to the
    // alignment; may equal or exceed file_size() when there are no tensors).
    uint64_t data_offset() const;
    uint64_t file_size() const;

    const std::vector<KeyValue>& metadata() const;  // in file order
    const Value* find(std::string_view key) const;
    // Removes `key` and frees its value (nothing happens if it is absent): for an owner that has
    // copied a large value elsewhere, e.g. a model whose tokenizer holds the vocabulary arrays,
    // which would otherwise stay in memory twice for the model's lifetime.
    void drop_metadata(std::string_view key);
    // Typed getters: missing key -> nullopt; present but wrong type -> FormatError.
    std::optional<std::string> get_string(std::string_view key) const;
    std::optional<int64_t> get_int(std::string_view key) const;
    std::optional<uint64_t> get_uint(std::string_view key) const;
    std::optional<double> get_float(std::string_view key) const;
    std::optional<bool> get_bool(std::string_view key) const;
    const Array* get_array(std::string_view key) const;

    const std::vector<TensorInfo>& tensors() const;  // in file order
    const TensorInfo* find_tensor(std::string_view name) const;
    std::span<const std::byte> tensor_data(const TensorInfo& tensor) const;
    std::span<const std::byte> bytes() const;  // the whole file image
    // Drops the pages of `range` (inside bytes()) from memory when the file is mapped (they are
    // re-read if touched); does nothing for a parsed in-memory image.
    void release_pages(std::span<const std::byte> range) const noexcept;

  private:
    struct Impl;
    explicit File(std::unique_ptr<Impl> impl);
    std::unique_ptr<Impl> impl_;
};

// Builds a GGUF file. Metadata and tensors are written in insertion order; tensor data may be
// given as bytes or produced on demand while writing (so multi-GB models are never held whole).
// Layout as llama.cpp's gguf_write_to_buf: header, metadata, tensor infos (shape exactly as given),
// zero padding to the alignment, then each tensor's data followed by zero padding to the
// alignment; offsets are assigned in order. One difference kept for byte-exact round trips of
// gguf-py files: a file without tensors ends right after the metadata (no padding).
// Inputs are checked when added (throw pocket::Error): key names, general.alignment type/value,
// array element types and nesting depth, duplicate or invalid tensor names, shapes, types and
// data sizes. A producer is called once per write with a buffer of exactly the tensor's size.
class Writer {
  public:
    explicit Writer(uint32_t version = 3);

    // Adds or replaces a key (replacing keeps the original position).
    void set(std::string key, Value value);
    // A power of two that fits 32 bits. Also sets general.alignment when != 32, or when the key
    // is already present (so a file's explicit key survives a round trip).
    void set_alignment(uint64_t alignment);
    bool remove(std::string_view key);             // true when the key existed
    const Value* get(std::string_view key) const;  // nullptr when absent
    uint64_t alignment() const { return alignment_; }

    using Producer = std::function<void(std::span<std::byte> out)>;
    void add_tensor(std::string name, DType type, std::vector<uint64_t> shape,
                    std::vector<std::byte> data);
    void add_tensor(std::string name, DType type, std::vector<uint64_t> shape, Producer producer);

    // Read access for code that transforms a writer's content (quantizing a converted checkpoint
    // without writing it first): the metadata in order, the tensors' infos (offset not yet
    // assigned), and one tensor's bytes, from its data or by running its producer into `out`
    // (exactly tensor_info(index).n_bytes long).
    const std::vector<KeyValue>& metadata() const { return metadata_; }
    size_t tensor_count() const { return tensors_.size(); }
    const TensorInfo& tensor_info(size_t index) const;
    void produce_tensor(size_t index, std::span<std::byte> out) const;

    // Streams to "<path>.partial-<pid>" and renames it into place, so a failure (I/O error:
    // pocket::Error; a producer's exception propagates) never leaves a truncated file at `path`.
    void write(const std::filesystem::path& path) const;
    std::vector<std::byte> to_bytes() const;  // whole image in memory (tests)

  private:
    struct PendingTensor;
    using Sink = std::function<void(std::span<const std::byte>)>;
    TensorInfo check_new_tensor(std::string name, DType type, std::vector<uint64_t> shape) const;
    void emit(const Sink& sink) const;  // the whole image, tensor data one tensor at a time

    uint32_t version_;
    uint64_t alignment_ = 32;
    std::vector<KeyValue> metadata_;
    std::vector<std::shared_ptr<PendingTensor>> tensors_;
};

}  // namespace pocket::gguf
