#include "testbed/emulated_wan.h"

#include <algorithm>
#include <boost/process.hpp>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <iterator>
#include <map>
#include <set>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "core/network_view.h"
#include "core/status_macros.h"

namespace geostorm::testbed {
namespace {

namespace bp = boost::process;

constexpr int kQueuePackets = 64;

std::string Hex(int v) { return absl::StrCat(absl::Hex(v)); }

// The interface in `from`'s namespace that leads to neighbour `to` (physical).
std::string LinkDevice(int to) { return absl::StrCat("to-dc", to + 1); }

// htb rate and burst for a rate in Mbit/s.
std::vector<std::string> HtbRate(double mbps) {
  const int64_t kbit = std::max<int64_t>(1, std::llround(mbps * 1000));
  const int64_t burst = std::max<int64_t>(32000, kbit * 1000 / 8 / 250);
  return {"htb", "rate", absl::StrCat(kbit, "kbit"), "burst", std::to_string(burst), "cburst", std::to_string(burst)};
}

Command Tc(const std::string& ns, std::vector<std::string> args) {
  Command c = {"tc", "-n", ns};
  c.insert(c.end(), args.begin(), args.end());
  return c;
}

Command Ip(const std::string& ns, std::vector<std::string> args) {
  Command c = {"ip", "-n", ns};
  c.insert(c.end(), args.begin(), args.end());
  return c;
}

// A shaped class `classid` under the htb root of `dev`, with a router-sized queue.
void AddShapedClass(std::vector<Command>& out, const std::string& ns, const std::string& dev, int minor, double mbps) {
  std::vector<std::string> add = {"class",  "add", "dev",     dev,
                                  "parent", "1:",  "classid", absl::StrCat("1:", Hex(minor))};
  for (std::string& a : HtbRate(mbps)) add.push_back(std::move(a));
  out.push_back(Tc(ns, add));
  out.push_back(Tc(ns, {"qdisc", "add", "dev", dev, "parent", absl::StrCat("1:", Hex(minor)), "handle",
                        absl::StrCat(Hex(minor + 0x100), ":"), "pfifo", "limit", std::to_string(kQueuePackets)}));
}

void AddNamespace(std::vector<Command>& out, const std::string& ns, bool router) {
  out.push_back({"ip", "netns", "add", ns});
  out.push_back(Ip(ns, {"link", "set", "lo", "up"}));
  // A loss-based congestion control, not the host's default (BBR here): with no
  // propagation delay to emulate, BBR's window (twice bandwidth x min RTT)
  // collapses to a few packets while the acknowledgements wait behind the reverse
  // direction's data, and a link loaded both ways runs at 60-80% of its rate.
  // Reno, because a namespace may only pick from tcp_allowed_congestion_control.
  Command sysctl = {"ip", "netns", "exec", ns, "sysctl", "-qw", "net.ipv4.tcp_congestion_control=reno"};
  if (router) {
    sysctl.insert(sysctl.end(),
                  {"net.ipv4.ip_forward=1", "net.ipv4.conf.all.rp_filter=0", "net.ipv4.conf.default.rp_filter=0"});
  }
  out.push_back(std::move(sysctl));
}

void MeshCommands(const core::Topology& t, const WanOptions& o, std::vector<Command>& out) {
  const std::string hub = absl::StrCat("gs", o.tag, "-hub");
  AddNamespace(out, hub, false);
  out.push_back(Ip(hub, {"link", "add", "br0", "type", "bridge"}));
  out.push_back(Ip(hub, {"link", "set", "br0", "up"}));
  const int n = static_cast<int>(t.data_centers.size());
  for (int i = 0; i < n; ++i) {
    const std::string ns = NamespaceName(o.tag, i), port = absl::StrCat("dc", i + 1);
    AddNamespace(out, ns, false);
    out.push_back({"ip", "link", "add", "hub", "netns", ns, "type", "veth", "peer", "name", port, "netns", hub});
    out.push_back(Ip(ns, {"addr", "add", DcAddress(i) + "/24", "dev", "hub"}));
    out.push_back(Ip(ns, {"link", "set", "hub", "up"}));
    out.push_back(Ip(hub, {"link", "set", port, "master", "br0", "up"}));
    out.push_back(Tc(ns, {"qdisc", "add", "dev", "hub", "root", "handle", "1:", "htb"}));
  }
  for (const core::DirectedLink& l : t.links) {
    const std::string ns = NamespaceName(o.tag, l.from);
    AddShapedClass(out, ns, "hub", l.to + 1, l.mbps);
    out.push_back(Tc(ns, {"filter", "add", "dev", "hub", "parent", "1:", "protocol", "ip", "prio", "1", "u32", "match",
                          "ip", "dst", DcAddress(l.to) + "/32", "flowid", absl::StrCat("1:", Hex(l.to + 1))}));
  }
}

// The DCs a packet from u to v passes, u and v included, on the view's route.
std::vector<int> PathOf(const core::NetworkView& view, int u, int v) {
  std::vector<int> path = {u};
  for (int r : view.link(u, v).resources) path.push_back(view.resources()[r].to);
  return path;
}

absl::Status PhysicalCommands(const core::Topology& t, const WanOptions& o, std::vector<Command>& out) {
  const int n = static_cast<int>(t.data_centers.size());
  for (int i = 0; i < n; ++i) {
    const std::string ns = NamespaceName(o.tag, i);
    AddNamespace(out, ns, true);
    // The DC's own address sits on one end of a veth pair inside the namespace.
    out.push_back(Ip(ns, {"link", "add", "home", "type", "veth", "peer", "name", "home-peer"}));
    out.push_back(Ip(ns, {"addr", "add", DcAddress(i) + "/32", "dev", "home"}));
    out.push_back(Ip(ns, {"link", "set", "home", "up"}));
    out.push_back(Ip(ns, {"link", "set", "home-peer", "up"}));
  }
  std::set<std::pair<int, int>> made;
  for (const core::DirectedLink& l : t.links) {
    if (!made.insert({std::min(l.from, l.to), std::max(l.from, l.to)}).second) continue;
    const std::string a = NamespaceName(o.tag, l.from), b = NamespaceName(o.tag, l.to);
    out.push_back({"ip", "link", "add", LinkDevice(l.to), "netns", a, "type", "veth", "peer", "name",
                   LinkDevice(l.from), "netns", b});
    out.push_back(Ip(a, {"link", "set", LinkDevice(l.to), "up"}));
    out.push_back(Ip(b, {"link", "set", LinkDevice(l.from), "up"}));
  }
  for (const core::DirectedLink& l : t.links) {
    const std::string ns = NamespaceName(o.tag, l.from), dev = LinkDevice(l.to);
    out.push_back(Tc(ns, {"qdisc", "add", "dev", dev, "root", "handle", "1:", "htb", "default", "1"}));
    AddShapedClass(out, ns, dev, 1, l.mbps);
  }

  absl::StatusOr<core::NetworkView> view = core::BuildView(t, core::Overlay::kAllPairs, 1, 1);
  if (!view.ok()) return view.status();
  std::set<std::pair<int, int>> rules;  // (DC, source) pairs with a per-source table
  for (int u = 0; u < n; ++u) {
    for (int v = 0; v < n; ++v) {
      if (u == v) continue;
      const std::vector<int> path = PathOf(*view, u, v);
      for (size_t k = 0; k + 1 < path.size(); ++k) {
        const int at = path[k], next = path[k + 1];
        Command route = Ip(NamespaceName(o.tag, at), {"route", "add", DcAddress(v) + "/32", "via", DcAddress(next),
                                                      "dev", LinkDevice(next), "onlink"});
        if (k == 0) {
          route.insert(route.end(), {"src", DcAddress(u)});
        } else {
          // Transit: the route of u's traffic, which may differ from this DC's own.
          route.insert(route.end(), {"table", std::to_string(100 + u)});
          if (rules.insert({at, u}).second) {
            out.push_back(Ip(NamespaceName(o.tag, at), {"rule", "add", "from", DcAddress(u) + "/32", "table",
                                                        std::to_string(100 + u), "pref", "100"}));
          }
        }
        out.push_back(std::move(route));
      }
    }
  }
  return absl::OkStatus();
}

// A program's full path: ip and tc live in /usr/sbin, which a user's PATH may lack.
std::string Which(const std::string& name) {
  for (const char* dir : {"/usr/sbin", "/sbin", "/usr/bin", "/bin"}) {
    const std::filesystem::path p = std::filesystem::path(dir) / name;
    if (std::filesystem::exists(p)) return p.string();
  }
  return name;
}

// Runs a command; its output, if it fails, goes into the status.
absl::Status Run(const Command& command) {
  try {
    bp::ipstream err;
    bp::child child(Which(command.front()), std::vector<std::string>(command.begin() + 1, command.end()),
                    bp::std_out > bp::null, bp::std_err > err, bp::std_in < bp::null);
    std::string message((std::istreambuf_iterator<char>(err)), std::istreambuf_iterator<char>());
    child.wait();
    if (child.exit_code() != 0) {
      while (!message.empty() && message.back() == '\n') message.pop_back();
      return absl::InternalError(absl::StrCat("`", absl::StrJoin(command, " "), "` failed: ", message));
    }
  } catch (const std::exception& e) {
    return absl::InternalError(absl::StrCat("`", absl::StrJoin(command, " "), "`: ", e.what()));
  }
  return absl::OkStatus();
}

}  // namespace

std::string NamespaceName(const std::string& tag, int dc) { return absl::StrCat("gs", tag, "-dc", dc + 1); }

std::string DcAddress(int dc) { return absl::StrCat("10.77.0.", dc + 1); }

std::string ManagementAddress(const std::string& tag, int dc) {
  int subnet = 0;  // testbeds with different tags get different subnets here
  for (unsigned char c : tag) subnet = (subnet * 31 + c) % 250;
  return absl::StrCat("10.78.", subnet, ".", dc < 0 ? 254 : dc + 1);
}

namespace {

// The management network: a bridge here, a veth into every DC.
void ManagementCommands(const core::Topology& topology, const WanOptions& o, std::vector<Command>& out) {
  const std::string bridge = absl::StrCat("gsm", o.tag);
  out.push_back({"ip", "link", "add", bridge, "type", "bridge"});
  out.push_back({"ip", "addr", "add", ManagementAddress(o.tag, -1) + "/24", "dev", bridge});
  out.push_back({"ip", "link", "set", bridge, "up"});
  for (int i = 0; i < static_cast<int>(topology.data_centers.size()); ++i) {
    const std::string ns = NamespaceName(o.tag, i), here = absl::StrCat("gm", o.tag, "-", i + 1);
    out.push_back({"ip", "link", "add", here, "type", "veth", "peer", "name", "mgmt", "netns", ns});
    out.push_back({"ip", "link", "set", here, "master", bridge, "up"});
    out.push_back(Ip(ns, {"addr", "add", ManagementAddress(o.tag, i) + "/24", "dev", "mgmt"}));
    out.push_back(Ip(ns, {"link", "set", "mgmt", "up"}));
  }
}

}  // namespace

absl::StatusOr<std::vector<Command>> SetUpCommands(const core::Topology& topology, const WanOptions& options) {
  if (topology.data_centers.size() > 250) {
    return absl::InvalidArgumentError(
        absl::StrCat("topology ", topology.name, ": an emulated WAN holds at most 250 DCs"));
  }
  if (options.tag.empty() || options.tag.size() > 6) {
    return absl::InvalidArgumentError(absl::StrCat("testbed tag '", options.tag, "': use 1 to 6 characters"));
  }
  std::vector<Command> out;
  if (topology.kind == core::TopologyKind::kMesh) {
    MeshCommands(topology, options, out);
  } else if (absl::Status s = PhysicalCommands(topology, options, out); !s.ok()) {
    return s;
  }
  if (options.management) ManagementCommands(topology, options, out);
  return out;
}

std::vector<Command> RateCommands(const core::Topology& topology, const std::vector<core::DirectedLink>& links,
                                  const WanOptions& options) {
  std::vector<Command> out;
  const bool mesh = topology.kind == core::TopologyKind::kMesh;
  for (const core::DirectedLink& l : links) {
    const int minor = mesh ? l.to + 1 : 1;
    std::vector<std::string> change = {"class",  "change", "dev",     mesh ? "hub" : LinkDevice(l.to),
                                       "parent", "1:",     "classid", absl::StrCat("1:", Hex(minor))};
    for (std::string& a : HtbRate(l.mbps)) change.push_back(std::move(a));
    out.push_back(Tc(NamespaceName(options.tag, l.from), change));
  }
  return out;
}

absl::StatusOr<std::unique_ptr<EmulatedWan>> EmulatedWan::Up(const core::Topology& topology,
                                                             const WanOptions& options) {
  absl::StatusOr<std::vector<Command>> commands = SetUpCommands(topology, options);
  if (!commands.ok()) return commands.status();
  TearDown(options.tag);  // leftovers of a killed run with the same tag
  std::unique_ptr<EmulatedWan> wan(new EmulatedWan(topology, options));
  for (const Command& c : *commands) {
    RETURN_IF_ERROR(Run(c));  // `wan` tears down what was made
  }
  return wan;
}

EmulatedWan::EmulatedWan(core::Topology topology, WanOptions options)
    : topology_(std::move(topology)), options_(std::move(options)) {}

EmulatedWan::~EmulatedWan() { TearDown(options_.tag); }

absl::Status EmulatedWan::SetRates(const std::vector<core::DirectedLink>& links) {
  for (const Command& c : RateCommands(topology_, links, options_)) {
    RETURN_IF_ERROR(Run(c));
  }
  return absl::OkStatus();
}

absl::Status EmulatedWan::Redraw(double period_seconds, const std::atomic<bool>& stop,
                                 const std::function<void(int64_t)>& on_period) {
  if (!topology_.dynamic) return absl::OkStatus();
  const auto start = std::chrono::steady_clock::now();
  for (int64_t period = 1;; ++period) {
    const auto due = start + std::chrono::duration<double>(period_seconds * static_cast<double>(period));
    while (std::chrono::steady_clock::now() < due) {
      if (stop) return absl::OkStatus();
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    RETURN_IF_ERROR(SetRates(topology_.LinksAt(period)));
    on_period(period);
  }
}

int TearDown(const std::string& tag) {
  const std::string prefix = absl::StrCat("gs", tag, "-");
  int removed = 0;
  std::error_code ec;
  std::vector<std::string> names;  // `ip netns list` reads the same directory
  for (const auto& entry : std::filesystem::directory_iterator("/run/netns", ec)) {
    const std::string name = entry.path().filename().string();
    if (name.rfind(prefix, 0) == 0) names.push_back(name);
  }
  for (const std::string& name : names) removed += Run({"ip", "netns", "del", name}).ok();
  // The management bridge, if there was one (its veths went with the namespaces).
  if (std::filesystem::exists(absl::StrCat("/sys/class/net/gsm", tag))) {
    Run({"ip", "link", "del", absl::StrCat("gsm", tag)}).IgnoreError();
  }
  return removed;
}

}  // namespace geostorm::testbed
