#include "tests/support/local_job.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdlib>
#include <fstream>
#include <thread>

#include "absl/strings/str_cat.h"
#include "cli/job_launcher.h"
#include "core/network_view.h"
#include "core/planner/planner.h"
#include "core/policy/policy_codec.h"

namespace geostorm::testing {

std::string Bin(const std::string& name) { return std::string(GEOSTORM_BIN_DIR) + "/" + name; }
std::string TopologyFile(const std::string& name) { return std::string(GEOSTORM_DATA_DIR) + "/" + name; }

Certificates MakeCertificates(const std::string& dir, const std::string& name) {
  const std::string ca = dir + "/" + name + "-ca";
  const std::string script = absl::StrCat("openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=", name,
                                          "-ca -keyout ", ca, ".key -out ", ca, ".pem 2>/dev/null");
  EXPECT_EQ(std::system(script.c_str()), 0) << script;
  return MakeCertificate({ca + ".pem", "", ""}, dir, name, "IP:127.0.0.1,DNS:localhost,DNS:*.job.geostorm", 1);
}

Certificates MakeCertificate(const Certificates& from, const std::string& dir, const std::string& name,
                             const std::string& subject_alt_names, int days) {
  const std::string base = dir + "/" + name;
  const std::string ca_key = from.ca.substr(0, from.ca.size() - 4) + ".key";  // beside its .pem
  const std::string script =
      absl::StrCat("set -e; openssl req -newkey rsa:2048 -nodes -subj /CN=", name, " -keyout ", base, ".key -out ",
                   base, ".csr 2>/dev/null; printf 'subjectAltName=", subject_alt_names,
                   "\\nextendedKeyUsage=serverAuth,clientAuth\\n' > ", base, ".ext; openssl x509 -req -in ", base,
                   ".csr -CA ", from.ca, " -CAkey ", ca_key, " -CAcreateserial -days ", days, " -extfile ", base,
                   ".ext -out ", base, ".pem 2>/dev/null");
  EXPECT_EQ(std::system(script.c_str()), 0) << script;
  return {from.ca, base + ".pem", base + ".key"};
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
                                   ControllerAddress(),
                                   "--metrics",
                                   "127.0.0.1:0",
                                   "--events",
                                   ControllerEventFile(),
                                   "--state-file",
                                   state_file()};
  if (std::find(flags.begin(), flags.end(), "--tls-cert") == flags.end()) argv.push_back("--insecure");
  argv.insert(argv.end(), flags.begin(), flags.end());
  controller_ = std::make_unique<Process>(argv, Log(absl::StrCat("controller", controller_starts_++), 0, 0));
}

void LocalJob::StartGatewayWithFlags(int i, const std::vector<std::string>& flags) {
  cli::GatewayFlags g;
  g.dc = policy_.data_centers[i];
  if (spec_.with_controller) {
    g.controller = ControllerAddress();
  } else {
    g.policy_file = policy_file_;
  }
  g.listen = GatewayAddress(i);
  for (int j = 0; j < dcs(); ++j) g.peers[policy_.data_centers[j]] = GatewayAddress(j);
  g.worker_socket = WorkerSocket(i, 0);
  g.workers = spec_.workers;
  g.timeout_ms = spec_.timeout_ms;
  g.metrics = "127.0.0.1:0";
  g.events = EventFile(i);
  g.insecure = std::find(flags.begin(), flags.end(), "--tls-cert") == flags.end();
  g.extra = flags;
  gateways_[i] = std::make_unique<Process>(cli::GatewayCommand(GEOSTORM_BIN_DIR, g), Log("gateway", i, 0));
}

void LocalJob::StartSidecars() {
  for (int i = 0; i < dcs(); ++i) {
    StartGateway(i);
    for (int w = 1; w < spec_.workers; ++w) {
      const cli::MemberFlags m{"job",
                               policy_.data_centers[i],
                               GatewayAddress(i),
                               absl::StrCat(policy_.data_centers[i], "-", w),
                               WorkerSocket(i, w),
                               ""};
      members_.emplace_back(cli::MemberCommand(GEOSTORM_BIN_DIR, m), Log("member", i, w));
    }
  }
}

void LocalJob::StartWorkers(uint64_t first, int iterations, bool keep_going) {
  workers_.clear();
  for (int i = 0; i < dcs(); ++i) {
    for (int w = 0; w < spec_.workers; ++w) {
      cli::WorkerFlags f{WorkerSocket(i, w), i, w, dcs(), spec_.workers, iterations, first, keep_going,
                         spec_.worker_flags};
      if (auto it = spec_.dc_worker_flags.find(i); it != spec_.dc_worker_flags.end()) {
        f.extra.insert(f.extra.end(), it->second.begin(), it->second.end());
      }
      workers_.emplace_back(cli::WorkerCommand(GEOSTORM_BIN_DIR, f), Log(absl::StrCat("worker-from-", first), i, w));
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

namespace {
std::string Logs(const std::vector<Process>& processes) {
  std::string all;
  for (const Process& p : processes) all += p.log_path() + ":\n" + p.Log() + "\n";
  return all;
}
}  // namespace

std::string LocalJob::WorkerLogs() const { return Logs(workers_); }
std::string LocalJob::MemberLogs() const { return Logs(members_); }

std::map<uint64_t, uint64_t> LocalJob::VersionsOf(int i) const {
  std::map<uint64_t, uint64_t> versions;
  for (const auto& [t, record] : cli::ReadIterations({EventFile(i)})) versions[t] = record.policy_version;
  return versions;
}

std::string LocalJob::GatewayAddress(int i) const {
  return absl::StrCat("unix:", dir_.path(), "/gateway-", i, ".sock");
}
std::string LocalJob::ControllerAddress() const { return absl::StrCat("unix:", dir_.path(), "/controller.sock"); }
std::string LocalJob::ControllerEventFile() const { return dir_.path() + "/controller.events"; }

namespace {

// The port named `name` from the last "started" event of a file, waiting for it.
int PortFrom(const std::string& event_file, const std::string& name) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  do {
    const std::map<std::string, int> ports = cli::ReadPorts(event_file);
    if (auto it = ports.find(name); it != ports.end()) return it->second;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  } while (std::chrono::steady_clock::now() < deadline);
  ADD_FAILURE() << event_file << " says no " << name << " port after 30 s";
  return 0;
}

}  // namespace

int LocalJob::gateway_metrics_port(int i) const { return PortFrom(EventFile(i), "metrics"); }
int LocalJob::controller_metrics_port() const { return PortFrom(ControllerEventFile(), "metrics"); }

std::string LocalJob::EventFile(int dc) const { return absl::StrCat(dir_.path(), "/gateway-", dc, ".events"); }

double LocalJob::SumMetric(const std::string& name, const std::vector<std::string>& labels) const {
  double total = 0;
  for (int i = 0; i < dcs(); ++i) total += MetricSum(gateway_metrics_port(i), name, labels);
  return total;
}

std::string LocalJob::WorkerSocket(int dc, int w) const {
  return absl::StrCat("unix:", dir_.path(), "/w", dc, "-", w, ".sock");
}

std::string LocalJob::Log(const std::string& what, int dc, int w) const {
  return absl::StrCat(dir_.path(), "/", what, "-", dc, "-", w, ".log");
}

}  // namespace geostorm::testing
