#include "cli/run_report.h"

#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <iostream>
#include <memory>
#include <string>

#include "core/lower_bound.h"
#include "core/network_view.h"
#include "core/planner/planner.h"
#include "core/sim/simulator.h"

namespace geostorm::cli {

void Progress(int done, int total, int* shown) {
  if (::isatty(STDERR_FILENO)) {
    const int width = 40;
    const int filled = total > 0 ? std::min(done, total) * width / total : width;
    std::cerr << "\r[" << std::string(filled, '#') << std::string(width - filled, '.') << "] " << done << "/" << total
              << " iterations" << std::flush;
  } else {
    for (int i = *shown + 1; i <= done; ++i) std::cerr << "iteration " << i << "/" << total << " finished\n";
  }
  *shown = done;
}

double Quantile(std::vector<double> v, double q) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v[static_cast<size_t>(std::lround(q * static_cast<double>(v.size() - 1)))];
}

core::Topology UniformGuess(core::Topology topology) {
  double sum = 0;
  for (const core::DirectedLink& l : topology.links) sum += l.mbps;
  for (core::DirectedLink& l : topology.links) l.mbps = sum / static_cast<double>(topology.links.size());
  return topology;
}

double TMinAt(const core::Topology& topology, int64_t period, int64_t model, int64_t chunk) {
  absl::StatusOr<core::NetworkView> view =
      core::BuildView(topology, topology.LinksAt(period), core::Overlay::kAllPairs, model, chunk);
  return view.ok() ? core::TMinSeconds(*view) : 0;
}

double Predict(const core::Topology& topology, const core::Policy& policy, int64_t model, int64_t chunk) {
  std::unique_ptr<core::Planner> planner = core::MakePlanner(policy.strategy);
  if (!planner) return 0;
  absl::StatusOr<core::NetworkView> view = core::BuildView(topology, planner->overlay(), model, chunk);
  if (!view.ok()) return 0;
  absl::StatusOr<core::SimResult> sim = core::Simulate(*view, policy);
  return sim.ok() ? sim->iteration_seconds : 0;
}

CpuTimes CpuTimes::Now() {
  // "cpu  user nice system idle iowait irq softirq steal ...": idle and iowait are idle.
  std::ifstream stat("/proc/stat");
  std::string label;
  CpuTimes t;
  if (!(stat >> label) || label != "cpu") return t;
  int64_t ticks = 0;
  for (int field = 0; field < 8 && stat >> ticks; ++field) {
    t.total += ticks;
    if (field != 3 && field != 4) t.busy += ticks;
  }
  return t;
}

double BusyShare(const CpuTimes& from, const CpuTimes& to) {
  // Ticks are 10 ms per core: a window of a few of them says nothing (a 50 ms one
  // read 0% busy under a loaded ctest), so under kMinTicks it is too short.
  constexpr int64_t kMinTicks = 20;
  const int64_t total = to.total - from.total;
  return total >= kMinTicks ? static_cast<double>(to.busy - from.busy) / static_cast<double>(total) : -1;
}

}  // namespace geostorm::cli
