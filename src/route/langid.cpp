// fastText supervised models read by pocket's own code. File layout (little-endian, as fastText
// writes it with raw stream writes):
//
//   int32 magic 793712314, int32 version (11 or 12)
//   args: int32 dim, ws, epoch, minCount, neg, wordNgrams, loss, model, bucket, minn, maxn,
//         lrUpdateRate; float64 t
//   dictionary: int32 size, nwords, nlabels; int64 ntokens, pruneidx_size;
//         size x (NUL-terminated word, int64 count, int8 type); pruneidx_size x (int32, int32)
//   uint8 quantized input; input matrix; uint8 quantized output; output matrix
//   dense matrix: int64 rows, cols; rows*cols float32
//   quantized matrix: uint8 qnorm; int64 rows, cols; int32 codesize; codesize uint8 codes;
//         product quantizer; if qnorm: rows uint8 norm codes, norm product quantizer
//   product quantizer: int32 dim, nsubq, dsub, lastdsub; dim*256 float32 centroids
//
// The arithmetic below keeps fastText's float/double mix (float accumulators, the average's
// factor computed in double then rounded, log(x + 1e-5) in double) so probabilities agree with
// `fasttext predict-prob` to its printed precision.
#include "pocket/route/langid.h"

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <utility>

#include "pocket/core/error.h"
#include "pocket/core/mapped_file.h"

namespace pocket::route {

static_assert(std::endian::native == std::endian::little,
              "fastText files hold little-endian fields; a big-endian host needs byte swaps");

namespace {

constexpr int32_t kMagic = 793712314;
constexpr int32_t kOldestVersion = 11;
constexpr int32_t kNewestVersion = 12;
constexpr int32_t kSupervised = 3;  // fastText's model_name::sup
constexpr std::string_view kEos = "</s>";
constexpr std::string_view kLabelPrefix = "__label__";
constexpr int32_t kCentroids = 256;  // per sub-quantizer: codes are one byte
// Bounds a real model never reaches (lid.176: dim 16, maxn 4); they keep a hostile header from
// asking for huge per-call vectors or n-gram lists many times the file size.
constexpr int32_t kMaxDim = 1 << 16;
constexpr int32_t kMaxCharNgram = 16;
// fastText's label ordering for internal hierarchical-softmax nodes before they get a count.
constexpr int64_t kUnsetCount = 1000000000000000;  // 1e15

enum class Loss : int32_t {
    kHierarchicalSoftmax = 1,
    kNegativeSampling = 2,
    kSoftmax = 3,
    kOneVsAll = 4
};

bool is_separator(char c) {
    return c == ' ' || c == '\n' || c == '\r' || c == '\t' || c == '\v' || c == '\f' || c == '\0';
}

// FNV-1a over the bytes taken as signed chars: the released models were trained that way.
constexpr uint32_t kFnvBasis = 2166136261u;
inline uint32_t fnv_step(uint32_t h, char c) {
    h ^= static_cast<uint32_t>(static_cast<int32_t>(static_cast<int8_t>(c)));
    return h * 16777619u;
}
uint32_t fnv(std::string_view s) {
    uint32_t h = kFnvBasis;
    for (char c : s) h = fnv_step(h, c);
    return h;
}

// "<word>": character n-grams see the word's boundaries. (Built by resize and copy: GCC 12 warns
// falsely about assign().append() chains here.)
void bracket(std::string_view word, std::string& out) {
    out.resize(word.size() + 2);
    out.front() = '<';
    std::copy(word.begin(), word.end(), out.begin() + 1);
    out.back() = '>';
}

// log with fastText's 1e-5 floor, evaluated in double and rounded to float as fastText does.
inline float floored_log(float x) {
    return static_cast<float>(std::log(double(x) + 1e-5));
}

// Bounds-checked cursor over the file image; every failure names the field and its offset.
class Reader {
  public:
    Reader(std::span<const std::byte> bytes, const std::string& origin)
        : bytes_(bytes), origin_(origin) {}

    uint64_t offset() const { return pos_; }
    uint64_t remaining() const { return bytes_.size() - pos_; }

    [[noreturn]] void fail_at(uint64_t offset, std::string_view field,
                              const std::string& what) const {
        throw FormatError(origin_, offset, std::string(field), what);
    }

