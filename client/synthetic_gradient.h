// Synthetic gradients whose sum is exact and gives away any wrong contribution:
// what geostorm-synthetic-worker sends and checks, and the soak's referee.
//
// Worker g (0 <= g < W, DC-major) sends, at iteration t and element i,
//   (g + 1) + noise(t, i)
// where noise is a hash of (t, i) below a bound that keeps every sum an integer
// under 2^24, so float sums are exact in any order. Then a sum is wrong when:
//   - a contribution is dropped: every value is positive;
//   - one is counted twice in place of another (the contributor count stays
//     right): the (g + 1) terms differ;
//   - a chunk lands at another offset, or comes from another iteration: the
//     noise has no period, so a whole chunk matches elsewhere only by chance
//     (about B^-chunk_floats).
// Thread-safe (immutable).
//
//   SyntheticGradient g(dcs * workers);
//   g.Fill(dc * workers + worker, t, grad);   // ... AllReduce(t, grad) ...
//   if (int64_t i = g.FirstWrong(t, grad); i >= 0) ...;
#ifndef GEOSTORM_CLIENT_SYNTHETIC_GRADIENT_H_
#define GEOSTORM_CLIENT_SYNTHETIC_GRADIENT_H_

#include <cstdint>

#include "absl/types/span.h"

namespace geostorm {

class SyntheticGradient {
 public:
  static constexpr int kMaxWorkers = 4096;  // the noise keeps at least 2 values

  explicit SyntheticGradient(int workers);  // 1 to kMaxWorkers

  float Value(int worker, uint64_t t, int64_t i) const;
  void Fill(int worker, uint64_t t, absl::Span<float> out) const;
  // The exact sum of every worker's value.
  float Sum(uint64_t t, int64_t i) const;
  // The first element of `sum` that is not the exact sum, or -1.
  int64_t FirstWrong(uint64_t t, absl::Span<const float> sum) const;

 private:
  static uint64_t Seed(uint64_t t);  // per iteration
  uint64_t Noise(uint64_t seed, int64_t i) const;
  // Value and Sum with the iteration's seed made once per gradient, not per element.
  float ValueAt(int worker, uint64_t seed, int64_t i) const;
  float SumAt(uint64_t seed, int64_t i) const;

  const int64_t workers_;
  const uint64_t bound_;  // noise is in [0, bound_)
};

}  // namespace geostorm

#endif  // GEOSTORM_CLIENT_SYNTHETIC_GRADIENT_H_
