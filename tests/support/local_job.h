// LocalJob: a geostorm job of real processes on loopback, for integration tests:
// one gateway sidecar per DC, W-1 member sidecars per DC, one synthetic worker
// per sidecar and, optionally, the policy controller (gateways then take their
// policies from it). Logs and sockets live in a temporary directory.
#ifndef GEOSTORM_TESTS_SUPPORT_LOCAL_JOB_H_
#define GEOSTORM_TESTS_SUPPORT_LOCAL_JOB_H_

#include <chrono>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "core/policy/policy.h"
#include "tests/support/process.h"

namespace geostorm::testing {

std::string Bin(const std::string& name);           // a program in build/bin
std::string TopologyFile(const std::string& name);  // a file in examples/topologies

struct JobSpec {
  std::string topology;  // a file name in examples/topologies, or inline YAML
  std::string strategy;
  int workers = 1;  // per DC
  int64_t model_bytes = 1 << 20;
  int iterations = 20;
  int timeout_ms = 20000;
  std::vector<std::string> sidecar_flags;                   // extra flags for every gateway
  std::vector<std::string> worker_flags;                    // extra flags for every synthetic worker
  std::map<int, std::vector<std::string>> dc_worker_flags;  // and for the workers of DC i, after those
  bool with_controller = false;                             // gateways use --controller, not --policy
};

// A CA and a certificate signed by it for 127.0.0.1 and every DC of job "job"
// (*.job.geostorm, see control::DataCenterIdentity), made with the openssl tool in
// `dir`: the PEM files of a job's mTLS.
struct Certificates {
  std::string ca, cert, key;
};
Certificates MakeCertificates(const std::string& dir, const std::string& name);
// Another certificate from the CA of `from`, for `subject_alt_names` (openssl's
// syntax, "DNS:a,IP:1.2.3.4"), valid for `days`; negative: expired that long ago.
Certificates MakeCertificate(const Certificates& from, const std::string& dir, const std::string& name,
                             const std::string& subject_alt_names, int days);

class LocalJob {
 public:
  explicit LocalJob(const JobSpec& spec);

  const core::Policy& policy() const { return policy_; }  // the initial plan
  int dcs() const { return static_cast<int>(policy_.data_centers.size()); }

  void StartController(const std::vector<std::string>& flags);
  void StartGateway(int i) { StartGatewayWithFlags(i, spec_.sidecar_flags); }
  void StartGatewayWithFlags(int i, const std::vector<std::string>& flags);
  void StartSidecars();  // every gateway, then the members
  // Starts every worker for `iterations` iterations from `first`.
  void StartWorkers(uint64_t first, int iterations, bool keep_going = false);
  // Waits for every worker; returns their exit codes (-1: still running).
  std::vector<int> WaitWorkers(std::chrono::milliseconds timeout);

  std::string WorkerLogs() const;
  std::string GatewayLog(int i) const { return gateways_.at(i)->Log(); }
  std::string MemberLogs() const;
  std::string ControllerLog() const { return controller_ ? controller_->Log() : ""; }
  Process& gateway(int i) { return *gateways_.at(i); }
  Process& controller() { return *controller_; }
  const std::string& dir() const { return dir_.path(); }
  std::string state_file() const { return dir_.path() + "/rollout-state.json"; }
  // The ports bound now (each process picks its own and says which in its event
  // file); waits for a process that is still starting.
  int gateway_metrics_port(int i) const;
  int controller_metrics_port() const;

  // Iteration -> policy version, for every iteration gateway i finished (its event file).
  std::map<uint64_t, uint64_t> VersionsOf(int i) const;
  std::string EventFile(int dc) const;
  std::string GatewayAddress(int i) const;  // a Unix socket, fixed across restarts
  // Sum over the gateways of testing::MetricSum(port, name, labels).
  double SumMetric(const std::string& name, const std::vector<std::string>& labels) const;
  std::string WorkerSocket(int dc, int w) const;  // "unix:PATH"

 private:
  std::string ControllerAddress() const;
  std::string ControllerEventFile() const;
  std::string Log(const std::string& what, int dc, int w) const;

  JobSpec spec_;
  TempDir dir_;
  core::Policy policy_;
  std::string policy_file_, topology_file_;
  int controller_starts_ = 0;
  std::unique_ptr<Process> controller_;
  std::map<int, std::unique_ptr<Process>> gateways_;
  std::vector<Process> members_;
  std::vector<Process> workers_;
};

}  // namespace geostorm::testing

#endif  // GEOSTORM_TESTS_SUPPORT_LOCAL_JOB_H_