    template <typename T>
    T scalar(std::string_view field) {
        if (remaining() < sizeof(T))
            fail_at(pos_, field,
                    cat("file ends: ", sizeof(T), " bytes needed, ", remaining(), " left"));
        T value;
        std::memcpy(&value, bytes_.data() + pos_, sizeof(T));
        pos_ += sizeof(T);
        return value;
    }

    bool flag(std::string_view field) {
        const uint64_t at = pos_;
        const auto b = scalar<uint8_t>(field);
        if (b > 1) fail_at(at, field, cat("a boolean must be 0 or 1, not ", int(b)));
        return b == 1;
    }

    std::string_view cstring(std::string_view field) {
        const auto* begin = reinterpret_cast<const char*>(bytes_.data() + pos_);
        const void* nul = std::memchr(begin, 0, remaining());
        if (nul == nullptr)
            fail_at(pos_, field, "the string runs to the end of the file without its NUL");
        const std::string_view s(begin, static_cast<const char*>(nul) - begin);
        pos_ += s.size() + 1;
        return s;
    }

    // `count` elements of T, checked against what remains before anything is allocated.
    template <typename T>
    std::vector<T> array(uint64_t count, std::string_view field) {
        if (count > remaining() / sizeof(T))
            fail_at(pos_, field,
                    cat(count, " elements of ", sizeof(T), " bytes claimed, only ", remaining(),
                        " bytes left"));
        std::vector<T> values(count);
        std::memcpy(values.data(), bytes_.data() + pos_, count * sizeof(T));
        pos_ += count * sizeof(T);
        return values;
    }

    // Weights must be finite: a NaN or infinity would only surface later as meaningless
    // probabilities (fastText throws on NaN at prediction time).
    std::vector<float> weights(uint64_t count, std::string_view field) {
        const uint64_t at = pos_;
        std::vector<float> values = array<float>(count, field);
        for (size_t i = 0; i < values.size(); ++i)
            if (!std::isfinite(values[i]))
                fail_at(at + i * sizeof(float), field, cat("weight ", i, " is not finite"));
        return values;
    }

  private:
    std::span<const std::byte> bytes_;
    const std::string& origin_;
    uint64_t pos_ = 0;
};

struct ProductQuantizer {
    int32_t dim = 0;
    int32_t nsubq = 0;
    int32_t dsub = 0;
    int32_t lastdsub = 0;
    std::vector<float> centroids;  // dim * 256; the last sub-quantizer's are lastdsub wide

    const float* centroid(int32_t m, uint8_t code) const {
        if (m == nsubq - 1)
            return centroids.data() + size_t(m) * kCentroids * dsub + size_t(code) * lastdsub;
        return centroids.data() + (size_t(m) * kCentroids + code) * dsub;
    }
};

ProductQuantizer read_quantizer(Reader& in, int32_t expected_dim, const std::string& what) {
    ProductQuantizer pq;
    const uint64_t at = in.offset();
    pq.dim = in.scalar<int32_t>(what + ".dim");
    pq.nsubq = in.scalar<int32_t>(what + ".nsubq");
    pq.dsub = in.scalar<int32_t>(what + ".dsub");
    pq.lastdsub = in.scalar<int32_t>(what + ".lastdsub");
    if (pq.dim != expected_dim)
        in.fail_at(at, what + ".dim",
                   cat("is ", pq.dim, ", the matrix has ", expected_dim, " columns"));
    // The sub-quantizers must tile the vector exactly: nsubq - 1 of width dsub, then one of width
    // lastdsub (1..dsub), which is how fastText splits dim.
    if (pq.nsubq < 1 || pq.dsub < 1 || pq.lastdsub < 1 || pq.lastdsub > pq.dsub ||
        int64_t(pq.nsubq - 1) * pq.dsub + pq.lastdsub != pq.dim)
        in.fail_at(at + 4, what + ".nsubq",
                   cat("nsubq ", pq.nsubq, ", dsub ", pq.dsub, ", lastdsub ", pq.lastdsub,
                       " do not split dim ", pq.dim));
    pq.centroids = in.weights(uint64_t(pq.dim) * kCentroids, what + ".centroids");
    return pq;
}

// Dense float rows or product-quantized rows (one byte per sub-vector, optionally scaled by a
// quantized per-row norm).
struct Matrix {
    int64_t rows = 0;
    int32_t cols = 0;
    bool quantized = false;
    std::vector<float> dense;
    bool qnorm = false;
    std::vector<uint8_t> codes;  // rows x pq.nsubq
    ProductQuantizer pq;
    std::vector<uint8_t> norm_codes;  // rows, when qnorm
    ProductQuantizer npq;

