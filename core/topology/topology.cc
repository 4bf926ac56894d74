#include "core/topology/topology.h"

#include <algorithm>
#include <fstream>
#include <map>
#include <set>
#include <sstream>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "yaml-cpp/yaml.h"

namespace geostorm::core {
namespace {

// Thrown inside the parser only, and turned into a Status at its edge.
struct ParseError {
  std::string message;
};

std::string Where(const std::string& source, const YAML::Node& node, const std::string& field) {
  const YAML::Mark mark = node.Mark();
  if (mark.line < 0) return absl::StrCat(source, ": field '", field, "'");
  return absl::StrCat(source, ":", mark.line + 1, ":", mark.column + 1, ": field '", field, "'");
}

[[noreturn]] void Fail(const std::string& source, const YAML::Node& node, const std::string& field,
                       const std::string& what) {
  throw ParseError{absl::StrCat(Where(source, node, field), ": ", what)};
}

template <typename T>
T Read(const std::string& source, const YAML::Node& node, const std::string& field, const char* expected) {
  try {
    return node.as<T>();
  } catch (const YAML::Exception&) {
    Fail(source, node, field, absl::StrCat("expected ", expected));
  }
}

double ReadRate(const std::string& source, const YAML::Node& node, const std::string& field) {
  const double mbps = Read<double>(source, node, field, "a rate in Mbit/s");
  if (!(mbps >= 0)) Fail(source, node, field, absl::StrCat("rate must not be negative, got ", mbps));
  return mbps;
}

class Parser {
 public:
  Parser(const std::string& source) : source_(source) {}

  Topology Parse(const YAML::Node& root) {
    if (!root.IsMap()) Fail(source_, root, "<document>", "expected a mapping");
    Topology t;
    if (root["name"]) t.name = Read<std::string>(source_, root["name"], "name", "a string");
    ParseKind(root, t);
    ParseDataCenters(root, t);
    if (root["dynamic"]) t.dynamic = ParseDynamic(root["dynamic"]);
    if (t.kind == TopologyKind::kMesh) {
      ParseMesh(root, t);
    } else {
      ParsePhysical(root, t);
    }
    for (const auto& key : root) {
      const std::string k = key.first.as<std::string>();
      static const std::set<std::string> kKnown = {"name", "kind",        "dataCenters", "links",
                                                   "mbps", "defaultMbps", "dynamic"};
      if (!kKnown.count(k)) Fail(source_, key.first, k, "unknown field");
    }
    CheckConnected(t);
    return t;
  }

 private:
  void ParseKind(const YAML::Node& root, Topology& t) {
    const YAML::Node kind = root["kind"];
    if (!kind) Fail(source_, root, "kind", "missing (mesh or physical)");
    const std::string k = Read<std::string>(source_, kind, "kind", "a string");
    if (k == "mesh") {
      t.kind = TopologyKind::kMesh;
    } else if (k == "physical") {
      t.kind = TopologyKind::kPhysical;
    } else {
      Fail(source_, kind, "kind", absl::StrCat("unknown kind '", k, "' (mesh or physical)"));
    }
  }

  void ParseDataCenters(const YAML::Node& root, Topology& t) {
    const YAML::Node dcs = root["dataCenters"];
    if (!dcs) Fail(source_, root, "dataCenters", "missing");
    if (!dcs.IsSequence()) Fail(source_, dcs, "dataCenters", "expected a list of names");
    if (dcs.size() > kMaxDataCenters) {
      Fail(source_, dcs, "dataCenters", absl::StrCat(dcs.size(), " DCs; at most ", kMaxDataCenters));
    }
    for (const YAML::Node& dc : dcs) {
      const std::string name = Read<std::string>(source_, dc, "dataCenters[]", "a name");
      if (!IsDcName(name)) {
        Fail(source_, dc, "dataCenters[]",
             absl::StrCat("'", absl::CHexEscape(name), "' is not a DC name: ", kDcNameRule));
      }
      if (t.IndexOf(name) >= 0) Fail(source_, dc, "dataCenters[]", absl::StrCat("duplicate DC '", name, "'"));
      t.data_centers.push_back(name);
    }
    if (t.data_centers.size() < 2) Fail(source_, dcs, "dataCenters", "need at least 2 DCs");
  }

