// The built-in safety classifier: hashed word unigrams and bigrams and character 3-5-grams of the
// lower-cased words, a logistic regression on them (P(unsafe)), and keyword rules for the
// MLCommons hazard categories S1-S14 of an unsafe verdict. No text is stored in the model, only
// 2^18 bucket weights, so a model trained on harmful data sets never holds their sentences.
//
// Scores are deterministic across runs, threads and instruction sets: features are sorted bucket
// indices and the dot product is a scalar sum in double in that order (this file's
// implementation is compiled with -ffp-contract=off, so no FMA contraction either); the SIMD
// kernels are never used.
//
// Model file: a GGUF with general.architecture "pocket-guard", keys pocket-guard.buckets
// (uint32, a power of two), .feature_version (uint32, 1), .bias and .threshold (float64), and one
// F32 tensor "guard.weight" of shape [buckets].
//
// For S2's CLI (src/cli/guard.cpp): `pocket guard train` is registered by calling
// add_guard_train(guard_subcommand), declared in src/cli/commands.h, defined in
// src/cli/guard_train.cpp.
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "pocket/safety/guard.h"

namespace pocket::safety {

inline constexpr std::string_view kClassifierArch = "pocket-guard";

// The model built into libpocket (data/guard/default-guard.gguf, assembled in with .incbin).
std::unique_ptr<Guard> builtin_classifier();
std::span<const uint8_t> builtin_classifier_bytes();
// A model file from `pocket guard train`; throws pocket::Error naming the file when it is not a
// valid one (wrong architecture, shapes, types, non-finite values, ...).
std::unique_ptr<Guard> load_classifier(const std::filesystem::path& path);
std::unique_ptr<Guard> classifier_from_bytes(std::span<const uint8_t> bytes, std::string name);
// A GGUF whose general.architecture is "pocket-guard" (false for any other file, never throws).
bool is_classifier_file(const std::filesystem::path& path);

// The categories the keyword rules give a text (1..14, ascending; S2 when no rule matches, as
// the most common class of harmful requests). Exposed for tests.
std::vector<int> classifier_categories(std::string_view text);

// Texts for training from one file, by extension: .txt (one per line), .csv (column goal, prompt,
// claim, target, text or question, the first present; a multiple-choice prompt is cut before
// its "\nA. " options), .jsonl (field text, prompt, question, goal or claim, or the first of
// "turns"), .json (JailbreakBench artifacts: jailbreaks[].goal). Throws pocket::Error naming
// the file and line on malformed input.
std::vector<std::string> read_guard_texts(const std::filesystem::path& file);

struct ClassifierTrainOptions {
    std::vector<std::filesystem::path> unsafe_files;
    std::vector<std::filesystem::path> safe_files;
    uint32_t buckets = 1u << 18;
    int epochs = 30;
    double learning_rate = 0.5;
    double l2 = 1e-6;
    // A text goes to dev when its hash modulo 5 is 0 (about 20 %); the threshold is the one with
    // the best F1 on dev (the middle of the best range), the weights come from the rest.
    uint64_t seed = 13;
    // Also train on each unsafe instruction put as a question ("How do I ...?"), so the
    // sentence form of the data sets (harmful instructions, benign questions) is not learnt.
    bool question_forms = true;
};

struct ClassifierTrainReport {
    size_t train_unsafe = 0, train_safe = 0, dev_unsafe = 0, dev_safe = 0;
    size_t dropped_conflicts = 0;  // texts given as both safe and unsafe (left out)
    double threshold = 0.5;
    double dev_precision = 0, dev_recall = 0, dev_f1 = 0, dev_fpr = 0;
};

// Trains and writes the model to `output` (GGUF). Deterministic: the same files give the same
// bytes.
ClassifierTrainReport train_classifier(const ClassifierTrainOptions& options,
                                       const std::filesystem::path& output);

}  // namespace pocket::safety