    float norm(int64_t row) const { return qnorm ? npq.centroid(0, norm_codes[row])[0] : 1.0f; }

    void add_row_to(float* x, int64_t row) const {
        if (!quantized) {
            const float* r = dense.data() + row * cols;
            for (int32_t j = 0; j < cols; ++j) x[j] += r[j];
            return;
        }
        const float alpha = norm(row);
        const uint8_t* code = codes.data() + row * pq.nsubq;
        for (int32_t m = 0; m < pq.nsubq; ++m) {
            const float* c = pq.centroid(m, code[m]);
            const int32_t d = m == pq.nsubq - 1 ? pq.lastdsub : pq.dsub;
            float* out = x + size_t(m) * pq.dsub;
            for (int32_t n = 0; n < d; ++n) out[n] += alpha * c[n];
        }
    }

    float dot_row(const float* x, int64_t row) const {
        float sum = 0.0f;
        if (!quantized) {
            const float* r = dense.data() + row * cols;
            for (int32_t j = 0; j < cols; ++j) sum += r[j] * x[j];
            return sum;
        }
        const uint8_t* code = codes.data() + row * pq.nsubq;
        for (int32_t m = 0; m < pq.nsubq; ++m) {
            const float* c = pq.centroid(m, code[m]);
            const int32_t d = m == pq.nsubq - 1 ? pq.lastdsub : pq.dsub;
            const float* in = x + size_t(m) * pq.dsub;
            for (int32_t n = 0; n < d; ++n) sum += in[n] * c[n];
        }
        return sum * norm(row);
    }
};

Matrix read_matrix(Reader& in, bool quantized, int32_t dim, const std::string& what) {
    Matrix mat;
    mat.quantized = quantized;
    if (quantized) mat.qnorm = in.flag(what + ".qnorm");
    const uint64_t shape_at = in.offset();
    const auto rows = in.scalar<int64_t>(what + ".rows");
    const auto cols = in.scalar<int64_t>(what + ".cols");
    if (rows < 0) in.fail_at(shape_at, what + ".rows", cat("negative row count ", rows));
    if (cols != dim)
        in.fail_at(shape_at + 8, what + ".cols", cat("is ", cols, ", the model's dim is ", dim));
    mat.rows = rows;
    mat.cols = dim;
    if (!quantized) {
        if (uint64_t(rows) > in.remaining() / sizeof(float) / uint64_t(dim))
            in.fail_at(
                in.offset(), what + ".data",
                cat(rows, " x ", dim, " floats claimed, only ", in.remaining(), " bytes left"));
        mat.dense = in.weights(uint64_t(rows) * uint64_t(dim), what + ".data");
        return mat;
    }
    const uint64_t codesize_at = in.offset();
    const auto codesize = in.scalar<int32_t>(what + ".codesize");
    if (codesize < 0)
        in.fail_at(codesize_at, what + ".codesize", cat("negative code size ", codesize));
    mat.codes = in.array<uint8_t>(uint64_t(codesize), what + ".codes");
    mat.pq = read_quantizer(in, dim, what + ".pq");
    if (int64_t(codesize) != rows * mat.pq.nsubq)
        in.fail_at(codesize_at, what + ".codesize",
                   cat("is ", codesize, ", ", rows, " rows of ", mat.pq.nsubq, " codes need ",
                       rows * mat.pq.nsubq));
    if (mat.qnorm) {
        mat.norm_codes = in.array<uint8_t>(uint64_t(rows), what + ".norm_codes");
        mat.npq = read_quantizer(in, 1, what + ".npq");
    }
    return mat;
}

// Open-addressing int32 -> int32 map for the pruned n-gram index (values are never negative;
// -1 marks an empty slot). An order of magnitude faster than std::unordered_map on the
// per-n-gram lookups predict makes.
class IdMap {
  public:
    void build(const std::vector<std::pair<int32_t, int32_t>>& entries) {
        size_t capacity = 16;
        while (capacity < entries.size() * 2) capacity *= 2;
        keys_.assign(capacity, 0);
        values_.assign(capacity, -1);
        mask_ = capacity - 1;
        // Later duplicates win, as in fastText's std::unordered_map assignment.
        for (const auto& [key, value] : entries) {
            const size_t i = slot(key);
            keys_[i] = key;
            values_[i] = value;
        }
    }
    int32_t find(int32_t key) const { return values_.empty() ? -1 : values_[slot(key)]; }

