// `geostorm local`: runs a job on this machine. It starts the policy controller
// (in this process), one gateway sidecar per DC (plus W-1 member sidecars) and
// synthetic workers, waits for the iterations with a progress bar, and prints
// the measured iteration times against T_min and the prediction. Logs, the
// rollout state and summary.json go to the output directory.
//
// With --wan (root) each DC runs in its own network namespace of an emulated WAN
// (testbed/emulated_wan.h) at the topology's rates times --scale, redrawn live
// every period for a dynamic topology; without it, on unshaped loopback.
//
//   geostorm local --topology examples/topologies/klonet-9dc.yaml --model-mb 10 --iterations 20
//   geostorm local --topology examples/topologies/klonet-9dc.yaml --wan --scale 0.2 --model-mb 20
#ifndef GEOSTORM_CLI_LOCAL_COMMAND_H_
#define GEOSTORM_CLI_LOCAL_COMMAND_H_

#include <map>
#include <string>

#include "CLI/CLI.hpp"

namespace geostorm::cli {

struct LocalFlags {
  std::string topology;
  std::string strategy = "netstorm";
  double model_mb = 10;
  int64_t chunk_bytes = 0;  // 0: core::AutoChunkBytes of the model
  int iterations = 20;
  int workers = 1;                 // per DC
  std::string prometheus;          // base URL; empty: the sidecars' own reports
  bool prometheus_server = false;  // run Prometheus here (out/prometheus) and read the matrix from it
  int interval_ms = 2000;          // reconcile interval
  double min_improvement = 0.10;
  int timeout_ms = 0;  // an iteration fails after this long; 0: the sidecar's default
  std::string out_dir = "results/local";
  bool wan = false;           // run on an emulated WAN of namespaces (root)
  double scale = 1;           // every rate of the topology times this
  double period_s = 0;        // dynamic topologies: the redraw period (0: the file's)
  std::string tag = "local";  // the WAN's namespaces are gs<tag>-*
  // Ablations and baselines.
  std::string star_root;       // star: the parameter server's DC
  bool multipath = true;       // netstorm: aux relay routes
  bool uniform_guess = false;  // plan from every link at the mean rate, never re-plan
  bool replan = true;          // the controller re-plans from measured links
  std::string worker_command;  // the workers to run (sh -c); empty: geostorm-synthetic-worker
  // Training (with --worker-command): the sync mode (control/sync_schedule.h), ESync's
  // local steps for the slowest DC, the averaged delta's step size, and DC -> how
  // many times slower its workers compute.
  std::string mode = "bsp";
  int local_steps = 1;
  double global_lr = 1;
  std::map<std::string, double> slowdown;
};

void AddLocalCommand(CLI::App& app, LocalFlags& flags);
int RunLocal(const LocalFlags& flags);

}  // namespace geostorm::cli

#endif  // GEOSTORM_CLI_LOCAL_COMMAND_H_
