// A seeded random LoRA adapter for a model, for the tests that apply, merge, save and load
// adapters (tests/model/lora_test.cpp, tests/cli/lora_test.cpp). B is non-zero (a trained
// adapter's B, not a fresh one's), so the adapter changes every logit.
#pragma once

#include <cmath>
#include <cstdint>
#include <memory>
#include <span>
#include <string>

#include "pocket/core/rng.h"
#include "pocket/model/lora.h"
#include "pocket/model/model.h"

namespace pocket::test {

inline constexpr model::Projection kAllProjections[] = {
    model::Projection::Q,   model::Projection::K,    model::Projection::V,
    model::Projection::QKV, model::Projection::O,    model::Projection::Gate,
    model::Projection::Up,  model::Projection::Down, model::Projection::Output};

// Pairs on every `targets` matrix the model has (Output only when it is not tied), values
// uniform: A in ±1/sqrt(n_in), B in ±amplitude/sqrt(rank).
inline std::shared_ptr<model::LoraAdapter> random_lora(
    const model::Model& m, uint64_t seed, int64_t rank = 4, float alpha = 8.0f,
    std::span<const model::Projection> targets = kAllProjections, float amplitude = 0.5f) {
    auto adapter = std::make_shared<model::LoraAdapter>(std::string(m.arch().name), alpha);
    Rng rng(seed);
    const auto uniform = [&rng](double bound) {
        return static_cast<float>((2.0 * rng.uniform01() - 1.0) * bound);
    };
    for (int64_t layer = -1; layer < m.hparams().n_layer; ++layer) {
        for (const model::Projection p : targets) {
            if ((p == model::Projection::Output) != (layer == -1)) continue;
            const TensorView* w = model::projection_weight(m.weights(), layer, p);
            if (w == nullptr) continue;
            model::LoraMatrix& pair = adapter->add(layer, p, rank, w->cols, w->rows);
            for (float& v : pair.a) v = uniform(1.0 / std::sqrt(static_cast<double>(w->cols)));
            for (float& v : pair.b) v = uniform(amplitude / std::sqrt(static_cast<double>(rank)));
        }
    }
    return adapter;
}

}  // namespace pocket::test
