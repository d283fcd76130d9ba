// Hugging Face safetensors checkpoints: the validating zero-copy reader, sharded checkpoints
// (model.safetensors.index.json) and a writer.
//
// Format facts: an 8-byte little-endian header length N, N bytes of UTF-8 JSON (an object; may be
// padded with trailing spaces), then the data section. Each header key other than "__metadata__"
// names a tensor: {"dtype": "F32", "shape": [rows, cols], "data_offsets": [begin, end]}, offsets
// relative to the data section, row-major (last dimension contiguous), little-endian.
// "__metadata__" is an optional object of string values. Like the reference implementation we
// require the tensors to tile the data section exactly: no gaps, no overlaps, nothing after.
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "pocket/core/dtype.h"
#include "pocket/core/error.h"

namespace pocket::safetensors {

// Element types of the format (sub-byte types such as F4 are not supported).
enum class DType {
    BOOL,
    U8,
    I8,
    F8_E5M2,
    F8_E4M3,
    I16,
    U16,
    F16,
    BF16,
    I32,
    U32,
    F32,
    I64,
    U64,
    F64,
};
std::string_view dtype_name(DType type);                      // "F32", "BF16", ...
std::optional<DType> dtype_from_name(std::string_view name);  // exact spelling, as in files
size_t dtype_size(DType type);                                // bytes per element
// The pocket (ggml-numbered) type with the same element encoding, if there is one.
std::optional<pocket::DType> to_pocket_dtype(DType type);

// The reference implementation refuses headers over 100 MB; so do we (also bounds allocation).
inline constexpr uint64_t kMaxHeaderBytes = 100'000'000;
inline constexpr std::string_view kMetadataKey = "__metadata__";

struct TensorInfo {
    std::string name;
    DType dtype = DType::F32;
    std::vector<uint64_t> shape;  // row-major: shape.back() is contiguous; [] is a scalar
    uint64_t begin = 0;           // [begin, end) relative to the data section
    uint64_t end = 0;
    uint64_t n_elements() const;  // product of shape (1 for a scalar)
    uint64_t n_bytes() const { return end - begin; }
};

// Parse/validation failure; what() reads "FILE: offset N (FIELD): MESSAGE". Offsets are absolute
// in the file; for problems inside the JSON header the offset is that of the header (8).
using FormatError = pocket::FormatError;

// One parsed .safetensors file. Owns the memory mapping; tensor data are zero-copy views into it
// (NOT necessarily aligned for their element type: copy with memcpy). Move-only.
class File {
  public:
    static File open(const std::filesystem::path& path);
    // Parses an in-memory image (copied into owned storage); `name` is used in error messages.
    static File parse(std::span<const std::byte> bytes, std::string name);

    File(File&&) noexcept;
    File& operator=(File&&) noexcept;
    ~File();

    const std::string& name() const;
    uint64_t data_offset() const;  // absolute offset of the data section (8 + header length)
    const std::map<std::string, std::string>& metadata() const;
    const std::vector<TensorInfo>& tensors() const;  // sorted by data offset
    const TensorInfo* find(std::string_view name) const;
    std::span<const std::byte> data(const TensorInfo& tensor) const;

  private:
    struct Impl;
    explicit File(std::unique_ptr<Impl> impl);
    std::unique_ptr<Impl> impl_;
};

// A whole checkpoint: one file, or the shards named by model.safetensors.index.json
// ({"metadata": {...}, "weight_map": {tensor: shard file name}}).
class Checkpoint {
  public:
    // `path` is a .safetensors file, an index .json, or a folder holding
    // model.safetensors.index.json or model.safetensors. Every shard is opened and validated;
    // every weight_map entry must be in the shard it names and no tensor may be in two shards.
    static Checkpoint open(const std::filesystem::path& path);

    struct Tensor {
        const TensorInfo* info;
        const File* file;
        std::span<const std::byte> data() const { return file->data(*info); }
    };

    std::optional<Tensor> find(std::string_view name) const;
    Tensor at(std::string_view name) const;  // throws pocket::Error naming the tensor
    std::vector<std::string> names() const;  // sorted
    const std::vector<File>& files() const { return files_; }
    // The metadata of the first shard (for an index, its "metadata" object is not merged).
    const std::map<std::string, std::string>& metadata() const;

  private:
    std::vector<File> files_;
    std::map<std::string, std::pair<size_t, size_t>, std::less<>> index_;  // name -> (file, tensor)
};

// Writes a single-file checkpoint the way the reference implementation lays it out: header padded
// with spaces to a multiple of 8, tensors packed in insertion order.
class Writer {
  public:
    void set_metadata(std::string key, std::string value);
    // Throws pocket::Error for a duplicate or empty name or a size that does not match the shape.
    void add_tensor(std::string name, DType dtype, std::vector<uint64_t> shape,
                    std::vector<std::byte> data);
    std::vector<std::byte> to_bytes() const;
    void write(const std::filesystem::path& path) const;

  private:
    struct Pending {
        std::string name;
        DType dtype;
        std::vector<uint64_t> shape;
        std::vector<std::byte> data;
    };
    std::map<std::string, std::string> metadata_;
    std::vector<Pending> tensors_;
};

}  // namespace pocket::safetensors
