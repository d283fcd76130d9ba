// Every real chat template in the shared data renders what Python Jinja2 rendered for it, byte for
// byte, and fails where Jinja2 failed, with the same message.
#include <gtest/gtest.h>

#include <filesystem>
#include <string>
#include <vector>

#include "jinja/jinja_test_util.h"
#include "support/test_support.h"

namespace pocket::test {
namespace {

struct SharedCase {
    std::string file;  // *.expected.json
    size_t index;
};

std::vector<SharedCase> all_cases() {
    std::vector<SharedCase> cases;
    std::vector<std::filesystem::path> files;
    for (const auto& entry : std::filesystem::directory_iterator(shared_path("templates")))
        if (entry.path().string().ends_with(".expected.json")) files.push_back(entry.path());
    std::sort(files.begin(), files.end());
    for (const auto& f : files) {
        const auto j = read_json(f);
        for (size_t i = 0; i < j["cases"].size(); ++i) cases.push_back({f.string(), i});
    }
    return cases;
}

class SharedTemplate : public testing::TestWithParam<SharedCase> {};

TEST_P(SharedTemplate, RendersLikeJinja2) {
    const auto expected = nlohmann::ordered_json::parse(read_file_bytes(GetParam().file));
    const auto& c = expected["cases"][GetParam().index];
    const std::string source =
        read_file_bytes(shared_path("templates") / expected["template_file"].get<std::string>());
    ChatTemplate tmpl(source, expected["template_file"].get<std::string>());
    tmpl.set_clock(fixed_clock);
    const ChatTemplateInputs inputs = inputs_for_case(expected["variables"], c);
    if (!c["error"].is_null()) {
        try {
            const auto out = tmpl.render_text(inputs);
            FAIL() << "expected " << c["error"].get<std::string>() << ", rendered:\n" << out;
        } catch (const TemplateError& e) {
            EXPECT_EQ(e.description(), c["error"].get<std::string>()) << e.what();
            EXPECT_GT(e.line(), 0);
        }
        return;
    }
    const RenderedPrompt out = tmpl.render(inputs);
    EXPECT_EQ(out.text, c["rendered"].get<std::string>());
    // Every message text appears inside an input range.
    for (const auto& m : inputs.messages) {
        if (!m.contains("content") || !m["content"].is_string()) continue;
        const std::string content = m["content"].get<std::string>();
        const size_t at = out.text.find(content);
        if (at == std::string::npos || content.empty()) continue;
        EXPECT_TRUE(covered(out, at, at + content.size())) << content;
    }
}

std::string case_name(const testing::TestParamInfo<SharedCase>& info) {
    const auto j = read_json(info.param.file);
    std::string name = j["template_file"].get<std::string>() + "_" +
                       j["cases"][info.param.index]["name"].get<std::string>();
    for (char& ch : name)
        if (!std::isalnum(static_cast<unsigned char>(ch))) ch = '_';
    return name;
}

INSTANTIATE_TEST_SUITE_P(All, SharedTemplate, testing::ValuesIn(all_cases()), case_name);

}  // namespace
}  // namespace pocket::test