  int Dc(const Topology& t, const YAML::Node& node, const std::string& field) {
    const std::string name = Read<std::string>(source_, node, field, "a DC name");
    const int i = t.IndexOf(name);
    if (i < 0) Fail(source_, node, field, absl::StrCat("unknown DC '", name, "'"));
    return i;
  }

  DynamicSpec ParseDynamic(const YAML::Node& node) {
    if (!node.IsMap()) Fail(source_, node, "dynamic", "expected a mapping");
    DynamicSpec d;
    auto need = [&](const char* field) {
      const YAML::Node v = node[field];
      if (!v) Fail(source_, node, absl::StrCat("dynamic.", field), "missing");
      return v;
    };
    d.period_seconds = Read<double>(source_, need("periodSeconds"), "dynamic.periodSeconds", "seconds");
    d.mbps_min = Read<int64_t>(source_, need("mbpsMin"), "dynamic.mbpsMin", "an integer rate");
    d.mbps_max = Read<int64_t>(source_, need("mbpsMax"), "dynamic.mbpsMax", "an integer rate");
    d.seed = Read<uint64_t>(source_, need("seed"), "dynamic.seed", "an unsigned integer");
    if (node["perDirection"])
      d.per_direction = Read<bool>(source_, node["perDirection"], "dynamic.perDirection", "true or false");
    if (!(d.period_seconds > 0)) Fail(source_, node["periodSeconds"], "dynamic.periodSeconds", "must be positive");
    if (d.mbps_min <= 0 || d.mbps_max < d.mbps_min)
      Fail(source_, node["mbpsMin"], "dynamic.mbpsMin", "need 0 < mbpsMin <= mbpsMax");
    return d;
  }

  void ParseMesh(const YAML::Node& root, Topology& t) {
    if (root["links"]) Fail(source_, root["links"], "links", "a mesh takes 'mbps' and 'defaultMbps', not 'links'");
    const int n = static_cast<int>(t.data_centers.size());
    std::vector<std::vector<double>> rate(n, std::vector<double>(n, -1));
    double fallback = -1;
    if (root["defaultMbps"]) fallback = ReadRate(source_, root["defaultMbps"], "defaultMbps");
    if (const YAML::Node m = root["mbps"]) {
      if (!m.IsMap()) Fail(source_, m, "mbps", "expected a mapping from DC to {DC: rate}");
      for (const auto& row : m) {
        const int from = Dc(t, row.first, "mbps");
        if (!row.second.IsMap())
          Fail(source_, row.second, absl::StrCat("mbps.", t.data_centers[from]), "expected {DC: rate}");
        for (const auto& cell : row.second) {
          const std::string field = absl::StrCat("mbps.", t.data_centers[from], ".", cell.first.as<std::string>());
          const int to = Dc(t, cell.first, field);
          if (to == from) Fail(source_, cell.first, field, "a DC has no link to itself");
          rate[from][to] = ReadRate(source_, cell.second, field);
        }
      }
    }
    for (int u = 0; u < n; ++u) {
      for (int v = 0; v < n; ++v) {
        if (u == v) continue;
        double r = rate[u][v] >= 0 ? rate[u][v] : fallback;
        if (r < 0) {
          if (!t.dynamic)
            Fail(source_, root, absl::StrCat("mbps.", t.data_centers[u], ".", t.data_centers[v]),
                 "no rate and no defaultMbps");
          r = 0;  // drawn per period
        }
        t.links.push_back({u, v, r});
      }
    }
  }

