// The built-in safety classifier: hashed word unigrams, bigrams and skip-bigrams, character
// 3-5-grams of the lower-cased words and pairs of hand-written word classes (harm, person, group,
// harmless target, fiction, private data) in a logistic regression, plus (feature version 2) the
// text's potion-base-4M-int8 token embeddings pooled (normalised mean, max, min) into a small
// ReLU network whose output adds to the same logit (P(unsafe)); keyword rules for the MLCommons
// hazard categories S1-S14 of an unsafe verdict, and a trained category head when no rule
// matches. Method and measured error rates: docs/SAFETY.md. No training text is stored in the
// model, only 2^18 bucket weights and network weights, so a model trained on harmful data sets
// never holds their sentences.
//
// Scores are deterministic across runs, threads and instruction sets: features are sorted bucket
// indices and the dot product is a scalar sum in double in that order, the pooling and the
// network scalar loops in double in a fixed order (this file's
// implementation is compiled with -ffp-contract=off, so no FMA contraction either); the SIMD
// kernels are never used.
//
// Model file: a GGUF with general.architecture "pocket-guard", keys pocket-guard.buckets
// (uint32, a power of two), .feature_version (uint32, 1 or 2), .bias and .threshold (float64),
// and the F32 tensor "guard.weight" of shape [buckets]. Version 2 adds the dense part: the
// Model2Vec embedder (I8 "token_embd.weight" [dim, n_vocab] and the tokenizer.json text under
// "tokenizer.huggingface.json", as static_embedder.h writes them), pocket-guard.hidden (uint32)
// and F32 tensors "guard.dense.w1" [3*dim, hidden], "guard.dense.b1" [hidden], "guard.dense.w2"
// [hidden]; optionally the category head: pocket-guard.category_codes (array of S-codes) and F32
// "guard.category.w" [3*dim, codes], "guard.category.b" [codes].
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
    // Also train on each instruction put as a question ("How do I ...?", "Can you ...?"), safe
    // and unsafe alike, so the sentence form of the data sets (harmful instructions, benign
    // questions) is not learnt.
    bool question_forms = true;
    // A Model2Vec folder (potion-base-4M-int8): when set, the text's static token embeddings are
    // pooled (normalised mean, max and min per dimension) into a one-hidden-layer ReLU network
    // whose output adds to the n-gram logit, trained jointly (Adam, mini-batches), and the model
    // file carries the embedder's int8 table and tokenizer (feature version 2). Empty: n-grams
    // only (version 1).
    std::filesystem::path embeddings;
    uint32_t hidden = 128;
    double mlp_learning_rate = 5e-4;
    size_t batch = 32;
    // The weights kept are those of the epoch with the lowest class-balanced log loss on dev
    // (early stopping); false keeps the last epoch's.
    bool early_stopping = true;
    // When set, one line per dev text is written here: "label<TAB>score<TAB>text" (analysis).
    std::filesystem::path dev_scores;
};

struct ClassifierTrainReport {
    size_t train_unsafe = 0, train_safe = 0, dev_unsafe = 0, dev_safe = 0;
    size_t dropped_conflicts = 0;  // texts given as both safe and unsafe (left out)
    int best_epoch = 0;            // 1-based epoch whose weights were kept
    // The category head (dense models with JailbreakBench artifacts among the unsafe files):
    // goals trained on and held out, and on the held-out goals how often the gold category (the
    // behaviour category's S-code) is the head's, among the keyword rules' (S2 when none
    // matches), or among the rules' with the head's when none matches (what a verdict gives).
    size_t category_train = 0, category_dev = 0;
    double dev_category_head = 0, dev_category_rules = 0, dev_category_combined = 0;
    double threshold = 0.5;
    double dev_precision = 0, dev_recall = 0, dev_f1 = 0, dev_fpr = 0;
};

// Trains and writes the model to `output` (GGUF). Deterministic: the same files give the same
// bytes.
ClassifierTrainReport train_classifier(const ClassifierTrainOptions& options,
                                       const std::filesystem::path& output);

}  // namespace pocket::safety
