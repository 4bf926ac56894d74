// geostorm-controller: the policy controller for one job, on its own (the
// operator and `geostorm local` embed the same library).
//   geostorm-controller --job j --topology klonet-9dc.yaml --model-mb 100 --listen 127.0.0.1:7100
//       --state-file /var/lib/geostorm/j.json --prometheus http://127.0.0.1:9090 --insecure
#include <grpcpp/grpcpp.h>
#include <prometheus/exposer.h>
#include <prometheus/registry.h>
#include <pthread.h>
#include <spdlog/spdlog.h>

#include <csignal>
#include <thread>

#include "CLI/CLI.hpp"
#include "absl/synchronization/mutex.h"
#include "control/control_service.h"
#include "control/controller.h"
#include "control/credentials.h"
#include "control/event_log.h"
#include "core/network_view.h"
#include "core/planner/planner.h"

namespace {

using geostorm::control::ControlService;

int Fail(const std::string& what) {
  spdlog::error("{}", what);
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  // Debian builds abseil with its Mutex deadlock detector on; gRPC takes absl
  // Mutexes on every call, and the detector's lock graph was 2-5% of the CPU.
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);
  CLI::App app{"geostorm-controller: measures the WAN, re-plans, and rolls policies out to the sidecars"};
  geostorm::control::ControllerConfig config;
  geostorm::control::ControlServiceConfig service_config;
  std::string topology_file, listen = "127.0.0.1:0", state_file, prometheus_url, metrics_listen;
  double model_mb = 100, scale = 1;
  int64_t interval_ms = 10000, prepare_timeout_ms = 5000, inject_delay_ms = 0;
  bool insecure = false;
  geostorm::control::TlsFiles tls;
  app.add_option("--job", config.job, "job name");
  app.add_option("--topology", topology_file, "topology file (the DCs, and the starting link estimates)")->required();
  app.add_option("--scale", scale, "multiply every rate of the topology by this (an emulated WAN's --scale)")
      ->check(CLI::PositiveNumber);
  app.add_option("--strategy", config.replan.strategy, "planner")
      ->check(CLI::IsMember(geostorm::core::StrategyNames()));
  app.add_option("--model-mb", model_mb, "gradient size in MB (10^6 bytes)")->check(CLI::PositiveNumber);
  int64_t model_bytes = 0;
  app.add_option("--model-bytes", model_bytes, "gradient size in bytes (instead of --model-mb)");
  app.add_option("--chunk-bytes", config.replan.chunk_bytes, "chunk size (default: from the model size)");
  app.add_option("--listen", listen, "control service address");
  app.add_option("--state-file", state_file, "where the rollout state is kept (required to survive a restart)");
  app.add_option("--prometheus", prometheus_url, "Prometheus base URL; without it the sidecars' reports are used");
  app.add_option("--interval-ms", interval_ms, "reconcile interval")->check(CLI::PositiveNumber);
  app.add_option("--min-improvement", config.replan.min_improvement, "publish when predicted time drops this much")
      ->check(CLI::Range(0.0, 1.0));
  app.add_option("--rate-tolerance", config.replan.rate_tolerance,
                 "link estimates within this fraction of the planned rate keep it")
      ->check(CLI::Range(0.0, 1.0));
  app.add_option("--settle-iterations", config.settle_iterations, "iterations a new policy runs before the next");
  app.add_option("--stale-after-s", config.stale_after_seconds, "probe links not measured for this long");
  int64_t watch_ms = config.watch.count();
  app.add_option("--watch-ms", watch_ms, "between passes, read the link matrix this often for a change")
      ->check(CLI::PositiveNumber);
  app.add_option("--stale-after-change-s", config.stale_after_change_seconds,
                 "after a link's rate changed, probe links last measured this long before the change");
  app.add_option("--lead", service_config.lead, "iterations between the highest reported and a new policy")
      ->check(CLI::PositiveNumber);
  app.add_option("--prepare-timeout-ms", prepare_timeout_ms, "abort a rollout not acknowledged by then");
  app.add_option("--sync-mode", service_config.sync_mode, "how workers synchronise; esync: schedule local steps")
      ->check(CLI::IsMember(geostorm::control::SyncModeNames()));
  app.add_option("--esync-base-steps", service_config.esync.base_steps, "esync: the slowest DC's local steps")
      ->check(CLI::Range(1, 1000));
  app.add_option("--esync-max-steps", service_config.esync.max_steps, "esync: no DC takes more local steps")
      ->check(CLI::Range(1, 1000));
  app.add_option("--metrics", metrics_listen, "HOST:PORT for Prometheus /metrics");
  std::string events_file;
  app.add_option("--events", events_file, "append JSON lines of what the controller did (its bound ports first)");
  app.add_flag("--insecure", insecure, "plaintext gRPC (local runs only)");
  app.add_option("--tls-cert", tls.cert, "PEM certificate");
  app.add_option("--tls-key", tls.key, "PEM private key");
  app.add_option("--tls-ca", tls.ca, "PEM CA bundle that signs the sidecars' certificates");
  int tls_reload_s = 10;
  app.add_option("--tls-reload-s", tls_reload_s, "read the TLS files again this often (renewed certificates)")
      ->check(CLI::Range(1, 86400));
  app.add_flag("--force-every-iteration", config.force_every_iteration,
               "testing: roll a new policy out every iteration, cycling strategies");
  app.add_option("--inject-delay-ms", inject_delay_ms, "testing: delay every update by up to this long");
  CLI11_PARSE(app, argc, argv);
  tls.reload = std::chrono::seconds(tls_reload_s);
  if (service_config.esync.max_steps < service_config.esync.base_steps) {
    return Fail("--esync-max-steps is below --esync-base-steps");
  }
  spdlog::flush_on(spdlog::level::info);  // logs are files that people and tests read while it runs

