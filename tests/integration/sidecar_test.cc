// Real sidecar and worker processes on loopback: every worker must get back the
// exact sum of every worker's gradient, every iteration, for every strategy.
#include <gtest/gtest.h>
#include <signal.h>

#include <algorithm>
#include <cstdlib>
#include <fstream>
#include <map>
#include <memory>
#include <regex>

#include "absl/strings/str_cat.h"
#include "core/planner/planner.h"
#include "core/policy/policy_codec.h"
#include "tests/support/process.h"

namespace geostorm {
namespace {

using testing::FreePort;
using testing::Process;

std::string Bin(const std::string& name) { return std::string(GEOSTORM_BIN_DIR) + "/" + name; }
std::string Topology(const std::string& name) { return std::string(GEOSTORM_DATA_DIR) + "/" + name; }

constexpr char kTwoDcs[] = "kind: mesh\ndataCenters: [east, west]\nmbps: {east: {west: 200}, west: {east: 80}}\n";

struct JobSpec {
  std::string topology;  // a file name in examples/topologies, or inline YAML
  std::string strategy;
  int workers = 1;  // per DC
  int64_t model_bytes = 1 << 20;
  int iterations = 20;
  int timeout_ms = 20000;
  std::vector<std::string> sidecar_flags;  // extra flags for every gateway
};

// A job on loopback: one gateway sidecar per DC, W-1 member sidecars per DC, and
// one synthetic worker per sidecar.
class LocalJob {
 public:
  explicit LocalJob(const JobSpec& spec) : spec_(spec) {
    absl::StatusOr<core::Topology> topology = spec.topology.find('\n') == std::string::npos
                                                  ? core::LoadTopologyFile(Topology(spec.topology))
                                                  : core::ParseTopology(spec.topology, "inline");
    EXPECT_TRUE(topology.ok()) << topology.status();
    absl::StatusOr<core::Policy> policy =
        core::PlanTopology(*topology, spec.strategy, spec.model_bytes, core::AutoChunkBytes(spec.model_bytes));
    EXPECT_TRUE(policy.ok()) << policy.status();
    policy_ = *policy;
    policy_file_ = dir_.path() + "/policy.yaml";
    std::ofstream(policy_file_) << core::ToYaml(policy_);
    for (size_t i = 0; i < policy_.data_centers.size(); ++i) {
      ports_.push_back(FreePort());
      metrics_ports_.push_back(FreePort());
    }
  }

  const core::Policy& policy() const { return policy_; }
  int dcs() const { return static_cast<int>(policy_.data_centers.size()); }

  void StartGateway(int i) { StartGatewayWithFlags(i, spec_.sidecar_flags); }

  void StartGatewayWithFlags(int i, const std::vector<std::string>& flags) {
    std::vector<std::string> argv = {Bin("geostorm-sidecar"),
                                     "--dc",
                                     policy_.data_centers[i],
                                     "--policy",
                                     policy_file_,
                                     "--listen",
                                     absl::StrCat("127.0.0.1:", ports_[i]),
                                     "--worker-listen",
                                     WorkerSocket(i, 0),
                                     "--workers",
                                     std::to_string(spec_.workers),
                                     "--metrics",
                                     absl::StrCat("127.0.0.1:", metrics_ports_[i]),
                                     "--timeout-ms",
                                     std::to_string(spec_.timeout_ms)};
    if (std::find(flags.begin(), flags.end(), "--tls-cert") == flags.end()) argv.push_back("--insecure");
    for (int j = 0; j < dcs(); ++j) {
      if (j != i) argv.insert(argv.end(), {"--peer", absl::StrCat(policy_.data_centers[j], "=127.0.0.1:", ports_[j])});
    }
    argv.insert(argv.end(), flags.begin(), flags.end());
    gateways_[i] = std::make_unique<Process>(argv, Log("gateway", i, 0));
  }

  void StartSidecars() {
    for (int i = 0; i < dcs(); ++i) {
      StartGateway(i);
      for (int w = 1; w < spec_.workers; ++w) {
        members_.emplace_back(
            std::vector<std::string>{Bin("geostorm-sidecar"), "--dc", policy_.data_centers[i], "--policy", policy_file_,
                                     "--gateway", absl::StrCat("127.0.0.1:", ports_[i]), "--member-id",
                                     absl::StrCat(policy_.data_centers[i], "-", w), "--worker-listen",
                                     WorkerSocket(i, w), "--workers", std::to_string(spec_.workers), "--insecure"},
            Log("member", i, w));
      }
    }
  }

