// The aggregation kernel (summing a chunk into an accumulator) against a plain
// memcpy of the same size, in the same process. Goal: at least 50% of memcpy.
// Reported as bytes/s of the summed input.
#include <benchmark/benchmark.h>
#include <malloc.h>

#include <cstring>
#include <memory>
#include <vector>

#include "core/planner/planner.h"
#include "sidecar/engine/aggregator.h"

namespace {

constexpr int64_t kChunk = 1 << 20;

void BM_Memcpy(benchmark::State& state) {
  const size_t bytes = static_cast<size_t>(state.range(0));
  std::vector<float> a(bytes / 4, 1.0f), b(bytes / 4);
  for (auto _ : state) {
    std::memcpy(b.data(), a.data(), bytes);
    benchmark::DoNotOptimize(b.data());
    benchmark::ClobberMemory();
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations()) * static_cast<int64_t>(bytes));
}

// The kernel alone: out = a + b over range(0) bytes, three distinct buffers.
void BM_AddFloats(benchmark::State& state) {
  const size_t n = static_cast<size_t>(state.range(0)) / 4;
  std::vector<float> a(n, 1.0f), b(n, 2.0f), out(n);
  for (auto _ : state) {
    geostorm::sidecar::AddFloats(a.data(), b.data(), out.data(), n);
    benchmark::DoNotOptimize(out.data());
    benchmark::ClobberMemory();
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations()) * state.range(0));
}

// The engine's own path: a 2-DC star root summing its local chunk with the
// leaf's, for every chunk of a model of range(0) bytes (every chunk its own
// buffers, as they come off the wire, so none is still in cache).
void BM_AggregateChunks(benchmark::State& state) {
  const int64_t model = state.range(0);
  absl::StatusOr<geostorm::core::Topology> t =
      geostorm::core::ParseTopology("kind: mesh\ndataCenters: [a, b]\ndefaultMbps: 100\n", "bench");
  geostorm::core::PlanOptions o;
  o.star_root = 0;
  const geostorm::core::Policy policy = geostorm::core::PlanTopology(*t, "star", model, kChunk, o).value();
  std::vector<geostorm::wire::Payload> local, remote;
  for (int64_t k = 0; k < policy.num_chunks(); ++k) {
    local.push_back(std::make_shared<geostorm::wire::Floats>(kChunk / 4, 1.0f));
    remote.push_back(std::make_shared<geostorm::wire::Floats>(kChunk / 4, 2.0f));
  }
  uint64_t iteration = 0;
  geostorm::sidecar::Aggregator root({"job", "a", 1, 2}, policy);
  for (auto _ : state) {
    for (int64_t k = 0; k < policy.num_chunks(); ++k) {
      geostorm::wire::Envelope e{
          geostorm::wire::ChunkKind::kReduce, iteration, policy.version, 0, k, 1, "b", {}, remote[k]};
      if (!root.OnPeer(e).ok() || !root.OnLocal(iteration, k, "w", local[k]).ok()) state.SkipWithError("refused");
    }
    benchmark::DoNotOptimize(root.TakeResults());
    root.TakeOutgoing();
    ++iteration;
  }
  // Bytes summed: the remote chunk added into the local one.
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations()) * model);
}

BENCHMARK(BM_Memcpy)->Arg(kChunk)->Arg(64 * kChunk);
BENCHMARK(BM_AddFloats)->Arg(kChunk)->Arg(64 * kChunk);
BENCHMARK(BM_AggregateChunks)->Arg(64 * kChunk);

}  // namespace

int main(int argc, char** argv) {
  geostorm::sidecar::KeepChunkMemory();  // as the sidecar does
  benchmark::Initialize(&argc, argv);
  benchmark::RunSpecifiedBenchmarks();
  return 0;
}
