// What the C API's translation units share: the handle structs behind the opaque types of
// include/pocket.h, and the one place where C++ exceptions become status codes plus the calling
// thread's error message.
#pragma once

#include <atomic>
#include <cstring>
#include <exception>
#include <filesystem>
#include <memory>
#include <mutex>
#include <new>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "pocket.h"
#include "pocket/core/error.h"
#include "pocket/embed/embedder.h"
#include "pocket/generate/chat.h"
#include "pocket/generate/grammar_constraint.h"
#include "pocket/model/context.h"
#include "pocket/model/lora.h"
#include "pocket/model/model.h"
#include "pocket/rag/retriever.h"
#include "pocket/rag/store.h"
#include "pocket/safety/guard.h"

struct pocket_model {
    std::unique_ptr<pocket::model::Model> model;
    std::string name;  // general.name, or ""
    // Unique within the process and never reused (unlike the handle's address once freed): what
    // an adapter records to be refused by sessions of any other model.
    uint64_t id = 0;
    // The vocabulary index grammar constraints need, built on first use and shared by sessions.
    mutable std::mutex grammar_vocab_mutex;
    mutable std::shared_ptr<const pocket::VocabularyIndex> grammar_vocab;
};

struct pocket_session {
    const pocket_model* model = nullptr;
    std::unique_ptr<pocket::model::Context> context;
    std::unique_ptr<pocket::ChatSession> chat;  // owns the Session on sequence 0 of `context`
    std::string text;                           // the last generation's text
    std::string conversation;                   // pocket_session_conversation_json's buffer
};

// Shared with every session's context that applies it, so freeing the handle early is safe.
struct pocket_adapter {
    std::shared_ptr<const pocket::model::LoraAdapter> adapter;
    uint64_t model_id = 0;  // pocket_model::id of the model it was loaded for
};

struct pocket_embedder {
    std::unique_ptr<pocket::embed::Embedder> embedder;
    std::string path;  // absolute: what an index records as its embedding model
};

struct pocket_index {
    std::unique_ptr<pocket::rag::Store> store;
    const pocket_embedder* embedder = nullptr;
    std::unique_ptr<pocket::rag::Retriever> retriever;  // built on first search, dropped on change
    std::vector<pocket::rag::SearchHit> hits;           // the strings pocket_search_hit points into
};

struct pocket_guard {
    std::unique_ptr<pocket::safety::Guard> guard;
};

namespace pocket::capi {

// An error that already knows its status (a NULL argument, a missing file, a full context).
class StatusError : public Error {
  public:
    StatusError(pocket_status status, const std::string& message)
        : Error(message), status_(status) {}
    pocket_status status() const { return status_; }

  private:
    pocket_status status_;
};

// Records `message` as the calling thread's last error.
void set_last_error(std::string message);

// Throws StatusError(POCKET_ERR_INVALID_ARGUMENT) naming `what` when `pointer` is null.
template <typename T>
void require(const T* pointer, std::string_view what) {
    if (pointer == nullptr) {
        throw StatusError(POCKET_ERR_INVALID_ARGUMENT, cat(what, " is NULL"));
    }
}

// Throws StatusError(POCKET_ERR_IO) when `path` cannot be read, so that a missing file is told
// apart from a corrupt one (which the loaders report as a format error).
void require_readable(const char* path, std::string_view what);

// Option structs grow at their end: a caller built against an older header passes a smaller
// struct_size, and the fields it does not know keep their defaults. Copies what the caller has.
// A caller's struct_size must hold the size field and be no larger than this library's struct
// (a larger one comes from a newer header: its extra fields cannot be honoured, nor skipped).
inline void check_struct_size(size_t struct_size, size_t known) {
    if (struct_size < sizeof(size_t) || struct_size > known) {
        throw StatusError(POCKET_ERR_INVALID_ARGUMENT, cat("options struct_size ", struct_size,
                                                           " is not one this library knows (",
                                                           sizeof(size_t), " to ", known, ")"));
    }
}

template <typename Options>
Options read_options(const Options* given, Options defaults) {
    if (given == nullptr) return defaults;
    check_struct_size(given->struct_size, sizeof(Options));
    std::memcpy(static_cast<void*>(&defaults), given, given->struct_size);
    return defaults;
}

// pocket_*_options_init: the defaults written into the caller's struct, at the caller's size.
template <typename Options>
void init_options(Options* out, size_t struct_size, Options defaults) {
    require(out, "options");
    check_struct_size(struct_size, sizeof(Options));
    defaults.struct_size = struct_size;
    std::memcpy(static_cast<void*>(out), &defaults, struct_size);
}

// Runs `body` (which returns a pocket_status) and turns any exception into a status and the
// thread's error message; `fallback` is the status for a plain pocket::Error.
template <typename Body>
pocket_status guarded(pocket_status fallback, Body&& body) noexcept {
    try {
        return body();
    } catch (const StatusError& e) {
        set_last_error(e.what());
        return e.status();
    } catch (const ContextOverflow& e) {
        set_last_error(e.what());
        return POCKET_ERR_CONTEXT_FULL;
    } catch (const FormatError& e) {
        set_last_error(e.what());
        return POCKET_ERR_FORMAT;
    } catch (const std::bad_alloc&) {
        set_last_error("out of memory");
        return POCKET_ERR_OUT_OF_MEMORY;
    } catch (const std::filesystem::filesystem_error& e) {
        set_last_error(e.what());
        return POCKET_ERR_IO;
    } catch (const std::exception& e) {
        set_last_error(e.what());
        return fallback;
    } catch (...) {
        set_last_error("unknown error");
        return POCKET_ERR_INTERNAL;
    }
}

// Models alive now: the instruction set may change only while there are none, because a model
// lays out its weights for the instruction set active when it was loaded.
std::atomic<int>& live_models();

// A fresh pocket_model::id (1, 2, ...).
uint64_t next_model_id();

}  // namespace pocket::capi