  absl::StatusOr<geostorm::core::Topology> topology = geostorm::core::LoadTopologyFile(topology_file);
  if (!topology.ok()) return Fail(std::string(topology.status().message()));
  *topology = geostorm::core::ScaleRates(*topology, scale);
  config.replan.model_bytes = model_bytes > 0 ? model_bytes : static_cast<int64_t>(model_mb * 1e6) / 4 * 4;
  if (config.replan.chunk_bytes <= 0)
    config.replan.chunk_bytes = geostorm::core::AutoChunkBytes(config.replan.model_bytes);
  config.interval = std::chrono::milliseconds(interval_ms);
  config.watch = std::chrono::milliseconds(watch_ms);
  absl::StatusOr<geostorm::core::Policy> initial = geostorm::core::PlanTopology(
      *topology, config.replan.strategy, config.replan.model_bytes, config.replan.chunk_bytes);
  if (!initial.ok()) return Fail(std::string(initial.status().message()));
  absl::StatusOr<geostorm::control::Credentials> creds = geostorm::control::MakeCredentials(tls, insecure);
  if (!creds.ok()) return Fail(std::string(creds.status().message()));

  service_config.job = config.job;
  service_config.gateways = topology->data_centers;
  service_config.prepare_timeout = std::chrono::milliseconds(prepare_timeout_ms);
  service_config.inject_delay = std::chrono::milliseconds(inject_delay_ms);
  std::unique_ptr<geostorm::control::StateStore> store;
  if (state_file.empty()) {
    store = std::make_unique<geostorm::control::MemoryStateStore>();
  } else {
    store = std::make_unique<geostorm::control::FileStateStore>(state_file);
  }
  absl::StatusOr<std::unique_ptr<ControlService>> service =
      ControlService::Create(service_config, store.get(), *initial);
  if (!service.ok()) return Fail(std::string(service.status().message()));

  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGTERM);
  sigaddset(&stop_signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);

  auto registry = std::make_shared<prometheus::Registry>();
  std::unique_ptr<prometheus::Exposer> exposer;
  if (!metrics_listen.empty()) {
    try {
      exposer = std::make_unique<prometheus::Exposer>(metrics_listen);
    } catch (const std::exception& e) {
      return Fail("--metrics " + metrics_listen + ": " + e.what());
    }
    exposer->RegisterCollectable(registry);
  }
  grpc::ServerBuilder builder;
  int port = 0;
  builder.AddListeningPort(listen, creds->server, &port);
  builder.RegisterService((*service)->grpc());
  std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
  if (!server || port == 0) return Fail("--listen: cannot listen on " + listen);

  std::unique_ptr<geostorm::control::LinkSource> source =
      prometheus_url.empty()
          ? geostorm::control::MakeReportLinkSource(service->get())
          : geostorm::control::MakePrometheusLinkSource(prometheus_url, config.job, std::chrono::seconds(5));
  spdlog::info("controller of job {}: {} DCs, policy v{} in force, links from {}", config.job,
               topology->data_centers.size(), (*service)->Current().policy.version, source->name());
  const int metrics_port = exposer && !exposer->GetListeningPorts().empty() ? exposer->GetListeningPorts().front() : 0;
  std::printf("control_port=%d metrics_port=%d\n", port, metrics_port);
  std::fflush(stdout);
  std::unique_ptr<geostorm::control::EventLog> events;
  if (!events_file.empty()) {
    absl::StatusOr<std::unique_ptr<geostorm::control::EventLog>> opened =
        geostorm::control::EventLog::Open(events_file, "controller");
    if (!opened.ok()) return Fail(std::string(opened.status().message()));
    events = *std::move(opened);
    events->Started({{"control", port}, {"metrics", metrics_port}});
  }

  geostorm::control::Controller controller(config, *topology, service->get(), std::move(source), registry);
  std::atomic<bool> stop{false};
  std::thread loop([&] { controller.Run(stop); });
  int signal = 0;
  sigwait(&stop_signals, &signal);
  spdlog::info("signal {}: shutting down", signal);
  stop = true;
  (*service)->Shutdown();
  loop.join();
  server->Shutdown(std::chrono::system_clock::now() + std::chrono::milliseconds(500));
  return 0;
}
