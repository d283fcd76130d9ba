#include "pocket/train/distill.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <fstream>
#include <limits>
#include <numeric>

#include "pocket/core/error.h"
#include "pocket/core/sha256.h"
#include "pocket/core/thread_pool.h"
#include "pocket/model/context.h"
#include "pocket/model/model.h"
#include "pocket/tokenizer/tokenizer.h"
#include "pocket/train/loss.h"
#include "pocket/train/parameters.h"

namespace pocket::train {
namespace {

constexpr double kNegInf = -std::numeric_limits<double>::infinity();

double log_add_exp(double a, double b) {
    if (a == kNegInf) return b;
    if (b == kNegInf) return a;
    const double m = std::max(a, b);
    return m + std::log(std::exp(a - m) + std::exp(b - m));
}

void check_shapes(std::string_view what, std::span<const float> logits, int64_t n_rows,
                  int64_t n_vocab, std::span<const float> dlogits) {
    const auto cells = static_cast<size_t>(n_rows) * static_cast<size_t>(n_vocab);
    if (n_rows < 0 || n_vocab <= 0 || logits.size() < cells || dlogits.size() < cells)
        fail(what, ": ", n_rows, " rows of ", n_vocab, " logits need ", cells, " values (logits ",
             logits.size(), ", dlogits ", dlogits.size(), ")");
}

// One row of kd_loss: returns D (not yet scaled) and writes dD/du into du (u =
// logits / τ). `in_top` is an all-false mask of n_vocab entries, restored
// before returning.
double kd_row(const float* z, int64_t n_vocab, const int32_t* ids, const float* t_logits, int64_t k,
              double lse_t, double log_rest_t, float tau, KdLoss kind, std::vector<char>& in_top,
              double* du) {
    const double inv_tau = 1.0 / tau;
    // Student log-probabilities at τ: the whole vocabulary's log-sum-exp and the
    // rest's.
    double zmax = -std::numeric_limits<double>::infinity();
    for (int64_t i = 0; i < n_vocab; ++i) zmax = std::max(zmax, z[i] * inv_tau);
    double sum_all = 0.0, sum_rest = 0.0;
    for (int64_t j = 0; j < k; ++j) in_top[static_cast<size_t>(ids[j])] = 1;
    for (int64_t i = 0; i < n_vocab; ++i) {
        const double e = std::exp(z[i] * inv_tau - zmax);
        du[i] = e;  // kept: exp(u_i − max), for s_i below
        sum_all += e;
        if (!in_top[static_cast<size_t>(i)]) sum_rest += e;
    }
    const double lse_s = zmax + std::log(sum_all);
    const bool has_rest = k < n_vocab;
    // The teacher's tail may be lost to rounding (log_rest −inf while k <
    // n_vocab): the rest bucket then has teacher mass 0, which forward KL and JSD
    // take as it is; reverse KL would be infinite, so there the student's rest
    // must also be empty for the row to be finite.
    const double log_q_rest =
        has_rest && sum_rest > 0.0 ? zmax + std::log(sum_rest) - lse_s : kNegInf;
    const double log_p_rest = has_rest ? log_rest_t : kNegInf;

    // Buckets 0..k-1 are the teacher's top K, bucket k the rest.
    const auto nb = static_cast<size_t>(k + 1);
    std::vector<double> log_p(nb), log_q(nb), g(nb, 0.0);
    for (int64_t j = 0; j < k; ++j) {
        log_p[static_cast<size_t>(j)] = t_logits[j] * inv_tau - lse_t;
        log_q[static_cast<size_t>(j)] = z[ids[j]] * inv_tau - lse_s;
    }
    log_p[nb - 1] = log_p_rest;
    log_q[nb - 1] = log_q_rest;

    // D and g_b = dD/dq_b; then dD/du_i = s_i·(g_b(i) − Σ_b q_b·g_b) (softmax
    // chain rule, s_i the student's probability of token i, q_b the bucket's).
    // Forward KL's g_b = −p_b/q_b is written as q_b·g_b = −p_b (and
    // −p_rest·s_i/q_rest in the rest) so that a tiny q_b cannot overflow it.
    double d = 0.0, c = 0.0;
    std::vector<double> q_g(nb, 0.0);  // q_b·g_b
    for (size_t b = 0; b < nb; ++b) {
        const double lp = log_p[b], lq = log_q[b];
        const double p = std::exp(lp), q = std::exp(lq);
        switch (kind) {
            case KdLoss::ForwardKl:
                if (p > 0.0) d += p * (lp - lq);
                q_g[b] = -p;
                break;
            case KdLoss::ReverseKl:
                if (q > 0.0) {
                    d += q * (lq - lp);
                    g[b] = lq - lp + 1.0;
                    q_g[b] = q * g[b];
                }
                break;
            case KdLoss::Jsd: {
                const double lm = log_add_exp(lp, lq) - std::log(2.0);
                if (p > 0.0) d += 0.5 * p * (lp - lm);
                if (q > 0.0) {
                    d += 0.5 * q * (lq - lm);
                    g[b] = 0.5 * (lq - lm);
                    q_g[b] = q * g[b];
                }
                break;
            }
        }
        c += q_g[b];
    }
    // du currently holds exp(u_i − zmax); s_i = that / sum_all.
    const double inv_sum = 1.0 / sum_all;
    const double rest_factor = [&] {
        if (!has_rest || log_q_rest == kNegInf) return 0.0;
        // s_i·g_rest for i in the rest = exp(u_i − zmax)·(this factor).
        if (kind == KdLoss::ForwardKl) return -std::exp(log_p_rest) / sum_rest;
        return g[nb - 1] * inv_sum;
    }();
    for (int64_t i = 0; i < n_vocab; ++i) {
        if (in_top[static_cast<size_t>(i)]) continue;
        du[i] = du[i] * rest_factor - du[i] * inv_sum * c;
    }
    for (int64_t j = 0; j < k; ++j) {
        const auto b = static_cast<size_t>(j);
        const int32_t id = ids[j];
        const double s = std::exp(log_q[b]);
        du[id] = q_g[b] - s * c;
        in_top[static_cast<size_t>(id)] = 0;
    }
    return d;
}

void write_all(std::ofstream& out, const void* data, size_t bytes,
               const std::filesystem::path& path) {
    out.write(static_cast<const char*>(data), static_cast<std::streamsize>(bytes));
    if (!out) fail("teacher cache: cannot write ", path.string());
}

constexpr char kMagic[8] = {'P', 'O', 'C', 'K', 'E', 'T', 'K', 'D'};
constexpr uint32_t kVersion = 1;

// The fixed part of the header, as stored (little-endian, the host's order on
// every target).
struct Header {
    char magic[8];
    uint32_t version;
    uint32_t top_k;
    uint64_t teacher_bytes;
    uint8_t teacher_sha256[32];
    uint64_t n_vocab;
    float temperature;
    uint32_t reserved;
    uint8_t data_sha256[32];
    uint64_t n_sequences;
    uint64_t n_rows;
};
static_assert(sizeof(Header) == 120);

size_t row_bytes(int64_t top_k) {
    return static_cast<size_t>(2 * top_k + 2) * 4;
}

std::string hex(std::span<const uint8_t> bytes) {
    static constexpr char digits[] = "0123456789abcdef";
    std::string s;
    for (uint8_t b : bytes) {
        s += digits[b >> 4];
        s += digits[b & 15];
    }
    return s;
}

}  // namespace

std::string_view kd_loss_name(KdLoss loss) {
    switch (loss) {
        case KdLoss::ForwardKl:
            return "forward-kl";
        case KdLoss::ReverseKl:
            return "reverse-kl";
        case KdLoss::Jsd:
            return "jsd";
    }
    return "?";
}

KdLoss parse_kd_loss(std::string_view name) {
    for (KdLoss k : {KdLoss::ForwardKl, KdLoss::ReverseKl, KdLoss::Jsd}) {
        if (kd_loss_name(k) == name) return k;
    }
    fail("unknown KD loss '", name, "' (forward-kl, reverse-kl, jsd)");
}

TeacherRows top_k_rows(std::span<const float> logits, int64_t n_rows, int64_t n_vocab,
                       int64_t top_k, float temperature) {
    if (!(temperature > 0.0f) || !std::isfinite(temperature))
        fail("distill: the temperature must be a positive number, not ", temperature);
    if (top_k <= 0) fail("distill: top-k must be at least 1, not ", top_k);
    const auto cells = static_cast<size_t>(n_rows) * static_cast<size_t>(n_vocab);
    if (n_rows < 0 || n_vocab <= 0 || logits.size() < cells)
        fail("top_k_rows: ", n_rows, " rows of ", n_vocab, " logits need ", cells, " values");
    const int64_t k = std::min(top_k, n_vocab);
    TeacherRows rows;
    rows.n_rows = n_rows;
    rows.top_k = k;
    rows.temperature = temperature;
    rows.ids.resize(static_cast<size_t>(n_rows * k));
    rows.logits.resize(rows.ids.size());
    rows.lse.resize(static_cast<size_t>(n_rows));
    rows.log_rest.resize(static_cast<size_t>(n_rows));
    const double inv_tau = 1.0 / temperature;
    ThreadPool::global().parallel_for(n_rows, [&](int64_t begin, int64_t end) {
        std::vector<int32_t> order(static_cast<size_t>(n_vocab));
        for (int64_t t = begin; t < end; ++t) {
            const float* z = logits.data() + t * n_vocab;
            std::iota(order.begin(), order.end(), 0);
            // Highest logit first; the lower id first among equal logits (as greedy
            // picks).
            std::partial_sort(
                order.begin(), order.begin() + k, order.end(),
                [z](int32_t a, int32_t b) { return z[a] > z[b] || (z[a] == z[b] && a < b); });
            const double zmax = z[order[0]] * inv_tau;
            double sum_all = 0.0, sum_rest = 0.0;
            for (int64_t i = 0; i < n_vocab; ++i) {
                const double e = std::exp(z[order[static_cast<size_t>(i)]] * inv_tau - zmax);
                sum_all += e;
                if (i >= k) sum_rest += e;
            }
            const double lse = zmax + std::log(sum_all);
            for (int64_t j = 0; j < k; ++j) {
                rows.ids[static_cast<size_t>(t * k + j)] = order[static_cast<size_t>(j)];
                rows.logits[static_cast<size_t>(t * k + j)] = z[order[static_cast<size_t>(j)]];
            }
            rows.lse[static_cast<size_t>(t)] = static_cast<float>(lse);
            rows.log_rest[static_cast<size_t>(t)] =
                sum_rest > 0.0 ? static_cast<float>(zmax + std::log(sum_rest) - lse)
                               : -std::numeric_limits<float>::infinity();
        }
    });
    return rows;
}

LossValue kd_loss(std::span<const float> logits, int64_t n_rows, int64_t n_vocab,
                  const TeacherView& teacher, KdLoss kind, std::span<const float> weights,
                  std::span<float> dlogits) {
    check_shapes("kd_loss", logits, n_rows, n_vocab, dlogits);
    const int64_t k = teacher.top_k;
    if (teacher.n_rows < n_rows || k <= 0 || k > n_vocab ||
        teacher.ids.size() < static_cast<size_t>(teacher.n_rows * k) ||
        teacher.logits.size() < teacher.ids.size() ||
        teacher.lse.size() < static_cast<size_t>(teacher.n_rows) ||
        teacher.log_rest.size() < static_cast<size_t>(teacher.n_rows))
        fail("kd_loss: ", n_rows, " student rows of ", n_vocab, " logits against ", teacher.n_rows,
             " teacher rows of top ", k, " (ids ", teacher.ids.size(), ", logits ",
             teacher.logits.size(), ")");
    if (!weights.empty() && weights.size() < static_cast<size_t>(n_rows))
        fail("kd_loss: ", n_rows, " rows but ", weights.size(), " weights");
    for (size_t i = 0; i < static_cast<size_t>(n_rows * k); ++i) {
        if (teacher.ids[i] < 0 || teacher.ids[i] >= n_vocab)
            fail("kd_loss: teacher token ", teacher.ids[i], " in row ", i / static_cast<size_t>(k),
                 " is outside the ", n_vocab, "-token vocabulary");
    }
    const float tau = teacher.temperature;
    const double tau2 = static_cast<double>(tau) * tau;
    std::vector<double> row_loss(static_cast<size_t>(n_rows), 0.0);
    ThreadPool::global().parallel_for(n_rows, [&](int64_t begin, int64_t end) {
        std::vector<char> in_top(static_cast<size_t>(n_vocab), 0);
        std::vector<double> du(static_cast<size_t>(n_vocab));
        for (int64_t t = begin; t < end; ++t) {
            float* dz = dlogits.data() + t * n_vocab;
            const double w = weights.empty() ? 1.0 : weights[static_cast<size_t>(t)];
            if (w == 0.0) {
                std::fill_n(dz, n_vocab, 0.0f);
                continue;
            }
            const auto tt = static_cast<size_t>(t);
            const double d =
                kd_row(logits.data() + t * n_vocab, n_vocab, teacher.ids.data() + t * k,
                       teacher.logits.data() + t * k, k, teacher.lse[tt], teacher.log_rest[tt], tau,
                       kind, in_top, du.data());
            row_loss[tt] = w * tau2 * d;
            // d(τ²·D)/dz = τ²·(dD/du)/τ.
            const double scale = w * tau;
            for (int64_t i = 0; i < n_vocab; ++i) dz[i] = static_cast<float>(scale * du[i]);
        }
    });
    LossValue value;
    for (size_t t = 0; t < row_loss.size(); ++t) {
        value.sum += row_loss[t];
        value.weight += weights.empty() ? 1.0 : weights[t];
    }
    return value;
}

LossValue distill_loss(std::span<const float> logits, int64_t n_rows, int64_t n_vocab,
                       const TeacherView& teacher, std::span<const TokenId> targets,
                       std::span<const float> weights, const DistillLossOptions& options,
                       std::span<float> dlogits) {
    check_shapes("distill_loss", logits, n_rows, n_vocab, dlogits);
    const float alpha = options.alpha;
    if (!(alpha >= 0.0f && alpha <= 1.0f)) fail("distill: alpha must be in [0, 1], not ", alpha);
    const auto cells = static_cast<size_t>(n_rows) * static_cast<size_t>(n_vocab);
    if (alpha == 0.0f) return cross_entropy(logits, n_rows, n_vocab, targets, weights, dlogits);
    if (alpha == 1.0f)
        return kd_loss(logits, n_rows, n_vocab, teacher, options.kind, weights, dlogits);
    std::vector<float> dce(cells);
    const LossValue ce = cross_entropy(logits, n_rows, n_vocab, targets, weights, dce);
    const LossValue kd = kd_loss(logits, n_rows, n_vocab, teacher, options.kind, weights, dlogits);
    for (size_t i = 0; i < cells; ++i) dlogits[i] = alpha * dlogits[i] + (1.0f - alpha) * dce[i];
    return {alpha * kd.sum + (1.0 - alpha) * ce.sum, kd.weight};
}

std::array<uint8_t, 32> hash_sequences(std::span<const std::vector<TokenId>> sequences) {
    Sha256 h;
    auto put = [&](const void* p, size_t n) {
        h.update(std::span<const std::byte>(static_cast<const std::byte*>(p), n));
    };
    const uint64_t count = sequences.size();
    put(&count, sizeof count);
    for (const auto& s : sequences) {
        const uint64_t n = s.size();
        put(&n, sizeof n);
        put(s.data(), s.size() * sizeof(TokenId));
    }
    return h.finish();
}

CacheKey cache_key(const model::Model& teacher, std::span<const std::vector<TokenId>> sequences,
                   int64_t top_k, float temperature) {
    const auto image = teacher.file().bytes();
    Sha256 h;
    h.update(image);
    const auto n_vocab = static_cast<int64_t>(teacher.hparams().n_vocab);
    return {.teacher_bytes = image.size(),
            .teacher_sha256 = h.finish(),
            .n_vocab = n_vocab,
            .top_k = std::min(top_k, n_vocab),
            .temperature = temperature,
            .data_sha256 = hash_sequences(sequences)};
}

void write_teacher_cache(const model::Model& teacher,
                         std::span<const std::vector<TokenId>> sequences, int64_t top_k,
                         float temperature, const std::filesystem::path& path,
                         const std::function<void(size_t, size_t)>& progress) {
    const CacheKey key = cache_key(teacher, sequences, top_k, temperature);
    size_t longest = 1;
    uint64_t n_rows = 0;
    std::vector<uint64_t> offsets{0};
    for (const auto& s : sequences) {
        if (s.empty()) fail("teacher cache: sequence ", offsets.size() - 1, " is empty");
        longest = std::max(longest, s.size());
        n_rows += s.size();
        offsets.push_back(n_rows);
    }
    Header h{};
    std::memcpy(h.magic, kMagic, sizeof kMagic);
    h.version = kVersion;
    h.top_k = static_cast<uint32_t>(key.top_k);
    h.teacher_bytes = key.teacher_bytes;
    std::memcpy(h.teacher_sha256, key.teacher_sha256.data(), 32);
    h.n_vocab = static_cast<uint64_t>(key.n_vocab);
    h.temperature = key.temperature;
    std::memcpy(h.data_sha256, key.data_sha256.data(), 32);
    h.n_sequences = sequences.size();
    h.n_rows = n_rows;

    const std::filesystem::path tmp = path.string() + ".tmp";
    {
        std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
        if (!out) fail("teacher cache: cannot create ", tmp.string());
        write_all(out, &h, sizeof h, tmp);
        write_all(out, offsets.data(), offsets.size() * sizeof(uint64_t), tmp);
        model::Context ctx(teacher, {.n_ctx = static_cast<int64_t>(longest)});
        std::vector<model::BatchEntry> batch;
        std::vector<float> logits;
        const auto n_vocab = key.n_vocab;
        for (size_t si = 0; si < sequences.size(); ++si) {
            const auto& seq = sequences[si];
            ctx.kv().clear_all();
            batch.clear();
            for (size_t p = 0; p < seq.size(); ++p)
                batch.push_back(
                    {.token = seq[p], .pos = static_cast<int64_t>(p), .seq = 0, .logits = true});
            ctx.decode(batch);
            logits.resize(seq.size() * static_cast<size_t>(n_vocab));
            for (size_t p = 0; p < seq.size(); ++p) {
                const auto row = ctx.logits(p);
                std::copy(row.begin(), row.end(), logits.begin() + p * n_vocab);
            }
            const TeacherRows rows = top_k_rows(logits, static_cast<int64_t>(seq.size()), n_vocab,
                                                key.top_k, temperature);
            write_all(out, rows.ids.data(), rows.ids.size() * 4, tmp);
            write_all(out, rows.logits.data(), rows.logits.size() * 4, tmp);
            write_all(out, rows.lse.data(), rows.lse.size() * 4, tmp);
            write_all(out, rows.log_rest.data(), rows.log_rest.size() * 4, tmp);
            if (progress) progress(si + 1, sequences.size());
        }
        out.close();
        if (!out) fail("teacher cache: cannot write ", tmp.string());
    }
    std::filesystem::rename(tmp, path);
}

TeacherCache::TeacherCache(MappedFile file, CacheKey key)
    : file_(std::move(file)), key_(std::move(key)) {}

TeacherCache TeacherCache::open(const std::filesystem::path& path, const CacheKey& expected) {
    MappedFile file(path);
    const auto bytes = file.bytes();
    const std::string name = path.string();
    Header h{};
    if (bytes.size() < sizeof h) fail("teacher cache ", name, ": truncated header");
    std::memcpy(&h, bytes.data(), sizeof h);
    if (std::memcmp(h.magic, kMagic, sizeof kMagic) != 0)
        fail("teacher cache ", name, ": not a pocket teacher cache (bad magic)");
    if (h.version != kVersion)
        fail("teacher cache ", name, ": version ", h.version, ", this pocket reads ", kVersion);
    CacheKey key;
    key.teacher_bytes = h.teacher_bytes;
    std::memcpy(key.teacher_sha256.data(), h.teacher_sha256, 32);
    key.n_vocab = static_cast<int64_t>(h.n_vocab);
    key.top_k = h.top_k;
    key.temperature = h.temperature;
    std::memcpy(key.data_sha256.data(), h.data_sha256, 32);
    auto mismatch = [&](std::string_view what, const auto& have, const auto& want) {
        fail("teacher cache ", name, " was made for another run: ", what, " ", have, " there, ",
             want, " here (remove the file to rebuild it)");
    };
    if (key.teacher_bytes != expected.teacher_bytes ||
        key.teacher_sha256 != expected.teacher_sha256)
        mismatch("teacher (size, sha256)",
                 cat(key.teacher_bytes, " bytes ", hex(key.teacher_sha256)),
                 cat(expected.teacher_bytes, " bytes ", hex(expected.teacher_sha256)));
    if (key.n_vocab != expected.n_vocab) mismatch("vocabulary", key.n_vocab, expected.n_vocab);
    if (key.top_k != expected.top_k) mismatch("top-k", key.top_k, expected.top_k);
    if (key.temperature != expected.temperature)
        mismatch("temperature", key.temperature, expected.temperature);
    if (key.data_sha256 != expected.data_sha256)
        mismatch("data (sha256 of the token sequences)", hex(key.data_sha256),
                 hex(expected.data_sha256));
    if (key.top_k <= 0 || key.top_k > key.n_vocab)
        fail("teacher cache ", name, ": top-k ", key.top_k, " with a vocabulary of ", key.n_vocab);

    const uint64_t n_seq = h.n_sequences;
    const size_t offsets_at = sizeof h;
    if (n_seq > (bytes.size() - offsets_at) / 8)
        fail("teacher cache ", name, ": truncated (", n_seq, " sequences)");
    std::vector<uint64_t> offsets(n_seq + 1);
    std::memcpy(offsets.data(), bytes.data() + offsets_at, offsets.size() * 8);
    for (size_t i = 0; i < n_seq; ++i) {
        if (offsets[i + 1] < offsets[i]) fail("teacher cache ", name, ": offsets out of order");
    }
    if (offsets.front() != 0 || offsets.back() != h.n_rows)
        fail("teacher cache ", name, ": offsets do not cover its ", h.n_rows, " rows");
    const size_t data_at = offsets_at + offsets.size() * 8;
    const size_t per_row = row_bytes(key.top_k);
    if (h.n_rows > (bytes.size() - data_at) / per_row ||
        data_at + h.n_rows * per_row != bytes.size())
        fail("teacher cache ", name, ": ", bytes.size(), " bytes, its header needs ",
             data_at + h.n_rows * per_row);

    TeacherCache cache(std::move(file), key);
    cache.offsets_ = std::move(offsets);
    return cache;
}

TeacherView TeacherCache::rows(size_t i) const {
    if (i >= n_sequences()) fail("teacher cache: sequence ", i, " of ", n_sequences());
    const int64_t k = key_.top_k;
    const uint64_t first = offsets_[i], n = offsets_[i + 1] - offsets_[i];
    const size_t data_at = sizeof(Header) + offsets_.size() * 8;
    // A sequence's block: ids (n x k), logits (n x k), lse (n), log_rest (n);
    // 4-byte aligned in a page-aligned mapping.
    const std::byte* block = file_.bytes().data() + data_at + first * row_bytes(k);
    const size_t nk = static_cast<size_t>(n) * static_cast<size_t>(k);
    const auto* ids = reinterpret_cast<const int32_t*>(block);
    const auto* logits = reinterpret_cast<const float*>(block + nk * 4);
    const auto* lse = reinterpret_cast<const float*>(block + nk * 8);
    const auto* log_rest = lse + n;
    return {static_cast<int64_t>(n),
            k,
            key_.temperature,
            {ids, nk},
            {logits, nk},
            {lse, n},
            {log_rest, n}};
}

void check_same_vocabulary(const tokenizer::Tokenizer& teacher,
                           const tokenizer::Tokenizer& student) {
    if (teacher.n_vocab() != student.n_vocab())
        fail("the teacher has ", teacher.n_vocab(), " tokens and the student ", student.n_vocab(),
             ": distillation needs the same vocabulary (make the student with `pocket synth "
             "--like TEACHER`)");
    for (size_t id = 0; id < teacher.n_vocab(); ++id) {
        const auto t = static_cast<TokenId>(id);
        const std::string a = teacher.token_to_piece(t, true), b = student.token_to_piece(t, true);
        if (a != b)
            fail("token ", id, " is '", a, "' in the teacher and '", b,
                 "' in the student: distillation needs the same vocabulary");
    }
}

namespace {

uint64_t hash_tokens(std::span<const TokenId> tokens) {
    uint64_t h = 0xcbf29ce484222325ULL;  // FNV-1a over the ids
    for (TokenId t : tokens) {
        h ^= static_cast<uint32_t>(t);
        h *= 0x100000001b3ULL;
    }
    return h;
}

// An example as the model sees it: inputs tokens[0 .. n-1), row t predicting tokens[t + 1] with
// weight weights[t + 1].
struct Shifted {
    std::span<const TokenId> inputs, targets;
    std::span<const float> weights;
    explicit Shifted(const Example& e) {
        const size_t n = e.tokens.size();
        if (n < 2 || e.weights.size() != n)
            fail("distill: an example needs at least 2 tokens and one weight per token");
        inputs = std::span(e.tokens).first(n - 1);
        targets = std::span(e.tokens).subspan(1);
        weights = std::span(e.weights).subspan(1);
    }
};

}  // namespace

std::vector<std::vector<TokenId>> teacher_inputs(const Dataset& data) {
    std::vector<std::vector<TokenId>> out;
    out.reserve(data.examples.size());
    for (const auto& e : data.examples) {
        const Shifted s(e);
        out.emplace_back(s.inputs.begin(), s.inputs.end());
    }
    return out;
}

DistillObjective::DistillObjective(Backprop& backprop, TrainableWeights& weights,
                                   const TeacherCache& cache, const Dataset& train,
                                   DistillLossOptions options)
    : backprop_(backprop), weights_(weights), cache_(cache), train_(train), options_(options) {
    if (cache.n_sequences() != train.examples.size())
        fail("distill: the teacher cache holds ", cache.n_sequences(), " sequences, the data ",
             train.examples.size());
    for (size_t i = 0; i < train.examples.size(); ++i)
        index_.emplace(hash_tokens(Shifted(train.examples[i]).inputs), i);
}

std::span<Parameter> DistillObjective::params() {
    return weights_.params();
}

size_t DistillObjective::find(const Example& example) const {
    const Shifted s(example);
    const auto [first, last] = index_.equal_range(hash_tokens(s.inputs));
    for (auto it = first; it != last; ++it) {
        const auto& tokens = train_.examples[it->second].tokens;
        if (std::equal(s.inputs.begin(), s.inputs.end(), tokens.begin(),
                       tokens.begin() + static_cast<std::ptrdiff_t>(s.inputs.size())) &&
            tokens.size() == example.tokens.size())
            return it->second;
    }
    fail("distill: an example of ", example.tokens.size(),
         " tokens is not in the training data the teacher cache was made from");
}

LossValue DistillObjective::forward_backward(const Example& example, float grad_scale) {
    const Shifted s(example);
    const TeacherView teacher = cache_.rows(find(example));
    if (teacher.n_rows != static_cast<int64_t>(s.inputs.size()))
        fail("distill: the teacher cache has ", teacher.n_rows, " rows for an example of ",
             s.inputs.size(), " inputs");
    const LossFn loss = [&](std::span<const float> logits, int64_t n_rows, int64_t n_vocab,
                            std::span<float> dlogits) {
        return distill_loss(logits, n_rows, n_vocab, teacher, s.targets, s.weights, options_,
                            dlogits);
    };
    return backprop_.forward_backward(s.inputs, loss, grad_scale);
}

LossValue DistillObjective::evaluate(const Example& example) {
    const Shifted s(example);
    backprop_.forward(s.inputs, logits_);
    const auto n_rows = static_cast<int64_t>(s.inputs.size());
    const int64_t n_vocab = static_cast<int64_t>(logits_.size()) / n_rows;
    dlogits_.resize(logits_.size());
    return cross_entropy(logits_, n_rows, n_vocab, s.targets, s.weights, dlogits_);
}

TeacherComparison compare_with_teacher(const model::Model& teacher, Backprop& student,
                                       const Dataset& data) {
    TeacherComparison out;
    double agree = 0.0;
    std::vector<float> s_logits, t_logits, scratch;
    const int64_t n_vocab = teacher.hparams().n_vocab;
    size_t longest = 1;
    for (const auto& e : data.examples) longest = std::max(longest, e.tokens.size());
    model::Context ctx(teacher, {.n_ctx = static_cast<int64_t>(longest)});
    std::vector<model::BatchEntry> batch;
    auto argmax = [n_vocab](const float* z) {
        return static_cast<int64_t>(std::max_element(z, z + n_vocab) - z);  // first maximum
    };
    for (const auto& e : data.examples) {
        const Shifted s(e);
        const auto n = static_cast<int64_t>(s.inputs.size());
        student.forward(s.inputs, s_logits);
        if (static_cast<int64_t>(s_logits.size()) != n * n_vocab)
            fail("compare_with_teacher: the student's vocabulary is not the teacher's");
        ctx.kv().clear_all();
        batch.clear();
        for (int64_t p = 0; p < n; ++p)
            batch.push_back(
                {.token = s.inputs[static_cast<size_t>(p)], .pos = p, .seq = 0, .logits = true});
        ctx.decode(batch);
        t_logits.resize(s_logits.size());
        for (int64_t p = 0; p < n; ++p) {
            const auto row = ctx.logits(static_cast<size_t>(p));
            std::copy(row.begin(), row.end(), t_logits.begin() + p * n_vocab);
        }
        scratch.resize(s_logits.size());
        out.student_nll += cross_entropy(s_logits, n, n_vocab, s.targets, s.weights, scratch).sum;
        const LossValue t = cross_entropy(t_logits, n, n_vocab, s.targets, s.weights, scratch);
        out.teacher_nll += t.sum;
        out.weight += t.weight;
        for (int64_t p = 0; p < n; ++p) {
            const float w = s.weights[static_cast<size_t>(p)];
            if (w != 0.0f &&
                argmax(s_logits.data() + p * n_vocab) == argmax(t_logits.data() + p * n_vocab))
                agree += w;
        }
    }
    if (out.weight > 0.0) {
        out.student_nll /= out.weight;
        out.teacher_nll /= out.weight;
        out.top1_agreement = agree / out.weight;
    }
    return out;
}

}  // namespace pocket::train
