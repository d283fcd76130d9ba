// Builds the attention tables once (scalar, then each SIMD set over a copy of the one below it:
// AVX2 and AVX-512 on x86-64, NEON over scalar on AArch64)
// and hands out the active instruction set's table.
#include <array>

#include "kernels/attention_table.h"

namespace pocket::kernels {
namespace {

struct AttentionTables {
    std::array<AttentionOps, std::size(kAllIsas)> by_isa{};

    AttentionTables() {
        AttentionOps table;
        table.to_f16 = scalar_attention::to_f16;
        table.q8_0_rows_to_f16 = scalar_attention::q8_0_rows_to_f16;
        table.q4_0_rows_to_f16 = scalar_attention::q4_0_rows_to_f16;
        table.qk = scalar_attention::qk;
        table.pv = scalar_attention::pv;
        table.pv_reduce = scalar_attention::pv_reduce;
        table.pv_rows = pv_rows_by_lanes<scalar_attention::pv, scalar_attention::pv_reduce>;
        table.softmax = scalar_attention::softmax;
        table.silu_mul = scalar_attention::silu_mul;
        table.softmax_tile = scalar_attention::softmax_tile;
        table.pv_tile = scalar_attention::pv_tile;
        table.fold_acc = scalar_attention::fold_acc;
        table.exp_approx = reference::exp_approx;
        table.gelu_mul = scalar_attention::gelu_mul;
        by_isa[static_cast<size_t>(Isa::Scalar)] = table;
        // Registration may only run where the CPU has the instructions; otherwise the table
        // below is kept (and never used: force_isa refuses unsupported sets).
        // Each architecture's kernels are only compiled for it (see CMakeLists.txt).
        const AttentionOps scalar = table;
#if defined(__x86_64__) || defined(__i386__)
        if (isa_supported(Isa::Avx2)) register_avx2_attention(table);
#endif
        by_isa[static_cast<size_t>(Isa::Avx2)] = table;
#if defined(__x86_64__) || defined(__i386__)
        if (isa_supported(Isa::Avx512)) register_avx512_attention(table);
#endif
        by_isa[static_cast<size_t>(Isa::Avx512)] = table;
        table = scalar;
#if defined(__aarch64__)
        if (isa_supported(Isa::Neon)) register_neon_attention(table);
#endif
        by_isa[static_cast<size_t>(Isa::Neon)] = table;
    }
};

const AttentionTables& tables() {
    static const AttentionTables instance;
    return instance;
}

}  // namespace

const AttentionOps& attention_ops(Isa isa) {
    return tables().by_isa[static_cast<size_t>(isa)];
}

const AttentionOps& attention_ops() {
    return attention_ops(active_isa());
}

}  // namespace pocket::kernels
