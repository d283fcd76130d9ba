// What quantize_model reads: a memory-mapped GGUF file or a Hugging Face folder converted on the
// fly (the converter's gguf::Writer, whose tensors are produced one at a time on demand).
#pragma once

#include <cstddef>
#include <filesystem>
#include <memory>
#include <optional>
#include <span>
#include <string_view>
#include <vector>

#include "pocket/gguf/gguf.h"

namespace pocket::quant::detail {

class Source {
  public:
    // A folder is a Hugging Face checkpoint, anything else a GGUF file (FormatError if it is not).
    static Source open(const std::filesystem::path& path);

    const std::vector<gguf::KeyValue>& metadata() const;
    const gguf::Value* find(std::string_view key) const;
    size_t tensor_count() const;
    const gguf::TensorInfo& tensor(size_t index) const;
    // The tensor's bytes: a view into the mapping, or produced into `scratch`.
    std::span<const std::byte> data(size_t index, std::vector<std::byte>& scratch) const;
    // Lets the mapped pages of a tensor go once it is written (a no-op for a folder).
    void release(size_t index) const;

  private:
    std::optional<gguf::File> file_;
    std::shared_ptr<gguf::Writer> writer_;
    std::vector<gguf::TensorInfo> writer_tensors_;
};

}  // namespace pocket::quant::detail
