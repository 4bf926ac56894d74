// geostorm-operator: runs GeoTrainingJobs across member clusters. See manager.h.
#include <signal.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <thread>

#include "absl/strings/numbers.h"
#include "operator/manager.h"

int main(int argc, char** argv) {
  using namespace geostorm;
  CLI::App app{"geostorm-operator: GeoTrainingJobs across member clusters"};
  manager::ManagerOptions options;
  std::string kubeconfig, context;
  bool in_cluster = false;
  double lease_s = 15, retry_s = 2, resync_s = 60;
  char host[256] = "operator";
  gethostname(host, sizeof(host));
  options.leader.identity = std::string(host) + "-" + std::to_string(getpid());
  app.add_option("--kubeconfig", kubeconfig, "kubeconfig of the host cluster (default: $KUBECONFIG)");
  app.add_option("--context", context, "kubeconfig context (default: current-context)");
  app.add_flag("--in-cluster", in_cluster, "use the pod's service account");
  app.add_option("--identity", options.leader.identity, "this replica's name in the Lease");
  app.add_option("--lease-namespace", options.leader.lease_namespace, "namespace of the leader Lease");
  app.add_option("--lease-name", options.leader.lease_name, "name of the leader Lease");
  app.add_option("--lease-duration-s", lease_s, "a silent leader loses the Lease after this")
      ->check(CLI::PositiveNumber);
  app.add_option("--retry-s", retry_s, "Lease renew and retry period")->check(CLI::PositiveNumber);
  app.add_option("--health-listen", options.health_listen,
                 "HOST:PORT for /healthz, /readyz and /metrics (port 0: any)");
  app.add_option("--port-file", options.port_file, "write the health port here once listening");
  app.add_option("--workers", options.workers, "GeoTrainingJob reconcile threads")->check(CLI::PositiveNumber);
  app.add_option("--resync-s", resync_s, "reconcile every job at least this often")->check(CLI::PositiveNumber);
  double cluster_check_s = 30;
  app.add_option("--cluster-check-s", cluster_check_s, "probe each ready member cluster's API server this often")
      ->check(CLI::PositiveNumber);
  app.add_option("--control-host", options.control.advertise_host,
                 "run each job's policy controller here; gateways dial this host (e.g. the operator's Service)");
  app.add_option("--control-bind", options.control.bind_host, "interface the per-job controllers listen on");
  app.add_flag("--control-insecure", options.control.insecure, "plaintext control gRPC (tests only)");
  std::string log_level = "info";
  app.add_option("--log-level", log_level, "trace, debug, info, warn or error")
      ->check(CLI::IsMember({"trace", "debug", "info", "warn", "error"}));
  std::string control_ports;
  app.add_option("--control-ports", control_ports, "FIRST-LAST: the ports per-job controllers take (default: any)")
      ->check([](const std::string& v) {
        int first = 0, last = 0;
        const size_t dash = v.find('-');
        if (dash == std::string::npos || !absl::SimpleAtoi(v.substr(0, dash), &first) ||
            !absl::SimpleAtoi(v.substr(dash + 1), &last) || first < 1 || last > 65535 || first > last) {
          return std::string("expected FIRST-LAST, two ports with FIRST <= LAST");
        }
        return std::string();
      });
  CLI11_PARSE(app, argc, argv);
  spdlog::set_level(spdlog::level::from_str(log_level));
  if (const size_t dash = control_ports.find('-'); dash != std::string::npos) {
    options.control.first_port = std::stoi(control_ports.substr(0, dash));  // checked above
    options.control.last_port = std::stoi(control_ports.substr(dash + 1));
  }

  options.leader.lease_duration = std::chrono::milliseconds(static_cast<int64_t>(lease_s * 1000));
  options.leader.retry_period = std::chrono::milliseconds(static_cast<int64_t>(retry_s * 1000));
  options.leader.renew_deadline = options.leader.lease_duration * 2 / 3;
  options.resync = std::chrono::milliseconds(static_cast<int64_t>(resync_s * 1000));
  options.clusters.recheck = std::chrono::milliseconds(static_cast<int64_t>(cluster_check_s * 1000));
  if (kubeconfig.empty() && std::getenv("KUBECONFIG") != nullptr) kubeconfig = std::getenv("KUBECONFIG");
  absl::StatusOr<kube::ClusterConfig> config =
      in_cluster
          ? kube::InClusterConfig("/var/run/secrets/kubernetes.io/serviceaccount")
          : kube::LoadKubeconfig(kubeconfig.empty()
                                     ? std::string(std::getenv("HOME") ? std::getenv("HOME") : "") + "/.kube/config"
                                     : kubeconfig,
                                 context);
  if (!config.ok()) {
    spdlog::error("{}", std::string(config.status().message()));
    return 2;
  }
  options.host = *config;

  // SIGINT/SIGTERM stop the manager, which releases the Lease on the way out.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  kube::StopToken stop;
  std::thread([&] {
    int signal = 0;
    sigwait(&signals, &signal);
    spdlog::info("signal {}: stopping", signal);
    stop.Stop();
  }).detach();
  return manager::Run(options, &stop);
}
