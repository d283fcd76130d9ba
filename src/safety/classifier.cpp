// The built-in safety classifier (classifier.h): hashed n-gram features, logistic regression,
// keyword rules for the hazard categories, its training and its GGUF model file.
#include "safety/classifier.h"
#include "safety/jailbreak.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <fstream>
#include <limits>
#include <optional>
#include <sstream>
#include <unordered_map>
#include <utility>

#include <nlohmann/json.hpp>

#include "pocket/core/error.h"
#include "pocket/core/read_file.h"
#include "pocket/embed/static_embedder.h"
#include "pocket/gguf/gguf.h"

namespace pocket::safety {
namespace {

namespace fs = std::filesystem;

constexpr uint32_t kFeatureVersion = 1;       // n-grams only
constexpr uint32_t kFeatureVersionDense = 2;  // n-grams + pooled static embeddings, MLP
constexpr std::string_view kWeightTensor = "guard.weight";
constexpr std::string_view kW1Tensor = "guard.dense.w1";
constexpr std::string_view kB1Tensor = "guard.dense.b1";
constexpr std::string_view kW2Tensor = "guard.dense.w2";
// Longer inputs are cut: the features of 64 KiB already take well under a millisecond, and a
// streamed answer is checked sentence by sentence anyway.
constexpr size_t kMaxInputBytes = 64 * 1024;

std::string key(std::string_view name) {
    return cat(kClassifierArch, ".", name);
}

uint64_t mix(uint64_t x) {
    // splitmix64's finalizer: spreads FNV's low-entropy high bits over the bucket index.
    x ^= x >> 30;
    x *= 0xbf58476d1ce4e5b9ULL;
    x ^= x >> 27;
    x *= 0x94d049bb133111ebULL;
    x ^= x >> 31;
    return x;
}

uint64_t fnv1a(std::string_view bytes, uint64_t h = 0xcbf29ce484222325ULL) {
    for (const char c : bytes) {
        h ^= static_cast<unsigned char>(c);
        h *= 0x100000001b3ULL;
    }
    return h;
}

// Lower-cased ASCII letters and digits, bytes >= 0x80 kept (so non-English words stay words),
// everything else a single space; no leading or trailing space.
std::string normalize(std::string_view text) {
    if (text.size() > kMaxInputBytes) text = text.substr(0, kMaxInputBytes);
    std::string out;
    out.reserve(text.size());
    bool space = true;
    for (const char ch : text) {
        const auto c = static_cast<unsigned char>(ch);
        char mapped;
        if (c >= 'A' && c <= 'Z') {
            mapped = static_cast<char>(c - 'A' + 'a');
        } else if ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c >= 0x80) {
            mapped = static_cast<char>(c);
        } else {
            if (!space) out.push_back(' ');
            space = true;
            continue;
        }
        out.push_back(mapped);
        space = false;
    }
    if (!out.empty() && out.back() == ' ') out.pop_back();
    return out;
}

std::vector<std::string_view> split_words(std::string_view s) {
    std::vector<std::string_view> words;
    size_t i = 0;
    while (i < s.size()) {
        const size_t j = std::min(s.find(' ', i), s.size());
        if (j > i) words.push_back(s.substr(i, j - i));
        i = j + 1;
    }
    return words;
}

// Word classes written for pocket: a harmful act, a person, a real group of people, a harmless
// target of a violent verb (a process, a weed, a photo), a fictional or game context, private
// data. Their pairs within a few words are features too, so "harm + person" learnt from
// "poison my neighbor" carries to "smother my uncle", and "harm + harmless target" to objects the
// training texts never named.
std::string_view word_class(std::string_view w) {
    struct Entry {
        std::string_view cls;
        std::vector<std::string_view> words;
    };
    static const std::vector<Entry> classes = {
        {"@harm",
         {"kill",       "killing",    "murder",      "murdering", "stab",        "stabbing",
          "shoot",      "shooting",   "poison",      "poisoning", "strangle",    "strangling",
          "hurt",       "hurting",    "attack",      "beat",      "torture",     "torturing",
          "kidnap",     "kidnapping", "execute",     "eliminate", "destroy",     "choke",
          "choking",    "drown",      "drowning",    "slaughter", "butcher",     "gut",
          "hang",       "behead",     "bomb",        "blow",      "burn",        "smash",
          "crush",      "punch",      "harm",        "harming",   "assault",     "rape",
          "abuse",      "abusing",    "stalk",       "stalking",  "steal",       "stealing",
          "rob",        "robbing",    "hack",        "hacking",   "smother",     "suffocate",
          "maim",       "injure",     "assassinate", "massacre",  "exterminate", "annihilate",
          "decapitate", "dismember",  "mutilate",    "starve",    "terrorize",   "threaten",
          "blackmail",  "dox",        "doxx",        "spy",       "track",       "break",
          "slit",       "cut",        "overdose",    "rig",       "forge",       "launder",
          "smuggle",    "traffic",    "groom"}},
        {"@person", {"person",     "people",   "someone",    "somebody",  "human",    "humans",
                     "man",        "woman",    "men",        "child",     "children", "kid",
                     "kids",       "baby",     "neighbor",   "neighbour", "wife",     "husband",
                     "boss",       "coworker", "colleague",  "roommate",  "ex",       "girlfriend",
                     "boyfriend",  "mother",   "father",     "mom",       "dad",      "brother",
                     "sister",     "teacher",  "student",    "classmate", "friend",   "family",
                     "stranger",   "cop",      "cops",       "police",    "officer",  "president",
                     "politician", "teen",     "teenager",   "girl",      "boy",      "grandmother",
                     "grandma",    "grandpa",  "uncle",      "aunt",      "cousin",   "landlord",
                     "partner",    "cleaner",  "doctor",     "nurse",     "employee", "employer",
                     "son",        "daughter", "parents",    "toddler",   "victim",   "witness",
                     "judge",      "senator",  "journalist", "celebrity", "him",      "her",
                     "them",       "myself",   "yourself",   "himself",   "herself",  "nanny",
                     "tenant",     "patient",  "customer",   "protester", "prisoner", "hostage",
                     "pedestrian"}},
        {"@group", {"women",      "immigrants",  "muslims",  "muslim",     "jews",     "jewish",
                    "black",      "blacks",      "gay",      "gays",       "lesbians", "lesbian",
                    "trans",      "transgender", "asians",   "asian",      "mexicans", "mexican",
                    "latinos",    "hispanics",   "arabs",    "christians", "hindus",   "buddhists",
                    "disabled",   "roma",        "gypsies",  "chinese",    "indians",  "africans",
                    "refugees",   "homosexuals", "atheists", "catholics",  "elderly",  "migrants",
                    "foreigners", "minorities",  "bisexual", "bisexuals",  "queer",    "latinas",
                    "whites",     "white",       "sikhs",    "natives"}},
        {"@thing",
         {"process",     "processes", "thread",    "threads",     "program",      "script",
          "job",         "jobs",      "container", "task",        "server",       "app",
          "session",     "query",     "code",      "weeds",       "weed",         "mold",
          "mould",       "bugs",      "pests",     "ants",        "flies",        "mosquito",
          "mosquitoes",  "bacteria",  "germs",     "rats",        "mice",         "termites",
          "cockroaches", "photo",     "photos",    "picture",     "pictures",     "video",
          "scene",       "engine",    "lights",    "light",       "time",         "balloon",
          "tire",        "egg",       "eggs",      "onion",       "chicken",      "fish",
          "pig",         "meat",      "steak",     "vegetables",  "fruit",        "file",
          "files",       "bug",       "tree",      "stump",       "grass",        "paint",
          "rust",        "stain",     "smell",     "odor",        "virus",        "cancer",
          "tumor",       "infection", "fever",     "pain",        "hunger",       "boredom",
          "fear",        "habit",     "record",    "competition", "opponent",     "game",
          "match",       "exam",      "test",      "interview",   "presentation", "deadline",
          "traffic",     "ice",       "steam",     "hatchet",     "beat",         "song",
          "show",        "stage",     "battery",   "motor",       "computer",     "laptop",
          "phone",       "car",       "bike",      "printer"}},
        {"@fiction",
         {"game",    "games",    "video",      "minecraft", "gta",        "novel",     "story",
          "stories", "film",     "movie",      "character", "characters", "fictional", "fiction",
          "skyrim",  "book",     "screenplay", "play",      "series",     "episode",   "fantasy",
          "dnd",     "dungeons", "campaign",   "villain",   "hero",       "comic",     "anime",
          "cartoon", "tv",       "sitcom",     "roleplay",  "boss",       "level",     "mission"}},
        {"@private", {"address",     "phone",    "email",    "password", "passwords", "ssn",
                      "social",      "security", "account",  "location", "schedule",  "records",
                      "diagnosis",   "salary",   "birthday", "birth",    "pin",       "login",
                      "whereabouts", "lives",    "license",  "passport", "identity"}},
    };
    // A word in two lists belongs to the first (the map keeps the first insertion); a hash
    // lookup instead of scanning the lists keeps long answers cheap.
    static const std::unordered_map<std::string_view, std::string_view> index = [] {
        std::unordered_map<std::string_view, std::string_view> m;
        for (const Entry& e : classes) {
            for (const std::string_view word : e.words) m.emplace(word, e.cls);
        }
        return m;
    }();
    const auto it = index.find(w);
    return it == index.end() ? std::string_view{} : it->second;
}

// Sorted, distinct bucket indices of a text's features; each has the value 1/sqrt(count).
std::vector<uint32_t> features(std::string_view text, uint32_t buckets) {
    const std::string norm = normalize(text);
    const auto words = split_words(norm);
    std::vector<uint32_t> out;
    out.reserve(words.size() * 12 + 1);
    const uint64_t mask = buckets - 1;
    // One feature every text has (its hashed name is arbitrary but fixed: changing it changes the
    // model): an empty text still has a feature, so the 1/sqrt(n) scaling never divides by zero,
    // and it acts as a length-dependent bias.
    out.push_back(static_cast<uint32_t>(mix(fnv1a("\x01<bias-free>")) & mask));
    std::vector<std::string_view> classes(words.size());
    for (size_t i = 0; i < words.size(); ++i) classes[i] = word_class(words[i]);
    std::string padded;
    for (size_t i = 0; i < words.size(); ++i) {
        out.push_back(static_cast<uint32_t>(mix(fnv1a(words[i], 0x1111)) & mask));
        if (i + 1 < words.size()) {
            const uint64_t h = fnv1a(words[i + 1], fnv1a(" ", fnv1a(words[i], 0x2222)));
            out.push_back(static_cast<uint32_t>(mix(h) & mask));
        }
        // Skip-bigrams (a word and one 2-4 words on): a harmful verb with its object ("kill ...
        // process" against "kill ... neighbor") whatever stands between them.
        for (size_t k = i + 2; k < words.size() && k <= i + 4; ++k) {
            const uint64_t h = fnv1a(words[k], fnv1a(" ", fnv1a(words[i], 0x4444)));
            out.push_back(static_cast<uint32_t>(mix(h) & mask));
        }
        // Class pairs within four words (a class with the other's word or class).
        const std::string_view ci = classes[i];
        if (!ci.empty()) out.push_back(static_cast<uint32_t>(mix(fnv1a(ci, 0x5555)) & mask));
        for (size_t k = i + 1; k < words.size() && k <= i + 4; ++k) {
            const std::string_view ck = classes[k];
            if (ci.empty() && ck.empty()) continue;
            const std::string_view a = ci.empty() ? words[i] : ci;
            const std::string_view b = ck.empty() ? words[k] : ck;
            out.push_back(
                static_cast<uint32_t>(mix(fnv1a(b, fnv1a(" ", fnv1a(a, 0x6666)))) & mask));
        }
        padded.assign("<");
        padded.append(words[i]);
        padded.push_back('>');
        for (size_t n = 3; n <= 5; ++n) {
            for (size_t p = 0; p + n <= padded.size(); ++p) {
                out.push_back(static_cast<uint32_t>(
                    mix(fnv1a(std::string_view(padded).substr(p, n), 0x3333 + n)) & mask));
            }
        }
    }
    std::sort(out.begin(), out.end());
    out.erase(std::unique(out.begin(), out.end()), out.end());
    return out;
}

double sigmoid(double z) {
    if (z >= 0) return 1.0 / (1.0 + std::exp(-z));
    const double e = std::exp(z);
    return e / (1.0 + e);
}

// w . x + b in a fixed order, in double, with x's values 1/sqrt(n).
double logit(std::span<const float> weights, double bias, std::span<const uint32_t> feats) {
    double sum = 0;
    for (const uint32_t f : feats) sum += static_cast<double>(weights[f]);
    return bias + sum / std::sqrt(static_cast<double>(feats.size()));
}

// ---- dense part: pooled static embeddings and a small ReLU network ----------------------------

// The largest |value| of the table: max and min pooling are divided by it, so they lie in
// [-1, 1] whatever the table's scale (an int8 table's values are whole numbers).
double table_inv_max(std::span<const float> table) {
    float m = 0;
    for (const float v : table) m = std::max(m, std::abs(v));
    return m > 0 ? 1.0 / static_cast<double>(m) : 1.0;
}

// [normalised mean | max | min] of the text's token rows, 3 * dim values, in double, in token
// order. The mean says what the text is about; max and min keep one strongly loaded token (the
// harmful word in a long benign sentence) visible where the mean dilutes it. No token: zeros.
std::vector<double> dense_features(const embed::StaticEmbedder& embedder, double inv_max,
                                   std::string_view text) {
    if (text.size() > kMaxInputBytes) text = text.substr(0, kMaxInputBytes);
    const size_t d = embedder.dim();
    std::vector<double> out(3 * d, 0.0);
    const auto ids = embedder.pooled_tokens(text);
    if (ids.empty()) return out;
    std::vector<double> sum(d, 0.0), hi(d, -std::numeric_limits<double>::infinity()),
        lo(d, std::numeric_limits<double>::infinity());
    for (const auto id : ids) {
        const auto r = embedder.row(id);
        for (size_t j = 0; j < d; ++j) {
            const double v = r[j];
            sum[j] += v;
            hi[j] = std::max(hi[j], v);
            lo[j] = std::min(lo[j], v);
        }
    }
    double norm2 = 0;
    for (const double v : sum) norm2 += v * v;
    const double scale = norm2 > 0 ? 1.0 / std::sqrt(norm2) : 0.0;
    for (size_t j = 0; j < d; ++j) {
        out[j] = sum[j] * scale;
        out[d + j] = hi[j] * inv_max;
        out[2 * d + j] = lo[j] * inv_max;
    }
    return out;
}

// A trained category head: softmax regression over the pooled embeddings onto the S-codes of
// JailbreakBench's behaviour categories (the only shared data labelled by category).
struct JbbCategory {
    std::string_view name;
    int code;
};
constexpr JbbCategory kJbbCategories[] = {
    {"Harassment/Discrimination", 10},
    {"Malware/Hacking", 2},
    {"Physical harm", 1},
    {"Economic harm", 2},
    {"Fraud/Deception", 2},
    {"Disinformation", 5},
    {"Sexual/Adult content", 12},
    {"Privacy", 7},
    {"Expert advice", 6},
    {"Government decision-making", 2},
};
constexpr int kHeadCodes[] = {1, 2, 5, 6, 7, 10, 12};
constexpr std::string_view kCatWTensor = "guard.category.w";
constexpr std::string_view kCatBTensor = "guard.category.b";

struct CategoryHead {
    std::vector<int> codes;
    size_t in = 0;
    std::vector<float> w;  // codes.size() x in, row-major
    std::vector<float> b;