  private:
    size_t slot(int32_t key) const {
        size_t i = (uint32_t(key) * 2654435761u) & mask_;
        while (values_[i] != -1 && keys_[i] != key) i = (i + 1) & mask_;
        return i;
    }
    std::vector<int32_t> keys_;
    std::vector<int32_t> values_;
    size_t mask_ = 0;
};

}  // namespace

struct LanguageIdentifier::Model {
    int32_t dim = 0;
    int32_t word_ngrams = 1;
    Loss loss = Loss::kHierarchicalSoftmax;
    int32_t bucket = 0;
    int32_t minn = 0;
    int32_t maxn = 0;

    // Dictionary: words 0..nwords-1, then labels.
    int32_t nwords = 0;
    int32_t nlabels = 0;
    std::string pool;                 // every entry's bytes, back to back
    std::vector<size_t> entry_begin;  // size + 1 offsets into pool
    std::vector<uint32_t> entry_hash;
    std::vector<int32_t> table;  // open addressing on the FNV hash; -1 = empty
    size_t table_mask = 0;
    int64_t prune_size = -1;  // fastText: -1 not pruned, 0 no n-grams kept, > 0 IdMap
    IdMap prune;
    int32_t max_pruned_row = -1;
    std::vector<int32_t> subwords;  // per word: its row, then its char n-gram rows (CSR)
    std::vector<size_t> subword_begin;
    std::vector<std::string> languages;

    Matrix input;
    Matrix output;
    struct Node {
        int32_t left = -1;
        int32_t right = -1;
    };
    std::vector<Node> tree;  // hierarchical softmax: leaves 0..nlabels-1, root last
    std::vector<float> sigmoid_table;

    std::string_view entry(int32_t i) const {
        return std::string_view(pool).substr(entry_begin[i], entry_begin[i + 1] - entry_begin[i]);
    }

    int32_t find(std::string_view word, uint32_t h) const {
        size_t i = h & table_mask;
        while (table[i] != -1) {
            const int32_t id = table[i];
            if (entry_hash[id] == h && entry(id) == word) return id;
            i = (i + 1) & table_mask;
        }
        return -1;
    }

    // fastText's pushHash: an n-gram bucket becomes an input row, through the pruning index when
    // the model was pruned (n-grams it dropped contribute nothing).
    int32_t ngram_row(int32_t bucket_id) const {
        if (prune_size == 0) return -1;
        if (prune_size > 0) {
            const int32_t kept = prune.find(bucket_id);
            return kept < 0 ? -1 : nwords + kept;
        }
        return nwords + bucket_id;
    }

