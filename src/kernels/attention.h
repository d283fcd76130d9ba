// Attention and activation kernels of the forward pass, with run-time instruction-set dispatch
// like the matmul kernels (kernels.h): one complete table per Isa, the scalar one the reference.
//
// Unlike the matmul kernels, every SIMD entry here is BIT-IDENTICAL to the scalar reference, not
// merely close: these steps reproduce llama.cpp's CPU numerics (its AVX-512 build), whose order
// of floating-point operations is visible in the logits, so the SIMD code keeps exactly the same
// operations in the same order and only does several of them at once:
//
// - Q·K and the dot products over the F16 KV cache: rows whose length is a multiple of 16 are
//   summed in 16 lanes (lane = element index mod 16) of fused multiply-adds, folded by
//   tree_sum16; other lengths in ggml's F16 dot order (64-wide fused steps, the rest in double).
//   AVX-512 keeps the 16 lanes in one 512-bit register, AVX2 in two 256-bit ones (lanes 0-7,
//   8-15): the same sums either way.
// - P·V: out[d] = sum_j p[j] * v[j][d], the probabilities rounded to F16 first, accumulated in 16
//   lanes by position (lane = position mod 16) of fused multiply-adds and folded by tree_sum16:
//   llama.cpp's tiled GEMM over the padded score row. Every d is independent, so vectorising over
//   d changes nothing.
// - Softmax and SiLU use exp_approx, the exponential of llama.cpp's AVX-512 build (ggml_v_expf),
//   evaluated with the same fused multiply-adds; 2^n scaling is exact or rounds once, as ldexp.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

#include "kernels/kernels.h"
#include "pocket/core/fp16.h"

namespace pocket::kernels {

// A stretch of consecutive positions of the KV cache (one page, or part of one) for pv_rows.
struct PvRun {
    const f16_t* values = nullptr;  // the value row of position first_pos (value_stride apart)
    int64_t n_values = 0;
    int64_t first_pos = 0;
};

struct AttentionOps {
    // out[i] = F16(x[i]), rounding to nearest even (the query before Q·K against the F16 cache).
    void (*to_f16)(const float* x, f16_t* out, int64_t n) = nullptr;

    // Blocks [first_block, first_block + n_blocks) of n_rows rows of a Q8_0 / Q4_0 KV cache as
    // F16 (kernels/kv_rows.h): row r at rows + r * row_bytes, its values at
    // out + r * out_stride. Each value is q * d, exact in F32, rounded to nearest even: the same
    // bits as the type's to_float followed by to_f16, in one pass with no F32 scratch.
    void (*q8_0_rows_to_f16)(const std::byte* rows, size_t row_bytes, int64_t n_rows,
                             int64_t first_block, int64_t n_blocks, f16_t* out,
                             int64_t out_stride) = nullptr;
    void (*q4_0_rows_to_f16)(const std::byte* rows, size_t row_bytes, int64_t n_rows,
                             int64_t first_block, int64_t n_blocks, f16_t* out,
                             int64_t out_stride) = nullptr;

    // Scores of n_q queries against n_keys keys of one head:
    //   scores[i * score_stride + j] = dot(q + i * head_dim, keys + j * key_stride)
    // in the order described above. q and the keys are F16; strides count elements.
    void (*qk)(const f16_t* q, int64_t n_q, const f16_t* keys, int64_t key_stride, int64_t n_keys,
               int64_t head_dim, float* scores, int64_t score_stride) = nullptr;

    // Adds n_values positions (first_pos, first_pos + 1, ...) to the P·V lane accumulators of
    // n_q queries: for query i, with p = F16-rounded probs[i * prob_stride + j] and
    // lane = (first_pos + j) mod 16,
    //   acc[(i * 16 + lane) * head_dim + d] = fma(p, values[j * value_stride + d], that same value)
    // Positions must come in increasing order over calls (the lanes' sums are ordered).
    void (*pv)(const float* probs, int64_t prob_stride, int64_t n_q, const f16_t* values,
               int64_t value_stride, int64_t n_values, int64_t first_pos, int64_t head_dim,
               float* acc) = nullptr;

    // out[d] = tree_sum16 over the 16 lanes acc[l * head_dim + d], for d < head_dim.
    void (*pv_reduce)(const float* acc, int64_t head_dim, float* out) = nullptr;

