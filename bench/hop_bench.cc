// One relay hop and one aggregate-forward hop through a real geostorm-sidecar
// process on loopback, in GB/s of payload, against memcpy of a model-sized
// buffer in this process. Goal: at least 1 GB/s per hop.
//
// This process plays every neighbour of the sidecar under test, DC "b" of a
// three-DC job a - b - c (one shard, root c; reduce a -> b -> c, broadcast
// c -> a and c -> b):
//   relay:      "a" streams chunks routed through b to c; b forwards them unread.
//   aggregate:  "a" streams its reduce chunks and b's member its local chunks; b
//               sums the two and forwards the sum to c, which answers each with
//               the broadcast, which b hands back to the member. So b carries
//               three streams in and two out; the figure is the summed payload
//               leaving b per second, checked value by value at c.
// The sidecar's CPU time (from /proc) is reported per GB, since on a 2-core
// machine this process competes with it. The baseline is the same hop with no
// gRPC and no sidecar: a child process that only read()s from one loopback TCP
// socket and write()s to another, the most any relay process can do here.
//
//   hop_bench --bin-dir build/bin [--model-mb 64] [--chunk-kb 1024] [--iterations 12] [--relay-gb 2] [--json]
#include <grpcpp/grpcpp.h>
#include <CLI/CLI.hpp>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <mutex>
#include <sstream>
#include <thread>

#include "absl/strings/str_cat.h"
#include "cli/job_launcher.h"
#include "sidecar/transport/peer_link.h"
#include "tests/support/process.h"
#include "wire/chunk_codec.h"
#include "wire/services.h"

