// The template a model ships (GGUF metadata) and `pocket template` end to end.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "jinja/jinja_test_util.h"
#include "pocket/gguf/gguf.h"
#include "pocket/tokenizer/tokenizer.h"
#include "support/test_support.h"

namespace pocket::test {
namespace {

ModelChatTemplate template_of(const std::string& model) {
    const auto file = gguf::File::open(shared_path("models/" + model));
    const auto tok = tokenizer::load_tokenizer(file);
    return chat_template_for(file, *tok);
}

TEST(JinjaModelTemplate, TinyQwen2CarriesQwenTemplate) {
    ModelChatTemplate m = template_of("tiny/tiny-qwen2.gguf");
    EXPECT_FALSE(m.builtin);
    EXPECT_EQ(m.tmpl.source(),
              read_file_bytes(shared_path("templates/Qwen-Qwen2.5-7B-Instruct.jinja")));
    ASSERT_TRUE(m.eos_token.has_value());
    ChatTemplateInputs in = m.inputs();
    in.messages = nlohmann::ordered_json::array({{{"role", "user"}, {"content", "hi"}}});
    const std::string out = m.tmpl.render_text(in);
    EXPECT_NE(out.find("<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n"),
              std::string::npos)
        << out;
}

TEST(JinjaModelTemplate, ModelWithoutTemplateGetsBuiltinChatML) {
    ModelChatTemplate m = template_of("stories260K.gguf");
    EXPECT_TRUE(m.builtin);
    EXPECT_EQ(m.tmpl.source(), builtin_chat_template());
    const auto file = gguf::File::open(shared_path("models/stories260K.gguf"));
    const auto tok = tokenizer::load_tokenizer(file);
    EXPECT_THROW(chat_template_for(file, *tok, "tool_use"), Error);
}

class CliTemplate : public testing::Test {
  protected:
    std::string write(const std::string& name, const std::string& content) {
        const auto path = dir_ / name;
        std::ofstream(path, std::ios::binary) << content;
        return path.string();
    }
    ScratchDir dir_;
};

TEST_F(CliTemplate, RendersTheModelsTemplateExactly) {
    const auto expected =
        read_json(shared_path("templates/Qwen-Qwen2.5-7B-Instruct.expected.json"));
    const auto& c = expected["cases"][0];
    const std::string messages = write("m.json", c["messages"].dump());
    const auto r =
        run_pocket({"template", "-m", shared_path("models/tiny/tiny-qwen2.gguf").string(),
                    "--messages", messages});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    EXPECT_EQ(r.out, c["rendered"].get<std::string>());

    const auto r2 =
        run_pocket({"template", "-m", shared_path("models/tiny/tiny-qwen2.gguf").string(),
                    "--messages", messages, "--no-generation-prompt"});
    ASSERT_EQ(r2.exit_code, 0) << r2.err;
    EXPECT_EQ(r2.out, expected["cases"][1]["rendered"].get<std::string>());
}

TEST_F(CliTemplate, RaisingTemplateExitsWithItsMessage) {
    const std::string tmpl = write(
        "t.jinja",
        "{% for m in messages %}{% if m.role == 'system' %}"
        "{{ raise_exception('System role not supported') }}{% endif %}{{ m.content }}{% endfor %}");
    const std::string messages = write(
        "m.json", R"([{"role": "system", "content": "s"}, {"role": "user", "content": "u"}])");
    const auto r = run_pocket({"template", "--file", tmpl, "--messages", messages});
    EXPECT_EQ(r.exit_code, 1);
    EXPECT_TRUE(r.out.empty());
    EXPECT_NE(r.err.find("System role not supported"), std::string::npos) << r.err;

    const std::string ok = write("ok.json", R"([{"role": "user", "content": "u"}])");
    const auto r2 = run_pocket({"template", "--file", tmpl, "--messages", ok, "--bos", "<s>"});
    EXPECT_EQ(r2.exit_code, 0) << r2.err;
    EXPECT_EQ(r2.out, "u");
}

TEST_F(CliTemplate, UsageErrors) {
    const std::string ok = write("ok.json", "[]");
    EXPECT_EQ(run_pocket({"template", "--messages", ok}).exit_code, 64);
    EXPECT_EQ(run_pocket({"template", "--file", ok}).exit_code, 64);  // --messages missing
}

}  // namespace
}  // namespace pocket::test

namespace pocket::test {
namespace {

TEST(JinjaModelTemplate, TinyModelsCarryTemplatesFromTheSharedSet) {
    for (const std::string model :
         {"tiny-qwen2.gguf", "tiny-llama-bpe.gguf", "tiny-phi3.gguf", "tiny-gemma2.gguf"}) {
        const ModelChatTemplate m = template_of("tiny/" + model);
        EXPECT_FALSE(m.builtin) << model;
        bool found = false;
        for (const auto& entry : std::filesystem::directory_iterator(shared_path("templates")))
            found = found || (entry.path().extension() == ".jinja" &&
                              read_file_bytes(entry.path()) == m.tmpl.source());
        EXPECT_TRUE(found) << model;
    }
}

}  // namespace
}  // namespace pocket::test
