/*
 * pocket.h: the C API of libpocket (C99; usable from C, C++, Swift, Kotlin/JNI, Go, Rust, Python).
 *
 * Conventions
 *  - Objects are opaque handles made by a pocket_*_load / _open / _create function and released
 *    by the matching pocket_*_free (which accepts NULL).
 *  - Every function that can fail returns a pocket_status; POCKET_OK is 0. On failure
 *    pocket_last_error() returns a message saying what went wrong, for the calling thread, until
 *    that thread's next failing call. No C++ exception ever crosses this boundary.
 *  - Strings are UTF-8 and NUL-terminated unless a length is passed with them. Strings a function
 *    returns through a pointer belong to the object they came from and stay valid as documented.
 *  - Option structs start with struct_size; fill them with pocket_*_options_init(&o, sizeof o)
 *    (or the header's inline pocket_*_default_options(), which does that) and change the fields
 *    you need. A library built with a newer header accepts older, shorter structs (fields past
 *    struct_size keep their defaults); no struct ever crosses the boundary by value.
 *  - Nothing here reads environment variables: threads, instruction set and the other settings
 *    are passed explicitly.
 *
 * Thread safety (stated per function below, summarised here)
 *  - pocket_model, pocket_adapter, pocket_embedder and pocket_guard are immutable once loaded:
 *    any number of threads may use one at the same time (e.g. one session per thread over one
 *    model).
 *  - A pocket_session or pocket_index is used by one thread at a time, except
 *    pocket_session_cancel, which any thread may call at any time.
 *  - The process-wide settings (pocket_set_threads, pocket_set_isa) are meant for start-up,
 *    before generation begins; they are safe to call at any time but wait for running work.
 *
 * Versioning (docs/C_API.md): POCKET_API_VERSION grows with every addition. Within one major
 * version of the shared library (its SONAME, libpocket.so.0) functions are only added, never
 * removed or changed, and option structs only grow at their end.
 */
#ifndef POCKET_H
#define POCKET_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(_WIN32)
#define POCKET_API __declspec(dllexport)
#elif defined(__GNUC__)
#define POCKET_API __attribute__((visibility("default")))
#else
#define POCKET_API
#endif

/* The API version this header describes. */
#define POCKET_API_VERSION 4

/* ---- Errors and versions --------------------------------------------------------------- */

typedef enum pocket_status {
    POCKET_OK = 0,
    POCKET_ERR_INVALID_ARGUMENT = 1, /* a NULL handle, a bad option value, malformed JSON */
    POCKET_ERR_IO = 2,               /* a file could not be opened or read */
    POCKET_ERR_FORMAT = 3,           /* a file is corrupt, truncated or of an unknown kind */
    POCKET_ERR_UNSUPPORTED = 4,      /* valid, but not supported (architecture, tensor type, ISA) */
    POCKET_ERR_BUFFER_TOO_SMALL = 5, /* the output did not fit; the size needed was returned */
    POCKET_ERR_CONTEXT_FULL = 6,     /* the prompt does not fit in the session's context */
    POCKET_ERR_OUT_OF_MEMORY = 7,
    POCKET_ERR_INTERNAL = 99 /* anything else: pocket_last_error() says what */
} pocket_status;

/* The library's version, "MAJOR.MINOR.PATCH". Thread-safe. */
POCKET_API const char* pocket_version(void);
/* The POCKET_API_VERSION the library was built with (>= the header's means every function the
 * header declares exists). Thread-safe. */
POCKET_API int pocket_api_version(void);
/* The message of the calling thread's last failure ("" when none). Valid until the thread's next
 * call into pocket. Thread-safe (thread-local). */
POCKET_API const char* pocket_last_error(void);
/* A short name for a status: "ok", "invalid argument", ... Thread-safe. */
POCKET_API const char* pocket_status_name(pocket_status status);

/* ---- Process-wide settings ---------------------------------------------------------------- */

/* Threads the kernels run on (the caller counts as one); 0 = the physical cores this process may
 * use. Waits for running work to finish. */
