// `pocket guard train`: fits the built-in safety classifier (src/safety/classifier.h) from
// labelled text files and writes its model file. Registered by `pocket guard` (src/cli/guard.cpp)
// through add_guard_train (commands.h).
#include <CLI/CLI.hpp>

#include <cstdio>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "cli/commands.h"
#include "pocket/core/error.h"
#include "safety/classifier.h"

namespace pocket::cli {

Runner add_guard_train(CLI::App& guard) {
    struct Options {
        std::vector<std::string> unsafe, safe;
        std::string output;
        uint32_t buckets = 1u << 18;
        int epochs = 30;
        double l2 = 1e-6;
        std::string embeddings, dev_scores;
        uint32_t hidden = 128;
        double mlp_lr = 5e-4;
        bool json = false;
    };
    auto o = std::make_shared<Options>();
    auto* sub = guard.add_subcommand(
        "train",
        "Train the built-in safety classifier (hashed n-grams, logistic regression, optionally "
        "pooled static embeddings into a small network) from text "
        "files: .txt (one per line), .csv (goal/prompt/claim/target/text/question column), "
        ".jsonl (text/prompt/question/goal/claim), .json (JailbreakBench artifacts). About 20 % "
        "of the texts (by hash) are held out to choose the threshold (best F1).");
    sub->add_option("--unsafe", o->unsafe, "files of unsafe texts")
        ->required()
        ->check(CLI::ExistingFile);
    sub->add_option("--safe", o->safe, "files of safe texts")->required()->check(CLI::ExistingFile);
    sub->add_option("-o,--output", o->output, "model file to write (GGUF)")->required();
    sub->add_option("--buckets", o->buckets, "hashed feature buckets (power of two)")
        ->capture_default_str();
    sub->add_option("--epochs", o->epochs, "passes over the training texts")
        ->capture_default_str()
        ->check(CLI::Range(1, 1000));
    sub->add_option("--l2", o->l2, "L2 regularisation per step")->capture_default_str();
    sub->add_option("--embeddings", o->embeddings,
                    "Model2Vec folder (int8 table, e.g. potion-base-4M-int8): also pool its token "
                    "embeddings into a small network, stored inside the model file")
        ->check(CLI::ExistingDirectory);
    sub->add_option("--hidden", o->hidden, "hidden units of that network")
        ->capture_default_str()
        ->check(CLI::Range(1, 4096));
    sub->add_option("--mlp-lr", o->mlp_lr, "Adam learning rate of that network")
        ->capture_default_str();
    sub->add_option("--dev-scores", o->dev_scores,
                    "write 'label<TAB>score<TAB>text' for each held-out text to this file");
    sub->add_flag("--json", o->json, "print the held-out metrics as JSON");
    return [o]() -> int {
        safety::ClassifierTrainOptions t;
        t.unsafe_files.assign(o->unsafe.begin(), o->unsafe.end());
        t.safe_files.assign(o->safe.begin(), o->safe.end());
        t.buckets = o->buckets;
        t.epochs = o->epochs;
        t.l2 = o->l2;
        t.embeddings = o->embeddings;
        t.hidden = o->hidden;
        t.mlp_learning_rate = o->mlp_lr;
        t.dev_scores = o->dev_scores;
        const auto r = safety::train_classifier(t, o->output);
        nlohmann::ordered_json j = {{"output", o->output},
                                    {"train", {{"unsafe", r.train_unsafe}, {"safe", r.train_safe}}},
                                    {"dev", {{"unsafe", r.dev_unsafe}, {"safe", r.dev_safe}}},
                                    {"dropped_conflicts", r.dropped_conflicts},
                                    {"best_epoch", r.best_epoch},
                                    {"category",
                                     {{"train", r.category_train},
                                      {"dev", r.category_dev},
                                      {"dev_head", r.dev_category_head},
                                      {"dev_rules", r.dev_category_rules},
                                      {"dev_combined", r.dev_category_combined}}},
                                    {"threshold", r.threshold},
                                    {"dev_precision", r.dev_precision},
                                    {"dev_recall", r.dev_recall},
                                    {"dev_f1", r.dev_f1},
                                    {"dev_fpr", r.dev_fpr}};
        if (o->json) {
            std::printf("%s\n", j.dump().c_str());
        } else {
            std::fprintf(stderr,
                         "pocket: wrote %s: train %zu unsafe / %zu safe, dev %zu / %zu; threshold "
                         "%.4f: dev precision %.3f recall %.3f F1 %.3f FPR %.3f (epoch %d kept)\n",
                         o->output.c_str(), r.train_unsafe, r.train_safe, r.dev_unsafe, r.dev_safe,
                         r.threshold, r.dev_precision, r.dev_recall, r.dev_f1, r.dev_fpr,
                         r.best_epoch);
            if (r.category_train > 0) {
                std::fprintf(stderr,
                             "pocket: category head: %zu goals trained, %zu held out: head %.3f, "
                             "keyword rules %.3f, rules with the head when none matches %.3f\n",
                             r.category_train, r.category_dev, r.dev_category_head,
                             r.dev_category_rules, r.dev_category_combined);
            }
        }
        return kExitOk;
    };
}

}  // namespace pocket::cli
