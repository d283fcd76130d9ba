// The router: hand-made structure features of the prompt (length, maths and notation density,
// the shape of multiple-choice options, negations, ...) plus a few principal components of the
// prompt's static embedding, standardised, into a three-class logistic regression that predicts
// whether the strong model does better, the same, or worse than the weak one. The score is
// P(strong better) - P(strong worse): the expected gain from sending the prompt out, which is what
// the quality-versus-cost curve rewards. (Predicting "the weak model fails" instead scores below
// random on unseen MMLU subjects: the hardest prompts defeat both models.)
#include "pocket/route/router.h"

#include <algorithm>
#include <array>
#include <cctype>
#include <cmath>
#include <cstring>
#include <fstream>
#include <limits>
#include <numeric>
#include <sstream>

#include <nlohmann/json.hpp>

#include "pocket/core/error.h"
#include "pocket/embed/static_embedder.h"
#include "pocket/gguf/gguf.h"
#include "pocket/tokenizer/hf_tokenizer.h"

namespace pocket::route {

namespace fs = std::filesystem;

namespace {

constexpr std::string_view kArch = "pocket-router";
constexpr uint32_t kVersion = 1;
constexpr size_t kEmbedDims = 16;   // leading dimensions of the potion table kept in the file
constexpr size_t kComponents = 4;   // principal components of those used as features
constexpr size_t kClasses = 3;      // strong worse, same, better
constexpr size_t kQuantiles = 201;  // stored score quantiles of the training prompts
constexpr size_t kMaxTokens = 512;
constexpr std::string_view kTableTensor = "router.token_embd";
const fs::path kDefaultEmbedder = "/work/shared/models/embed/potion-base-4M-int8";

// The structure features, in file order; their values come from structure_features().
constexpr std::array<std::string_view, 24> kStructureNames = {"log_chars",
                                                              "log_question_chars",
                                                              "log_tokens",
                                                              "digit_density",
                                                              "math_density",
                                                              "latex",
                                                              "statement_pair",
                                                              "negation",
                                                              "log_lines",
                                                              "options",
                                                              "log_option_chars",
                                                              "option_spread",
                                                              "numeric_options",
                                                              "roman_options",
                                                              "all_of_above",
                                                              "question_mark",
                                                              "blank",
                                                              "calculation",
                                                              "variables",
                                                              "paren_density",
                                                              "upper_density",
                                                              "word_length",
                                                              "passage",
                                                              "code"};

bool is_word(char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '_';
}

std::string lower(std::string_view s) {
    std::string out(s);
    for (auto& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return out;
}

// Whole-word occurrence of `word` in `text` (both already in the wanted case).
bool has_word(std::string_view text, std::string_view word) {
    for (size_t at = text.find(word); at != std::string_view::npos; at = text.find(word, at + 1)) {
        const bool left = at == 0 || !is_word(text[at - 1]);
        const bool right = at + word.size() >= text.size() || !is_word(text[at + word.size()]);
        if (left && right) return true;
    }
    return false;
}

std::string_view trim(std::string_view s) {
    while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
    while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
    return s;
}

// An option that is a number, possibly with a sign, currency and a short unit ("$12.50", "3 m/s").
bool numeric_option(std::string_view o) {
    o = trim(o);
    size_t i = 0;
    while (i < o.size() && (o[i] == '$' || o[i] == '-' || o[i] == ' ')) ++i;
    const size_t start = i;
    while (i < o.size() && (std::isdigit(static_cast<unsigned char>(o[i])) || o[i] == '.' ||
                            o[i] == ',' || o[i] == '/'))
        ++i;
    if (i == start || !std::isdigit(static_cast<unsigned char>(o[start]))) return false;
    while (i < o.size() && o[i] == ' ') ++i;
    const auto rest = o.substr(i);
    return rest.size() <= 6 && rest.find(' ') == std::string_view::npos;
}

std::vector<double> structure_features(std::string_view p, size_t n_tokens) {
    // Split off multiple-choice options: lines "A. …" to "D. …" (MMLU's layout).
    std::vector<std::string_view> options;
    size_t first_option = std::string_view::npos;
    for (size_t at = 0; at < p.size();) {
        const size_t end = std::min(p.find('\n', at), p.size());
        const auto line = p.substr(at, end - at);
        if (line.size() >= 2 && line[0] >= 'A' && line[0] <= 'D' && line[1] == '.') {
            if (first_option == std::string_view::npos) first_option = at;
            options.push_back(line.substr(line.size() > 2 && line[2] == ' ' ? 3 : 2));
        }
        at = end + 1;
    }
    if (options.size() < 2) {
        options.clear();
        first_option = std::string_view::npos;
    }
    auto q = p.substr(0, first_option == std::string_view::npos ? p.size() : first_option);
    if (const auto a = q.rfind("\nAnswer:");
        a != std::string_view::npos && trim(q.substr(a)) == "Answer:")
        q = q.substr(0, a);
    const double n = static_cast<double>(std::max<size_t>(p.size(), 1));
    const std::string ql = lower(q);

    size_t digits = 0, math = 0, parens = 0, upper = 0;
    for (const char c : p) {
        const auto u = static_cast<unsigned char>(c);
        digits += std::isdigit(u) != 0;
        math += std::string_view("=+*/^<>%").find(c) != std::string_view::npos;
        parens += c == '(';
        upper += std::isupper(u) != 0;
    }
    double option_mean = 0, option_sd = 0, numeric = 0;
    for (const auto o : options) option_mean += static_cast<double>(o.size());
    if (!options.empty()) option_mean /= static_cast<double>(options.size());
    for (const auto o : options) {
        option_sd += std::pow(static_cast<double>(o.size()) - option_mean, 2);
        numeric += numeric_option(o);
    }
    if (!options.empty()) {
        option_sd = std::sqrt(option_sd / static_cast<double>(options.size())) / (option_mean + 1);
        numeric /= static_cast<double>(options.size());
    }
    // Roman-numeral combinations ("I and III only"): two words made of I's among the options.
    size_t romans = 0;
    for (const auto o : options)
        for (size_t i = 0; i < o.size(); ++i) {
            if (o[i] != 'I' || (i > 0 && is_word(o[i - 1]))) continue;
            size_t j = i;
            while (j < o.size() && o[j] == 'I') ++j;
            if (j == o.size() || !is_word(o[j])) ++romans;
            i = j;
        }
    // Single-letter variables next to an operator ("x + 3", "f(x)").
    size_t variables = 0;
    for (size_t i = 0; i < p.size(); ++i) {
        if (!std::isalpha(static_cast<unsigned char>(p[i])) || (i > 0 && is_word(p[i - 1])) ||
            (i + 1 < p.size() && is_word(p[i + 1])))
            continue;
        size_t j = i + 1;
        while (j < p.size() && std::isspace(static_cast<unsigned char>(p[j]))) ++j;
        variables +=
            j < p.size() && std::string_view("=+-*/^)(").find(p[j]) != std::string_view::npos;
    }
    size_t words = 0, word_chars = 0;
    for (size_t i = 0; i < q.size();) {
        while (i < q.size() && std::isspace(static_cast<unsigned char>(q[i]))) ++i;
        const size_t s = i;
        while (i < q.size() && !std::isspace(static_cast<unsigned char>(q[i]))) ++i;
        if (i > s) ++words, word_chars += i - s;
    }
    const std::string pl = lower(p);
    const bool all_above = pl.find("all of the above") != std::string::npos ||
                           pl.find("none of the above") != std::string::npos ||
                           pl.find("both of the above") != std::string::npos ||
                           pl.find("all of these") != std::string::npos ||
                           pl.find("none of these") != std::string::npos;
    const bool calculation = has_word(ql, "calculate") || has_word(ql, "compute") ||
                             has_word(ql, "how many") || has_word(ql, "how much") ||
                             has_word(ql, "what is the value") || has_word(ql, "find") ||
                             has_word(ql, "solve") || has_word(ql, "evaluate");
    const bool negation = has_word(p, "NOT") || has_word(p, "EXCEPT") || has_word(p, "LEAST") ||
                          has_word(p, "FALSE") || has_word(p, "INCORRECT");
    const bool latex =
        p.find('\\') != std::string_view::npos || p.find('$') != std::string_view::npos ||
        p.find('^') != std::string_view::npos || p.find("_{") != std::string_view::npos;
    const bool code =
        p.find_first_of("{};") != std::string_view::npos ||
        p.find("def ") != std::string_view::npos || p.find("print") != std::string_view::npos ||
        p.find("return") != std::string_view::npos || p.find("int ") != std::string_view::npos;

    return {std::log1p(static_cast<double>(p.size())),
            std::log1p(static_cast<double>(q.size())),
            std::log1p(static_cast<double>(n_tokens)),
            static_cast<double>(digits) / n,
            static_cast<double>(math) / n,
            double(latex),
            double(p.find("Statement 1") != std::string_view::npos),
            double(negation),
            std::log1p(static_cast<double>(std::count(q.begin(), q.end(), '\n'))),
            static_cast<double>(options.size()),
            std::log1p(option_mean),
            option_sd,
            numeric,
            double(romans >= 2),
            double(all_above),
            double(q.find('?') != std::string_view::npos),
            double(q.find('_') != std::string_view::npos),
            double(calculation),
            static_cast<double>(variables) / n * 100.0,
            static_cast<double>(parens) / n,
            static_cast<double>(upper) / n,
            words ? static_cast<double>(word_chars) / static_cast<double>(words) : 0.0,
            double(q.size() > 600),
            double(code)};
}

// Only the first kMaxTokens tokens count, and tokenizing dominates the cost of a long prompt, so
// only its head is tokenized: kTokenizeBytes bytes, cut at whitespace (English WordPiece runs
// ~4-5 bytes a token, so this still yields the 512 tokens of nearly any prose). Bounds the p99.
constexpr size_t kTokenizeBytes = 3072;

std::string_view tokenizer_input(std::string_view prompt) {
    if (prompt.size() <= kTokenizeBytes) return prompt;
    size_t cut = kTokenizeBytes;
    while (cut > kTokenizeBytes / 2 && !std::isspace(static_cast<unsigned char>(prompt[cut])))
        --cut;
    if (cut == kTokenizeBytes / 2) {  // no whitespace: back off to a UTF-8 character boundary
        cut = kTokenizeBytes;
        while (cut > 0 && (static_cast<unsigned char>(prompt[cut]) & 0xC0) == 0x80) --cut;
    }
    return prompt.substr(0, cut);
}

bool finite_all(std::span<const double> v) {
    return std::all_of(v.begin(), v.end(), [](double x) { return std::isfinite(x); });
}

}  // namespace

struct Router::Model {
    std::string tokenizer_json;
    std::unique_ptr<tokenizer::Tokenizer> tokenizer;
    tokenizer::TokenId unk = tokenizer::kNoToken;
    std::vector<int8_t> table;     // n_vocab x kEmbedDims
    std::vector<double> pca_mean;  // kEmbedDims
    std::vector<double> pca;       // kComponents x kEmbedDims
    std::vector<std::string> names;
    std::vector<double> mean, scale;  // per feature
    std::vector<double> weights;      // kClasses x n_features
    std::vector<double> bias;         // kClasses
    std::vector<double> quantiles;    // kQuantiles, ascending, of training scores
    double cloud_share = 0.2;
    double non_english_bonus = 1.0;
    bool uses_local_uncertainty = false;

