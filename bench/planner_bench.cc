// Planning time for random meshes of 16, 64 and 256 DCs, per strategy.
// Goal: a 64-DC netstorm plan in under 100 ms.
#include <benchmark/benchmark.h>

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

}  // namespace

BENCHMARK_MAIN();
