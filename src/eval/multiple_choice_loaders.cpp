// Parsers for the multiple-choice benchmark files (formats in ../shared/data/README.md, `lm/`).
// Every record is checked completely, so a truncated or foreign file fails at load with its line
// named rather than producing a silently wrong score.
#include <algorithm>
#include <array>
#include <charconv>
#include <string>

#include <nlohmann/json.hpp>

#include "pocket/core/read_file.h"
#include "pocket/eval/multiple_choice.h"

namespace pocket::eval {
namespace {

constexpr std::array<std::string_view, 5> kTaskNames = {"hellaswag", "winogrande", "arc-easy",
                                                        "arc-challenge", "truthfulqa-mc1"};

[[noreturn]] void bad(std::string_view source, size_t line, std::string_view what) {
    throw DataError(cat(source, ":", line, ": ", what));
}

// Splits into lines (LF, a CR before it dropped); the text after the last LF is a line when
// non-empty, so files with and without a final newline read the same.
std::vector<std::string_view> split_lines(std::string_view text) {
    std::vector<std::string_view> lines;
    while (!text.empty()) {
        const size_t nl = text.find('\n');
        std::string_view line = text.substr(0, nl);
        if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
        lines.push_back(line);
        if (nl == std::string_view::npos) break;
        text.remove_prefix(nl + 1);
    }
    return lines;
}

// Calls fn(json, line_number) for every non-blank JSONL line.
template <typename Fn>
void for_each_jsonl(std::string_view text, std::string_view source, Fn&& fn) {
    const auto lines = split_lines(text);
    for (size_t i = 0; i < lines.size(); ++i) {
        if (lines[i].find_first_not_of(" \t") == std::string_view::npos) continue;
        nlohmann::json j = nlohmann::json::parse(lines[i], nullptr, /*allow_exceptions=*/false);
        if (j.is_discarded() || !j.is_object()) bad(source, i + 1, "not a JSON object");
        fn(j, i + 1);
    }
}

std::string string_field(const nlohmann::json& j, const char* key, std::string_view source,
                         size_t line) {
    auto it = j.find(key);
    if (it == j.end() || !it->is_string()) bad(source, line, cat("no string field '", key, "'"));
    return it->get<std::string>();
}

void require_choices(const Question& q, std::string_view source, size_t line) {
    if (q.choices.size() < 2) bad(source, line, "fewer than two choices");
    for (const auto& c : q.choices) {
        if (c.empty()) bad(source, line, "an empty choice");
    }
}

}  // namespace

std::string_view task_name(Task task) {
    return kTaskNames[static_cast<size_t>(task)];
}

Task parse_task(std::string_view name) {
    for (size_t i = 0; i < kTaskNames.size(); ++i) {
        if (name == kTaskNames[i]) return static_cast<Task>(i);
    }
    fail("unknown task '", name,
         "' (known: hellaswag, winogrande, arc-easy, arc-challenge, truthfulqa-mc1)");
}

std::vector<Question> parse_hellaswag(std::string_view text, std::string_view source) {
    const auto lines = split_lines(text);
    if (lines.empty()) throw DataError(cat(source, ": no tasks"));
    if (lines.size() % 6 != 0) {
        bad(source, lines.size() / 6 * 6 + 1,
            cat("incomplete task: ", lines.size() % 6,
                " lines where 6 are needed (context, label, four endings)"));
    }
    std::vector<Question> out;
    out.reserve(lines.size() / 6);
    for (size_t i = 0; i < lines.size(); i += 6) {
        Question q;
        q.line = i + 1;
        q.context = lines[i];
        const std::string_view label = lines[i + 1];
        if (label.size() != 1 || label[0] < '0' || label[0] > '3') {
            bad(source, i + 2, cat("the label must be 0-3, found '", label.substr(0, 40), "'"));
        }
        q.answer = static_cast<size_t>(label[0] - '0');
        for (size_t k = 0; k < 4; ++k) q.choices.emplace_back(lines[i + 2 + k]);
        for (size_t k = 0; k < 4; ++k) {
            if (q.choices[k].empty()) bad(source, i + 3 + k, "an empty ending");
        }
        out.push_back(std::move(q));
    }
    return out;
}

std::vector<Question> parse_winogrande(std::string_view text, std::string_view source) {
    std::vector<Question> out;
    for_each_jsonl(text, source, [&](const nlohmann::json& j, size_t line) {
        const std::string sentence = string_field(j, "sentence", source, line);
        const size_t blank = sentence.find('_');
        if (blank == std::string::npos) bad(source, line, "the sentence has no '_'");
        Question q;
        q.line = line;
        q.context = sentence.substr(0, blank);
        q.after = sentence.substr(blank + 1);
        q.choices = {string_field(j, "option1", source, line),
                     string_field(j, "option2", source, line)};
        const std::string answer = string_field(j, "answer", source, line);
        if (answer != "1" && answer != "2") bad(source, line, "answer must be \"1\" or \"2\"");
        q.answer = answer == "1" ? 0 : 1;
        require_choices(q, source, line);
        out.push_back(std::move(q));
    });
    if (out.empty()) throw DataError(cat(source, ": no tasks"));
    return out;
}

std::vector<Question> parse_arc_easy(std::string_view text, std::string_view source) {
    std::vector<Question> out;
    for_each_jsonl(text, source, [&](const nlohmann::json& j, size_t line) {
        Question q;
        q.line = line;
        q.context = string_field(j, "prompt", source, line);
        auto choices = j.find("choices");
        if (choices == j.end() || !choices->is_array()) bad(source, line, "no array 'choices'");
        for (const auto& c : *choices) {
            if (!c.is_string()) bad(source, line, "a choice that is not a string");
            q.choices.push_back(c.get<std::string>());
        }
        auto idx = j.find("answer_idx");
        if (idx == j.end() || !idx->is_number_integer() || idx->get<int64_t>() < 0 ||
            idx->get<int64_t>() >= static_cast<int64_t>(q.choices.size())) {
            bad(source, line, "'answer_idx' is missing or not an index into 'choices'");
        }
        q.answer = idx->get<size_t>();
        require_choices(q, source, line);
        out.push_back(std::move(q));
    });
    if (out.empty()) throw DataError(cat(source, ": no tasks"));
    return out;
}

std::vector<Question> parse_arc_challenge(std::string_view text, std::string_view source) {
    std::vector<Question> out;
    for_each_jsonl(text, source, [&](const nlohmann::json& j, size_t line) {
        Question q;
        q.line = line;
        q.context = string_field(j, "question", source, line);
        const std::string answer = string_field(j, "answer", source, line);
        auto options = j.find("options");
        if (options == j.end() || !options->is_array()) bad(source, line, "no array 'options'");
        bool found = false;
        for (const auto& o : *options) {
            if (!o.is_object()) bad(source, line, "an option that is not an object");
            if (string_field(o, "label", source, line) == answer) {
                q.answer = q.choices.size();
                found = true;
            }
            q.choices.push_back(string_field(o, "text", source, line));
        }
        if (!found) bad(source, line, cat("answer '", answer, "' is not one of the labels"));
        require_choices(q, source, line);
        out.push_back(std::move(q));
    });
    if (out.empty()) throw DataError(cat(source, ": no tasks"));
    return out;
}

std::vector<Question> parse_truthfulqa_mc1(std::string_view text, std::string_view source) {
    // ordered_json: the answers' order is the file's (the right one first), which matters for
    // ties and for reporting.
    nlohmann::ordered_json doc;
    try {
        doc = nlohmann::ordered_json::parse(text);
    } catch (const nlohmann::json::parse_error& e) {
        throw DataError(cat(source, ": not JSON (byte ", e.byte, ")"));
    }
    if (!doc.is_array()) throw DataError(cat(source, ": expected a JSON array of questions"));
    std::vector<Question> out;
    for (size_t i = 0; i < doc.size(); ++i) {
        const auto& r = doc[i];
        const size_t record = i + 1;
        auto fail_record = [&](std::string_view what) {
            throw DataError(cat(source, ": record ", record, ": ", what));
        };
        if (!r.is_object()) fail_record("not an object");
        auto question = r.find("question");
        if (question == r.end() || !question->is_string()) fail_record("no string 'question'");
        auto targets = r.find("mc1_targets");
        if (targets == r.end() || !targets->is_object()) fail_record("no object 'mc1_targets'");
        Question q;
        q.line = record;
        q.context = question->get<std::string>();
        size_t n_right = 0;
        for (auto it = targets->begin(); it != targets->end(); ++it) {
            if (!it.value().is_number_integer() ||
                (it.value().get<int64_t>() != 0 && it.value().get<int64_t>() != 1)) {
                fail_record(cat("mc1_targets value for '", it.key().substr(0, 40), "' is not 0/1"));
            }
            if (it.value().get<int64_t>() == 1) {
                q.answer = q.choices.size();
                ++n_right;
            }
            q.choices.push_back(it.key());
        }
        if (n_right != 1) fail_record("mc1_targets must mark exactly one answer 1");
        if (q.choices.size() < 2) fail_record("fewer than two choices");
        for (const auto& c : q.choices) {
            if (c.empty()) fail_record("an empty choice");
        }
        out.push_back(std::move(q));
    }
    if (out.empty()) throw DataError(cat(source, ": no tasks"));
    return out;
}

std::vector<Question> parse_questions(Task task, std::string_view text, std::string_view source) {
    switch (task) {
        case Task::hellaswag:
            return parse_hellaswag(text, source);
        case Task::winogrande:
            return parse_winogrande(text, source);
        case Task::arc_easy:
            return parse_arc_easy(text, source);
        case Task::arc_challenge:
            return parse_arc_challenge(text, source);
        case Task::truthfulqa_mc1:
            return parse_truthfulqa_mc1(text, source);
    }
    fail("unknown task");
}

std::vector<Question> load_questions(Task task, const std::filesystem::path& path) {
    std::filesystem::path file = path;
    std::error_code ec;
    if (task == Task::truthfulqa_mc1 && std::filesystem::is_directory(path, ec)) {
        file = path / "mc_task.json";
    }
    if (!std::filesystem::exists(file, ec)) fail(file.string(), ": no such file");
    std::string text = read_file(file);
    if (text.starts_with("BZh")) text = bunzip2(text, file.string());
    return parse_questions(task, text, file.string());
}

}  // namespace pocket::eval