POCKET_API pocket_status pocket_set_threads(int n_threads);
POCKET_API int pocket_threads(void);
/* Instruction set for the kernels: "auto" (the best this CPU has), "scalar", "avx2", "avx512",
 * "neon". POCKET_ERR_UNSUPPORTED when the CPU cannot run it. Results are the same within the
 * tolerances of docs/KERNELS.md whichever is chosen. */
POCKET_API pocket_status pocket_set_isa(const char* isa);
/* The instruction set in use ("scalar", "avx2", "avx512", "neon"). */
POCKET_API const char* pocket_isa(void);

/* ---- Models ------------------------------------------------------------------------------ */

typedef struct pocket_model pocket_model;

typedef struct pocket_model_options {
    size_t struct_size;
    /* Re-lay out Q4_0/Q8_0 weights for the faster interleaved kernels at load time (default 1). */
    int interleave;
} pocket_model_options;

/* Fills the first struct_size bytes of *options with the defaults, struct_size included. Pass
 * sizeof *options; POCKET_ERR_INVALID_ARGUMENT for NULL or a size this library does not know
 * (a header newer than the library). */
POCKET_API pocket_status pocket_model_options_init(pocket_model_options* options, size_t struct_size);
/* The defaults at this header's size: compiled into the caller, so always the caller's layout. */
static inline pocket_model_options pocket_model_default_options(void) {
    pocket_model_options options;
    pocket_model_options_init(&options, sizeof options);
    return options;
}
/* Loads a GGUF file or a Hugging Face model folder (config.json + safetensors + tokenizer.json).
 * options may be NULL. The model is immutable: share it between threads and sessions. */
POCKET_API pocket_status pocket_model_load(const char* path, const pocket_model_options* options,
                                           pocket_model** out_model);
/* Frees the model. Every session made from it must have been freed first (its adapters may be
 * freed before or after it). */
POCKET_API void pocket_model_free(pocket_model* model);

/* Facts about a loaded model. Thread-safe. */
POCKET_API const char* pocket_model_architecture(const pocket_model* model); /* "llama", ... */
POCKET_API const char* pocket_model_name(const pocket_model* model); /* general.name or "" */
POCKET_API int64_t pocket_model_n_params(const pocket_model* model);
POCKET_API int64_t pocket_model_n_ctx_train(const pocket_model* model);
POCKET_API int64_t pocket_model_n_embd(const pocket_model* model);
POCKET_API int32_t pocket_model_n_vocab(const pocket_model* model);
/* Whether the model carries a chat template (pocket_session_chat needs one, or a built-in
 * template pocket knows for its family). */
POCKET_API int pocket_model_has_chat_template(const pocket_model* model);

/* ---- Tokenizer (the model's) ---------------------------------------------------------------- */

/* Token ids of `text` (length bytes; -1: up to its NUL). add_special adds BOS/EOS as the model's
 * vocabulary asks; parse_special lets text such as "<|im_end|>" become its control token.
 * Writes at most `capacity` ids and sets *n_tokens to the number of ids of the whole text; with
 * POCKET_ERR_BUFFER_TOO_SMALL call again with a buffer of *n_tokens. Thread-safe. */
POCKET_API pocket_status pocket_tokenize(const pocket_model* model, const char* text,
                                         int64_t length, int add_special, int parse_special,
                                         int32_t* tokens, size_t capacity, size_t* n_tokens);
/* The text of `n_tokens` ids, NUL-terminated, into `buffer` of `capacity` bytes; *length gets the
 * text's byte length without the NUL (POCKET_ERR_BUFFER_TOO_SMALL when length + 1 > capacity).
 * remove_special != 0: control tokens are left out (and the BOS the vocabulary adds); 0: they are
 * written as their text ("<|im_end|>"). Thread-safe. */
POCKET_API pocket_status pocket_detokenize(const pocket_model* model, const int32_t* tokens,
                                           size_t n_tokens, int remove_special, char* buffer,
                                           size_t capacity, size_t* length);
/* Special token ids, -1 when the vocabulary has none. */
POCKET_API int32_t pocket_token_bos(const pocket_model* model);
POCKET_API int32_t pocket_token_eos(const pocket_model* model);
POCKET_API int pocket_token_is_end_of_generation(const pocket_model* model, int32_t token);

/* ---- Sessions: generation and chat ------------------------------------------------------ */

typedef struct pocket_session pocket_session;

