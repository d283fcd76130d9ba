// The local/cloud router: a small model, evaluated locally in well under a millisecond, that
// scores how much a prompt needs the strong (cloud) model rather than the weak (local) one.
// Trained on labelled routing data (per prompt: how well a weak and a strong model did), it
// stores everything it needs (features, weights, the score quantiles of its training prompts)
// in one small file, so `--router FILE` alone is enough to route.
#pragma once

#include <cstdint>
#include <deque>
#include <filesystem>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace pocket::route {

// One labelled prompt: how well the weak and the strong model did on it (1/0 for correct /
// wrong, or a judge score). `group` names the file or subject it came from; cross-validation
// holds whole groups out, so a router is measured on subjects it never saw.
struct RoutingExample {
    std::string prompt;
    double weak = 0;
    double strong = 0;
    std::string group;
};

// Reads labelled prompts:
//  - RouteLLM-style CSV (header row; quoted multi-line fields): the `prompt` column and the
//    weak/strong columns, holding True/False or numbers. group = the file's stem.
//  - MT-Bench judgement JSONL (RouteLLM's mt_bench/judgements.jsonl): weak/strong are the
//    `model` names; a question's performance is the mean judge score over its turns, and its
//    prompt is the first turn (what RouteLLM routes on), read from mt_bench_questions.jsonl
//    (or question.jsonl) next to the file or up to two folders above it. group = the category.
// Throws pocket::Error naming the file and line on anything malformed or missing.
std::vector<RoutingExample> read_routing_examples(const std::vector<std::filesystem::path>& files,
                                                  std::string_view weak_column,
                                                  std::string_view strong_column);

// What the caller may know about a prompt besides its text.
struct RouterSignals {
    // The local model's mean per-token negative log-likelihood of the prompt (nats/token).
    // Used only by a router trained with it (RouterTrainOptions::uses_local_uncertainty);
    // otherwise ignored.
    std::optional<double> local_uncertainty;
    // ISO 639-1 code from the language identifier (e.g. "en", "de"). The training data is all
    // English, so no weight can be learned for it: a prompt in another language gets the
    // router's configured prior (Router::non_english_bonus) added to its score, since small
    // local models are much weaker outside English.
    std::optional<std::string> language;
};

struct RouterTrainOptions {
    double cloud_share = 0.2;        // the share of prompts the stored threshold sends out
    std::filesystem::path embedder;  // potion-base-4M-int8 folder; empty: the default path
    double non_english_bonus = 1.0;  // added to the score of a non-English prompt (see above)
    double l2 = 10.0;                // L2 penalty on the summed log-loss (scikit-learn's 1/C)
    bool uses_local_uncertainty = false;
    std::vector<double> local_uncertainty;  // per example, when uses_local_uncertainty
};

class Router {
  public:
    static Router train(std::span<const RoutingExample> examples,
                        const RouterTrainOptions& options);
    // Throws pocket::Error on a malformed, truncated or hostile file; never reads out of bounds.
    static Router load(const std::filesystem::path& path);
    // The same from a file's image in memory (copied; `bytes` need not outlive the call). `name`
    // stands for the file in error messages.
    static Router from_bytes(std::span<const uint8_t> bytes, std::string name = "router");
    // The router compiled into pocket, used when no --router is given: data/router/
    // default-router.gguf of the source tree (scripts/train-default-router; trained on MMLU and
    // GSM8K, see docs/ROUTING.md). Each call parses it anew (~40 ms, mostly the
    // tokenizer's JSON): load it once and keep it.
    static Router builtin();
    // Its file image, as compiled in.
    static std::span<const uint8_t> builtin_bytes();
    void save(const std::filesystem::path& path) const;  // a self-contained file of <= 2 MB

    // Higher = the prompt more needs the strong model. Deterministic; p99 well under 1 ms.
    double score(std::string_view prompt, const RouterSignals& signals = {}) const;
    double threshold() const;  // the calibrated threshold for the trained cloud share
    double trained_cloud_share() const;
    // The score from which the given share of the training prompts goes to the cloud
    // (interpolated in the stored score quantiles). share <= 0: +inf, share >= 1: -inf.
    double threshold_for_share(double cloud_share) const;
    // A short human reason: the features that pushed this prompt's score most, with signs.
    std::string describe(std::string_view prompt, const RouterSignals& signals = {}) const;

    double non_english_bonus() const;
    bool uses_local_uncertainty() const;

    Router(Router&&) noexcept;
    Router& operator=(Router&&) noexcept;
    ~Router();

    struct Model;  // the file's contents (router.cpp)

  private:
    explicit Router(std::unique_ptr<Model> model);
    std::unique_ptr<Model> model_;
};

// Holds the realised cloud share on the traffic a router actually sees. The trained threshold
// realises the share on prompts like the training ones; on other traffic (another domain, other
// users) the score distribution shifts and the share with it (an MMLU-trained threshold sends
// every GSM8K prompt out). This takes the threshold from the (1 - share) quantile of the last
// `window` scores instead, using the router's trained threshold until `warmup` scores were seen
// (20 by default: the trained threshold can be far off, e.g. ~80 % instead of 20 % on chat
// prompts, so an early quantile of the real traffic is the better guess).
// Thread-safe.
class ShareCalibrator {
  public:
    ShareCalibrator(double fallback_threshold, double cloud_share, size_t window = 1000,
                    size_t warmup = 20);
    // Records the score and says whether it goes to the cloud (score >= the current threshold).
    bool route_to_cloud(double score);
    // Records a score without deciding on it: scores remembered from earlier runs.
    void observe(double score);
    // The scores in the window, oldest first (to carry the calibration across runs).
    std::vector<double> recent() const;
    double threshold() const;
    double cloud_share() const { return share_; }

  private:
    double threshold_locked() const;
    void remember_locked(double score);
    double fallback_, share_;
    size_t window_, warmup_;
    mutable std::mutex mutex_;
    std::deque<double> recent_;
};

}  // namespace pocket::route
