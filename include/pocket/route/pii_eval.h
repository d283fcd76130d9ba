// Measuring the redactor: a labelled set made by inserting synthetic personal data of every kind
// (valid checksums, varied formats) into real sentences from the shared data sets, and per-kind
// precision and recall on it. The real text (Wikipedia articles, scientific abstracts, search
// questions, chat prompts) is what makes the precision honest: it is full of years, dates, prices,
// citations, measurements and version-like numbers that must not be flagged. See
// docs/ROUTING.md for the method and the numbers.
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <map>
#include <span>
#include <string>
#include <vector>

#include "pocket/route/redactor.h"

namespace pocket::route {

struct LabelledText {
    std::string text;
    std::vector<PiiSpan> spans;  // the inserted personal data, sorted (none: a plain real text)
};

// Real sentences (40 to 400 bytes) from the shared data folder: WikiText-2 test, SciFact abstracts,
// NQ-open questions and MT-Bench prompts, `per_source` from each (fewer where a source has fewer),
// chosen by `seed`. Throws pocket::Error naming the file when one cannot be read.
std::vector<std::string> load_pii_eval_sentences(const std::filesystem::path& data_dir,
                                                 size_t per_source, uint64_t seed);

// `n` texts, each one to three consecutive-in-the-pool real sentences with zero to two synthetic
// values inserted between words (the kinds in turn, so every kind is equally represented; one
// text in eight gets none), and in half the texts one unlabelled look-alike that is not personal
// data (a card number failing Luhn, an IBAN with wrong check digits, a version number, a date, an
// ISBN, an unissued SSN, a commit hash, a UUID...). The same sentences, seed and n always give the
// same set.
std::vector<LabelledText> make_pii_eval_set(std::span<const std::string> sentences, uint64_t seed,
                                            size_t n);

// The private terms the set inserts; score with a Redactor that knows them.
std::vector<std::string> pii_eval_private_terms();

// Overlap matching, per kind: an inserted span is found (recall) when a detected span of the same
// kind overlaps it; a detected span is correct (precision) when it overlaps an inserted span of the
// same kind. Any other detected span is a false positive of its kind, so detections in the real
// text count against precision. `exact` counts detected spans with exactly the inserted bounds.
struct PiiKindScore {
    size_t inserted = 0;  // gold spans
    size_t found = 0;     // gold spans overlapped by a detection of their kind
    size_t detected = 0;  // detected spans
    size_t correct = 0;   // detected spans overlapping a gold span of their kind
    size_t exact = 0;     // detected spans with the gold span's exact bounds
    double precision() const { return detected ? double(correct) / double(detected) : 1.0; }
    double recall() const { return inserted ? double(found) / double(inserted) : 1.0; }
    double f1() const;
};

struct PiiScores {
    std::map<PiiKind, PiiKindScore> kinds;
    PiiKindScore total;
    size_t texts = 0;
    size_t bytes = 0;
    // A few mistakes for inspection: "FP PHONE: ...context..." / "FN CARD: ...".
    std::vector<std::string> mistakes;
};

PiiScores score_redactor(const Redactor& redactor, std::span<const LabelledText> set,
                         size_t max_mistakes = 40);

// A Markdown table: kind, inserted, detected, precision, recall, F1, exact bounds.
std::string format_pii_scores(const PiiScores& scores);

}  // namespace pocket::route
