#include "pocket/model/model.h"

#include <cstdlib>
#include <string_view>

#include "core/page_buffer.h"
#include "kernels/interleaved.h"
#include "kernels/kernels.h"
#include "pocket/core/error.h"
#include "pocket/core/thread_pool.h"
#include "pocket/tokenizer/tokenizer.h"

namespace pocket::model {

std::unique_ptr<Model> Model::load(const std::filesystem::path& path, const LoadOptions& options) {
    return from_file(gguf::File::open(path), options);
}

std::unique_ptr<Model> Model::from_file(gguf::File file, const LoadOptions& options) {
    return std::unique_ptr<Model>(new Model(std::move(file), options));
}

Model::Model(gguf::File file, const LoadOptions& options) : file_(std::move(file)) {
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
    // The tokenizer has its own copy of the vocabulary; the parsed arrays (a value object per
    // token: ~20 MB for a 150k vocabulary) would otherwise stay for the model's lifetime.
    for (const char* key : {"tokenizer.ggml.tokens", "tokenizer.ggml.scores",
                            "tokenizer.ggml.token_type", "tokenizer.ggml.merges"}) {
        file_.drop_metadata(key);
    }
    if (options.interleave) interleave_weights();
}

void Model::interleave_weights() {
    // The matrices that are multiplied. A tied output head is the token embedding table, which is
    // also gathered row by row (dequantize_row reads interleaved rows too).
    std::vector<TensorView*> targets;
    auto consider = [&](TensorView& w) {
        if (w.empty() || w.layout != Layout::Rows || !kernels::can_interleave(w.type)) return;
        if (kernels::ops(w.type).matmul_interleaved == nullptr) return;
        targets.push_back(&w);
    };
    for (LayerWeights& layer : weights_.layers) {
        for (TensorView* w : {&layer.wq, &layer.wk, &layer.wv, &layer.wqkv, &layer.wo,
                              &layer.w_gate, &layer.w_up, &layer.w_down}) {
            consider(*w);
        }
    }
    consider(weights_.output_tied ? weights_.token_embd : weights_.output);
    if (targets.empty()) return;

    constexpr size_t kAlign = 64;  // every matrix starts on a cache line
    auto padded_bytes = [](const TensorView& w) {
        return (kernels::interleaved_bytes(w.type, w.rows, w.cols) + kAlign - 1) / kAlign * kAlign;
    };
    size_t total = 0;
    for (const TensorView* w : targets) total += padded_bytes(*w);
    interleaved_ = std::make_unique<PageBuffer>(total);

    ThreadPool& pool = ThreadPool::global();
    size_t offset = 0;
    for (TensorView* w : targets) {
        std::byte* dst = interleaved_->data() + offset;
        const int64_t groups = (w->rows + kernels::kInterleaveRows - 1) / kernels::kInterleaveRows;
        pool.parallel_for_balanced(groups, [&](int64_t begin, int64_t end) {
            kernels::interleave_rows(w->type, w->cols, w->data, w->row_bytes, w->rows, dst, begin,
                                     end);
        });
        // The mapped copy is not read again: let its pages go, so memory holds the weights once.
        file_.release_pages({w->data, w->n_bytes()});
        w->data = dst;
        w->layout = Layout::Interleaved8;
        offset += padded_bytes(*w);
    }
    if (weights_.output_tied) weights_.output = weights_.token_embd;
}

Model::~Model() = default;

size_t Model::interleaved_bytes() const {
    return interleaved_ ? interleaved_->size() : 0;
}

uint64_t Model::n_params() const {
    uint64_t n = 0;
    for (const auto& t : file_.tensors()) n += t.n_elements();
    return n;
}

}  // namespace pocket::model
