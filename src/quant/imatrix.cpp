#include "pocket/quant/imatrix.h"

#include <bit>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <limits>
#include <system_error>

#include "pocket/core/error.h"
#include "pocket/core/read_file.h"
#include "pocket/model/context.h"
#include "pocket/tokenizer/tokenizer.h"

namespace pocket::quant {

static_assert(std::endian::native == std::endian::little,
              "the imatrix file is little-endian and read/written in place");

void ImportanceMatrix::add(std::string_view name, const float* x, int64_t n_rows, int64_t n_cols) {
    auto it = entries_.find(name);
    if (it == entries_.end()) it = entries_.emplace(std::string(name), Entry{}).first;
    Entry& e = it->second;
    if (e.sum_squares.empty()) {
        e.sum_squares.assign(static_cast<size_t>(n_cols), 0.0f);
    } else if (static_cast<int64_t>(e.sum_squares.size()) != n_cols) {
        throw Error(cat("importance matrix: '", name, "' seen with ", e.sum_squares.size(),
                        " and with ", n_cols, " columns"));
    }
    ++e.ncall;
    // Summed in float, row by row, as llama-imatrix does, so the two collect the same numbers.
    for (int64_t r = 0; r < n_rows; ++r) {
        const float* row = x + r * n_cols;
        for (int64_t j = 0; j < n_cols; ++j) e.sum_squares[j] += row[j] * row[j];
    }
    e.rows += n_rows;
}

std::optional<std::vector<float>> ImportanceMatrix::importance(std::string_view name) const {
    const auto it = entries_.find(name);
    if (it == entries_.end() || it->second.rows == 0) return std::nullopt;
    std::vector<float> mean(it->second.sum_squares);
    const auto rows = static_cast<float>(it->second.rows);
    for (float& v : mean) v /= rows;
    return mean;
}

namespace {

void put_i32(std::string& out, int64_t v) {
    if (v < std::numeric_limits<int32_t>::min() || v > std::numeric_limits<int32_t>::max())
        throw Error(cat("importance matrix: value ", v, " does not fit the file's 32-bit field"));
    const auto i = static_cast<int32_t>(v);
    out.append(reinterpret_cast<const char*>(&i), sizeof i);
}

// Reads the file's fields in order, naming what it was reading when the bytes run out.
class Reader {
  public:
    Reader(const std::string& bytes, const std::filesystem::path& path)
        : bytes_(bytes), path_(path) {}
    bool at_end() const { return pos_ == bytes_.size(); }
    int32_t i32(std::string_view what) {
        int32_t v = 0;
        take(&v, sizeof v, what);
        return v;
    }
    void take(void* dst, size_t n, std::string_view what) {
        if (bytes_.size() - pos_ < n) {
            throw Error(cat("importance matrix ", path_.string(), ": truncated while reading ",
                            what, " (byte ", pos_, " of ", bytes_.size(), ")"));
        }
        std::memcpy(dst, bytes_.data() + pos_, n);
        pos_ += n;
    }
    size_t remaining() const { return bytes_.size() - pos_; }

