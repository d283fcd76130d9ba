// Reading vocabularies from GGUF metadata, including the errors for malformed or unsupported ones.
// The files are built in memory with the GGUF writer.
#include <gtest/gtest.h>

#include <cstdint>
#include <string>
#include <vector>

#include "pocket/core/error.h"
#include "pocket/gguf/gguf.h"
#include "pocket/tokenizer/gguf_vocab.h"
#include "pocket/tokenizer/tokenizer.h"

namespace pocket::tokenizer {
namespace {

using gguf::Array;
using gguf::Value;
using gguf::ValueType;
using Ids = std::vector<TokenId>;

const std::string kSpace = "\xE2\x96\x81";

Value strings(const std::vector<std::string>& items) {
    Array a{ValueType::STRING, {}};
    for (const auto& s : items) a.items.emplace_back(std::string(s));
    return Value(std::move(a));
}

template <typename T>
Value numbers(ValueType type, const std::vector<T>& items) {
    Array a{type, {}};
    for (const T x : items) a.items.emplace_back(x);
    return Value(std::move(a));
}

// A six-token SPM vocabulary: <unk> <s> </s> ▁ a ▁a.
gguf::Writer spm_writer() {
    gguf::Writer w;
    w.set("general.name", Value(std::string("unit-test")));
    w.set("tokenizer.ggml.model", Value(std::string("llama")));
    w.set("tokenizer.ggml.tokens", strings({"<unk>", "<s>", "</s>", kSpace, "a", kSpace + "a"}));
    w.set("tokenizer.ggml.scores",
          numbers<float>(ValueType::FLOAT32, {0.0f, 0.0f, 0.0f, -1.0f, -1.0f, -2.0f}));
    w.set("tokenizer.ggml.token_type", numbers<int32_t>(ValueType::INT32, {2, 3, 3, 1, 1, 1}));
    return w;
}

gguf::File parse(const gguf::Writer& w) {
    return gguf::File::parse(w.to_bytes(), "test.gguf");
}

// Expects load_tokenizer to throw pocket::Error whose message contains `needle`.
void expect_error(const gguf::Writer& w, const std::string& needle) {
    const auto file = parse(w);
    try {
        load_tokenizer(file);
        ADD_FAILURE() << "expected an error containing '" << needle << "'";
    } catch (const Error& e) {
        EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
    }
}

TEST(GgufVocab, ReadsAnSpmVocabulary) {
    const auto file = parse(spm_writer());
    const auto tok = load_tokenizer(file);
    const Vocab& v = tok->vocab();
    EXPECT_EQ(v.kind(), VocabKind::Spm);
    EXPECT_EQ(v.origin(), "test.gguf");
    EXPECT_EQ(v.model_name(), "unit-test");
    EXPECT_EQ(tok->n_vocab(), 6u);
    EXPECT_EQ(v.score(5), -2.0f);
    EXPECT_EQ(v.attr(0), kAttrUnknown);
    EXPECT_EQ(v.attr(1), kAttrControl);
    EXPECT_EQ(v.attr(4), kAttrNormal);
    // llama.cpp's SPM defaults: unk 0, bos 1, eos 2, add BOS, no EOS, space prefix.
    EXPECT_EQ(tok->unk(), 0);
    EXPECT_EQ(tok->bos(), 1);
    EXPECT_EQ(tok->eos(), 2);
    EXPECT_EQ(tok->eot(), kNoToken);
    EXPECT_TRUE(tok->add_bos());
    EXPECT_FALSE(tok->add_eos());
    EXPECT_TRUE(v.flags().add_space_prefix);
    EXPECT_EQ(tok->encode("a", true, false), (Ids{1, 5}));
    EXPECT_TRUE(tok->is_eog(2));
}

TEST(GgufVocab, MetadataOverridesDefaults) {
    auto w = spm_writer();
    w.set("tokenizer.ggml.add_bos_token", Value(false));
    w.set("tokenizer.ggml.add_eos_token", Value(true));
    w.set("tokenizer.ggml.add_space_prefix", Value(false));
    w.set("tokenizer.ggml.eos_token_id", Value(uint32_t{3}));
    w.set("tokenizer.ggml.eot_token_id", Value(uint32_t{2}));
    const auto file = parse(w);
    const auto tok = load_tokenizer(file);
    EXPECT_EQ(tok->encode("a", true, false), (Ids{4, 3}));
    EXPECT_EQ(tok->eos(), 3);
    EXPECT_EQ(tok->eot(), 2);
    EXPECT_TRUE(tok->is_eog(2));
    EXPECT_TRUE(tok->is_eog(3));
}

TEST(GgufVocab, MinusOneMeansNoToken) {
    auto w = spm_writer();
    w.set("tokenizer.ggml.padding_token_id", Value(uint32_t{0xFFFFFFFF}));
    w.set("tokenizer.ggml.seperator_token_id", Value(int32_t{-1}));
    const auto file = parse(w);
    const auto tok = load_tokenizer(file);
    EXPECT_EQ(tok->pad(), kNoToken);
    EXPECT_EQ(tok->vocab().special().sep, kNoToken);
}

TEST(GgufVocab, ScoresAndTypesAreOptional) {
    gguf::Writer w;
    w.set("tokenizer.ggml.model", Value(std::string("llama")));
    w.set("tokenizer.ggml.tokens", strings({"<unk>", "<s>", "</s>", kSpace + "a"}));
    const auto file = parse(w);
    const auto tok = load_tokenizer(file);
    EXPECT_EQ(tok->vocab().attr(1), kAttrNormal);
    EXPECT_EQ(tok->vocab().score(3), 0.0f);
    EXPECT_EQ(tok->encode("a", false, false), (Ids{3}));
}

TEST(GgufVocab, Phi3NameGivesRStrip) {
    auto w = spm_writer();
    w.set("general.name", Value(std::string("Phi3")));
    w.set("tokenizer.ggml.token_type", numbers<int32_t>(ValueType::INT32, {2, 3, 4, 3, 1, 1}));
    const auto file = parse(w);
    const auto tok = load_tokenizer(file);
    EXPECT_TRUE(tok->vocab().has_attr(3, kAttrRStrip));   // control ▁ (this test made it one)
    EXPECT_TRUE(tok->vocab().has_attr(2, kAttrRStrip));   // </s>
    EXPECT_FALSE(tok->vocab().has_attr(1, kAttrRStrip));  // <s>
}

TEST(GgufVocab, UnsupportedTokenizerModels) {
    auto w = spm_writer();
    // BPE needs its merges and a known pre-tokenizer.
    w.set("tokenizer.ggml.model", Value(std::string("gpt2")));
    expect_error(w, "the BPE vocabulary has no tokenizer.ggml.merges array");
    w.set("tokenizer.ggml.merges", strings({"a b"}));
    w.set("tokenizer.ggml.pre", Value(std::string("no-such-pre")));
    expect_error(w, "the BPE pre-tokenizer 'no-such-pre' (tokenizer.ggml.pre) is not supported");
    w.set("tokenizer.ggml.merges", strings({"ab"}));
    expect_error(w, "tokenizer.ggml.merges[0] = 'ab' is not two token texts");
    w.set("tokenizer.ggml.pre", Value(std::string("gpt-2")));
    w.set("tokenizer.ggml.model", Value(std::string("t5")));
    expect_error(w, "'t5' tokenizer");
    w.set("tokenizer.ggml.model", Value(std::string("none")));
    expect_error(w, "no vocabulary");
    w.set("tokenizer.ggml.model", Value(std::string("klingon")));
    expect_error(w, "unknown tokenizer model 'klingon'");
    w.set("tokenizer.ggml.model", Value(uint32_t{1}));
    expect_error(w, "should be a STRING");

    gguf::Writer none;
    none.set("general.name", Value(std::string("x")));
    expect_error(none, "tokenizer.ggml.model missing");
}

TEST(GgufVocab, MalformedArrays) {
    {
        gguf::Writer w;
        w.set("tokenizer.ggml.model", Value(std::string("llama")));
        expect_error(w, "no tokenizer.ggml.tokens array");
    }
    {
        auto w = spm_writer();
        w.set("tokenizer.ggml.tokens", numbers<int32_t>(ValueType::INT32, {1, 2, 3, 4, 5, 6}));
        expect_error(w, "should be an ARRAY of STRING but holds INT32");
    }
    {
        auto w = spm_writer();
        w.set("tokenizer.ggml.tokens", Value(std::string("<unk>")));
        expect_error(w, "should be an ARRAY of STRING but is STRING");
    }
    {
        auto w = spm_writer();
        w.set("tokenizer.ggml.tokens", strings({}));
        expect_error(w, "is empty");
    }
    {
        auto w = spm_writer();
        w.set("tokenizer.ggml.scores", numbers<float>(ValueType::FLOAT32, {0.0f, 0.0f}));
        expect_error(w, "tokenizer.ggml.scores has 2 entries but tokenizer.ggml.tokens has 6");
    }
    {
        auto w = spm_writer();
        w.set("tokenizer.ggml.scores", strings({"a", "b", "c", "d", "e", "f"}));
        expect_error(w, "tokenizer.ggml.scores should be an ARRAY of FLOAT32");
    }
    {
        auto w = spm_writer();
        w.set("tokenizer.ggml.token_type", numbers<int32_t>(ValueType::INT32, {1, 1, 1, 1, 1}));
        expect_error(w, "tokenizer.ggml.token_type has 5 entries");
    }
    {
        auto w = spm_writer();
        w.set("tokenizer.ggml.tokens", strings({"<unk>", "<s>", "</s>", "x", "a", "x"}));
        expect_error(w, "have the same text 'x'");
    }
}

TEST(GgufVocab, MalformedSpecialIdsAndFlags) {
    {
        auto w = spm_writer();
        w.set("tokenizer.ggml.bos_token_id", Value(uint32_t{6}));
        expect_error(w, "tokenizer.ggml.bos_token_id = 6 is out of range (the vocabulary has 6");
    }
    {
        auto w = spm_writer();
        w.set("tokenizer.ggml.eot_token_id", Value(int32_t{-5}));
        expect_error(w, "tokenizer.ggml.eot_token_id = -5 is not a token id");
    }
    {
        auto w = spm_writer();
        w.set("tokenizer.ggml.eos_token_id", Value(std::string("</s>")));
        expect_error(w, "tokenizer.ggml.eos_token_id should be an integer token id but is STRING");
    }
    {
        auto w = spm_writer();
        w.set("tokenizer.ggml.add_bos_token", Value(uint8_t{1}));
        expect_error(w, "tokenizer.ggml.add_bos_token should be a BOOL but is UINT8");
    }
}

}  // namespace
}  // namespace pocket::tokenizer
