// `pocket bench -m MODEL`: speed of a model on this machine, in the spirit of llama-bench.
//
// Measured, each as mean and sample standard deviation over -r repetitions after one untimed
// warm-up:
//  - load: Model::load + Context creation (weights are memory-mapped, so this does not include
//    reading them: the OS pages them in when the first forward pass touches them).
//  - pp: one batch of -p tokens appended to a cache that already holds -d tokens (logits for the
//    last token only), evaluated in micro-batches of --ubatch-size tokens.
//  - tg: -n tokens generated one at a time (greedy) after -d tokens already in the cache.
//  - ttft: a 32-token prompt from an empty cache plus picking the first token (greedy), wall time.
//  - peak RSS: the process's high-water mark during a repetition (VmHWM, reset before each
//    repetition through /proc/self/clear_refs where the kernel allows; else ru_maxrss).
// -d takes a list (llama-bench's -d): one row per depth. The depth is filled once per row by
// prompt processing, untimed, and the cache is cut back to it after every timed pp and tg, so a
// deep row costs one fill, not one per repetition. The TTFT prompt runs in a sequence of its own
// and so always starts from an empty cache.
// --lora / --lora-scaled apply adapters without merging (as `pocket run` does), so their cost per
// token shows; load then includes reading the adapters.
// Token ids are a fixed pseudo-random sequence over the non-control vocabulary, so no tokenizer
// behaviour affects the timings and every run evaluates the same tokens.
#include <sys/resource.h>
#include <CLI/CLI.hpp>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "cli/commands.h"
#include "cli/format.h"
#include "cli/generate_options.h"
#include "cli/model_path.h"
#include "kernels/amx.h"
#include "kernels/kernels.h"
#include "pocket/convert/hf_loader.h"
#include "pocket/core/error.h"
#include "pocket/core/rng.h"
#include "pocket/core/thread_pool.h"
#include "pocket/model/context.h"
#include "pocket/model/model.h"
#include "pocket/tokenizer/tokenizer.h"