  void ParsePhysical(const YAML::Node& root, Topology& t) {
    if (root["mbps"] || root["defaultMbps"])
      Fail(source_, root, "mbps", "a physical topology gives rates on its links");
    const YAML::Node links = root["links"];
    if (!links) Fail(source_, root, "links", "missing");
    if (!links.IsSequence()) Fail(source_, links, "links", "expected a list of {a, b, mbps}");
    std::set<std::pair<int, int>> seen;
    int i = 0;
    for (const YAML::Node& link : links) {
      const std::string field = absl::StrCat("links[", i++, "]");
      if (!link.IsMap()) Fail(source_, link, field, "expected {a, b, mbps}");
      if (!link["a"]) Fail(source_, link, field + ".a", "missing");
      if (!link["b"]) Fail(source_, link, field + ".b", "missing");
      const int a = Dc(t, link["a"], field + ".a");
      const int b = Dc(t, link["b"], field + ".b");
      if (a == b) Fail(source_, link, field, "a link joins two different DCs");
      if (!seen.insert({std::min(a, b), std::max(a, b)}).second)
        Fail(source_, link, field, absl::StrCat("duplicate link ", t.data_centers[a], "-", t.data_centers[b]));
      double ab = -1, ba = -1;
      if (link["mbps"]) ab = ba = ReadRate(source_, link["mbps"], field + ".mbps");
      if (link["mbpsAtoB"]) ab = ReadRate(source_, link["mbpsAtoB"], field + ".mbpsAtoB");
      if (link["mbpsBtoA"]) ba = ReadRate(source_, link["mbpsBtoA"], field + ".mbpsBtoA");
      if ((ab < 0 || ba < 0) && !t.dynamic)
        Fail(source_, link, field + ".mbps", "missing (or give mbpsAtoB and mbpsBtoA)");
      t.links.push_back({a, b, std::max(ab, 0.0)});
      t.links.push_back({b, a, std::max(ba, 0.0)});
    }
  }

  void CheckConnected(Topology& t) {
    if (t.dynamic) t.links = t.LinksAt(0);
    const int n = static_cast<int>(t.data_centers.size());
    // Every DC must reach every other one and be reached by it: check reachability
    // from DC 0 both forwards and backwards.
    for (int direction = 0; direction < 2; ++direction) {
      std::vector<bool> seen(n, false);
      std::vector<int> stack = {0};
      seen[0] = true;
      while (!stack.empty()) {
        const int u = stack.back();
        stack.pop_back();
        for (const DirectedLink& l : t.links) {
          const int from = direction == 0 ? l.from : l.to;
          const int to = direction == 0 ? l.to : l.from;
          if (from == u && l.mbps > 0 && !seen[to]) {
            seen[to] = true;
            stack.push_back(to);
          }
        }
      }
      for (int v = 0; v < n; ++v) {
        if (!seen[v]) {
          throw ParseError{absl::StrCat(source_, ": topology is disconnected: DC '", t.data_centers[v],
                                        direction == 0 ? "' cannot be reached from '" : "' cannot reach '",
                                        t.data_centers[0], "'")};
        }
      }
    }
  }

