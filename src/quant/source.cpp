#include "source.h"

#include "pocket/convert/convert.h"
#include "pocket/core/error.h"

namespace pocket::quant::detail {

Source Source::open(const std::filesystem::path& path) {
    Source s;
    std::error_code ec;
    if (std::filesystem::is_directory(path, ec)) {
        // Keep each matrix's stored float type: the quantizer reads F32/F16/BF16 alike, and an
        // F32 intermediate would only cost memory.
        s.writer_ = std::make_shared<gguf::Writer>(convert::build_gguf(path, {}));
        for (size_t i = 0; i < s.writer_->tensor_count(); ++i)
            s.writer_tensors_.push_back(s.writer_->tensor_info(i));
    } else {
        if (!std::filesystem::exists(path, ec)) fail("input '", path.string(), "' does not exist");
        s.file_.emplace(gguf::File::open(path));
    }
    return s;
}

const std::vector<gguf::KeyValue>& Source::metadata() const {
    return file_ ? file_->metadata() : writer_->metadata();
}

const gguf::Value* Source::find(std::string_view key) const {
    if (file_) return file_->find(key);
    return writer_->get(key);
}

size_t Source::tensor_count() const {
    return file_ ? file_->tensors().size() : writer_tensors_.size();
}

const gguf::TensorInfo& Source::tensor(size_t index) const {
    return file_ ? file_->tensors().at(index) : writer_tensors_.at(index);
}

std::span<const std::byte> Source::data(size_t index, std::vector<std::byte>& scratch) const {
    if (file_) return file_->tensor_data(file_->tensors().at(index));
    scratch.resize(static_cast<size_t>(writer_tensors_.at(index).n_bytes));
    writer_->produce_tensor(index, scratch);
    return scratch;
}

void Source::release(size_t index) const {
    if (file_) file_->release_pages(file_->tensor_data(file_->tensors().at(index)));
}

}  // namespace pocket::quant::detail