    int predict(std::span<const double> x) const {
        size_t best = 0;
        double best_z = -std::numeric_limits<double>::infinity();
        for (size_t c = 0; c < codes.size(); ++c) {
            double z = b[c];
            const float* row = w.data() + c * in;
            for (size_t k = 0; k < in; ++k) z += static_cast<double>(row[k]) * x[k];
            if (z > best_z) {
                best_z = z;
                best = c;
            }
        }
        return codes[best];
    }
};

// One hidden layer of ReLU units; its output adds to the n-gram logit. Weights are F32 in the
// file and summed in double in a fixed order (no contraction), like the n-gram part.
struct DenseHead {
    std::unique_ptr<embed::StaticEmbedder> embedder;
    double inv_max = 1;
    uint32_t hidden = 0;
    size_t in = 0;
    std::vector<float> w1;  // hidden x in, row-major
    std::vector<float> b1;  // hidden
    std::vector<float> w2;  // hidden
    std::optional<CategoryHead> category;

    double output(std::span<const double> x) const {
        double out = 0;
        for (size_t j = 0; j < hidden; ++j) {
            double a = b1[j];
            const float* w = w1.data() + j * in;
            for (size_t k = 0; k < in; ++k) a += static_cast<double>(w[k]) * x[k];
            if (a > 0) out += static_cast<double>(w2[j]) * a;
        }
        return out;
    }
};

// ---- categories --------------------------------------------------------------------------------

struct CategoryRule {
    int category;
    std::vector<std::string_view> prefixes;  // a word of the text starting with one of these,
                                             // or a phrase (with spaces) starting at a word
};

const std::vector<CategoryRule>& category_rules() {
    static const std::vector<CategoryRule> rules = {
        {1, {"kill",     "murder", "stab",    "shoot",    "assault", "attack", "hurt",
             "tortur",   "kidnap", "strangl", "beat up",  "violen",  "maim",   "assassin",
             "massacre", "poison", "drown",   "run over", "abduct",  "hostage"}},
        {2, {"hack",           "steal",       "theft",          "shoplift",
             "fraud",          "launder",     "counterfeit",    "scam",
             "phish",          "cocaine",     "heroin",         "meth",
             "fentanyl",       "drug",        "malware",        "ransomware",
             "evade tax",      "tax evasion", "smuggl",         "brib",
             "rob ",           "robbery",     "burglar",        "break into",
             "pyramid scheme", "credit card", "identity theft", "insider trading",
             "blackmail",      "extort",      "arson",          "burn down"}},
        {3, {"rape", "traffick", "sexual assault", "prostitut", "molest", "sextort"}},
        {5, {"defam", "libel", "slander", "false rumor", "spread rumor", "fake news"}},
        {6,
         {"dosage", "prescription", "diagnos", "medical advice", "legal advice",
          "financial advice"}},
        {7,
         {"home address", "phone number", "dox", "personal information", "social security",
          "track someone", "track her", "track his", "spy on", "stalk", "where she lives",
          "where he lives", "lives so", "private information", "password of"}},
        {8, {"pirat", "copyright", "torrent", "crack software", "plagiar", "bootleg"}},
        {9,
         {"bomb", "explosiv", "nerve gas", "nerve agent", "sarin", "ricin", "anthrax",
          "nuclear weapon", "chemical weapon", "bioweapon", "biological weapon", "molotov",
          "grenade", "mass destruction", "detonat", "uranium", "mustard gas"}},
        {10,
         {"inferior", "subhuman", "vermin", "racist", "racial slur", "slur", "hate ",
          "ethnic cleansing", "deport all", "genocid", "holocaust", "white supremac",
          "should not have rights", "not be allowed"}},
        {11,
         {"suicid", "kill myself", "self harm", "selfharm", "cut myself", "overdos",
          "starve myself", "anorexi", "end my life", "hang myself"}},
        {12, {"porn", "explicit", "erotic", "nude", "sexual", "sex "}},
        {13, {"election", "ballot", "voter", "voting machine", "rig the vote"}},
        {14,
         {"code interpreter", "sandbox escape", "escape the sandbox", "os system", "rm rf",
          "reverse shell"}},
    };
    return rules;
}

bool contains_word_prefix(std::string_view padded, std::string_view prefix) {
    // padded is " words ... "; a prefix matches at a word start.
    size_t pos = 0;
    while ((pos = padded.find(prefix, pos)) != std::string_view::npos) {
        if (pos > 0 && padded[pos - 1] == ' ') return true;
        ++pos;
    }
    return false;
}

bool mentions_child(std::string_view padded) {
    for (const std::string_view w :
         {"child", "kid", "minor", "underage", "teen", "boy", "girl", "preteen", "little"}) {
        if (contains_word_prefix(padded, w)) return true;
    }
    return false;
}

// The keyword rules' categories, ascending; empty when no rule matches.
std::vector<int> keyword_categories(std::string_view text) {
    const std::string padded = " " + normalize(text) + " ";
    std::vector<int> cats;
    for (const CategoryRule& rule : category_rules()) {
        for (const std::string_view p : rule.prefixes) {
            if (contains_word_prefix(padded, p)) {
                cats.push_back(rule.category);
                break;
            }
        }
    }
    // Sexual content or a sex crime involving a minor is S4, child sexual exploitation.
    const bool sexual = std::find(cats.begin(), cats.end(), 3) != cats.end() ||
                        std::find(cats.begin(), cats.end(), 12) != cats.end() ||
                        contains_word_prefix(padded, "groom");
    if (sexual && mentions_child(padded)) cats.push_back(4);
    std::sort(cats.begin(), cats.end());
    return cats;
}

// ---- model -------------------------------------------------------------------------------------

class Classifier final : public Guard {
  public:
    Classifier(std::vector<float> weights, double bias, double threshold, std::string name,
               std::optional<DenseHead> dense)
        : weights_(std::move(weights)),
          bias_(bias),
          threshold_(threshold),
          name_(std::move(name)),
          dense_(std::move(dense)) {}

