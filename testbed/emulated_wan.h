// An emulated WAN on this machine: a topology brought up as network namespaces
// joined by veth pairs, with `tc htb` rate limits standing in for the WAN links.
//
// Every DC is a namespace gs<tag>-dc<i> (i from 1, in file order) whose address is
// 10.77.0.<i>, on a non-loopback device (Open MPI ignores loopback).
//   kind: mesh      a bridge namespace gs<tag>-hub joins all DCs; each DC's egress
//                   has one htb class per destination, chosen by a u32 filter on the
//                   destination address, so every ordered pair has its own rate.
//   kind: physical  a veth pair per link between the two DCs' namespaces, each end
//                   shaped by htb at that direction's rate. DCs route for each other:
//                   traffic between non-neighbours follows the same fastest paths
//                   that the planner and the simulator assume (core::BuildView with
//                   Overlay::kAllPairs), installed as static routes, per source where
//                   paths through one DC differ by source.
// Every htb class feeds a 64-packet fifo, as a router's queue would, and has a burst
// of at least rate/250 (TCP through htb needs it above 100 Mbit/s).
//
// The set-up is computed as a list of commands (pure, tested without root) and then
// run. Needs root. Not thread-safe; SetRates() may be called while traffic flows.
//
//   absl::StatusOr<std::unique_ptr<EmulatedWan>> wan = EmulatedWan::Up(topology, {"42"});
//   ip netns exec (*wan)->Namespace(0) ...     // dc1, reachable at DcAddress(0)
//   (*wan)->SetRates(topology.LinksAt(1));      // a dynamic topology's next period
//   wan->reset();                               // tears everything down
#ifndef GEOSTORM_TESTBED_EMULATED_WAN_H_
#define GEOSTORM_TESTBED_EMULATED_WAN_H_

#include <atomic>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "core/topology/topology.h"

namespace geostorm::testbed {

struct WanOptions {
  // Namespaces are gs<tag>-*: testbeds with different tags coexist. Keep it short
  // (at most 6 characters): it becomes part of interface names.
  std::string tag = "0";
  // A management network besides the WAN, unshaped, as monitoring has in real
  // deployments: a bridge gsm<tag> in this namespace at 10.78.N.254, and in each DC
  // a device `mgmt` at ManagementAddress(tag, dc). Prometheus scrapes over it.
  bool management = false;
};

// One command line, such as {"ip", "-n", "gs0-dc1", "link", "set", "lo", "up"}.
using Command = std::vector<std::string>;

std::string NamespaceName(const std::string& tag, int dc);
std::string DcAddress(int dc);  // "10.77.0.<dc + 1>"
// DC dc's address on the management network of the testbed tagged `tag`
// ("10.78.N.<dc + 1>", N from the tag), and this namespace's ("10.78.N.254", dc -1).
std::string ManagementAddress(const std::string& tag, int dc);

// The commands that build the testbed at the topology's (period 0) rates, in order.
[[nodiscard]] absl::StatusOr<std::vector<Command>> SetUpCommands(const core::Topology& topology,
                                                                 const WanOptions& options);
// The commands that change every link to `links`' rates, live.
std::vector<Command> RateCommands(const core::Topology& topology, const std::vector<core::DirectedLink>& links,
                                  const WanOptions& options);

class EmulatedWan {
 public:
  // Builds the testbed. On failure it removes whatever it made, and the status names
  // the command that failed and what it printed.
  [[nodiscard]] static absl::StatusOr<std::unique_ptr<EmulatedWan>> Up(const core::Topology& topology,
                                                                       const WanOptions& options);
  ~EmulatedWan();  // removes every namespace (and so every veth and qdisc)
  EmulatedWan(const EmulatedWan&) = delete;
  EmulatedWan& operator=(const EmulatedWan&) = delete;

  // Sets every link to `links`' rates (same order as Topology::links).
  [[nodiscard]] absl::Status SetRates(const std::vector<core::DirectedLink>& links);

  // For a dynamic topology: applies period p's rates at p * period_seconds from now
  // (p = 1, 2, ...) until `stop`, calling on_period(p) after each change. Returns at
  // once for a static one; otherwise when stopped or when a change fails.
  [[nodiscard]] absl::Status Redraw(double period_seconds, const std::atomic<bool>& stop,
                                    const std::function<void(int64_t)>& on_period);

  std::string Namespace(int dc) const { return NamespaceName(options_.tag, dc); }

 private:
  EmulatedWan(core::Topology topology, WanOptions options);

  core::Topology topology_;
  WanOptions options_;
};

// Removes every namespace whose name starts with gs<tag>- (what a killed run left).
// Returns how many it removed.
int TearDown(const std::string& tag);

}  // namespace geostorm::testbed

#endif  // GEOSTORM_TESTBED_EMULATED_WAN_H_