    size_t n_features() const { return names.size(); }

    void set_tokenizer(std::string json, std::string_view origin) {
        tokenizer_json = std::move(json);
        try {
            tokenizer = tokenizer::parse_hf_tokenizer(tokenizer_json, "", origin);
        } catch (const Error&) {
            throw;
        } catch (const std::exception& e) {
            fail(origin, ": bad tokenizer: ", e.what());
        }
        const auto parsed = nlohmann::json::parse(tokenizer_json, nullptr, false);
        if (parsed.is_object() && parsed.contains("model") && parsed["model"].is_object()) {
            const auto& model = parsed["model"];
            if (model.contains("unk_token") && model["unk_token"].is_string() &&
                model.contains("vocab") && model["vocab"].is_object()) {
                const auto it = model["vocab"].find(model["unk_token"].get<std::string>());
                if (it != model["vocab"].end() && it->is_number_integer())
                    unk = static_cast<tokenizer::TokenId>(it->get<int64_t>());
            }
        }
    }

    // The raw (unstandardised) feature vector of a prompt.
    std::vector<double> features(std::string_view prompt, const RouterSignals& signals) const {
        auto ids = tokenizer->encode(tokenizer_input(prompt), /*add_special=*/false,
                                     /*parse_special=*/true);
        std::erase(ids, unk);
        if (ids.size() > kMaxTokens) ids.resize(kMaxTokens);
        auto f = structure_features(prompt, ids.size());
        std::array<double, kEmbedDims> sum{};
        const size_t n_vocab = table.size() / kEmbedDims;
        for (const auto id : ids) {
            if (id < 0 || static_cast<size_t>(id) >= n_vocab) continue;
            const int8_t* row = table.data() + static_cast<size_t>(id) * kEmbedDims;
            for (size_t j = 0; j < kEmbedDims; ++j) sum[j] += row[j];
        }
        double norm = 0;
        for (const double v : sum) norm += v * v;
        norm = norm > 0 ? 1.0 / std::sqrt(norm) : 0.0;
        for (size_t c = 0; c < kComponents; ++c) {
            double z = 0;
            for (size_t j = 0; j < kEmbedDims; ++j)
                z += pca[c * kEmbedDims + j] * (sum[j] * norm - pca_mean[j]);
            f.push_back(z);
        }
        if (uses_local_uncertainty) f.push_back(signals.local_uncertainty.value_or(mean.back()));
        return f;
    }