    // fastText's computeSubwords over `bracketed` ("<word>"): every run of minn..maxn UTF-8
    // characters (continuation bytes never start one), except the lone "<" and ">".
    template <typename Sink>
    void for_each_char_ngram(std::string_view bracketed, Sink&& sink) const {
        const size_t size = bracketed.size();
        for (size_t i = 0; i < size; ++i) {
            if ((bracketed[i] & 0xC0) == 0x80) continue;
            uint32_t h = kFnvBasis;
            for (size_t j = i, n = 1; j < size && n <= size_t(maxn); ++n) {
                h = fnv_step(h, bracketed[j++]);
                while (j < size && (bracketed[j] & 0xC0) == 0x80) h = fnv_step(h, bracketed[j++]);
                if (n >= size_t(minn) && !(n == 1 && (i == 0 || j == size))) {
                    const int32_t row = ngram_row(int32_t(h % uint32_t(bucket)));
                    if (row >= 0) sink(row);
                }
            }
        }
    }
};

namespace {

using Model = LanguageIdentifier::Model;

void read_dictionary(Reader& in, Model& model) {
    const uint64_t at = in.offset();
    const auto size = in.scalar<int32_t>("dict.size");
    const auto nwords = in.scalar<int32_t>("dict.nwords");
    const auto nlabels = in.scalar<int32_t>("dict.nlabels");
    in.scalar<int64_t>("dict.ntokens");
    const uint64_t prune_at = in.offset();
    const auto prune_size = in.scalar<int64_t>("dict.pruneidx_size");
    if (nwords < 0 || nlabels < 1 || int64_t(nwords) + nlabels != size)
        in.fail_at(at, "dict.size",
                   cat("size ", size, " is not nwords ", nwords, " + nlabels ", nlabels,
                       " (at least one label)"));
    if (prune_size < -1)
        in.fail_at(prune_at, "dict.pruneidx_size", cat("negative count ", prune_size));
    // Each entry takes at least 10 bytes (NUL, count, type): reject absurd counts before reserving.
    if (uint64_t(size) > in.remaining() / 10)
        in.fail_at(at, "dict.size", cat(size, " entries cannot fit in ", in.remaining(), " bytes"));

    model.nwords = nwords;
    model.nlabels = nlabels;
    model.prune_size = prune_size;
    model.entry_begin.reserve(size_t(size) + 1);
    model.entry_begin.push_back(0);
    model.entry_hash.reserve(size_t(size));
    std::vector<int64_t> label_counts;
    label_counts.reserve(size_t(nlabels));
    for (int32_t i = 0; i < size; ++i) {
        // Field names stay constant here (7000+ entries: no string building per entry); the
        // offset locates the entry.
        const std::string_view word = in.cstring("dict.entry.word");
        const auto count = in.scalar<int64_t>("dict.entry.count");
        const uint64_t type_at = in.offset();
        const auto type = in.scalar<int8_t>("dict.entry.type");
        // fastText sorts words before labels; getLabel(i) is entry nwords + i.
        const int8_t expected = i < nwords ? 0 : 1;
        if (type != expected)
            in.fail_at(type_at, "dict.entry.type",
                       cat("entry ", i, " is of type ", int(type), ", expected ", int(expected),
                           expected == 0 ? " (word)" : " (label)"));
        model.pool.append(word);
        model.entry_begin.push_back(model.pool.size());
        model.entry_hash.push_back(fnv(word));
        if (type == 1) {
            if (count < 0)
                in.fail_at(type_at - 8, "dict.entry.count",
                           cat("entry ", i, ": negative label count ", count));
            label_counts.push_back(count);
            model.languages.emplace_back(
                word.starts_with(kLabelPrefix) ? word.substr(kLabelPrefix.size()) : word);
        }
    }
    if (prune_size > 0) {
        if (uint64_t(prune_size) > in.remaining() / 8)
            in.fail_at(prune_at, "dict.pruneidx_size",
                       cat(prune_size, " pairs cannot fit in ", in.remaining(), " bytes"));
        std::vector<std::pair<int32_t, int32_t>> pairs(static_cast<size_t>(prune_size));
        for (auto& [from, to] : pairs) {
            from = in.scalar<int32_t>("dict.pruneidx");
            const uint64_t to_at = in.offset();
            to = in.scalar<int32_t>("dict.pruneidx");
            if (to < 0) in.fail_at(to_at, "dict.pruneidx", cat("negative row ", to));
        }
        model.prune.build(pairs);
        // Checked against the input matrix once it is read.
        for (const auto& p : pairs) model.max_pruned_row = std::max(model.max_pruned_row, p.second);
    }

    // Words to slots; a repeated word maps to its last entry, like fastText's word2int.
    size_t capacity = 16;
    while (capacity < size_t(size) * 2) capacity *= 2;
    model.table.assign(capacity, -1);
    model.table_mask = capacity - 1;
    for (int32_t i = 0; i < size; ++i) {
        size_t slot = model.entry_hash[i] & model.table_mask;
        while (model.table[slot] != -1 && model.entry(model.table[slot]) != model.entry(i))
            slot = (slot + 1) & model.table_mask;
        model.table[slot] = i;
    }

    // The hierarchical-softmax tree exactly as fastText builds it from the label counts (a
    // Huffman merge that assumes counts in descending order). Hostile counts could make a node
    // adopt itself or a later node, so every child must be an earlier node: then it is a tree and
    // the search below terminates.
    const int32_t osz = nlabels;
    std::vector<int64_t> counts(size_t(2) * osz - 1, kUnsetCount);
    std::copy(label_counts.begin(), label_counts.end(), counts.begin());
    model.tree.assign(counts.size(), {});
    int32_t leaf = osz - 1;
    int32_t node = osz;
    for (int32_t i = osz; i < 2 * osz - 1; ++i) {
        int32_t pick[2] = {0, 0};
        for (int32_t& p : pick) {
            if (leaf >= 0 && counts[leaf] < counts[node]) {
                p = leaf--;
            } else {
                p = node++;
            }
            // Checked at once: the next comparison would read counts[node] past node i.
            if (p >= i)
                in.fail_at(at, "dict.entry.count",
                           "the label counts do not form a hierarchical-softmax tree");
        }
        model.tree[i] = {pick[0], pick[1]};
        // Saturating: counts are only compared, and real ones are far below the limit.
        counts[i] = counts[pick[0]] > std::numeric_limits<int64_t>::max() - counts[pick[1]]
                        ? std::numeric_limits<int64_t>::max()
                        : counts[pick[0]] + counts[pick[1]];
    }
}

void precompute_subwords(Model& model) {
    model.subwords.clear();
    model.subword_begin.assign(1, 0);
    std::string bracketed;
    for (int32_t i = 0; i < model.nwords; ++i) {
        model.subwords.push_back(i);
        const std::string_view word = model.entry(i);
        if (word != kEos && model.maxn > 0) {
            bracket(word, bracketed);
            model.for_each_char_ngram(bracketed,
                                      [&](int32_t row) { model.subwords.push_back(row); });
        }
        model.subword_begin.push_back(model.subwords.size());
    }
}

std::vector<float> make_sigmoid_table() {
    // fastText's table for the binary-logistic losses: 513 samples on [-8, 8].
    std::vector<float> table;
    for (int i = 0; i <= 512; ++i) {
        const float x = float(i * 2 * 8) / 512 - 8;
        table.push_back(static_cast<float>(1.0 / (1.0 + std::exp(-x))));
    }
    return table;
}

float table_sigmoid(const std::vector<float>& table, float x) {
    if (x < -8) return 0.0f;
    if (x > 8) return 1.0f;
    return table[size_t(int64_t((x + 8) * 512 / 8 / 2))];
}

std::unique_ptr<const Model> parse(std::span<const std::byte> bytes, const std::string& origin) {
    Reader in(bytes, origin);
    auto model = std::make_unique<Model>();

    const auto magic = in.scalar<int32_t>("magic");
    if (magic != kMagic)
        in.fail_at(0, "magic",
                   cat("not a fastText model (magic ", magic, ", expected ", kMagic, ")"));
    const auto version = in.scalar<int32_t>("version");
    if (version < kOldestVersion || version > kNewestVersion)
        in.fail_at(4, "version",
                   cat("unsupported fastText format version ", version, " (", kOldestVersion, "..",
                       kNewestVersion, ")"));

    const uint64_t args_at = in.offset();
    const auto dim = in.scalar<int32_t>("args.dim");
    in.scalar<int32_t>("args.ws");
    in.scalar<int32_t>("args.epoch");
    in.scalar<int32_t>("args.minCount");
    in.scalar<int32_t>("args.neg");
    const auto word_ngrams = in.scalar<int32_t>("args.wordNgrams");
    const auto loss = in.scalar<int32_t>("args.loss");
    const auto model_kind = in.scalar<int32_t>("args.model");
    const auto bucket = in.scalar<int32_t>("args.bucket");
    auto minn = in.scalar<int32_t>("args.minn");
    auto maxn = in.scalar<int32_t>("args.maxn");
    in.scalar<int32_t>("args.lrUpdateRate");
    in.scalar<double>("args.t");
    if (dim < 1 || dim > kMaxDim)
        in.fail_at(args_at, "args.dim", cat("dim ", dim, " outside 1..", kMaxDim));
    if (loss < 1 || loss > 4) in.fail_at(args_at + 24, "args.loss", cat("unknown loss ", loss));
    if (model_kind != kSupervised)
        in.fail_at(args_at + 28, "args.model",
                   cat("model kind ", model_kind, " is not a supervised classifier (3)"));
    // Version 11 supervised models predate character n-grams; fastText ignores their maxn.
    if (version == 11) maxn = 0;
    if (minn < 0 || maxn < 0 || maxn > kMaxCharNgram)
        in.fail_at(
            args_at + 36, "args.minn",
            cat("character n-gram lengths ", minn, "..", maxn, " outside 0..", kMaxCharNgram));
    if (bucket < 0) in.fail_at(args_at + 32, "args.bucket", cat("negative bucket count ", bucket));
    const bool uses_ngrams = (maxn > 0 && maxn >= minn) || word_ngrams > 1;
    if (uses_ngrams && bucket == 0)
        in.fail_at(args_at + 32, "args.bucket", "n-grams are enabled but there are no buckets");
    model->dim = dim;
    model->word_ngrams = word_ngrams;
    model->loss = static_cast<Loss>(loss);
    model->bucket = bucket;
    model->minn = minn;
    model->maxn = maxn;

    read_dictionary(in, *model);

    const bool quant_input = in.flag("quant_input");
    const uint64_t input_at = in.offset();
    model->input = read_matrix(in, quant_input, dim, "input");
    if (!quant_input && model->prune_size >= 0)
        in.fail_at(input_at, "input",
                   "a pruned dictionary with a dense input matrix (fastText rejects these files "
                   "too: re-download the model)");
    // Every row predict can reach must exist: words, then the n-gram buckets (or the rows the
    // pruning index maps them to).
    const int64_t ngram_rows = model->prune_size < 0    ? int64_t(bucket)
                               : model->prune_size == 0 ? 0
                                                        : int64_t(model->max_pruned_row) + 1;
    if (model->input.rows < int64_t(model->nwords) + ngram_rows)
        in.fail_at(input_at, "input.rows",
                   cat(model->input.rows, " rows, the dictionary needs ",
                       int64_t(model->nwords) + ngram_rows));

    const bool quant_output = in.flag("qout");
    model->output = read_matrix(in, quant_input && quant_output, dim, "output");
    // fastText's output layer has one row per label (hierarchical softmax uses the first
    // nlabels - 1 for its inner nodes).
    if (model->output.rows != model->nlabels)
        in.fail_at(in.offset(), "output.rows",
                   cat(model->output.rows, " rows for ", model->nlabels, " labels"));
    if (in.remaining() != 0)
        in.fail_at(in.offset(), "end", cat(in.remaining(), " unexpected bytes after the model"));

    precompute_subwords(*model);
    model->sigmoid_table = make_sigmoid_table();
    return model;
}

}  // namespace

LanguageIdentifier::LanguageIdentifier(std::unique_ptr<const Model> model)
    : model_(std::move(model)) {}
LanguageIdentifier::LanguageIdentifier(LanguageIdentifier&&) noexcept = default;
LanguageIdentifier& LanguageIdentifier::operator=(LanguageIdentifier&&) noexcept = default;
LanguageIdentifier::~LanguageIdentifier() = default;

LanguageIdentifier LanguageIdentifier::load(const std::filesystem::path& path) {
    // Mapped only while parsing: the model keeps its own copies (about the file's size).
    const MappedFile file(path);
    return from_bytes(file.bytes(), path.string());
}

LanguageIdentifier LanguageIdentifier::from_bytes(std::span<const std::byte> bytes,
                                                  const std::string& origin) {
    return LanguageIdentifier(parse(bytes, origin));
}

size_t LanguageIdentifier::language_count() const {
    return model_->languages.size();
}
std::span<const std::string> LanguageIdentifier::languages() const {
    return model_->languages;
}
size_t LanguageIdentifier::dimension() const {
    return size_t(model_->dim);
}

std::vector<LanguageGuess> LanguageIdentifier::predict(std::string_view text, size_t k) const {
    const Model& m = *model_;
    k = std::min(k, size_t(m.nlabels));
    if (k == 0) return {};

    // Hidden vector: the mean of the input rows of every word (its own row and its character
    // n-grams; out-of-vocabulary words only the latter), the end-of-line token, then the word
    // n-grams, summed in fastText's order.
    std::vector<float> hidden(size_t(m.dim), 0.0f);
    size_t rows = 0;
    const auto add = [&](int32_t row) {
        m.input.add_row_to(hidden.data(), row);
        ++rows;
    };
    std::vector<int32_t> word_hashes;  // kept as fastText does: int32, sign-extended below
    std::string bracketed;
    const auto take = [&](std::string_view token) {
        const uint32_t h = fnv(token);
        const int32_t id = m.find(token, h);
        // Labels in the text ("__label__xx", known or not) are no words.
        if (id >= m.nwords || (id < 0 && token.starts_with(kLabelPrefix))) return;
        if (id >= 0) {
            for (size_t i = m.subword_begin[id]; i < m.subword_begin[id + 1]; ++i)
                add(m.subwords[i]);
        } else if (token != kEos && m.maxn > 0) {
            bracket(token, bracketed);
            m.for_each_char_ngram(bracketed, add);
        }
        if (m.word_ngrams > 1) word_hashes.push_back(static_cast<int32_t>(h));
    };
    size_t pos = 0;
    while (pos < text.size()) {
        while (pos < text.size() && is_separator(text[pos])) ++pos;
        const size_t begin = pos;
        while (pos < text.size() && !is_separator(text[pos])) ++pos;
        if (pos > begin) take(text.substr(begin, pos - begin));
    }
    take(kEos);
    for (size_t i = 0; i < word_hashes.size(); ++i) {
        uint64_t h = static_cast<uint64_t>(int64_t(word_hashes[i]));
        for (size_t j = i + 1; j < word_hashes.size() && j < i + size_t(m.word_ngrams); ++j) {
            h = h * 116049371 + static_cast<uint64_t>(int64_t(word_hashes[j]));
            const int32_t row = m.ngram_row(int32_t(h % uint64_t(m.bucket)));
            if (row >= 0) add(row);
        }
    }
    if (rows == 0) return {};
    const float scale = static_cast<float>(1.0 / double(rows));
    for (float& v : hidden) v *= scale;

    // Top k as a min-heap on log-probability with fastText's comparator, so ties resolve alike.
    using Scored = std::pair<float, int32_t>;
    const auto worse_first = [](const Scored& l, const Scored& r) { return l.first > r.first; };
    std::vector<Scored> heap;
    heap.reserve(k + 1);
    const float floor = floored_log(0.0f);  // fastText's default threshold 0
    const auto offer = [&](float score, int32_t label) {
        heap.emplace_back(score, label);
        std::push_heap(heap.begin(), heap.end(), worse_first);
        if (heap.size() > k) {
            std::pop_heap(heap.begin(), heap.end(), worse_first);
            heap.pop_back();
        }
    };
    const auto checked = [&](float value) {
        if (std::isnan(value)) fail("language identification: the model's output is NaN");
        return value;
    };

    if (m.loss == Loss::kHierarchicalSoftmax) {
        // Depth-first from the root, left (probability 1 - sigmoid) before right, skipping
        // subtrees that cannot beat the current k-th best: fastText's search, with an explicit
        // stack so a deep tree cannot overflow the call stack.
        struct Pending {
            int32_t node;
            float score;
        };
        std::vector<Pending> stack{{2 * m.nlabels - 2, 0.0f}};
        while (!stack.empty()) {
            const Pending p = stack.back();
            stack.pop_back();
            if (p.score < floor) continue;
            if (heap.size() == k && p.score < heap.front().first) continue;
            const Model::Node& node = m.tree[size_t(p.node)];
            if (node.left == -1 && node.right == -1) {
                offer(p.score, p.node);
                continue;
            }
            float f = checked(m.output.dot_row(hidden.data(), p.node - m.nlabels));
            f = static_cast<float>(1. / (1 + std::exp(-f)));
            stack.push_back({node.right, p.score + floored_log(f)});
            stack.push_back({node.left, p.score + floored_log(static_cast<float>(1.0 - f))});
        }
    } else {
        std::vector<float> out(size_t(m.nlabels));
        for (int32_t i = 0; i < m.nlabels; ++i)
            out[i] = checked(m.output.dot_row(hidden.data(), i));
        if (m.loss == Loss::kSoftmax) {
            float max = out[0];
            for (float v : out) max = std::max(max, v);
            float z = 0.0f;
            for (float& v : out) {
                v = std::exp(v - max);
                z += v;
            }
            for (float& v : out) v /= z;
        } else {  // negative sampling and one-vs-all: independent sigmoids
            for (float& v : out) v = table_sigmoid(m.sigmoid_table, v);
        }
        for (int32_t i = 0; i < m.nlabels; ++i) {
            if (out[i] < 0.0f) continue;
            const float score = floored_log(out[i]);
            if (heap.size() == k && score < heap.front().first) continue;
            offer(score, i);
        }
    }

    std::sort_heap(heap.begin(), heap.end(), worse_first);
    std::vector<LanguageGuess> guesses;
    guesses.reserve(heap.size());
    for (const auto& [score, label] : heap)
        guesses.push_back({m.languages[size_t(label)], std::exp(score)});
    return guesses;
}

}  // namespace pocket::route
