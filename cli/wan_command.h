// `geostorm wan`: an emulated WAN (testbed/emulated_wan.h) for programs that are not
// geostorm's, such as the Gloo and Open MPI peers of the head-to-head benchmark.
//
//   geostorm wan up --topology klonet-9dc.yaml --scale 0.2 --tag b1 &   # holds it up
//   ip netns exec gsb1-dc3 ...                                           # dc3, 10.77.0.3
//   kill -INT %1                                                         # tears it down
//   geostorm wan down --tag b1                                           # after a kill -9
//
// `up` prints "ready" once every link is shaped. A dynamic topology is redrawn every
// period (`--period-s` shortens the file's) until the command is stopped.
#ifndef GEOSTORM_CLI_WAN_COMMAND_H_
#define GEOSTORM_CLI_WAN_COMMAND_H_

#include <string>

#include "CLI/CLI.hpp"

namespace geostorm::cli {

struct WanFlags {
  std::string topology;
  std::string tag = "0";
  double scale = 1;
  double period_s = 0;  // 0: the topology file's period
};

void AddWanCommand(CLI::App& app, WanFlags& flags);
int RunWan(CLI::App& app, const WanFlags& flags);

}  // namespace geostorm::cli

#endif  // GEOSTORM_CLI_WAN_COMMAND_H_
