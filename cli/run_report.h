// What a local run reports: its progress, and its figures (T_min of a period's
// rates, the simulator's prediction for a policy, quantiles of the measured times,
// the planner's blind guess). The figures are pure functions; Progress writes to
// stderr, from one thread.
#ifndef GEOSTORM_CLI_RUN_REPORT_H_
#define GEOSTORM_CLI_RUN_REPORT_H_

#include <cstdint>
#include <vector>

#include "core/policy/policy.h"
#include "core/topology/topology.h"

namespace geostorm::cli {

// On a terminal, a bar redrawn in place; in a log (stderr not a terminal), one line
// per iteration finished since the last call (*shown), and nothing when none did.
void Progress(int done, int total, int* shown);
// The q-quantile (0 to 1) of `v`, nearest rank; 0 for none.
double Quantile(std::vector<double> v, double q);
// Every link at the mean rate: what a planner blind to the WAN would assume.
core::Topology UniformGuess(core::Topology topology);
// T_min of the topology's rates in a period; 0 when it cannot be computed.
double TMinAt(const core::Topology& topology, int64_t period, int64_t model, int64_t chunk);
// The simulator's iteration time for a policy on the topology's (period 0) rates; 0 when it cannot.
double Predict(const core::Topology& topology, const core::Policy& policy, int64_t model, int64_t chunk);

// The machine's CPU time from /proc/stat, all cores: every DC of a local run
// shares them, so when they are nearly all busy the run's times are bounded by
// the CPU and not only by the (emulated) WAN.
struct CpuTimes {
  int64_t busy = 0;       // ticks; steal counts, as time the run could not have
  int64_t total = 0;      // ticks
  static CpuTimes Now();  // zeros when /proc/stat cannot be read
};
// The share of the CPU time between the two that was busy; -1 when unknown, or
// when the window is under 20 ticks (0.1 s on two cores), too short to tell.
double BusyShare(const CpuTimes& from, const CpuTimes& to);

}  // namespace geostorm::cli

#endif  // GEOSTORM_CLI_RUN_REPORT_H_