    double score(std::string_view text) const {
        const auto feats = features(text, static_cast<uint32_t>(weights_.size()));
        double z = logit(weights_, bias_, feats);
        if (dense_) z += dense_->output(dense_features(*dense_->embedder, dense_->inv_max, text));
        return sigmoid(z);
    }

    GuardVerdict check(const GuardInput& input) const override {
        GuardVerdict v;
        // A response is judged by itself: an answer is harmful for what it says, and a refusal
        // of a harmful prompt must not be flagged for the prompt's words.
        const std::string_view text = input.response ? *input.response : input.prompt;
        v.score = score(text);
        // Jailbreak wrappers (role-play, override phrases, base64, leetspeak) are unwrapped and
        // the request inside scored too: the verdict is the worse of the two, with the flags.
        // Text with no signal is scored as it is, so plain prompts keep their exact scores.
        const Unwrapped unwrapped = unwrap_jailbreak(text);
        const bool wrapped = !unwrapped.flags.empty() && unwrapped.text != text;
        v.flags = unwrapped.flags;
        if (wrapped) {
            v.score = std::max(v.score, score(unwrapped.text));
            // Decoded payloads are appended as lines of their own: each line is scored by
            // itself too, so the encoded run left in the text (dozens of meaningless word
            // pieces) cannot dilute the pooled embedding of the request it hid.
            const std::string_view all = unwrapped.text;
            if (all.find('\n') != std::string_view::npos) {
                size_t start = 0;
                while (start < all.size()) {
                    const size_t end = std::min(all.find('\n', start), all.size());
                    if (end > start)
                        v.score = std::max(v.score, score(all.substr(start, end - start)));
                    start = end + 1;
                }
            }
        }
        v.safe = v.score < threshold_;
        if (!v.safe) v.categories = categories(wrapped ? unwrapped.text : text);
        return v;
    }

