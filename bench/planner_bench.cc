// Planning time for random meshes of 16, 64 and 256 DCs, per strategy, and the
// controller's whole re-plan (matrix to decision) for 9, 64 and 256 DCs.
// Goal: a 64-DC netstorm plan in under 100 ms.
#include <benchmark/benchmark.h>

#include "control/replanner.h"
#include "core/network_view.h"
#include "core/planner/planner.h"

namespace {

void BM_Plan(benchmark::State& state, const char* strategy) {
  const int n = static_cast<int>(state.range(0));
  const geostorm::core::Topology topology = geostorm::core::RandomMesh(n, 7, 20, 1000);
  for (auto _ : state) {
    auto policy = geostorm::core::PlanTopology(topology, strategy, 100'000'000, 1 << 20);
    if (!policy.ok()) state.SkipWithError(std::string(policy.status().message()).c_str());
    benchmark::DoNotOptimize(policy);
  }
}

BENCHMARK_CAPTURE(BM_Plan, netstorm, "netstorm")->Arg(16)->Arg(64)->Arg(256)->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_Plan, netstorm_paper, "netstorm-paper")->Arg(16)->Arg(64)->Arg(256)->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_Plan, star, "star")->Arg(16)->Arg(64)->Arg(256)->Unit(benchmark::kMillisecond);

// One reconcile's planning work: the matrix with every link measured at 80% of
// its rate, a fresh plan, and the current policy simulated on it for hysteresis.
void BM_Replan(benchmark::State& state) {
  const int n = static_cast<int>(state.range(0));
  const geostorm::core::Topology topology = geostorm::core::RandomMesh(n, 7, 20, 1000);
  geostorm::control::ReplanOptions options{"netstorm", 0.10, 100'000'000, 1 << 20, 0.30, {}};
  const auto current = geostorm::core::PlanTopology(topology, "netstorm", options.model_bytes, options.chunk_bytes);
  if (!current.ok()) return state.SkipWithError(std::string(current.status().message()).c_str());
  std::vector<geostorm::control::LinkSample> samples;
  for (const auto& l : topology.links) {
    samples.push_back({topology.data_centers[l.from], topology.data_centers[l.to],
                       0.8 * l.mbps * geostorm::core::kBytesPerMbit, 1.0});
  }
  for (auto _ : state) {
    geostorm::control::LinkMatrix matrix(topology);
    matrix.Update(samples, geostorm::control::Clock::now());
    auto decision = geostorm::control::Replan(matrix, topology.links, *current, options);
    if (!decision.ok()) state.SkipWithError(std::string(decision.status().message()).c_str());
    benchmark::DoNotOptimize(decision);
  }
}

BENCHMARK(BM_Replan)->Arg(9)->Arg(64)->Arg(256)->Unit(benchmark::kMillisecond);

}  // namespace

BENCHMARK_MAIN();
