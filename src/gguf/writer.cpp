// The GGUF writer: lays files out exactly as llama.cpp's gguf_write_to_buf does, streaming tensor
// data to disk one tensor at a time.
#include <unistd.h>

#include <algorithm>
#include <bit>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <limits>

#include "pocket/gguf/gguf.h"
#include "printable.h"

namespace pocket::gguf {

struct Writer::PendingTensor {
    TensorInfo info;  // offset is assigned when writing (the alignment may still change)
    std::vector<std::byte> data;
    Producer producer;
};

namespace {

// Appends little-endian fields to a buffer.
class Encoder {
  public:
    explicit Encoder(std::vector<std::byte>& out) : out_(out) {}

    template <typename T>
    void put(T value) {
        append(&value, sizeof(T));
    }

    void put_string(std::string_view s) {
        put<uint64_t>(s.size());
        append(s.data(), s.size());
    }

    // The value without its type tag (arrays carry their element type and length).
    void put_value(const Value& value) {
        std::visit(
            [&](const auto& x) {
                using T = std::decay_t<decltype(x)>;
                if constexpr (std::is_same_v<T, bool>) {
                    put<uint8_t>(x ? 1 : 0);
                } else if constexpr (std::is_same_v<T, std::string>) {
                    put_string(x);
                } else if constexpr (std::is_same_v<T, Array>) {
                    put<uint32_t>(static_cast<uint32_t>(x.element_type));
                    put<uint64_t>(x.items.size());
                    for (const auto& item : x.items) put_value(item);
                } else {
                    put<T>(x);
                }
            },
            value.v);
    }

    void pad_to(uint64_t alignment) {
        while (out_.size() % alignment != 0) out_.push_back(std::byte{0});
    }

  private:
    // resize + memcpy rather than insert: GCC 12 warns falsely about vector<byte>::insert here.
    void append(const void* data, size_t n) {
        const size_t at = out_.size();
        out_.resize(at + n);
        if (n != 0) std::memcpy(out_.data() + at, data, n);
    }