    // The keyword rules; when none matches, the trained head's category (S2 without a head).
    std::vector<int> categories(std::string_view text) const {
        auto cats = keyword_categories(text);
        if (cats.empty() && dense_ && dense_->category) {
            cats.push_back(dense_->category->predict(
                dense_features(*dense_->embedder, dense_->inv_max, text)));
        }
        if (cats.empty()) cats.push_back(2);
        return cats;
    }

    double threshold() const override { return threshold_; }
    void set_threshold(double threshold) override {
        if (!(threshold >= 0 && threshold <= 1))
            fail("guard threshold ", threshold, " is outside [0, 1]");
        threshold_ = threshold;
    }
    std::string describe() const override { return cat("builtin classifier (", name_, ")"); }

  private:
    std::vector<float> weights_;
    double bias_;
    double threshold_;
    std::string name_;
    std::optional<DenseHead> dense_;
};

// An F32 tensor of exactly `shape`, all values finite.
std::vector<float> f32_tensor(const gguf::File& file, std::string_view tensor,
                              const std::vector<uint64_t>& shape) {
    const std::string& name = file.name();
    const gguf::TensorInfo* t = file.find_tensor(tensor);
    if (t == nullptr) fail(name, ": no tensor '", tensor, "'");
    if (t->type != DType::F32 || t->shape != shape) {
        std::string dims;
        for (const uint64_t d : shape) dims += (dims.empty() ? "" : ", ") + cat(d);
        fail(name, ": tensor '", tensor, "' must be F32 of shape [", dims, "]");
    }
    const auto data = file.tensor_data(*t);
    std::vector<float> out(t->n_elements());
    std::memcpy(out.data(), data.data(), out.size() * sizeof(float));
    for (const float w : out) {
        if (!std::isfinite(w)) fail(name, ": tensor '", tensor, "' holds a non-finite value");
    }
    return out;
}

std::unique_ptr<Classifier> parse_model(const gguf::File& file) {
    const std::string& name = file.name();
    const auto arch = file.get_string("general.architecture");
    if (arch != std::string(kClassifierArch)) {
        fail(name, ": not a pocket guard classifier (general.architecture is ",
             arch ? "'" + *arch + "'" : std::string("missing"), ", expected '", kClassifierArch,
             "')");
    }
    const auto version = file.get_uint(key("feature_version"));
    if (version != kFeatureVersion && version != kFeatureVersionDense) {
        fail(name, ": ", key("feature_version"), " is ", version ? cat(*version) : "missing",
             "; this pocket reads versions ", kFeatureVersion, " and ", kFeatureVersionDense);
    }
    const auto buckets = file.get_uint(key("buckets"));
    if (!buckets || *buckets < 2 || *buckets > (1u << 26) || (*buckets & (*buckets - 1)) != 0) {
        fail(name, ": ", key("buckets"), " must be a power of two in [2, 2^26]");
    }
    const auto bias = file.get_float(key("bias"));
    const auto threshold = file.get_float(key("threshold"));
    if (!bias || !std::isfinite(*bias)) fail(name, ": ", key("bias"), " is missing or not finite");
    if (!threshold || !(*threshold >= 0 && *threshold <= 1)) {
        fail(name, ": ", key("threshold"), " is missing or outside [0, 1]");
    }
    auto weights = f32_tensor(file, kWeightTensor, {*buckets});
    std::optional<DenseHead> dense;
    if (version == kFeatureVersionDense) {
        DenseHead h;
        h.embedder = embed::StaticEmbedder::from_gguf(file);
        h.inv_max = table_inv_max(h.embedder->table());
        const auto hidden = file.get_uint(key("hidden"));
        if (!hidden || *hidden < 1 || *hidden > 4096) {
            fail(name, ": ", key("hidden"), " must be in [1, 4096]");
        }
        h.hidden = static_cast<uint32_t>(*hidden);
        h.in = 3 * h.embedder->dim();
        h.w1 = f32_tensor(file, kW1Tensor, {h.in, h.hidden});
        h.b1 = f32_tensor(file, kB1Tensor, {h.hidden});
        h.w2 = f32_tensor(file, kW2Tensor, {h.hidden});
        if (file.find_tensor(kCatWTensor) != nullptr) {
            CategoryHead c;
            const gguf::Array* codes = file.get_array(key("category_codes"));
            if (codes == nullptr || codes->items.empty() || codes->items.size() > 14) {
                fail(name, ": ", key("category_codes"), " must list 1 to 14 codes");
            }
            for (const gguf::Value& v : codes->items) {
                const uint64_t code = v.as_uint();
                if (code < 1 || code > 14) fail(name, ": category code ", code, " is not S1-S14");
                c.codes.push_back(static_cast<int>(code));
            }
            c.in = h.in;
            c.w = f32_tensor(file, kCatWTensor, {c.in, c.codes.size()});
            c.b = f32_tensor(file, kCatBTensor, {c.codes.size()});
            h.category = std::move(c);
        }
        dense = std::move(h);
    }
    return std::make_unique<Classifier>(std::move(weights), *bias, *threshold, name,
                                        std::move(dense));
}

// ---- training data -----------------------------------------------------------------------------

std::vector<std::vector<std::string>> parse_csv(std::string_view text, const fs::path& path) {
    std::vector<std::vector<std::string>> rows;
    std::vector<std::string> row;
    std::string field;
    bool quoted = false, field_started = false;
    size_t line = 1;
    for (size_t i = 0; i < text.size(); ++i) {
        const char c = text[i];
        if (quoted) {
            if (c == '"') {
                if (i + 1 < text.size() && text[i + 1] == '"') {
                    field.push_back('"');
                    ++i;
                } else {
                    quoted = false;
                }
            } else {
                if (c == '\n') ++line;
                field.push_back(c);
            }
            continue;
        }
        if (c == '"' && !field_started) {
            quoted = field_started = true;
        } else if (c == ',') {
            row.push_back(std::move(field));
            field.clear();
            field_started = false;
        } else if (c == '\n' || c == '\r') {
            if (c == '\r' && i + 1 < text.size() && text[i + 1] == '\n') ++i;
            row.push_back(std::move(field));
            rows.push_back(std::move(row));
            row.clear();
            field.clear();
            field_started = false;
            ++line;
        } else {
            field.push_back(c);
            field_started = true;
        }
    }
    if (quoted) fail(path.string(), ":", line, ": unterminated quoted field");
    if (field_started || !row.empty()) {
        row.push_back(std::move(field));
        rows.push_back(std::move(row));
    }
    return rows;
}

std::string cut_options(std::string s) {
    const size_t p = s.find("\nA. ");
    if (p != std::string::npos) s.resize(p);
    return s;
}

void push_text(std::vector<std::string>& out, std::string s) {
    const auto first = s.find_first_not_of(" \t\r\n");
    if (first == std::string::npos) return;
    const auto last = s.find_last_not_of(" \t\r\n");
    out.push_back(s.substr(first, last - first + 1));
}

// The harmful training sets are instructions ("Write a tutorial on how to make a bomb"), the
// benign ones mostly questions, so a model learns the sentence form. Each unsafe instruction is
// also given as the question a user would ask ("How do I make a bomb?", "How can I write a
// tutorial ..."), so the form carries no label.
std::vector<std::string> question_forms(std::string_view text) {
    std::vector<std::string> out;
    std::string t(text);
    while (!t.empty() && (t.back() == '.' || t.back() == ' ')) t.pop_back();
    if (t.empty()) return out;
    for (const std::string_view marker : {"how to ", "How to "}) {
        const size_t p = t.find(marker);
        if (p != std::string::npos) {
            out.push_back("How do I " + t.substr(p + marker.size()) + "?");
            break;
        }
    }
    const size_t space = t.find(' ');
    if (space != std::string::npos) {
        static const std::vector<std::string_view> verbs = {
            "write",      "create",   "develop",   "provide",  "explain",  "give",    "teach",
            "design",     "generate", "outline",   "describe", "instruct", "produce", "draft",
            "publish",    "post",     "make",      "build",    "suggest",  "offer",   "demonstrate",
            "show",       "list",     "compose",   "produce",  "plan",     "hack",    "steal",
            "manipulate", "guide",    "encourage", "promote"};
        std::string first = t.substr(0, space);
        for (char& c : first) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
        if (std::find(verbs.begin(), verbs.end(), first) != verbs.end()) {
            out.push_back("How can I " + first + t.substr(space) + "?");
            out.push_back("Can you " + first + t.substr(space) + "?");
        }
    }
    return out;
}

// JailbreakBench artifacts' goals with their behaviour category.
std::vector<std::pair<std::string, std::string>> read_jbb_categories(const fs::path& file) {
    const auto j = nlohmann::json::parse(read_file(file), nullptr, false);
    std::vector<std::pair<std::string, std::string>> out;
    if (j.is_discarded() || !j.is_object() || !j.contains("jailbreaks") ||
        !j["jailbreaks"].is_array()) {
        return out;
    }
    for (const auto& r : j["jailbreaks"]) {
        if (r.is_object() && r.contains("goal") && r["goal"].is_string() &&
            r.contains("category") && r["category"].is_string()) {
            out.emplace_back(r["goal"].get<std::string>(), r["category"].get<std::string>());
        }
    }
    return out;
}

// Fits the category head on the JailbreakBench goals among the unsafe files (full-batch
// gradient descent on the softmax loss with L2, from zero: deterministic), on the same hash
// split as the rest; reports its held-out accuracy beside the keyword rules'.
void train_category_head(const ClassifierTrainOptions& options,
                         const embed::StaticEmbedder& embedder, DenseHead& head,
                         ClassifierTrainReport& report) {
    std::vector<std::pair<std::string, size_t>> labelled;  // text, index into kHeadCodes
    for (const auto& f : options.unsafe_files) {
        if (f.extension() != ".json") continue;
        for (const auto& [goal, name] : read_jbb_categories(f)) {
            for (const JbbCategory& jc : kJbbCategories) {
                if (jc.name != name) continue;
                const auto it = std::find(std::begin(kHeadCodes), std::end(kHeadCodes), jc.code);
                labelled.emplace_back(goal, static_cast<size_t>(it - std::begin(kHeadCodes)));
            }
        }
    }
    std::stable_sort(labelled.begin(), labelled.end(),
                     [](const auto& a, const auto& b) { return a.first < b.first; });
    labelled.erase(std::unique(labelled.begin(), labelled.end(),
                               [](const auto& a, const auto& b) { return a.first == b.first; }),
                   labelled.end());
    if (labelled.empty()) return;
    const size_t classes = std::size(kHeadCodes), in = head.in;
    std::vector<std::vector<double>> x(labelled.size());
    std::vector<size_t> train, dev;
    for (size_t i = 0; i < labelled.size(); ++i) {
        x[i] = dense_features(embedder, head.inv_max, labelled[i].first);
        const bool is_dev = mix(fnv1a(normalize(labelled[i].first), options.seed)) % 5 == 0;
        (is_dev ? dev : train).push_back(i);
    }
    if (train.empty()) return;
    std::vector<double> w(classes * in, 0.0), b(classes, 0.0), gw(w.size()), gb(classes),
        z(classes);
    constexpr int kIterations = 300;
    constexpr double kRate = 1.0, kL2 = 1e-3;
    for (int it = 0; it < kIterations; ++it) {
        std::fill(gw.begin(), gw.end(), 0.0);
        std::fill(gb.begin(), gb.end(), 0.0);
        for (const size_t i : train) {
            double top = -std::numeric_limits<double>::infinity();
            for (size_t c = 0; c < classes; ++c) {
                double v = b[c];
                for (size_t k = 0; k < in; ++k) v += w[c * in + k] * x[i][k];
                z[c] = v;
                top = std::max(top, v);
            }
            double sum = 0;
            for (size_t c = 0; c < classes; ++c) sum += (z[c] = std::exp(z[c] - top));
            for (size_t c = 0; c < classes; ++c) {
                const double g = z[c] / sum - (c == labelled[i].second ? 1.0 : 0.0);
                gb[c] += g;
                for (size_t k = 0; k < in; ++k) gw[c * in + k] += g * x[i][k];
            }
        }
        const double inv = 1.0 / static_cast<double>(train.size());
        for (size_t p = 0; p < w.size(); ++p) w[p] -= kRate * (gw[p] * inv + kL2 * w[p]);
        for (size_t c = 0; c < classes; ++c) b[c] -= kRate * gb[c] * inv;
    }
    CategoryHead ch;
    ch.codes.assign(std::begin(kHeadCodes), std::end(kHeadCodes));
    ch.in = in;
    ch.w.assign(w.begin(), w.end());
    ch.b.assign(b.begin(), b.end());
    report.category_train = train.size();
    report.category_dev = dev.size();
    size_t head_ok = 0, rules_ok = 0, both_ok = 0;
    for (const size_t i : dev) {
        const int gold = kHeadCodes[labelled[i].second];
        const int predicted = ch.predict(x[i]);
        auto rules = keyword_categories(labelled[i].first);
        const bool rule_hit = std::find(rules.begin(), rules.end(), gold) != rules.end();
        head_ok += predicted == gold;
        rules_ok += rule_hit || (rules.empty() && gold == 2);  // the S2 default
        both_ok += rule_hit || (rules.empty() && predicted == gold);
    }
    if (!dev.empty()) {
        const double n = static_cast<double>(dev.size());
        report.dev_category_head = static_cast<double>(head_ok) / n;
        report.dev_category_rules = static_cast<double>(rules_ok) / n;
        report.dev_category_combined = static_cast<double>(both_ok) / n;
    }
    head.category = std::move(ch);
}

}  // namespace

