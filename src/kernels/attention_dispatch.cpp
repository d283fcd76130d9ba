// Builds the attention tables once (scalar, then each SIMD set over a copy of the one below it)
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
        table.qk = scalar_attention::qk;
        table.pv = scalar_attention::pv;
        table.pv_reduce = scalar_attention::pv_reduce;
        table.softmax = scalar_attention::softmax;
        table.silu_mul = scalar_attention::silu_mul;
        by_isa[static_cast<size_t>(Isa::Scalar)] = table;
        // Registration may only run where the CPU has the instructions; otherwise the table
        // below is kept (and never used: force_isa refuses unsupported sets).
        if (isa_supported(Isa::Avx2)) register_avx2_attention(table);
        by_isa[static_cast<size_t>(Isa::Avx2)] = table;
        if (isa_supported(Isa::Avx512)) register_avx512_attention(table);
        by_isa[static_cast<size_t>(Isa::Avx512)] = table;
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
