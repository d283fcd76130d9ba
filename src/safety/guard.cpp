// Category helpers, the verdict's JSON form and load_guard, shared by both guard back ends.
#include "pocket/safety/guard.h"

#include <array>

#include "pocket/core/error.h"
#include "safety/classifier.h"
#include "safety/llama_guard.h"

namespace pocket::safety {

namespace {
// The MLCommons hazard names as Meta's Llama Guard 3 model cards spell them (the prompt itself
// uses shorter forms; llama_guard.cpp carries those).
constexpr std::array<std::string_view, kCategoryCount> kNames = {"Violent Crimes",
                                                                 "Non-Violent Crimes",
                                                                 "Sex-Related Crimes",
                                                                 "Child Sexual Exploitation",
                                                                 "Defamation",
                                                                 "Specialized Advice",
                                                                 "Privacy",
                                                                 "Intellectual Property",
                                                                 "Indiscriminate Weapons",
                                                                 "Hate",
                                                                 "Suicide & Self-Harm",
                                                                 "Sexual Content",
                                                                 "Elections",
                                                                 "Code Interpreter Abuse"};

void check_range(int category) {
    if (category < 1 || category > kCategoryCount)
        fail("guard category ", category, " is outside S1..S", kCategoryCount);
}
}  // namespace

std::string category_code(int category) {
    check_range(category);
    std::string code = "S";  // (not "S" + to_string: GCC 12 warns falsely on that insert)
    code += std::to_string(category);
    return code;
}

std::string_view category_name(int category) {
    check_range(category);
    return kNames[static_cast<size_t>(category - 1)];
}

std::optional<int> parse_category_code(std::string_view code) {
    if (code.size() < 2 || code.size() > 3 || (code[0] != 'S' && code[0] != 's'))
        return std::nullopt;
    int value = 0;
    for (char c : code.substr(1)) {
        if (c < '0' || c > '9') return std::nullopt;
        value = value * 10 + (c - '0');
    }
    // "S01" is not a code Llama Guard writes; refusing it keeps code <-> number one-to-one.
    if (code[1] == '0' || value < 1 || value > kCategoryCount) return std::nullopt;
    return value;
}

nlohmann::json GuardVerdict::to_json() const {
    nlohmann::json categories_json = nlohmann::json::array();
    for (int c : categories) categories_json.push_back(category_code(c));
    nlohmann::json out = {
        {"safe", safe}, {"score", score}, {"categories", std::move(categories_json)}};
    if (!flags.empty()) out["flags"] = flags;
    return out;
}

std::unique_ptr<Guard> load_guard(const std::filesystem::path& path) {
    if (path.empty()) return builtin_classifier();
    // A classifier file carries its own architecture name; any other GGUF is taken for a guard
    // language model, and Model::load says what is wrong with it when it is neither.
    if (is_classifier_file(path)) return load_classifier(path);
    return load_llama_guard(path);
}

}  // namespace pocket::safety
