// The static (Model2Vec) embedder against an independent computation: this test reads the int8
// table straight from the safetensors bytes with its own header parsing, averages in double and
// normalises. Tokenization uses the shared Hugging Face tokenizer (tested in its own layer); a few
// token ids are also checked against a greedy WordPiece written here from the vocabulary.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <fstream>
#include <sstream>

#include "pocket/embed/embedder.h"
#include "pocket/embed/static_embedder.h"
#include "pocket/gguf/gguf.h"
#include "pocket/tokenizer/hf_tokenizer.h"
#include "support/test_support.h"

using pocket::test::read_file_bytes;
using pocket::test::read_json;
using pocket::test::ScratchDir;
using pocket::test::shared_path;

namespace {

const std::filesystem::path kModelDir = shared_path("models/embed/potion-base-4M-int8");

struct Reference {
    size_t rows = 0, dim = 0;
    std::vector<int8_t> table;
    nlohmann::json vocab;  // token text -> id
    int32_t unk = -1;
    std::unique_ptr<pocket::tokenizer::Tokenizer> tokenizer;

    Reference() {
        const std::string bytes = read_file_bytes(kModelDir / "model.safetensors");
        uint64_t length = 0;
        std::memcpy(&length, bytes.data(), 8);
        const auto header = nlohmann::json::parse(bytes.substr(8, length));
        const auto& t = header.at("embeddings");
        EXPECT_EQ(t.at("dtype"), "I8");
        rows = t.at("shape")[0].get<size_t>();
        dim = t.at("shape")[1].get<size_t>();
        const size_t begin = 8 + length + t.at("data_offsets")[0].get<size_t>();
        table.resize(rows * dim);
        std::memcpy(table.data(), bytes.data() + begin, table.size());

        const auto tok = read_json(kModelDir / "tokenizer.json");
        vocab = tok.at("model").at("vocab");
        unk = vocab.at("[UNK]").get<int32_t>();
        tokenizer = pocket::tokenizer::load_hf_tokenizer(kModelDir / "tokenizer.json");
    }

    std::vector<double> embed(const std::string& text) const {
        auto ids = tokenizer->encode(text, false, true);
        std::vector<int32_t> kept;
        for (auto id : ids) {
            if (id != unk && kept.size() < 512) kept.push_back(id);
        }
        std::vector<double> sum(dim, 0.0);
        for (auto id : kept) {
            for (size_t j = 0; j < dim; ++j) sum[j] += table[static_cast<size_t>(id) * dim + j];
        }
        double norm = 0;
        for (size_t j = 0; j < dim; ++j) sum[j] /= std::max<size_t>(kept.size(), 1);
        for (double v : sum) norm += v * v;
        norm = std::sqrt(norm);
        if (norm > 0) {
            for (double& v : sum) v /= norm;
        }
        return sum;
    }

    // Greedy longest-match WordPiece for lowercase ASCII words separated by single spaces.
    std::vector<int32_t> wordpiece(const std::string& text) const {
        std::vector<int32_t> out;
        std::istringstream words(text);
        for (std::string word; words >> word;) {
            size_t start = 0;
            while (start < word.size()) {
                size_t end = word.size();
                int32_t found = -1;
                for (; end > start; --end) {
                    const std::string piece = (start ? "##" : "") + word.substr(start, end - start);
                    if (vocab.contains(piece)) {
                        found = vocab.at(piece).get<int32_t>();
                        break;
                    }
                }
                if (found < 0) {
                    out.push_back(unk);
                    break;
                }
                out.push_back(found);
                start = end;
            }
        }
        return out;
    }
};

const Reference& reference() {
    static const Reference r;
    return r;
}

std::vector<std::string> test_texts() {
    std::vector<std::string> texts;
    std::ifstream corpus(shared_path("tokenizers/hf/corpus.jsonl"));
    for (std::string line; std::getline(corpus, line);) {
        if (!line.empty())
            texts.push_back(nlohmann::json::parse(line).at("text").get<std::string>());
    }
    std::ifstream wiki(shared_path("data/lm/wikitext-2-raw-test.txt"));
    std::string long_text;
    for (std::string line; std::getline(wiki, line) && texts.size() < 600;) {
        if (line.find_first_not_of(' ') == std::string::npos) continue;
        texts.push_back(line);
        long_text += line;
    }
    texts.push_back(long_text);  // far more than 512 tokens: checks the truncation
    texts.push_back("");
    texts.push_back("\xe2\x98\x83\xf0\x9f\x98\x80");  // only unknown tokens
    return texts;
}

double max_diff(const std::vector<float>& got, const std::vector<double>& want) {
    EXPECT_EQ(got.size(), want.size());
    double worst = 0;
    for (size_t j = 0; j < std::min(got.size(), want.size()); ++j) {
        worst = std::max(worst, std::abs(static_cast<double>(got[j]) - want[j]));
    }
    return worst;
}

}  // namespace