  private:
    const std::string& bytes_;
    const std::filesystem::path& path_;
    size_t pos_ = 0;
};

}  // namespace

void ImportanceMatrix::save(const std::filesystem::path& path) const {
    std::string out;
    int64_t n_entries = 0;
    for (const auto& [name, e] : entries_) n_entries += e.rows > 0 ? 1 : 0;
    put_i32(out, n_entries);
    for (const auto& [name, e] : entries_) {
        if (e.rows == 0) continue;
        put_i32(out, static_cast<int64_t>(name.size()));
        out.append(name);
        put_i32(out, e.ncall);
        put_i32(out, static_cast<int64_t>(e.sum_squares.size()));
        const auto rows = static_cast<float>(e.rows);
        const auto ncall = static_cast<float>(e.ncall);
        for (const float s : e.sum_squares) {
            const float v = s / rows * ncall;
            out.append(reinterpret_cast<const char*>(&v), sizeof v);
        }
    }
    put_i32(out, chunks_);
    put_i32(out, static_cast<int64_t>(dataset_.size()));
    out.append(dataset_);

    std::filesystem::path tmp = path;
    tmp += ".tmp";
    {
        std::ofstream f(tmp, std::ios::binary | std::ios::trunc);
        if (!f) throw Error(cat("cannot write ", tmp.string(), ": ", std::strerror(errno)));
        f.write(out.data(), static_cast<std::streamsize>(out.size()));
        f.close();
        if (!f) {
            std::error_code ignored;
            std::filesystem::remove(tmp, ignored);
            throw Error(cat("cannot write ", tmp.string(), ": ", std::strerror(errno)));
        }
    }
    std::error_code ec;
    std::filesystem::rename(tmp, path, ec);
    if (ec) {
        std::error_code ignored;
        std::filesystem::remove(tmp, ignored);
        throw Error(cat("cannot write ", path.string(), ": ", ec.message()));
    }
}

ImportanceMatrix ImportanceMatrix::load(const std::filesystem::path& path) {
    const std::string bytes = read_file(path);
    Reader in(bytes, path);
    ImportanceMatrix m;
    const int32_t n_entries = in.i32("the number of entries");
    if (n_entries < 1) {
        throw Error(cat("importance matrix ", path.string(), ": ", n_entries,
                        " entries (not an imatrix file?)"));
    }
    for (int32_t i = 0; i < n_entries; ++i) {
        const std::string entry = cat("entry ", i + 1, " of ", n_entries);
        const int32_t len = in.i32(entry + "'s name length");
        if (len < 1 || static_cast<size_t>(len) > in.remaining()) {
            throw Error(cat("importance matrix ", path.string(), ": ", entry,
                            " has a name length of ", len, " (truncated or not an imatrix file)"));
        }
        std::string name(static_cast<size_t>(len), '\0');
        in.take(name.data(), name.size(), entry + "'s name");
        const int32_t ncall = in.i32(cat(entry, " ('", name, "') call count"));
        const int32_t n_values = in.i32(cat(entry, " ('", name, "') value count"));
        if (n_values < 1 || ncall < 0 ||
            static_cast<uint64_t>(n_values) * sizeof(float) > in.remaining()) {
            throw Error(cat("importance matrix ", path.string(), ": ", entry, " ('", name,
                            "') has ", n_values, " values and ", ncall,
                            " calls (truncated or not an imatrix file)"));
        }
        std::vector<float> values(static_cast<size_t>(n_values));
        in.take(values.data(), values.size() * sizeof(float), cat(entry, " ('", name, "') values"));
        for (const float v : values) {
            if (!std::isfinite(v) || v < 0.0f) {
                throw Error(cat("importance matrix ", path.string(), ": '", name,
                                "' holds a value that is not a finite mean square: ", v));
            }
        }
        // Stored as mean * ncall: back to sums over `ncall` rows (the row count itself is not in
        // the file; any count gives the same means).
        Entry e;
        e.ncall = ncall;
        e.rows = ncall > 0 ? ncall : 1;
        e.sum_squares = std::move(values);
        if (ncall == 0) {
            for (float& v : e.sum_squares) v = 0.0f;
            e.rows = 0;
        }
        if (!m.entries_.emplace(std::move(name), std::move(e)).second) {
            throw Error(cat("importance matrix ", path.string(), ": ", entry, " repeats a name"));
        }
    }
    // Older files end here; newer ones add the chunk count and the dataset name.
    if (!in.at_end()) {
        m.chunks_ = in.i32("the chunk count");
        if (!in.at_end()) {
            const int32_t len = in.i32("the dataset name length");
            if (len < 0 || static_cast<size_t>(len) > in.remaining()) {
                throw Error(cat("importance matrix ", path.string(), ": dataset name length ", len,
                                " runs past the end of the file"));
            }
            m.dataset_.assign(static_cast<size_t>(len), '\0');
            in.take(m.dataset_.data(), m.dataset_.size(), "the dataset name");
        }
    }
    return m;
}

void ImatrixCollector::observe(const TensorView& weight, const float* x, int64_t n_rows) {
    if (n_rows < kMinRows) return;
    const bool wanted =
        weight.name.starts_with("blk.") || (process_output_ && weight.name == "output.weight");
    if (!wanted) return;
    matrix_.add(weight.name, x, n_rows, weight.cols);
}

namespace {

// -log softmax(logits)[token], with the log-sum-exp in double after subtracting the maximum.
double negative_log_likelihood(std::span<const float> logits, TokenId token) {
    float max = logits[0];
    for (const float v : logits) max = v > max ? v : max;
    double sum = 0.0;
    for (const float v : logits) sum += std::exp(static_cast<double>(v - max));
    return -(static_cast<double>(logits[static_cast<size_t>(token)] - max) - std::log(sum));
}

}  // namespace

ImatrixResult compute_imatrix(const model::Model& model, std::string_view text,
                              const ImatrixOptions& options) {
    if (options.n_ctx < 2) throw Error(cat("imatrix: context of ", options.n_ctx, " tokens"));
    const tokenizer::Tokenizer& tok = model.tokenizer();
    const std::vector<TokenId> tokens = tok.encode(text, /*add_special=*/true,
                                                   /*parse_special=*/false);
    const auto n_ctx = options.n_ctx;
    int64_t n_chunks = static_cast<int64_t>(tokens.size()) / n_ctx;
    if (options.max_chunks > 0 && options.max_chunks < n_chunks) n_chunks = options.max_chunks;
    if (n_chunks == 0) {
        throw Error(cat("imatrix: the text has ", tokens.size(),
                        " tokens, fewer than one chunk of ", n_ctx,
                        " (use a longer text or a smaller -c)"));
    }

    ImatrixResult result;
    result.n_tokens = static_cast<int64_t>(tokens.size());
    // One pass per chunk (n_batch = n_ctx), so each matrix is observed once per chunk, as
    // llama-imatrix (its n_batch is min(2048, n_ctx)) observes it.
    model::Context ctx(model, {.n_ctx = n_ctx, .n_batch = n_ctx});
    ImatrixCollector collector(result.matrix, options.process_output);
    ctx.set_matmul_observer(&collector);
    const bool bos = tok.add_bos();
    const int64_t first_scored = n_ctx / 2;
    double nll = 0.0;
    int64_t scored = 0;
    std::vector<model::BatchEntry> batch(static_cast<size_t>(n_ctx));
    for (int64_t c = 0; c < n_chunks; ++c) {
        ctx.kv().clear_all();
        const int64_t start = c * n_ctx;
        for (int64_t i = 0; i < n_ctx; ++i) {
            TokenId t = tokens[static_cast<size_t>(start + i)];
            if (i == 0 && bos) t = tok.bos();
            batch[static_cast<size_t>(i)] = {
                .token = t, .pos = i, .seq = 0, .logits = i >= first_scored && i + 1 < n_ctx};
        }
        ctx.decode(batch);
        for (int64_t i = first_scored; i + 1 < n_ctx; ++i) {
            nll += negative_log_likelihood(ctx.logits(static_cast<size_t>(i - first_scored)),
                                           tokens[static_cast<size_t>(start + i + 1)]);
            ++scored;
        }
        result.matrix.set_chunks(static_cast<int32_t>(c + 1));
        if (options.progress) options.progress(c + 1, n_chunks, std::exp(nll / scored));
    }
    ctx.set_matmul_observer(nullptr);
    result.n_chunks = n_chunks;
    result.ppl = std::exp(nll / static_cast<double>(scored));
    return result;
}

}  // namespace pocket::quant