  const std::string& source_;
};

// A small, portable generator step (splitmix64), so that a seed gives the same
// rates with every standard library.
uint64_t SplitMix64(uint64_t& state) {
  uint64_t z = (state += 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

}  // namespace

bool IsDcName(const std::string& name) {
  return !name.empty() && name.size() <= 63 && std::all_of(name.begin(), name.end(), [](char c) {
    return absl::ascii_isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '_' || c == '-';
  });
}

int Topology::IndexOf(const std::string& dc) const {
  for (size_t i = 0; i < data_centers.size(); ++i) {
    if (data_centers[i] == dc) return static_cast<int>(i);
  }
  return -1;
}

std::vector<DirectedLink> Topology::LinksAt(int64_t period) const {
  if (!dynamic) return links;
  std::vector<DirectedLink> out = links;
  uint64_t state = dynamic->seed * 0x100000001b3ULL + static_cast<uint64_t>(period);
  const uint64_t span = static_cast<uint64_t>(dynamic->mbps_max - dynamic->mbps_min + 1);
  auto draw = [&] { return static_cast<double>(dynamic->mbps_min + static_cast<int64_t>(SplitMix64(state) % span)); };
  const bool paired = kind == TopologyKind::kPhysical && !dynamic->per_direction;
  for (size_t i = 0; i < out.size(); ++i) {
    if (paired && i % 2 == 1) {
      out[i].mbps = out[i - 1].mbps;  // the reverse direction of the same link
    } else {
      out[i].mbps = draw() * dynamic->scale;
    }
  }
  return out;
}

Topology ScaleRates(Topology topology, double factor) {
  for (DirectedLink& l : topology.links) l.mbps *= factor;
  if (topology.dynamic) topology.dynamic->scale *= factor;
  return topology;
}

Topology RandomMesh(int n, uint64_t seed, int64_t min_mbps, int64_t max_mbps) {
  Topology t;
  t.name = absl::StrCat("random-mesh-", n);
  t.kind = TopologyKind::kMesh;
  for (int i = 1; i <= n; ++i) t.data_centers.push_back(absl::StrCat("dc", i));
  for (int u = 0; u < n; ++u) {
    for (int v = 0; v < n; ++v) {
      if (u != v) t.links.push_back({u, v, 0});
    }
  }
  t.dynamic = DynamicSpec{1, min_mbps, max_mbps, seed, true};
  t.links = t.LinksAt(0);
  t.dynamic.reset();
  return t;
}

Topology RandomPhysical(int n, int degree, uint64_t seed, int64_t min_mbps, int64_t max_mbps) {
  Topology t;
  t.name = absl::StrCat("random-physical-", n);
  t.kind = TopologyKind::kPhysical;
  for (int i = 1; i <= n; ++i) t.data_centers.push_back(absl::StrCat("dc", i));
  std::set<std::pair<int, int>> linked;
  auto link = [&](int a, int b) {
    if (a == b || !linked.insert(std::minmax(a, b)).second) return;
    t.links.push_back({a, b, 0});
    t.links.push_back({b, a, 0});
  };
  for (int i = 0; i < n; ++i) link(i, (i + 1) % n);
  const size_t want = std::min<size_t>(static_cast<size_t>(n) * degree / 2, static_cast<size_t>(n) * (n - 1) / 2);
  uint64_t state = seed;
  while (linked.size() < want) {
    const int a = static_cast<int>(SplitMix64(state) % n);
    link(a, static_cast<int>(SplitMix64(state) % n));
  }
  t.dynamic = DynamicSpec{1, min_mbps, max_mbps, seed, true};
  t.links = t.LinksAt(0);
  t.dynamic.reset();
  return t;
}

absl::Status TooLarge(const std::string& source) {
  return absl::InvalidArgumentError(
      absl::StrCat(source, ": a topology is at most ", kMaxTopologyBytes >> 20, " MiB; this one is larger"));
}

absl::StatusOr<Topology> ParseTopology(const std::string& text, const std::string& source) {
  if (text.size() > kMaxTopologyBytes) return TooLarge(source);
  try {
    return Parser(source).Parse(YAML::Load(text));
  } catch (const ParseError& e) {
    return absl::InvalidArgumentError(e.message);
  } catch (const YAML::Exception& e) {
    return absl::InvalidArgumentError(
        absl::StrCat(source, ":", e.mark.line + 1, ":", e.mark.column + 1, ": bad YAML: ", e.msg));
  }
}

absl::StatusOr<Topology> LoadTopologyFile(const std::string& path) {
  std::ifstream in(path);
  if (!in) return absl::NotFoundError(absl::StrCat(path, ": cannot open topology file"));
  std::string text;
  char block[1 << 16];
  while (in.read(block, sizeof(block)) || in.gcount() > 0) {  // not all of an endless file
    text.append(block, static_cast<size_t>(in.gcount()));
    if (text.size() > kMaxTopologyBytes) return TooLarge(path);
  }
  return ParseTopology(text, path);
}

}  // namespace geostorm::core
