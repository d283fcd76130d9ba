// Builds the per-instruction-set kernel tables once, detects what the CPU can run, and picks the
// active instruction set (the best supported one, or the one force_isa() chose).
#include <atomic>
#include <cstdlib>
#include <string>

#include "kernels/amx.h"
#include "kernels/kernel_table.h"
#include "pocket/core/error.h"

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#endif
#if (defined(__x86_64__) || defined(__i386__)) && defined(__linux__)
#include <sys/syscall.h>
#include <unistd.h>
#endif

namespace pocket::kernels {
namespace {

constexpr size_t kIsaCount = std::size(kAllIsas);

size_t index_of(Isa isa) {
    return static_cast<size_t>(isa);
}

// Points every entry's to_dot_type at the from_float of its dot_type in the same table, so one
// TypeOps is enough to convert activations and multiply.
void link_dot_types(KernelTable& table) {
    for (auto& ops : table) {
        if (ops.to_float == nullptr) continue;
        const TypeOps& dot = table[static_cast<size_t>(ops.dot_type)];
        ops.to_dot_type = dot.from_float;
    }
}

struct Tables {
    std::array<KernelTable, kIsaCount> by_isa{};

    Tables() {
        KernelTable table{};
        register_scalar_kernels(table);
        link_dot_types(table);
        by_isa[index_of(Isa::Scalar)] = table;
        const KernelTable scalar = table;
        // SIMD registration code may only run on CPUs that have the instructions (it could use
        // them while filling the table); unsupported ISAs keep the table below them. Each
        // architecture's kernels are only compiled for it (see CMakeLists.txt).
#if defined(__x86_64__) || defined(__i386__)
        if (isa_supported(Isa::Avx2)) register_avx2_kernels(table);
#endif
        link_dot_types(table);
        by_isa[index_of(Isa::Avx2)] = table;
#if defined(__x86_64__) || defined(__i386__)
        if (isa_supported(Isa::Avx512)) register_avx512_kernels(table);
#endif
        link_dot_types(table);
        by_isa[index_of(Isa::Avx512)] = table;

        table = scalar;
#if defined(__aarch64__)
        if (isa_supported(Isa::Neon)) register_neon_kernels(table);
#endif
        link_dot_types(table);
        by_isa[index_of(Isa::Neon)] = table;
    }
};

const Tables& tables() {
    static const Tables instance;
    return instance;
}

#if defined(__x86_64__) || defined(__i386__)
// F16C from CPUID leaf 1 (ECX bit 29): clang before 16 rejects "f16c" in __builtin_cpu_supports
// (the fuzz build uses clang). Its instructions use the AVX registers, whose saving by the OS
// the avx2 check below already requires.
bool cpu_has_f16c() {
    unsigned eax = 0, ebx = 0, ecx = 0, edx = 0;
    return __get_cpuid(1, &eax, &ebx, &ecx, &edx) && (ecx & bit_F16C) != 0;
}
#endif

// __builtin_cpu_supports (libgcc/compiler-rt) reports AVX and AVX-512 features only when the OS
// also saves their register state (XCR0 via xgetbv), so a "yes" here means usable.
bool cpu_has_avx2() {
#if defined(__x86_64__) || defined(__i386__)
    return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") && cpu_has_f16c();
#else
    return false;
#endif
}

bool cpu_has_avx512() {
#if defined(__x86_64__) || defined(__i386__)
    // The flags src/kernels/avx512/ is compiled with (see CMakeLists.txt); its kernels use VNNI
    // (vpdpbusd/vpdpwssd on ymm), BF16 (vdpbf16ps), DQ (vextractf32x8) and BW/VL (EVEX ymm16-31).
    return cpu_has_avx2() && __builtin_cpu_supports("avx512f") &&
           __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512vl") &&
           __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512vnni") &&
           __builtin_cpu_supports("avx512bf16");
#else
    return false;
#endif
}

// AMX-TILE and AMX-INT8 (CPUID.7.0:EDX bits 24 and 25), the OS saving the tile state (XCR0 bits 17
// and 18), and Linux's per-process permission for it (arch_prctl ARCH_REQ_XCOMP_PERM, Linux 5.16+):
// without the permission the first tile instruction would kill the process with SIGILL.
bool cpu_has_amx_int8() {
#if (defined(__x86_64__) || defined(__i386__)) && defined(__linux__)
    unsigned eax = 0, ebx = 0, ecx = 0, edx = 0;
    if (!__get_cpuid(1, &eax, &ebx, &ecx, &edx) || (ecx & bit_OSXSAVE) == 0) return false;
    if (!__get_cpuid_count(7, 0, &eax, &ebx, &ecx, &edx)) return false;
    constexpr unsigned kAmxTile = 1u << 24, kAmxInt8 = 1u << 25;
    if ((edx & kAmxTile) == 0 || (edx & kAmxInt8) == 0) return false;
    unsigned xcr0_low = 0, xcr0_high = 0;
    __asm__ volatile("xgetbv" : "=a"(xcr0_low), "=d"(xcr0_high) : "c"(0));
    constexpr unsigned kTileState = (1u << 17) | (1u << 18);
    if ((xcr0_low & kTileState) != kTileState) return false;
    constexpr long kArchReqXcompPerm = 0x1023, kXfeatureXtiledata = 18;
    return syscall(SYS_arch_prctl, kArchReqXcompPerm, kXfeatureXtiledata) == 0;
#else
    return false;
#endif
}

// Advanced SIMD is a mandatory part of ARMv8-A, so every AArch64 CPU has it.
bool cpu_has_neon() {
#if defined(__aarch64__)
    return true;
#else
    return false;
#endif
}

}  // namespace

Isa parse_isa(std::string_view name) {
    for (Isa isa : kAllIsas) {
        if (isa_name(isa) == name) return isa;
    }
    fail("'", name, "' is not an instruction set pocket knows (use scalar, avx2, avx512 or neon)");
}

Isa best_isa() {
    if (isa_supported(Isa::Avx512)) return Isa::Avx512;
    if (isa_supported(Isa::Avx2)) return Isa::Avx2;
    if (isa_supported(Isa::Neon)) return Isa::Neon;
    return Isa::Scalar;
}

namespace {

// -1 until first use; then the index of the active Isa.
std::atomic<int> g_active{-1};

}  // namespace

std::string_view isa_name(Isa isa) {
    switch (isa) {
        case Isa::Scalar:
            return "scalar";
        case Isa::Avx2:
            return "avx2";
        case Isa::Avx512:
            return "avx512";
        case Isa::Neon:
            return "neon";
    }
    return "unknown";
}

bool isa_supported(Isa isa) {
    switch (isa) {
        case Isa::Scalar:
            return true;
        case Isa::Avx2: {
            static const bool ok = cpu_has_avx2();
            return ok;
        }
        case Isa::Avx512: {
            static const bool ok = cpu_has_avx512();
            return ok;
        }
        case Isa::Neon:
            return cpu_has_neon();
    }
    return false;
}

bool amx_supported() {
    static const bool ok = isa_supported(Isa::Avx512) && cpu_has_amx_int8();
    return ok;
}

bool cpu_is_amd() {
#if defined(__x86_64__) || defined(__i386__)
    static const bool amd = __builtin_cpu_is("amd");
    return amd;
#else
    return false;
#endif
}

namespace {

std::atomic<bool> g_amx_wanted{true};

}  // namespace

void set_amx_enabled(bool enabled) {
    g_amx_wanted.store(enabled, std::memory_order_relaxed);
}

bool amx_enabled() {
    return g_amx_wanted.load(std::memory_order_relaxed) && amx_supported();
}

bool amx_active() {
    return amx_enabled() && active_isa() == Isa::Avx512;
}

Isa active_isa() {
    int current = g_active.load(std::memory_order_acquire);
    if (current < 0) {
        int expected = -1;
        const int chosen = static_cast<int>(best_isa());
        // Another thread (or force_isa) may have won the race; keep its choice.
        g_active.compare_exchange_strong(expected, chosen, std::memory_order_acq_rel);
        current = g_active.load(std::memory_order_acquire);
    }
    return static_cast<Isa>(current);
}

void force_isa(Isa isa) {
    if (!isa_supported(isa))
        fail("cannot force instruction set ", isa_name(isa), ": this CPU lacks it");
    g_active.store(static_cast<int>(isa), std::memory_order_release);
}

const TypeOps& ops(DType type, Isa isa) {
    const auto id = static_cast<size_t>(type);
    if (id < kMaxTypeId) {
        const TypeOps& entry = tables().by_isa[index_of(isa)][id];
        if (entry.to_float != nullptr) return entry;
    }
    fail("no ", isa_name(isa), " kernels for tensor type ", dtype_name(type), " (id ", id, ")");
}

const TypeOps& ops(DType type) {
    return ops(type, active_isa());
}

bool has_ops(DType type) {
    const auto id = static_cast<size_t>(type);
    return id < kMaxTypeId && tables().by_isa[index_of(Isa::Scalar)][id].to_float != nullptr;
}

size_t activation_row_bytes(const TypeOps& weight_ops, int64_t k) {
    const auto bytes =
        k >= 0 ? row_bytes(weight_ops.dot_type, static_cast<uint64_t>(k)) : std::nullopt;
    if (!bytes) {
        fail("activation row of ", k, " values does not fit whole ",
             dtype_name(weight_ops.dot_type), " blocks (weights are ", dtype_name(weight_ops.type),
             ")");
    }
    return static_cast<size_t>(*bytes);
}

void convert_activations(const TypeOps& weight_ops, int64_t k, const float* x, size_t x_stride,
                         int64_t n_rows, void* out, size_t out_row_bytes) {
    const size_t needed = activation_row_bytes(weight_ops, k);
    if (out_row_bytes < needed) {
        fail("convert_activations: output rows of ", out_row_bytes, " bytes, ", needed,
             " needed for ", k, " values of ", dtype_name(weight_ops.dot_type));
    }
    auto* dst = static_cast<std::byte*>(out);
    for (int64_t r = 0; r < n_rows; ++r) {
        weight_ops.to_dot_type(x + r * x_stride, dst + r * out_row_bytes, k);
    }
}

void matmul_rows(const TypeOps& ops, int64_t k, const void* w, size_t w_row_bytes, const void* act,
                 size_t act_row_bytes, int64_t n_tokens, float* y, size_t y_stride,
                 int64_t row_begin, int64_t row_end) {
    if (ops.vec_dot == nullptr) fail("matmul_rows: ", dtype_name(ops.type), " has no dot product");
    if (row_begin >= row_end || n_tokens <= 0) return;
    // Prompt processing: the tiled kernel reuses each weight block across several tokens.
    if (n_tokens > 1 && ops.matmul != nullptr) {
        ops.matmul(k, w, w_row_bytes, act, act_row_bytes, n_tokens, y, y_stride, row_begin,
                   row_end);
        return;
    }
    // Generation: several rows per call share the activation loads.
    if (n_tokens == 1 && ops.matvec != nullptr) {
        ops.matvec(k, w, w_row_bytes, act, act_row_bytes, n_tokens, y, y_stride, row_begin,
                   row_end);
        return;
    }
    const auto* w_bytes = static_cast<const std::byte*>(w);
    const auto* a_bytes = static_cast<const std::byte*>(act);
    // Weight row outermost: it is the larger operand, so each row is read from memory once and
    // stays in cache while it meets every token.
    for (int64_t r = row_begin; r < row_end; ++r) {
        const std::byte* row = w_bytes + r * w_row_bytes;
        for (int64_t t = 0; t < n_tokens; ++t) {
            y[t * y_stride + r] = ops.vec_dot(k, row, a_bytes + t * act_row_bytes);
        }
    }
}

}  // namespace pocket::kernels
