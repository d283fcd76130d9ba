// A small deterministic random number generator: xoshiro256** (Blackman & Vigna, 2018), seeded
// from one 64-bit value through splitmix64 as its authors recommend.
//
// Why our own instead of <random>: the engines are portable but the distributions
// (std::uniform_real_distribution, std::discrete_distribution) are implementation-defined, so the
// same seed would sample different tokens with libstdc++, libc++ and MSVC. Everything here is
// specified bit for bit, so a seed reproduces the same text on every platform.
#pragma once

#include <array>
#include <cstdint>
#include <limits>

namespace pocket {

// splitmix64: a 64-bit counter passed through a strong mixing function. Used to expand one seed
// into the 256-bit xoshiro state (never all zero, well spread even for seeds 0, 1, 2, ...).
class SplitMix64 {
  public:
    explicit constexpr SplitMix64(uint64_t state) : state_(state) {}

    constexpr uint64_t next() {
        state_ += 0x9e3779b97f4a7c15ULL;
        uint64_t z = state_;
        z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
        z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
        return z ^ (z >> 31);
    }

  private:
    uint64_t state_;
};

class Rng {
  public:
    using State = std::array<uint64_t, 4>;

    // Satisfies std::uniform_random_bit_generator, so it also works with std::shuffle and friends
    // (whose results are then only as portable as those algorithms).
    using result_type = uint64_t;
    static constexpr result_type min() { return 0; }
    static constexpr result_type max() { return std::numeric_limits<uint64_t>::max(); }

    explicit constexpr Rng(uint64_t seed = 0) { this->seed(seed); }

    // Exact state, for tests against published vectors. The state must not be all zero.
    static constexpr Rng from_state(const State& state) {
        Rng rng;
        rng.state_ = state;
        return rng;
    }

    constexpr void seed(uint64_t seed) {
        SplitMix64 mix(seed);
        for (uint64_t& word : state_) word = mix.next();
    }

    constexpr uint64_t next_u64() {
        const uint64_t result = rotl(state_[1] * 5, 7) * 9;
        const uint64_t t = state_[1] << 17;
        state_[2] ^= state_[0];
        state_[3] ^= state_[1];
        state_[1] ^= state_[2];
        state_[0] ^= state_[3];
        state_[2] ^= t;
        state_[3] = rotl(state_[3], 45);
        return result;
    }

    constexpr result_type operator()() { return next_u64(); }

    // Uniform in [0, 1) with 53 random bits: the top 53 bits scaled by 2^-53, so every value is
    // exactly representable and 1.0 is never returned.
    constexpr double uniform01() { return static_cast<double>(next_u64() >> 11) * 0x1.0p-53; }

    constexpr const State& state() const { return state_; }

  private:
    static constexpr uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

    State state_{};
};

}  // namespace pocket