  // Starts every worker for `iterations` iterations from `first`.
  void StartWorkers(uint64_t first, int iterations, bool keep_going = false) {
    workers_.clear();
    for (int i = 0; i < dcs(); ++i) {
      for (int w = 0; w < spec_.workers; ++w) {
        std::vector<std::string> argv = {Bin("geostorm-synthetic-worker"),
                                         "--sidecar",
                                         WorkerSocket(i, w),
                                         "--dc-index",
                                         std::to_string(i),
                                         "--worker-index",
                                         std::to_string(w),
                                         "--dcs",
                                         std::to_string(dcs()),
                                         "--workers",
                                         std::to_string(spec_.workers),
                                         "--iterations",
                                         std::to_string(iterations),
                                         "--first-iteration",
                                         std::to_string(first)};
        if (keep_going) argv.push_back("--keep-going");
        workers_.emplace_back(argv, Log(absl::StrCat("worker-from-", first), i, w));
      }
    }
  }

  // Waits for every worker; returns their exit codes (-1: still running).
  std::vector<int> WaitWorkers(std::chrono::milliseconds timeout) {
    std::vector<int> codes;
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    for (Process& p : workers_) {
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
      codes.push_back(p.Wait(std::max(left, std::chrono::milliseconds(1))).value_or(-1));
    }
    return codes;
  }

  std::string WorkerLogs() const {
    std::string all;
    for (const Process& p : workers_) all += p.log_path() + ":\n" + p.Log() + "\n";
    return all;
  }

  std::string GatewayLog(int i) const { return gateways_.at(i)->Log(); }
  Process& gateway(int i) { return *gateways_.at(i); }

  // Sum over the gateways of a Prometheus counter whose line matches `series`.
  double SumMetric(const std::string& series) const {
    double total = 0;
    for (int port : metrics_ports_) {
      const std::string body = testing::HttpGet(port, "/metrics");
      std::regex line("^" + series + "\\S* ([0-9.e+]+)$", std::regex::multiline);
      for (auto it = std::sregex_iterator(body.begin(), body.end(), line); it != std::sregex_iterator(); ++it) {
        total += std::stod((*it)[1]);
      }
    }
    return total;
  }

 private:
  std::string WorkerSocket(int dc, int w) const {
    return absl::StrCat("unix:", dir_.path(), "/w", dc, "-", w, ".sock");
  }
  std::string Log(const std::string& what, int dc, int w) const {
    return absl::StrCat(dir_.path(), "/", what, "-", dc, "-", w, ".log");
  }