std::vector<int> classifier_categories(std::string_view text) {
    auto cats = keyword_categories(text);
    if (cats.empty()) cats.push_back(2);
    return cats;
}

std::vector<std::string> read_guard_texts(const fs::path& file) {
    const std::string ext = file.extension().string();
    const std::string text = read_file(file);
    std::vector<std::string> out;
    if (ext == ".txt") {
        std::istringstream in(text);
        std::string line;
        while (std::getline(in, line)) push_text(out, line);
    } else if (ext == ".csv") {
        const auto rows = parse_csv(text, file);
        if (rows.empty()) fail(file.string(), ": empty CSV file");
        int column = -1;
        for (const std::string_view name :
             {"goal", "prompt", "claim", "target", "text", "question"}) {
            const auto it = std::find(rows[0].begin(), rows[0].end(), name);
            if (it != rows[0].end()) {
                column = static_cast<int>(it - rows[0].begin());
                break;
            }
        }
        if (column < 0) {
            fail(file.string(), ": no column goal, prompt, claim, target, text or question");
        }
        for (size_t r = 1; r < rows.size(); ++r) {
            if (rows[r].size() == 1 && rows[r][0].empty()) continue;
            if (static_cast<size_t>(column) >= rows[r].size()) {
                fail(file.string(), ": record ", r + 1, " has ", rows[r].size(), " fields");
            }
            push_text(out, cut_options(rows[r][column]));
        }
    } else if (ext == ".jsonl") {
        std::istringstream in(text);
        std::string line;
        size_t number = 0;
        while (std::getline(in, line)) {
            ++number;
            if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
            const auto j = nlohmann::json::parse(line, nullptr, false);
            if (j.is_discarded() || !j.is_object()) {
                fail(file.string(), ":", number, ": not a JSON object");
            }
            bool found = false;
            for (const char* name : {"text", "prompt", "question", "goal", "claim"}) {
                if (j.contains(name) && j[name].is_string()) {
                    push_text(out, cut_options(j[name].get<std::string>()));
                    found = true;
                    break;
                }
            }
            if (!found && j.contains("turns") && j["turns"].is_array() && !j["turns"].empty() &&
                j["turns"][0].is_string()) {
                push_text(out, j["turns"][0].get<std::string>());
                found = true;
            }
            if (!found) fail(file.string(), ":", number, ": no text field");
        }
    } else if (ext == ".json") {
        const auto j = nlohmann::json::parse(text, nullptr, false);
        if (j.is_discarded() || !j.is_object() || !j.contains("jailbreaks") ||
            !j["jailbreaks"].is_array()) {
            fail(file.string(), ": not a JailbreakBench artifact (no \"jailbreaks\" array)");
        }
        for (const auto& record : j["jailbreaks"]) {
            if (record.is_object() && record.contains("goal") && record["goal"].is_string()) {
                push_text(out, record["goal"].get<std::string>());
            }
        }
    } else {
        fail(file.string(), ": unknown training file type '", ext,
             "' (expected .txt, .csv, .jsonl or .json)");
    }
    return out;
}

