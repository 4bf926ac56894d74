#include "client/synthetic_gradient.h"

#include <algorithm>

namespace geostorm {
namespace {

constexpr int64_t kExactFloat = int64_t{1} << 24;  // every integer below this is a float

// SplitMix64's finaliser: consecutive inputs give unrelated outputs.
uint64_t Mix(uint64_t x) {
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

}  // namespace

// The sum is W(W + 1)/2 + W * noise: the noise's bound is what that leaves of 2^24.
SyntheticGradient::SyntheticGradient(int workers)
    : workers_(std::clamp(workers, 1, kMaxWorkers)),
      bound_(static_cast<uint64_t>(
          std::min<int64_t>(int64_t{1} << 16, (kExactFloat - 1 - workers_ * (workers_ + 1) / 2) / workers_))) {}

uint64_t SyntheticGradient::Seed(uint64_t t) { return Mix(t + 0x9e3779b97f4a7c15ULL); }

// Lemire's multiply-shift maps the hash's top 32 bits onto [0, bound_) without a
// division: the check runs on every element of every iteration.
uint64_t SyntheticGradient::Noise(uint64_t seed, int64_t i) const {
  return ((Mix(seed ^ static_cast<uint64_t>(i)) >> 32) * bound_) >> 32;
}

float SyntheticGradient::Value(int worker, uint64_t t, int64_t i) const { return ValueAt(worker, Seed(t), i); }

float SyntheticGradient::ValueAt(int worker, uint64_t seed, int64_t i) const {
  return static_cast<float>(worker + 1 + static_cast<int64_t>(Noise(seed, i)));
}

void SyntheticGradient::Fill(int worker, uint64_t t, absl::Span<float> out) const {
  const uint64_t seed = Seed(t);
  for (size_t i = 0; i < out.size(); ++i) out[i] = ValueAt(worker, seed, static_cast<int64_t>(i));
}

float SyntheticGradient::Sum(uint64_t t, int64_t i) const { return SumAt(Seed(t), i); }

float SyntheticGradient::SumAt(uint64_t seed, int64_t i) const {
  const int64_t sum = workers_ * (workers_ + 1) / 2 + workers_ * static_cast<int64_t>(Noise(seed, i));
  return static_cast<float>(sum);
}

int64_t SyntheticGradient::FirstWrong(uint64_t t, absl::Span<const float> sum) const {
  const uint64_t seed = Seed(t);
  for (size_t i = 0; i < sum.size(); ++i) {
    if (sum[i] != SumAt(seed, static_cast<int64_t>(i))) return static_cast<int64_t>(i);
  }
  return -1;
}

}  // namespace geostorm
