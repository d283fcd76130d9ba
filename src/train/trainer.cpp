#include "pocket/train/trainer.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstring>
#include <limits>

#include "pocket/core/error.h"
#include "pocket/gguf/gguf.h"
#include "pocket/train/loss.h"

namespace pocket::train {
namespace {

using Clock = std::chrono::steady_clock;

constexpr uint32_t kCheckpointVersion = 1;
constexpr std::string_view kPrefix = "pocket.checkpoint.";

std::string key(std::string_view name) {
    return std::string(kPrefix) + std::string(name);
}

// A uniform integer in [0, n) without modulo bias (rejection of the short last interval).
uint64_t uniform_below(Rng& rng, uint64_t n) {
    const uint64_t limit =
        std::numeric_limits<uint64_t>::max() - std::numeric_limits<uint64_t>::max() % n;
    uint64_t x = rng.next_u64();
    while (x >= limit) x = rng.next_u64();
    return x % n;
}

std::vector<std::byte> float_bytes(std::span<const float> values) {
    std::vector<std::byte> out(values.size_bytes());
    if (!values.empty()) std::memcpy(out.data(), values.data(), values.size_bytes());
    return out;
}

// The settings a checkpoint must agree with to be resumed, as metadata values.
std::vector<std::pair<std::string, gguf::Value>> run_settings(const TrainerOptions& o,
                                                              const Dataset& train) {
    return {
        {"epochs", gguf::Value(o.epochs)},
        {"batch", gguf::Value(o.batch)},
        {"seed", gguf::Value(o.seed)},
        {"shuffle", gguf::Value(o.shuffle)},
        {"lr", gguf::Value(o.lr)},
        {"min_lr_ratio", gguf::Value(o.min_lr_ratio)},
        {"warmup", gguf::Value(o.warmup)},
        {"adamw.beta1", gguf::Value(o.adamw.beta1)},
        {"adamw.beta2", gguf::Value(o.adamw.beta2)},
        {"adamw.eps", gguf::Value(o.adamw.eps)},
        {"adamw.weight_decay", gguf::Value(o.adamw.weight_decay)},
        {"adamw.grad_clip", gguf::Value(o.adamw.grad_clip)},
        {"data.sequences", gguf::Value(static_cast<int64_t>(train.examples.size()))},
        {"data.fingerprint", gguf::Value(train.fingerprint())},
    };
}

std::string value_text(const gguf::Value& v) {
    switch (v.type()) {
        case gguf::ValueType::BOOL:
            return v.as_bool() ? "true" : "false";
        case gguf::ValueType::FLOAT64:
            return cat(v.as_double());
        case gguf::ValueType::UINT64:
            return cat(v.as_uint());
        default:
            return cat(v.as_int());
    }
}

// The model reads tokens[0, n - 1) and row t is scored on tokens[t + 1] with weights[t + 1].
struct Shifted {
    std::span<const TokenId> inputs, targets;
    std::span<const float> weights;
    explicit Shifted(const Example& e) {
        if (e.tokens.size() < 2 || e.weights.size() != e.tokens.size())
            fail("a training sequence needs at least 2 tokens and one weight per token");
        const size_t n = e.tokens.size() - 1;
        inputs = std::span<const TokenId>(e.tokens).first(n);
        targets = std::span<const TokenId>(e.tokens).subspan(1);
        weights = std::span<const float>(e.weights).subspan(1);
    }
};

}  // namespace

std::span<Parameter> LanguageModelObjective::params() {
    return weights_.params();
}

LossValue LanguageModelObjective::forward_backward(const Example& example, float grad_scale) {
    const Shifted s(example);
    const LossFn loss = [&](std::span<const float> logits, int64_t n_rows, int64_t n_vocab,
                            std::span<float> dlogits) {
        return cross_entropy(logits, n_rows, n_vocab, s.targets, s.weights, dlogits);
    };
    return backprop_.forward_backward(s.inputs, loss, grad_scale);
}

LossValue LanguageModelObjective::evaluate(const Example& example) {
    const Shifted s(example);
    backprop_.forward(s.inputs, logits_);
    const auto n_rows = static_cast<int64_t>(s.inputs.size());
    const int64_t n_vocab = n_rows > 0 ? static_cast<int64_t>(logits_.size()) / n_rows : 0;
    dlogits_.resize(logits_.size());
    return cross_entropy(logits_, n_rows, n_vocab, s.targets, s.weights, dlogits_);
}

Trainer::Trainer(Objective& objective, const Dataset& train, const Dataset* val,
                 TrainerOptions options)
    : objective_(objective),
      train_(train),
      val_(val),
      options_(std::move(options)),
      adamw_(options_.adamw),
      rng_(options_.seed) {
    if (options_.epochs < 1) fail("epochs: ", options_.epochs, " (must be at least 1)");
    if (options_.batch < 1) fail("batch: ", options_.batch, " (must be at least 1)");
    if (!(options_.lr > 0.0)) fail("learning rate: ", options_.lr, " (must be positive)");
    if (!(options_.min_lr_ratio >= 0.0 && options_.min_lr_ratio <= 1.0))
        fail("minimum learning-rate ratio: ", options_.min_lr_ratio, " (must be in [0, 1])");
    if (options_.warmup < 0) fail("warm-up steps: ", options_.warmup, " (must not be negative)");
    if (options_.checkpoint_every < 0 || options_.max_steps < 0)
        fail("checkpoint interval and step limit must not be negative");
    if (train_.examples.empty()) fail("no training sequences");
    if (train_.examples.size() > static_cast<size_t>(std::numeric_limits<int32_t>::max()))
        fail("too many training sequences (", train_.examples.size(), ")");
    const auto n = static_cast<int64_t>(train_.examples.size());
    steps_per_epoch_ = (n + options_.batch - 1) / options_.batch;
    schedule_ = LrSchedule{.peak = options_.lr,
                           .floor = options_.lr * options_.min_lr_ratio,
                           .warmup = options_.warmup,
                           .total = total_steps()};
    new_epoch_order();
}

void Trainer::new_epoch_order() {
    const auto n = static_cast<int32_t>(train_.examples.size());
    order_.resize(static_cast<size_t>(n));
    for (int32_t i = 0; i < n; ++i) order_[static_cast<size_t>(i)] = i;
    if (!options_.shuffle) return;
    // Fisher-Yates with our own bounded draw: std::shuffle's use of the generator is
    // implementation-defined, and a checkpoint must replay the same order everywhere.
    for (int32_t i = n - 1; i > 0; --i) {
        const auto j = static_cast<int32_t>(uniform_below(rng_, static_cast<uint64_t>(i) + 1));
        std::swap(order_[static_cast<size_t>(i)], order_[static_cast<size_t>(j)]);
    }
}

EvalReport Trainer::evaluate() {
    EvalReport r;
    r.step = step_;
    double sum = 0.0;
    if (val_ != nullptr) {
        for (const Example& e : val_->examples) {
            const LossValue v = objective_.evaluate(e);
            sum += v.sum;
            r.weight += v.weight;
        }
    }
    if (r.weight > 0) {
        r.loss = sum / r.weight;
        r.ppl = std::exp(r.loss);
    }
    return r;
}

double Trainer::train_step(StepReport& report) {
    const auto n = static_cast<int64_t>(train_.examples.size());
    const int64_t end = std::min(n, epoch_pos_ + options_.batch);
    double weight = 0.0;
    for (int64_t i = epoch_pos_; i < end; ++i)
        weight +=
            train_.examples[static_cast<size_t>(order_[static_cast<size_t>(i)])].total_weight();
    const std::span<Parameter> params = objective_.params();
    for (Parameter& p : params) std::fill(p.grad.begin(), p.grad.end(), 0.0f);
    // The step's loss is the mean over every weighted target of the batch, so each sequence's
    // gradient is scaled by 1 / (the batch's total weight), known before any is computed.
    const auto grad_scale = static_cast<float>(1.0 / weight);
    LossValue total;
    int64_t tokens = 0;
    for (int64_t i = epoch_pos_; i < end; ++i) {
        const Example& e = train_.examples[static_cast<size_t>(order_[static_cast<size_t>(i)])];
        const LossValue v = objective_.forward_backward(e, grad_scale);
        total.sum += v.sum;
        total.weight += v.weight;
        tokens += e.n_inputs();
    }
    const double lr = schedule_.at(step_);
    report.grad_norm = adamw_.step(params, lr);
    report.lr = lr;
    report.epoch = epoch_;
    report.tokens = tokens;
    report.loss = total.weight > 0 ? total.sum / total.weight : 0.0;
    ++step_;
    epoch_pos_ = end;
    report.step = step_;
    report.total_steps = total_steps();
    return report.loss;
}

TrainResult Trainer::run() {
    TrainResult result;
    const Clock::time_point start = Clock::now();
    const auto seconds = [&] {
        return std::chrono::duration<double>(Clock::now() - start).count();
    };
    const bool has_val = val_ != nullptr && !val_->examples.empty();
    const auto eval = [&](int64_t epoch) {
        EvalReport r = evaluate();
        r.epoch = epoch;
        result.evals.push_back(r);
        if (options_.on_eval) options_.on_eval(r);
    };
    const auto checkpoint = [&] {
        if (options_.checkpoint.empty()) return;
        save_checkpoint(options_.checkpoint);
        if (options_.on_checkpoint) options_.on_checkpoint(options_.checkpoint, step_);
    };
    if (has_val && options_.eval_before && step_ == 0) eval(-1);

    const auto n = static_cast<int64_t>(train_.examples.size());
    const int64_t first_step = step_;
    double step_seconds = 0.0;  // training steps only, for the rate and the ETA
    while (epoch_ < options_.epochs) {
        if (options_.interrupt != nullptr && options_.interrupt->load()) {
            checkpoint();
            break;
        }
        if (options_.max_steps > 0 && step_ - first_step >= options_.max_steps) {
            checkpoint();
            break;
        }
        StepReport report;
        const Clock::time_point t0 = Clock::now();
        result.step_losses.push_back(train_step(report));
        step_seconds += std::chrono::duration<double>(Clock::now() - t0).count();
        result.tokens += report.tokens;
        report.elapsed_s = seconds();
        report.tokens_per_s =
            step_seconds > 0 ? static_cast<double>(result.tokens) / step_seconds : 0.0;
        const int64_t done_here = step_ - first_step;
        report.eta_s = step_seconds / static_cast<double>(done_here) *
                       static_cast<double>(total_steps() - step_);
        if (options_.on_step) options_.on_step(report);

        bool epoch_end = false;
        if (epoch_pos_ >= n) {
            epoch_end = true;
            if (has_val) eval(epoch_);
            ++epoch_;
            epoch_pos_ = 0;
            if (epoch_ < options_.epochs) new_epoch_order();
        }
        if (epoch_end || (options_.checkpoint_every > 0 && step_ % options_.checkpoint_every == 0))
            checkpoint();
    }
    result.finished = epoch_ >= options_.epochs;
    result.steps = step_;
    result.seconds = seconds();
    return result;
}

void Trainer::save_checkpoint(const std::filesystem::path& path) const {
    gguf::Writer w;
    w.set("general.type", gguf::Value(std::string("pocket-training-checkpoint")));
    w.set(key("version"), gguf::Value(kCheckpointVersion));
    w.set(key("step"), gguf::Value(step_));
    w.set(key("epoch"), gguf::Value(epoch_));
    w.set(key("epoch_pos"), gguf::Value(epoch_pos_));
    w.set(key("adamw.steps"), gguf::Value(adamw_.steps()));
    gguf::Array rng{.element_type = gguf::ValueType::UINT64, .items = {}};
    for (const uint64_t word : rng_.state()) rng.items.emplace_back(word);
    w.set(key("rng"), gguf::Value(std::move(rng)));
    for (auto& [name, value] : run_settings(options_, train_)) w.set(key(name), std::move(value));

    const std::span<Parameter> params = objective_.params();
    const std::span<const AdamWMoments> moments = adamw_.moments();
    gguf::Array names{.element_type = gguf::ValueType::STRING, .items = {}};
    for (size_t i = 0; i < params.size(); ++i) {
        const Parameter& p = params[i];
        names.items.emplace_back(p.name);
        const std::vector<uint64_t> shape{std::max<uint64_t>(1, p.value.size())};
        if (p.value.empty()) fail("parameter '", p.name, "' is empty");
        w.add_tensor(cat("param.", i), DType::F32, shape,
                     float_bytes(std::span<const float>(p.value)));
        // Before the first step the moments are all zero and not yet allocated.
        const bool has_moments = i < moments.size();
        const std::vector<float> zeros(has_moments ? 0 : p.value.size(), 0.0f);
        w.add_tensor(cat("adam_m.", i), DType::F32, shape,
                     float_bytes(has_moments ? std::span<const float>(moments[i].m) : zeros));
        w.add_tensor(cat("adam_v.", i), DType::F32, shape,
                     float_bytes(has_moments ? std::span<const float>(moments[i].v) : zeros));
    }
    w.set(key("param_names"), gguf::Value(std::move(names)));
    std::vector<std::byte> order(order_.size() * sizeof(int32_t));
    std::memcpy(order.data(), order_.data(), order.size());
    w.add_tensor("data_order", DType::I32, {static_cast<uint64_t>(order_.size())},
                 std::move(order));
    w.write(path);
}

void Trainer::resume(const std::filesystem::path& path) {
    const gguf::File f = gguf::File::open(path);
    const std::string name = path.string();
    const auto need = [&](std::string_view k) -> const gguf::Value& {
        const gguf::Value* v = f.find(key(k));
        if (v == nullptr) fail(name, ": not a pocket training checkpoint (no ", key(k), ")");
        return *v;
    };
    if (need("version").as_uint() != kCheckpointVersion)
        fail(name, ": checkpoint version ", need("version").as_uint(), " (this pocket reads ",
             kCheckpointVersion, ")");
    for (const auto& [setting, value] : run_settings(options_, train_)) {
        const gguf::Value& saved = need(setting);
        if (!(saved == value))
            fail(name, ": the checkpoint was made with ", setting, " = ", value_text(saved),
                 "; this run has ", value_text(value), " (resume with the same settings and data)");
    }
    const int64_t step = need("step").as_int();
    const int64_t epoch = need("epoch").as_int();
    const int64_t epoch_pos = need("epoch_pos").as_int();
    const int64_t adam_steps = need("adamw.steps").as_int();
    const auto n = static_cast<int64_t>(train_.examples.size());
    if (step < 0 || step > total_steps() || epoch < 0 || epoch > options_.epochs || epoch_pos < 0 ||
        epoch_pos > n || adam_steps < 0)
        fail(name, ": inconsistent position (step ", step, ", epoch ", epoch, ", position ",
             epoch_pos, ")");
    const gguf::Array& rng_words = need("rng").as_array();
    if (rng_words.items.size() != 4) fail(name, ": the generator state needs 4 words");
    Rng::State state{};
    for (size_t i = 0; i < 4; ++i) state[i] = rng_words.items[i].as_uint();

    const auto tensor_floats = [&](const std::string& tname, size_t count) {
        const gguf::TensorInfo* t = f.find_tensor(tname);
        if (t == nullptr || t->type != DType::F32 || t->n_elements() != count)
            fail(name, ": tensor '", tname, "' is missing or not ", count, " F32 values");
        const std::span<const std::byte> data = f.tensor_data(*t);
        std::vector<float> out(count);
        std::memcpy(out.data(), data.data(), count * sizeof(float));
        return out;
    };
    const std::span<Parameter> params = objective_.params();
    const gguf::Array& names = need("param_names").as_array();
    if (names.items.size() != params.size())
        fail(name, ": the checkpoint holds ", names.items.size(), " parameters; this run trains ",
             params.size());
    std::vector<std::vector<float>> values(params.size());
    std::vector<AdamWMoments> moments(params.size());
    for (size_t i = 0; i < params.size(); ++i) {
        if (names.items[i].as_string() != params[i].name)
            fail(name, ": parameter ", i, " is '", names.items[i].as_string(), "'; this run has '",
                 params[i].name, "'");
        values[i] = tensor_floats(cat("param.", i), params[i].value.size());
        moments[i].m = tensor_floats(cat("adam_m.", i), params[i].value.size());
        moments[i].v = tensor_floats(cat("adam_v.", i), params[i].value.size());
    }
    const gguf::TensorInfo* order = f.find_tensor("data_order");
    if (order == nullptr || order->type != DType::I32 ||
        order->n_elements() != static_cast<uint64_t>(n))
        fail(name, ": tensor 'data_order' is missing or not ", n, " I32 values");
    std::vector<int32_t> order_values(static_cast<size_t>(n));
    std::memcpy(order_values.data(), f.tensor_data(*order).data(), order_values.size() * 4);
    std::vector<int32_t> sorted = order_values;
    std::sort(sorted.begin(), sorted.end());
    for (int32_t i = 0; i < static_cast<int32_t>(n); ++i)
        if (sorted[static_cast<size_t>(i)] != i)
            fail(name, ": 'data_order' is not a permutation of the ", n, " sequences");

    // Everything checked: only now change the run's state.
    for (size_t i = 0; i < params.size(); ++i)
        std::copy(values[i].begin(), values[i].end(), params[i].value.begin());
    adamw_.restore(adam_steps, adam_steps > 0 ? std::move(moments) : std::vector<AdamWMoments>{});
    step_ = step;
    epoch_ = epoch;
    epoch_pos_ = epoch_pos;
    order_ = std::move(order_values);
    rng_ = Rng::from_state(state);
}

}  // namespace pocket::train
