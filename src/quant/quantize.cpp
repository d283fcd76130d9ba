#include "pocket/quant/quantize.h"

#include <chrono>
#include <optional>

#include "kernels/importance_quantize.h"
#include "kernels/kernels.h"
#include "plan.h"
#include "pocket/core/error.h"
#include "pocket/core/thread_pool.h"
#include "pocket/quant/imatrix.h"
#include "source.h"

namespace pocket::quant {
namespace {

// Keys llama-quantize drops (split files are written whole) or sets itself.
bool copied_key(std::string_view key) {
    return key != "general.quantization_version" && key != "general.file_type" &&
           key != "split.no" && key != "split.count" && key != "split.tensors.count";
}

void check_output_path(const std::filesystem::path& input, const std::filesystem::path& output) {
    std::error_code ec;
    const auto folder = output.parent_path();
    if (!folder.empty() && !std::filesystem::is_directory(folder, ec))
        fail("output folder '", folder.string(), "' does not exist");
    if (std::filesystem::is_directory(output, ec))
        fail("output '", output.string(), "' is a folder");
    if (std::filesystem::exists(output, ec) && std::filesystem::equivalent(input, output, ec))
        fail("output '", output.string(), "' is the input file");
}

// Converts rows [begin, end) of `src` (type `from`) into `dst` (type `to`) through F32, with the
// importance-weighted quantizer when `importance` (one value per column) is given.
void convert_rows(const gguf::TensorInfo& t, DType to, std::span<const std::byte> src,
                  std::span<std::byte> dst, const std::vector<float>* importance,
                  ThreadPool& pool) {
    const auto cols = static_cast<int64_t>(t.shape[0]);
    const auto rows = static_cast<int64_t>(t.rows());
    const size_t src_row = static_cast<size_t>(*row_bytes(t.type, t.shape[0]));
    const size_t dst_row = static_cast<size_t>(*row_bytes(to, t.shape[0]));
    if (!kernels::has_ops(t.type))
        fail("tensor '", t.name, "': cannot read type ", dtype_name(t.type));
    if (!kernels::has_ops(to)) fail("tensor '", t.name, "': cannot write type ", dtype_name(to));
    const auto to_float = kernels::ops(t.type, kernels::Isa::Scalar).to_float;
    const auto from_float = kernels::ops(to, kernels::Isa::Scalar).from_float_ref;
    pool.parallel_for_balanced(rows, [&](int64_t begin, int64_t end) {
        std::vector<float> values(static_cast<size_t>(cols));
        for (int64_t r = begin; r < end; ++r) {
            const auto ur = static_cast<size_t>(r);
            to_float(src.data() + ur * src_row, values.data(), cols);
            if (importance != nullptr) {
                kernels::quantize_row_with_importance(to, values.data(), importance->data(),
                                                      dst.data() + ur * dst_row, cols);
            } else {
                from_float(values.data(), dst.data() + ur * dst_row, cols);
            }
        }
    });
}

QuantizeResult run(const std::filesystem::path& input, const std::filesystem::path* output,
                   const Scheme& scheme, const QuantizeOptions& options) {
    const auto start = std::chrono::steady_clock::now();
    if (output) check_output_path(input, *output);
    const detail::Source source = detail::Source::open(input);
    QuantizeResult result = detail::plan(source, scheme, options);
    for (size_t i = 0; i < result.tensors.size(); ++i) {
        const auto& t = source.tensor(result.tensors[i].source_index);
        result.input_bytes += t.n_bytes;
        result.n_weights += t.n_elements();
        result.weight_bytes_out += gguf::tensor_bytes(result.tensors[i].to, t.shape);
    }
    if (!output) return result;

    std::optional<ThreadPool> own_pool;
    if (options.threads > 0) own_pool.emplace(options.threads);
    ThreadPool& pool = own_pool ? *own_pool : ThreadPool::global();

    gguf::Writer w;
    for (const auto& kv : source.metadata()) {
        if (copied_key(kv.key)) w.set(kv.key, kv.value);
    }
    w.set("general.quantization_version", uint32_t{2});
    w.set("general.file_type", scheme.file_type);

    // The importance entries the quantizers will use, looked up (and checked) before writing.
    std::vector<std::optional<std::vector<float>>> importances(result.tensors.size());
    if (options.imatrix != nullptr) {
        size_t missing = 0;
        for (size_t i = 0; i < result.tensors.size(); ++i) {
            const TensorPlan& p = result.tensors[i];
            if (p.to == p.from || !kernels::has_importance_quantizer(p.to)) continue;
            auto imp = options.imatrix->importance(p.name);
            if (!imp) {
                ++missing;
                continue;
            }
            if (p.shape.empty() || imp->size() != p.shape[0]) {
                fail("importance matrix entry '", p.name, "' has ", imp->size(),
                     " values, the tensor's rows have ", p.shape.empty() ? 0 : p.shape[0]);
            }
            importances[i] = std::move(imp);
            ++result.n_with_importance;
        }
        if (missing > 0) {
            result.warnings.push_back(cat(missing,
                                          " tensor(s) of importance-weighted types have no "
                                          "entry in the importance matrix; they use the "
                                          "reference quantizer"));
        }
    }

    QuantizeProgress progress{.count = result.tensors.size(), .total_bytes_in = result.input_bytes};
    for (size_t i = 0; i < result.tensors.size(); ++i) {
        const TensorPlan& p = result.tensors[i];
        w.add_tensor(p.name, p.to, p.shape, [&, i, s = p.source_index](std::span<std::byte> out) {
            const auto& t = source.tensor(s);
            std::vector<std::byte> scratch;
            const auto src = source.data(s, scratch);
            if (p.to == t.type) {
                std::copy(src.begin(), src.end(), out.begin());
            } else {
                convert_rows(t, p.to, src, out, importances[i] ? &*importances[i] : nullptr, pool);
            }
            source.release(s);
            progress.index = i + 1;
            progress.name = p.name;
            progress.type = p.to;
            progress.bytes_in += t.n_bytes;
            progress.bytes_out += out.size();
            if (options.progress && !options.progress(progress))
                fail("quantize: cancelled after tensor '", p.name, "'");
        });
    }
    try {
        w.write(*output);
    } catch (const Error& e) {
        fail("quantize '", input.string(), "' -> '", output->string(), "': ", e.what());
    }
    result.output_bytes = std::filesystem::file_size(*output);
    result.seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    return result;
}

}  // namespace

QuantizeResult quantize_model(const std::filesystem::path& input,
                              const std::filesystem::path& output, const Scheme& scheme,
                              const QuantizeOptions& options) {
    return run(input, &output, scheme, options);
}

QuantizeResult plan_quantization(const std::filesystem::path& input, const Scheme& scheme,
                                 const QuantizeOptions& options) {
    return run(input, nullptr, scheme, options);
}

}  // namespace pocket::quant