    // Class logits of standardised features.
    std::array<double, kClasses> logits(std::span<const double> z) const {
        std::array<double, kClasses> out{};
        for (size_t k = 0; k < kClasses; ++k) {
            double v = bias[k];
            for (size_t j = 0; j < z.size(); ++j) v += weights[k * z.size() + j] * z[j];
            out[k] = v;
        }
        return out;
    }

    std::vector<double> standardise(std::vector<double> f) const {
        for (size_t j = 0; j < f.size(); ++j) f[j] = (f[j] - mean[j]) / scale[j];
        return f;
    }

    double score_of(std::span<const double> z) const {
        const auto l = logits(z);
        const double top = *std::max_element(l.begin(), l.end());
        std::array<double, kClasses> p{};
        double total = 0;
        for (size_t k = 0; k < kClasses; ++k) total += p[k] = std::exp(l[k] - top);
        return (p[2] - p[0]) / total;
    }
};

Router::Router(std::unique_ptr<Model> model) : model_(std::move(model)) {}
Router::Router(Router&&) noexcept = default;
Router& Router::operator=(Router&&) noexcept = default;
Router::~Router() = default;

double Router::score(std::string_view prompt, const RouterSignals& signals) const {
    const auto z = model_->standardise(model_->features(prompt, signals));
    double s = model_->score_of(z);
    // A non-English prompt: the configured prior (the English training data cannot teach one).
    if (signals.language && !signals.language->empty() && *signals.language != "en")
        s += model_->non_english_bonus;
    return s;
}

double Router::threshold_for_share(double cloud_share) const {
    const auto& q = model_->quantiles;
    if (!(cloud_share > 0)) return std::numeric_limits<double>::infinity();
    if (cloud_share >= 1) return -std::numeric_limits<double>::infinity();
    const double pos = (1.0 - cloud_share) * static_cast<double>(q.size() - 1);
    const auto lo = static_cast<size_t>(std::floor(pos));
    const size_t hi = std::min(lo + 1, q.size() - 1);
    return q[lo] + (pos - static_cast<double>(lo)) * (q[hi] - q[lo]);
}

double Router::threshold() const {
    return threshold_for_share(model_->cloud_share);
}
double Router::trained_cloud_share() const {
    return model_->cloud_share;
}
double Router::non_english_bonus() const {
    return model_->non_english_bonus;
}
bool Router::uses_local_uncertainty() const {
    return model_->uses_local_uncertainty;
}

std::string Router::describe(std::string_view prompt, const RouterSignals& signals) const {
    const auto& m = *model_;
    const auto z = m.standardise(m.features(prompt, signals));
    // Each feature's push on the logit of "strong better" over "strong worse".
    std::vector<std::pair<double, size_t>> pushes;
    for (size_t j = 0; j < z.size(); ++j)
        pushes.emplace_back((m.weights[2 * z.size() + j] - m.weights[j]) * z[j], j);
    std::sort(pushes.begin(), pushes.end(),
              [](const auto& a, const auto& b) { return std::abs(a.first) > std::abs(b.first); });
    std::ostringstream out;
    out.precision(2);
    out << std::fixed << "score " << score(prompt, signals) << " (threshold " << threshold()
        << "):";
    for (size_t i = 0; i < std::min<size_t>(3, pushes.size()); ++i)
        out << (i ? ", " : " ") << m.names[pushes[i].second] << (pushes[i].first >= 0 ? " +" : " ")
            << pushes[i].first;
    if (signals.language && !signals.language->empty() && *signals.language != "en")
        out << ", language " << *signals.language << " +" << m.non_english_bonus;
    return out.str();
}

ShareCalibrator::ShareCalibrator(double fallback_threshold, double cloud_share, size_t window,
                                 size_t warmup)
    : fallback_(fallback_threshold), share_(cloud_share), window_(window), warmup_(warmup) {
    if (!(cloud_share >= 0 && cloud_share <= 1))
        fail("cloud share ", cloud_share, " is outside [0, 1]");
    if (window == 0 || warmup > window) fail("calibration window ", window, " / warm-up ", warmup);
}

double ShareCalibrator::threshold_locked() const {
    if (recent_.size() < warmup_ || recent_.empty()) return fallback_;
    if (share_ <= 0) return std::numeric_limits<double>::infinity();
    if (share_ >= 1) return -std::numeric_limits<double>::infinity();
    std::vector<double> sorted(recent_.begin(), recent_.end());
    // The smallest score among the top share: exactly round(share * n) recent scores reach it.
    const auto k = static_cast<size_t>(std::llround(share_ * static_cast<double>(sorted.size())));
    if (k == 0) return std::numeric_limits<double>::infinity();
    const auto at = sorted.end() - static_cast<std::ptrdiff_t>(k);
    std::nth_element(sorted.begin(), at, sorted.end());
    return *at;
}

double ShareCalibrator::threshold() const {
    std::lock_guard lock(mutex_);
    return threshold_locked();
}

bool ShareCalibrator::route_to_cloud(double score) {
    std::lock_guard lock(mutex_);
    const bool cloud = score >= threshold_locked();
    remember_locked(score);
    return cloud;
}

void ShareCalibrator::observe(double score) {
    std::lock_guard lock(mutex_);
    remember_locked(score);
}

void ShareCalibrator::remember_locked(double score) {
    recent_.push_back(score);
    if (recent_.size() > window_) recent_.pop_front();
}

std::vector<double> ShareCalibrator::recent() const {
    std::lock_guard lock(mutex_);
    return {recent_.begin(), recent_.end()};
}

// ---- training ----

Router Router::train(std::span<const RoutingExample> examples, const RouterTrainOptions& options) {
    if (examples.size() < 10) fail("router training: ", examples.size(), " examples (need >= 10)");
    if (!(options.cloud_share >= 0 && options.cloud_share <= 1))
        fail("router training: cloud share ", options.cloud_share, " is outside [0, 1]");
    if (options.uses_local_uncertainty && options.local_uncertainty.size() != examples.size())
        fail("router training: ", options.local_uncertainty.size(), " local uncertainties for ",
             examples.size(), " examples");
    const fs::path folder = options.embedder.empty() ? kDefaultEmbedder : options.embedder;
    const auto embedder = embed::StaticEmbedder::open_hf(folder);
    if (embedder->dim() < kEmbedDims)
        fail(folder.string(), ": embedding dimension ", embedder->dim(), " < ", kEmbedDims);

    auto model = std::make_unique<Model>();
    {
        std::ifstream in(folder / "tokenizer.json", std::ios::binary);
        if (!in) fail(folder.string(), ": cannot read tokenizer.json");
        std::ostringstream text;
        text << in.rdbuf();
        model->set_tokenizer(text.str(), (folder / "tokenizer.json").string());
    }
    // The leading dimensions of the table (Model2Vec tables come out of a PCA, so these carry
    // the most variance), rounded to int8 (the potion int8 table is exact there).
    const size_t n_vocab = embedder->n_vocab();
    model->table.resize(n_vocab * kEmbedDims);
    for (size_t t = 0; t < n_vocab; ++t) {
        const auto row = embedder->row(static_cast<tokenizer::TokenId>(t));
        for (size_t j = 0; j < kEmbedDims; ++j)
            model->table[t * kEmbedDims + j] =
                static_cast<int8_t>(std::clamp(std::lround(row[j]), -127L, 127L));
    }
    for (const auto name : kStructureNames) model->names.emplace_back(name);
    for (size_t c = 0; c < kComponents; ++c) model->names.push_back(cat("embedding_pc", c + 1));
    if (options.uses_local_uncertainty) model->names.emplace_back("local_uncertainty");
    model->uses_local_uncertainty = options.uses_local_uncertainty;
    model->cloud_share = options.cloud_share;
    model->non_english_bonus = options.non_english_bonus;

    // PCA of the normalised truncated embeddings: compute them with a zero projection first.
    const size_t n = examples.size();
    model->pca_mean.assign(kEmbedDims, 0.0);
    model->pca.assign(kComponents * kEmbedDims, 0.0);
    std::vector<std::array<double, kEmbedDims>> emb(n);
    for (size_t i = 0; i < n; ++i) {
        auto ids = model->tokenizer->encode(tokenizer_input(examples[i].prompt), false, true);
        std::erase(ids, model->unk);
        if (ids.size() > kMaxTokens) ids.resize(kMaxTokens);
        std::array<double, kEmbedDims> sum{};
        for (const auto id : ids)
            if (id >= 0 && static_cast<size_t>(id) < n_vocab)
                for (size_t j = 0; j < kEmbedDims; ++j)
                    sum[j] += model->table[static_cast<size_t>(id) * kEmbedDims + j];
        double norm = 0;
        for (const double v : sum) norm += v * v;
        norm = norm > 0 ? 1.0 / std::sqrt(norm) : 0.0;
        for (size_t j = 0; j < kEmbedDims; ++j) emb[i][j] = sum[j] * norm;
    }
    for (const auto& e : emb)
        for (size_t j = 0; j < kEmbedDims; ++j) model->pca_mean[j] += e[j] / static_cast<double>(n);
    std::vector<double> cov(kEmbedDims * kEmbedDims, 0.0);
    for (const auto& e : emb)
        for (size_t a = 0; a < kEmbedDims; ++a)
            for (size_t b = 0; b < kEmbedDims; ++b)
                cov[a * kEmbedDims + b] += (e[a] - model->pca_mean[a]) *
                                           (e[b] - model->pca_mean[b]) / static_cast<double>(n);
    // Power iteration with deflation: the matrix is 16 x 16, so this is exact enough and tiny.
    for (size_t c = 0; c < kComponents; ++c) {
        std::vector<double> v(kEmbedDims);
        for (size_t j = 0; j < kEmbedDims; ++j) v[j] = 1.0 + 0.1 * static_cast<double>(j + c);
        double lambda = 0;
        for (int it = 0; it < 500; ++it) {
            std::vector<double> next(kEmbedDims, 0.0);
            for (size_t a = 0; a < kEmbedDims; ++a)
                for (size_t b = 0; b < kEmbedDims; ++b) next[a] += cov[a * kEmbedDims + b] * v[b];
            double norm = 0;
            for (const double x : next) norm += x * x;
            norm = std::sqrt(norm);
            if (norm == 0) break;
            for (size_t j = 0; j < kEmbedDims; ++j) v[j] = next[j] / norm;
            lambda = norm;
        }
        for (size_t j = 0; j < kEmbedDims; ++j) model->pca[c * kEmbedDims + j] = v[j];
        for (size_t a = 0; a < kEmbedDims; ++a)
            for (size_t b = 0; b < kEmbedDims; ++b) cov[a * kEmbedDims + b] -= lambda * v[a] * v[b];
    }

    // Raw features, then the standardisation.
    const size_t nf = model->n_features();
    model->mean.assign(nf, 0.0);
    model->scale.assign(nf, 1.0);
    std::vector<std::vector<double>> x(n);
    for (size_t i = 0; i < n; ++i) {
        RouterSignals signals;
        if (options.uses_local_uncertainty)
            signals.local_uncertainty = options.local_uncertainty[i];
        // The uncertainty fallback reads mean.back(); it is always given in training.
        x[i] = model->features(examples[i].prompt, signals);
        if (!finite_all(x[i])) fail("router training: example ", i, " has a non-finite feature");
    }
    for (size_t j = 0; j < nf; ++j) {
        double mu = 0, var = 0;
        for (const auto& r : x) mu += r[j];
        mu /= static_cast<double>(n);
        for (const auto& r : x) var += (r[j] - mu) * (r[j] - mu);
        const double sd = std::sqrt(var / static_cast<double>(n));
        model->mean[j] = mu;
        model->scale[j] = sd > 1e-12 ? sd : 1.0;
    }
    for (auto& r : x) r = model->standardise(std::move(r));

    // Labels: did the strong model do better (2), the same (1) or worse (0)?
    std::vector<size_t> y(n);
    for (size_t i = 0; i < n; ++i) {
        const double d = examples[i].strong - examples[i].weak;
        if (!std::isfinite(d)) fail("router training: example ", i, " has a non-finite result");
        y[i] = d > 0 ? 2 : d < 0 ? 0 : 1;
    }

    // Multinomial logistic regression, L2-penalised (options.l2 on the summed loss, like
    // scikit-learn's 1/C), fitted by full-batch gradient descent with Nesterov momentum: the
    // problem is convex and small (30 features), so a few hundred steps converge.
    model->weights.assign(kClasses * nf, 0.0);
    model->bias.assign(kClasses, 0.0);
    std::vector<double> vw(model->weights.size(), 0.0), vb(kClasses, 0.0);
    const double lr = 0.5, momentum = 0.9, l2 = options.l2 / static_cast<double>(n);
    for (int step = 0; step < 600; ++step) {
        std::vector<double> gw(model->weights.size(), 0.0), gb(kClasses, 0.0);
        // Look-ahead parameters.
        Model& m = *model;
        std::vector<double> w_ahead(m.weights.size()), b_ahead(kClasses);
        for (size_t k = 0; k < w_ahead.size(); ++k) w_ahead[k] = m.weights[k] + momentum * vw[k];
        for (size_t k = 0; k < kClasses; ++k) b_ahead[k] = m.bias[k] + momentum * vb[k];
        for (size_t i = 0; i < n; ++i) {
            std::array<double, kClasses> l{};
            for (size_t k = 0; k < kClasses; ++k) {
                double v = b_ahead[k];
                for (size_t j = 0; j < nf; ++j) v += w_ahead[k * nf + j] * x[i][j];
                l[k] = v;
            }
            const double top = *std::max_element(l.begin(), l.end());
            double total = 0;
            for (auto& v : l) total += v = std::exp(v - top);
            for (size_t k = 0; k < kClasses; ++k) {
                const double g = l[k] / total - (y[i] == k ? 1.0 : 0.0);
                gb[k] += g;
                for (size_t j = 0; j < nf; ++j) gw[k * nf + j] += g * x[i][j];
            }
        }
        for (size_t k = 0; k < gw.size(); ++k) {
            const double g = gw[k] / static_cast<double>(n) + l2 * w_ahead[k];
            vw[k] = momentum * vw[k] - lr * g;
            m.weights[k] += vw[k];
        }
        for (size_t k = 0; k < kClasses; ++k) {
            vb[k] = momentum * vb[k] - lr * gb[k] / static_cast<double>(n);
            m.bias[k] += vb[k];
        }
    }

    // Score quantiles of the training prompts, for threshold_for_share.
    std::vector<double> scores(n);
    for (size_t i = 0; i < n; ++i) scores[i] = model->score_of(x[i]);
    std::sort(scores.begin(), scores.end());
    model->quantiles.resize(kQuantiles);
    for (size_t k = 0; k < kQuantiles; ++k) {
        const double pos = static_cast<double>(k) / static_cast<double>(kQuantiles - 1) *
                           static_cast<double>(n - 1);
        const auto lo = static_cast<size_t>(std::floor(pos));
        const size_t hi = std::min(lo + 1, n - 1);
        model->quantiles[k] =
            scores[lo] + (pos - static_cast<double>(lo)) * (scores[hi] - scores[lo]);
    }
    return Router(std::move(model));
}

// ---- the file ----

namespace {

gguf::Value float_array(std::span<const double> values) {
    gguf::Array a;
    a.element_type = gguf::ValueType::FLOAT64;
    for (const double v : values) a.items.push_back(gguf::Value{v});
    return gguf::Value{std::move(a)};
}

std::vector<double> read_floats(const gguf::File& file, std::string_view key, size_t count) {
    const auto* a = file.get_array(key);
    if (!a) fail(file.name(), ": router key ", key, " is missing or not an array");
    if (a->element_type != gguf::ValueType::FLOAT64 || a->items.size() != count)
        fail(file.name(), ": router key ", key, " must hold ", count, " FLOAT64 values, not ",
             a->items.size(), " of ", gguf::value_type_name(a->element_type));
    std::vector<double> out;
    for (const auto& item : a->items) {
        const auto* v = std::get_if<double>(&item.v);
        if (!v || !std::isfinite(*v))
            fail(file.name(), ": router key ", key, " has a non-finite value");
        out.push_back(*v);
    }
    return out;
}

}  // namespace

void Router::save(const fs::path& path) const {
    const auto& m = *model_;
    gguf::Writer w;
    w.set("general.architecture", std::string(kArch));
    w.set("router.version", kVersion);
    gguf::Array names;
    names.element_type = gguf::ValueType::STRING;
    for (const auto& n : m.names) names.items.push_back(gguf::Value{n});
    w.set("router.feature_names", gguf::Value{std::move(names)});
    w.set("router.embed_dims", static_cast<uint32_t>(kEmbedDims));
    w.set("router.pca_mean", float_array(m.pca_mean));
    w.set("router.pca", float_array(m.pca));
    w.set("router.mean", float_array(m.mean));
    w.set("router.scale", float_array(m.scale));
    w.set("router.weights", float_array(m.weights));
    w.set("router.bias", float_array(m.bias));
    w.set("router.quantiles", float_array(m.quantiles));
    w.set("router.cloud_share", m.cloud_share);
    w.set("router.non_english_bonus", m.non_english_bonus);
    w.set("router.uses_local_uncertainty", m.uses_local_uncertainty);
    w.set(std::string(embed::kHfTokenizerKey), m.tokenizer_json);
    std::vector<std::byte> table(m.table.size());
    std::memcpy(table.data(), m.table.data(), table.size());
    w.add_tensor(std::string(kTableTensor), DType::I8,
                 {kEmbedDims, static_cast<uint64_t>(m.table.size() / kEmbedDims)},
                 std::move(table));
    w.write(path);
}

namespace {

// Validates everything a router file holds before any of it is used (see router.h: load).
std::unique_ptr<Router::Model> read_model(const gguf::File& file) {
    const auto& name = file.name();
    if (file.get_string("general.architecture") != std::string(kArch))
        fail(name, ": not a pocket router (general.architecture is not ", kArch, ")");
    if (file.get_uint("router.version") != kVersion)
        fail(name, ": unsupported router version (this pocket reads version ", kVersion, ")");
    if (file.get_uint("router.embed_dims") != kEmbedDims)
        fail(name, ": router.embed_dims must be ", kEmbedDims);
    auto m = std::make_unique<Router::Model>();
    const auto* names = file.get_array("router.feature_names");
    if (!names || names->element_type != gguf::ValueType::STRING)
        fail(name, ": router.feature_names missing");
    for (const auto& v : names->items) m->names.push_back(v.as_string());
    const auto uncertainty = file.get_bool("router.uses_local_uncertainty");
    if (!uncertainty) fail(name, ": router.uses_local_uncertainty missing");
    m->uses_local_uncertainty = *uncertainty;
    const size_t nf = kStructureNames.size() + kComponents + (m->uses_local_uncertainty ? 1 : 0);
    if (m->names.size() != nf)
        fail(name, ": router has ", m->names.size(), " feature names; this pocket computes ", nf);
    m->pca_mean = read_floats(file, "router.pca_mean", kEmbedDims);
    m->pca = read_floats(file, "router.pca", kComponents * kEmbedDims);
    m->mean = read_floats(file, "router.mean", nf);
    m->scale = read_floats(file, "router.scale", nf);
    for (const double s : m->scale)
        if (!(s > 0)) fail(name, ": router.scale must be positive");
    m->weights = read_floats(file, "router.weights", kClasses * nf);
    m->bias = read_floats(file, "router.bias", kClasses);
    m->quantiles = read_floats(file, "router.quantiles", kQuantiles);
    if (!std::is_sorted(m->quantiles.begin(), m->quantiles.end()))
        fail(name, ": router.quantiles are not ascending");
    const auto share = file.get_float("router.cloud_share");
    const auto bonus = file.get_float("router.non_english_bonus");
    if (!share || !(*share >= 0 && *share <= 1))
        fail(name, ": router.cloud_share missing or outside [0, 1]");
    if (!bonus || !std::isfinite(*bonus))
        fail(name, ": router.non_english_bonus missing or not finite");
    m->cloud_share = *share;
    m->non_english_bonus = *bonus;
    const auto json = file.get_string(embed::kHfTokenizerKey);
    if (!json) fail(name, ": no tokenizer (", embed::kHfTokenizerKey, ")");
    m->set_tokenizer(*json, name);
    const auto* table = file.find_tensor(kTableTensor);
    if (!table || table->type != DType::I8 || table->shape.size() != 2 ||
        table->shape[0] != kEmbedDims)
        fail(name, ": ", kTableTensor, " must be an I8 tensor [", kEmbedDims, ", n_vocab]");
    if (table->shape[1] != m->tokenizer->n_vocab())
        fail(name, ": ", kTableTensor, " has ", table->shape[1], " rows for a vocabulary of ",
             m->tokenizer->n_vocab());
    const auto bytes = file.tensor_data(*table);
    m->table.resize(bytes.size());
    std::memcpy(m->table.data(), bytes.data(), bytes.size());
    return m;
}

}  // namespace

Router Router::load(const fs::path& path) {
    return Router(read_model(gguf::File::open(path)));
}

Router Router::from_bytes(std::span<const uint8_t> bytes, std::string name) {
    return Router(read_model(gguf::File::parse(std::as_bytes(bytes), std::move(name))));
}

}  // namespace pocket::route
