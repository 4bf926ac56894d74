#include "operator/manager.h"

#include <prometheus/counter.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>
#include <spdlog/spdlog.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <thread>

#include "absl/strings/str_cat.h"
#include "operator/controllers/cluster_controller.h"
#include "operator/controllers/cluster_registry.h"
#include "operator/controllers/event_recorder.h"
#include "operator/health_server.h"
#include "operator/kube/informer.h"
#include "operator/kube/work_queue.h"

namespace geostorm::manager {
namespace {

using ReconcileFn = std::function<absl::StatusOr<std::optional<std::chrono::milliseconds>>(const std::string&)>;

// Per-controller metrics.
struct ControllerMetrics {
  prometheus::Counter* success;
  prometheus::Counter* error;
  prometheus::Counter* conflict;  // a write refused as stale (409)
  prometheus::Histogram* duration;
  prometheus::Gauge* depth;
};

class Metrics {
 public:
  Metrics()
      : registry_(std::make_shared<prometheus::Registry>()),
        reconciles_(prometheus::BuildCounter()
                        .Name("geostorm_operator_reconcile_total")
                        .Help("Reconciles by controller and result")
                        .Register(*registry_)),
        durations_(prometheus::BuildHistogram()
                       .Name("geostorm_operator_reconcile_duration_seconds")
                       .Help("Time per reconcile")
                       .Register(*registry_)),
        depths_(prometheus::BuildGauge()
                    .Name("geostorm_operator_workqueue_depth")
                    .Help("Keys waiting in a controller's queue")
                    .Register(*registry_)),
        leader_(prometheus::BuildGauge()
                    .Name("geostorm_operator_leader")
                    .Help("1 while this replica holds the Lease")
                    .Register(*registry_)
                    .Add({})) {}

  ControllerMetrics For(const std::string& controller) {
    const prometheus::Histogram::BucketBoundaries buckets = {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
                                                             0.1,   0.25,   0.5,   1,    2.5,   5};
    return {&reconciles_.Add({{"controller", controller}, {"result", "success"}}),
            &reconciles_.Add({{"controller", controller}, {"result", "error"}}),
            &reconciles_.Add({{"controller", controller}, {"result", "conflict"}}),
            &durations_.Add({{"controller", controller}}, buckets), &depths_.Add({{"controller", controller}})};
  }
  std::shared_ptr<prometheus::Registry> registry() const { return registry_; }
  prometheus::Gauge& leader() { return leader_; }

