#include "cli/wan_command.h"

#include <atomic>
#include <csignal>
#include <iostream>
#include <thread>

#include "testbed/emulated_wan.h"

namespace geostorm::cli {
namespace {

std::atomic<bool> stopped{false};

}  // namespace

void AddWanCommand(CLI::App& app, WanFlags& flags) {
  CLI::App* wan = app.add_subcommand("wan", "an emulated WAN of network namespaces (needs root)");
  wan->require_subcommand(1);
  CLI::App* up = wan->add_subcommand("up", "bring a topology up and hold it until stopped (Ctrl-C)");
  up->add_option("--topology", flags.topology, "topology file")->required()->check(CLI::ExistingFile);
  up->add_option("--tag", flags.tag, "namespaces are gs<tag>-dc<i>");
  up->add_option("--scale", flags.scale, "multiply every rate by this")->check(CLI::PositiveNumber);
  up->add_option("--period-s", flags.period_s, "dynamic topologies: redraw period")->check(CLI::PositiveNumber);
  CLI::App* down = wan->add_subcommand("down", "remove the namespaces a killed run left");
  down->add_option("--tag", flags.tag, "namespaces are gs<tag>-dc<i>");
}

int RunWan(CLI::App& app, const WanFlags& flags) {
  if (app.get_subcommand("wan")->got_subcommand("down")) {
    std::cout << "removed " << testbed::TearDown(flags.tag) << " namespaces\n";
    return 0;
  }
  absl::StatusOr<core::Topology> topology = core::LoadTopologyFile(flags.topology);
  if (!topology.ok()) {
    std::cerr << "geostorm wan: " << topology.status().message() << "\n";
    return 2;
  }
  const core::Topology scaled = core::ScaleRates(*topology, flags.scale);
  absl::StatusOr<std::unique_ptr<testbed::EmulatedWan>> wan = testbed::EmulatedWan::Up(scaled, {flags.tag});
  if (!wan.ok()) {
    std::cerr << "geostorm wan: " << wan.status().message() << "\n";
    return 1;
  }
  std::signal(SIGINT, [](int) { stopped = true; });
  std::signal(SIGTERM, [](int) { stopped = true; });
  for (size_t i = 0; i < scaled.data_centers.size(); ++i) {
    std::cout << scaled.data_centers[i] << " " << (*wan)->Namespace(static_cast<int>(i)) << " "
              << testbed::DcAddress(static_cast<int>(i)) << "\n";
  }
  std::cout << "ready" << std::endl;
  const double period = flags.period_s > 0 ? flags.period_s : scaled.dynamic ? scaled.dynamic->period_seconds : 0;
  absl::Status redraw = (*wan)->Redraw(period, stopped, [](int64_t p) { std::cout << "period " << p << std::endl; });
  if (!redraw.ok()) std::cerr << "geostorm wan: " << redraw.message() << "\n";
  while (!stopped) std::this_thread::sleep_for(std::chrono::milliseconds(100));
  wan->reset();
  std::cout << "torn down" << std::endl;
  return redraw.ok() ? 0 : 1;
}

}  // namespace geostorm::cli
