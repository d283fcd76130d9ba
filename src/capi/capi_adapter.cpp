// The C API's LoRA adapters (include/pocket.h): loaded once per model, shared by its sessions,
// applied without merging through the session's Context (model::Context::set_loras).
#include <algorithm>
#include <cmath>

#include "capi/capi_internal.h"

using namespace pocket;
using capi::guarded;
using capi::require;
using capi::StatusError;

extern "C" {

pocket_status pocket_adapter_load(const pocket_model* model, const char* path,
                                  pocket_adapter** out_adapter) {
    // What LoraAdapter::load refuses (not an adapter, damaged, another architecture, a matrix
    // the model lacks or of other shapes) is a file that cannot be used: POCKET_ERR_FORMAT.
    return guarded(POCKET_ERR_FORMAT, [&] {
        require(out_adapter, "out_adapter");
        *out_adapter = nullptr;
        require(model, "model");
        capi::require_readable(path, "adapter");
        auto handle = std::make_unique<pocket_adapter>();
        handle->adapter = std::make_shared<const model::LoraAdapter>(
            model::LoraAdapter::load(path, *model->model));
        handle->model_id = model->id;
        *out_adapter = handle.release();
        return POCKET_OK;
    });
}

void pocket_adapter_free(pocket_adapter* adapter) {
    delete adapter;
}

pocket_status pocket_session_set_adapters(pocket_session* session,
                                          const pocket_adapter* const* adapters,
                                          const float* scales, size_t n) {
    return guarded(POCKET_ERR_INVALID_ARGUMENT, [&] {
        require(session, "session");
        if (n > 0) require(adapters, "adapters");
        std::vector<model::AppliedLora> loras;
        loras.reserve(n);
        for (size_t i = 0; i < n; ++i) {
            const pocket_adapter* a = adapters[i];
            if (a == nullptr)
                throw StatusError(POCKET_ERR_INVALID_ARGUMENT, cat("adapter ", i, " is NULL"));
            if (a->model_id != session->model->id) {
                throw StatusError(POCKET_ERR_INVALID_ARGUMENT,
                                  cat("adapter ", i,
                                      " was loaded for another model (load it with "
                                      "pocket_adapter_load for this session's model)"));
            }
            const float scale = scales != nullptr ? scales[i] : 1.0f;
            if (!std::isfinite(scale)) {
                throw StatusError(POCKET_ERR_INVALID_ARGUMENT,
                                  cat("the scale of adapter ", i, " is not finite (", scale, ")"));
            }
            loras.push_back({a->adapter, scale});
        }
        // The same adapters at the same scales leave the cached keys and values valid.
        const auto& current = session->context->loras();
        const bool same = std::ranges::equal(
            current, loras, [](const model::AppliedLora& x, const model::AppliedLora& y) {
                return x.adapter == y.adapter && x.scale == y.scale;
            });
        if (same) return POCKET_OK;
        // Throws, changing nothing, when an adapter does not fit the context's model.
        session->context->set_loras(std::move(loras));
        // Keys and values cached so far were computed with the old adapters: drop them so that
        // no generation mixes the two. The chat conversation stays and is evaluated again.
        session->chat->session().reset();
        return POCKET_OK;
    });
}

}  // extern "C"