namespace pocket::cli {
namespace {

using Clock = std::chrono::steady_clock;

constexpr int kTtftPromptTokens = 32;
constexpr model::SeqId kDepthSeq = 0;  // holds the depth; pp and tg append to it
constexpr model::SeqId kTtftSeq = 1;   // the TTFT prompt, from an empty cache each time
constexpr uint64_t kTokenSeed = 0x706f636b6574ULL;  // any fixed value: the same tokens every run

double ms_since(Clock::time_point start) {
    return std::chrono::duration<double, std::milli>(Clock::now() - start).count();
}

struct BenchOptions {
    std::string model;
    int n_prompt = 512;
    int n_gen = 128;
    int threads = 0;
    std::vector<int> depths = {0};
    // Tokens per forward pass: bounds the scratch memory of long prompts. 128 rows keep the
    // matrix kernels as busy as 512 did (pp512 the same within noise here) with a quarter of
    // the activations: what keeps a 4096-token prompt within file + KV + 64 MB.
    int n_ubatch = 128;
    int reps = 3;
    bool json = false;
    CacheTypeOptions cache_types;  // --cache-type-k/-v, as llama-bench's -ctk/-ctv
    LoraCliOptions lora;           // adapters applied without merging, as `pocket run` applies them
};

struct Stat {
    double mean = 0.0;
    double stddev = 0.0;  // sample standard deviation (n - 1); 0 for a single value
};

Stat stat_of(const std::vector<double>& xs) {
    Stat s;
    if (xs.empty()) return s;
    for (double x : xs) s.mean += x;
    s.mean /= static_cast<double>(xs.size());
    if (xs.size() > 1) {
        double sq = 0.0;
        for (double x : xs) sq += (x - s.mean) * (x - s.mean);
        s.stddev = std::sqrt(sq / static_cast<double>(xs.size() - 1));
    }
    return s;
}

// ---- process and machine facts ------------------------------------------------------------

// A field of /proc/self/status in bytes (the kernel prints "VmHWM:    1234 kB"); nullopt if absent.
std::optional<uint64_t> proc_status_bytes(const std::string& field) {
    std::ifstream in("/proc/self/status");
    std::string line;
    while (std::getline(in, line)) {
        if (line.rfind(field + ":", 0) != 0) continue;
        const uint64_t kib = std::strtoull(line.c_str() + field.size() + 1, nullptr, 10);
        return kib * 1024;
    }
    return std::nullopt;
}

// Resets VmHWM to the current RSS ("5" to clear_refs, Linux 4.0+), so each repetition reports
// its own peak. Returns false where that is not possible; the peak then covers the whole run.
bool reset_peak_rss() {
    std::ofstream out("/proc/self/clear_refs");
    if (!out) return false;
    out << "5";
    out.flush();
    return static_cast<bool>(out);
}

// CPU time (user + system) this process has used so far, in seconds.
double process_cpu_seconds() {
    rusage usage{};
    getrusage(RUSAGE_SELF, &usage);
    auto sec = [](const timeval& tv) {
        return static_cast<double>(tv.tv_sec) + 1e-6 * static_cast<double>(tv.tv_usec);
    };
    return sec(usage.ru_utime) + sec(usage.ru_stime);
}

uint64_t peak_rss_bytes() {
    if (auto hwm = proc_status_bytes("VmHWM")) return *hwm;
    rusage usage{};
    getrusage(RUSAGE_SELF, &usage);
    return static_cast<uint64_t>(usage.ru_maxrss) * 1024;  // Linux reports KiB
}

std::string cpu_model_name() {
    std::ifstream in("/proc/cpuinfo");
    std::string line;
    while (std::getline(in, line)) {
        if (line.rfind("model name", 0) != 0) continue;
        const size_t colon = line.find(':');
        if (colon == std::string::npos) break;
        const size_t start = line.find_first_not_of(" \t", colon + 1);
        return start == std::string::npos ? "" : line.substr(start);
    }
    return "unknown";
}

std::string utc_timestamp() {
    const std::time_t now = std::time(nullptr);
    std::tm tm{};
    gmtime_r(&now, &tm);
    char buf[32];
    std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
    return buf;
}

// ---- what the model is ----------------------------------------------------------------------

struct ModelFacts {
    uint64_t file_bytes = 0;
    uint64_t n_params = 0;
    std::string architecture;
    std::map<std::string, int> type_counts;  // tensors per type
    std::string main_type;                   // the type holding the most bytes
    uint64_t weight_bytes = 0;               // bytes one generated token reads
    uint64_t interleaved_bytes = 0;  // weights re-laid out at load (Model::interleaved_bytes)
    struct Lora {
        std::string file;
        float scale = 1.0f;
        size_t pairs = 0;     // adapted matrices
        uint64_t values = 0;  // A and B values, all read again by every token
    };
    std::vector<Lora> loras;
};

// Every tensor a token's forward pass reads in full. The token embedding table is only gathered
// (one row per token), so it counts only when it doubles as the output head.
uint64_t weight_bytes_per_token(const model::Weights& w) {
    uint64_t total = 0;
    auto add = [&](const TensorView& t) {
        if (!t.empty()) total += t.n_bytes();
    };
    for (const auto& l : w.layers) {
        for (const TensorView* t : {&l.attn_norm, &l.wq, &l.wk, &l.wv, &l.wqkv, &l.bq, &l.bk, &l.bv,
                                    &l.q_norm, &l.k_norm, &l.wo, &l.post_attn_norm, &l.ffn_norm,
                                    &l.w_gate, &l.w_up, &l.w_down, &l.post_ffn_norm}) {
            add(*t);
        }
    }
    add(w.output_norm);
    add(w.output);  // the embedding table itself when tied
    add(w.rope_freqs);
    return total;
}

ModelFacts describe(const model::Model& m) {
    ModelFacts f;
    f.file_bytes = m.file().file_size();
    f.n_params = m.n_params();
    f.architecture = std::string(m.arch().name);
    std::map<std::string, uint64_t> type_bytes;
    for (const auto& t : m.file().tensors()) {
        const std::string name(dtype_name(t.type));
        ++f.type_counts[name];
        type_bytes[name] += t.n_bytes;
    }
    uint64_t best = 0;
    for (const auto& [name, bytes] : type_bytes) {
        if (bytes > best) {
            best = bytes;
            f.main_type = name;
        }
    }
    f.weight_bytes = weight_bytes_per_token(m.weights());
    f.interleaved_bytes = m.interleaved_bytes();
    return f;
}

// What the adapters add: `files` are the command line's, in the order load_loras read them.
std::vector<ModelFacts::Lora> describe(std::span<const model::LoraFile> files,
                                       std::span<const model::AppliedLora> loras) {
    std::vector<ModelFacts::Lora> out;
    for (size_t i = 0; i < loras.size(); ++i) {
        ModelFacts::Lora l{.file = files[i].path.string(), .scale = loras[i].scale};
        for (const model::LoraMatrix& m : loras[i].adapter->matrices()) {
            ++l.pairs;
            l.values += m.a.size() + m.b.size();
        }
        out.push_back(std::move(l));
    }
    return out;
}

// ---- the measurements -----------------------------------------------------------------------

// n token ids drawn uniformly from the vocabulary, skipping control tokens (BOS, EOS, chat
// markers): a model may treat those specially, and real text rarely contains them.
std::vector<TokenId> fixed_tokens(const tokenizer::Tokenizer& tok, size_t n) {
    const auto n_vocab = static_cast<uint64_t>(tok.n_vocab());
    Rng rng(kTokenSeed);
    std::vector<TokenId> ids;
    ids.reserve(n);
    for (size_t attempts = 0; ids.size() < n; ++attempts) {
        if (attempts > 1000 * n + 1000)
            fail("the vocabulary has (almost) no non-control tokens to benchmark with");
        const auto id = static_cast<TokenId>(rng.next_u64() % n_vocab);
        if (!tok.is_control(id)) ids.push_back(id);
    }
    return ids;
}

TokenId argmax(std::span<const float> logits) {
    return static_cast<TokenId>(std::max_element(logits.begin(), logits.end()) - logits.begin());
}

struct RepTimes {
    double pp_tokens_per_s = 0.0;
    double tg_tokens_per_s = 0.0;
};

// Appends `tokens` to the depth sequence and returns the logits of the last one.
std::span<const float> append(model::Context& ctx, std::span<const TokenId> tokens) {
    return ctx.eval(tokens, kDepthSeq);
}

// Makes the depth sequence hold exactly tokens[0, depth): cut back, or extended by prompt
// processing (untimed). The tokens are one fixed sequence, so a shorter fill is a prefix of a
// longer one and a row can extend the previous row's fill instead of starting over.
void fill_depth(model::Context& ctx, std::span<const TokenId> tokens, int depth) {
    const int64_t have = ctx.kv().length(kDepthSeq);
    if (have > depth) {
        ctx.kv().truncate(kDepthSeq, depth);
    } else if (have < depth) {
        append(ctx, tokens.subspan(static_cast<size_t>(have), static_cast<size_t>(depth - have)));
    }
}

double measure_ttft(model::Context& ctx, std::span<const TokenId> ttft_tokens) {
    ctx.kv().clear(kTtftSeq);
    const auto t_first = Clock::now();
    argmax(ctx.eval(ttft_tokens, kTtftSeq));
    const double ms = ms_since(t_first);
    ctx.kv().clear(kTtftSeq);
    return ms;
}

// pp and tg at `depth`; the depth sequence holds tokens[0, depth) before and after.
RepTimes run_at_depth(model::Context& ctx, std::span<const TokenId> tokens, int depth, int n_prompt,
                      int n_gen) {
    RepTimes r;
    if (n_prompt > 0) {
        const auto t_prompt = Clock::now();
        append(ctx, tokens.subspan(static_cast<size_t>(depth), static_cast<size_t>(n_prompt)));
        r.pp_tokens_per_s = 1000.0 * n_prompt / ms_since(t_prompt);
        ctx.kv().truncate(kDepthSeq, depth);
    }
    if (n_gen > 0) {
        // The first token is the fixed sequence's next one: the depth's own logits are not
        // computed when the depth is filled (or there are none, at depth 0).
        TokenId next = tokens[static_cast<size_t>(depth)];
        const auto t_gen = Clock::now();
        for (int i = 0; i < n_gen; ++i) next = argmax(append(ctx, std::span(&next, 1)));
        r.tg_tokens_per_s = 1000.0 * n_gen / ms_since(t_gen);
        ctx.kv().truncate(kDepthSeq, depth);
    }
    return r;
}

int max_depth(const BenchOptions& opt) {
    return *std::max_element(opt.depths.begin(), opt.depths.end());
}

// Positions the depth sequence holds at most: the depth plus the longer of pp and tg (they run
// one after the other, each cut back to the depth).
int64_t positions_needed(const BenchOptions& opt, int depth) {
    return depth + std::max<int64_t>(opt.n_prompt, opt.n_gen);
}

model::ContextParams context_params(const BenchOptions& opt, const model::HParams& hp) {
    const int64_t longest = positions_needed(opt, max_depth(opt));
    if (hp.n_ctx_train > 0 && longest > hp.n_ctx_train) {
        fail("depth ", max_depth(opt), " + ", std::max(opt.n_prompt, opt.n_gen),
             " measured tokens needs ", longest, " positions, beyond the model's context of ",
             hp.n_ctx_train);
    }
    // Room for the deepest row and, beside it, the TTFT prompt's own sequence, rounded up to
    // whole KV pages. Untouched pages of the cache cost no memory.
    const int64_t needed = longest + kTtftPromptTokens;
    return {.n_ctx = (needed + 63) / 64 * 64,
            .n_batch = opt.n_ubatch,
            .type_k = opt.cache_types.type_k(),
            .type_v = opt.cache_types.type_v()};
}

struct DepthResult {
    int depth = 0;
    Stat pp, tg, rss;
    uint64_t kv_bytes = 0;            // what the cache holds for the depth and the measured tokens
    uint64_t kv_bytes_per_token = 0;  // per position
};

struct Results {
    Stat ttft, load;
    std::vector<DepthResult> rows;  // one per -d value, in the order given
    bool rss_per_rep = false;
    // CPU time the process got during the timed repetitions / (threads x wall time). With a model
    // big enough to keep every thread busy this is close to 1 on an idle machine; much less means
    // other processes took the cores and the timings understate what this machine can do.
    double cpu_utilization = 0.0;
};

// Bytes of cache per position, whatever the cache stores (F16 or a quantized type): its
// allocation covers whole pages.
uint64_t kv_bytes_per_position(const model::KvCache& kv) {
    const int64_t page = kv.params().page_tokens;
    const int64_t positions = (kv.capacity() + page - 1) / page * page;
    return kv.bytes_allocated() / static_cast<uint64_t>(positions);
}

Results measure(const BenchOptions& opt, ModelFacts& facts) {
    Results res;

    // Load time first, with no other copy of the model mapped: one untimed load warms the page
    // cache, then each repetition loads and drops the model again. The context is part of it,
    // sized as for a 512-token prompt whatever -d asks, so deep rows do not change the load row.
    std::vector<double> load_ms;
    for (int rep = -1; rep < opt.reps; ++rep) {
        const auto t_load = Clock::now();
        auto m = model::load_model(opt.model, model_load_options());
        model::Context ctx(*m, {.n_ctx = 512 + kTtftPromptTokens,
                                .n_batch = opt.n_ubatch,
                                .type_k = opt.cache_types.type_k(),
                                .type_v = opt.cache_types.type_v(),
                                .loras = opt.lora.load(*m)});
        if (rep >= 0) load_ms.push_back(ms_since(t_load));
    }
    res.load = stat_of(load_ms);

    const auto m = model::load_model(opt.model, model_load_options());
    facts = describe(*m);
    model::ContextParams params = context_params(opt, m->hparams());
    params.loras = opt.lora.load(*m);
    facts.loras = describe(opt.lora.list(), params.loras);
    model::Context ctx(*m, params);
    // One fixed sequence: the depth is its start, a row's pp and tg tokens follow the depth.
    const auto tokens =
        fixed_tokens(m->tokenizer(), static_cast<size_t>(max_depth(opt) + opt.n_prompt + 1));
    const auto ttft_tokens = fixed_tokens(m->tokenizer(), kTtftPromptTokens);
    const uint64_t per_position = kv_bytes_per_position(ctx.kv());

    // Warm-up: pages the weights in, fills caches.
    measure_ttft(ctx, ttft_tokens);
    fill_depth(ctx, tokens, opt.depths.front());
    run_at_depth(ctx, tokens, opt.depths.front(), opt.n_prompt, opt.n_gen);

    std::vector<double> ttft;
    res.rss_per_rep = true;
    double cpu_seconds = 0.0, wall_seconds = 0.0;
    for (const int depth : opt.depths) {
        fill_depth(ctx, tokens, depth);
        std::vector<double> pp, tg, rss;
        const double cpu_start = process_cpu_seconds();
        const auto wall_start = Clock::now();
        for (int rep = 0; rep < opt.reps; ++rep) {
            res.rss_per_rep = reset_peak_rss() && res.rss_per_rep;
            // TTFT does not depend on the depth (its own sequence): measured with the first row.
            if (depth == opt.depths.front() && ttft.size() < static_cast<size_t>(opt.reps))
                ttft.push_back(measure_ttft(ctx, ttft_tokens));
            const RepTimes r = run_at_depth(ctx, tokens, depth, opt.n_prompt, opt.n_gen);
            pp.push_back(r.pp_tokens_per_s);
            tg.push_back(r.tg_tokens_per_s);
            rss.push_back(static_cast<double>(peak_rss_bytes()));
        }
        wall_seconds += ms_since(wall_start) / 1000.0;
        cpu_seconds += process_cpu_seconds() - cpu_start;
        res.rows.push_back(
            {.depth = depth,
             .pp = stat_of(pp),
             .tg = stat_of(tg),
             .rss = stat_of(rss),
             .kv_bytes = per_position * static_cast<uint64_t>(positions_needed(opt, depth)),
             .kv_bytes_per_token = per_position});
    }
    res.cpu_utilization = cpu_seconds / (wall_seconds * ThreadPool::global().n_threads());
    res.ttft = stat_of(ttft);
    return res;
}

// ---- output ---------------------------------------------------------------------------------

nlohmann::json to_json(const BenchOptions& opt, const ModelFacts& f, const Results& r,
                       const DepthResult& row) {
    // JSON has no NaN/inf: a skipped measurement (-p 0 or -n 0) is null.
    auto value = [](bool measured, double v) {
        return measured ? nlohmann::json(v) : nlohmann::json(nullptr);
    };
    const bool has_pp = opt.n_prompt > 0, has_tg = opt.n_gen > 0;
    nlohmann::json j;
    j["model"] = lossy_utf8(opt.model);
    j["model_size_bytes"] = f.file_bytes;
    j["n_params"] = f.n_params;
    j["architecture"] = f.architecture;
    j["type"] = f.main_type;
    j["type_mix"] = f.type_counts;
    j["weight_bytes"] = f.weight_bytes;
    j["interleaved_bytes"] = f.interleaved_bytes;
    j["threads"] = ThreadPool::global().n_threads();
    j["n_prompt"] = opt.n_prompt;
    j["n_gen"] = opt.n_gen;
    j["n_ubatch"] = opt.n_ubatch;
    j["depth"] = row.depth;
    j["n_ttft_prompt"] = kTtftPromptTokens;
    j["reps"] = opt.reps;
    j["isa"] = std::string(kernels::isa_name(kernels::active_isa()));
    j["amx"] = kernels::amx_active();
    j["cpu"] = cpu_model_name();
    j["date"] = utc_timestamp();
    j["pp_tokens_per_s"] = value(has_pp, row.pp.mean);
    j["pp_tokens_per_s_stddev"] = value(has_pp, row.pp.stddev);
    j["tg_tokens_per_s"] = value(has_tg, row.tg.mean);
    j["tg_tokens_per_s_stddev"] = value(has_tg, row.tg.stddev);
    j["ttft_ms"] = r.ttft.mean;
    j["ttft_ms_stddev"] = r.ttft.stddev;
    j["load_ms"] = r.load.mean;
    j["load_ms_stddev"] = r.load.stddev;
    j["type_k"] = std::string(dtype_name(opt.cache_types.type_k()));
    j["type_v"] = std::string(dtype_name(opt.cache_types.type_v()));
    j["lora"] = nlohmann::json::array();
    for (const ModelFacts::Lora& l : f.loras)
        j["lora"].push_back({{"file", lossy_utf8(l.file)},
                             {"scale", l.scale},
                             {"pairs", l.pairs},
                             {"values", l.values}});
    j["kv_bytes"] = row.kv_bytes;
    j["kv_bytes_per_token"] = row.kv_bytes_per_token;
    j["peak_rss_bytes"] = static_cast<uint64_t>(std::llround(row.rss.mean));
    j["peak_rss_bytes_stddev"] = row.rss.stddev;
    j["peak_rss_per_rep"] = r.rss_per_rep;
    j["cpu_utilization"] = r.cpu_utilization;
    return j;
}

void print_table(const BenchOptions& opt, const ModelFacts& f, const Results& r) {
    const std::string name = std::filesystem::path(opt.model).filename().string();
    const std::string size = human_bytes(f.file_bytes);
    const std::string params = human_count(f.n_params);
    const int threads = ThreadPool::global().n_threads();
    const std::string isa(kernels::isa_name(kernels::active_isa()));
    std::printf("| %-28s | %10s | %9s | %-6s | %-6s | %7s | %-16s | %20s |\n", "model", "size",
                "params", "type", "isa", "threads", "test", "result");
    std::printf("| %.28s | %.10s | %.9s | %.6s | %.6s | %.7s | %.16s | %.20s |\n",
                "------------------------------", "------------", "-----------", "--------",
                "--------", "---------", "------------------", "----------------------");
    auto print_row = [&](const std::string& test, const Stat& s, const char* unit) {
        char result[64];
        std::snprintf(result, sizeof result, "%.2f ± %.2f %s", s.mean, s.stddev, unit);
        std::printf("| %-28.28s | %10s | %9s | %-6s | %-6s | %7d | %-16s | %21s |\n", name.c_str(),
                    size.c_str(), params.c_str(), f.main_type.c_str(), isa.c_str(), threads,
                    test.c_str(), result);
    };
    for (const DepthResult& row : r.rows) {
        // llama-bench's names: "pp512 @ d4096"; depth 0 has no suffix.
        const std::string at = row.depth > 0 ? " @ d" + std::to_string(row.depth) : "";
        if (opt.n_prompt > 0) print_row("pp" + std::to_string(opt.n_prompt) + at, row.pp, "t/s");
        if (opt.n_gen > 0) print_row("tg" + std::to_string(opt.n_gen) + at, row.tg, "t/s");
        const Stat rss_mib{row.rss.mean / (1024.0 * 1024.0), row.rss.stddev / (1024.0 * 1024.0)};
        print_row("peak RSS" + at, rss_mib, "MiB");
    }
    print_row("ttft" + std::to_string(kTtftPromptTokens), r.ttft, "ms");
    print_row("load", r.load, "ms");
    std::printf(
        "\ncpu: %s | reps: %d (+1 warm-up) | cpu utilization %.0f%% | weights read per token: %s"
        " | KV cache (K %s, V %s): %s per token",
        cpu_model_name().c_str(), opt.reps, 100.0 * r.cpu_utilization,
        human_bytes(f.weight_bytes).c_str(),
        std::string(dtype_name(opt.cache_types.type_k())).c_str(),
        std::string(dtype_name(opt.cache_types.type_v())).c_str(),
        human_bytes(r.rows.front().kv_bytes_per_token).c_str());
    if (kernels::amx_active()) std::printf(" | AMX tiles for prompts");
    for (const ModelFacts::Lora& l : f.loras)
        std::printf(" | LoRA %s at %g: %zu pairs, %s values",
                    std::filesystem::path(l.file).filename().string().c_str(),
                    static_cast<double>(l.scale), l.pairs, human_count(l.values).c_str());
    if (opt.n_gen > 0) {
        std::printf(" | at tg speed (first row): %.2f GB/s",
                    static_cast<double>(f.weight_bytes) * r.rows.front().tg.mean / 1e9);
    }
    std::printf("\n");
}

int run_bench(const BenchOptions& opt) {
    if (opt.threads > 0) ThreadPool::set_global_threads(opt.threads);
    ModelFacts facts;
    const Results results = measure(opt, facts);
    if (opt.json) {
        // One depth: one object (as before -d existed); several: an array, one object per depth.
        if (results.rows.size() == 1) {
            std::printf("%s\n", to_json(opt, facts, results, results.rows.front()).dump(2).c_str());
        } else {
            nlohmann::json rows = nlohmann::json::array();
            for (const DepthResult& row : results.rows)
                rows.push_back(to_json(opt, facts, results, row));
            std::printf("%s\n", rows.dump(2).c_str());
        }
    } else {
        print_table(opt, facts, results);
    }
    return kExitOk;
}

}  // namespace

Runner register_bench(CLI::App& app) {
    auto opt = std::make_shared<BenchOptions>();
    app.add_option("-m,--model", opt->model,
                   "GGUF model file, or a model name in the models folder")
        ->required();
    app.add_option("-p,--n-prompt", opt->n_prompt,
                   "Prompt tokens evaluated in one batch (0 = skip pp)")
        ->capture_default_str()
        ->check(CLI::Range(0, 1 << 20));
    app.add_option("-n,--n-gen", opt->n_gen, "Tokens generated one at a time (0 = skip tg)")
        ->capture_default_str()
        ->check(CLI::Range(0, 1 << 20));
    app.add_option("-d,--depth", opt->depths,
                   "Tokens already in the cache when pp and tg start; a comma-separated list "
                   "gives one row each (e.g. 0,4096)")
        ->delimiter(',')
        ->capture_default_str()
        ->check(CLI::Range(0, 1 << 24));
    app.add_option("--ubatch-size", opt->n_ubatch,
                   "Tokens per forward pass: longer prompts run in micro-batches of this size, "
                   "which bounds the scratch memory")
        ->capture_default_str()
        ->check(CLI::Range(1, 1 << 20));
    app.add_option("-t,--threads", opt->threads, "Threads (default: physical cores)")
        ->check(CLI::Range(0, 1024));
    app.add_option("-r,--repetitions", opt->reps, "Timed repetitions after one warm-up run")
        ->capture_default_str()
        ->check(CLI::Range(1, 1000));
    app.add_flag("--json", opt->json, "Print one JSON object instead of the table");
    add_cache_type_options(app, opt->cache_types);
    add_lora_options(app, opt->lora);
    return [opt] {
        opt->model = resolve_model_arg(opt->model);
        return run_bench(*opt);
    };
}

}  // namespace pocket::cli