namespace geostorm::bench {
namespace {

using wire::ChunkKind;
using wire::Floats;
using wire::WireChunk;
using Clock = std::chrono::steady_clock;

constexpr auto kSendTimeout = std::chrono::seconds(60);

double Seconds(Clock::duration d) { return std::chrono::duration<double>(d).count(); }

// utime + stime of a process, in seconds.
double CpuSeconds(pid_t pid) {
  std::ifstream in(absl::StrCat("/proc/", pid, "/stat"));
  std::string stat((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  std::istringstream fields(stat.substr(stat.rfind(')') + 2));
  std::string skip;
  for (int i = 0; i < 11; ++i) fields >> skip;  // state .. cmajflt
  double user = 0, system = 0;
  fields >> user >> system;
  return (user + system) / static_cast<double>(sysconf(_SC_CLK_TCK));
}

struct Hop {
  double gbps = 0;
  double cpu_seconds_per_gb = 0;
};

// A connected loopback TCP pair: {accepted, connected}.
std::pair<int, int> TcpPair() {
  const int listener = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof addr;
  if (bind(listener, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 || listen(listener, 1) != 0 ||
      getsockname(listener, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    std::perror("hop_bench: loopback listener");
    std::exit(1);
  }
  const int client = socket(AF_INET, SOCK_STREAM, 0);
  if (connect(client, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    std::perror("hop_bench: loopback connect");
    std::exit(1);
  }
  const int server = accept(listener, nullptr, nullptr);
  close(listener);
  return {server, client};
}

// GB/s through a bare forwarding process: this process writes `bytes` into one
// socket, a child copies them to another, a thread here reads them back.
Hop BareForwarder(int64_t bytes) {
  auto [in_far, in_near] = TcpPair();    // this process -> child
  auto [out_far, out_near] = TcpPair();  // child -> this process
  std::vector<char> buffer(1 << 20);     // allocated before fork: the child of a threaded process must not malloc
  const pid_t child = fork();
  if (child == 0) {
    close(in_near);
    close(out_far);
    for (ssize_t n; (n = read(in_far, buffer.data(), buffer.size())) > 0;) {
      for (ssize_t off = 0; off < n;) {
        const ssize_t w = write(out_near, buffer.data() + off, static_cast<size_t>(n - off));
        if (w <= 0) _exit(1);
        off += w;
      }
    }
    _exit(0);
  }
  close(in_far);
  close(out_near);
  std::vector<char> payload(1 << 20, 1);
  const auto start = Clock::now();
  std::thread sink([&, fd = out_far] {
    for (int64_t got = 0; got < bytes;) {
      const ssize_t n = read(fd, buffer.data(), buffer.size());
      if (n <= 0) break;
      got += n;
    }
  });
  for (int64_t sent = 0; sent < bytes;) {
    const ssize_t n = write(in_near, payload.data(), static_cast<size_t>(std::min<int64_t>(bytes - sent, 1 << 20)));
    if (n <= 0) break;
    sent += n;
  }
  close(in_near);
  sink.join();
  const double seconds = Seconds(Clock::now() - start);
  close(out_far);
  rusage usage{};
  wait4(child, nullptr, 0, &usage);
  const double cpu = static_cast<double>(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec) +
                     static_cast<double>(usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) / 1e6;
  return {static_cast<double>(bytes) / seconds / 1e9, cpu / (static_cast<double>(bytes) / 1e9)};
}

double MemcpyGBps(size_t bytes) {
  std::vector<char> a(bytes, 1), b(bytes, 0);
  std::memcpy(b.data(), a.data(), bytes);  // touch both
  const auto start = Clock::now();
  constexpr int kRounds = 10;
  for (int i = 0; i < kRounds; ++i) {
    a[i] = static_cast<char>(i);
    std::memcpy(b.data(), a.data(), bytes);
  }
  return kRounds * static_cast<double>(bytes) / Seconds(Clock::now() - start) / 1e9;
}

// The value at byte `at` of a received payload, which may straddle slices.
float ValueAt(const WireChunk& chunk, size_t at) {
  unsigned char bytes[4];
  size_t start = 0, got = 0;
  for (const grpc::Slice& s : chunk.received) {
    const size_t end = start + s.size();
    for (size_t i = std::max(at + got, start); i < end && got < 4; ++i) bytes[got++] = s.begin()[i - start];
    start = end;
  }
  float v = 0;
  if (got == 4) std::memcpy(&v, bytes, 4);
  return v;
}

// The first and the last value of a received payload (without copying it out).
bool EdgesAre(const WireChunk& chunk, float want) {
  return chunk.bytes() >= 4 && ValueAt(chunk, 0) == want &&
         ValueAt(chunk, static_cast<size_t>(chunk.bytes()) - 4) == want;
}

// DC "c": counts what b sends it and answers each reduce chunk with its broadcast.
class PeerC final : public wire::DataPlaneService {
 public:
  explicit PeerC(int total_workers) : total_workers_(total_workers) {}
  void ConnectBack(const std::string& b_address) {
    to_b_ = std::make_unique<sidecar::PeerLink>("b", b_address, grpc::InsecureChannelCredentials(), 64 << 20, 64 << 20);
  }

  grpc::Status Exchange(grpc::ServerContext*, grpc::ServerReaderWriter<v1::Ack, WireChunk>* stream) override {
    WireChunk chunk;
    while (stream->Read(&chunk)) {
      const bool summed = chunk.header.kind() == v1::CHUNK_REDUCE && chunk.header.sender() == "b";
      if (summed && !EdgesAre(chunk, 3.0f)) wrong_.fetch_add(1);
      {
        std::lock_guard<std::mutex> lock(mu_);
        bytes_ += chunk.bytes();
        last_ = Clock::now();
      }
      arrived_.notify_all();
      if (summed && to_b_) {  // the same bytes (and checksum) go back down, not copied
        WireChunk down = chunk;
        down.header.set_kind(v1::CHUNK_BROADCAST);
        down.header.set_sender("c");
        down.header.set_contributors(total_workers_);
        wire::SealHeader(down.header);  // its header changed: a new header checksum
        to_b_->Send(std::move(down), kSendTimeout);
      }
      v1::Ack ack;
      ack.set_chunk(chunk.header.chunk());
      ack.set_accepted(true);
      if (!stream->Write(ack)) break;
    }
    return grpc::Status::OK;
  }
  grpc::Status Join(grpc::ServerContext*, grpc::ServerReaderWriter<WireChunk, WireChunk>*) override {
    return grpc::Status(grpc::StatusCode::UNIMPLEMENTED, "not a gateway");
  }

  // Waits until `bytes` have arrived in all; returns when the last of them did.
  Clock::time_point WaitFor(int64_t bytes) {
    std::unique_lock<std::mutex> lock(mu_);
    arrived_.wait(lock, [&] { return bytes_ >= bytes; });
    return last_;
  }
  int64_t bytes() {
    std::lock_guard<std::mutex> lock(mu_);
    return bytes_;
  }
  int wrong() const { return wrong_.load(); }

 private:
  const int total_workers_;
  std::unique_ptr<sidecar::PeerLink> to_b_;
  std::mutex mu_;
  std::condition_variable arrived_;
  int64_t bytes_ = 0;
  Clock::time_point last_;
  std::atomic<int> wrong_{0};
};

std::string PolicyYaml(int64_t model_bytes, int64_t chunk_bytes) {
  const int64_t chunks = (model_bytes + chunk_bytes - 1) / chunk_bytes;
  return absl::StrCat("version: 1\nstrategy: \"star\"\ndataCenters: [\"a\", \"b\", \"c\"]\nmodelBytes: ", model_bytes,
                      "\nchunkBytes: ", chunk_bytes,
                      "\nphaseBarrier: false\nshards:\n  - root: \"c\"\n    firstChunk: 0\n    numChunks: ", chunks,
                      "\n    reduce: {a: \"b\", b: \"c\"}\n    broadcast: {a: \"c\", b: \"c\"}\nauxRoutes: []\n");
}

int Run(const std::string& bin_dir, int64_t model_mb, int64_t chunk_kb, int iterations, double relay_gb, bool json) {
  const int64_t chunk_bytes = chunk_kb << 10;
  const int64_t model_bytes = model_mb << 20;
  const int64_t chunks = model_bytes / chunk_bytes;
  testing::TempDir dir;
  std::ofstream(dir.path() + "/policy.yaml") << PolicyYaml(model_bytes, chunk_bytes);

  PeerC c(3);
  int c_port = 0;
  grpc::ServerBuilder builder;
  builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &c_port);
  builder.SetMaxReceiveMessageSize(-1);
  builder.RegisterService(&c);
  std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
  const std::string c_address = absl::StrCat("127.0.0.1:", c_port);
  const std::string b_events = dir.path() + "/b.events";
  testing::Process b({bin_dir + "/geostorm-sidecar",
                      "--dc",
                      "b",
                      "--policy",
                      dir.path() + "/policy.yaml",
                      "--listen",
                      "127.0.0.1:0",
                      "--peer",
                      "a=" + c_address,
                      "--peer",
                      "c=" + c_address,
                      "--workers",
                      "1",
                      "--total-workers",
                      "3",
                      "--timeout-ms",
                      "60000",
                      "--events",
                      b_events,
                      "--insecure"},
                     dir.path() + "/b.log");
  int b_port = 0;  // b picks its port and says which in its event file
  for (int i = 0; i < 1000 && b_port == 0 && b.running(); ++i) {
    b_port = cli::ReadPorts(b_events)["data"];
    if (b_port == 0) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  if (b_port == 0) {
    std::fprintf(stderr, "hop_bench: the sidecar did not start: %s\n", b.Log().c_str());
    return 1;
  }
  const std::string b_address = absl::StrCat("127.0.0.1:", b_port);
  c.ConnectBack(b_address);
  sidecar::PeerLink a_to_b("b", b_address, grpc::InsecureChannelCredentials(), 64 << 20, 64 << 20);

  // The same payloads are sent again and again: this process never copies them.
  auto ones = std::make_shared<Floats>(static_cast<size_t>(chunk_bytes / 4), 1.0f);
  auto twos = std::make_shared<Floats>(static_cast<size_t>(chunk_bytes / 4), 2.0f);
  auto wire = [&](ChunkKind kind, uint64_t t, int64_t k, const std::string& sender, std::vector<std::string> route,
                  const wire::Payload& data) {
    return wire::EncodeChunk("job", chunk_bytes, {kind, t, 1, 0, k, 1, sender, std::move(route), data});
  };

  // Relay: a -> b -> c, warmed up with one model's worth first.
  auto relay = [&](int64_t bytes) {
    const int64_t before = c.bytes();
    const auto start = Clock::now();
    const double cpu = CpuSeconds(b.pid());
    for (int64_t sent = 0, k = 0; sent < bytes; sent += chunk_bytes, k = (k + 1) % chunks) {
      a_to_b.Send(wire(ChunkKind::kReduce, 0, k, "a", {"c"}, twos), kSendTimeout);
    }
    const double seconds = Seconds(c.WaitFor(before + bytes) - start);
    return Hop{bytes / seconds / 1e9, (CpuSeconds(b.pid()) - cpu) / (bytes / 1e9)};
  };
  relay(model_bytes);
  const Hop relayed = relay(static_cast<int64_t>(relay_gb * 1e9) / chunk_bytes * chunk_bytes);

  // Aggregate-forward: iteration t's chunks go out once t - 2 is back.
  grpc::ClientContext context;
  std::unique_ptr<wire::JoinStream> member =
      wire::DataPlaneStub(
          grpc::CreateCustomChannel(b_address, grpc::InsecureChannelCredentials(), sidecar::PeerChannelArguments()))
          .Join(&context);
  std::mutex mu;
  std::condition_variable done;
  int64_t results = 0;
  std::thread reader([&] {
    WireChunk r;
    while (member->Read(&r)) {
      std::lock_guard<std::mutex> lock(mu);
      ++results;
      done.notify_all();
    }
  });
  auto wait_results = [&](int64_t n) {
    std::unique_lock<std::mutex> lock(mu);
    return done.wait_for(lock, std::chrono::seconds(60), [&] { return results >= n; });
  };
  const int64_t before = c.bytes();
  Clock::time_point start;
  double cpu = 0;
  std::thread from_a([&] {
    for (int t = 0; t < iterations; ++t) {
      if (t >= 2 && !wait_results((t - 1) * chunks)) return;
      for (int64_t k = 0; k < chunks; ++k) {
        a_to_b.Send(wire(ChunkKind::kReduce, static_cast<uint64_t>(t), k, "a", {}, twos), kSendTimeout);
      }
    }
  });
  for (int t = 0; t < iterations; ++t) {
    if (t >= 2 && !wait_results((t - 1) * chunks)) break;
    if (t == 1) {  // iteration 0 warms up
      start = Clock::now();
      cpu = CpuSeconds(b.pid());
    }
    for (int64_t k = 0; k < chunks; ++k)
      member->Write(wire(ChunkKind::kLocal, static_cast<uint64_t>(t), k, "member", {}, ones));
  }
  const bool complete = wait_results(iterations * chunks);
  const double seconds = Seconds(Clock::now() - start);
  const double summed_gb = static_cast<double>((iterations - 1) * model_bytes) / 1e9;
  const Hop aggregated{summed_gb / seconds, (CpuSeconds(b.pid()) - cpu) / summed_gb};
  from_a.join();
  context.TryCancel();
  reader.join();
  if (!complete || c.bytes() - before != iterations * model_bytes || c.wrong() > 0) {
    std::fprintf(stderr,
                 "hop_bench: aggregate-forward incomplete or wrong (%lld of %d iterations, %d wrong sums); see %s\n",
                 static_cast<long long>(results / chunks), iterations, c.wrong(), b.log_path().c_str());
    std::fputs(b.Log().c_str(), stderr);
    return 1;
  }
  const double memcpy_gbps = MemcpyGBps(static_cast<size_t>(model_bytes));
  const Hop bare = BareForwarder(static_cast<int64_t>(relay_gb * 1e9));
  // b carries five streams per GB of sums (three in, two out); halved, as the
  // forwarder's one in and one out count each byte once.
  const Hop streams{aggregated.gbps * 5 / 2, aggregated.cpu_seconds_per_gb * 2 / 5};
  if (json) {
    std::printf(
        "{\"relay_gbps\": %.3f, \"aggregate_forward_gbps\": %.3f, \"aggregate_forward_stream_gbps\": %.3f, "
        "\"bare_forwarder_gbps\": %.3f, \"memcpy_gbps\": %.3f, \"relay_x_forwarder\": %.3f, "
        "\"aggregate_forward_stream_x_forwarder\": %.3f, \"sidecar_cpu_s_per_gb\": %.3f, "
        "\"aggregate_forward_cpu_s_per_stream_gb\": %.3f, \"forwarder_cpu_s_per_gb\": %.3f}\n",
        relayed.gbps, aggregated.gbps, streams.gbps, bare.gbps, memcpy_gbps, relayed.gbps / bare.gbps,
        streams.gbps / bare.gbps, relayed.cpu_seconds_per_gb, streams.cpu_seconds_per_gb, bare.cpu_seconds_per_gb);
  } else {
    std::printf("chunks of %lld KiB; memcpy of %lld MiB in this process: %.2f GB/s\n", static_cast<long long>(chunk_kb),
                static_cast<long long>(model_mb), memcpy_gbps);
    std::printf("%-26s %8s %10s %12s %14s %18s\n", "hop", "GB/s", "x memcpy", "x forwarder", "CPU s per GB",
                "GB/s per CPU-s");
    for (const auto& [name, hop] :
         {std::pair{"relay", relayed}, std::pair{"aggregate-forward (sums)", aggregated},
          std::pair{"aggregate-forward streams", streams}, std::pair{"bare TCP forwarder", bare}}) {
      std::printf("%-26s %8.2f %10.2f %12.2f %14.2f %18.2f\n", name, hop.gbps, hop.gbps / memcpy_gbps,
                  hop.gbps / bare.gbps, hop.cpu_seconds_per_gb, 1 / hop.cpu_seconds_per_gb);
    }
  }
  server->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(1));
  return 0;
}

}  // namespace
}  // namespace geostorm::bench

int main(int argc, char** argv) {
  CLI::App app("One relay hop and one aggregate-forward hop through a real sidecar, on loopback");
  std::string bin_dir = "build/bin";
  int64_t model_mb = 64, chunk_kb = 1024;
  int iterations = 12;
  double relay_gb = 2;
  app.add_option("--bin-dir", bin_dir, "where geostorm-sidecar is");
  app.add_option("--model-mb", model_mb, "gradient size per iteration (MiB)")->check(CLI::PositiveNumber);
  app.add_option("--chunk-kb", chunk_kb, "chunk size (KiB)")->check(CLI::PositiveNumber);
  app.add_option("--iterations", iterations, "aggregate-forward iterations (the first warms up)")
      ->check(CLI::Range(2, 1000));
  app.add_option("--relay-gb", relay_gb, "payload to relay (GB)")->check(CLI::PositiveNumber);
  bool json = false;
  app.add_flag("--json", json, "print one JSON object of the figures instead of the table");
  CLI11_PARSE(app, argc, argv);
  return geostorm::bench::Run(bin_dir, model_mb, chunk_kb, iterations, relay_gb, json);
}
