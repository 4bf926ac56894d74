#include "testbed/emulated_wan.h"

#include <gtest/gtest.h>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

#include <map>
#include <set>

#include "absl/strings/str_cat.h"
#include "core/network_view.h"

namespace geostorm::testbed {
namespace {

std::string Data(const std::string& name) { return std::string(GEOSTORM_DATA_DIR) + "/" + name; }

core::Topology Load(const std::string& name) {
  absl::StatusOr<core::Topology> t = core::LoadTopologyFile(Data(name));
  EXPECT_TRUE(t.ok()) << t.status();
  return *t;
}

// The value after `key` in a command, or "".
std::string After(const Command& c, const std::string& key) {
  for (size_t i = 0; i + 1 < c.size(); ++i) {
    if (c[i] == key) return c[i + 1];
  }
  return "";
}

bool Has(const Command& c, const std::string& word) { return std::find(c.begin(), c.end(), word) != c.end(); }

// What the commands build, read back the way the kernel would use it.
struct Built {
  std::map<std::string, std::map<std::string, std::string>> rate;  // namespace -> device/class -> rate
  // namespace -> table -> destination -> next-hop address; "main" for the main table.
  std::map<std::string, std::map<std::string, std::map<std::string, std::string>>> routes;
  std::map<std::string, std::map<std::string, std::string>> rules;  // namespace -> source -> table
  std::set<std::pair<std::string, std::string>> neighbours;         // namespaces joined by a veth
};

Built Interpret(const std::vector<Command>& commands) {
  Built b;
  for (const Command& c : commands) {
    const std::string ns = After(c, "-n");
    if (c[0] == "tc" && Has(c, "class")) b.rate[ns][After(c, "dev") + "/" + After(c, "classid")] = After(c, "rate");
    if (c[0] == "ip" && Has(c, "route")) {
      const std::string table = Has(c, "table") ? After(c, "table") : "main";
      b.routes[ns][table][After(c, "add")] = After(c, "via");
    }
    if (c[0] == "ip" && Has(c, "rule")) b.rules[ns][After(c, "from")] = After(c, "table");
    if (c[0] == "ip" && Has(c, "veth") && After(c, "-n").empty()) {
      const std::string a = After(c, "netns"), peer = c[std::find(c.begin(), c.end(), "peer") - c.begin() + 4];
      b.neighbours.insert({a, peer});
      b.neighbours.insert({peer, a});
    }
  }
  return b;
}

TEST(EmulatedWan, MeshShapesEveryOrderedPairOnItsOwnClass) {
  const core::Topology t = Load("mesh-5dc-hetero.yaml");
  absl::StatusOr<std::vector<Command>> commands = SetUpCommands(t, {"x"});
  ASSERT_TRUE(commands.ok()) << commands.status();
  const Built b = Interpret(*commands);
  int filters = 0;
  for (const Command& c : *commands) filters += Has(c, "u32");
  EXPECT_EQ(filters, 20);  // 5 x 4 ordered pairs
  for (const core::DirectedLink& l : t.links) {
    const std::string ns = NamespaceName("x", l.from);
    EXPECT_EQ(b.rate.at(ns).at(absl::StrCat("hub/1:", l.to + 1)), absl::StrCat(std::llround(l.mbps * 1000), "kbit"))
        << ns << " -> dc" << l.to + 1;
  }
}

TEST(EmulatedWan, PhysicalRoutesFollowThePlannersPathsHopByHop) {
  const core::Topology t = Load("klonet-9dc.yaml");
  absl::StatusOr<std::vector<Command>> commands = SetUpCommands(t, {"x"});
  ASSERT_TRUE(commands.ok()) << commands.status();
  const Built b = Interpret(*commands);
  absl::StatusOr<core::NetworkView> view = core::BuildView(t, core::Overlay::kAllPairs, 1, 1);
  ASSERT_TRUE(view.ok());
  const int n = static_cast<int>(t.data_centers.size());
  std::map<std::string, int> by_address;
  for (int i = 0; i < n; ++i) by_address[DcAddress(i)] = i;
  int multi_hop = 0;
  for (int u = 0; u < n; ++u) {
    for (int v = 0; v < n; ++v) {
      if (u == v) continue;
      // Walk a packet from u to v: u's main table, then each transit DC's rule for u.
      std::vector<int> walked = {u};
      for (int at = u; at != v && walked.size() <= static_cast<size_t>(n);) {
        const std::string ns = NamespaceName("x", at);
        const std::string table = at == u ? "main" : b.rules.at(ns).at(DcAddress(u) + "/32");
        const std::string next = b.routes.at(ns).at(table).at(DcAddress(v) + "/32");
        ASSERT_TRUE(b.neighbours.count({ns, NamespaceName("x", by_address.at(next))})) << ns << " -> " << next;
        at = by_address.at(next);
        walked.push_back(at);
      }
      std::vector<int> planned = {u};
      for (int r : view->link(u, v).resources) planned.push_back(view->resources()[r].to);
      EXPECT_EQ(walked, planned) << "dc" << u + 1 << " -> dc" << v + 1;
      multi_hop += planned.size() > 2;
    }
  }
  EXPECT_GT(multi_hop, 40);  // most pairs of klonet-9dc are routed through other DCs
  // Each direction of each link is shaped at its own rate, on the sender's end.
  for (const core::DirectedLink& l : t.links) {
    EXPECT_EQ(b.rate.at(NamespaceName("x", l.from)).at(absl::StrCat("to-dc", l.to + 1, "/1:1")),
              absl::StrCat(std::llround(l.mbps * 1000), "kbit"));
  }
}

TEST(EmulatedWan, RateChangesReachEveryDirectionWithABurstForTcp) {
  const core::Topology t = core::ScaleRates(Load("klonet-9dc-dynamic.yaml"), 0.5);
  const std::vector<core::DirectedLink> next = t.LinksAt(1);
  const std::vector<Command> commands = RateCommands(t, next, {"x"});
  ASSERT_EQ(commands.size(), next.size());
  for (size_t i = 0; i < next.size(); ++i) {
    EXPECT_TRUE(Has(commands[i], "change"));
    EXPECT_EQ(After(commands[i], "-n"), NamespaceName("x", next[i].from));
    EXPECT_EQ(After(commands[i], "rate"), absl::StrCat(std::llround(next[i].mbps * 1000), "kbit"));
    EXPECT_GE(std::stod(After(commands[i], "burst")), next[i].mbps * 1e6 / 8 / 250);
  }
}

TEST(EmulatedWan, RefusesATagThatDoesNotFitInterfaceNames) {
  absl::StatusOr<std::vector<Command>> commands = SetUpCommands(Load("klonet-9dc.yaml"), {"much-too-long"});
  ASSERT_FALSE(commands.ok());
  EXPECT_NE(std::string(commands.status().message()).find("much-too-long"), std::string::npos);
}

TEST(EmulatedWan, AManagementNetworkReachesEveryDcBesideTheWan) {
  absl::StatusOr<core::Topology> t =
      core::ParseTopology("kind: mesh\ndataCenters: [a, b, c]\ndefaultMbps: 100\n", "mesh");
  ASSERT_TRUE(t.ok());
  auto joined = [](const std::vector<Command>& commands) {
    std::string all;
    for (const Command& c : commands) all += absl::StrJoin(c, " ") + "\n";
    return all;
  };
  const std::string without = joined(*SetUpCommands(*t, {"x"}));
  EXPECT_EQ(without.find("mgmt"), std::string::npos);
  const std::string with = joined(*SetUpCommands(*t, {"x", true}));
  EXPECT_NE(with.find("ip link add gsmx type bridge"), std::string::npos) << with;
  for (int i = 0; i < 3; ++i) {
    EXPECT_NE(with.find(absl::StrCat("ip -n gsx-dc", i + 1, " addr add ", ManagementAddress("x", i), "/24 dev mgmt")),
              std::string::npos)
        << with;
  }
  EXPECT_NE(ManagementAddress("x", 0), ManagementAddress("y", 0));  // two testbeds, two subnets
  EXPECT_EQ(ManagementAddress("x", -1).substr(ManagementAddress("x", -1).rfind('.')), ".254");
}

}  // namespace
}  // namespace geostorm::testbed
