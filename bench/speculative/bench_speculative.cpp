// pocket_bench_speculative TARGET [--draft MODEL] [--lookup] [--max-draft N] [-n TOKENS]
//                          [--reps R] [--prompt TEXT] [--temp T]
// Generates the same completion with and without speculation (greedy unless --temp), checks that
// greedy gives the same tokens, and prints tokens/s of both, the speed-up and the acceptance rate.
// After one untimed warm-up each, plain and speculative runs alternate `reps` times; the best
// run of each is reported (the machine may be shared).
#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "pocket/core/error.h"
#include "pocket/generate/session.h"
#include "pocket/model/context.h"
#include "pocket/model/model.h"

namespace {

struct Args {
    std::string target, draft, prompt = "Once upon a time";
    bool lookup = false;
    int max_draft = 8, n = 128, reps = 3;
    float temp = 0.0f;
};

Args parse(int argc, char** argv) {
    Args a;
    if (argc < 2) pocket::fail("usage: pocket_bench_speculative TARGET [--draft M] [--lookup] ...");
    a.target = argv[1];
    for (int i = 2; i < argc; ++i) {
        const std::string_view k = argv[i];
        auto value = [&]() -> std::string {
            if (i + 1 >= argc) pocket::fail("missing value after ", k);
            return argv[++i];
        };
        if (k == "--draft")
            a.draft = value();
        else if (k == "--lookup")
            a.lookup = true;
        else if (k == "--max-draft")
            a.max_draft = std::stoi(value());
        else if (k == "-n")
            a.n = std::stoi(value());
        else if (k == "--reps")
            a.reps = std::stoi(value());
        else if (k == "--prompt")
            a.prompt = value();
        else if (k == "--temp")
            a.temp = std::stof(value());
        else
            pocket::fail("unknown option ", k);
    }
    return a;
}

struct Measured {
    double tokens_per_s = 0.0;
    pocket::GenerateResult result;
};

pocket::GenerateOptions options(const Args& a, pocket::model::Context* draft, bool lookup) {
    pocket::GenerateOptions o;
    o.sampling = pocket::SamplingParams::greedy();
    if (a.temp > 0.0f) {
        o.sampling.temperature = a.temp;
        o.sampling.seed = 42;
    }
    o.max_tokens = a.n;
    o.ignore_eos = true;
    o.speculative.draft = draft;
    o.speculative.prompt_lookup = lookup;
    o.speculative.max_draft = a.max_draft;
    return o;
}

void run_once(const pocket::model::Model& target, const Args& a, const pocket::GenerateOptions& o,
              Measured& best) {
    pocket::model::Context ctx(target, {.n_ctx = 2048});
    pocket::Session session(ctx);
    pocket::GenerateResult res = session.generate(a.prompt, o);
    const double tps = 1000.0 * static_cast<double>(res.completion_tokens) / res.generate_ms;
    if (tps > best.tokens_per_s) best = {tps, std::move(res)};
}

}  // namespace

int main(int argc, char** argv) try {
    const Args a = parse(argc, argv);
    const auto target = pocket::model::Model::load(a.target);
    std::unique_ptr<pocket::model::Model> draft_model;
    std::unique_ptr<pocket::model::Context> draft;
    if (!a.draft.empty()) {
        draft_model = pocket::model::Model::load(a.draft);
        draft = std::make_unique<pocket::model::Context>(
            *draft_model, pocket::model::ContextParams{.n_ctx = 2048});
    }
    // Plain and speculative runs alternate, so a burst of load elsewhere hits both alike.
    const pocket::GenerateOptions plain_options = options(a, nullptr, false);
    const pocket::GenerateOptions spec_options = options(a, draft.get(), a.lookup);
    Measured plain, spec, warm_up;
    run_once(*target, a, plain_options, warm_up);
    run_once(*target, a, spec_options, warm_up);
    for (int r = 0; r < a.reps; ++r) {
        run_once(*target, a, plain_options, plain);
        run_once(*target, a, spec_options, spec);
    }
    const auto& s = spec.result.speculative;
    std::printf("tokens %lld  plain %.1f tok/s  speculative %.1f tok/s  speed-up %.2fx\n",
                static_cast<long long>(spec.result.completion_tokens), plain.tokens_per_s,
                spec.tokens_per_s, spec.tokens_per_s / plain.tokens_per_s);
    std::printf("steps %lld  drafted %lld  accepted %lld  acceptance %.1f%%  accepted/step %.2f\n",
                static_cast<long long>(s.steps), static_cast<long long>(s.drafted),
                static_cast<long long>(s.accepted), 100.0 * s.acceptance_rate(),
                s.steps > 0 ? static_cast<double>(s.accepted) / static_cast<double>(s.steps) : 0.0);
    if (a.temp <= 0.0f)
        std::printf("greedy output identical: %s\n",
                    plain.result.tokens == spec.result.tokens ? "yes" : "NO");
    return 0;
} catch (const std::exception& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return 1;
}
