// Importance matrices: collection over a real model (stories260K) checked against the raw
// matrix inputs recorded independently, the perplexity the collector prints against llama.cpp's
// stored value (same chunking), and the file format: bytes laid out by hand per llama-imatrix's
// format read back, round trips, and truncated or foreign files refused with a clear message.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <fstream>
#include <map>
#include <string>
#include <vector>

#include "pocket/core/error.h"
#include "pocket/model/context.h"
#include "pocket/model/matmul_observer.h"
#include "pocket/model/model.h"
#include "pocket/quant/imatrix.h"
#include "pocket/tokenizer/tokenizer.h"
#include "support/test_support.h"

namespace pocket::quant {
namespace {

using test::ScratchDir;

std::unique_ptr<model::Model> stories() {
    return model::Model::load(test::shared_path("models/stories260K.gguf"));
}

std::string ppl_text() {
    return test::read_file_bytes(test::shared_path("reference/ppl-text.txt"));
}

void put_i32(std::string& out, int32_t v) {
    out.append(reinterpret_cast<const char*>(&v), sizeof v);
}
void put_f32(std::string& out, float v) {
    out.append(reinterpret_cast<const char*>(&v), sizeof v);
}
void write_bytes(const std::filesystem::path& path, const std::string& bytes) {
    std::ofstream(path, std::ios::binary).write(bytes.data(), std::ssize(bytes));
}

// Records, in double, the mean square of each input column of one matrix.
class RecordingObserver : public model::MatmulObserver {
  public:
    explicit RecordingObserver(std::string name) : name_(std::move(name)) {}
    void observe(const TensorView& w, const float* x, int64_t n_rows) override {
        ++seen_[w.name];
        if (w.name != name_) return;
        sums_.resize(static_cast<size_t>(w.cols), 0.0);
        for (int64_t r = 0; r < n_rows; ++r)
            for (int64_t j = 0; j < w.cols; ++j)
                sums_[j] += double(x[r * w.cols + j]) * x[r * w.cols + j];
        rows_ += n_rows;
    }
    std::vector<double> means() const {
        std::vector<double> m(sums_);
        for (double& v : m) v /= static_cast<double>(rows_);
        return m;
    }
    const std::map<std::string, int>& seen() const { return seen_; }