typedef struct pocket_session_options {
    size_t struct_size;
    /* Context length in tokens; 0 = min(the model's training context, 4096). */
    int64_t n_ctx;
    /* Largest number of prompt tokens evaluated in one pass (default 512). */
    int64_t n_batch;
    /* System prompt for pocket_session_chat; NULL or "": none. Copied. */
    const char* system_prompt;
    /* Chat template source (Jinja) to use instead of the model's; NULL: the model's. Copied. */
    const char* chat_template;
    /* API version 2: how the KV cache stores keys and values: "f16" (NULL or ""), "q8_0" (half
     * the memory) or "q4_0" (llama.cpp's --cache-type-k/-v names). Any other name, or a quantized
     * type the model's rows do not fit (n_head_kv * head_dim not a multiple of 32), fails
     * pocket_session_create with POCKET_ERR_INVALID_ARGUMENT. */
    const char* cache_type_k;
    const char* cache_type_v;
} pocket_session_options;

/* Fills the first struct_size bytes of *options with the defaults, struct_size included. Pass
 * sizeof *options; POCKET_ERR_INVALID_ARGUMENT for NULL or a size this library does not know
 * (a header newer than the library). */
POCKET_API pocket_status pocket_session_options_init(pocket_session_options* options, size_t struct_size);
/* The defaults at this header's size: compiled into the caller, so always the caller's layout. */
static inline pocket_session_options pocket_session_default_options(void) {
    pocket_session_options options;
    pocket_session_options_init(&options, sizeof options);
    return options;
}
/* A session owns a KV cache for one conversation over `model` (which must outlive it). Sessions
 * over one model may run on different threads at the same time. options may be NULL. */
POCKET_API pocket_status pocket_session_create(const pocket_model* model,
                                               const pocket_session_options* options,
                                               pocket_session** out_session);
POCKET_API void pocket_session_free(pocket_session* session);

typedef enum pocket_finish_reason {
    POCKET_FINISH_LENGTH = 0,   /* max_tokens reached, or the context is full */
    POCKET_FINISH_EOS = 1,      /* the model ended its answer */
    POCKET_FINISH_STOP = 2,     /* a stop string matched (it is not part of the text) */
    POCKET_FINISH_CANCELLED = 3 /* pocket_session_cancel, or the callback returned non-zero */
} pocket_finish_reason;

typedef struct pocket_generate_options {
    size_t struct_size;
    int64_t max_tokens;     /* < 0: until the context is full (default 256) */
    float temperature;      /* <= 0: greedy (default 0.8) */
    int32_t top_k;          /* <= 0: off (default 40) */
    float top_p;            /* >= 1: off (default 0.95) */
    float min_p;            /* <= 0: off (default 0.05) */
    float repeat_penalty;   /* 1: off (default 1) */
    int32_t repeat_last_n;  /* tokens the penalty looks at; -1: all (default 64) */
    float frequency_penalty;
    float presence_penalty;
    uint64_t seed;          /* POCKET_RANDOM_SEED (default): a fresh one each time */
    const char* const* stop; /* n_stop stop strings (copied) */
    size_t n_stop;
    /* Constrain the output: a GBNF grammar (llama.cpp syntax), or a JSON Schema (JSON text), or
     * json_object != 0 for any JSON object. At most one of the three. */
    const char* grammar;
    const char* json_schema;
    int json_object;
    int ignore_eos;
} pocket_generate_options;

#define POCKET_RANDOM_SEED UINT64_MAX

/* Fills the first struct_size bytes of *options with the defaults, struct_size included. Pass
 * sizeof *options; POCKET_ERR_INVALID_ARGUMENT for NULL or a size this library does not know
 * (a header newer than the library). */
POCKET_API pocket_status pocket_generate_options_init(pocket_generate_options* options, size_t struct_size);
/* The defaults at this header's size: compiled into the caller, so always the caller's layout. */
static inline pocket_generate_options pocket_generate_default_options(void) {
    pocket_generate_options options;
    pocket_generate_options_init(&options, sizeof options);
    return options;
}

/* Receives each piece of generated text (complete UTF-8, not NUL-terminated) as soon as it is
 * final, on the thread that called the generating function. Return 0 to go on, non-zero to stop
 * (the generation ends with POCKET_FINISH_CANCELLED). */
