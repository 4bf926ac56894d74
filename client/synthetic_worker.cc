// geostorm-synthetic-worker: a worker with integer-valued gradients, so that the
// sum is exact and checkable. Worker w of DC d (index among --dcs) contributes at
// iteration t the value Value(d, w, t, i) at index i; every worker checks that it
// gets back exactly the sum over all DCs and workers. Exits 0 when every
// iteration was exact, 1 on a wrong value, 3 on a failed iteration.
// With --tensors N the gradient goes as N named tensors of unequal sizes, handed
// over in an order of the worker's own (the client lays them out by name).
#include <algorithm>
#include <cstdio>

#include "CLI/CLI.hpp"
#include "client/client.h"

namespace {

float Value(int dc, int worker, uint64_t t, int64_t i) {
  return static_cast<float>((dc * 131 + worker * 31 + static_cast<int64_t>(t) * 7 + i) % 17 - 8);
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"geostorm-synthetic-worker"};
  std::string address;
  int dc = 0, worker = 0, dcs = 1, workers = 1, iterations = 1;
  uint64_t first = 0;
  bool keep_going = false;
  bool unchecked = false;
  int tensors = 0;
  app.add_option("--sidecar", address, "the sidecar's worker API")->required();
  app.add_option("--dc-index", dc, "this worker's DC index");
  app.add_option("--worker-index", worker, "this worker's index in its DC");
  app.add_option("--dcs", dcs, "number of DCs");
  app.add_option("--workers", workers, "workers per DC");
  app.add_option("--iterations", iterations, "iterations to run");
  app.add_option("--first-iteration", first, "number of the first iteration");
  app.add_flag("--keep-going", keep_going, "after a failed iteration, go on to the next one");
  app.add_flag("--unchecked", unchecked,
               "benchmarks: send the same gradient every time and check only the contributors");
  app.add_option("--tensors", tensors, "send the gradient as this many named tensors (the last given counts)")
      ->multi_option_policy(CLI::MultiOptionPolicy::TakeLast);
  CLI11_PARSE(app, argc, argv);

  absl::StatusOr<geostorm::Client> client = geostorm::Client::Connect(address);
  if (!client.ok()) {
    std::fprintf(stderr, "worker %d/%d: %s\n", dc, worker, std::string(client.status().message()).c_str());
    return 3;
  }
  if (client->total_workers() != dcs * workers) {
    std::printf("the sidecar says the job has %d workers, expected %d\n", client->total_workers(), dcs * workers);
    return 1;
  }
  std::vector<float> grad(client->model_floats());
  // Tensor j is "t<j>" with a share of the model growing with j, so that names in
  // order are the flat order of `grad`; the list is rotated per worker.
  std::vector<geostorm::Tensor> named;
  int64_t start = 0;
  for (int j = 0; j < tensors; ++j) {
    const int64_t share = static_cast<int64_t>(grad.size()) * 2 * (j + 1) / (int64_t{tensors} * (tensors + 1));
    const int64_t size = j + 1 == tensors ? static_cast<int64_t>(grad.size()) - start : share;
    named.push_back({"t" + std::to_string(100 + j),
                     absl::MakeSpan(grad).subspan(static_cast<size_t>(start), static_cast<size_t>(size))});
    start += size;
  }
  if (!named.empty()) std::rotate(named.begin(), named.begin() + (dc * workers + worker) % tensors, named.end());
  int failed = 0;
  for (uint64_t t = first; t < first + static_cast<uint64_t>(iterations); ++t) {
    if (!unchecked || t == first) {
      float period[17];
      for (int64_t k = 0; k < 17; ++k) period[k] = Value(dc, worker, t, k);
      for (size_t i = 0; i < grad.size(); ++i) grad[i] = period[i % 17];
    }
    absl::StatusOr<int> contributors =
        named.empty() ? client->AllReduce(t, absl::MakeSpan(grad)) : client->AllReduce(t, named);
    if (!contributors.ok()) {
      std::printf("iteration %lu failed: %s\n", static_cast<unsigned long>(t),
                  std::string(contributors.status().message()).c_str());
      std::fflush(stdout);
      ++failed;
      if (!keep_going) return 3;
      continue;
    }
    if (*contributors != dcs * workers) {
      std::printf("iteration %lu: %d contributors, expected %d\n", static_cast<unsigned long>(t), *contributors,
                  dcs * workers);
      return 1;
    }
    // Value() depends on i only through i mod 17: the expected sums form a table, so
    // checking costs the worker (and the DCs waiting for its next iteration) little.
    float want[17] = {};
    for (int64_t k = 0; k < 17; ++k) {
      for (int d = 0; d < dcs; ++d) {
        for (int w = 0; w < workers; ++w) want[k] += Value(d, w, t, k);
      }
    }
    for (size_t i = 0; i < grad.size() && !unchecked; ++i) {
      if (grad[i] != want[i % 17]) {
        std::printf("iteration %lu: value %zu is %g, expected %g\n", static_cast<unsigned long>(t), i, grad[i],
                    want[i % 17]);
        return 1;
      }
    }
    std::printf(unchecked ? "iteration %lu done\n" : "iteration %lu exact\n", static_cast<unsigned long>(t));
    std::fflush(stdout);
  }
  return failed > 0 ? 3 : 0;
}