TEST(StaticEmbedder, TokenIdsMatchAGreedyWordPiece) {
    const auto& ref = reference();
    for (const std::string text :
         {"hello world", "the quick brown fox jumps over the lazy dog", "embeddings are unaffable",
          "tokenization of antidisestablishmentarianism"}) {
        EXPECT_EQ(ref.tokenizer->encode(text, false, true), ref.wordpiece(text)) << text;
    }
    EXPECT_EQ(ref.tokenizer->encode("Hello, WORLD!", false, true),
              (std::vector<int32_t>{
                  ref.vocab.at("hello").get<int32_t>(), ref.vocab.at(",").get<int32_t>(),
                  ref.vocab.at("world").get<int32_t>(), ref.vocab.at("!").get<int32_t>()}));
}

TEST(StaticEmbedder, MatchesAnIndependentMeanOfTheInt8Table) {
    const auto& ref = reference();
    const auto embedder = pocket::embed::StaticEmbedder::open_hf(kModelDir);
    EXPECT_EQ(embedder->dim(), 128u);
    EXPECT_EQ(embedder->n_vocab(), ref.rows);
    EXPECT_TRUE(embedder->normalize());
    const auto texts = test_texts();
    ASSERT_GT(texts.size(), 500u);
    double worst = 0;
    for (const auto& text : texts) {
        const double d = max_diff(embedder->embed(text), ref.embed(text));
        EXPECT_LT(d, 1e-5) << text;
        worst = std::max(worst, d);
    }
    std::printf("max |diff| over %zu texts: %.3g\n", texts.size(), worst);
    // The long text has more than 512 tokens and only the first 512 count.
    EXPECT_GT(ref.tokenizer->encode(texts[texts.size() - 3], false, true).size(), 512u);
    EXPECT_EQ(embedder->pooled_tokens(texts[texts.size() - 3]).size(), 512u);
    // Texts without a usable token embed to zero.
    for (float v : embedder->embed("")) EXPECT_EQ(v, 0.0f);
    for (float v : embedder->embed(texts.back())) EXPECT_EQ(v, 0.0f);
}

TEST(StaticEmbedder, BatchEqualsOneByOne) {
    const auto embedder = pocket::embed::open_embedder(kModelDir);
    const auto texts = test_texts();
    const auto batch = embedder->embed_batch(texts);
    ASSERT_EQ(batch.size(), texts.size());
    for (size_t i = 0; i < texts.size(); i += 7) EXPECT_EQ(batch[i], embedder->embed(texts[i]));
}

TEST(StaticEmbedder, GgufRoundTripGivesIdenticalEmbeddings) {
    const auto embedder = pocket::embed::StaticEmbedder::open_hf(kModelDir);
    ScratchDir dir;
    embedder->write_gguf(dir / "potion.gguf");
    {
        const auto file = pocket::gguf::File::open(dir / "potion.gguf");
        const auto* t = file.find_tensor("token_embd.weight");
        ASSERT_NE(t, nullptr);
        EXPECT_EQ(t->type, pocket::DType::I8);  // int8 tables stay int8
        EXPECT_EQ(t->shape, (std::vector<uint64_t>{128, 29528}));
    }
    const auto loaded = pocket::embed::open_embedder(dir / "potion.gguf");
    const auto& ref = reference();
    for (const auto& text : test_texts()) {
        const auto got = loaded->embed(text);
        EXPECT_EQ(got, embedder->embed(text)) << text;
        EXPECT_LT(max_diff(got, ref.embed(text)), 1e-5);
    }
}

TEST(StaticEmbedder, FactoryRejectsWhatItCannotEmbed) {
    ScratchDir dir;
    EXPECT_THROW(pocket::embed::open_embedder(dir.path()), pocket::Error);
    EXPECT_THROW(pocket::embed::open_embedder(dir / "missing.gguf"), pocket::Error);
    pocket::gguf::Writer unknown;
    unknown.set("general.architecture", std::string("mamba"));
    unknown.write(dir / "mamba.gguf");
    try {
        pocket::embed::open_embedder(dir / "mamba.gguf");
        ADD_FAILURE() << "an unknown architecture was accepted";
    } catch (const pocket::Error& e) {
        EXPECT_NE(std::string(e.what()).find("not supported"), std::string::npos) << e.what();
    }
}
