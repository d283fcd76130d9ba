// Quantizing a model file: `pocket quantize IN OUT TYPE`, as a library call.
//
// The input is a GGUF file (F32/F16/BF16 weights; quantized weights are accepted and dequantized
// first, with a warning, since that loses quality twice) or a Hugging Face checkpoint folder
// (converted on the fly, tensor by tensor, without an intermediate file). Which tensors are
// quantized and to what follows llama-quantize without an importance matrix: 2-D+ tensors named
// *.weight except norms (and a few small special ones) get the scheme's type changed by the mix
// rules (scheme.h), or the base type with `pure`; rows the chosen type cannot tile fall back to a
// type that can (listed in the result). Metadata is copied unchanged in order, except
// general.quantization_version (2) and general.file_type, which move to the end as llama-quantize's
// gguf_set_val does; tensors are written in llama-quantize's order (see source_order). The output
// is written to a temporary name in the same folder and renamed on success, so a failure never
// leaves a partial file behind.
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <string>
#include <vector>

#include "pocket/core/dtype.h"
#include "pocket/quant/scheme.h"

namespace pocket::quant {

struct QuantizeProgress {
    size_t index = 0;  // tensors done (1-based once one is done)
    size_t count = 0;  // tensors in the model
    std::string_view name{};
    DType type = DType::F32;  // the type it was written in
    uint64_t bytes_in = 0;    // source bytes processed so far
    uint64_t bytes_out = 0;   // bytes written so far
    uint64_t total_bytes_in = 0;
};

class ImportanceMatrix;

struct QuantizeOptions {
    int threads = 0;           // 0: the global pool (physical cores)
    bool pure = false;         // every quantizable matrix gets the scheme's base type (--pure)
    bool keep_output = false;  // output.weight stays as it is (--leave-output-tensor)
    // ECMAScript regexes searched in tensor names; matching tensors are copied unchanged.
    std::vector<std::string> leave_tensors{};
    // Called after each tensor; returning false cancels (pocket::Error, no output file).
    std::function<bool(const QuantizeProgress&)> progress{};
    // false: llama-quantize's tensor order (tensors outside blocks first, then block by block,
    // each group by name), so files match its output byte for byte; true: the source's order.
    bool source_order = false;
    // Per-column importances (quant/imatrix.h; not owned): the types with an importance-weighted
    // quantizer (kernels/importance_quantize.h: all but Q8_0 and the float types) choose their
    // scales by weighted error minimisation for every matrix the file has an entry for.
    const ImportanceMatrix* imatrix = nullptr;
};

struct TensorPlan {
    std::string name;
    std::vector<uint64_t> shape;
    DType from = DType::F32;
    DType to = DType::F32;
    size_t source_index = 0;  // position in the source file
};

struct Fallback {
    std::string name;
    DType wanted;
    DType used;
    int64_t row_length;
};

struct QuantizeResult {
    std::vector<TensorPlan> tensors;  // every tensor, in output order
    std::vector<Fallback> fallbacks;  // rows the wanted type could not tile
    std::vector<std::string> warnings;
    size_t n_with_importance = 0;   // tensors quantized with an importance-matrix entry
    uint64_t input_bytes = 0;       // tensor data of the source
    uint64_t output_bytes = 0;      // the output file
    uint64_t n_weights = 0;         // elements of all tensors
    uint64_t weight_bytes_out = 0;  // tensor data written
    double seconds = 0.0;
    double bits_per_weight() const {
        return n_weights ? 8.0 * static_cast<double>(weight_bytes_out) / n_weights : 0.0;
    }
};

// Quantizes `input` (GGUF file or Hugging Face folder) into `output` under `scheme`. Throws
// pocket::Error (gguf::FormatError for a malformed GGUF) with nothing left at `output`.
QuantizeResult quantize_model(const std::filesystem::path& input,
                              const std::filesystem::path& output, const Scheme& scheme,
                              const QuantizeOptions& options = {});

// The per-tensor types quantize_model would write, without writing (same rules).
QuantizeResult plan_quantization(const std::filesystem::path& input, const Scheme& scheme,
                                 const QuantizeOptions& options = {});

}  // namespace pocket::quant
