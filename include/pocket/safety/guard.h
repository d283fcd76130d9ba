// On-device moderation: one interface, two back ends. The built-in classifier (a few MB, a few
// milliseconds, trained in-project; safety/classifier.h) and a guard language model in GGUF
// (Llama Guard 3 style prompt, "safe" / "unsafe\nS1,S10" output; safety/llama_guard.h). Both
// answer with P(unsafe) and the MLCommons hazard categories S1-S14 that Llama Guard 3 uses.
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

namespace pocket::safety {

// MLCommons AI Safety hazard taxonomy as Llama Guard 3 numbers it (S1..S14).
inline constexpr int kCategoryCount = 14;
// "S1".."S14"; throws pocket::Error outside 1..14.
std::string category_code(int category);
// "Violent Crimes", "Non-Violent Crimes", "Sex-Related Crimes", "Child Sexual Exploitation",
// "Defamation", "Specialized Advice", "Privacy", "Intellectual Property",
// "Indiscriminate Weapons", "Hate", "Suicide & Self-Harm", "Sexual Content", "Elections",
// "Code Interpreter Abuse".
std::string_view category_name(int category);
// "S7" or "s7" -> 7; nullopt for anything else.
std::optional<int> parse_category_code(std::string_view code);

// What is checked: a user prompt alone, or an assistant response in the context of its prompt.
struct GuardInput {
    std::string_view prompt;
    std::optional<std::string_view> response;
};

struct GuardVerdict {
    bool safe = true;
    double score = 0;                // P(unsafe) in [0, 1]
    std::vector<int> categories;     // 1..14, ascending; empty when safe
    std::vector<std::string> flags;  // jailbreak signals seen: "roleplay", "override", "base64",
                                     // "leetspeak", ...

    // {"safe": bool, "score": number, "categories": ["S1", ...]} (+ "flags" when any).
    nlohmann::json to_json() const;
};

class Guard {
  public:
    virtual ~Guard() = default;
    // Thread-safe. Never throws for any input bytes (invalid UTF-8 included).
    virtual GuardVerdict check(const GuardInput& input) const = 0;
    // The score at or above which a verdict is unsafe.
    virtual double threshold() const = 0;
    virtual void set_threshold(double threshold) = 0;
    // "builtin classifier", "llama-guard (file.gguf)", ...
    virtual std::string describe() const = 0;
};

// The guard a front end uses: the built-in classifier when `path` is empty, otherwise the file:
// a classifier from `pocket guard train`, or a guard language model GGUF (by its architecture).
// Throws pocket::Error naming the file when it cannot be loaded.
std::unique_ptr<Guard> load_guard(const std::filesystem::path& path = {});

}  // namespace pocket::safety