typedef int (*pocket_text_callback)(const char* piece, size_t length, void* user_data);

typedef struct pocket_generation {
    size_t struct_size;
    pocket_finish_reason finish;
    /* The whole generated text, NUL-terminated; owned by the session, valid until its next
     * generating call, reset or free. */
    const char* text;
    size_t text_length;
    int64_t prompt_tokens;
    int64_t reused_tokens; /* prompt tokens already in the cache (not evaluated again) */
    int64_t completion_tokens;
    double prompt_ms;
    double generate_ms;
    uint64_t seed; /* the seed used, to reproduce a run with a random seed */
} pocket_generation;

/* Generates a continuation of `prompt`, the whole text (no chat template; BOS added as the
 * vocabulary asks). When the prompt starts with tokens the session already holds (an earlier
 * prompt and its answer, say), those are not evaluated again. on_text and result may be NULL;
 * result->struct_size must be set. One thread at a time per session. */
POCKET_API pocket_status pocket_session_generate(pocket_session* session, const char* prompt,
                                                 const pocket_generate_options* options,
                                                 pocket_text_callback on_text, void* user_data,
                                                 pocket_generation* result);
/* The same from token ids. */
POCKET_API pocket_status pocket_session_generate_tokens(pocket_session* session,
                                                        const int32_t* tokens, size_t n_tokens,
                                                        const pocket_generate_options* options,
                                                        pocket_text_callback on_text,
                                                        void* user_data,
                                                        pocket_generation* result);
/* One chat turn: adds `user_message` to the conversation, renders it with the model's chat
 * template and generates the assistant's reply, which joins the conversation. A new turn
 * evaluates only its new tokens. */
POCKET_API pocket_status pocket_session_chat(pocket_session* session, const char* user_message,
                                             const pocket_generate_options* options,
                                             pocket_text_callback on_text, void* user_data,
                                             pocket_generation* result);
/* Adds a message to the conversation without generating (role "user", "assistant", "tool"). */
POCKET_API pocket_status pocket_session_add_message(pocket_session* session, const char* role,
                                                    const char* content);
/* The conversation as JSON {"system": ..., "messages": [...]}; valid until the next call on
 * the session. */
POCKET_API const char* pocket_session_conversation_json(pocket_session* session);
/* Forgets the conversation and the cached tokens (the system prompt and the adapters stay). */
POCKET_API pocket_status pocket_session_reset(pocket_session* session);
/* Stops the generation running in `session` after the token in flight. Any thread, any time;
 * a call while nothing runs does not affect the next generation. */
POCKET_API void pocket_session_cancel(pocket_session* session);

/* ---- LoRA adapters (API version 4) --------------------------------------------------------- */

typedef struct pocket_adapter pocket_adapter;

/* Loads a LoRA adapter file (llama.cpp's adapter GGUF layout, as `pocket finetune` writes it)
 * for `model` and checks it against the model: same architecture, every adapted matrix present
 * with the adapter's shapes. POCKET_ERR_IO when the file cannot be read; POCKET_ERR_FORMAT when
 * it is not a LoRA adapter, is damaged, or does not fit the model (another architecture, a
 * matrix the model lacks or of other shapes): pocket_last_error() names the file, the tensor and
 * what does not fit. The adapter is immutable and may be used by any number of sessions of
 * `model` on any threads. It is held by shared ownership: pocket_adapter_free may be called
 * while sessions still use it (they keep it alive until they drop it or are freed). */
POCKET_API pocket_status pocket_adapter_load(const pocket_model* model, const char* path,
                                             pocket_adapter** out_adapter);
POCKET_API void pocket_adapter_free(pocket_adapter* adapter);

/* Replaces the session's adapters by `adapters[0..n)`, each applied without merging as
 * W x + scale * (alpha / rank) * B (A x), the alpha / rank factor 1 when the file's alpha is 0
 * (llama.cpp's --lora-scaled FILE SCALE); scales may be NULL for 1 each, and n = 0 removes every
 * adapter. Every adapter must come from
 * pocket_adapter_load with this session's model (else POCKET_ERR_INVALID_ARGUMENT, as for a
 * NULL entry or a scale that is not finite); on any failure the session is unchanged.
 * The KV cache: keys and values already computed were made with the previous adapters, so a
 * change of adapters drops the cached tokens (the conversation of pocket_session_chat is kept:
 * the next call evaluates its whole prompt again, with the new adapters). Setting the same
 * adapters with the same scales again keeps the cache. One thread at a time per session. */
