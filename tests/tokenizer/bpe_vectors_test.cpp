// The byte-level BPE and WordPiece tokenizers against llama.cpp's tokenizer test vectors
// (.inp/.out, add_special=false, parse_special=false): the vocabularies in tokenizers/ whose
// expected ids come from the Hugging Face tokenizer, and reference/tokenize/ (llama.cpp's ids).
#include <gtest/gtest.h>

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "pocket/gguf/gguf.h"
#include "pocket/tokenizer/gguf_vocab.h"
#include "pocket/tokenizer/tokenizer.h"
#include "support/test_support.h"

namespace pocket::tokenizer {
namespace {

using Ids = std::vector<TokenId>;

const Tokenizer& gguf_tokenizer(const std::string& relative_path) {
    static std::map<std::string, std::unique_ptr<Tokenizer>> cache;
    auto& slot = cache[relative_path];
    if (!slot) slot = load_tokenizer(gguf::File::open(pocket::test::shared_path(relative_path)));
    return *slot;
}

struct VectorSet {
    std::string name;
    std::string vocab;    // GGUF with the vocabulary, relative to the shared folder
    std::string vectors;  // .inp/.out prefix, relative to the shared folder
    VocabKind kind;
};

void PrintTo(const VectorSet& set, std::ostream* os) {
    *os << set.name;
}

class VocabVectors : public ::testing::TestWithParam<VectorSet> {};

TEST_P(VocabVectors, MatchReference) {
    const VectorSet& set = GetParam();
    const Tokenizer& tok = gguf_tokenizer(set.vocab);
    ASSERT_EQ(tok.vocab().kind(), set.kind);
    const auto cases =
        pocket::test::read_tokenizer_vectors(pocket::test::shared_path(set.vectors + ".inp"),
                                             pocket::test::shared_path(set.vectors + ".out"));
    ASSERT_EQ(cases.size(), 46u);
    size_t failures = 0;
    for (const auto& c : cases) {
        const Ids ids = tok.encode(c.text, false, false);
        const Ids expected(c.ids.begin(), c.ids.end());
        EXPECT_EQ(ids, expected) << "text: '" << c.text << "'";
        failures += ids != expected;
    }
    EXPECT_EQ(failures, 0u);
}

// Byte-level BPE keeps every byte, so pieces concatenate back to the input exactly (decode's
// clean-up of spaces before punctuation is off for these pre-tokenizers).
class BpeVocabVectors : public ::testing::TestWithParam<VectorSet> {};

TEST_P(BpeVocabVectors, PiecesRoundTrip) {
    const VectorSet& set = GetParam();
    const Tokenizer& tok = gguf_tokenizer(set.vocab);
    const auto cases =
        pocket::test::read_tokenizer_vectors(pocket::test::shared_path(set.vectors + ".inp"),
                                             pocket::test::shared_path(set.vectors + ".out"));
    for (const auto& c : cases) {
        std::string joined;
        for (const TokenId id : tok.encode(c.text, false, false))
            joined += tok.token_to_piece(id, true);
        EXPECT_EQ(joined, c.text);
        if (!tok.vocab().flags().clean_spaces) {
            const Ids ids = tok.encode(c.text, false, false);
            EXPECT_EQ(tok.decode(ids, false, false), c.text);
        }
    }
}

const VectorSet kSets[] = {
    {"gpt_2", "tokenizers/ggml-vocab-gpt-2.gguf", "tokenizers/ggml-vocab-gpt-2.gguf",
     VocabKind::Bpe},
    {"deepseek_coder", "tokenizers/ggml-vocab-deepseek-coder.gguf",
     "tokenizers/ggml-vocab-deepseek-coder.gguf", VocabKind::Bpe},
    {"deepseek_llm", "tokenizers/ggml-vocab-deepseek-llm.gguf",
     "tokenizers/ggml-vocab-deepseek-llm.gguf", VocabKind::Bpe},
    {"falcon", "tokenizers/ggml-vocab-falcon.gguf", "tokenizers/ggml-vocab-falcon.gguf",
     VocabKind::Bpe},
    {"mpt", "tokenizers/ggml-vocab-mpt.gguf", "tokenizers/ggml-vocab-mpt.gguf", VocabKind::Bpe},
    {"refact", "tokenizers/ggml-vocab-refact.gguf", "tokenizers/ggml-vocab-refact.gguf",
     VocabKind::Bpe},
    {"starcoder", "tokenizers/ggml-vocab-starcoder.gguf", "tokenizers/ggml-vocab-starcoder.gguf",
     VocabKind::Bpe},
    {"bert_bge", "tokenizers/ggml-vocab-bert-bge.gguf", "tokenizers/ggml-vocab-bert-bge.gguf",
     VocabKind::WordPiece},
    {"gpt_neox", "tokenizers/ggml-vocab-gpt-neox.gguf",
     "reference/tokenize/ggml-vocab-gpt-neox.gguf", VocabKind::Bpe},
    {"tiny_llama_bpe", "models/tiny/tiny-llama-bpe.gguf", "reference/tokenize/tiny-llama-bpe.gguf",
     VocabKind::Bpe},
    {"tiny_qwen2", "models/tiny/tiny-qwen2.gguf", "reference/tokenize/tiny-qwen2.gguf",
     VocabKind::Bpe},
    {"tiny_bert", "models/tiny/tiny-bert.gguf", "reference/tokenize/tiny-bert.gguf",
     VocabKind::WordPiece},
};

std::string set_name(const ::testing::TestParamInfo<VectorSet>& info) {
    return info.param.name;
}

INSTANTIATE_TEST_SUITE_P(Gguf, VocabVectors, ::testing::ValuesIn(kSets), set_name);

std::vector<VectorSet> bpe_sets() {
    std::vector<VectorSet> out;
    for (const VectorSet& s : kSets) {
        if (s.kind == VocabKind::Bpe) out.push_back(s);
    }
    return out;
}

INSTANTIATE_TEST_SUITE_P(Gguf, BpeVocabVectors, ::testing::ValuesIn(bpe_sets()), set_name);

}  // namespace
}  // namespace pocket::tokenizer
