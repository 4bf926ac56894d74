// Planning time and plan quality against the number of DCs.
//
// For random meshes and sparse physical WANs (a ring plus chords, 4 links per DC on
// average) of 16 to 256 DCs with a 1 GB model: the time netstorm takes to plan,
// the plan's simulated iteration time against T_min, the time to simulate it once,
// and, where it can run in reasonable time, the full method's simulated time
// (column generation to convergence and the LP at any size).
// Then the simulator's cost against the number of chunks, on the 64- and 256-DC
// meshes, each plan made for its chunk size.
// Goals: 64 DCs planned in under 100 ms, 256 in under 5 s, within 5% of the full
// method; 256 DCs with 1 GB simulated in under 5 s.
//   planner_scale [--max-dcs 256] [--full-max-dcs 32] [--full-max-physical-dcs 64] [--json FILE]
#include <chrono>
#include <cstdio>
#include <fstream>
#include <optional>
#include <string>

#include "CLI/CLI.hpp"
#include "absl/strings/str_format.h"
#include "core/network_view.h"
#include "core/planner/planner.h"
#include "core/sim/simulator.h"
#include "nlohmann/json.hpp"

namespace {

using geostorm::core::NetworkView;
using geostorm::core::PlanOptions;
using geostorm::core::Policy;

constexpr int64_t kModel = 1'000'000'000;
constexpr uint64_t kSeed = 7;

double SecondsSince(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

struct Timed {
  Policy policy;
  double seconds = 0;
};

// The fastest of `repeats` plans (the machine is noisy; planning is deterministic).
std::optional<Timed> TimePlan(const geostorm::core::Planner& planner, const NetworkView& view,
                              const PlanOptions& options, int repeats) {
  std::optional<Timed> best;
  for (int i = 0; i < repeats; ++i) {
    const auto start = std::chrono::steady_clock::now();
    absl::StatusOr<Policy> p = planner.Plan(view, options);
    const double seconds = SecondsSince(start);
    if (!p.ok()) {
      std::fprintf(stderr, "planner_scale: %s\n", std::string(p.status().message()).c_str());
      return std::nullopt;
    }
    if (!best || seconds < best->seconds) best = Timed{*std::move(p), seconds};
  }
  return best;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"netstorm's planning time and plan quality against the number of DCs"};
  int max_dcs = 256;
  int full_max_dcs = 32;
  int full_max_physical_dcs = 64;
  std::string json_path;
  app.add_option("--max-dcs", max_dcs, "largest WAN planned");
  app.add_option("--full-max-dcs", full_max_dcs, "largest mesh the full method is run on");
  app.add_option("--full-max-physical-dcs", full_max_physical_dcs,
                 "largest sparse physical WAN the full method is run on (its LP has a row per physical link)");
  app.add_option("--json", json_path, "write the results here");
  CLI11_PARSE(app, argc, argv);

  const std::unique_ptr<geostorm::core::Planner> planner = geostorm::core::MakePlanner("netstorm");
  PlanOptions full;
  full.full_packing = true;
  nlohmann::json results = nlohmann::json::array();
  std::printf("%-16s %5s %9s %9s %8s %10s %9s\n", "topology", "DCs", "plan s", "x T_min", "sim s", "full x", "vs full");
  for (const char* kind : {"random-mesh", "random-physical"}) {
    for (int n : {16, 32, 64, 128, 256}) {
      if (n > max_dcs) break;
      const bool mesh = std::string(kind) == "random-mesh";
      const geostorm::core::Topology topology =
          mesh ? geostorm::core::RandomMesh(n, kSeed, 20, 1000) : geostorm::core::RandomPhysical(n, 4, kSeed, 20, 1000);
      absl::StatusOr<NetworkView> view =
          geostorm::core::BuildView(topology, planner->overlay(), kModel, geostorm::core::AutoChunkBytes(kModel));
      if (!view.ok()) {
        std::fprintf(stderr, "planner_scale: %s\n", std::string(view.status().message()).c_str());
        return 1;
      }
      const std::optional<Timed> plan = TimePlan(*planner, *view, {}, n <= 64 ? 3 : 1);
      if (!plan) return 1;
      auto start = std::chrono::steady_clock::now();
      if (!geostorm::core::Simulate(*view, plan->policy).ok()) return 1;
      const double simulate_s = SecondsSince(start);
      std::optional<Timed> best;
      if (n <= (mesh ? full_max_dcs : full_max_physical_dcs)) best = TimePlan(*planner, *view, full, 1);
      const double t_min = plan->policy.t_min_seconds;
      nlohmann::json row = {{"topology", kind},
                            {"dcs", n},
                            {"plan_s", plan->seconds},
                            {"simulated_s", plan->policy.predicted_seconds},
                            {"t_min_s", t_min},
                            {"simulate_s", simulate_s},
                            {"chunks", view->num_chunks()},
                            {"shards", plan->policy.shards.size()},
                            {"full_method_simulated_s", nullptr},
                            {"full_method_plan_s", nullptr}};
      if (best) {
        row["full_method_simulated_s"] = best->policy.predicted_seconds;
        row["full_method_plan_s"] = best->seconds;
      }
      const std::string full_ratio = best ? absl::StrFormat("%.3f", best->policy.predicted_seconds / t_min) : "-";
      const std::string vs_full =
          best ? absl::StrFormat("%.3f", plan->policy.predicted_seconds / best->policy.predicted_seconds) : "-";
      std::printf("%-16s %5d %9.3f %9.3f %8.3f %10s %9s\n", kind, n, plan->seconds,
                  plan->policy.predicted_seconds / t_min, simulate_s, full_ratio.c_str(), vs_full.c_str());
      std::fflush(stdout);
      results.push_back(std::move(row));
    }
  }
  nlohmann::json simulator = nlohmann::json::array();
  std::printf("\nthe simulator's cost against chunks (random mesh, 1 GB)\n%5s %8s %8s %9s\n", "DCs", "chunks", "sim s",
              "x T_min");
  for (int n : {64, 256}) {
    if (n > max_dcs) break;
    for (int64_t chunks : {256, 512, 1024, 2048, 4096}) {
      absl::StatusOr<NetworkView> view = geostorm::core::BuildView(geostorm::core::RandomMesh(n, kSeed, 20, 1000),
                                                                   planner->overlay(), kModel, kModel / chunks);
      if (!view.ok()) return 1;
      absl::StatusOr<Policy> policy = planner->Plan(*view, {});
      if (!policy.ok()) return 1;
      const auto start = std::chrono::steady_clock::now();
      if (!geostorm::core::Simulate(*view, *policy).ok()) return 1;
      const double simulate_s = SecondsSince(start);
      const double vs_t_min = policy->predicted_seconds / policy->t_min_seconds;
      std::printf("%5d %8lld %8.3f %9.3f\n", n, static_cast<long long>(view->num_chunks()), simulate_s, vs_t_min);
      std::fflush(stdout);
      simulator.push_back(
          {{"dcs", n}, {"chunks", view->num_chunks()}, {"simulate_s", simulate_s}, {"simulated_x_t_min", vs_t_min}});
    }
  }
  if (!json_path.empty()) {
    std::ofstream(json_path)
        << nlohmann::json{{"model_bytes", kModel}, {"results", results}, {"simulator", simulator}}.dump(2) << "\n";
  }
  return 0;
}
