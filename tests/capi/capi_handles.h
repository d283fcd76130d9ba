// RAII handles for C API objects in the C API tests: each checks its creation with EXPECT (the
// last error text on failure) and frees the object at scope exit.
#pragma once

#include <gtest/gtest.h>

#include <string>

#include "pocket.h"
#include "support/test_support.h"

namespace pocket::test {

inline std::string stories_path() {
    return shared_path("models/stories260K.gguf").string();
}

struct ModelHandle {
    pocket_model* model = nullptr;
    explicit ModelHandle(const std::string& path) {
        const pocket_status status = pocket_model_load(path.c_str(), nullptr, &model);
        EXPECT_EQ(status, POCKET_OK) << pocket_last_error();
    }
    ~ModelHandle() { pocket_model_free(model); }
    ModelHandle(const ModelHandle&) = delete;
    ModelHandle& operator=(const ModelHandle&) = delete;
};

struct SessionHandle {
    pocket_session* session = nullptr;
    explicit SessionHandle(const pocket_model* model,
                           const pocket_session_options* options = nullptr) {
        const pocket_status status = pocket_session_create(model, options, &session);
        EXPECT_EQ(status, POCKET_OK) << pocket_last_error();
    }
    ~SessionHandle() { pocket_session_free(session); }
    SessionHandle(const SessionHandle&) = delete;
    SessionHandle& operator=(const SessionHandle&) = delete;
};

}  // namespace pocket::test
