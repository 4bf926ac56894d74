#include "core/policy/policy_codec.h"

#include <limits>
#include <type_traits>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "core/json_integer.h"
#include "core/status_macros.h"
#include "geostorm/v1/policy.pb.h"
#include "nlohmann/json.hpp"
#include "yaml-cpp/yaml.h"

namespace geostorm::core {

using Json = nlohmann::ordered_json;

// ---- protobuf ----

void ToProto(const Policy& p, v1::Policy* out) {
  out->Clear();
  out->set_version(p.version);
  out->set_strategy(p.strategy);
  for (const std::string& dc : p.data_centers) out->add_data_centers(dc);
  out->set_model_bytes(p.model_bytes);
  out->set_chunk_bytes(p.chunk_bytes);
  out->set_phase_barrier(p.phase_barrier);
  for (const ShardPlan& s : p.shards) {
    v1::ShardPlan* ps = out->add_shards();
    ps->set_root(s.root);
    ps->set_first_chunk(s.first_chunk);
    ps->set_num_chunks(s.num_chunks);
    for (int v : s.reduce_parent) ps->mutable_reduce()->add_parent(v);
    for (int v : s.broadcast_parent) ps->mutable_broadcast()->add_parent(v);
  }
  for (const AuxRoute& a : p.aux_routes) {
    v1::AuxRoute* pa = out->add_aux_routes();
    pa->set_shard(a.shard);
    pa->set_phase(a.phase == Phase::kReduce ? v1::PHASE_REDUCE : v1::PHASE_BROADCAST);
    for (int v : a.path) pa->add_path(v);
    pa->set_fraction(a.fraction);
  }
  out->set_predicted_seconds(p.predicted_seconds);
  out->set_t_min_seconds(p.t_min_seconds);
}

absl::StatusOr<Policy> FromProto(const v1::Policy& in) {
  Policy p;
  p.version = in.version();
  p.strategy = in.strategy();
  p.data_centers.assign(in.data_centers().begin(), in.data_centers().end());
  p.model_bytes = in.model_bytes();
  p.chunk_bytes = in.chunk_bytes();
  p.phase_barrier = in.phase_barrier();
  for (const v1::ShardPlan& ps : in.shards()) {
    ShardPlan s;
    s.root = ps.root();
    s.first_chunk = ps.first_chunk();
    s.num_chunks = ps.num_chunks();
    s.reduce_parent.assign(ps.reduce().parent().begin(), ps.reduce().parent().end());
    s.broadcast_parent.assign(ps.broadcast().parent().begin(), ps.broadcast().parent().end());
    p.shards.push_back(std::move(s));
  }
  for (int i = 0; i < in.aux_routes_size(); ++i) {
    const v1::AuxRoute& pa = in.aux_routes(i);
    if (pa.phase() != v1::PHASE_REDUCE && pa.phase() != v1::PHASE_BROADCAST) {
      return absl::InvalidArgumentError(absl::StrCat("aux_routes[", i, "].phase: must be REDUCE or BROADCAST"));
    }
    p.aux_routes.push_back({pa.shard(), pa.phase() == v1::PHASE_REDUCE ? Phase::kReduce : Phase::kBroadcast,
                            std::vector<int>(pa.path().begin(), pa.path().end()), pa.fraction()});
  }
  p.predicted_seconds = in.predicted_seconds();
  p.t_min_seconds = in.t_min_seconds();
  RETURN_IF_ERROR(CheckPolicyShape(p));
  return p;
}

// ---- JSON ----

namespace {

Json TreeJson(const Policy& p, const std::vector<int>& parent) {
  Json tree = Json::object();
  for (size_t v = 0; v < parent.size(); ++v) {
    if (parent[v] >= 0) tree[p.data_centers[v]] = p.data_centers[parent[v]];
  }
  return tree;
}

struct DecodeError {
  std::string message;
};

[[noreturn]] void Fail(const std::string& field, const std::string& what) {
  throw DecodeError{absl::StrCat("policy field '", field, "': ", what)};
}

const Json& Need(const Json& j, const char* key, const std::string& field) {
  if (!j.is_object() || !j.contains(key)) Fail(field, "missing");
  return j.at(key);
}

template <typename T>
T Get(const Json& j, const char* key, const std::string& prefix) {
  const std::string field = prefix + key;
  const Json& v = Need(j, key, field);
  if constexpr (std::is_integral_v<T> && !std::is_same_v<T, bool>) {
    if (!HoldsInteger<T>(v)) {
      Fail(field, absl::StrCat("expected an integer from ", std::numeric_limits<T>::min(), " to ",
                               std::numeric_limits<T>::max(), ", got ", v.dump()));
    }
  }
  try {
    return v.get<T>();
  } catch (const Json::exception& e) {
    Fail(field, e.what());
  }
}

int DcIndex(const Policy& p, const Json& name, const std::string& field) {
  const std::string s = name.is_string() ? name.get<std::string>() : name.dump();
  for (size_t i = 0; i < p.data_centers.size(); ++i) {
    if (p.data_centers[i] == s) return static_cast<int>(i);
  }
  Fail(field, absl::StrCat("unknown DC '", s, "'"));
}

std::vector<int> TreeFromJson(const Policy& p, const Json& tree, const std::string& field) {
  if (!tree.is_object()) Fail(field, "expected {child: parent}");
  std::vector<int> parent(p.data_centers.size(), -1);
  for (auto it = tree.begin(); it != tree.end(); ++it) {
    const int child = DcIndex(p, Json(it.key()), field);
    parent[child] = DcIndex(p, it.value(), absl::StrCat(field, ".", it.key()));
  }
  return parent;
}

Policy PolicyFromJson(const Json& j) {
  Policy p;
  p.version = Get<uint64_t>(j, "version", "");
  p.strategy = Get<std::string>(j, "strategy", "");
  for (const Json& dc : Need(j, "dataCenters", "dataCenters")) {
    p.data_centers.push_back(dc.is_string() ? dc.get<std::string>() : dc.dump());
  }
  p.model_bytes = Get<int64_t>(j, "modelBytes", "");
  p.chunk_bytes = Get<int64_t>(j, "chunkBytes", "");
  p.phase_barrier = j.contains("phaseBarrier") && Get<bool>(j, "phaseBarrier", "");
  const Json& shards = Need(j, "shards", "shards");
  if (!shards.is_array()) Fail("shards", "expected a list");
  for (size_t i = 0; i < shards.size(); ++i) {
    const std::string prefix = absl::StrCat("shards[", i, "].");
    ShardPlan s;
    s.root = DcIndex(p, Need(shards[i], "root", prefix + "root"), prefix + "root");
    s.first_chunk = Get<int64_t>(shards[i], "firstChunk", prefix);
    s.num_chunks = Get<int64_t>(shards[i], "numChunks", prefix);
    s.reduce_parent = TreeFromJson(p, Need(shards[i], "reduce", prefix + "reduce"), prefix + "reduce");
    s.broadcast_parent = TreeFromJson(p, Need(shards[i], "broadcast", prefix + "broadcast"), prefix + "broadcast");
    p.shards.push_back(std::move(s));
  }
  if (j.contains("auxRoutes")) {
    const Json& aux = j.at("auxRoutes");
    if (!aux.is_array()) Fail("auxRoutes", "expected a list");
    for (size_t i = 0; i < aux.size(); ++i) {
      const std::string prefix = absl::StrCat("auxRoutes[", i, "].");
      AuxRoute a;
      a.shard = Get<int>(aux[i], "shard", prefix);
      const std::string phase = Get<std::string>(aux[i], "phase", prefix);
      if (phase != "reduce" && phase != "broadcast") Fail(prefix + "phase", "must be reduce or broadcast");
      a.phase = phase == "reduce" ? Phase::kReduce : Phase::kBroadcast;
      const Json& path = Need(aux[i], "path", prefix + "path");
      if (!path.is_array()) Fail(prefix + "path", "expected a list of DCs");
      for (const Json& dc : path) a.path.push_back(DcIndex(p, dc, prefix + "path"));
      a.fraction = Get<double>(aux[i], "fraction", prefix);
      p.aux_routes.push_back(std::move(a));
    }
  }
  if (j.contains("predictedSeconds")) p.predicted_seconds = Get<double>(j, "predictedSeconds", "");
  if (j.contains("tMinSeconds")) p.t_min_seconds = Get<double>(j, "tMinSeconds", "");
  return p;
}

Json PolicyToJson(const Policy& p) {
  Json j;
  j["version"] = p.version;
  j["strategy"] = p.strategy;
  j["dataCenters"] = p.data_centers;
  j["modelBytes"] = p.model_bytes;
  j["chunkBytes"] = p.chunk_bytes;
  j["phaseBarrier"] = p.phase_barrier;
  j["shards"] = Json::array();
  for (const ShardPlan& s : p.shards) {
    j["shards"].push_back({{"root", p.data_centers[s.root]},
                           {"firstChunk", s.first_chunk},
                           {"numChunks", s.num_chunks},
                           {"reduce", TreeJson(p, s.reduce_parent)},
                           {"broadcast", TreeJson(p, s.broadcast_parent)}});
  }
  j["auxRoutes"] = Json::array();
  for (const AuxRoute& a : p.aux_routes) {
    Json path = Json::array();
    for (int v : a.path) path.push_back(p.data_centers[v]);
    j["auxRoutes"].push_back({{"shard", a.shard},
                              {"phase", a.phase == Phase::kReduce ? "reduce" : "broadcast"},
                              {"path", path},
                              {"fraction", a.fraction}});
  }
  j["predictedSeconds"] = p.predicted_seconds;
  j["tMinSeconds"] = p.t_min_seconds;
  return j;
}

// ---- YAML, through the same JSON tree ----

void EmitYaml(YAML::Emitter& out, const Json& j) {
  if (j.is_object()) {
    const bool flow = !j.empty() && std::all_of(j.begin(), j.end(), [](const Json& v) { return v.is_primitive(); });
    if (flow) out << YAML::Flow;
    out << YAML::BeginMap;
    for (auto it = j.begin(); it != j.end(); ++it) {
      out << YAML::Key << it.key() << YAML::Value;
      EmitYaml(out, it.value());
    }
    out << YAML::EndMap;
  } else if (j.is_array()) {
    if (std::all_of(j.begin(), j.end(), [](const Json& v) { return v.is_primitive(); })) out << YAML::Flow;
    out << YAML::BeginSeq;
    for (const Json& v : j) EmitYaml(out, v);
    out << YAML::EndSeq;
  } else if (j.is_string()) {
    out << YAML::DoubleQuoted << j.get<std::string>();
  } else if (j.is_boolean()) {
    out << j.get<bool>();
  } else if (j.is_number_unsigned()) {
    out << j.get<uint64_t>();
  } else if (j.is_number_integer()) {
    out << j.get<int64_t>();
  } else if (j.is_number_float()) {
    out << YAML::Precision(17) << j.get<double>();
  } else {
    out << YAML::Null;
  }
}

Json YamlToJson(const YAML::Node& node) {
  switch (node.Type()) {
    case YAML::NodeType::Map: {
      Json j = Json::object();
      for (const auto& kv : node) j[kv.first.as<std::string>()] = YamlToJson(kv.second);
      return j;
    }
    case YAML::NodeType::Sequence: {
      Json j = Json::array();
      for (const auto& v : node) j.push_back(YamlToJson(v));
      return j;
    }
    case YAML::NodeType::Scalar: {
      if (node.Tag() == "!") return node.Scalar();  // quoted: always a string
      int64_t i;
      double d;
      bool b;
      if (YAML::convert<int64_t>::decode(node, i)) return i;
      if (YAML::convert<double>::decode(node, d)) return d;
      if (YAML::convert<bool>::decode(node, b)) return b;
      return node.Scalar();
    }
    default:
      return nullptr;
  }
}

template <typename Parse>
absl::StatusOr<Policy> Decode(Parse parse) {
  try {
    Policy p = PolicyFromJson(parse());
    RETURN_IF_ERROR(CheckPolicyShape(p));
    return p;
  } catch (const DecodeError& e) {
    return absl::InvalidArgumentError(e.message);
  } catch (const Json::exception& e) {
    return absl::InvalidArgumentError(absl::StrCat("policy JSON: ", e.what()));
  } catch (const YAML::Exception& e) {
    return absl::InvalidArgumentError(
        absl::StrCat("policy YAML:", e.mark.line + 1, ":", e.mark.column + 1, ": ", e.msg));
  }
}

}  // namespace

std::string ToJson(const Policy& p, int indent) { return PolicyToJson(p).dump(indent); }

absl::StatusOr<Policy> FromJson(const std::string& text) {
  return Decode([&] { return Json::parse(text); });
}

std::string ToYaml(const Policy& p) {
  YAML::Emitter out;
  EmitYaml(out, PolicyToJson(p));
  return std::string(out.c_str()) + "\n";
}

absl::StatusOr<Policy> FromYaml(const std::string& text) {
  return Decode([&] { return YamlToJson(YAML::Load(text)); });
}

}  // namespace geostorm::core
