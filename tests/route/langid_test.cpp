// pocket's fastText reader (route/langid) against the real tool, on real text, on hand-built
// models with hand-computed outputs, and on hostile files.
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <fstream>
#include <random>
#include <string>
#include <vector>

#include "pocket/core/error.h"
#include "pocket/route/langid.h"
#include "support/test_support.h"

namespace pocket::test {
namespace {

using route::LanguageGuess;
using route::LanguageIdentifier;

std::filesystem::path lid_path() {
    return shared_path("models/langid/lid.176.ftz");
}

const LanguageIdentifier& lid() {
    static const LanguageIdentifier model = LanguageIdentifier::load(lid_path());
    return model;
}

std::span<const std::byte> as_bytes(const std::string& s) {
    return {reinterpret_cast<const std::byte*>(s.data()), s.size()};
}

struct Expected {
    std::string language;
    float probability;
};
struct ReferenceCase {
    std::string text;
    std::vector<Expected> top3;
};

// Reference predictions of the real tool: Debian bookworm's fastText 0.9.2 CLI,
//   fasttext predict-prob lid.176.ftz sentences.txt 3
// one sentence per line, probabilities as it printed them (6 significant digits). The sentences
// were written for this test. (Dutch really comes out as French in lid.176.ftz.)
const std::vector<ReferenceCase>& reference_cases() {
    static const std::vector<ReferenceCase> cases = {
        {"The quick brown fox jumps over the lazy dog.",
         {{"en", 0.697451f}, {"es", 0.046211f}, {"pt", 0.0252001f}}},
        {"Please summarize the main arguments of this article in three bullet points.",
         {{"en", 0.833038f}, {"fa", 0.00954295f}, {"ta", 0.00887035f}}},
        {"Der schnelle braune Fuchs springt über den faulen Hund.",
         {{"de", 0.944704f}, {"en", 0.0188756f}, {"ru", 0.00466915f}}},
        {"Ich möchte heute Abend ins Kino gehen, aber es regnet.",
         {{"de", 0.995883f}, {"bar", 0.000475423f}, {"nl", 0.000417354f}}},
        {"Le renard brun rapide saute par-dessus le chien paresseux.",
         {{"fr", 0.818235f}, {"en", 0.028768f}, {"it", 0.0184291f}}},
        {"Pouvez-vous m'expliquer comment fonctionne la photosynthèse ?",
         {{"fr", 0.980409f}, {"en", 0.00556443f}, {"de", 0.00255973f}}},
        {"El rápido zorro marrón salta sobre el perro perezoso.",
         {{"es", 0.921714f}, {"pt", 0.0518558f}, {"gl", 0.0073154f}}},
        {"¿Dónde está la estación de tren más cercana?",
         {{"es", 0.992971f}, {"gl", 0.00330511f}, {"pt", 0.00139001f}}},
        {"A rápida raposa marrom pulou sobre o cão preguiçoso.",
         {{"pt", 0.746773f}, {"es", 0.115782f}, {"ceb", 0.022321f}}},
        {"La volpe marrone veloce salta sopra il cane pigro.",
         {{"it", 0.839329f}, {"es", 0.0430461f}, {"en", 0.0268576f}}},
        {"De snelle bruine vos springt over de luie hond.",
         {{"fr", 0.414712f}, {"en", 0.166713f}, {"nl", 0.0709763f}}},
        {"Szybki brązowy lis przeskakuje nad leniwym psem.",
         {{"pl", 0.992421f}, {"en", 0.00261898f}, {"de", 0.00106852f}}},
        {"Быстрая коричневая лиса прыгает через ленивую собаку.",
         {{"ru", 0.959948f}, {"be", 0.016155f}, {"uk", 0.00484959f}}},
        {"Швидка бура лисиця стрибає через ледачого пса.",
         {{"uk", 0.964132f}, {"ru", 0.0197648f}, {"sr", 0.00601786f}}},
        {"快速的棕色狐狸跳过了懒狗。",
         {{"zh", 0.885682f}, {"wuu", 0.0861966f}, {"yue", 0.0131837f}}},
        {"请用三句话总结这篇文章的主要内容。",
         {{"zh", 0.999634f}, {"ja", 0.00034999f}, {"wuu", 7.95505e-05f}}},
        {"素早い茶色の狐がのろまな犬を飛び越えた。",
         {{"ja", 0.999848f}, {"uk", 0.000160209f}, {"ru", 4.42466e-05f}}},
        {"今日はとても良い天気ですね。",
         {{"ja", 0.994958f}, {"zh", 0.0038103f}, {"wuu", 0.000666839f}}},
        {"빠른 갈색 여우가 게으른 개를 뛰어넘는다.",
         {{"ko", 0.999654f}, {"el", 0.000109472f}, {"no", 0.000104967f}}},
        {"الثعلب البني السريع يقفز فوق الكلب الكسول.",
         {{"ar", 0.993318f}, {"uk", 0.00251533f}, {"arz", 0.00225853f}}},
        {"השועל החום המהיר קופץ מעל הכלב העצלן.",
         {{"he", 0.998768f}, {"yi", 0.00124887f}, {"ru", 2.2809e-05f}}},
        {"तेज़ भूरी लोमड़ी आलसी कुत्ते के ऊपर कूदती है।",
         {{"hi", 0.994509f}, {"el", 0.00193168f}, {"en", 0.000638002f}}},
        {"Η γρήγορη καφέ αλεπού πηδά πάνω από τον τεμπέλη σκύλο.",
         {{"el", 0.988942f}, {"en", 0.00309577f}, {"kn", 0.00196392f}}},
        {"Hızlı kahverengi tilki tembel köpeğin üzerinden atlar.",
         {{"tr", 0.974938f}, {"en", 0.00519868f}, {"az", 0.0043589f}}},
        {"Den snabba bruna räven hoppar över den lata hunden.",
         {{"sv", 0.966995f}, {"nl", 0.00939566f}, {"de", 0.00498941f}}},
        {"Nopea ruskea kettu hyppää laiskan koiran yli.",
         {{"fi", 0.920675f}, {"en", 0.0230671f}, {"it", 0.0174374f}}},
        {"Con cáo nâu nhanh nhẹn nhảy qua con chó lười biếng.",
         {{"vi", 0.962075f}, {"it", 0.00825886f}, {"en", 0.00786518f}}},
        {"สุนัขจิ้งจอกสีน้ำตาลกระโดดข้ามสุนัขขี้เกียจ",
         {{"th", 0.996282f}, {"bn", 0.0014771f}, {"ca", 0.000657629f}}},
        {"Rubah coklat yang cepat melompati anjing yang malas.",
         {{"id", 0.845006f}, {"ms", 0.11345f}, {"as", 0.00763799f}}},
        {"A gyors barna róka átugrik a lusta kutya felett.",
         {{"hu", 0.885385f}, {"en", 0.0235584f}, {"jv", 0.0169891f}}},
        {"Rychlá hnědá liška skáče přes líného psa.",
         {{"cs", 0.98893f}, {"sk", 0.00437079f}, {"bs", 0.00190293f}}},
        {"hello", {{"en", 0.242472f}, {"fr", 0.0951117f}, {"ru", 0.0488111f}}},
        {"ok", {{"en", 0.629765f}, {"pl", 0.14195f}, {"de", 0.0550795f}}},
    };
    return cases;
}

void expect_matches(const std::vector<LanguageGuess>& got, const std::vector<Expected>& want,
                    const std::string& text) {
    ASSERT_EQ(got.size(), want.size()) << text;
    for (size_t i = 0; i < want.size(); ++i) {
        EXPECT_EQ(got[i].language, want[i].language) << text << " rank " << i;
        // The tool prints 6 significant digits; allow a little more for float rounding.
        EXPECT_NEAR(got[i].probability, want[i].probability, 2e-6 + 2e-5 * want[i].probability)
            << text << " rank " << i;
    }
}

TEST(LanguageIdentifier, LoadsLid176) {
    EXPECT_EQ(lid().language_count(), 176u);
    EXPECT_EQ(lid().dimension(), 16u);
    const auto languages = lid().languages();
    EXPECT_EQ(languages[0], "en");  // labels are stored by frequency
    EXPECT_NE(std::find(languages.begin(), languages.end(), "ja"), languages.end());
}

TEST(LanguageIdentifier, AgreesWithFastTextCli) {
    for (const auto& c : reference_cases())
        expect_matches(lid().predict(c.text, 3), c.top3, c.text);
}

TEST(LanguageIdentifier, AgreesWithFastTextCliOnEdgeCases) {
    // The same tool on: an empty line (only the end-of-line token is left), tabs and repeated
    // spaces, invalid UTF-8 (a lone lead byte, 0xff 0xfe, a truncated 3-byte sequence), and a
    // label-looking token, which fastText drops.
    expect_matches(lid().predict("", 2), {{"en", 0.124504f}, {"ca", 0.0859483f}}, "empty");
    expect_matches(lid().predict("hello\tworld   foo", 2), {{"en", 0.176358f}, {"fr", 0.0992731f}},
                   "tabs");
    expect_matches(lid().predict("caf\xc3 \xff\xfe na\xefve \xe2\x82", 2),
                   {{"ca", 0.246501f}, {"sk", 0.153812f}}, "invalid utf-8");
    expect_matches(lid().predict("__label__de hello", 2), {{"en", 0.242472f}, {"fr", 0.0951117f}},
                   "label token");
    // k = 10, and k = 176: fastText stops below its 1e-5 floor, 76 languages for this sentence.
    const std::string german = "Der schnelle braune Fuchs springt über den faulen Hund.";
    expect_matches(lid().predict(german, 10),
                   {{"de", 0.944704f},
                    {"en", 0.0188756f},
                    {"ru", 0.00466915f},
                    {"nl", 0.0033581f},
                    {"fr", 0.00294828f},
                    {"no", 0.00289695f},
                    {"sv", 0.00244177f},
                    {"pl", 0.00207305f},
                    {"cs", 0.00139944f},
                    {"es", 0.00120406f}},
                   german);
    const auto all = lid().predict(german, 1000);
    EXPECT_EQ(all.size(), 76u);
    for (size_t i = 1; i < all.size(); ++i) EXPECT_LE(all[i].probability, all[i - 1].probability);
    EXPECT_GE(all.back().probability, 1e-5f);
    EXPECT_TRUE(lid().predict(german, 0).empty());
}

TEST(LanguageIdentifier, NewlinesSeparateWordsLikeSpaces) {
    const auto a = lid().predict("Bonjour tout le monde\nmerci beaucoup", 3);
    const auto b = lid().predict("Bonjour tout le monde merci beaucoup", 3);
    ASSERT_EQ(a.size(), b.size());
    for (size_t i = 0; i < a.size(); ++i) {
        EXPECT_EQ(a[i].language, b[i].language);
        EXPECT_EQ(a[i].probability, b[i].probability);
    }
    EXPECT_EQ(a[0].language, "fr");
}

std::vector<std::string> mt_bench_first_turns() {
    std::vector<std::string> out;
    std::ifstream in(shared_path("data/routing/mt_bench_questions.jsonl"));
    std::string line;
    while (std::getline(in, line)) out.push_back(nlohmann::json::parse(line)["turns"][0]);
    return out;
}

TEST(LanguageIdentifier, EnglishBenchmarkQuestionsAreEnglish) {
    const auto questions = mt_bench_first_turns();
    ASSERT_EQ(questions.size(), 80u);
    std::vector<float> probabilities;
    for (const auto& q : questions) {
        const auto guess = lid().predict(q);
        ASSERT_EQ(guess.size(), 1u);
        EXPECT_EQ(guess[0].language, "en") << q;
        EXPECT_GT(guess[0].probability, 0.5f) << q;
        probabilities.push_back(guess[0].probability);
    }
    std::sort(probabilities.begin(), probabilities.end());
    EXPECT_GT(probabilities[probabilities.size() / 2], 0.9f);
}

TEST(LanguageIdentifier, WikitextParagraphsAreEnglish) {
    std::ifstream in(shared_path("data/lm/wikitext-2-raw-test.txt"));
    std::string line;
    size_t checked = 0;
    while (checked < 200 && std::getline(in, line)) {
        const size_t words = std::count(line.begin(), line.end(), ' ');
        if (words < 20 || line.find(" = ") == 1) continue;  // headings look like " = Title = "
        const auto guess = lid().predict(line);
        ASSERT_EQ(guess.size(), 1u);
        EXPECT_EQ(guess[0].language, "en") << line;
        EXPECT_GT(guess[0].probability, 0.8f) << line;
        ++checked;
    }
    EXPECT_EQ(checked, 200u);
}

TEST(LanguageIdentifier, MoreLanguagesWrittenForThisTest) {
    const std::vector<std::pair<std::string, std::string>> cases = {
        {"Können Sie mir bitte helfen, diesen Vertrag zu übersetzen?", "de"},
        {"Je voudrais réserver une table pour deux personnes ce soir.", "fr"},
        {"Necesito escribir un correo electrónico a mi jefe sobre el proyecto.", "es"},
        {"我想学习如何用Python编写一个网络爬虫。", "zh"},
        {"Объясните, пожалуйста, разницу между процессом и потоком.", "ru"},
        {"この文章を英語に翻訳してください。", "ja"},
        {"من فضلك اشرح لي كيف يعمل الذكاء الاصطناعي.", "ar"},
    };
    for (const auto& [text, language] : cases) {
        const auto guess = lid().predict(text);
        ASSERT_EQ(guess.size(), 1u) << text;
        EXPECT_EQ(guess[0].language, language) << text;
        EXPECT_GT(guess[0].probability, 0.8f) << text;
    }
}

TEST(LanguageIdentifier, AnyBytesPredictWithoutCrashing) {
    std::mt19937 rng(1234);
    for (int round = 0; round < 2000; ++round) {
        std::string text(rng() % 200, '\0');
        for (char& c : text) c = static_cast<char>(rng() & 0xff);
        const auto guesses = lid().predict(text, 3);
        ASSERT_LE(guesses.size(), 3u);
        for (size_t i = 0; i < guesses.size(); ++i) {
            ASSERT_GT(guesses[i].probability, 0.0f);
            ASSERT_LE(guesses[i].probability, 1.0001f);
            if (i > 0) {
                ASSERT_LE(guesses[i].probability, guesses[i - 1].probability);
            }
        }
    }
    EXPECT_EQ(lid().predict(std::string(100000, 'a'), 1).size(), 1u);
}

TEST(LanguageIdentifier, FiftyWordPromptLatency) {
    // The router calls predict once per request; report the median over 1000 calls.
    const std::string prompt =
        "Compose an engaging travel blog post about a recent trip to Hawaii, highlighting cultural "
        "experiences and must-see attractions. Please keep it under five hundred words, use a "
        "friendly tone, include at least three local dishes worth trying, and end with practical "
        "advice on when to visit and how to get around the islands cheaply.";
    std::vector<double> micros;
    for (int i = 0; i < 1000; ++i) {
        const auto start = std::chrono::steady_clock::now();
        const auto guess = lid().predict(prompt);
        micros.push_back(
            std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - start)
                .count());
        ASSERT_EQ(guess[0].language, "en");
    }
    std::sort(micros.begin(), micros.end());
    std::printf("langid predict, 50-word prompt: median %.1f us, p99 %.1f us\n", micros[500],
                micros[990]);
    EXPECT_LT(micros[500], 5000.0);  // generous: the suite also runs under sanitizers
}

// ---- hand-built models: dim 2, words "</s>", "a", "b", labels x and y, dense matrices ----

class ImageWriter {
  public:
    template <typename T>
    ImageWriter& put(T value) {
        bytes.append(reinterpret_cast<const char*>(&value), sizeof value);
        return *this;
    }
    ImageWriter& word(const std::string& w, int64_t count, int8_t type) {
        bytes.append(w);
        bytes.push_back('\0');
        return put(count).put(type);
    }
    std::string bytes;
};

struct TinyModel {
    int32_t loss = 3;  // softmax
    int32_t word_ngrams = 1;
    int32_t bucket = 0;
    int64_t count_x = 5;
    int64_t count_y = 5;
    std::vector<float> ngram_row = {0.0f, 3.0f};  // every bucket row

