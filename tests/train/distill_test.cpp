// Knowledge-distillation losses against finite differences and a
// full-vocabulary reference; the teacher cache (written from a real model,
// refused for another run).
#include <gtest/gtest.h>

#include <cmath>
#include <fstream>
#include <numeric>

#include "pocket/core/error.h"
#include "pocket/core/rng.h"
#include "pocket/model/context.h"
#include "pocket/model/model.h"
#include "pocket/tokenizer/tokenizer.h"
#include "pocket/train/distill.h"
#include "pocket/train/loss.h"
#include "support/test_support.h"

namespace pocket::test {
namespace {

using train::DistillLossOptions;
using train::KdLoss;
using train::TeacherRows;

std::vector<float> random_logits(uint64_t seed, size_t n, float spread) {
    Rng rng(seed);
    std::vector<float> v(n);
    for (auto& x : v) x = spread * static_cast<float>(2.0 * rng.uniform01() - 1.0);
    return v;
}

// The loss at `logits` (its gradient discarded).
using Loss = std::function<double(std::span<const float> logits, std::span<float> grad)>;

// Central differences over every logit against the analytic gradient: relative
// error (of the whole gradient vector, and per element beyond a small absolute
// floor) under 1e-3.
void check_gradient(const Loss& loss, std::vector<float> logits, const std::string& what) {
    std::vector<float> grad(logits.size()), scratch(logits.size());
    loss(logits, grad);
    double diff2 = 0.0, norm2 = 0.0;
    for (size_t i = 0; i < logits.size(); ++i) {
        const float x = logits[i];
        const float h = 1e-2f;
        logits[i] = x + h;
        const float up = logits[i];
        const double lp = loss(logits, scratch);
        logits[i] = x - h;
        const float down = logits[i];
        const double lm = loss(logits, scratch);
        logits[i] = x;
        const double fd = (lp - lm) / (static_cast<double>(up) - down);
        diff2 += (fd - grad[i]) * (fd - grad[i]);
        norm2 += fd * fd;
        ASSERT_NEAR(grad[i], fd, 1e-3 * std::abs(fd) + 2e-5) << what << ", logit " << i;
    }
    ASSERT_GT(norm2, 0.0) << what;
    EXPECT_LT(std::sqrt(diff2 / norm2), 1e-3) << what;
}

struct KdCase {
    KdLoss kind;
    int64_t top_k;
    float tau;
};

TEST(DistillLoss, KdGradientsMatchFiniteDifferences) {
    const int64_t n_rows = 3, n_vocab = 23;
    const auto teacher_logits = random_logits(1, n_rows * n_vocab, 4.0f);
    const auto student_logits = random_logits(2, n_rows * n_vocab, 3.0f);
    const std::vector<float> weights = {1.0f, 0.0f, 2.5f};
    for (KdLoss kind : {KdLoss::ForwardKl, KdLoss::ReverseKl, KdLoss::Jsd}) {
        for (int64_t k : {int64_t{1}, int64_t{5}, n_vocab}) {
            for (float tau : {1.0f, 2.0f, 0.5f}) {
                const TeacherRows rows = train::top_k_rows(teacher_logits, n_rows, n_vocab, k, tau);
                const auto view = rows.view();
                const std::string what = std::string(train::kd_loss_name(kind)) +
                                         " k=" + std::to_string(k) + " tau=" + std::to_string(tau);
                check_gradient(
                    [&](std::span<const float> z, std::span<float> g) {
                        return train::kd_loss(z, n_rows, n_vocab, view, kind, weights, g).sum;
                    },
                    student_logits, what);
                std::vector<float> g(student_logits.size());
                train::kd_loss(student_logits, n_rows, n_vocab, view, kind, weights, g);
                for (int64_t i = 0; i < n_vocab; ++i) EXPECT_EQ(g[n_vocab + i], 0.0f) << what;
            }
        }
    }
}

TEST(DistillLoss, MixedWithCrossEntropyMatchesFiniteDifferences) {
    const int64_t n_rows = 4, n_vocab = 17;
    const auto teacher_logits = random_logits(3, n_rows * n_vocab, 5.0f);
    const auto student_logits = random_logits(4, n_rows * n_vocab, 2.0f);
    const std::vector<TokenId> targets = {3, 16, 0, 7};
    const std::vector<float> weights = {1.0f, 1.0f, 0.0f, 1.0f};
    const TeacherRows rows = train::top_k_rows(teacher_logits, n_rows, n_vocab, 4, 2.0f);
    for (KdLoss kind : {KdLoss::ForwardKl, KdLoss::ReverseKl, KdLoss::Jsd}) {
        for (float alpha : {0.0f, 0.3f, 1.0f}) {
            const DistillLossOptions options{.kind = kind, .alpha = alpha};
            check_gradient(
                [&](std::span<const float> z, std::span<float> g) {
                    return train::distill_loss(z, n_rows, n_vocab, rows.view(), targets, weights,
                                               options, g)
                        .sum;
                },
                student_logits,
                std::string(train::kd_loss_name(kind)) + " alpha=" + std::to_string(alpha));
        }
    }
    // The mix is exactly α·KD + (1 − α)·CE.
    std::vector<float> g(student_logits.size());
    const double kd =
        train::kd_loss(student_logits, n_rows, n_vocab, rows.view(), KdLoss::Jsd, weights, g).sum;
    const double ce =
        train::cross_entropy(student_logits, n_rows, n_vocab, targets, weights, g).sum;
    const auto mixed = train::distill_loss(student_logits, n_rows, n_vocab, rows.view(), targets,
                                           weights, {.kind = KdLoss::Jsd, .alpha = 0.25f}, g);
    EXPECT_NEAR(mixed.sum, 0.25 * kd + 0.75 * ce, 1e-9 * std::abs(ce));
    EXPECT_EQ(mixed.weight, 3.0);
}

// Full-vocabulary divergences computed directly, at temperature τ and scaled by
// τ².
double full_divergence(KdLoss kind, std::span<const float> t, std::span<const float> s, float tau) {
    auto log_softmax = [tau](std::span<const float> z) {
        std::vector<double> out(z.size());
        double m = -1e300;
        for (float v : z) m = std::max(m, v / static_cast<double>(tau));
        double sum = 0.0;
        for (float v : z) sum += std::exp(v / static_cast<double>(tau) - m);
        for (size_t i = 0; i < z.size(); ++i)
            out[i] = z[i] / static_cast<double>(tau) - m - std::log(sum);
        return out;
    };
    const auto lp = log_softmax(t), lq = log_softmax(s);
    double d = 0.0;
    for (size_t i = 0; i < t.size(); ++i) {
        const double p = std::exp(lp[i]), q = std::exp(lq[i]);
        const double lm = std::log(0.5 * (p + q));
        switch (kind) {
            case KdLoss::ForwardKl:
                d += p * (lp[i] - lq[i]);
                break;
            case KdLoss::ReverseKl:
                d += q * (lq[i] - lp[i]);
                break;
            case KdLoss::Jsd:
                d += 0.5 * p * (lp[i] - lm) + 0.5 * q * (lq[i] - lm);
                break;
        }
    }
    return static_cast<double>(tau) * tau * d;
}

TEST(DistillLoss, WholeVocabularyIsTheFullDivergenceAndTopKALowerBound) {
    const int64_t n_vocab = 40;
    const auto t = random_logits(5, n_vocab, 6.0f);
    const auto s = random_logits(6, n_vocab, 6.0f);
    std::vector<float> g(n_vocab);
    for (KdLoss kind : {KdLoss::ForwardKl, KdLoss::ReverseKl, KdLoss::Jsd}) {
        for (float tau : {1.0f, 3.0f}) {
            const double full = full_divergence(kind, t, s, tau);
            const auto all = train::top_k_rows(t, 1, n_vocab, n_vocab, tau);
            EXPECT_NEAR(train::kd_loss(s, 1, n_vocab, all.view(), kind, {}, g).sum, full,
                        1e-6 * full);
            // Lumping the tail into one bucket can only lose divergence, never add
            // it.
            double previous = 0.0;
            for (int64_t k : {1, 4, 12, 39}) {
                const auto top = train::top_k_rows(t, 1, n_vocab, k, tau);
                const double d = train::kd_loss(s, 1, n_vocab, top.view(), kind, {}, g).sum;
                EXPECT_GT(d, 0.0);
                EXPECT_LE(d, full * (1.0 + 1e-6));           // k = 39 of 40 is the full one
                EXPECT_GE(d, previous - 1e-9) << "k=" << k;  // finer buckets, more divergence
                previous = d;
            }
        }
    }
}

TEST(DistillLoss, StudentEqualToTeacherHasZeroLossAndGradient) {
    const int64_t n_rows = 2, n_vocab = 31;
    const auto z = random_logits(7, n_rows * n_vocab, 5.0f);
    std::vector<float> g(z.size());
    for (KdLoss kind : {KdLoss::ForwardKl, KdLoss::ReverseKl, KdLoss::Jsd}) {
        for (int64_t k : {int64_t{3}, n_vocab}) {
            const auto rows = train::top_k_rows(z, n_rows, n_vocab, k, 1.5f);
            const double d = train::kd_loss(z, n_rows, n_vocab, rows.view(), kind, {}, g).sum;
            EXPECT_NEAR(d, 0.0, 1e-6);
            for (float v : g) EXPECT_NEAR(v, 0.0f, 1e-6f);
        }
    }
}

TEST(DistillLoss, TopKRowsKeepTheLargestLogitsAndTheTailMass) {
    const std::vector<float> z = {0.5f, 3.0f, -1.0f, 3.0f, 2.0f};
    const auto rows = train::top_k_rows(z, 1, 5, 3, 1.0f);
    EXPECT_EQ(rows.ids, (std::vector<int32_t>{1, 3, 4}));  // a tie: the lower id first
    EXPECT_EQ(rows.logits, (std::vector<float>{3.0f, 3.0f, 2.0f}));
    double sum = 0.0;
    for (float v : z) sum += std::exp(static_cast<double>(v));
    EXPECT_NEAR(rows.lse[0], std::log(sum), 1e-6);
    EXPECT_NEAR(std::exp(rows.log_rest[0]), (std::exp(0.5) + std::exp(-1.0)) / sum, 1e-6);
    EXPECT_EQ(train::top_k_rows(z, 1, 5, 9, 1.0f).log_rest[0],
              -std::numeric_limits<float>::infinity());
    EXPECT_THROW(train::top_k_rows(z, 1, 5, 3, 0.0f), Error);
    EXPECT_THROW(train::top_k_rows(z, 1, 5, 0, 1.0f), Error);
    EXPECT_EQ(train::parse_kd_loss("reverse-kl"), KdLoss::ReverseKl);
    EXPECT_THROW(train::parse_kd_loss("kl"), Error);
}

std::vector<std::vector<TokenId>> story_sequences(const model::Model& m) {
    std::vector<std::vector<TokenId>> seqs;
    for (const char* text :
         {"Once upon a time, there was a little girl named Lily.",
          "The cat sat on the mat and looked at the big red ball.", "Tom was happy."}) {
        seqs.push_back(m.tokenizer().encode(text, true, false));
    }
    return seqs;
}

std::string error_of(const std::function<void()>& f) {
    try {
        f();
    } catch (const Error& e) {
        return e.what();
    }
    return "(no error)";
}

TEST(TeacherCache, HoldsTheTeachersTopKAndRefusesAnotherRun) {
    const auto teacher = model::Model::load(shared_path("models/stories260K.gguf"));
    const auto seqs = story_sequences(*teacher);
    ScratchDir dir;
    const auto path = dir / "teacher.kdc";
    size_t calls = 0;
    train::write_teacher_cache(*teacher, seqs, 8, 2.0f, path, [&](size_t done, size_t total) {
        ++calls;
        EXPECT_EQ(total, seqs.size());
        EXPECT_EQ(done, calls);
    });
    EXPECT_EQ(calls, seqs.size());
    const auto key = train::cache_key(*teacher, seqs, 8, 2.0f);
    const auto cache = train::TeacherCache::open(path, key);
    ASSERT_EQ(cache.n_sequences(), seqs.size());

    // Each sequence's rows are the top K of the teacher's own logits for that
    // sequence alone.
    for (size_t s = 0; s < seqs.size(); ++s) {
        model::Context ctx(*teacher, {.n_ctx = 64});
        std::vector<model::BatchEntry> batch;
        for (size_t p = 0; p < seqs[s].size(); ++p)
            batch.push_back({.token = seqs[s][p], .pos = static_cast<int64_t>(p), .logits = true});
        ctx.decode(batch);
        const int64_t n_vocab = teacher->hparams().n_vocab;
        std::vector<float> logits;
        for (size_t p = 0; p < seqs[s].size(); ++p) {
            const auto row = ctx.logits(p);
            logits.insert(logits.end(), row.begin(), row.end());
        }
        const auto want =
            train::top_k_rows(logits, static_cast<int64_t>(seqs[s].size()), n_vocab, 8, 2.0f);
        const auto got = cache.rows(s);
        ASSERT_EQ(got.n_rows, static_cast<int64_t>(seqs[s].size()));
        EXPECT_EQ(got.temperature, 2.0f);
        EXPECT_TRUE(std::equal(got.ids.begin(), got.ids.end(), want.ids.begin()));
        EXPECT_TRUE(std::equal(got.logits.begin(), got.logits.end(), want.logits.begin()));
        EXPECT_TRUE(std::equal(got.lse.begin(), got.lse.end(), want.lse.begin()));
        EXPECT_TRUE(std::equal(got.log_rest.begin(), got.log_rest.end(), want.log_rest.begin()));
        for (float v : got.log_rest) EXPECT_LT(v, 0.0f);
    }

    // Another temperature, K, data or teacher: refused, naming what differs.
    EXPECT_NE(error_of([&] {
                  train::TeacherCache::open(path, train::cache_key(*teacher, seqs, 8, 1.0f));
              }).find("temperature"),
              std::string::npos);
    EXPECT_NE(error_of([&] {
                  train::TeacherCache::open(path, train::cache_key(*teacher, seqs, 4, 2.0f));
              }).find("top-k"),
              std::string::npos);
    auto other_data = seqs;
    other_data.back().push_back(5);
    EXPECT_NE(error_of([&] {
                  train::TeacherCache::open(path, train::cache_key(*teacher, other_data, 8, 2.0f));
              }).find("data"),
              std::string::npos);
    const auto other =
        model::Model::load(shared_path("models/stories260K.Q8_0.gguf"));  // same vocabulary
    EXPECT_NE(error_of([&] {
                  train::TeacherCache::open(path, train::cache_key(*other, seqs, 8, 2.0f));
              }).find("teacher"),
              std::string::npos);

    // A damaged file: truncated, or not a cache at all.
    const std::string bytes = read_file_bytes(path);
    {
        std::ofstream(dir / "short.kdc", std::ios::binary) << bytes.substr(0, bytes.size() - 4);
        std::ofstream(dir / "junk.kdc", std::ios::binary) << std::string(200, 'x');
    }
    EXPECT_NE(error_of([&] { train::TeacherCache::open(dir / "short.kdc", key); }).find("bytes"),
              std::string::npos);
    EXPECT_NE(error_of([&] { train::TeacherCache::open(dir / "junk.kdc", key); }).find("magic"),
              std::string::npos);
}

}  // namespace
}  // namespace pocket::test
