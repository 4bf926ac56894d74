#include "tests/support/local_job.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdlib>
#include <fstream>
#include <regex>

#include "absl/strings/str_cat.h"
#include "core/network_view.h"
#include "core/planner/planner.h"
#include "core/policy/policy_codec.h"

namespace geostorm::testing {

std::string Bin(const std::string& name) { return std::string(GEOSTORM_BIN_DIR) + "/" + name; }
std::string TopologyFile(const std::string& name) { return std::string(GEOSTORM_DATA_DIR) + "/" + name; }

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

LocalJob::LocalJob(const JobSpec& spec) : spec_(spec) {
  const bool inline_yaml = spec.topology.find('\n') != std::string::npos;
  topology_file_ = inline_yaml ? dir_.path() + "/topology.yaml" : TopologyFile(spec.topology);
  if (inline_yaml) std::ofstream(topology_file_) << spec.topology;
  absl::StatusOr<core::Topology> topology = core::LoadTopologyFile(topology_file_);
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
  if (spec.with_controller) {
    controller_port_ = FreePort();
    controller_metrics_port_ = FreePort();
  }
}

void LocalJob::StartController(const std::vector<std::string>& flags) {
  std::vector<std::string> argv = {Bin("geostorm-controller"),
                                   "--topology",
                                   topology_file_,
                                   "--strategy",
                                   spec_.strategy,
                                   "--model-bytes",
                                   std::to_string(spec_.model_bytes),
                                   "--listen",
                                   absl::StrCat("127.0.0.1:", controller_port_),
                                   "--metrics",
                                   absl::StrCat("127.0.0.1:", controller_metrics_port_),
                                   "--state-file",
                                   state_file()};
  if (std::find(flags.begin(), flags.end(), "--tls-cert") == flags.end()) argv.push_back("--insecure");
  argv.insert(argv.end(), flags.begin(), flags.end());
  controller_ = std::make_unique<Process>(argv, Log(absl::StrCat("controller", controller_starts_++), 0, 0));
}

void LocalJob::StartGatewayWithFlags(int i, const std::vector<std::string>& flags) {
  std::vector<std::string> argv = {Bin("geostorm-sidecar"),
                                   "--dc",
                                   policy_.data_centers[i],
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
  if (spec_.with_controller) {
    argv.insert(argv.end(), {"--controller", absl::StrCat("127.0.0.1:", controller_port_)});
  } else {
    argv.insert(argv.end(), {"--policy", policy_file_});
  }
  if (std::find(flags.begin(), flags.end(), "--tls-cert") == flags.end()) argv.push_back("--insecure");
  for (int j = 0; j < dcs(); ++j) {
    if (j != i) argv.insert(argv.end(), {"--peer", absl::StrCat(policy_.data_centers[j], "=127.0.0.1:", ports_[j])});
  }
  argv.insert(argv.end(), flags.begin(), flags.end());
  gateways_[i] = std::make_unique<Process>(argv, Log("gateway", i, 0));
}

void LocalJob::StartSidecars() {
  for (int i = 0; i < dcs(); ++i) {
    StartGateway(i);
    for (int w = 1; w < spec_.workers; ++w) {
      members_.emplace_back(
          std::vector<std::string>{Bin("geostorm-sidecar"), "--dc", policy_.data_centers[i], "--policy", policy_file_,
                                   "--gateway", absl::StrCat("127.0.0.1:", ports_[i]), "--member-id",
                                   absl::StrCat(policy_.data_centers[i], "-", w), "--worker-listen", WorkerSocket(i, w),
                                   "--workers", std::to_string(spec_.workers), "--insecure"},
          Log("member", i, w));
    }
  }
}

void LocalJob::StartWorkers(uint64_t first, int iterations, bool keep_going) {
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
      argv.insert(argv.end(), spec_.worker_flags.begin(), spec_.worker_flags.end());
      if (auto it = spec_.dc_worker_flags.find(i); it != spec_.dc_worker_flags.end()) {
        argv.insert(argv.end(), it->second.begin(), it->second.end());
      }
      workers_.emplace_back(argv, Log(absl::StrCat("worker-from-", first), i, w));
    }
  }
}

std::vector<int> LocalJob::WaitWorkers(std::chrono::milliseconds timeout) {
  std::vector<int> codes;
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  for (Process& p : workers_) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    codes.push_back(p.Wait(std::max(left, std::chrono::milliseconds(1))).value_or(-1));
  }
  return codes;
}

std::string LocalJob::WorkerLogs() const {
  std::string all;
  for (const Process& p : workers_) all += p.log_path() + ":\n" + p.Log() + "\n";
  return all;
}

std::map<uint64_t, uint64_t> LocalJob::VersionsOf(int i) const {
  std::map<uint64_t, uint64_t> versions;
  const std::string log = GatewayLog(i);
  const std::regex line(R"(iteration (\d+) done in \S+ s with policy v(\d+))");
  for (auto it = std::sregex_iterator(log.begin(), log.end(), line); it != std::sregex_iterator(); ++it) {
    versions[std::stoull((*it)[1])] = std::stoull((*it)[2]);
  }
  return versions;
}

double LocalJob::SumMetric(const std::string& series) const {
  double total = 0;
  for (int port : metrics_ports_) {
    const std::string body = HttpGet(port, "/metrics");
    std::regex line("^" + series + "\\S* ([0-9.e+]+)$", std::regex::multiline);
    for (auto it = std::sregex_iterator(body.begin(), body.end(), line); it != std::sregex_iterator(); ++it) {
      total += std::stod((*it)[1]);
    }
  }
  return total;
}

std::string LocalJob::WorkerSocket(int dc, int w) const {
  return absl::StrCat("unix:", dir_.path(), "/w", dc, "-", w, ".sock");
}

std::string LocalJob::Log(const std::string& what, int dc, int w) const {
  return absl::StrCat(dir_.path(), "/", what, "-", dc, "-", w, ".log");
}

}  // namespace geostorm::testing
