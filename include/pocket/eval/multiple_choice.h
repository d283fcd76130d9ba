// Multiple-choice benchmarks scored by log-likelihood: HellaSwag, WinoGrande, ARC (Easy and
// Challenge) and TruthfulQA MC1.
//
// Each question is a context and several candidate continuations; the model "answers" with the
// candidate whose scored tokens have the highest mean log-probability. The rules follow
// llama.cpp's `llama-perplexity` (commit c392e50) task for task, so scores can be compared:
//
// - HellaSwag (`hellaswag_score`), ARC and TruthfulQA (`multiple_choice_score`): each candidate is
//   tokenized as `context + " " + choice` with BOS (add_special, no special-token parsing). The
//   tokens shared by all candidates are the prefix; every token after it is scored. llama.cpp
//   does not use a prompt template for ARC/TruthfulQA either: the context is the bare question.
// - WinoGrande (`winogrande_score`): `before + option + after` (the blank replaced); only the
//   tokens after `before + option` are scored, minus the last one (usually the final period),
//   unless either candidate has 3 or fewer tokens after the shared prefix, in which case
//   everything after the shared prefix is scored (minus the last token). Unlike llama.cpp (its
//   FIXME), that fallback reads the right logits for the second option too.
//
// Evaluation puts each question's shared prefix in the KV cache once and forks it (copy-on-write
// pages) into one sequence per candidate; as many questions as fit in the context go into one
// pass, and logits are produced only where a scored token is predicted.
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "pocket/core/error.h"
#include "pocket/core/token.h"

namespace pocket::model {
class Context;
}
namespace pocket::tokenizer {
class Tokenizer;
}

namespace pocket::eval {

enum class Task { hellaswag, winogrande, arc_easy, arc_challenge, truthfulqa_mc1 };

// "hellaswag", "winogrande", "arc-easy", "arc-challenge", "truthfulqa-mc1".
std::string_view task_name(Task task);
// The inverse; throws pocket::Error listing the known names.
Task parse_task(std::string_view name);

// A data file that does not have its task's format. what() names the file and line (for JSONL
// and the HellaSwag text format) or record (for a JSON array).
class DataError : public Error {
  public:
    using Error::Error;
};

struct Question {
    std::string context;  // HellaSwag/ARC/TruthfulQA: the text before " " + choice;
                          // WinoGrande: the sentence before the blank
    std::string after;    // WinoGrande only: the sentence after the blank
    std::vector<std::string> choices;
    size_t answer = 0;  // index into choices
    size_t line = 0;    // 1-based line (record for a JSON array) in the file, for messages
};

// Parsers of the files in ../shared/data/lm/ (see its README). `source` names the text in error
// messages. HellaSwag: llama.cpp's 6-lines-per-task text (context, label 0-3, four endings).
// WinoGrande: JSONL {sentence with one "_", option1, option2, answer "1"|"2"}. ARC-Easy: JSONL
// {prompt, choices[], answer_idx}. ARC-Challenge: JSONL {question, options[{label, text}],
// answer label}. TruthfulQA: mc_task.json, an array of {question, mc1_targets {answer: 0|1}} in
// file order (the answer marked 1 is the right one).
std::vector<Question> parse_hellaswag(std::string_view text, std::string_view source);
std::vector<Question> parse_winogrande(std::string_view text, std::string_view source);
std::vector<Question> parse_arc_easy(std::string_view text, std::string_view source);
std::vector<Question> parse_arc_challenge(std::string_view text, std::string_view source);
std::vector<Question> parse_truthfulqa_mc1(std::string_view text, std::string_view source);
std::vector<Question> parse_questions(Task task, std::string_view text, std::string_view source);

// Reads `path` (bzip2-compressed files are recognised by their magic and decompressed in
// memory; for TruthfulQA a folder means its mc_task.json) and parses it. Throws pocket::Error
// for a missing or unreadable file, DataError for a malformed one.
std::vector<Question> load_questions(Task task, const std::filesystem::path& path);

// Decompresses a complete .bz2 image (several concatenated streams allowed). Throws DataError.
std::string bunzip2(std::string_view compressed, std::string_view source);

// Which questions `--limit n` evaluates, as indices into the file's questions. `like_llama`
// reproduces llama.cpp's choice for the task (a seeded random subset: mt19937 with seed 1;
// HellaSwag draws with std::uniform_int_distribution, which libstdc++ implements identically
// since GCC 11, the others with llama.cpp's float scaling); otherwise the first n in file order.
// n == 0 or n >= total: all of them, in file order.
std::vector<size_t> select_questions(Task task, size_t total, size_t n, bool like_llama = true);

// One candidate as the scorer sees it: its full token sequence and the token positions whose
// log-probabilities are averaged ([score_begin, score_end), score_begin >= 1).
struct Candidate {
    std::vector<TokenId> tokens;
    size_t score_begin = 0;
    size_t score_end = 0;
};

struct PreparedQuestion {
    std::vector<Candidate> candidates;
    size_t shared = 0;  // leading tokens common to all candidates (evaluated once)
    size_t answer = 0;
};

// Applies the task's tokenization and scoring rule (above). Throws pocket::Error when the
// candidates share no first token (a model without BOS and an empty context).
PreparedQuestion prepare_question(Task task, const Question& q,
                                  const tokenizer::Tokenizer& tokenizer);

struct QuestionResult {
    size_t index = 0;  // into the questions passed to evaluate()
    size_t answer = 0;
    size_t predicted = 0;  // the first candidate with the highest score
    bool correct = false;
    std::vector<double> scores;  // mean log-probability of each candidate's scored tokens
};

struct EvalResult {
    Task task = Task::hellaswag;
    std::vector<QuestionResult> questions;  // in evaluation order
    size_t n_correct = 0;

    size_t n() const { return questions.size(); }
    double accuracy() const;  // fraction correct, 0 when n() == 0
    // Standard error of the accuracy, sqrt(p(1-p)/(n-1)) as llama.cpp prints it; 0 for n < 2.
    double standard_error() const;
    // Wilson score 95% interval (llama.cpp's HellaSwag output since mid-2025).
    std::pair<double, double> wilson95() const;
};

struct EvalOptions {
    // Called after each question in order, with the running accuracy; return false to stop
    // (the result then holds the questions done so far).
    std::function<bool(const QuestionResult&, size_t done, size_t total, double accuracy)> progress;
    int max_sequences = 128;  // sequences (candidates) per pass, as llama.cpp's 4 x 32
};

// Scores `questions` in order. The context's cache is cleared first and used for scratch; a
// question that needs more positions than the context holds is an error naming it.
EvalResult evaluate(model::Context& ctx, Task task, std::span<const Question> questions,
                    const EvalOptions& options = {});

// The same over already tokenized questions (what evaluate() does after prepare_question).
EvalResult evaluate_prepared(model::Context& ctx, Task task,
                             std::span<const PreparedQuestion> questions,
                             const EvalOptions& options = {});

}  // namespace pocket::eval