    std::string image() const {
        ImageWriter w;
        w.put<int32_t>(793712314).put<int32_t>(12);
        w.put<int32_t>(2).put<int32_t>(5).put<int32_t>(5).put<int32_t>(1).put<int32_t>(5);
        w.put<int32_t>(word_ngrams).put<int32_t>(loss).put<int32_t>(3).put<int32_t>(bucket);
        w.put<int32_t>(0).put<int32_t>(0).put<int32_t>(100).put<double>(1e-4);
        w.put<int32_t>(5).put<int32_t>(3).put<int32_t>(2).put<int64_t>(20).put<int64_t>(-1);
        w.word("</s>", 4, 0).word("a", 3, 0).word("b", 3, 0);
        w.word("__label__x", count_x, 1).word("__label__y", count_y, 1);
        w.put<uint8_t>(0).put<int64_t>(3 + bucket).put<int64_t>(2);
        for (float v : {0.0f, 0.0f, 1.0f, 0.0f, 0.0f, 1.0f}) w.put(v);  // </s>, a, b
        for (int32_t i = 0; i < bucket; ++i) w.put(ngram_row[0]).put(ngram_row[1]);
        w.put<uint8_t>(0).put<int64_t>(2).put<int64_t>(2);
        for (float v : {2.0f, 0.0f, 0.0f, 2.0f}) w.put(v);  // x, y
        return w.bytes;
    }
    LanguageIdentifier load() const {
        return LanguageIdentifier::from_bytes(as_bytes(image()), "tiny");
    }
};

double sigmoid(double x) {
    return 1.0 / (1.0 + std::exp(-x));
}

void expect_two(const std::vector<LanguageGuess>& got, const std::string& first, double p_first,
                const std::string& second, double p_second) {
    ASSERT_EQ(got.size(), 2u);
    EXPECT_EQ(got[0].language, first);
    EXPECT_EQ(got[1].language, second);
    // fastText reports exp(log(p + 1e-5)).
    EXPECT_NEAR(got[0].probability, p_first + 1e-5, 1e-6);
    EXPECT_NEAR(got[1].probability, p_second + 1e-5, 1e-6);
}

TEST(LanguageIdentifierTiny, SoftmaxAveragesWordRowsAndEndOfLine) {
    const auto model = TinyModel{}.load();
    EXPECT_EQ(model.language_count(), 2u);
    // "a": rows a and </s> -> hidden (0.5, 0) -> logits x 1, y 0.
    expect_two(model.predict("a", 2), "x", sigmoid(1), "y", 1 - sigmoid(1));
    // "b b": hidden (0, 2/3) -> logits 0, 4/3.
    expect_two(model.predict("b b", 2), "y", sigmoid(4.0 / 3), "x", 1 - sigmoid(4.0 / 3));
    // Unknown words add nothing without character n-grams: only </s>, logits 0 and 0.
    const auto unknown = model.predict("zzz qqq", 2);
    ASSERT_EQ(unknown.size(), 2u);
    EXPECT_NEAR(unknown[0].probability, 0.5 + 1e-5, 1e-6);
}

TEST(LanguageIdentifierTiny, HierarchicalSoftmaxRightChildIsTheSigmoid) {
    // Two labels of equal count: the root's left child is label y, its right child label x, and
    // P(x) = sigmoid(output row 0 . hidden), the same numbers as the softmax above.
    TinyModel tiny;
    tiny.loss = 1;
    const auto model = tiny.load();
    expect_two(model.predict("a", 2), "x", sigmoid(1), "y", 1 - sigmoid(1));
    expect_two(model.predict("b", 2), "x", sigmoid(0), "y", 1 - sigmoid(0));
    ASSERT_EQ(model.predict("a", 1).size(), 1u);
    EXPECT_EQ(model.predict("a", 1)[0].language, "x");
}

TEST(LanguageIdentifierTiny, OneVsAllUsesIndependentSigmoids) {
    TinyModel tiny;
    tiny.loss = 4;
    // logits 1 and 0 fall on fastText's sigmoid table samples exactly.
    expect_two(tiny.load().predict("a", 2), "x", sigmoid(1), "y", sigmoid(0));
}

TEST(LanguageIdentifierTiny, WordBigramsJoinTheAverage) {
    TinyModel tiny;
    tiny.word_ngrams = 2;
    tiny.bucket = 3;  // every bucket row is (0, 3), so which bucket a bigram hashes to is moot
    // "a a" -> rows a, a, </s>, then bigrams (a a) and (a </s>): hidden (2/5, 6/5) ->
    // logits 0.8 and 2.4.
    expect_two(tiny.load().predict("a a", 2), "y", sigmoid(1.6), "x", 1 - sigmoid(1.6));
}

// ---- hostile files ----

void expect_format_error(const std::string& image, const std::string& field,
                         const std::string& what) {
    try {
        LanguageIdentifier::from_bytes(as_bytes(image), "hostile");
        ADD_FAILURE() << what << ": accepted";
    } catch (const FormatError& e) {
        EXPECT_NE(e.field().find(field), std::string::npos) << what << ": " << e.what();
    }
}

template <typename T>
std::string patched(std::string image, size_t offset, T value) {
    std::memcpy(image.data() + offset, &value, sizeof value);
    return image;
}

TEST(LanguageIdentifierTiny, RejectsInconsistentModels) {
    TinyModel tiny;
    tiny.count_y = 2000000000000000;  // above fastText's 1e15 for unset inner nodes: no tree
    tiny.loss = 1;
    expect_format_error(tiny.image(), "dict.entry.count", "label counts that make no tree");
    tiny.count_y = 5;
    tiny.word_ngrams = 2;  // bigrams need buckets
    expect_format_error(tiny.image(), "args.bucket", "bigrams without buckets");
    const std::string good = TinyModel{}.image();
    EXPECT_NO_THROW(LanguageIdentifier::from_bytes(as_bytes(good), "tiny"));
    expect_format_error(patched<float>(good, good.size() - 4, NAN), "output.data", "a NaN weight");
    expect_format_error(good + std::string(1, '\0'), "end", "a trailing byte");
}

// Offsets of fields in a fastText file image, found by walking the layout here (independently
// of the reader under test).
struct Layout {
    size_t nlabels = 72;
    size_t prune_size = 84;
    std::vector<size_t> label_type;
    std::vector<size_t> label_count;
    size_t prune_pairs = 0;
    size_t quant_input = 0;
    size_t codesize = 0;
    size_t pq = 0;  // pq.dim; nsubq, dsub, lastdsub follow, then the centroids
    size_t qout = 0;
};

template <typename T>
T read_at(const std::string& image, size_t offset) {
    T value;
    std::memcpy(&value, image.data() + offset, sizeof value);
    return value;
}

Layout walk(const std::string& image) {
    Layout l;
    const auto size = read_at<int32_t>(image, 64);
    const auto nwords = read_at<int32_t>(image, 68);
    size_t pos = 92;
    for (int32_t i = 0; i < size; ++i) {
        pos = image.find('\0', pos) + 1;
        if (i >= nwords) {
            l.label_count.push_back(pos);
            l.label_type.push_back(pos + 8);
        }
        pos += 9;
    }
    l.prune_pairs = pos;
    pos += size_t(read_at<int64_t>(image, l.prune_size)) * 8;
    l.quant_input = pos;
    EXPECT_EQ(image[pos], 1) << "lid.176.ftz has a quantized input matrix";
    const auto rows = read_at<int64_t>(image, pos + 2);
    l.codesize = pos + 18;
    const auto codesize = read_at<int32_t>(image, l.codesize);
    const bool qnorm = image[pos + 1] == 1;
    l.pq = l.codesize + 4 + size_t(codesize);
    pos = l.pq + 16 + size_t(read_at<int32_t>(image, l.pq)) * 256 * 4;
    if (qnorm) pos += size_t(rows) + 16 + 256 * 4;
    l.qout = pos;
    return l;
}

TEST(LanguageIdentifierHostile, RejectsCorruptedFields) {
    const std::string image = read_file_bytes(lid_path());
    const Layout l = walk(image);
    ASSERT_EQ(l.label_count.size(), 176u);
    struct Case {
        std::string what;
        std::string image;
        std::string field;
    };
    const std::vector<Case> cases = {
        {"magic", patched<int32_t>(image, 0, 12345), "magic"},
        {"version 13", patched<int32_t>(image, 4, 13), "version"},
        {"dim 0", patched<int32_t>(image, 8, 0), "args.dim"},
        {"loss 9", patched<int32_t>(image, 32, 9), "args.loss"},
        {"unsupervised", patched<int32_t>(image, 36, 1), "args.model"},
        {"maxn 1000", patched<int32_t>(image, 48, 1000), "args.minn"},
        {"negative bucket", patched<int32_t>(image, 40, -5), "args.bucket"},
        {"huge dictionary", patched<int32_t>(image, 64, 0x7fffffff), "dict.size"},
        {"label count off", patched<int32_t>(image, l.nlabels, 175), "dict.size"},
        {"label typed word", patched<int8_t>(image, l.label_type[0], 0), ".type"},
        {"bad type", patched<int8_t>(image, l.label_type[5], 7), ".type"},
        {"label counts no tree", patched<int64_t>(image, l.label_count.back(), 2000000000000000),
         "dict.entry.count"},
        {"huge prune index", patched<int64_t>(image, l.prune_size, int64_t(1) << 60),
         "dict.pruneidx_size"},
        {"prune row past the matrix", patched<int32_t>(image, l.prune_pairs + 4, 0x7ffffff0),
         "input.rows"},
        {"negative prune row", patched<int32_t>(image, l.prune_pairs + 4, -3), "dict.pruneidx"},
        {"quant flag 2", patched<uint8_t>(image, l.quant_input, 2), "quant_input"},
        {"dense with pruning", patched<uint8_t>(image, l.quant_input, 0), "input"},
        {"code size", patched<int32_t>(image, l.codesize, read_at<int32_t>(image, l.codesize) - 1),
         "input"},
        {"pq split", patched<int32_t>(image, l.pq + 4, 3), "input.pq.nsubq"},
        {"pq dim", patched<int32_t>(image, l.pq, 17), "input.pq.dim"},
        {"NaN centroid", patched<float>(image, l.pq + 16 + 40, NAN), "input.pq.centroids"},
        {"qout 5", patched<uint8_t>(image, l.qout, 5), "qout"},
        {"trailing bytes", image + "xyz", "end"},
    };
    for (const auto& c : cases) expect_format_error(c.image, c.field, c.what);
}

TEST(LanguageIdentifierHostile, EveryTruncationIsAFormatError) {
    const std::string image = read_file_bytes(lid_path());
    EXPECT_NO_THROW(LanguageIdentifier::from_bytes(as_bytes(image), "whole"));
    std::vector<size_t> cuts;
    for (size_t n = 0; n < 4096; ++n) cuts.push_back(n);
    for (size_t n = 4096; n < image.size(); n += 4999) cuts.push_back(n);
    // Byte by byte across every boundary between sections, where an off-by-one would hide.
    const Layout l = walk(image);
    for (size_t boundary :
         {l.label_count[0], l.prune_pairs, l.quant_input, l.codesize, l.pq, l.qout, image.size()})
        for (size_t n = boundary - 24; n < std::min(boundary + 24, image.size()); ++n)
            cuts.push_back(n);
    for (size_t n : cuts) {
        try {
            LanguageIdentifier::from_bytes(as_bytes(image).first(n), "cut");
            ADD_FAILURE() << "a prefix of " << n << " bytes was accepted";
        } catch (const FormatError& e) {
            EXPECT_LE(e.offset(), n) << e.what();
        }
    }
}

TEST(LanguageIdentifierHostile, RandomlyDamagedFilesLoadOrThrow) {
    // Random bytes overwritten with random values, mostly in the header and dictionary where the
    // counts live: each image either loads (then predicts normally) or throws a FormatError.
    const std::string image = read_file_bytes(lid_path());
    std::mt19937 rng(99);
    size_t loaded = 0;
    for (int round = 0; round < 200; ++round) {
        std::string damaged = image;
        const size_t span = round % 2 == 0 ? 256 : damaged.size();
        for (int i = 0; i < 1 + round % 4; ++i) damaged[rng() % span] = static_cast<char>(rng());
        try {
            const auto model = LanguageIdentifier::from_bytes(as_bytes(damaged), "damaged");
            const auto guesses = model.predict("Ceci est une phrase en français.", 5);
            EXPECT_LE(guesses.size(), 5u);
            ++loaded;
        } catch (const FormatError&) {
        } catch (const Error& e) {
            // The only other failure allowed: a NaN surfacing at prediction time.
            EXPECT_NE(std::string(e.what()).find("NaN"), std::string::npos) << e.what();
        }
    }
    std::printf("damaged lid.176 images that still load: %zu of 200\n", loaded);
}

TEST(LanguageIdentifierHostile, TruncatedFilesOnDiskThrow) {
    const std::string image = read_file_bytes(lid_path());
    ScratchDir dir;
    for (size_t i = 0; i < 24; ++i) {
        const size_t n = image.size() * i / 24 + i;
        const auto path = dir / ("cut" + std::to_string(n) + ".ftz");
        std::ofstream(path, std::ios::binary).write(image.data(), std::streamsize(n));
        EXPECT_THROW(LanguageIdentifier::load(path), FormatError) << n;
    }
    EXPECT_THROW(LanguageIdentifier::load(dir / "missing.ftz"), Error);
}

}  // namespace
}  // namespace pocket::test
