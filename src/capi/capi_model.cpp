// The C API's models and their tokenizers (include/pocket.h).
#include <algorithm>
#include <cstring>

#include "capi/capi_internal.h"
#include "pocket/generate/chat_template.h"
#include "pocket/model/load.h"
#include "pocket/tokenizer/tokenizer.h"

using namespace pocket;
using capi::guarded;
using capi::require;
using capi::StatusError;

namespace {

const tokenizer::Tokenizer& tokenizer_of(const pocket_model* model) {
    require(model, "model");
    return model->model->tokenizer();
}

}  // namespace

namespace {

pocket_model_options model_defaults() {
    pocket_model_options options{};
    options.struct_size = sizeof options;
    options.interleave = 1;
    return options;
}

}  // namespace

extern "C" {

pocket_status pocket_model_options_init(pocket_model_options* options, size_t struct_size) {
    return guarded(POCKET_ERR_INVALID_ARGUMENT, [&] {
        capi::init_options(options, struct_size, model_defaults());
        return POCKET_OK;
    });
}

pocket_status pocket_model_load(const char* path, const pocket_model_options* options,
                                pocket_model** out_model) {
    return guarded(POCKET_ERR_FORMAT, [&] {
        require(out_model, "out_model");
        *out_model = nullptr;
        capi::require_readable(path, "model");
        const auto o = capi::read_options(options, model_defaults());
        auto handle = std::make_unique<pocket_model>();
        model::LoadOptions load;
        load.interleave = o.interleave != 0;
        // A GGUF file, or a Hugging Face folder converted to GGUF in memory.
        handle->model = model::load_model(path, load);
        handle->name = handle->model->file().get_string("general.name").value_or("");
        handle->id = capi::next_model_id();
        capi::live_models().fetch_add(1);
        *out_model = handle.release();
        return POCKET_OK;
    });
}

void pocket_model_free(pocket_model* model) {
    if (model == nullptr) return;
    capi::live_models().fetch_sub(1);
    delete model;
}

const char* pocket_model_architecture(const pocket_model* model) {
    return model == nullptr ? "" : model->model->hparams().arch_name.c_str();
}

const char* pocket_model_name(const pocket_model* model) {
    return model == nullptr ? "" : model->name.c_str();
}

int64_t pocket_model_n_params(const pocket_model* model) {
    return model == nullptr ? 0 : static_cast<int64_t>(model->model->n_params());
}

int64_t pocket_model_n_ctx_train(const pocket_model* model) {
    return model == nullptr ? 0 : model->model->hparams().n_ctx_train;
}

int64_t pocket_model_n_embd(const pocket_model* model) {
    return model == nullptr ? 0 : model->model->hparams().n_embd;
}

int32_t pocket_model_n_vocab(const pocket_model* model) {
    return model == nullptr ? 0 : static_cast<int32_t>(model->model->tokenizer().n_vocab());
}

int pocket_model_has_chat_template(const pocket_model* model) {
    if (model == nullptr) return 0;
    return model->model->file().get_string("tokenizer.chat_template").has_value() ? 1 : 0;
}

pocket_status pocket_tokenize(const pocket_model* model, const char* text, int64_t length,
                              int add_special, int parse_special, int32_t* tokens, size_t capacity,
                              size_t* n_tokens) {
    return guarded(POCKET_ERR_INVALID_ARGUMENT, [&] {
        const auto& tok = tokenizer_of(model);
        require(text, "text");
        require(n_tokens, "n_tokens");
        if (tokens == nullptr && capacity > 0) require(tokens, "tokens");
        const std::string_view input =
            length < 0 ? std::string_view(text) : std::string_view(text, size_t(length));
        const auto ids = tok.encode(input, add_special != 0, parse_special != 0);
        *n_tokens = ids.size();
        if (ids.size() > capacity) {
            throw StatusError(
                POCKET_ERR_BUFFER_TOO_SMALL,
                cat("the text has ", ids.size(), " tokens; the buffer holds ", capacity));
        }
        std::copy(ids.begin(), ids.end(), tokens);
        return POCKET_OK;
    });
}

pocket_status pocket_detokenize(const pocket_model* model, const int32_t* tokens, size_t n_tokens,
                                int remove_special, char* buffer, size_t capacity, size_t* length) {
    return guarded(POCKET_ERR_INVALID_ARGUMENT, [&] {
        const auto& tok = tokenizer_of(model);
        if (n_tokens > 0) require(tokens, "tokens");
        require(length, "length");
        if (buffer == nullptr && capacity > 0) require(buffer, "buffer");
        std::vector<TokenId> ids(tokens, tokens + n_tokens);
        for (TokenId id : ids) {
            if (id < 0 || static_cast<size_t>(id) >= tok.n_vocab()) {
                throw StatusError(POCKET_ERR_INVALID_ARGUMENT,
                                  cat("token id ", id, " is outside the vocabulary (0..",
                                      tok.n_vocab() - 1, ")"));
            }
        }
        const bool remove = remove_special != 0;
        const std::string text = tok.decode(ids, remove, !remove);
        *length = text.size();
        if (text.size() + 1 > capacity) {
            throw StatusError(POCKET_ERR_BUFFER_TOO_SMALL,
                              cat("the text needs ", text.size() + 1,
                                  " bytes with its NUL; the buffer holds ", capacity));
        }
        std::memcpy(buffer, text.data(), text.size());
        buffer[text.size()] = '\0';
        return POCKET_OK;
    });
}

int32_t pocket_token_bos(const pocket_model* model) {
    return model == nullptr ? -1 : model->model->tokenizer().bos();
}

int32_t pocket_token_eos(const pocket_model* model) {
    return model == nullptr ? -1 : model->model->tokenizer().eos();
}

int pocket_token_is_end_of_generation(const pocket_model* model, int32_t token) {
    if (model == nullptr || token < 0 ||
        static_cast<size_t>(token) >= model->model->tokenizer().n_vocab()) {
        return 0;
    }
    return model->model->tokenizer().is_eog(token) ? 1 : 0;
}

}  // extern "C"