    // pv over zeroed lanes for every run in order, then pv_reduce, for each of n_q queries, in
    // one call: out[i * out_stride + d], with the probability of position pos at
    // probs[i * prob_stride + pos]. The same bits as those steps; the 16 lanes need not exist in
    // memory (the AVX-512 kernel keeps them in registers). Runs must come in increasing order.
    void (*pv_rows)(const float* probs, int64_t prob_stride, int64_t n_q,
                    std::span<const PvRun> runs, int64_t value_stride, int64_t head_dim, float* out,
                    int64_t out_stride) = nullptr;

    // In-place softmax of scores * scale over a row of n: exponentials (exp_approx of
    // score - max) summed in groups of 16 aligned to the row's start, each group by tree_sum16 and
    // the groups in double; then every entry multiplied by F32(1 / sum). -inf gets probability 0.
    void (*softmax)(float* scores, int64_t n, float scale) = nullptr;

    // ---- tiled attention with an online softmax (model/attention.h drives them) ----
    // Unlike the entries above these do not follow llama.cpp (its non-flash path needs the whole
    // score row); they define their own order, which every SIMD table keeps bit for bit:
    //
    // One step of the online softmax over a tile of n keys for n_q rows (row i at
    // scores + i * score_stride, masked entries -inf). Per row: x = score * scale; new_max =
    // max(row_max, max x); if new_max is -inf (nothing visible yet) the row becomes 0 and
    // rescale = 1; otherwise rescale = exp_approx(row_max - new_max), every entry becomes
    // exp_approx(x - new_max), summed in 16 lanes (lane = index mod 16, added in index order)
    // folded by tree_sum16 into s, and row_sum = fma(row_sum, rescale, s), row_max = new_max.
    void (*softmax_tile)(float* scores, int64_t score_stride, int64_t n_q, int64_t n, float scale,
                         float* row_max, float* row_sum, float* rescale) = nullptr;

    // acc (n_q rows of head_dim F32) = acc * rescale[i], then for each value j in order whose
    // weight p = probs[i * prob_stride + j] is not 0: acc[i][d] = fma(p, values[j][d], acc[i][d]).
    // (Skipping the zero weights of masked positions is part of the definition, so every table
    // gives the same bits whichever rows of a tile are masked.)
    void (*pv_tile)(const float* probs, int64_t prob_stride, int64_t n_q, const f16_t* values,
                    int64_t value_stride, int64_t n_values, int64_t head_dim, const float* rescale,
                    float* acc) = nullptr;

    // Folds one partial result of the online softmax into another (both hold n values):
    // acc[d] = fma(acc[d], ca, part[d] * cb), a single rounding each (so every table agrees).
    void (*fold_acc)(float* acc, const float* part, float ca, float cb, int64_t n) = nullptr;

    // reference::exp_approx of one value (the fold's two rescale factors): the SIMD tables run
    // their vector exponential on it, where the scalar one calls the C library's fma and ldexp.
    float (*exp_approx)(float x) = nullptr;

    // gate[i] = reference::gelu(gate[i]) * (up == nullptr ? 1 : up[i]) for i < n: GELU as ggml
    // evaluates it, through the table of every F16 input (reference::gelu_table).
    void (*gelu_mul)(float* gate, const float* up, int64_t n) = nullptr;

    // gate[i] = gate[i] / (1 + exp_approx(-gate[i])) * up[i] for the whole groups of 16 from the
    // row's start, and with the C library's expf for the rest (as llama.cpp's AVX-512 SiLU).
    void (*silu_mul)(float* gate, const float* up, int64_t n) = nullptr;
};

// The table of the active instruction set (kernels::active_isa()).
const AttentionOps& attention_ops();
// The table of a given instruction set; calling a SIMD entry on a CPU without it is the caller's
// mistake (check isa_supported first).
const AttentionOps& attention_ops(Isa isa);

// Scalar building blocks of the reference, for tests and other scalar code.
namespace reference {
// e^x as llama.cpp's AVX-512 build computes it (range reduction by 2^n, degree-5 polynomial).
float exp_approx(float x);
// Sum of 16 values paired like a 512-bit horizontal add: halves, then quarters, then pairs.
float tree_sum16(const float* v);
// Dot product of two F16 rows in the order described at the top.
float dot_f16(const f16_t* a, const f16_t* b, int64_t n);
// GELU (tanh approximation) as ggml evaluates it: 0 for x <= -10, x for x >= 10, otherwise the
// formula at the F16-rounded input, rounded to F16. gelu_formula evaluates it directly;
// gelu_table()[h] holds it for the F16 value of bits h (built on first use, then immutable), and
// gelu(x) looks it up: the same bits at a few nanoseconds instead of tens.
float gelu_formula(float x);
const float* gelu_table();
float gelu(float x);
}  // namespace reference

}  // namespace pocket::kernels
