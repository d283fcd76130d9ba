// The C API's version, error reporting and process-wide settings (include/pocket.h).
#include <unistd.h>

#include <cerrno>

#include "capi/capi_internal.h"
#include "kernels/kernels.h"
#include "pocket/core/thread_pool.h"

#ifndef POCKET_VERSION_STRING
#error "POCKET_VERSION_STRING must be defined by the build (CMakeLists.txt)"
#endif

namespace pocket::capi {
namespace {
thread_local std::string t_last_error;
}  // namespace

void set_last_error(std::string message) {
    t_last_error = std::move(message);
}

const char* last_error() {
    return t_last_error.c_str();
}

void require_readable(const char* path, std::string_view what) {
    require(path, what);
    if (access(path, R_OK) != 0) {
        const int error = errno;
        throw StatusError(POCKET_ERR_IO,
                          cat("cannot read ", what, " '", path, "': ", std::strerror(error)));
    }
}

std::atomic<int>& live_models() {
    static std::atomic<int> count{0};
    return count;
}

uint64_t next_model_id() {
    static std::atomic<uint64_t> last{0};
    return last.fetch_add(1) + 1;
}

}  // namespace pocket::capi

using namespace pocket;
using capi::guarded;
using capi::StatusError;

extern "C" {

const char* pocket_version(void) {
    return POCKET_VERSION_STRING;
}

int pocket_api_version(void) {
    return POCKET_API_VERSION;
}

const char* pocket_last_error(void) {
    return capi::last_error();
}

const char* pocket_status_name(pocket_status status) {
    switch (status) {
        case POCKET_OK:
            return "ok";
        case POCKET_ERR_INVALID_ARGUMENT:
            return "invalid argument";
        case POCKET_ERR_IO:
            return "i/o error";
        case POCKET_ERR_FORMAT:
            return "bad file format";
        case POCKET_ERR_UNSUPPORTED:
            return "unsupported";
        case POCKET_ERR_BUFFER_TOO_SMALL:
            return "buffer too small";
        case POCKET_ERR_CONTEXT_FULL:
            return "context full";
        case POCKET_ERR_OUT_OF_MEMORY:
            return "out of memory";
        case POCKET_ERR_INTERNAL:
            return "internal error";
    }
    return "unknown status";
}

pocket_status pocket_set_threads(int n_threads) {
    return guarded(POCKET_ERR_INTERNAL, [&] {
        if (n_threads < 0) {
            throw StatusError(POCKET_ERR_INVALID_ARGUMENT,
                              cat("thread count ", n_threads, " is negative (0 = physical cores)"));
        }
        ThreadPool::set_global_threads(n_threads);
        return POCKET_OK;
    });
}

int pocket_threads(void) {
    try {
        return ThreadPool::global().n_threads();
    } catch (...) {
        return 1;
    }
}

pocket_status pocket_set_isa(const char* isa) {
    return guarded(POCKET_ERR_INTERNAL, [&] {
        capi::require(isa, "isa");
        const std::string_view name = isa;
        kernels::Isa chosen = kernels::best_isa();
        if (name != "auto") {
            bool known = false;
            for (kernels::Isa candidate : {kernels::Isa::Scalar, kernels::Isa::Avx2,
                                           kernels::Isa::Avx512, kernels::Isa::Neon}) {
                if (kernels::isa_name(candidate) == name) {
                    chosen = candidate;
                    known = true;
                }
            }
            if (!known) {
                throw StatusError(POCKET_ERR_INVALID_ARGUMENT,
                                  cat("unknown instruction set '", name,
                                      "' (auto, scalar, avx2, avx512 or neon)"));
            }
            if (!kernels::isa_supported(chosen)) {
                throw StatusError(POCKET_ERR_UNSUPPORTED,
                                  cat("this CPU (or this build) cannot run ", name));
            }
        }
        if (capi::live_models().load() != 0 && chosen != kernels::active_isa()) {
            throw StatusError(POCKET_ERR_INVALID_ARGUMENT,
                              "the instruction set can change only while no model is loaded "
                              "(weights are laid out for the one active at load time)");
        }
        kernels::force_isa(chosen);
        return POCKET_OK;
    });
}

const char* pocket_isa(void) {
    try {
        // isa_name returns views of string literals, so data() is NUL-terminated.
        return kernels::isa_name(kernels::active_isa()).data();
    } catch (...) {
        return "scalar";
    }
}

}  // extern "C"