POCKET_API pocket_status pocket_session_set_adapters(pocket_session* session,
                                                     const pocket_adapter* const* adapters,
                                                     const float* scales, size_t n);

/* ---- Embeddings --------------------------------------------------------------------------- */

typedef struct pocket_embedder pocket_embedder;

/* A static (Model2Vec) embedding folder or an embedding GGUF (BERT-style). Thread-safe once
 * loaded. */
POCKET_API pocket_status pocket_embedder_load(const char* path, pocket_embedder** out_embedder);
POCKET_API void pocket_embedder_free(pocket_embedder* embedder);
POCKET_API size_t pocket_embedder_dim(const pocket_embedder* embedder);
/* The L2-normalised embedding of `text` into `out` (capacity floats, at least dim). */
POCKET_API pocket_status pocket_embed(const pocket_embedder* embedder, const char* text,
                                      float* out, size_t capacity);

/* ---- Local document search (RAG index) ------------------------------------------------------- */

typedef struct pocket_index pocket_index;

typedef enum pocket_search_mode {
    POCKET_SEARCH_HYBRID = 0, /* BM25 and vectors fused (BM25 alone when there is no embedder) */
    POCKET_SEARCH_BM25 = 1,
    POCKET_SEARCH_VECTOR = 2
} pocket_search_mode;

/* Opens (creating it if needed) the index database at `db_path`. embedder may be NULL (lexical
 * search only); when given it must outlive the index, and the index must have been built with
 * the same embedder. */
POCKET_API pocket_status pocket_index_open(const char* db_path, const pocket_embedder* embedder,
                                           pocket_index** out_index);
POCKET_API void pocket_index_free(pocket_index* index);
/* Indexes the files under `folder` (text, Markdown, HTML, PDF...): new and changed files are
 * added, removed ones dropped. *n_chunks (may be NULL) gets the number of chunks written. */
POCKET_API pocket_status pocket_index_add_folder(pocket_index* index, const char* folder,
                                                 size_t* n_chunks);

typedef struct pocket_search_hit {
    const char* path;    /* the document, relative to the indexed folder */
    const char* heading; /* section path, "" when none */
    const char* text;    /* the chunk's text */
    int32_t page;        /* 1-based PDF page where the chunk starts; 0 when not paged */
    double score;        /* the mode's ranking score (higher is better) */
    double relevance;    /* 0..1, comparable across queries */
} pocket_search_hit;

/* The best `k` chunks for `query`, best first, into hits (capacity entries); *n_hits gets how
 * many were written. The strings belong to the index and stay valid until its next search or
 * free. One thread at a time per index. */
POCKET_API pocket_status pocket_index_search(pocket_index* index, const char* query, int k,
                                             pocket_search_mode mode, pocket_search_hit* hits,
                                             size_t capacity, size_t* n_hits);

/* ---- Safety guard ---------------------------------------------------------------------------- */

typedef struct pocket_guard pocket_guard;

/* path NULL or "": the built-in classifier; else a classifier file from `pocket guard train` or
 * a Llama Guard style GGUF. Thread-safe once loaded. */
POCKET_API pocket_status pocket_guard_load(const char* path, pocket_guard** out_guard);
POCKET_API void pocket_guard_free(pocket_guard* guard);

typedef struct pocket_guard_verdict {
    int safe;            /* 1 when the score is below the guard's threshold */
    double score;        /* P(unsafe) in [0, 1] */
    uint32_t categories; /* MLCommons hazard categories: bit n-1 set for S<n> (S1..S14) */
} pocket_guard_verdict;

/* Judges a prompt (response NULL) or a response to a prompt. */
POCKET_API pocket_status pocket_guard_check(const pocket_guard* guard, const char* prompt,
                                            const char* response, pocket_guard_verdict* verdict);

#ifdef __cplusplus
}
#endif

#endif /* POCKET_H */
