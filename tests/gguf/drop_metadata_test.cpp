// File::drop_metadata: a dropped key is gone from every lookup, the others keep their values
// (the index is rebuilt), and a model drops the vocabulary arrays its tokenizer has copied.
#include <gtest/gtest.h>

#include <string>

#include "pocket/gguf/gguf.h"
#include "pocket/model/model.h"
#include "pocket/tokenizer/tokenizer.h"
#include "support/test_support.h"

namespace pocket::gguf {
namespace {

File three_keys() {
    Writer w;
    w.set("a.first", uint32_t{1});
    w.set("b.second", std::string("two"));
    w.set("c.third", uint32_t{3});
    return File::parse(w.to_bytes(), "three.gguf");
}

TEST(GgufDropMetadata, TheKeyIsGoneAndTheOthersStay) {
    File f = three_keys();
    const size_t before = f.metadata().size();
    f.drop_metadata("b.second");
    EXPECT_EQ(f.metadata().size(), before - 1);
    EXPECT_EQ(f.find("b.second"), nullptr);
    EXPECT_FALSE(f.get_string("b.second").has_value());
    // The later key moved down one slot: lookups by name still find its own value.
    EXPECT_EQ(f.get_uint("c.third"), 3u);
    EXPECT_EQ(f.get_uint("a.first"), 1u);
    for (const auto& kv : f.metadata()) EXPECT_NE(kv.key, "b.second");

    f.drop_metadata("b.second");  // absent: nothing happens
    f.drop_metadata("no.such.key");
    EXPECT_EQ(f.metadata().size(), before - 1);
    f.drop_metadata("c.third");
    EXPECT_EQ(f.get_uint("a.first"), 1u);
    EXPECT_EQ(f.find("c.third"), nullptr);
}

TEST(GgufDropMetadata, AModelKeepsItsVocabularyOnlyInTheTokenizer) {
    const auto path = test::shared_path("models/stories260K.gguf");
    const File raw = File::open(path);
    ASSERT_NE(raw.get_array("tokenizer.ggml.tokens"), nullptr);
    const auto model = model::Model::load(path);
    EXPECT_EQ(model->file().find("tokenizer.ggml.tokens"), nullptr);
    EXPECT_EQ(model->file().find("tokenizer.ggml.scores"), nullptr);
    EXPECT_EQ(model->file().find("tokenizer.ggml.token_type"), nullptr);
    EXPECT_EQ(model->tokenizer().n_vocab(), raw.get_array("tokenizer.ggml.tokens")->items.size());
    // What the tokenizer needs is still there, and the rest of the metadata too.
    EXPECT_EQ(model->file().get_string("general.architecture"),
              raw.get_string("general.architecture"));
    EXPECT_FALSE(model->tokenizer().encode("Once upon a time", false, false).empty());
}

}  // namespace
}  // namespace pocket::gguf
