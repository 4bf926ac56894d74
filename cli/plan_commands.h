// `geostorm plan` and `geostorm simulate`: plan a topology with one strategy and
// print the policy, or compare strategies in the flow-level simulator.
#ifndef GEOSTORM_CLI_PLAN_COMMANDS_H_
#define GEOSTORM_CLI_PLAN_COMMANDS_H_

#include <string>
#include <vector>

#include "CLI/CLI.hpp"

namespace geostorm::cli {

// Where the network comes from: a topology file, or a generated random mesh.
struct NetworkFlags {
  std::string topology;
  int random_mesh = 0;
  uint64_t seed = 1;
  double model_mb = 100;
  int chunk_kb = 0;  // 0: AutoChunkBytes(model)
  int roots = 0;
  int star_root = -1;
  bool no_multipath = false;
};

struct PlanFlags {
  NetworkFlags network;
  std::string strategy = "netstorm";
  std::string format = "text";  // text, dot, json, yaml
};

struct SimulateFlags {
  NetworkFlags network;
  std::vector<std::string> strategies;
  bool json = false;
};

void AddPlanCommand(CLI::App& app, PlanFlags& flags);
void AddSimulateCommand(CLI::App& app, SimulateFlags& flags);

// Each returns the process exit code; errors go to stderr.
int RunPlan(const PlanFlags& flags);
int RunSimulate(const SimulateFlags& flags);

}  // namespace geostorm::cli

#endif  // GEOSTORM_CLI_PLAN_COMMANDS_H_
