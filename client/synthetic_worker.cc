// geostorm-synthetic-worker: a worker whose gradients sum exactly and give away any
// dropped, doubled or misplaced contribution (client/synthetic_gradient.h). Every
// worker checks that it gets back exactly the sum over all DCs and workers. Exits
// 0 when every iteration was exact, 1 on a wrong value, 3 on a failed iteration.
// With --tensors N the gradient goes as N named tensors of unequal sizes, handed
// over in an order of the worker's own (the client lays them out by name).
#include <algorithm>
#include <cstdio>

#include "CLI/CLI.hpp"
#include "absl/synchronization/mutex.h"
#include "client/client.h"
#include "client/synthetic_gradient.h"

int main(int argc, char** argv) {
  // Debian builds abseil with its Mutex deadlock detector on; gRPC takes absl
  // Mutexes on every call, and the detector's lock graph was 2-5% of the CPU.
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);
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
  if (dcs * workers > geostorm::SyntheticGradient::kMaxWorkers) {
    std::printf("%d workers: the synthetic check holds for at most %d\n", dcs * workers,
                geostorm::SyntheticGradient::kMaxWorkers);
    return 1;
  }
  const geostorm::SyntheticGradient synthetic(dcs * workers);
  const int me = dc * workers + worker;
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
  if (!named.empty()) std::rotate(named.begin(), named.begin() + me % tensors, named.end());
  int failed = 0;
  for (uint64_t t = first; t < first + static_cast<uint64_t>(iterations); ++t) {
    if (!unchecked || t == first) synthetic.Fill(me, t, absl::MakeSpan(grad));
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
    if (const int64_t i = unchecked ? -1 : synthetic.FirstWrong(t, grad); i >= 0) {
      std::printf("iteration %lu: value %ld is %.0f, expected %.0f\n", static_cast<unsigned long>(t),
                  static_cast<long>(i), grad[static_cast<size_t>(i)], synthetic.Sum(t, i));
      return 1;
    }
    std::printf(unchecked ? "iteration %lu done\n" : "iteration %lu exact\n", static_cast<unsigned long>(t));
    std::fflush(stdout);
  }
  return failed > 0 ? 3 : 0;
}
