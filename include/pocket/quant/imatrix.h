// Importance matrices: for every weight matrix, the mean square of each input column over a
// calibration text. Quantizers weight a column's rounding error by it, so the columns the model
// actually drives hard are kept more exactly.
//
// Collection and the file follow llama.cpp's `llama-imatrix` (legacy .dat format), so files are
// interchangeable both ways:
//   int32 n_entries
//   n_entries x { int32 name_len, name bytes, int32 ncall, int32 n_values,
//                 float values[n_values] = (sum of x^2 / rows seen) * ncall }
//   int32 chunks processed, int32 dataset_len, dataset bytes   (both optional when reading)
// (all little-endian). A reader divides the values by ncall to get the mean square per column.
// Like llama-imatrix, only products of at least 16 rows (prompt batches, not single tokens) are
// collected, for the `blk.*` matrices and, when asked, `output.weight`.
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "pocket/model/matmul_observer.h"
#include "pocket/model/model.h"

namespace pocket::quant {

class ImportanceMatrix {
  public:
    struct Entry {
        std::vector<float> sum_squares;  // per column: sum of x^2 over the rows seen
        int64_t rows = 0;                // activation rows added
        int32_t ncall = 0;               // products observed (llama.cpp's ncall)
    };

    // Adds n_rows rows of n_cols activations (the input of one product with matrix `name`).
    // Throws pocket::Error if `name` was seen with a different width.
    void add(std::string_view name, const float* x, int64_t n_rows, int64_t n_cols);

    // The mean square of each input column of `name`, or nullopt if the matrix was never seen.
    std::optional<std::vector<float>> importance(std::string_view name) const;

    const std::map<std::string, Entry, std::less<>>& entries() const { return entries_; }
    int32_t chunks() const { return chunks_; }
    void set_chunks(int32_t chunks) { chunks_ = chunks; }
    const std::string& dataset() const { return dataset_; }
    void set_dataset(std::string dataset) { dataset_ = std::move(dataset); }

    // Writes the file (to a temporary name beside it, then renamed over `path`). Entries with no
    // rows are left out, as llama-imatrix does. Throws pocket::Error on I/O failure.
    void save(const std::filesystem::path& path) const;
    // Reads a file written by save() or by llama-imatrix. Throws pocket::Error naming the entry
    // and what is wrong for a truncated or malformed file.
    static ImportanceMatrix load(const std::filesystem::path& path);

  private:
    std::map<std::string, Entry, std::less<>> entries_;
    int32_t chunks_ = 0;
    std::string dataset_;
};

// The forward-pass observer that fills an ImportanceMatrix (see model::MatmulObserver).
class ImatrixCollector : public model::MatmulObserver {
  public:
    explicit ImatrixCollector(ImportanceMatrix& matrix, bool process_output = false)
        : matrix_(matrix), process_output_(process_output) {}
    void observe(const TensorView& weight, const float* x, int64_t n_rows) override;

    static constexpr int64_t kMinRows = 16;  // llama-imatrix ignores smaller products

  private:
    ImportanceMatrix& matrix_;
    bool process_output_;
};

struct ImatrixOptions {
    int64_t n_ctx = 512;          // tokens per chunk (llama-imatrix's default)
    int64_t max_chunks = 0;       // 0 = every whole chunk of the text
    bool process_output = false;  // also collect output.weight
    // Called after each chunk: (chunks done, chunks in all, running perplexity of the chunks'
    // second halves, as llama-imatrix prints it).
    std::function<void(int64_t, int64_t, double)> progress;
};

struct ImatrixResult {
    ImportanceMatrix matrix;
    int64_t n_chunks = 0;
    int64_t n_tokens = 0;  // tokens of the whole text
    double ppl = 0.0;      // over the second half of every chunk
};

// Runs `model` over `text` the way llama-imatrix does: the text tokenized with BOS, cut into
// whole chunks of n_ctx tokens (the tail is dropped), each evaluated from an empty cache with its
// first token replaced by BOS; every product's input is collected. Throws pocket::Error if the
// text has fewer than n_ctx tokens or the model cannot hold n_ctx positions.
ImatrixResult compute_imatrix(const model::Model& model, std::string_view text,
                              const ImatrixOptions& options = {});

}  // namespace pocket::quant
