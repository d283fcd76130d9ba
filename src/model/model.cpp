#include "pocket/model/model.h"

#include "pocket/core/error.h"
#include "pocket/tokenizer/tokenizer.h"

namespace pocket::model {

std::unique_ptr<Model> Model::load(const std::filesystem::path& path) {
    return from_file(gguf::File::open(path));
}

std::unique_ptr<Model> Model::from_file(gguf::File file) {
    return std::unique_ptr<Model>(new Model(std::move(file)));
}

Model::Model(gguf::File file) : file_(std::move(file)) {
    const auto arch_name = file_.get_string("general.architecture");
    if (!arch_name) fail(file_.name(), ": missing metadata key 'general.architecture'");
    arch_ = find_arch(*arch_name);
    if (!arch_) {
        std::string known;
        for (const auto& a : known_archs()) known += cat(known.empty() ? "" : ", ", a.name);
        fail(file_.name(), ": architecture '", *arch_name, "' is not supported (known: ", known,
             ")");
    }
    hparams_ = read_hparams(file_, *arch_);
    weights_ = bind_weights(file_, hparams_, *arch_);
    tokenizer_ = tokenizer::load_tokenizer(file_);
    if (static_cast<int64_t>(tokenizer_->n_vocab()) != hparams_.n_vocab) {
        fail(file_.name(), ": tokenizer has ", tokenizer_->n_vocab(), " tokens but the model has ",
             hparams_.n_vocab, " embedding rows");
    }
}

Model::~Model() = default;

uint64_t Model::n_params() const {
    uint64_t n = 0;
    for (const auto& t : file_.tensors()) n += t.n_elements();
    return n;
}

}  // namespace pocket::model
