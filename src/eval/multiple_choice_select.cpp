// Which questions a `--limit` run evaluates. llama.cpp does not take the first N: it draws a
// seeded random subset (so a short run already approximates the full score), and scores are
// comparable only over the same subset, so this reproduces its draws exactly.
#include <algorithm>
#include <numeric>
#include <random>

#include "pocket/eval/multiple_choice.h"

namespace pocket::eval {
namespace {

// hellaswag_score: draw an index among the tasks still left, remove it, repeat.
std::vector<size_t> draw_like_hellaswag(size_t total, size_t n) {
    std::mt19937 rng(1);
    std::vector<size_t> left(total);
    std::iota(left.begin(), left.end(), size_t{0});
    std::vector<size_t> out;
    out.reserve(n);
    for (size_t i = 0; i < n; ++i) {
        std::uniform_int_distribution<size_t> dist(0, left.size() - 1);
        const size_t k = dist(rng);
        out.push_back(left[k]);
        left.erase(left.begin() + static_cast<std::ptrdiff_t>(k));
    }
    return out;
}

// winogrande_score and multiple_choice_score: j = int(scale * rng() * remaining) in float
// arithmetic, then the drawn slot is filled with the last one (swap-remove).
std::vector<size_t> draw_like_multiple_choice(size_t total, size_t n) {
    std::mt19937 rng(1);
    const float scale = 1.f / (1.f + static_cast<float>(std::mt19937::max()));
    std::vector<size_t> left(total);
    std::iota(left.begin(), left.end(), size_t{0});
    std::vector<size_t> out;
    out.reserve(n);
    for (size_t i = 0; i < n; ++i) {
        const float r = scale * static_cast<float>(rng());
        // r can round up to 1.0 in float; llama.cpp would then read past its array.
        const size_t j =
            std::min(static_cast<size_t>(r * static_cast<float>(left.size())), left.size() - 1);
        out.push_back(left[j]);
        left[j] = left.back();
        left.pop_back();
    }
    return out;
}

}  // namespace

std::vector<size_t> select_questions(Task task, size_t total, size_t n, bool like_llama) {
    if (n == 0 || n >= total) {
        std::vector<size_t> all(total);
        std::iota(all.begin(), all.end(), size_t{0});
        return all;
    }
    if (!like_llama) {
        std::vector<size_t> first(n);
        std::iota(first.begin(), first.end(), size_t{0});
        return first;
    }
    return task == Task::hellaswag ? draw_like_hellaswag(total, n)
                                   : draw_like_multiple_choice(total, n);
}

}  // namespace pocket::eval