    std::vector<std::byte>& out_;
};

void check_value(const Value& value, int depth, const std::string& key) {
    const auto* array = std::get_if<Array>(&value.v);
    if (array == nullptr) return;
    if (depth >= kMaxArrayDepth) {
        fail("GGUF writer: key ", detail::quoted(key), ": arrays nested deeper than ",
             kMaxArrayDepth, " levels");
    }
    if (static_cast<uint32_t>(array->element_type) > static_cast<uint32_t>(ValueType::FLOAT64)) {
        fail("GGUF writer: key ", detail::quoted(key), ": invalid array element type ",
             static_cast<uint32_t>(array->element_type));
    }
    for (size_t i = 0; i < array->items.size(); ++i) {
        const Value& item = array->items[i];
        if (item.type() != array->element_type) {
            fail("GGUF writer: key ", detail::quoted(key), ": array item ", i, " is ",
                 value_type_name(item.type()), " but the array holds ",
                 value_type_name(array->element_type));
        }
        check_value(item, depth + 1, key);
    }
}

void check_alignment(uint64_t alignment) {
    if (alignment == 0 || !std::has_single_bit(alignment) ||
        alignment > std::numeric_limits<uint32_t>::max()) {
        fail("GGUF writer: alignment ", alignment, " is not a power of two that fits 32 bits");
    }
}

uint64_t padded(uint64_t n, uint64_t alignment) {
    return (n + alignment - 1) / alignment * alignment;
}

}  // namespace

Writer::Writer(uint32_t version) : version_(version) {
    if (version != 2 && version != 3) {
        fail("GGUF writer: version ", version, " is not supported (only 2 and 3)");
    }
}

void Writer::set(std::string key, Value value) {
    if (key.empty()) fail("GGUF writer: empty metadata key");
    check_value(value, 0, key);
    if (key == kAlignmentKey) {
        const auto* a = std::get_if<uint32_t>(&value.v);
        if (a == nullptr) {
            fail("GGUF writer: ", kAlignmentKey, " must be UINT32, not ",
                 value_type_name(value.type()));
        }
        check_alignment(*a);
        alignment_ = *a;
    }
    for (auto& kv : metadata_) {
        if (kv.key == key) {
            kv.value = std::move(value);
            return;
        }
    }
    metadata_.push_back(KeyValue{std::move(key), std::move(value)});
}

void Writer::set_alignment(uint64_t alignment) {
    check_alignment(alignment);
    const bool present = std::any_of(metadata_.begin(), metadata_.end(),
                                     [](const KeyValue& kv) { return kv.key == kAlignmentKey; });
    if (alignment != kDefaultAlignment || present) {
        set(std::string(kAlignmentKey), static_cast<uint32_t>(alignment));
    }
    alignment_ = alignment;
}

const Value* Writer::get(std::string_view key) const {
    for (const auto& kv : metadata_) {
        if (kv.key == key) return &kv.value;
    }
    return nullptr;
}

bool Writer::remove(std::string_view key) {
    for (auto it = metadata_.begin(); it != metadata_.end(); ++it) {
        if (it->key == key) {
            if (key == kAlignmentKey) alignment_ = kDefaultAlignment;
            metadata_.erase(it);
            return true;
        }
    }
    return false;
}

void Writer::add_tensor(std::string name, DType type, std::vector<uint64_t> shape,
                        std::vector<std::byte> data) {
    auto t = std::make_shared<PendingTensor>();
    t->info = check_new_tensor(std::move(name), type, std::move(shape));
    if (data.size() != t->info.n_bytes) {
        fail("GGUF writer: tensor ", detail::quoted(t->info.name), " has ", data.size(),
             " bytes of data, but its type and shape need ", t->info.n_bytes);
    }
    t->data = std::move(data);
    tensors_.push_back(std::move(t));
}

void Writer::add_tensor(std::string name, DType type, std::vector<uint64_t> shape,
                        Producer producer) {
    if (!producer) fail("GGUF writer: tensor ", detail::quoted(name), " has no data producer");
    auto t = std::make_shared<PendingTensor>();
    t->info = check_new_tensor(std::move(name), type, std::move(shape));
    t->producer = std::move(producer);
    tensors_.push_back(std::move(t));
}

TensorInfo Writer::check_new_tensor(std::string name, DType type,
                                    std::vector<uint64_t> shape) const {
    if (name.empty()) fail("GGUF writer: empty tensor name");
    if (name.size() > kMaxTensorNameBytes) {
        fail("GGUF writer: tensor name ", detail::quoted(name), " is ", name.size(),
             " bytes long; llama.cpp allows at most ", kMaxTensorNameBytes);
    }
    for (const auto& t : tensors_) {
        if (t->info.name == name) fail("GGUF writer: duplicate tensor name ", detail::quoted(name));
    }
    if (!dtype_traits(static_cast<uint32_t>(type))) {
        fail("GGUF writer: tensor ", detail::quoted(name), " has unknown type id ",
             static_cast<uint32_t>(type));
    }
    TensorInfo info;
    try {
        info.n_bytes = tensor_bytes(type, shape);
    } catch (const Error& e) {
        fail("GGUF writer: tensor ", detail::quoted(name), ": ", e.what());
    }
    info.name = std::move(name);
    info.type = type;
    info.shape = std::move(shape);
    return info;
}

// Header, metadata, tensor infos, padding, then each tensor's data and its padding.
void Writer::emit(const Sink& sink) const {
    const uint32_t version = version_;
    const uint64_t alignment = alignment_;
    const auto& metadata = metadata_;
    const auto& tensors = tensors_;
    std::vector<std::byte> head;
    Encoder enc(head);
    enc.put<uint32_t>(0x46554747);  // "GGUF" read as a little-endian uint32
    enc.put<uint32_t>(version);
    enc.put<uint64_t>(tensors.size());
    enc.put<uint64_t>(metadata.size());
    for (const auto& kv : metadata) {
        enc.put_string(kv.key);
        enc.put<uint32_t>(static_cast<uint32_t>(kv.value.type()));
        enc.put_value(kv.value);
    }
    uint64_t offset = 0;
    for (const auto& t : tensors) {
        enc.put_string(t->info.name);
        enc.put<uint32_t>(static_cast<uint32_t>(t->info.shape.size()));
        for (uint64_t d : t->info.shape) enc.put<uint64_t>(d);
        enc.put<uint32_t>(static_cast<uint32_t>(t->info.type));
        enc.put<uint64_t>(offset);
        offset += padded(t->info.n_bytes, alignment);
    }
    // gguf-py leaves a tensor-less file unpadded (the data section is empty); llama.cpp pads.
    // Both load the same; we follow gguf-py so stored vocabulary files round-trip byte for byte.
    if (!tensors.empty()) enc.pad_to(alignment);
    sink(head);

    const std::vector<std::byte> zeros(alignment);
    std::vector<std::byte> scratch;
    for (const auto& t : tensors) {
        const uint64_t n = t->info.n_bytes;
        if (t->producer) {
            scratch.assign(n, std::byte{0});
            t->producer(std::span<std::byte>(scratch));
            sink(scratch);
        } else {
            sink(t->data);
        }
        sink(std::span(zeros).first(padded(n, alignment) - n));
    }
}

const TensorInfo& Writer::tensor_info(size_t index) const {
    if (index >= tensors_.size()) fail("gguf writer: tensor index ", index, " out of range");
    return tensors_[index]->info;
}

void Writer::produce_tensor(size_t index, std::span<std::byte> out) const {
    const PendingTensor& t = *tensors_.at(index);
    if (out.size() != t.info.n_bytes)
        fail("gguf writer: tensor '", t.info.name, "' needs ", t.info.n_bytes, " bytes, got ",
             out.size());
    if (t.producer) {
        t.producer(out);
    } else {
        std::copy(t.data.begin(), t.data.end(), out.begin());
    }
}

std::vector<std::byte> Writer::to_bytes() const {
    std::vector<std::byte> out;
    emit([&](std::span<const std::byte> part) { out.insert(out.end(), part.begin(), part.end()); });
    return out;
}

void Writer::write(const std::filesystem::path& path) const {
    // Write next to the target and rename at the end, so a failure never leaves a truncated file
    // under the final name.
    const std::filesystem::path partial = path.string() + ".partial-" + std::to_string(::getpid());
    try {
        std::ofstream out(partial, std::ios::binary | std::ios::trunc);
        if (!out) fail("cannot create '", partial.string(), "': ", std::strerror(errno));
        emit([&](std::span<const std::byte> part) {
            out.write(reinterpret_cast<const char*>(part.data()),
                      static_cast<std::streamsize>(part.size()));
            if (!out) fail("cannot write '", partial.string(), "': ", std::strerror(errno));
        });
        out.close();
        if (!out) fail("cannot write '", partial.string(), "': ", std::strerror(errno));
        std::error_code ec;
        std::filesystem::rename(partial, path, ec);
        if (ec)
            fail("cannot rename '", partial.string(), "' to '", path.string(), "': ", ec.message());
    } catch (...) {
        std::error_code ignored;
        std::filesystem::remove(partial, ignored);
        throw;
    }
}

}  // namespace pocket::gguf
