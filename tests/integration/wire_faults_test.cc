// Bad input on the wire, against a real gateway process; and backpressure from a
// slow receiver. A gateway refuses each bad chunk with a reason, counts it, keeps
// serving, and still sums exactly afterwards.
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include <fstream>
#include <mutex>
#include <thread>

#include "absl/strings/str_cat.h"
#include "cli/job_launcher.h"
#include "client/client.h"
#include "core/planner/planner.h"
#include "core/policy/policy_codec.h"
#include "geostorm/v1/dataplane.grpc.pb.h"
#include "sidecar/transport/peer_link.h"
#include "tests/support/process.h"
#include "wire/chunk_codec.h"

namespace geostorm {
namespace {

using testing::Process;

TEST(WireFaults, GatewayRefusesBadChunksCountsThemAndStillSumsExactly) {
  testing::TempDir dir;
  // Two DCs, star with the server at "east": we play "west" by hand.
  absl::StatusOr<core::Topology> topology =
      core::ParseTopology("kind: mesh\ndataCenters: [east, west]\ndefaultMbps: 100\n", "inline");
  core::PlanOptions options;
  options.star_root = 0;
  absl::StatusOr<core::Policy> policy = core::PlanTopology(*topology, "star", 8'000, 4'000, options);
  ASSERT_TRUE(policy.ok()) << policy.status();
  const std::string policy_file = dir.path() + "/policy.yaml";
  std::ofstream(policy_file) << core::ToYaml(*policy);
  const std::string address = "unix:" + dir.path() + "/east-data.sock";
  const std::string socket = "unix:" + dir.path() + "/east.sock";
  const std::string events = dir.path() + "/east.events";
  Process gateway({std::string(GEOSTORM_BIN_DIR) + "/geostorm-sidecar", "--dc", "east", "--policy", policy_file,
                   "--listen", address, "--peer", "west=unix:" + dir.path() + "/west.sock", "--worker-listen", socket,
                   "--metrics", "127.0.0.1:0", "--events", events, "--insecure"},
                  dir.path() + "/east.log");

  auto channel = grpc::CreateChannel(address, grpc::InsecureChannelCredentials());
  auto stub = v1::DataPlane::NewStub(channel);
  grpc::ClientContext context;
  context.set_wait_for_ready(true);
  auto stream = stub->Exchange(&context);
  auto send = [&](const v1::Chunk& c) {
    EXPECT_TRUE(stream->Write(c));
    v1::Ack ack;
    EXPECT_TRUE(stream->Read(&ack));
    return ack;
  };
  auto west = [&](int64_t chunk, float value) {
    wire::Envelope e{wire::ChunkKind::kReduce,
                     0,
                     policy->version,
                     0,
                     chunk,
                     1,
                     "west",
                     {},
                     std::make_shared<wire::Floats>(1000, value)};
    return wire::ToProto(wire::EncodeChunk("job", 4'000, e));
  };

  const v1::Ack first = send(west(0, 3));
  EXPECT_TRUE(first.accepted());
  EXPECT_GT(first.received_us(), 0);  // when east read it, on east's clock: the sender's meter times the link by it
  v1::Ack dup = send(west(0, 3));
  EXPECT_FALSE(dup.accepted());
  EXPECT_GT(dup.received_us(), first.received_us());
  EXPECT_NE(dup.error().find("duplicate reduce chunk 0 from 'west'"), std::string::npos) << dup.error();
  v1::Chunk corrupt = west(1, 3);
  (*corrupt.mutable_payload())[5] ^= 0x40;
  v1::Ack crc = send(corrupt);
  EXPECT_FALSE(crc.accepted());
  EXPECT_NE(crc.error().find("fails its CRC32C"), std::string::npos) << crc.error();
  v1::Chunk far = west(1, 3);
  far.set_chunk(2);
  far.set_offset(8'000);
  EXPECT_NE(send(far).error().find("field 'chunk': 2 is outside [0, 2)"), std::string::npos);
  v1::Chunk other_job = west(1, 3);
  other_job.set_job("someone-else");
  EXPECT_NE(send(other_job).error().find("unknown job 'someone-else'"), std::string::npos);
  v1::Chunk stranger = west(1, 3);
  stranger.set_sender("mallory");
  wire::SealHeader(stranger);  // a well-formed chunk from a DC that is no child of east
  EXPECT_NE(send(stranger).error().find("'mallory' is not a reduce child of east"), std::string::npos);
  v1::Chunk miscounted = west(1, 3);
  miscounted.set_contributors(2);  // changed on the way: summed, it would count west twice
  EXPECT_NE(send(miscounted).error().find("its header fails its CRC32C"), std::string::npos);

  // A message over the limit is refused by gRPC before it is buffered, and ends
  // only its own stream.
  {
    grpc::ClientContext big_context;
    auto big = stub->Exchange(&big_context);
    v1::Chunk huge = west(1, 3);
    huge.mutable_payload()->resize(wire::kMaxMessageBytes);
    big->Write(huge);
    v1::Ack ack;
    EXPECT_FALSE(big->Read(&ack));
    EXPECT_EQ(big->Finish().error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  }

  // The refusals changed nothing: with west's second chunk and east's own worker,
  // the sum is exact (east contributes 1.0 everywhere, west 3.0).
  EXPECT_TRUE(send(west(1, 3)).accepted());
  absl::StatusOr<Client> worker = Client::Connect(socket);
  ASSERT_TRUE(worker.ok()) << worker.status();
  std::vector<float> grad(2'000, 1.0f);
  absl::StatusOr<int> contributors = worker->AllReduce(0, absl::MakeSpan(grad));
  ASSERT_TRUE(contributors.ok()) << contributors.status();
  EXPECT_EQ(*contributors, 2);
  for (float v : grad) ASSERT_EQ(v, 4.0f);

  // Named tensors that cannot be laid out are refused before anything is sent.
  std::vector<float> a(1'000), b(1'000), c(999);
  auto refusal = [&](std::vector<Tensor> tensors) {
    return std::string(worker->AllReduce(1, tensors).status().message());
  };
  EXPECT_NE(refusal({{"w", absl::MakeSpan(a)}, {"w", absl::MakeSpan(b)}}).find("tensor 'w' is given twice"),
            std::string::npos);
  EXPECT_NE(refusal({{"w", absl::MakeSpan(a)}, {"b", absl::MakeSpan(c)}}).find("1999 values in all"),
            std::string::npos);
  EXPECT_NE(refusal({{"", absl::MakeSpan(a)}, {"b", absl::MakeSpan(b)}}).find("no name"), std::string::npos);

  const int metrics = cli::ReadPorts(events)["metrics"];  // the gateway has started: it answered
  ASSERT_GT(metrics, 0);
  const std::string chunks = "geostorm_chunks_total";
  EXPECT_EQ(testing::MetricSum(metrics, chunks, {"outcome=\"accepted\""}),
            2 + 2);  // west's two chunks + east's worker's two
  EXPECT_EQ(testing::MetricSum(metrics, chunks, {"outcome=\"duplicate\""}), 1);
  EXPECT_EQ(testing::MetricSum(metrics, chunks, {"outcome=\"checksum_error\""}), 2);
  EXPECT_EQ(testing::MetricSum(metrics, chunks, {"outcome=\"rejected\""}), 3);
  // By sender: west's refusals under its name, the stranger's (and the other job's) under "other".
  const std::string refused = "geostorm_chunks_refused_total";
  EXPECT_EQ(testing::MetricSum(metrics, refused, {"peer=\"west\"", "reason=\"duplicate\""}), 1);
  EXPECT_EQ(testing::MetricSum(metrics, refused, {"peer=\"west\"", "reason=\"checksum_error\""}), 2);
  EXPECT_EQ(testing::MetricSum(metrics, refused, {"peer=\"west\"", "reason=\"rejected\""}), 2);
  EXPECT_EQ(testing::MetricSum(metrics, refused, {"peer=\"other\"", "reason=\"rejected\""}), 1);
  EXPECT_EQ(testing::MetricSum(metrics, refused, {"peer=\"mallory\""}), 0);
  // The policy in force: east roots the whole model (a star), and sends its broadcast to west.
  EXPECT_EQ(testing::MetricSum(metrics, "geostorm_topology_node", {"dc=\"east\"", "role=\"root\""}), 1);
  EXPECT_EQ(
      testing::MetricSum(metrics, "geostorm_topology_edge", {"src=\"east\"", "dst=\"west\"", "kind=\"broadcast\""}), 1);
  EXPECT_TRUE(gateway.running());
  context.TryCancel();
}

// A receiver that takes one chunk every `pause` and notes their order. Each ack
// says when the chunk was read, on the receiver's clock, as the gateway's
// DataPlane does.
class PacedReceiver final : public v1::DataPlane::Service {
 public:
  explicit PacedReceiver(std::chrono::milliseconds pause) : pause_(pause) {}
  grpc::Status Exchange(grpc::ServerContext*, grpc::ServerReaderWriter<v1::Ack, v1::Chunk>* stream) override {
    v1::Chunk chunk;
    while (stream->Read(&chunk)) {
      std::this_thread::sleep_for(pause_);
      {
        std::lock_guard<std::mutex> lock(mu);
        order.push_back(chunk.chunk());
      }
      ++received;
      v1::Ack ack;
      ack.set_accepted(true);
      ack.set_received_us(
          std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::steady_clock::now().time_since_epoch())
              .count());
      if (!stream->Write(ack)) break;
    }
    return grpc::Status::OK;
  }
  std::atomic<int> received{0};
  std::mutex mu;
  std::vector<int64_t> order;

 private:
  const std::chrono::milliseconds pause_;
};

std::unique_ptr<grpc::Server> Serve(grpc::Service* service, int* port) {
  grpc::ServerBuilder builder;
  builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), port);
  builder.SetMaxReceiveMessageSize(-1);
  builder.RegisterService(service);
  return builder.BuildAndStart();
}

TEST(PeerLinkOrder, WaitingChunksLeaveLowestPriorityFirst) {
  // The peer is not up yet, so every chunk waits in the link's queue; they must
  // leave by shard position once it comes up, ties in arrival order.
  testing::TempDir dir;
  const std::string address = "unix:" + dir.path() + "/late.sock";  // known before its server exists
  auto link =
      std::make_unique<sidecar::PeerLink>("late", address, grpc::InsecureChannelCredentials(), 64 << 20, 1 << 20);
  wire::WireChunk chunk;
  chunk.set_payload(std::make_shared<wire::Floats>(250, 1.0f));
  const std::vector<std::pair<int64_t, double>> sends = {{0, 0.9}, {1, 0.1}, {2, 0.5}, {3, 0.1}, {4, 0.0}};
  for (const auto& [k, priority] : sends) {
    chunk.header.set_chunk(k);
    ASSERT_TRUE(link->Send(chunk, std::chrono::seconds(1), priority));
  }
  // The writer may already hold the first chunk sent (the call cannot start
  // while the peer is down); every later one is ordered.
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  PacedReceiver receiver(std::chrono::milliseconds(100));
  grpc::ServerBuilder builder;
  builder.AddListeningPort(address, grpc::InsecureServerCredentials());
  builder.RegisterService(&receiver);
  std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
  ASSERT_NE(server, nullptr);
  for (int i = 0; i < 200 && receiver.received < 5; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(20));
  std::lock_guard<std::mutex> lock(receiver.mu);
  ASSERT_EQ(receiver.order.size(), 5u);
  std::vector<int64_t> rest(receiver.order.begin() + (receiver.order.front() == 0 ? 1 : 0), receiver.order.end());
  EXPECT_EQ(rest,
            receiver.order.front() == 0 ? (std::vector<int64_t>{4, 1, 3, 2}) : (std::vector<int64_t>{4, 1, 3, 2, 0}))
      << "order " << ::testing::PrintToString(receiver.order);
  link.reset();
  server->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(2));
}

TEST(Backpressure, SlowReceiverBlocksTheSenderWithinTheQueueBound) {
  PacedReceiver receiver(std::chrono::milliseconds(100));
  int port = 0;
  std::unique_ptr<grpc::Server> server = Serve(&receiver, &port);
  ASSERT_GT(port, 0);

  constexpr int64_t kChunk = 256 << 10, kBound = 4 << 20;
  auto link = std::make_unique<sidecar::PeerLink>("slow", absl::StrCat("127.0.0.1:", port),
                                                  grpc::InsecureChannelCredentials(), kBound, 1 << 20);
  wire::WireChunk chunk;
  chunk.set_payload(std::make_shared<wire::Floats>(kChunk / 4, 1.0f));
  int queued = 0;
  int64_t most = 0;
  // Offer far more than the bound: Send must start refusing (after its timeout)
  // instead of buffering everything.
  for (int i = 0; i < 200; ++i) {
    if (!link->Send(chunk, std::chrono::milliseconds(10))) break;
    ++queued;
    most = std::max(most, link->queued_bytes());
  }
  EXPECT_LT(queued, 200);
  EXPECT_LE(most, kBound);
  EXPECT_GE(queued, kBound / kChunk);
  // What was queued is delivered in the end.
  for (int i = 0; i < 500 && receiver.received < queued; ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  EXPECT_EQ(receiver.received, queued);
  link.reset();  // closes the stream, so that the server can shut down
  server->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(2));
}

// A link that delivers one 16 kB chunk every 5 ms (3.3 MB/s).
TEST(PeerLinkProbe, TheRestOfAProbeIsNotSentOnceTheMeterHasItsSample) {
  PacedReceiver receiver(std::chrono::milliseconds(5));
  int port = 0;
  std::unique_ptr<grpc::Server> server = Serve(&receiver, &port);
  ASSERT_GT(port, 0);
  auto link = std::make_unique<sidecar::PeerLink>("paced", absl::StrCat("127.0.0.1:", port),
                                                  grpc::InsecureChannelCredentials(), 64 << 20, 256 << 10);
  ASSERT_EQ(link->meter().NextProbeBytes(), 1 << 20);  // unmeasured: a probe is now pending
  wire::WireChunk chunk;
  chunk.header.set_kind(v1::CHUNK_PROBE);
  chunk.set_payload(std::make_shared<wire::Floats>(4096, 0.0f));  // 16 kB
  constexpr int kSent = 200;                                      // 3.3 MB, a second of the link
  for (int i = 0; i < kSent; ++i) ASSERT_TRUE(link->Send(chunk, std::chrono::seconds(1), 1e9));
  for (int i = 0; i < 300 && link->queued_bytes() > 0; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  EXPECT_EQ(link->queued_bytes(), 0);
  EXPECT_EQ(link->meter().outstanding_bytes(), 0);
  EXPECT_FALSE(link->meter().probe_pending());
  EXPECT_NEAR(link->meter().bytes_per_second(), 16'384 / 0.005, 0.25 * 16'384 / 0.005);
  // A 250 ms sample, the burst before it and the window after it: far from all.
  EXPECT_LT(receiver.received, kSent / 2) << receiver.received << " probe chunks were read";
  link.reset();
  server->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(2));
}

}  // namespace
}  // namespace geostorm
