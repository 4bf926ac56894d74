// `geostorm local`: runs a job on this machine. It starts the policy controller
// (in this process), one gateway sidecar per DC (plus W-1 member sidecars) and
// synthetic workers, waits for the iterations with a progress bar, and prints
// the measured iteration times against T_min and the prediction. Logs, the
// rollout state and summary.json go to the output directory.
//
//   geostorm local --topology examples/topologies/klonet-9dc.yaml --model-mb 10 --iterations 20
#ifndef GEOSTORM_CLI_LOCAL_COMMAND_H_
#define GEOSTORM_CLI_LOCAL_COMMAND_H_

#include <string>

#include "CLI/CLI.hpp"

namespace geostorm::cli {

struct LocalFlags {
  std::string topology;
  std::string strategy = "netstorm";
  double model_mb = 10;
  int iterations = 20;
  int workers = 1;         // per DC
  std::string prometheus;  // base URL; empty: the sidecars' own reports
  int interval_ms = 2000;  // reconcile interval
  double min_improvement = 0.10;
  int timeout_ms = 60000;  // an iteration fails after this long
  std::string out_dir = "results/local";
};

void AddLocalCommand(CLI::App& app, LocalFlags& flags);
int RunLocal(const LocalFlags& flags);

}  // namespace geostorm::cli

#endif  // GEOSTORM_CLI_LOCAL_COMMAND_H_