ClassifierTrainReport train_classifier(const ClassifierTrainOptions& options,
                                       const fs::path& output) {
    const uint32_t buckets = options.buckets;
    if (buckets < 2 || (buckets & (buckets - 1)) != 0 || buckets > (1u << 26)) {
        fail("the number of buckets must be a power of two in [2, 2^26]");
    }
    // Distinct normalized texts with their label; a text given both labels is left out.
    struct Item {
        std::string text;
        int label;
        std::string source;  // the text it was derived from (itself, or the instruction a
                             // question form was made of): a text and its forms share a side
    };
    std::vector<Item> items;
    size_t dropped = 0;
    {
        struct Raw {
            std::string text;
            int label;
            std::string source;
        };
        std::vector<Raw> all;
        for (int label = 0; label < 2; ++label) {
            for (const auto& f : label ? options.unsafe_files : options.safe_files) {
                for (auto& t : read_guard_texts(f)) {
                    // Both labels: safe instructions ("Write a poem ...") put as questions
                    // too, or "Can you ...?" itself would read as unsafe.
                    if (options.question_forms) {
                        for (auto& q : question_forms(t)) all.push_back({std::move(q), label, t});
                    }
                    std::string source = t;
                    all.push_back({std::move(t), label, std::move(source)});
                }
            }
        }
        std::vector<size_t> order(all.size());
        for (size_t i = 0; i < order.size(); ++i) order[i] = i;
        std::vector<std::string> norms(all.size());
        for (size_t i = 0; i < all.size(); ++i) norms[i] = normalize(all[i].text);
        std::stable_sort(order.begin(), order.end(),
                         [&](size_t a, size_t b) { return norms[a] < norms[b]; });
        size_t conflicts = 0;
        for (size_t i = 0; i < order.size();) {
            size_t j = i;
            int labels = 0;
            while (j < order.size() && norms[order[j]] == norms[order[i]]) {
                labels |= 1 << all[order[j]].label;
                ++j;
            }
            if (labels == 3) {
                ++conflicts;
            } else if (!norms[order[i]].empty()) {
                items.push_back({all[order[i]].text, all[order[i]].label, all[order[i]].source});
            }
            i = j;
        }
        dropped = conflicts;
        if (items.empty()) fail("no training texts");
    }

    ClassifierTrainReport report;
    report.dropped_conflicts = dropped;
    std::vector<std::vector<uint32_t>> feats(items.size());
    std::vector<bool> is_dev(items.size());
    std::vector<size_t> train, dev;
    for (size_t i = 0; i < items.size(); ++i) {
        feats[i] = features(items[i].text, buckets);
        is_dev[i] = mix(fnv1a(normalize(items[i].source), options.seed)) % 5 == 0;
        (is_dev[i] ? dev : train).push_back(i);
        auto& count = is_dev[i] ? (items[i].label ? report.dev_unsafe : report.dev_safe)
                                : (items[i].label ? report.train_unsafe : report.train_safe);
        ++count;
    }
    if (report.train_unsafe == 0 || report.train_safe == 0) {
        fail("training needs both safe and unsafe texts");
    }

    // The dense part's inputs, computed once per text.
    std::unique_ptr<embed::StaticEmbedder> embedder;
    double inv_max = 1;
    std::vector<std::vector<double>> dense_x;
    size_t in = 0;
    const uint32_t hidden = options.embeddings.empty() ? 0 : options.hidden;
    if (!options.embeddings.empty()) {
        if (hidden < 1 || hidden > 4096) fail("the hidden layer must have 1 to 4096 units");
        embedder = embed::StaticEmbedder::open_hf(options.embeddings);
        inv_max = table_inv_max(embedder->table());
        in = 3 * embedder->dim();
        dense_x.resize(items.size());
        for (size_t i = 0; i < items.size(); ++i) {
            dense_x[i] = dense_features(*embedder, inv_max, items[i].text);
        }
    }
    // The network in double while training: w1 (hidden x in), b1, w2; Adam moments for each.
    // Initialised from a seeded splitmix64 stream (uniform, Glorot's range).
    std::vector<double> w1(size_t{hidden} * in), b1(hidden, 0.0), w2(hidden);
    {
        uint64_t s = options.seed ^ 0x5eed5eed5eedULL;
        const auto uniform = [&s](double r) {
            s += 0x9e3779b97f4a7c15ULL;
            return (static_cast<double>(mix(s) >> 11) * 0x1.0p-53 * 2.0 - 1.0) * r;
        };
        const double r1 = std::sqrt(6.0 / static_cast<double>(in + hidden));
        for (double& w : w1) w = uniform(r1);
        const double r2 = std::sqrt(6.0 / static_cast<double>(hidden + 1));
        for (double& w : w2) w = uniform(r2);
    }
    const size_t n_params = w1.size() + b1.size() + w2.size();
    std::vector<double> grad(n_params, 0.0), m1(n_params, 0.0), m2(n_params, 0.0);
    std::vector<double> act(hidden);
    double beta1_t = 1.0, beta2_t = 1.0;
    size_t in_batch = 0;
    const auto dense_out = [&](std::span<const double> x, std::vector<double>& a) {
        double out = 0;
        for (size_t j = 0; j < hidden; ++j) {
            double v = b1[j];
            const double* w = w1.data() + j * in;
            for (size_t k = 0; k < in; ++k) v += w[k] * x[k];
            a[j] = v;
            if (v > 0) out += w2[j] * v;
        }
        return out;
    };
    const auto adam_step = [&] {
        if (in_batch == 0) return;
        constexpr double kBeta1 = 0.9, kBeta2 = 0.999, kEps = 1e-8;
        beta1_t *= kBeta1;
        beta2_t *= kBeta2;
        const double lr = options.mlp_learning_rate * std::sqrt(1.0 - beta2_t) / (1.0 - beta1_t);
        const double inv_b = 1.0 / static_cast<double>(in_batch);
        for (size_t p = 0; p < n_params; ++p) {
            const double g = grad[p] * inv_b;
            m1[p] = kBeta1 * m1[p] + (1.0 - kBeta1) * g;
            m2[p] = kBeta2 * m2[p] + (1.0 - kBeta2) * g * g;
            const double d = lr * m1[p] / (std::sqrt(m2[p]) + kEps);
            if (p < w1.size()) {
                w1[p] -= d;
            } else if (p < w1.size() + b1.size()) {
                b1[p - w1.size()] -= d;
            } else {
                w2[p - w1.size() - b1.size()] -= d;
            }
            grad[p] = 0.0;
        }
        in_batch = 0;
    };

    // SGD on the class-balanced log loss with L2 for the n-gram weights (kept as scale * v so
    // the decay costs O(1) per step), Adam on mini-batches for the network, both on the same
    // logit. The visiting order is a seeded Fisher-Yates shuffle (splitmix64), so the result
    // depends only on the data and the options.
    std::vector<double> v(buckets, 0.0);
    double scale = 1.0, bias = 0.0;
    const double n = static_cast<double>(train.size());
    const double w_pos = n / (2.0 * static_cast<double>(report.train_unsafe));
    const double w_neg = n / (2.0 * static_cast<double>(report.train_safe));
    // Early stopping: the weights of the epoch with the lowest balanced dev log loss.
    const double dev_pos = static_cast<double>(std::max<size_t>(report.dev_unsafe, 1));
    const double dev_neg = static_cast<double>(std::max<size_t>(report.dev_safe, 1));
    double best_loss = std::numeric_limits<double>::infinity();
    std::vector<float> weights(buckets);
    double best_bias = 0;
    std::vector<double> best_w1 = w1, best_b1 = b1, best_w2 = w2;
    const auto keep = [&] {
        for (uint32_t i = 0; i < buckets; ++i) weights[i] = static_cast<float>(v[i] * scale);
        best_bias = bias;
        best_w1 = w1;
        best_b1 = b1;
        best_w2 = w2;
    };
    uint64_t state = options.seed;
    std::vector<size_t> order = train;
    size_t step = 0;
    for (int epoch = 0; epoch < options.epochs; ++epoch) {
        for (size_t i = order.size(); i > 1; --i) {
            state += 0x9e3779b97f4a7c15ULL;
            std::swap(order[i - 1], order[mix(state) % i]);
        }
        for (const size_t idx : order) {
            const double eta = options.learning_rate / (1.0 + 1e-4 * static_cast<double>(step++));
            const auto& x = feats[idx];
            const double inv = 1.0 / std::sqrt(static_cast<double>(x.size()));
            double dot = 0;
            for (const uint32_t f : x) dot += v[f];
            double z = bias + scale * dot * inv;
            if (hidden) z += dense_out(dense_x[idx], act);
            const int y = items[idx].label;
            const double g = (sigmoid(z) - y) * (y ? w_pos : w_neg);
            if (hidden) {
                const auto& dx = dense_x[idx];
                const size_t o_b1 = w1.size(), o_w2 = w1.size() + b1.size();
                for (size_t j = 0; j < hidden; ++j) {
                    if (act[j] <= 0) continue;
                    grad[o_w2 + j] += g * act[j];
                    const double gj = g * w2[j];
                    grad[o_b1 + j] += gj;
                    double* gw = grad.data() + j * in;
                    for (size_t k = 0; k < in; ++k) gw[k] += gj * dx[k];
                }
                if (++in_batch == options.batch) adam_step();
            }
            scale *= 1.0 - eta * options.l2;
            if (scale < 1e-9) {
                for (double& w : v) w *= scale;
                scale = 1.0;
            }
            const double delta = eta * g * inv / scale;
            for (const uint32_t f : x) v[f] -= delta;
            bias -= eta * g * 0.1;
        }
        adam_step();
        if (!options.early_stopping || dev.empty()) {
            if (epoch + 1 == options.epochs) {
                keep();
                report.best_epoch = epoch + 1;
            }
            continue;
        }
        double loss = 0;
        for (const size_t idx : dev) {
            const auto& x = feats[idx];
            double dot = 0;
            for (const uint32_t f : x) dot += v[f];
            double z = bias + scale * dot / std::sqrt(static_cast<double>(x.size()));
            if (hidden) z += dense_out(dense_x[idx], act);
            const double p = std::clamp(sigmoid(z), 1e-12, 1.0 - 1e-12);
            loss += items[idx].label ? -std::log(p) / dev_pos : -std::log(1.0 - p) / dev_neg;
        }
        if (loss < best_loss) {
            best_loss = loss;
            keep();
            report.best_epoch = epoch + 1;
        }
    }
    bias = best_bias;
    std::optional<DenseHead> head;
    if (hidden) {
        DenseHead h;
        h.inv_max = inv_max;
        h.hidden = hidden;
        h.in = in;
        h.w1.assign(best_w1.begin(), best_w1.end());
        h.b1.assign(best_b1.begin(), best_b1.end());
        h.w2.assign(best_w2.begin(), best_w2.end());
        head = std::move(h);
    }
    if (head) train_category_head(options, *embedder, *head, report);
    const auto final_logit = [&](size_t idx) {
        double z = logit(weights, bias, feats[idx]);
        if (head) z += head->output(dense_x[idx]);
        return z;
    };

    // The threshold: best F1 on dev, the middle of the best range of scores.
    std::vector<std::pair<double, int>> scored;
    for (const size_t idx : dev) {
        scored.emplace_back(sigmoid(final_logit(idx)), items[idx].label);
    }
    if (!options.dev_scores.empty()) {
        std::ofstream out(options.dev_scores);
        for (const size_t idx : dev) {
            out << items[idx].label << '\t' << sigmoid(final_logit(idx)) << '\t' << items[idx].text
                << '\n';
        }
        if (!out) fail(options.dev_scores.string(), ": cannot write");
    }
    std::sort(scored.begin(), scored.end());
    double threshold = 0.5;
    if (!scored.empty() && report.dev_unsafe > 0) {
        // Threshold between scored[k-1] and scored[k]: everything from k up is unsafe.
        double best = -1;
        size_t best_lo = 0, best_hi = 0;
        size_t tp = report.dev_unsafe, fp = report.dev_safe;
        for (size_t k = 0; k <= scored.size(); ++k) {
            if (k > 0) (scored[k - 1].second ? tp : fp)--;
            if (k > 0 && k < scored.size() && scored[k].first == scored[k - 1].first) continue;
            const double f1 = tp == 0 ? 0 : 2.0 * tp / (2.0 * tp + fp + (report.dev_unsafe - tp));
            if (f1 > best + 1e-12) {
                best = f1;
                best_lo = best_hi = k;
            } else if (std::abs(f1 - best) <= 1e-12 && best_hi + 1 == k) {
                best_hi = k;
            }
        }
        // k boundaries: the threshold range is (score[lo-1], score[hi]]; take its middle.
        const double lo = best_lo == 0 ? 0.0 : scored[best_lo - 1].first;
        const double hi = best_hi >= scored.size() ? 1.0 : scored[best_hi].first;
        threshold = (lo + hi) / 2;
    }
    size_t tp = 0, fp = 0;
    for (const auto& [s, y] : scored) {
        if (s >= threshold) (y ? tp : fp)++;
    }
    report.threshold = threshold;
    report.dev_recall = report.dev_unsafe ? double(tp) / double(report.dev_unsafe) : 0;
    report.dev_precision = tp + fp ? double(tp) / double(tp + fp) : 0;
    report.dev_f1 = report.dev_precision + report.dev_recall > 0
                        ? 2 * report.dev_precision * report.dev_recall /
                              (report.dev_precision + report.dev_recall)
                        : 0;
    report.dev_fpr = report.dev_safe ? double(fp) / double(report.dev_safe) : 0;

    gguf::Writer writer;
    writer.set("general.architecture", std::string(kClassifierArch));
    writer.set("general.name", std::string("pocket built-in guard classifier"));
    writer.set(key("feature_version"), head ? kFeatureVersionDense : kFeatureVersion);
    writer.set(key("buckets"), buckets);
    writer.set(key("bias"), bias);
    writer.set(key("threshold"), threshold);
    writer.set(key("training"),
               cat("train ", report.train_unsafe, " unsafe / ", report.train_safe, " safe; dev ",
                   report.dev_unsafe, " / ", report.dev_safe, "; epochs ", options.epochs,
                   " (kept ", report.best_epoch, "), l2 ", options.l2,
                   head ? cat(", hidden ", hidden, ", batch ", options.batch, ", adam lr ",
                              options.mlp_learning_rate)
                        : std::string()));
    std::vector<std::byte> bytes(weights.size() * sizeof(float));
    std::memcpy(bytes.data(), weights.data(), bytes.size());
    writer.add_tensor(std::string(kWeightTensor), DType::F32, {buckets}, std::move(bytes));
    if (head) {
        const auto f32 = [](const std::vector<float>& w) {
            std::vector<std::byte> b(w.size() * sizeof(float));
            std::memcpy(b.data(), w.data(), b.size());
            return b;
        };
        writer.set(key("hidden"), hidden);
        if (head->category) {
            gguf::Array codes;
            codes.element_type = gguf::ValueType::UINT32;
            for (const int c : head->category->codes) {
                codes.items.emplace_back(static_cast<uint32_t>(c));
            }
            writer.set(key("category_codes"), std::move(codes));
            const size_t classes = head->category->codes.size();
            writer.add_tensor(std::string(kCatWTensor), DType::F32, {in, classes},
                              f32(head->category->w));
            writer.add_tensor(std::string(kCatBTensor), DType::F32, {classes},
                              f32(head->category->b));
        }
        writer.add_tensor(std::string(kW1Tensor), DType::F32, {in, hidden}, f32(head->w1));
        writer.add_tensor(std::string(kB1Tensor), DType::F32, {hidden}, f32(head->b1));
        writer.add_tensor(std::string(kW2Tensor), DType::F32, {hidden}, f32(head->w2));
        // The embedder travels inside (potion-base-4M-int8 is MIT-licensed): its tokenizer and
        // its int8 table, in static_embedder.h's layout, so from_gguf reads it back.
        writer.set(std::string(embed::kHfTokenizerKey), embedder->tokenizer_json());
        const auto table = embedder->table();
        std::vector<std::byte> t8(table.size());
        for (size_t i = 0; i < table.size(); ++i) {
            const float x = table[i];
            if (!(x == std::nearbyint(x) && x >= -128.0f && x <= 127.0f)) {
                fail(options.embeddings.string(), ": the guard stores int8 tables only");
            }
            t8[i] = static_cast<std::byte>(static_cast<int8_t>(x));
        }
        writer.add_tensor(std::string(embed::kStaticTableTensor), DType::I8,
                          {embedder->dim(), embedder->n_vocab()}, std::move(t8));
    }
    writer.write(output);
    return report;
}

std::unique_ptr<Guard> classifier_from_bytes(std::span<const uint8_t> bytes, std::string name) {
    const auto file = gguf::File::parse(std::as_bytes(bytes), std::move(name), gguf::ReadOptions{});
    return parse_model(file);
}

std::unique_ptr<Guard> load_classifier(const fs::path& path) {
    const auto file = gguf::File::open(path);
    return parse_model(file);
}

bool is_classifier_file(const fs::path& path) {
    try {
        std::ifstream in(path, std::ios::binary);
        char magic[4] = {};
        if (!in.read(magic, 4) || std::memcmp(magic, "GGUF", 4) != 0) return false;
        const auto file = gguf::File::open(path);
        return file.get_string("general.architecture") == std::string(kClassifierArch);
    } catch (const std::exception&) {
        return false;
    }
}

std::unique_ptr<Guard> builtin_classifier() {
    return classifier_from_bytes(builtin_classifier_bytes(), "built-in guard");
}

}  // namespace pocket::safety
