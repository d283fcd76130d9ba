// pocket::safetensors::File: owns the image (a read-only mapping or a copy) and answers lookups on
// what the parser validated.
#include <optional>

#include "parser.h"
#include "pocket/core/mapped_file.h"

namespace pocket::safetensors {

struct File::Impl : detail::Parsed {
    std::optional<MappedFile> mapping;
    std::vector<std::byte> owned;  // File::parse's copy
};

File::File(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
File::File(File&&) noexcept = default;
File& File::operator=(File&&) noexcept = default;
File::~File() = default;

File File::open(const std::filesystem::path& path) {
    auto impl = std::make_unique<Impl>();
    impl->name = path.string();
    impl->mapping.emplace(path);
    impl->bytes = impl->mapping->bytes();
    detail::parse_image(*impl);
    return File(std::move(impl));
}

File File::parse(std::span<const std::byte> bytes, std::string name) {
    auto impl = std::make_unique<Impl>();
    impl->name = std::move(name);
    impl->owned.assign(bytes.begin(), bytes.end());
    impl->bytes = impl->owned;
    detail::parse_image(*impl);
    return File(std::move(impl));
}

const std::string& File::name() const {
    return impl_->name;
}
uint64_t File::data_offset() const {
    return impl_->data_offset;
}
const std::map<std::string, std::string>& File::metadata() const {
    return impl_->metadata;
}
const std::vector<TensorInfo>& File::tensors() const {
    return impl_->tensors;
}

const TensorInfo* File::find(std::string_view name) const {
    const auto it = impl_->index.find(name);
    return it == impl_->index.end() ? nullptr : &impl_->tensors[it->second];
}

std::span<const std::byte> File::data(const TensorInfo& tensor) const {
    return impl_->bytes.subspan(impl_->data_offset + tensor.begin, tensor.n_bytes());
}

}  // namespace pocket::safetensors
