#include "pocket/tokenizer/gguf_vocab.h"

#include "bpe_presets.h"
#include "pocket/core/error.h"
#include "pocket/gguf/gguf.h"
#include "pocket/tokenizer/tokenizer.h"

namespace pocket::tokenizer {

namespace {

constexpr std::string_view kModelKey = "tokenizer.ggml.model";
constexpr std::string_view kTokensKey = "tokenizer.ggml.tokens";
constexpr std::string_view kScoresKey = "tokenizer.ggml.scores";
constexpr std::string_view kTypesKey = "tokenizer.ggml.token_type";

VocabKind kind_from_model(const gguf::File& file, const std::string& model) {
    if (model == "llama") return VocabKind::Spm;
    if (model == "gpt2") return VocabKind::Bpe;
    if (model == "bert") return VocabKind::WordPiece;
    if (model == "t5" || model == "rwkv") {
        fail(file.name(), ": the '", model, "' tokenizer (", kModelKey,
             ") is not supported by pocket");
    }
    if (model == "none" || model == "no_vocab") {
        fail(file.name(), ": the model has no vocabulary (", kModelKey, " = '", model, "')");
    }
    fail(file.name(), ": unknown tokenizer model '", model, "' in ", kModelKey);
}

std::string read_string(const gguf::File& file, std::string_view key) {
    const gguf::Value* value = file.find(key);
    if (value == nullptr) return {};
    if (value->type() != gguf::ValueType::STRING) {
        fail(file.name(), ": metadata key ", key, " should be a STRING but is ",
             gguf::value_type_name(value->type()));
    }
    return value->as_string();
}

// An array whose elements must satisfy `accept`, with the same length as the token list.
const gguf::Array* read_array(const gguf::File& file, std::string_view key, bool required,
                              bool (*accept)(gguf::ValueType), std::string_view wanted) {
    const gguf::Value* value = file.find(key);
    if (value == nullptr) {
        if (required) fail(file.name(), ": the vocabulary has no ", key, " array");
        return nullptr;
    }
    if (value->type() != gguf::ValueType::ARRAY) {
        fail(file.name(), ": metadata key ", key, " should be an ARRAY of ", wanted, " but is ",
             gguf::value_type_name(value->type()));
    }
    const gguf::Array& array = value->as_array();
    if (!array.items.empty() && !accept(array.element_type)) {
        fail(file.name(), ": metadata key ", key, " should be an ARRAY of ", wanted, " but holds ",
             gguf::value_type_name(array.element_type));
    }
    return &array;
}

bool is_string_type(gguf::ValueType t) {
    return t == gguf::ValueType::STRING;
}
bool is_float_type(gguf::ValueType t) {
    return t == gguf::ValueType::FLOAT32 || t == gguf::ValueType::FLOAT64;
}
bool is_integer_type(gguf::ValueType t) {
    switch (t) {
        case gguf::ValueType::UINT8:
        case gguf::ValueType::INT8:
        case gguf::ValueType::UINT16:
        case gguf::ValueType::INT16:
        case gguf::ValueType::UINT32:
        case gguf::ValueType::INT32:
        case gguf::ValueType::UINT64:
        case gguf::ValueType::INT64:
            return true;
        default:
            return false;
    }
}

void check_length(const gguf::File& file, std::string_view key, const gguf::Array& array,
                  size_t n_tokens) {
    if (array.items.size() != n_tokens) {
        fail(file.name(), ": ", key, " has ", array.items.size(), " entries but ", kTokensKey,
             " has ", n_tokens, "; the arrays must have the same length");
    }
}

// Overrides a default special id with the file's value. -1 and 0xFFFFFFFF (-1 stored unsigned, as
// converters write "none") leave the default, as llama.cpp does for ids it cannot use.
void read_special_id(const gguf::File& file, std::string_view key, size_t n_tokens, TokenId& slot) {
    const gguf::Value* value = file.find(key);
    if (value == nullptr) return;
    if (!value->is_integer()) {
        fail(file.name(), ": metadata key ", key, " should be an integer token id but is ",
             gguf::value_type_name(value->type()));
    }
    const bool is_signed =
        value->type() == gguf::ValueType::INT8 || value->type() == gguf::ValueType::INT16 ||
        value->type() == gguf::ValueType::INT32 || value->type() == gguf::ValueType::INT64;
    if (is_signed && value->as_int() == -1) return;
    if (!is_signed && value->as_uint() == 0xFFFFFFFFull) return;
    if (is_signed && value->as_int() < 0) {
        fail(file.name(), ": ", key, " = ", value->as_int(), " is not a token id");
    }
    const uint64_t id = value->as_uint();
    if (id >= n_tokens) {
        fail(file.name(), ": ", key, " = ", id, " is out of range (the vocabulary has ", n_tokens,
             " tokens)");
    }
    slot = static_cast<TokenId>(id);
}

void read_flag(const gguf::File& file, std::string_view key, bool& flag) {
    const gguf::Value* value = file.find(key);
    if (value == nullptr) return;
    if (value->type() != gguf::ValueType::BOOL) {
        fail(file.name(), ": metadata key ", key, " should be a BOOL but is ",
             gguf::value_type_name(value->type()));
    }
    flag = value->as_bool();
}

// tokenizer.ggml.merges: "left right", split at the first space after the first byte (a token
// text never starts a merge with its separator).
void read_merges(const gguf::File& file, VocabSpec& spec) {
    constexpr std::string_view key = "tokenizer.ggml.merges";
    const gguf::Array* merges = read_array(file, key, false, is_string_type, "STRING");
    if (merges == nullptr) fail(file.name(), ": the BPE vocabulary has no ", key, " array");
    spec.merges.reserve(merges->items.size());
    for (size_t i = 0; i < merges->items.size(); ++i) {
        const std::string& merge = merges->items[i].as_string();
        const size_t space = merge.find(' ', 1);
        if (space == std::string::npos) {
            fail(file.name(), ": ", key, "[", i, "] = '", merge,
                 "' is not two token texts separated by a space");
        }
        spec.merges.emplace_back(merge.substr(0, space), merge.substr(space + 1));
    }
}

}  // namespace

VocabSpec read_vocab_spec(const gguf::File& file) {
    VocabSpec spec;
    spec.origin = file.name();

    const gguf::Value* model = file.find(kModelKey);
    if (model == nullptr)
        fail(file.name(), ": no tokenizer in this file (", kModelKey, " missing)");
    spec.kind = kind_from_model(file, read_string(file, kModelKey));
    spec.model_name = read_string(file, "general.name");
    spec.pre_tokenizer = read_string(file, "tokenizer.ggml.pre");

    const gguf::Array* tokens = read_array(file, kTokensKey, true, is_string_type, "STRING");
    const size_t n_tokens = tokens->items.size();
    if (n_tokens == 0) fail(file.name(), ": ", kTokensKey, " is empty");
    const gguf::Array* scores = read_array(file, kScoresKey, false, is_float_type, "FLOAT32");
    const gguf::Array* types = read_array(file, kTypesKey, false, is_integer_type, "INT32");
    if (scores) check_length(file, kScoresKey, *scores, n_tokens);
    if (types) check_length(file, kTypesKey, *types, n_tokens);

    spec.tokens.resize(n_tokens);
    for (size_t i = 0; i < n_tokens; ++i) {
        TokenData& token = spec.tokens[i];
        token.text = tokens->items[i].as_string();
        token.score = scores ? static_cast<float>(scores->items[i].as_double()) : 0.0f;
        token.attr = types ? attr_from_token_type(types->items[i].as_int()) : kAttrNormal;
    }

    // Defaults the vocabulary is too small for are no token at all.
    spec.special = default_special_tokens(spec.kind);
    for (TokenId* id : {&spec.special.bos, &spec.special.eos, &spec.special.unk, &spec.special.sep,
                        &spec.special.pad, &spec.special.mask}) {
        if (*id != kNoToken && static_cast<size_t>(*id) >= n_tokens) *id = kNoToken;
    }
    const std::pair<std::string_view, TokenId*> special_keys[] = {
        {"tokenizer.ggml.bos_token_id", &spec.special.bos},
        {"tokenizer.ggml.eos_token_id", &spec.special.eos},
        {"tokenizer.ggml.eot_token_id", &spec.special.eot},
        {"tokenizer.ggml.eom_token_id", &spec.special.eom},
        {"tokenizer.ggml.unknown_token_id", &spec.special.unk},
        {"tokenizer.ggml.seperator_token_id", &spec.special.sep},  // sic: the key is misspelled
        {"tokenizer.ggml.padding_token_id", &spec.special.pad},
        {"tokenizer.ggml.mask_token_id", &spec.special.mask},
        {"tokenizer.ggml.fim_pre_token_id", &spec.special.fim_pre},
        {"tokenizer.ggml.fim_suf_token_id", &spec.special.fim_suf},
        {"tokenizer.ggml.fim_mid_token_id", &spec.special.fim_mid},
        {"tokenizer.ggml.fim_pad_token_id", &spec.special.fim_pad},
        {"tokenizer.ggml.fim_rep_token_id", &spec.special.fim_rep},
        {"tokenizer.ggml.fim_sep_token_id", &spec.special.fim_sep},
        // deprecated names, read after the new ones (so they win), as llama.cpp does
        {"tokenizer.ggml.prefix_token_id", &spec.special.fim_pre},
        {"tokenizer.ggml.suffix_token_id", &spec.special.fim_suf},
        {"tokenizer.ggml.middle_token_id", &spec.special.fim_mid},
    };
    for (const auto& [key, slot] : special_keys) read_special_id(file, key, n_tokens, *slot);

    if (spec.kind == VocabKind::Bpe) read_merges(file, spec);
    // BERT files name [CLS] separately; llama.cpp adds it where other vocabularies add BOS.
    if (spec.kind == VocabKind::WordPiece && file.find("tokenizer.ggml.bos_token_id") == nullptr) {
        read_special_id(file, "tokenizer.ggml.cls_token_id", n_tokens, spec.special.bos);
    }

    spec.flags = default_flags(spec.kind);
    if (spec.kind == VocabKind::Bpe) {
        // The pre-tokenizer implies flags (as in llama.cpp); the file's own keys below still win.
        const BpePreset preset = bpe_preset(spec.pre_tokenizer, file.name());
        spec.flags.clean_spaces = preset.clean_spaces;
        spec.flags.ignore_merges = preset.ignore_merges;
        if (preset.add_bos) spec.flags.add_bos = *preset.add_bos;
        if (preset.no_bos) spec.special.bos = kNoToken;
    }
    read_flag(file, "tokenizer.ggml.add_space_prefix", spec.flags.add_space_prefix);
    read_flag(file, "tokenizer.ggml.remove_extra_whitespaces", spec.flags.remove_extra_whitespaces);
    read_flag(file, "tokenizer.ggml.add_bos_token", spec.flags.add_bos);
    read_flag(file, "tokenizer.ggml.add_eos_token", spec.flags.add_eos);
    return spec;
}

std::unique_ptr<Tokenizer> load_tokenizer(const gguf::File& file) {
    return make_tokenizer(load_vocab(file));
}

}  // namespace pocket::tokenizer
