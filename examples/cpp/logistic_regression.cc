// A C++ training worker on geostorm: logistic regression, BSP, on a synthetic task
// whose true weights are known. Each DC holds a skewed slice of the data (the
// samples sorted by their first feature, a contiguous range per DC), so that no DC
// alone sees the whole input space and the all-reduce has to combine them.
//
//   build/bin/geostorm local --topology examples/topologies/mesh-4dc-uniform.yaml --workers 2
//       --model-mb 0.000132 --iterations 300 --worker-command build/bin/geostorm-example-logreg
//
// It reads the environment `geostorm local` and the operator's pods set
// (docs/training.md) and writes result-rank<R>.json to GEOSTORM_OUT if set.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <numeric>
#include <random>
#include <string>
#include <vector>

#include "client/client.h"

namespace {

constexpr int kFeatures = 32;  // plus a bias: the model is kFeatures + 1 floats

int EnvInt(const char* name, int fallback) {
  const char* v = std::getenv(name);
  return v != nullptr && *v != '\0' ? std::atoi(v) : fallback;
}

struct Sample {
  std::vector<float> x;  // kFeatures values, then 1 for the bias
  float y;               // 0 or 1
};

// `n` samples labelled by the true weights, with 5% of the labels flipped.
std::vector<Sample> MakeData(const std::vector<float>& truth, int n, uint32_t seed) {
  std::mt19937 random(seed);
  std::normal_distribution<float> normal;
  std::uniform_real_distribution<float> uniform;
  std::vector<Sample> data(n);
  for (Sample& s : data) {
    s.x.resize(kFeatures + 1);
    for (int i = 0; i < kFeatures; ++i) s.x[i] = normal(random);
    s.x[kFeatures] = 1;
    const float margin = std::inner_product(s.x.begin(), s.x.end(), truth.begin(), 0.0f);
    s.y = (margin > 0) != (uniform(random) < 0.05f) ? 1.0f : 0.0f;
  }
  return data;
}

float Predict(const std::vector<float>& w, const Sample& s) {
  return 1.0f / (1.0f + std::exp(-std::inner_product(s.x.begin(), s.x.end(), w.begin(), 0.0f)));
}

// FNV-1a of the weights' bytes, in hex: equal on every worker exactly when the weights are.
std::string Fingerprint(const std::vector<float>& w) {
  uint64_t h = 1469598103934665603ull;
  for (const unsigned char* b = reinterpret_cast<const unsigned char*>(w.data()); b != reinterpret_cast<const unsigned char*>(w.data() + w.size()); ++b) {
    h = (h ^ *b) * 1099511628211ull;
  }
  char hex[17];
  std::snprintf(hex, sizeof hex, "%016llx", static_cast<unsigned long long>(h));
  return hex;
}

}  // namespace

int main() {
  const char* sidecar = std::getenv("GEOSTORM_SIDECAR");
  const int rank = EnvInt("GEOSTORM_RANK", 0);
  const int dc_index = EnvInt("GEOSTORM_DC_INDEX", 0), dcs = std::max(1, EnvInt("GEOSTORM_DCS", 1));
  const int worker_index = EnvInt("GEOSTORM_WORKER_INDEX", 0);
  const int per_dc = std::max(1, EnvInt("GEOSTORM_WORLD_SIZE", 1) / dcs);
  const int iterations = EnvInt("GEOSTORM_ITERATIONS", 300);

  absl::StatusOr<geostorm::Client> client =
      geostorm::Client::Connect(sidecar != nullptr ? sidecar : "unix:/run/geostorm/worker.sock");
  if (!client.ok()) {
    std::cerr << "logreg: " << client.status().message() << "\n";
    return 1;
  }
  if (client->model_floats() != kFeatures + 1) {
    std::cerr << "logreg: the job's model has " << client->model_floats() << " floats; this one has "
              << kFeatures + 1 << " (plan it with --model-mb " << (kFeatures + 1) * 4 / 1e6 << ")\n";
    return 1;
  }

  std::mt19937 truth_random(7);
  std::normal_distribution<float> normal;
  std::vector<float> truth(kFeatures + 1);
  for (float& v : truth) v = normal(truth_random);
  std::vector<Sample> train = MakeData(truth, 8000, 11), test = MakeData(truth, 2000, 13);
  // The skew: sorted by the first feature, DC d holds the d-th range; its workers deal it out.
  std::sort(train.begin(), train.end(), [](const Sample& a, const Sample& b) { return a.x[0] < b.x[0]; });
  std::vector<const Sample*> mine;
  const size_t begin = train.size() * dc_index / dcs, end = train.size() * (dc_index + 1) / dcs;
  for (size_t i = begin + worker_index; i < end; i += per_dc) mine.push_back(&train[i]);

  std::vector<float> w(kFeatures + 1, 0.0f), grad(kFeatures + 1);
  std::mt19937 batches(100 + rank);
  std::uniform_int_distribution<size_t> pick(0, mine.size() - 1);
  constexpr int kBatch = 32;
  constexpr float kLearningRate = 0.5f;
  for (int t = 0; t < iterations; ++t) {
    std::fill(grad.begin(), grad.end(), 0.0f);
    for (int b = 0; b < kBatch; ++b) {
      const Sample& s = *mine[pick(batches)];
      const float error = Predict(w, s) - s.y;
      for (int i = 0; i <= kFeatures; ++i) grad[i] += error * s.x[i] / kBatch;
    }
    absl::StatusOr<int> contributors = client->AllReduce(static_cast<uint64_t>(t), absl::MakeSpan(grad));
    if (!contributors.ok()) {
      std::cerr << "logreg: iteration " << t << ": " << contributors.status().message() << "\n";
      return 1;
    }
    for (int i = 0; i <= kFeatures; ++i) w[i] -= kLearningRate * grad[i] / *contributors;
  }

  int correct = 0;
  for (const Sample& s : test) correct += (Predict(w, s) > 0.5f) == (s.y > 0.5f);
  const double accuracy = static_cast<double>(correct) / test.size();
  const double cosine = std::inner_product(w.begin(), w.end(), truth.begin(), 0.0) /
                        std::sqrt(std::inner_product(w.begin(), w.end(), w.begin(), 0.0) *
                                  std::inner_product(truth.begin(), truth.end(), truth.begin(), 0.0));
  std::cout << "rank " << rank << " (DC " << dc_index << "): " << mine.size() << " samples, after " << iterations
            << " steps test accuracy " << accuracy << ", cosine to the true weights " << cosine << "\n";
  if (const char* out = std::getenv("GEOSTORM_OUT")) {
    std::ofstream(std::string(out) + "/result-rank" + std::to_string(rank) + ".json")
        << "{\"rank\": " << rank << ", \"dc\": " << dc_index << ", \"accuracy\": " << accuracy
        << ", \"cosine\": " << cosine << ", \"weights\": \"" << Fingerprint(w) << "\", \"steps\": " << iterations
        << "}\n";
  }
  return 0;
}