  private:
    std::string name_;
    std::vector<double> sums_;
    int64_t rows_ = 0;
    std::map<std::string, int> seen_;
};

TEST(Imatrix, CollectsTheMeanSquareOfEveryBlockMatrixInput) {
    const auto model = stories();
    ImatrixOptions options;
    options.n_ctx = 128;
    const ImatrixResult r = compute_imatrix(*model, ppl_text(), options);
    EXPECT_EQ(r.n_tokens, 933);  // llama.cpp's count for this text (reference JSON)
    EXPECT_EQ(r.n_chunks, 7);
    EXPECT_EQ(r.matrix.chunks(), 7);
    // 5 layers x (q, k, v, o, gate, up, down); output.weight only when asked.
    EXPECT_EQ(r.matrix.entries().size(), 35u);
    EXPECT_FALSE(r.matrix.importance("output.weight").has_value());
    for (const auto& [name, e] : r.matrix.entries()) {
        EXPECT_EQ(e.ncall, 7) << name;  // one product per chunk
        EXPECT_EQ(e.rows, 7 * 128) << name;
    }

    // The same pass, observed by an independent recorder: the means agree.
    for (const std::string name : {"blk.0.attn_q.weight", "blk.4.ffn_down.weight"}) {
        RecordingObserver rec(name);
        model::Context ctx(*model, {.n_ctx = 128, .n_batch = 128});
        ctx.set_matmul_observer(&rec);
        const auto& tok = model->tokenizer();
        const auto tokens = tok.encode(ppl_text(), true, false);
        for (int c = 0; c < 7; ++c) {
            ctx.kv().clear_all();
            std::vector<TokenId> chunk(tokens.begin() + c * 128, tokens.begin() + (c + 1) * 128);
            chunk[0] = tok.bos();
            ctx.eval(chunk);
        }
        const auto want = rec.means();
        const auto got = *r.matrix.importance(name);
        ASSERT_EQ(got.size(), want.size()) << name;
        for (size_t j = 0; j < want.size(); ++j)
            EXPECT_NEAR(got[j], want[j], 1e-5 * want[j] + 1e-12) << name << " column " << j;
        EXPECT_GT(rec.seen().count("output.weight"), 0u);  // the model does show it
    }
}

// The collector scores the second half of each chunk exactly as llama-perplexity does, so its
// perplexity is the stored llama.cpp value for this file and context.
TEST(Imatrix, PerplexityOfTheCalibrationPassMatchesLlamaCpp) {
    const auto ref = test::read_json(test::shared_path("reference/stories260K.perplexity.json"));
    const auto model = stories();
    ImatrixOptions options;
    options.n_ctx = 128;
    const ImatrixResult r = compute_imatrix(*model, ppl_text(), options);
    EXPECT_NEAR(r.ppl, ref["ppl"].get<double>(), 5e-4);
}

TEST(Imatrix, OutputMatrixOnlyWhenAskedAndSmallProductsIgnored) {
    const auto model = stories();
    ImatrixOptions options;
    options.n_ctx = 128;
    options.max_chunks = 2;
    options.process_output = true;
    const ImatrixResult r = compute_imatrix(*model, ppl_text(), options);
    EXPECT_EQ(r.n_chunks, 2);
    // The head sees only the 63 scored rows of each chunk.
    ASSERT_TRUE(r.matrix.importance("output.weight").has_value());
    EXPECT_EQ(r.matrix.entries().at("output.weight").rows, 2 * 63);

    ImportanceMatrix m;
    ImatrixCollector collector(m);
    std::vector<float> x(15 * 64, 1.0f);
    TensorView w;
    w.name = "blk.0.attn_q.weight";
    w.cols = 64;
    collector.observe(w, x.data(), 15);  // fewer than 16 rows: a generation step, ignored
    EXPECT_TRUE(m.entries().empty());
}

TEST(Imatrix, ReadsLlamaImatrixBytesLaidOutByHand) {
    ScratchDir dir;
    std::string bytes;
    put_i32(bytes, 2);
    put_i32(bytes, 19);
    bytes += "blk.0.attn_k.weight";
    put_i32(bytes, 4);  // ncall
    put_i32(bytes, 3);
    for (const float v : {4.0f, 8.0f, 0.0f}) put_f32(bytes, v);  // mean * ncall
    put_i32(bytes, 13);
    bytes += "output.weight";
    put_i32(bytes, 2);
    put_i32(bytes, 2);
    for (const float v : {1.0f, 3.0f}) put_f32(bytes, v);
    put_i32(bytes, 10);  // chunks
    put_i32(bytes, 8);
    bytes += "wiki.txt";
    write_bytes(dir / "a.dat", bytes);

    const ImportanceMatrix m = ImportanceMatrix::load(dir / "a.dat");
    EXPECT_EQ(m.chunks(), 10);
    EXPECT_EQ(m.dataset(), "wiki.txt");
    EXPECT_EQ(*m.importance("blk.0.attn_k.weight"), (std::vector<float>{1.0f, 2.0f, 0.0f}));
    EXPECT_EQ(*m.importance("output.weight"), (std::vector<float>{0.5f, 1.5f}));
    EXPECT_FALSE(m.importance("blk.1.attn_k.weight").has_value());

    // Saved again: the same bytes.
    m.save(dir / "b.dat");
    EXPECT_EQ(test::read_file_bytes(dir / "b.dat"), bytes);

    // Files from before the trailer existed end after the entries.
    write_bytes(dir / "old.dat", bytes.substr(0, bytes.size() - 16));
    const ImportanceMatrix old = ImportanceMatrix::load(dir / "old.dat");
    EXPECT_EQ(old.chunks(), 0);
    EXPECT_EQ(*old.importance("output.weight"), (std::vector<float>{0.5f, 1.5f}));
}

TEST(Imatrix, CollectedMatrixRoundTripsThroughTheFile) {
    const auto model = stories();
    ImatrixOptions options;
    options.n_ctx = 128;
    options.max_chunks = 3;
    const ImatrixResult r = compute_imatrix(*model, ppl_text(), options);
    ScratchDir dir;
    r.matrix.save(dir / "m.dat");
    EXPECT_FALSE(std::filesystem::exists(dir / "m.dat.tmp"));
    const ImportanceMatrix back = ImportanceMatrix::load(dir / "m.dat");
    ASSERT_EQ(back.entries().size(), r.matrix.entries().size());
    EXPECT_EQ(back.chunks(), 3);
    for (const auto& [name, e] : r.matrix.entries()) {
        const auto want = *r.matrix.importance(name);
        const auto got = *back.importance(name);
        ASSERT_EQ(got.size(), want.size());
        for (size_t j = 0; j < want.size(); ++j)
            EXPECT_NEAR(got[j], want[j], 1e-6f * want[j]) << name << " " << j;
        EXPECT_EQ(back.entries().at(name).ncall, 3);
    }
}

TEST(Imatrix, TruncatedOrForeignFilesFailWithAClearMessage) {
    ScratchDir dir;
    std::string good;
    put_i32(good, 1);
    put_i32(good, 4);
    good += "blk.";
    put_i32(good, 1);
    put_i32(good, 2);
    put_f32(good, 1.0f);
    put_f32(good, 2.0f);
    write_bytes(dir / "good.dat", good);
    EXPECT_NO_THROW(ImportanceMatrix::load(dir / "good.dat"));

    const auto expect_error = [&](const std::string& bytes, const std::string& words) {
        write_bytes(dir / "bad.dat", bytes);
        try {
            (void)ImportanceMatrix::load(dir / "bad.dat");
            ADD_FAILURE() << "loaded " << bytes.size() << " bytes without error";
        } catch (const Error& e) {
            EXPECT_NE(std::string(e.what()).find(words), std::string::npos) << e.what();
        }
    };
    for (size_t cut = 0; cut < good.size(); ++cut)
        expect_error(good.substr(0, cut), "importance matrix");
    expect_error(good.substr(0, good.size() - 2), "truncated");
    expect_error(std::string("GGUF\x03\0\0\0 not an imatrix at all", 30), "not an imatrix");
    std::string negative = good;
    const float minus = -1.0f;
    std::memcpy(negative.data() + negative.size() - 4, &minus, 4);
    expect_error(negative, "finite mean square");
    EXPECT_THROW(ImportanceMatrix::load(dir / "missing.dat"), Error);
}

TEST(Imatrix, TextShorterThanOneChunkIsRefused) {
    const auto model = stories();
    ImatrixOptions options;
    options.n_ctx = 2048;
    try {
        (void)compute_imatrix(*model, ppl_text(), options);
        FAIL() << "no error";
    } catch (const Error& e) {
        EXPECT_NE(std::string(e.what()).find("fewer than one chunk"), std::string::npos)
            << e.what();
    }
}

}  // namespace
}  // namespace pocket::quant
