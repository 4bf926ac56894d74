#include "cli/plan_commands.h"

#include <cstdio>
#include <iostream>

#include "absl/strings/str_format.h"
#include "core/lower_bound.h"
#include "core/planner/planner.h"
#include "core/policy/policy_codec.h"
#include "core/policy/policy_format.h"
#include "core/topology/topology.h"
#include "nlohmann/json.hpp"

namespace geostorm::cli {
namespace {

void AddNetworkFlags(CLI::App& cmd, NetworkFlags& f) {
  cmd.add_option("--topology", f.topology, "topology YAML file (kind: mesh or physical)");
  cmd.add_option("--random-mesh", f.random_mesh, "instead of a file: a random full mesh of N DCs (20-1000 Mbit/s)")
      ->check(CLI::Range(2, 1024));
  cmd.add_option("--seed", f.seed, "seed for --random-mesh");
  cmd.add_option("--model-mb", f.model_mb, "gradient size M in MB (10^6 bytes)")->check(CLI::PositiveNumber);
  cmd.add_option("--chunk-kb", f.chunk_kb, "chunk size C in KiB (default: about 512 chunks per model)")
      ->check(CLI::PositiveNumber);
  cmd.add_option("--roots", f.roots, "number of roots (netstorm-paper; 0 = strategy default)")
      ->check(CLI::NonNegativeNumber);
  cmd.add_option("--star-root", f.star_root, "star: index of the server DC (default: the best one)");
  cmd.add_flag("--no-multipath", f.no_multipath, "plan without aux relay routes");
}

absl::StatusOr<core::Topology> LoadNetwork(const NetworkFlags& f) {
  if (f.random_mesh > 0) return core::RandomMesh(f.random_mesh, f.seed, 20, 1000);
  if (f.topology.empty()) return absl::InvalidArgumentError("give --topology FILE or --random-mesh N");
  return core::LoadTopologyFile(f.topology);
}

core::PlanOptions OptionsOf(const NetworkFlags& f) {
  core::PlanOptions o;
  o.roots = f.roots;
  o.star_root = f.star_root;
  o.multipath = !f.no_multipath;
  return o;
}

int64_t ModelBytes(const NetworkFlags& f) { return static_cast<int64_t>(f.model_mb * 1e6); }
int64_t ChunkBytes(const NetworkFlags& f) {
  return f.chunk_kb > 0 ? static_cast<int64_t>(f.chunk_kb) * 1024 : core::AutoChunkBytes(ModelBytes(f));
}

int Fail(const absl::Status& s) {
  std::cerr << "geostorm: " << s.message() << "\n";
  return 1;
}

}  // namespace

void AddPlanCommand(CLI::App& app, PlanFlags& flags) {
  CLI::App* cmd = app.add_subcommand("plan", "plan a topology with one strategy and print the policy");
  AddNetworkFlags(*cmd, flags.network);
  cmd->add_option("--strategy", flags.strategy, "star, sharded-ps, ring, mlnet, tsengine, netstorm-paper, netstorm")
      ->check(CLI::IsMember(core::StrategyNames()));
  cmd->add_flag("--dot{dot}", flags.format, "print Graphviz DOT");
  cmd->add_flag("--json{json}", flags.format, "print JSON");
  cmd->add_flag("--yaml{yaml}", flags.format, "print YAML (what the sidecar loads)");
}

void AddSimulateCommand(CLI::App& app, SimulateFlags& flags) {
  CLI::App* cmd = app.add_subcommand("simulate", "compare strategies in the flow-level simulator");
  AddNetworkFlags(*cmd, flags.network);
  cmd->add_option("--strategies", flags.strategies, "comma-separated strategies (default: all)")
      ->delimiter(',')
      ->check(CLI::IsMember(core::StrategyNames()));
  cmd->add_flag("--json", flags.json, "print a JSON array, one object per strategy");
}

int RunPlan(const PlanFlags& flags) {
  absl::StatusOr<core::Topology> topology = LoadNetwork(flags.network);
  if (!topology.ok()) return Fail(topology.status());
  std::unique_ptr<core::Planner> planner = core::MakePlanner(flags.strategy);
  absl::StatusOr<core::NetworkView> view =
      core::BuildView(*topology, planner->overlay(), ModelBytes(flags.network), ChunkBytes(flags.network));
  if (!view.ok()) return Fail(view.status());
  absl::StatusOr<core::Policy> policy = planner->Plan(*view, OptionsOf(flags.network));
  if (!policy.ok()) return Fail(policy.status());
  if (flags.format == "dot") {
    std::cout << core::FormatPolicyDot(*policy, *view);
  } else if (flags.format == "json") {
    std::cout << core::ToJson(*policy) << "\n";
  } else if (flags.format == "yaml") {
    std::cout << core::ToYaml(*policy);
  } else {
    std::cout << core::FormatPolicyText(*policy, *view);
  }
  return 0;
}

int RunSimulate(const SimulateFlags& flags) {
  absl::StatusOr<core::Topology> topology = LoadNetwork(flags.network);
  if (!topology.ok()) return Fail(topology.status());
  std::vector<std::string> strategies = flags.strategies.empty() ? core::StrategyNames() : flags.strategies;
  // Speed-ups are over star, so plan it even when not asked for.
  const bool star_asked = std::find(strategies.begin(), strategies.end(), "star") != strategies.end();
  if (!star_asked) strategies.insert(strategies.begin(), "star");
  struct Row {
    std::string strategy;
    core::Policy policy;
  };
  std::vector<Row> rows;
  for (const std::string& s : strategies) {
    absl::StatusOr<core::Policy> policy = core::PlanTopology(*topology, s, ModelBytes(flags.network),
                                                             ChunkBytes(flags.network), OptionsOf(flags.network));
    if (!policy.ok())
      return Fail(absl::Status(policy.status().code(), s + ": " + std::string(policy.status().message())));
    rows.push_back({s, *std::move(policy)});
  }
  const double star = rows.front().policy.predicted_seconds;
  absl::StatusOr<core::NetworkView> view =
      core::BuildView(*topology, core::Overlay::kNeighbours, ModelBytes(flags.network), ChunkBytes(flags.network));
  if (!view.ok()) return Fail(view.status());
  const double t_agg = core::AggregationBoundSeconds(*view);
  if (!star_asked) rows.erase(rows.begin());

  if (flags.json) {
    nlohmann::ordered_json out = nlohmann::ordered_json::array();
    for (const Row& r : rows) {
      out.push_back({{"strategy", r.strategy},
                     {"predicted_s", r.policy.predicted_seconds},
                     {"t_min_s", r.policy.t_min_seconds},
                     {"ratio_to_t_min", r.policy.predicted_seconds / r.policy.t_min_seconds},
                     {"speedup_over_star", star / r.policy.predicted_seconds},
                     {"shards", r.policy.shards.size()},
                     {"aux_routes", r.policy.aux_routes.size()}});
    }
    std::cout << out.dump(2) << "\n";
    return 0;
  }
  const core::Policy& any = rows.front().policy;
  std::cout << absl::StrFormat("%s: %d DCs, M = %.1f MB, C = %d KiB, T_min = %.3f s, aggregation bound = %.3f s\n\n",
                               topology->name, topology->data_centers.size(), any.model_bytes / 1e6,
                               any.chunk_bytes / 1024, any.t_min_seconds, t_agg);
  std::cout << absl::StrFormat("%-16s %7s %5s %12s %9s %9s\n", "strategy", "shards", "aux", "predicted_s", "x T_min",
                               "vs star");
  for (const Row& r : rows) {
    std::cout << absl::StrFormat("%-16s %7d %5d %12.3f %9.2f %8.2fx\n", r.strategy, r.policy.shards.size(),
                                 r.policy.aux_routes.size(), r.policy.predicted_seconds,
                                 r.policy.predicted_seconds / r.policy.t_min_seconds,
                                 star / r.policy.predicted_seconds);
  }
  return 0;
}

}  // namespace geostorm::cli
