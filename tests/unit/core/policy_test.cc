// Policy validation and serialisation.
#include "core/policy/policy.h"

#include <gtest/gtest.h>

#include <functional>

#include "absl/strings/str_replace.h"
#include "core/planner/planner.h"
#include "core/policy/policy_codec.h"
#include "geostorm/v1/policy.pb.h"
#include "tests/unit/core/test_networks.h"

namespace geostorm::core {
namespace {

using fixtures::MustParse;
using fixtures::MustView;
using fixtures::OneShard;

// a, b, c, d in a full mesh, except that there is no link d -> a.
NetworkView FourDcs() {
  return MustView(MustParse("kind: mesh\ndataCenters: [a, b, c, d]\ndefaultMbps: 100\nmbps: {d: {a: 0}}\n"),
                  Overlay::kAllPairs, 10'000'000, 1'000'000);
}

// Two shards rooted at a and b, chains towards the root, and one aux route.
Policy GoodPolicy(const NetworkView& view) {
  Policy p = EmptyPolicy(view, "test", {});
  p.shards.push_back({0, 0, 6, {-1, 0, 1, 2}, {-1, 0, 0, 0}});
  p.shards.push_back({1, 6, 4, {1, -1, 1, 1}, {1, -1, 1, 1}});
  p.aux_routes.push_back({0, Phase::kReduce, {2, 3, 1}, 0.25});
  return p;
}

::testing::AssertionResult Rejects(const Policy& p, const NetworkView& view, const std::string& needle) {
  absl::Status s = ValidatePolicy(p, view);
  if (s.ok()) return ::testing::AssertionFailure() << "accepted, expected '" << needle << "'";
  if (std::string(s.message()).find(needle) == std::string::npos) {
    return ::testing::AssertionFailure() << "'" << s.message() << "' lacks '" << needle << "'";
  }
  return ::testing::AssertionSuccess();
}

TEST(PolicyValidation, AcceptsAGoodPolicy) {
  const NetworkView view = FourDcs();
  EXPECT_TRUE(ValidatePolicy(GoodPolicy(view), view).ok()) << ValidatePolicy(GoodPolicy(view), view);
}

TEST(PolicyValidation, RejectsEachKindOfBrokenPolicy) {
  const NetworkView view = FourDcs();
  Policy p = GoodPolicy(view);

  p.shards[0].reduce_parent = {-1, 2, 1, 2};  // b <-> c cycle
  EXPECT_TRUE(Rejects(p, view, "shard 0 (root a) reduce tree: DC 'b' is on a cycle"));
  p = GoodPolicy(view);
  p.shards[0].reduce_parent = {1, 0, 1, 2};
  EXPECT_TRUE(Rejects(p, view, "the root 'a' has a parent"));
  p = GoodPolicy(view);
  p.shards[0].reduce_parent = {-1, 0, -1, 2};
  EXPECT_TRUE(Rejects(p, view, "DC 'c' has no valid parent"));
  p = GoodPolicy(view);
  p.shards[0].reduce_parent = {-1, 0, 1, 0};  // d -> a does not exist
  EXPECT_TRUE(Rejects(p, view, "reduce tree: uses missing link d->a"));
  p = GoodPolicy(view);
  p.shards[1].broadcast_parent = {1, -1, 1};
  EXPECT_TRUE(Rejects(p, view, "shard 1 (root b) broadcast tree: has 3 entries for 4 DCs"));
  p = GoodPolicy(view);
  p.shards[1].first_chunk = 5;
  EXPECT_TRUE(Rejects(p, view, "shard 1: chunks from 5 overlap the previous shard, which ends at 6"));
  p = GoodPolicy(view);
  p.shards[1].first_chunk = 7;
  p.shards[1].num_chunks = 3;
  EXPECT_TRUE(Rejects(p, view, "shard 1: chunks 6..6 belong to no shard"));
  p = GoodPolicy(view);
  p.shards[1].num_chunks = 3;
  EXPECT_TRUE(Rejects(p, view, "shards cover 9 chunks, the model has 10"));
  p = GoodPolicy(view);
  p.shards[1].root = 7;
  EXPECT_TRUE(Rejects(p, view, "shard 1: root 7 is not a DC"));
  p = GoodPolicy(view);
  p.aux_routes[0].path = {2, 3, 0, 1};
  EXPECT_TRUE(Rejects(p, view, "aux route 0: uses missing link d->a"));
  p = GoodPolicy(view);
  p.aux_routes[0].path = {3, 2, 0};  // d -> a is no tree edge (d's parent is c)
  EXPECT_TRUE(Rejects(p, view, "aux route 0: d->a is not a reduce edge of shard 0"));
  p = GoodPolicy(view);
  p.aux_routes.push_back({0, Phase::kReduce, {2, 0, 1}, 0.8});
  EXPECT_TRUE(Rejects(p, view, "aux route 1: the aux fractions of c->b sum to 1.05 > 1"));
  p = GoodPolicy(view);
  p.aux_routes[0].path = {2, 3, 2, 1};
  EXPECT_TRUE(Rejects(p, view, "aux route 0: visits 'c' twice"));
  p = GoodPolicy(view);
  p.aux_routes[0].fraction = 0;
  EXPECT_TRUE(Rejects(p, view, "aux route 0: fraction 0 is not in (0, 1]"));
  p = GoodPolicy(view);
  p.data_centers[3] = "z";
  EXPECT_TRUE(Rejects(p, view, "policy DCs differ from the network's DCs"));
}

void ExpectSame(const Policy& a, const Policy& b) {
  EXPECT_EQ(a.version, b.version);
  EXPECT_EQ(a.strategy, b.strategy);
  EXPECT_EQ(a.data_centers, b.data_centers);
  EXPECT_EQ(a.model_bytes, b.model_bytes);
  EXPECT_EQ(a.chunk_bytes, b.chunk_bytes);
  EXPECT_EQ(a.phase_barrier, b.phase_barrier);
  ASSERT_EQ(a.shards.size(), b.shards.size());
  for (size_t s = 0; s < a.shards.size(); ++s) {
    EXPECT_EQ(a.shards[s].root, b.shards[s].root);
    EXPECT_EQ(a.shards[s].first_chunk, b.shards[s].first_chunk);
    EXPECT_EQ(a.shards[s].num_chunks, b.shards[s].num_chunks);
    EXPECT_EQ(a.shards[s].reduce_parent, b.shards[s].reduce_parent);
    EXPECT_EQ(a.shards[s].broadcast_parent, b.shards[s].broadcast_parent);
  }
  ASSERT_EQ(a.aux_routes.size(), b.aux_routes.size());
  for (size_t i = 0; i < a.aux_routes.size(); ++i) {
    EXPECT_EQ(a.aux_routes[i].shard, b.aux_routes[i].shard);
    EXPECT_EQ(a.aux_routes[i].phase, b.aux_routes[i].phase);
    EXPECT_EQ(a.aux_routes[i].path, b.aux_routes[i].path);
    EXPECT_DOUBLE_EQ(a.aux_routes[i].fraction, b.aux_routes[i].fraction);
  }
  EXPECT_DOUBLE_EQ(a.predicted_seconds, b.predicted_seconds);
  EXPECT_DOUBLE_EQ(a.t_min_seconds, b.t_min_seconds);
}

Policy PlannedPolicy() {
  // netstorm-paper on the uneven mesh has several shards and aux routes.
  absl::StatusOr<Policy> p =
      PlanTopology(fixtures::MustLoad("mesh-5dc-hetero.yaml"), "netstorm-paper", 50'000'000, 1 << 20);
  if (!p.ok()) throw std::runtime_error(std::string(p.status().message()));
  p->version = 42;
  return *p;
}

TEST(PolicyCodec, RoundTripsThroughProtobufJsonAndYaml) {
  const Policy p = PlannedPolicy();
  ASSERT_GT(p.shards.size(), 1u);
  ASSERT_FALSE(p.aux_routes.empty());

  v1::Policy proto;
  ToProto(p, &proto);
  v1::Policy wire;
  ASSERT_TRUE(wire.ParseFromString(proto.SerializeAsString()));
  absl::StatusOr<Policy> from_proto = FromProto(wire);
  ASSERT_TRUE(from_proto.ok()) << from_proto.status();
  ExpectSame(p, *from_proto);

  absl::StatusOr<Policy> from_json = FromJson(ToJson(p));
  ASSERT_TRUE(from_json.ok()) << from_json.status();
  ExpectSame(p, *from_json);

  absl::StatusOr<Policy> from_yaml = FromYaml(ToYaml(p));
  ASSERT_TRUE(from_yaml.ok()) << from_yaml.status();
  ExpectSame(p, *from_yaml);
}

TEST(PolicyCodec, YamlNamesDcsAndTreesByName) {
  const std::string yaml = ToYaml(PlannedPolicy());
  EXPECT_NE(yaml.find("dataCenters: [\"us-east\""), std::string::npos) << yaml;
  EXPECT_NE(yaml.find("root: \""), std::string::npos) << yaml;
  EXPECT_NE(yaml.find("phase: \"reduce\""), std::string::npos) << yaml;
}

TEST(PolicyCodec, DecodeErrorsNameTheField) {
  const std::string good = ToJson(PlannedPolicy());
  auto fails = [](const std::string& text, const std::string& needle) {
    absl::StatusOr<Policy> p = FromJson(text);
    return !p.ok() && std::string(p.status().message()).find(needle) != std::string::npos;
  };
  std::string bad = good;
  bad.replace(bad.find("\"root\": \"") + 9, 0, "x");
  EXPECT_TRUE(fails(bad, "policy field 'shards[0].root': unknown DC 'x"));
  bad = good;
  bad.replace(bad.find("\"chunkBytes\""), 12, "\"chunkBites\"");
  EXPECT_TRUE(fails(bad, "policy field 'chunkBytes': missing"));
  bad = good;
  bad.replace(bad.find("\"phase\": \"") + 10, 6, "sideways");
  EXPECT_TRUE(fails(bad, "policy field 'auxRoutes[0].phase': must be reduce or broadcast"));
  EXPECT_TRUE(fails("{\"version\": 1", "policy JSON"));
  absl::StatusOr<Policy> yaml = FromYaml("version: 1\nstrategy: x\ndataCenters: [a, b]\nmodelBytes: [1]\n");
  ASSERT_FALSE(yaml.ok());
  EXPECT_NE(std::string(yaml.status().message()).find("modelBytes"), std::string::npos) << yaml.status();
}

// Found by fuzz.policy: a name that is not UTF-8 decoded from YAML, and then
// encoding the policy as JSON threw. Names are DC names, in every decoder.
TEST(PolicyCodec, NamesThatAreNotDcNamesAreRefused) {
  std::string yaml = ToYaml(PlannedPolicy());
  std::string bad = yaml;
  bad.replace(bad.find("strategy: \"") + 11, 0, "\xc4");
  absl::StatusOr<Policy> p = FromYaml(bad);
  ASSERT_FALSE(p.ok());
  EXPECT_NE(std::string(p.status().message()).find("strategy '\\xc4"), std::string::npos) << p.status();
  p = FromYaml(absl::StrReplaceAll(yaml, {{"us-east", "us east"}}));
  ASSERT_FALSE(p.ok());
  EXPECT_NE(std::string(p.status().message()).find("is not a DC name: 1 to 63 letters"), std::string::npos)
      << p.status();
  v1::Policy proto;
  ToProto(PlannedPolicy(), &proto);
  proto.set_data_centers(0, std::string(64, 'a'));
  EXPECT_FALSE(FromProto(proto).ok());
}

// A gateway sizes its tables and messages by the chunk size and count: both have
// limits, whatever the rest of the policy says.
TEST(PolicyValidation, ChunkSizeAndCountHaveLimits) {
  Policy p = PlannedPolicy();
  p.chunk_bytes = kMaxChunkBytes + 1;
  EXPECT_NE(CheckPolicyShape(p).message().find("chunk_bytes 67108865 is over the limit of 67108864"),
            std::string::npos);
  p = PlannedPolicy();
  p.chunk_bytes = 16;
  p.model_bytes = 16 * (kMaxChunks + 1);
  EXPECT_NE(CheckPolicyShape(p).message().find("4194305 chunks is over the limit of 4194304"), std::string::npos);
}

// Found by fuzz.policy: a float where an integer belongs was cast (undefined
// behaviour out of range), and a wider integer truncated without a word.
TEST(PolicyCodec, NumbersMustFitTheirFields) {
  const std::string json = ToJson(PlannedPolicy());
  auto refusal = [&](const std::string& from, const std::string& to) {
    std::string bad = json;
    bad.replace(bad.find(from), from.size(), to);
    absl::StatusOr<Policy> p = FromJson(bad);
    return p.ok() ? std::string("accepted") : std::string(p.status().message());
  };
  EXPECT_EQ(refusal("\"chunkBytes\": ", "\"chunkBytes\": 1.6e50, \"x\": "),
            "policy field 'chunkBytes': expected an integer from -9223372036854775808 to 9223372036854775807, got "
            "1.6e+50");
  EXPECT_NE(refusal("\"shard\": 0", "\"shard\": 4294967296").find("'auxRoutes[0].shard': expected an integer"),
            std::string::npos);
  EXPECT_NE(refusal("\"version\": 42", "\"version\": -1").find("'version': expected an integer from 0"),
            std::string::npos);
  EXPECT_NE(refusal("\"tMinSeconds\": ", "\"tMinSeconds\": -1, \"x\": ").find("must be finite, not negative"),
            std::string::npos);
}

// The controller's protobuf carries bare indices: a decoded policy must never
// make a sidecar index past its DC table, nor leave chunks to no shard.
TEST(PolicyCodec, ProtobufWithIndicesOutOfRangeIsRefusedSayingWhere) {
  const Policy good = PlannedPolicy();
  auto refused = [&](const std::function<void(v1::Policy&)>& spoil, const std::string& needle) {
    v1::Policy proto;
    ToProto(good, &proto);
    spoil(proto);
    absl::StatusOr<Policy> p = FromProto(proto);
    if (p.ok()) return ::testing::AssertionFailure() << "accepted, expected '" << needle << "'";
    if (std::string(p.status().message()).find(needle) == std::string::npos)
      return ::testing::AssertionFailure() << "'" << p.status().message() << "' lacks '" << needle << "'";
    return ::testing::AssertionSuccess();
  };
  EXPECT_TRUE(refused([](v1::Policy& p) { p.mutable_shards(0)->set_root(7); }, "shard 0: root 7 is not a DC"));
  EXPECT_TRUE(refused([](v1::Policy& p) { p.mutable_shards(0)->set_root(-1); }, "shard 0: root -1 is not a DC"));
  EXPECT_TRUE(refused(
      [](v1::Policy& p) {
        auto* parent = p.mutable_shards(1)->mutable_reduce()->mutable_parent();
        parent->Set(parent->Get(0) == -1 ? 1 : 0, 99);
      },
      "shard 1 (root"));
  EXPECT_TRUE(refused([](v1::Policy& p) { p.mutable_shards(0)->mutable_broadcast()->mutable_parent()->RemoveLast(); },
                      "broadcast tree: has 4 entries for 5 DCs"));
  EXPECT_TRUE(refused([](v1::Policy& p) { p.mutable_aux_routes(0)->set_path(1, 1000); }, "aux route 0: no DC 1000"));
  EXPECT_TRUE(refused([](v1::Policy& p) { p.mutable_aux_routes(0)->set_shard(50); }, "aux route 0: no shard 50"));
  EXPECT_TRUE(refused([](v1::Policy& p) { p.mutable_shards(0)->set_num_chunks(p.shards(0).num_chunks() + 1); },
                      "overlap the previous shard"));
  EXPECT_TRUE(refused([](v1::Policy& p) { p.mutable_shards()->RemoveLast(); }, "shards cover"));
  EXPECT_TRUE(refused([](v1::Policy& p) { p.set_data_centers(1, p.data_centers(0)); }, "is listed twice"));
  EXPECT_TRUE(refused([](v1::Policy& p) { p.set_chunk_bytes(0); }, "chunk_bytes must be positive"));
  // And the JSON a file or a ConfigMap holds: a root named right but a tree that is no tree.
  std::string json = ToJson(good);
  absl::StatusOr<Policy> p = FromJson(json);
  ASSERT_TRUE(p.ok()) << p.status();
  p->shards[0].reduce_parent.assign(p->data_centers.size(), -1);
  absl::StatusOr<Policy> spoilt = FromJson(ToJson(*p));
  ASSERT_FALSE(spoilt.ok());
  EXPECT_NE(std::string(spoilt.status().message()).find("has no valid parent"), std::string::npos) << spoilt.status();
}

}  // namespace
}  // namespace geostorm::core
