// `pocket convert`: a Model2Vec folder to GGUF, then `pocket embed` on the GGUF gives the same
// vectors as on the folder (the vectors themselves are checked in tests/embed).
#include <gtest/gtest.h>

#include "support/test_support.h"

using pocket::test::run_pocket;
using pocket::test::ScratchDir;
using pocket::test::shared_path;

TEST(CliConvert, Model2VecFolderToGgufEmbedsIdentically) {
    ScratchDir dir;
    const std::string model = shared_path("models/embed/potion-base-4M-int8").string();
    const std::string out = (dir / "potion.gguf").string();
    const auto r = run_pocket({"convert", model, "-o", out});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    EXPECT_NE(r.out.find("model2vec"), std::string::npos) << r.out;
    const auto a = run_pocket({"embed", "-m", model, "-p", "Hello world", "-p", "A second text."});
    const auto b = run_pocket({"embed", "-m", out, "-p", "Hello world", "-p", "A second text."});
    ASSERT_EQ(a.exit_code, 0) << a.err;
    ASSERT_EQ(b.exit_code, 0) << b.err;
    EXPECT_EQ(a.out, b.out);
    EXPECT_EQ(run_pocket({"convert", model, "-o", out, "--type", "q4_k"}).exit_code, 64);
    EXPECT_EQ(run_pocket({"convert", (dir / "nope").string(), "-o", out}).exit_code, 1);
}
