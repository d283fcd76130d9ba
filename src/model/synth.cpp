#include "model/synth.h"

#include <array>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <numbers>

#include "kernels/kernels.h"
#include "pocket/core/error.h"
#include "pocket/core/rng.h"
#include "pocket/core/thread_pool.h"
#include "pocket/gguf/gguf.h"
#include "pocket/model/rope_scaling.h"

namespace pocket::model {
namespace {

// Shapes from the models' published config.json files. The first three are written as the llama
// architecture (qwen2's q/k/v biases arrive with the qwen2 architecture); qwen3-0.6b as qwen3,
// gemma-3-1b as gemma3.
constexpr std::array kShapes = {
    SynthShape{.name = "smollm2-135m",
               .description = "SmolLM2-135M (HuggingFaceTB)",
               .n_vocab = 49152,
               .n_embd = 576,
               .n_layer = 30,
               .n_head = 9,
               .n_head_kv = 3,
               .head_dim = 64,
               .n_ff = 1536,
               .n_ctx_train = 8192,
               .rope_freq_base = 100000.0f,
               .norm_eps = 1e-5f,
               .tied_output = true},
    SynthShape{.name = "qwen2.5-0.5b",
               .description = "Qwen2.5-0.5B shape (as llama architecture, without q/k/v biases)",
               .n_vocab = 151936,
               .n_embd = 896,
               .n_layer = 24,
               .n_head = 14,
               .n_head_kv = 2,
               .head_dim = 64,
               .n_ff = 4864,
               .n_ctx_train = 32768,
               .rope_freq_base = 1000000.0f,
               .norm_eps = 1e-6f,
               .tied_output = true},
    SynthShape{.name = "llama-3.2-1b",
               .description = "Llama-3.2-1B (Meta)",
               .n_vocab = 128256,
               .n_embd = 2048,
               .n_layer = 16,
               .n_head = 32,
               .n_head_kv = 8,
               .head_dim = 64,
               .n_ff = 8192,
               .n_ctx_train = 131072,
               .rope_freq_base = 500000.0f,
               .norm_eps = 1e-5f,
               .tied_output = true,
               .llama3_rope_factor = 32.0f,
               .llama3_low_freq_factor = 1.0f,
               .llama3_high_freq_factor = 4.0f,
               .llama3_original_ctx = 8192},
    SynthShape{.name = "qwen3-0.6b",
               .description = "Qwen3-0.6B (Alibaba)",
               .n_vocab = 151936,
               .n_embd = 1024,
               .n_layer = 28,
               .n_head = 16,
               .n_head_kv = 8,
               .head_dim = 128,
               .n_ff = 3072,
               .n_ctx_train = 40960,
               .rope_freq_base = 1000000.0f,
               .norm_eps = 1e-6f,
               .tied_output = true,
               .arch = "qwen3"},
    SynthShape{.name = "gemma-3-1b",
               .description = "Gemma-3-1B (Google)",
               .n_vocab = 262144,
               .n_embd = 1152,
               .n_layer = 26,
               .n_head = 4,
               .n_head_kv = 1,
               .head_dim = 256,
               .n_ff = 6912,
               .n_ctx_train = 32768,
               .rope_freq_base = 1000000.0f,
               .norm_eps = 1e-6f,
               .tied_output = true,
               .arch = "gemma3",
               .sliding_window = 512},
    SynthShape{.name = "tiny",
               .description = "a small llama for tests (not a published model)",
               .n_vocab = 1024,
               .n_embd = 128,
               .n_layer = 2,
               .n_head = 4,
               .n_head_kv = 2,
               .head_dim = 32,
               .n_ff = 256,
               .n_ctx_train = 2048,
               .rope_freq_base = 10000.0f,
               .norm_eps = 1e-5f,
               .tied_output = false},
};

// One generator per (tensor, row) so rows can be produced in parallel and in any order while the
// file stays a pure function of the seed.
Rng row_rng(uint64_t seed, uint64_t tensor_index, uint64_t row) {
    SplitMix64 mix(seed ^ (tensor_index * 0x9e3779b97f4a7c15ULL));
    const uint64_t base = mix.next();
    return Rng(base + row * 0xd1b54a32d192ed03ULL);
}

void fill_normal(Rng& rng, float* out, int64_t n, float mean, float sigma) {
    for (int64_t i = 0; i < n; i += 2) {
        // Box-Muller: two independent normals from two uniforms.
        const double u1 = 1.0 - rng.uniform01();  // (0, 1]
        const double u2 = rng.uniform01();
        const double r = std::sqrt(-2.0 * std::log(u1));
        out[i] = mean + sigma * static_cast<float>(r * std::cos(2.0 * std::numbers::pi * u2));
        if (i + 1 < n)
            out[i + 1] =
                mean + sigma * static_cast<float>(r * std::sin(2.0 * std::numbers::pi * u2));
    }
}

}  // namespace

std::span<const SynthShape> synth_shapes() {
    return kShapes;
}

std::vector<float> llama3_rope_factors(const SynthShape& shape) {
    if (!(shape.llama3_rope_factor > 0.0f)) return {};
    return llama3_rope_factors(shape.rope_freq_base, shape.head_dim,
                               {.factor = shape.llama3_rope_factor,
                                .low_freq_factor = shape.llama3_low_freq_factor,
                                .high_freq_factor = shape.llama3_high_freq_factor,
                                .original_context = shape.llama3_original_ctx});
}

const SynthShape* find_synth_shape(std::string_view name) {
    for (const auto& s : kShapes) {
        if (s.name == name) return &s;
    }
    return nullptr;
}

SynthVocab make_synth_vocab(int64_t n_vocab) {
    if (n_vocab < 3 + 256 + 1) fail("a synthetic vocabulary needs at least 260 tokens");
    SynthVocab v;
    auto add = [&](std::string text, int32_t type) {
        v.scores.push_back(type == 1 ? -static_cast<float>(v.tokens.size()) : 0.0f);
        v.tokens.push_back(std::move(text));
        v.types.push_back(type);
    };
    add("<unk>", 2);
    add("<s>", 3);
    add("</s>", 3);
    for (int b = 0; b < 256; ++b) {
        char buf[8];
        std::snprintf(buf, sizeof buf, "<0x%02X>", b);
        add(buf, 6);
    }
    const std::string space = "\xe2\x96\x81";  // U+2581, SentencePiece's word boundary
    add(space, 1);
    // Single printable characters, then letter n-grams with and without a leading boundary, until
    // the vocabulary is full. Every piece is the concatenation of two shorter pieces, so the
    // SentencePiece merges can reach all of them.
    for (char c = 0x21; c < 0x7f && static_cast<int64_t>(v.tokens.size()) < n_vocab; ++c)
        add(std::string(1, c), 1);
    for (char c = 0x21; c < 0x7f && static_cast<int64_t>(v.tokens.size()) < n_vocab; ++c)
        add(space + c, 1);
    std::vector<std::string> grams = {""};
    while (static_cast<int64_t>(v.tokens.size()) < n_vocab) {
        std::vector<std::string> longer;
        for (const auto& g : grams) {
            for (char c = 'a'; c <= 'z'; ++c) longer.push_back(g + c);
        }
        for (const auto& g : longer) {
            if (g.size() < 2) continue;
            if (static_cast<int64_t>(v.tokens.size()) < n_vocab) add(g, 1);
            if (static_cast<int64_t>(v.tokens.size()) < n_vocab) add(space + g, 1);
        }
        grams = std::move(longer);
    }
    return v;
}

SynthResult write_synth_model(const SynthShape& requested, const SynthOptions& options,
                              const std::filesystem::path& path) {
    SynthShape shape = requested;  // the vocabulary size may follow a real token list
    const SynthShape& s = shape;
    const quant::Scheme& scheme = options.scheme;
    gguf::Writer w;
    if (s.arch != "llama" && s.arch != "qwen3" && s.arch != "gemma3") {
        fail("synth: shape '", s.name, "' has architecture '", s.arch,
             "', not llama, qwen3 or gemma3");
    }
    const std::string arch(s.arch);
    const bool gemma = arch == "gemma3";
    const bool qk_norm = gemma || arch == "qwen3";
    auto key = [&](std::string_view suffix) { return cat(arch, ".", suffix); };
    w.set("general.architecture", arch);
    w.set("general.name", cat("synth-", s.name));
    w.set("general.description",
          cat("random weights (seed ", options.seed, ") in the shape of ", s.description));
    w.set("general.file_type", scheme.file_type);
    w.set("general.quantization_version", uint32_t{2});
    w.set(key("vocab_size"), static_cast<uint32_t>(s.n_vocab));
    w.set(key("context_length"), static_cast<uint32_t>(s.n_ctx_train));
    w.set(key("embedding_length"), static_cast<uint32_t>(s.n_embd));
    w.set(key("block_count"), static_cast<uint32_t>(s.n_layer));
    w.set(key("feed_forward_length"), static_cast<uint32_t>(s.n_ff));
    w.set(key("attention.head_count"), static_cast<uint32_t>(s.n_head));
    w.set(key("attention.head_count_kv"), static_cast<uint32_t>(s.n_head_kv));
    w.set(key("attention.key_length"), static_cast<uint32_t>(s.head_dim));
    w.set(key("attention.value_length"), static_cast<uint32_t>(s.head_dim));
    w.set(key("rope.dimension_count"), static_cast<uint32_t>(s.head_dim));
    w.set(key("rope.freq_base"), s.rope_freq_base);
    w.set(key("attention.layer_norm_rms_epsilon"), s.norm_eps);
    if (gemma) w.set(key("attention.sliding_window"), static_cast<uint32_t>(s.sliding_window));

    if (options.vocabulary) {
        options.vocabulary(w, s.n_vocab);
        const gguf::Value* tokens = w.get("tokenizer.ggml.tokens");
        const auto* list = tokens ? std::get_if<gguf::Array>(&tokens->v) : nullptr;
        if (list == nullptr || list->items.empty())
            fail("synth: the vocabulary writer left no tokenizer.ggml.tokens");
        shape.n_vocab = static_cast<int64_t>(list->items.size());
        w.set(key("vocab_size"), static_cast<uint32_t>(shape.n_vocab));
    } else {
        SynthVocab vocab = make_synth_vocab(s.n_vocab);
        gguf::Array tokens{gguf::ValueType::STRING, {}}, scores{gguf::ValueType::FLOAT32, {}},
            types{gguf::ValueType::INT32, {}};
        for (size_t i = 0; i < vocab.tokens.size(); ++i) {
            tokens.items.emplace_back(std::move(vocab.tokens[i]));
            scores.items.emplace_back(vocab.scores[i]);
            types.items.emplace_back(vocab.types[i]);
        }
        w.set("tokenizer.ggml.model", std::string("llama"));
        w.set("tokenizer.ggml.tokens", std::move(tokens));
        w.set("tokenizer.ggml.scores", std::move(scores));
        w.set("tokenizer.ggml.token_type", std::move(types));
        w.set("tokenizer.ggml.bos_token_id", uint32_t{1});
        w.set("tokenizer.ggml.eos_token_id", uint32_t{2});
        w.set("tokenizer.ggml.unknown_token_id", uint32_t{0});
        w.set("tokenizer.ggml.add_bos_token", true);
        w.set("tokenizer.ggml.add_eos_token", false);
    }

    SynthResult result;
    uint64_t tensor_index = 0;
    auto add_matrix = [&](const std::string& name, quant::TensorRole role, int64_t layer,
                          int64_t cols, int64_t rows, float sigma) {
        const DType type = quant::choose_type(scheme, role, layer, s.n_layer, cols, s.tied_output);
        if (type != scheme.base) result.other_types.emplace_back(name, type);
        const uint64_t index = tensor_index++;
        const size_t row_size = static_cast<size_t>(*row_bytes(type, static_cast<uint64_t>(cols)));
        result.n_params += static_cast<uint64_t>(cols * rows);
        const uint64_t seed = options.seed;
        w.add_tensor(name, type, {static_cast<uint64_t>(cols), static_cast<uint64_t>(rows)},
                     [=](std::span<std::byte> out) {
                         const auto from_float = kernels::ops(type).from_float_ref;
                         ThreadPool::global().parallel_for(rows, [&](int64_t begin, int64_t end) {
                             std::vector<float> values(static_cast<size_t>(cols));
                             for (int64_t r = begin; r < end; ++r) {
                                 Rng rng = row_rng(seed, index, static_cast<uint64_t>(r));
                                 fill_normal(rng, values.data(), cols, 0.0f, sigma);
                                 from_float(values.data(),
                                            out.data() + static_cast<size_t>(r) * row_size, cols);
                             }
                         });
                     });
    };
    auto add_vector = [&](const std::string& name, std::vector<float> values) {
        ++tensor_index;
        result.n_params += values.size();
        std::vector<std::byte> bytes(values.size() * sizeof(float));
        std::memcpy(bytes.data(), values.data(), bytes.size());
        w.add_tensor(name, DType::F32, {values.size()}, std::move(bytes));
    };
    auto norm_weights = [&](int64_t n, uint64_t salt) {
        std::vector<float> v(static_cast<size_t>(n));
        Rng rng = row_rng(options.seed, 1u << 30, salt);
        fill_normal(rng, v.data(), n, 1.0f, 0.05f);
        return v;
    };

    // Scales keep activations O(1) through the layers so the numbers stay finite at any depth.
    const float in_sigma = 1.0f / std::sqrt(static_cast<float>(s.n_embd));
    const float ff_sigma = 1.0f / std::sqrt(static_cast<float>(s.n_ff));
    using quant::TensorRole;
    // Gemma multiplies the embeddings by sqrt(n_embd): rows of that scale's inverse stay O(1).
    add_matrix("token_embd.weight", TensorRole::TokenEmbedding, 0, s.n_embd, s.n_vocab,
               gemma ? in_sigma : 1.0f);
    add_vector("output_norm.weight", norm_weights(s.n_embd, 0));
    if (!s.tied_output)
        add_matrix("output.weight", TensorRole::Output, 0, s.n_embd, s.n_vocab, in_sigma);
    if (s.llama3_rope_factor > 0.0f) add_vector("rope_freqs.weight", llama3_rope_factors(s));
    for (int64_t il = 0; il < s.n_layer; ++il) {
        const std::string p = cat("blk.", il, ".");
        add_vector(p + "attn_norm.weight", norm_weights(s.n_embd, 2 * il + 1));
        add_matrix(p + "attn_q.weight", TensorRole::AttnQ, il, s.n_embd, s.n_head * s.head_dim,
                   in_sigma);
        add_matrix(p + "attn_k.weight", TensorRole::AttnK, il, s.n_embd, s.n_head_kv * s.head_dim,
                   in_sigma);
        add_matrix(p + "attn_v.weight", TensorRole::AttnV, il, s.n_embd, s.n_head_kv * s.head_dim,
                   in_sigma);
        add_matrix(p + "attn_output.weight", TensorRole::AttnOutput, il, s.n_head * s.head_dim,
                   s.n_embd, 1.0f / std::sqrt(static_cast<float>(s.n_head * s.head_dim)));
        // Qwen 3's and Gemma 3's extra norms (salts past the ones above, so the others keep
        // their values).
        const uint64_t salt = 2 * static_cast<uint64_t>(s.n_layer) + 4 * il + 1;
        if (qk_norm) {
            add_vector(p + "attn_q_norm.weight", norm_weights(s.head_dim, salt));
            add_vector(p + "attn_k_norm.weight", norm_weights(s.head_dim, salt + 1));
        }
        if (gemma) add_vector(p + "post_attention_norm.weight", norm_weights(s.n_embd, salt + 2));
        add_vector(p + "ffn_norm.weight", norm_weights(s.n_embd, 2 * il + 2));
        add_matrix(p + "ffn_gate.weight", TensorRole::FfnGate, il, s.n_embd, s.n_ff, in_sigma);
        add_matrix(p + "ffn_up.weight", TensorRole::FfnUp, il, s.n_embd, s.n_ff, in_sigma);
        add_matrix(p + "ffn_down.weight", TensorRole::FfnDown, il, s.n_ff, s.n_embd, ff_sigma);
        if (gemma) add_vector(p + "post_ffw_norm.weight", norm_weights(s.n_embd, salt + 3));
    }
    w.write(path);
    result.file_bytes = std::filesystem::file_size(path);
    return result;
}

SynthResult write_synth_like(const std::filesystem::path& teacher_path, const LikeShape& like,
                             SynthOptions options, const std::filesystem::path& path) {
    const gguf::File teacher = gguf::File::open(teacher_path);
    const std::string arch = teacher.get_string("general.architecture").value_or("");
    auto get = [&](std::string_view suffix) -> std::optional<int64_t> {
        return teacher.get_int(cat(arch, ".", suffix));
    };
    auto required = [&](std::string_view suffix) {
        const auto v = get(suffix);
        if (!v || *v <= 0)
            fail("synth --like: ", teacher_path.string(), " has no positive ", arch, ".", suffix);
        return *v;
    };
    const gguf::Array* tokens = teacher.get_array("tokenizer.ggml.tokens");
    if (tokens == nullptr || tokens->items.empty())
        fail("synth --like: ", teacher_path.string(), " carries no tokenizer.ggml.tokens");

    auto pick = [](int64_t chosen, int64_t fallback) { return chosen > 0 ? chosen : fallback; };
    const int64_t t_embd = required("embedding_length"), t_head = required("attention.head_count");
    const int64_t n_embd = pick(like.n_embd, t_embd), n_head = pick(like.n_head, t_head);
    int64_t head_dim = like.head_dim;
    if (head_dim <= 0) {
        const bool same_split = like.n_embd <= 0 && like.n_head <= 0;
        const auto t_key = get("attention.key_length");
        head_dim = same_split && t_key ? *t_key : n_embd / n_head;
        if (!(same_split && t_key) && n_embd % n_head != 0)
            fail("synth --like: n_embd ", n_embd, " does not split into ", n_head,
                 " heads (give --head-dim)");
    }
    const int64_t t_head_kv = get("attention.head_count_kv").value_or(t_head);
    const int64_t n_head_kv =
        pick(like.n_head_kv, t_head_kv > 0 && n_head % t_head_kv == 0 ? t_head_kv : n_head);
    if (n_head_kv <= 0 || n_head % n_head_kv != 0)
        fail("synth --like: ", n_head, " heads do not share ", n_head_kv, " KV heads evenly");

    // The shape's names are views: these strings outlive the write below.
    const std::string name = cat("like-", teacher_path.stem().string());
    const std::string description =
        cat("a smaller model with the vocabulary of ", teacher_path.filename().string());
    SynthShape shape{
        .name = name,
        .description = description,
        .n_vocab = static_cast<int64_t>(tokens->items.size()),
        .n_embd = n_embd,
        .n_layer = pick(like.n_layer, required("block_count")),
        .n_head = n_head,
        .n_head_kv = n_head_kv,
        .head_dim = head_dim,
        .n_ff = pick(like.n_ff, required("feed_forward_length")),
        .n_ctx_train = get("context_length").value_or(2048),
        .rope_freq_base =
            static_cast<float>(teacher.get_float(cat(arch, ".rope.freq_base")).value_or(10000.0)),
        .norm_eps = static_cast<float>(
            teacher.get_float(cat(arch, ".attention.layer_norm_rms_epsilon")).value_or(1e-5)),
        .tied_output = teacher.find_tensor("output.weight") == nullptr,
    };
    options.vocabulary = [&teacher](gguf::Writer& w, int64_t) {
        for (const auto& kv : teacher.metadata()) {
            if (kv.key.starts_with("tokenizer.")) w.set(kv.key, kv.value);
        }
    };
    return write_synth_model(shape, options, path);
}

}  // namespace pocket::model