  JobSpec spec_;
  testing::TempDir dir_;
  core::Policy policy_;
  std::string policy_file_;
  std::vector<int> ports_, metrics_ports_;
  std::map<int, std::unique_ptr<Process>> gateways_;
  std::vector<Process> members_;
  std::vector<Process> workers_;
};

void ExpectExactRun(const JobSpec& spec) {
  LocalJob job(spec);
  job.StartSidecars();
  job.StartWorkers(0, spec.iterations);
  const std::vector<int> codes = job.WaitWorkers(std::chrono::seconds(120));
  for (int code : codes) ASSERT_EQ(code, 0) << job.WorkerLogs() << "\ngateway 0:\n" << job.GatewayLog(0);
  const std::string last = absl::StrCat("iteration ", spec.iterations - 1, " exact");
  EXPECT_NE(job.WorkerLogs().find(last), std::string::npos);
  if (!job.policy().aux_routes.empty()) {
    EXPECT_GT(job.SumMetric("geostorm_chunks_total\\{[^}]*outcome=\"relayed\""), 0) << "aux routes unused";
  }
}

struct Case {
  std::string topology;
  int workers;
};

class ExactSums : public ::testing::TestWithParam<std::tuple<Case, std::string>> {};

TEST_P(ExactSums, EveryWorkerGetsTheExactSumFor20Iterations) {
  const auto& [c, strategy] = GetParam();
  JobSpec spec;
  spec.topology = c.topology;
  spec.strategy = strategy;
  spec.workers = c.workers;
  ExpectExactRun(spec);
}

INSTANTIATE_TEST_SUITE_P(Loopback, ExactSums,
                         ::testing::Combine(::testing::Values(Case{kTwoDcs, 1}, Case{kTwoDcs, 3},
                                                              Case{"mesh-4dc-uniform.yaml", 1},
                                                              Case{"mesh-4dc-uniform.yaml", 3},
                                                              Case{"klonet-9dc.yaml", 1}, Case{"klonet-9dc.yaml", 3}),
                                            ::testing::Values("star", "ring", "netstorm-paper", "netstorm")),
                         [](const auto& info) {
                           const Case& c = std::get<0>(info.param);
                           std::string name = c.topology == kTwoDcs ? "two-dcs" : c.topology.substr(0, 10);
                           name = absl::StrCat(name, "_w", c.workers, "_", std::get<1>(info.param));
                           for (char& ch : name) {
                             if (!isalnum(static_cast<unsigned char>(ch))) ch = '_';
                           }
                           return name;
                         });

TEST(ExactSumsLarge, RelayRoutesAnd64MiBGradients) {
  JobSpec spec;
  spec.topology = "mesh-5dc-hetero.yaml";
  spec.strategy = "netstorm-paper";  // plans aux relay routes on this mesh
  spec.model_bytes = 64 << 20;
  spec.iterations = 3;
  spec.timeout_ms = 60000;
  LocalJob probe(spec);
  ASSERT_FALSE(probe.policy().aux_routes.empty());
  ExpectExactRun(spec);
}

TEST(Faults, KilledPeerFailsTheIterationInTimeAndTheJobRecovers) {
  JobSpec spec;
  spec.topology = "mesh-4dc-uniform.yaml";
  spec.strategy = "netstorm";
  spec.timeout_ms = 2000;
  LocalJob job(spec);
  job.StartSidecars();
  job.StartWorkers(0, 3);
  for (int code : job.WaitWorkers(std::chrono::seconds(30))) ASSERT_EQ(code, 0) << job.WorkerLogs();

  // Kill DC 2's gateway, then run an iteration: it must fail on every worker
  // within the timeout, with an error, not hang.
  job.gateway(2).Signal(SIGKILL);
  ASSERT_TRUE(job.gateway(2).Wait(std::chrono::seconds(5)).has_value());
  // (DC 2's own worker cannot reach its sidecar at all; it gives up after 10 s.)
  job.StartWorkers(3, 1);
  const std::vector<int> codes = job.WaitWorkers(std::chrono::seconds(6));  // timeout 2 s + slack
  for (size_t w = 0; w < codes.size(); ++w) {
    if (w != 2) {
      EXPECT_EQ(codes[w], 3) << job.WorkerLogs();  // 3: the iteration failed, in time
    }
  }
  EXPECT_NE(job.WorkerLogs().find("iteration 3 failed: iteration 3: iteration 3: result chunk"), std::string::npos)
      << job.WorkerLogs();
  job.WaitWorkers(std::chrono::seconds(15));

  // Bring it back: the next iterations are exact again.
  job.StartGateway(2);
  job.StartWorkers(4, 3);
  for (int code : job.WaitWorkers(std::chrono::seconds(30))) {
    EXPECT_EQ(code, 0) << job.WorkerLogs() << "\ngateway 0:\n"
                       << job.GatewayLog(0) << "\ngateway 2:\n"
                       << job.GatewayLog(2);
  }
}

// A CA and a certificate for 127.0.0.1 signed by it, made with the openssl tool.
struct Certificates {
  std::string ca, cert, key;
};

Certificates MakeCertificates(const std::string& dir, const std::string& name) {
  const std::string base = dir + "/" + name;
  const std::string script =
      absl::StrCat("set -e; cd ", dir, "; ", "openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=", name,
                   "-ca -keyout ", base, "-ca.key -out ", base, "-ca.pem 2>/dev/null; ",
                   "openssl req -newkey rsa:2048 -nodes -subj /CN=geostorm-sidecar -keyout ", base, ".key -out ", base,
                   ".csr 2>/dev/null; ",
                   "printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\\nextendedKeyUsage=serverAuth,clientAuth\\n' > ",
                   base, ".ext; ", "openssl x509 -req -in ", base, ".csr -CA ", base, "-ca.pem -CAkey ", base,
                   "-ca.key -CAcreateserial -days 1 -extfile ", base, ".ext -out ", base, ".pem 2>/dev/null");
  EXPECT_EQ(std::system(script.c_str()), 0) << script;
  return {base + "-ca.pem", base + ".pem", base + ".key"};
}

TEST(MutualTls, SidecarsWithCertificatesFromTheJobCaSumExactly) {
  testing::TempDir certs;
  const Certificates c = MakeCertificates(certs.path(), "job");
  JobSpec spec;
  spec.topology = "mesh-4dc-uniform.yaml";
  spec.strategy = "netstorm";
  spec.iterations = 3;
  spec.sidecar_flags = {"--tls-cert", c.cert, "--tls-key", c.key, "--tls-ca", c.ca};
  ExpectExactRun(spec);
}

TEST(MutualTls, APeerWithACertificateFromAnotherCaIsRefused) {
  testing::TempDir certs;
  const Certificates good = MakeCertificates(certs.path(), "job");
  const Certificates rogue = MakeCertificates(certs.path(), "rogue");
  JobSpec spec;
  spec.topology = kTwoDcs;
  spec.strategy = "star";
  spec.timeout_ms = 2000;
  spec.sidecar_flags = {"--tls-cert", good.cert, "--tls-key", good.key, "--tls-ca", good.ca};
  LocalJob job(spec);
  job.StartGateway(0);
  // DC 1 trusts the job's CA but presents a certificate the job's CA never signed:
  // neither side accepts the other, so the iteration fails on both workers.
  job.StartGatewayWithFlags(1, {"--tls-cert", rogue.cert, "--tls-key", rogue.key, "--tls-ca", good.ca});
  job.StartWorkers(0, 1);
  for (int code : job.WaitWorkers(std::chrono::seconds(20))) EXPECT_EQ(code, 3) << job.WorkerLogs();
}

}  // namespace
}  // namespace geostorm