 private:
  std::shared_ptr<prometheus::Registry> registry_;
  prometheus::Family<prometheus::Counter>& reconciles_;
  prometheus::Family<prometheus::Histogram>& durations_;
  prometheus::Family<prometheus::Gauge>& depths_;
  prometheus::Gauge& leader_;
};

// A worker: takes keys until the queue shuts down; errors come back with backoff.
void Work(kube::WorkQueue& queue, const ReconcileFn& reconcile, const ControllerMetrics& metrics,
          const std::string& controller) {
  while (std::optional<std::string> key = queue.Get()) {
    metrics.depth->Set(static_cast<double>(queue.depth()));
    const auto start = std::chrono::steady_clock::now();
    absl::StatusOr<std::optional<std::chrono::milliseconds>> result;
    try {
      result = reconcile(*key);
    } catch (const std::exception& e) {  // a malformed object must not take the operator down
      result = absl::InternalError(absl::StrCat("reconcile threw: ", e.what()));
    }
    metrics.duration->Observe(std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
    if (result.ok()) {
      metrics.success->Increment();
      queue.Forget(*key);
      if (result->has_value()) queue.AddAfter(*key, **result);
    } else {
      // A conflict (409): the object changed after the cache this pass read it from.
      // Not a fault, and common with several writers: the next pass reads the newer one.
      const bool conflict = absl::IsAborted(result.status());
      (conflict ? metrics.conflict : metrics.error)->Increment();
      spdlog::log(conflict ? spdlog::level::info : spdlog::level::warn, "{} {}: {}{} (retry {})", controller, *key,
                  std::string(result.status().message()), conflict ? "; reconciling again" : "",
                  queue.retries(*key) + 1);
      queue.AddRateLimited(*key);
    }
    queue.Done(*key);
  }
}

std::string KeyOf(const kube::Json& object) {
  const kube::Json& meta = object["metadata"];
  const std::string ns = meta.value("namespace", "");
  return ns.empty() ? meta.value("name", "") : absl::StrCat(ns, "/", meta.value("name", ""));
}

}  // namespace

int Run(const ManagerOptions& options, kube::StopToken* stop) {
  Metrics metrics;
  std::atomic<bool> leading{false};
  std::atomic<bool> synced{false};
  HealthServer health(metrics.registry(), [&] { return !leading || synced; });
  absl::StatusOr<int> health_port = health.Start(options.health_listen);
  if (!health_port.ok()) {
    spdlog::error("{}", std::string(health_port.status().message()));
    return 2;
  }
  if (!options.port_file.empty()) {  // for launchers that asked for port 0
    std::ofstream(options.port_file + ".tmp") << *health_port << "\n";
    std::filesystem::rename(options.port_file + ".tmp", options.port_file);
  }
  absl::StatusOr<std::unique_ptr<kube::Client>> host = kube::MakeClient(options.host);
  if (!host.ok()) {
    spdlog::error("host cluster: {}", std::string(host.status().message()));
    return 2;
  }
  LeaderElector elector(**host, options.leader);
  if (!elector.Acquire(stop)) return 0;
  leading = true;
  metrics.leader().Set(1);

  kube::InformerOptions informer_options;
  informer_options.watch_timeout = options.watch_timeout;
  kube::WorkQueue job_queue, cluster_queue;
  controllers::ClusterRegistry registry([&](const std::string& key) { job_queue.Add(key); }, informer_options, {});
  controllers::EventRecorder events(**host);
  kube::Informer jobs(**host, kube::kGeoTrainingJobs, "", "", informer_options);
  kube::Informer clusters(**host, kube::kGeoClusters, "", "", informer_options);
  jobs.AddHandler([&](const kube::Json& job, bool) { job_queue.Add(KeyOf(job)); });
  clusters.AddHandler([&](const kube::Json& cluster, bool) { cluster_queue.Add(KeyOf(cluster)); });
  auto enqueue_all_jobs = [&] {
    for (const kube::Json& job : jobs.List()) job_queue.Add(KeyOf(job));
  };
  controllers::ClusterController cluster_controller(**host, clusters, registry, events, enqueue_all_jobs,
                                                    options.clusters);
  std::unique_ptr<controllers::PolicyRunners> runners;
  controllers::JobControllerOptions job_options = options.jobs;
  if (!options.control.advertise_host.empty()) {
    runners = std::make_unique<controllers::PolicyRunners>(**host, options.control);
    job_options.policy_runners = runners.get();
  }
  controllers::JobController job_controller(**host, jobs, registry, events, job_options);

  // Data centers without a `cluster` run in the host cluster itself.
  if (absl::Status s = registry.Set("", options.host, std::chrono::seconds(30)); !s.ok()) {
    spdlog::error("host cluster as a member: {}", std::string(s.message()));
    registry.SetError("", std::string(s.message()));
  }
  clusters.Start();
  jobs.Start();
  if (!clusters.WaitForSync(std::chrono::seconds(30)) || !jobs.WaitForSync(std::chrono::seconds(30))) {
    spdlog::error("informers on the host cluster did not sync in 30 s");
  }
  // GeoClusters first, so that jobs find their members on the first pass.
  // A failure here is retried by the work queue; its reason is logged now.
  for (const kube::Json& cluster : clusters.List()) {
    const std::string key = KeyOf(cluster);
    if (auto s = cluster_controller.Reconcile(key); !s.ok()) {
      spdlog::error("GeoCluster {}: first reconcile failed: {}", key, std::string(s.status().message()));
    }
  }
  synced = true;

  std::vector<std::thread> threads;
  threads.reserve(options.workers + 2);
  const ControllerMetrics job_metrics = metrics.For("geotrainingjob");
  const ControllerMetrics cluster_metrics = metrics.For("geocluster");
  const ReconcileFn reconcile_job = [&](const std::string& key) { return job_controller.Reconcile(key); };
  const ReconcileFn reconcile_cluster = [&](const std::string& key) { return cluster_controller.Reconcile(key); };
  for (int i = 0; i < options.workers; ++i) {
    threads.emplace_back([&] { Work(job_queue, reconcile_job, job_metrics, "geotrainingjob"); });
  }
  threads.emplace_back([&] { Work(cluster_queue, reconcile_cluster, cluster_metrics, "geocluster"); });
  kube::StopToken resync_stop;
  threads.emplace_back([&] {
    while (!resync_stop.Wait(options.resync)) enqueue_all_jobs();
  });

  const bool stopped = elector.KeepRenewing(stop);
  leading = false;
  metrics.leader().Set(0);
  resync_stop.Stop();
  job_queue.ShutDown();
  cluster_queue.ShutDown();
  for (std::thread& t : threads) t.join();
  jobs.Stop();
  clusters.Stop();
  return stopped ? 0 : 1;
}

}  // namespace geostorm::manager
