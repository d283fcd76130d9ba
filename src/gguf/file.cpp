// pocket::gguf::File: owns the image (a read-only mapping or an aligned copy) and answers
// lookups on what the parser validated.
#include <cstring>
#include <new>
#include <optional>

#include "parsed.h"
#include "pocket/core/mapped_file.h"
#include "printable.h"

namespace pocket::gguf {
namespace {

struct AlignedDelete {
    void operator()(std::byte* p) const { ::operator delete (p, std::align_val_t{64}); }
};

}  // namespace

struct File::Impl : detail::Parsed {
    std::optional<MappedFile> mapping;
    std::unique_ptr<std::byte, AlignedDelete> owned;  // File::parse's copy, 64-byte aligned

    // A typed getter found the key with an unusable value; `message` overrides the default.
    [[noreturn]] void type_error(size_t index, std::string_view wanted,
                                 std::string_view message = {}) const {
        const auto& kv = metadata[index];
        throw FormatError(
            name, kv_offsets[index], cat("kv ", index, " ", detail::quoted(kv.key)),
            message.empty() ? cat("expected ", wanted, ", found ", value_type_name(kv.value.type()))
                            : std::string(message));
    }
};

File::File(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
File::File(File&&) noexcept = default;
File& File::operator=(File&&) noexcept = default;
File::~File() = default;

File File::open(const std::filesystem::path& path, const ReadOptions& options) {
    auto impl = std::make_unique<Impl>();
    impl->name = path.string();
    impl->mapping.emplace(path);
    impl->bytes = impl->mapping->bytes();
    detail::parse_image(*impl, options);
    return File(std::move(impl));
}

File File::parse(std::span<const std::byte> bytes, std::string name, const ReadOptions& options) {
    auto impl = std::make_unique<Impl>();
    impl->name = std::move(name);
    impl->owned.reset(static_cast<std::byte*>(::operator new (bytes.size(), std::align_val_t{64})));
    if (!bytes.empty()) std::memcpy(impl->owned.get(), bytes.data(), bytes.size());
    impl->bytes = {impl->owned.get(), bytes.size()};
    detail::parse_image(*impl, options);
    return File(std::move(impl));
}

const std::string& File::name() const {
    return impl_->name;
}
uint32_t File::version() const {
    return impl_->version;
}
uint64_t File::alignment() const {
    return impl_->alignment;
}
uint64_t File::data_offset() const {
    return impl_->data_offset;
}
uint64_t File::file_size() const {
    return impl_->bytes.size();
}
const std::vector<KeyValue>& File::metadata() const {
    return impl_->metadata;
}
const std::vector<TensorInfo>& File::tensors() const {
    return impl_->tensors;
}
std::span<const std::byte> File::bytes() const {
    return impl_->bytes;
}

void File::release_pages(std::span<const std::byte> range) const noexcept {
    if (impl_->mapping) impl_->mapping->release_pages(range);
}

const Value* File::find(std::string_view key) const {
    const auto it = impl_->kv_index.find(key);
    return it == impl_->kv_index.end() ? nullptr : &impl_->metadata[it->second].value;
}

void File::drop_metadata(std::string_view key) {
    const auto it = impl_->kv_index.find(key);
    if (it == impl_->kv_index.end()) return;
    const size_t index = it->second;
    impl_->kv_index.erase(it);
    impl_->metadata.erase(impl_->metadata.begin() + static_cast<std::ptrdiff_t>(index));
    impl_->kv_offsets.erase(impl_->kv_offsets.begin() + static_cast<std::ptrdiff_t>(index));
    for (auto& [name, i] : impl_->kv_index) {
        if (i > index) --i;
    }
}

namespace {

std::optional<size_t> lookup(const std::map<std::string, size_t, std::less<>>& index,
                             std::string_view key) {
    const auto it = index.find(key);
    if (it == index.end()) return std::nullopt;
    return it->second;
}

}  // namespace

std::optional<std::string> File::get_string(std::string_view key) const {
    const auto i = lookup(impl_->kv_index, key);
    if (!i) return std::nullopt;
    const Value& v = impl_->metadata[*i].value;
    if (v.type() != ValueType::STRING) impl_->type_error(*i, "STRING");
    return v.as_string();
}

std::optional<int64_t> File::get_int(std::string_view key) const {
    const auto i = lookup(impl_->kv_index, key);
    if (!i) return std::nullopt;
    const Value& v = impl_->metadata[*i].value;
    if (!v.is_integer()) impl_->type_error(*i, "an integer");
    try {
        return v.as_int();
    } catch (const Error& e) {
        impl_->type_error(*i, "", e.what());
    }
}

std::optional<uint64_t> File::get_uint(std::string_view key) const {
    const auto i = lookup(impl_->kv_index, key);
    if (!i) return std::nullopt;
    const Value& v = impl_->metadata[*i].value;
    if (!v.is_integer()) impl_->type_error(*i, "an unsigned integer");
    try {
        return v.as_uint();
    } catch (const Error& e) {
        impl_->type_error(*i, "", e.what());
    }
}

std::optional<double> File::get_float(std::string_view key) const {
    const auto i = lookup(impl_->kv_index, key);
    if (!i) return std::nullopt;
    const Value& v = impl_->metadata[*i].value;
    if (!v.is_number()) impl_->type_error(*i, "a number");
    return v.as_double();
}

std::optional<bool> File::get_bool(std::string_view key) const {
    const auto i = lookup(impl_->kv_index, key);
    if (!i) return std::nullopt;
    const Value& v = impl_->metadata[*i].value;
    if (v.type() != ValueType::BOOL) impl_->type_error(*i, "BOOL");
    return v.as_bool();
}

const Array* File::get_array(std::string_view key) const {
    const auto i = lookup(impl_->kv_index, key);
    if (!i) return nullptr;
    const Value& v = impl_->metadata[*i].value;
    if (v.type() != ValueType::ARRAY) impl_->type_error(*i, "ARRAY");
    return &v.as_array();
}

const TensorInfo* File::find_tensor(std::string_view name) const {
    const auto i = lookup(impl_->tensor_index, name);
    return i ? &impl_->tensors[*i] : nullptr;
}

std::span<const std::byte> File::tensor_data(const TensorInfo& tensor) const {
    const uint64_t size = impl_->bytes.size();
    const uint64_t begin = impl_->data_offset + tensor.offset;
    if (tensor.offset > size || begin > size || tensor.n_bytes > size - begin) {
        fail(impl_->name, ": tensor ", detail::quoted(tensor.name), " data [", begin, " + ",
             tensor.n_bytes, ") is not inside the file (size ", size, ")");
    }
    return impl_->bytes.subspan(begin, tensor.n_bytes);
}

}  // namespace pocket::gguf
