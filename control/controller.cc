#include "control/controller.h"

#include <prometheus/counter.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>
#include <spdlog/spdlog.h>

#include <cmath>
#include <limits>
#include <optional>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "core/network_view.h"
#include "core/planner/planner.h"

namespace geostorm::control {

struct Controller::Metrics {
  prometheus::Counter& published;
  prometheus::Counter& committed;
  prometheus::Counter& aborted;
  prometheus::Histogram& replan;
  prometheus::Gauge& predicted;
  prometheus::Gauge& t_min;
  prometheus::Gauge& observed;
  prometheus::Gauge& matrix_age;
  prometheus::Gauge& source_up;
  prometheus::Family<prometheus::Gauge>& links;

  Metrics(prometheus::Registry& r, const std::string& job)
      : published(prometheus::BuildCounter()
                      .Name("geostorm_controller_policy_versions_published_total")
                      .Help("Policy versions the controller rolled out (committed or not)")
                      .Register(r)
                      .Add({{"job", job}})),
        committed(Rollouts(r).Add({{"job", job}, {"outcome", "committed"}})),
        aborted(Rollouts(r).Add({{"job", job}, {"outcome", "aborted"}})),
        replan(prometheus::BuildHistogram()
                   .Name("geostorm_controller_replan_duration_seconds")
                   .Help("Time to re-plan the topology")
                   .Register(r)
                   .Add({{"job", job}},
                        prometheus::Histogram::BucketBoundaries{0.001, 0.01, 0.05, 0.1, 0.5, 1, 5, 30, 120})),
        predicted(Gauge(r, "geostorm_controller_predicted_iteration_seconds",
                        "Iteration time the policy in force was predicted to take", job)),
        t_min(Gauge(r, "geostorm_controller_t_min_seconds",
                    "The physical lower bound on the iteration time, on the rates the policy in force was planned on",
                    job)),
        observed(Gauge(r, "geostorm_controller_observed_iteration_seconds",
                       "Slowest gateway's last iteration time, as reported", job)),
        matrix_age(Gauge(r, "geostorm_controller_link_matrix_age_seconds", "Age of the oldest link estimate", job)),
        source_up(Gauge(r, "geostorm_controller_source_up", "1 when the last link-matrix read succeeded", job)),
        links(prometheus::BuildGauge()
                  .Name("geostorm_controller_link_bytes_per_second")
                  .Help("The link matrix the controller plans on (measured links only)")
                  .Register(r)) {}

  static prometheus::Family<prometheus::Counter>& Rollouts(prometheus::Registry& r) {
    return prometheus::BuildCounter()
        .Name("geostorm_controller_rollouts_total")
        .Help("Rollouts decided, by outcome")
        .Register(r);
  }
  static prometheus::Gauge& Gauge(prometheus::Registry& r, const std::string& name, const std::string& help,
                                  const std::string& job) {
    return prometheus::BuildGauge().Name(name).Help(help).Register(r).Add({{"job", job}});
  }
};

Controller::Controller(ControllerConfig config, core::Topology topology, ControlService* service,
                       std::unique_ptr<LinkSource> source, const std::shared_ptr<prometheus::Registry>& registry)
    : config_(std::move(config)),
      service_(service),
      source_(std::move(source)),
      matrix_(std::move(topology)),
      planned_(matrix_.topology().links) {
  if (registry) metrics_ = std::make_unique<Metrics>(*registry, config_.job);
}

Controller::~Controller() = default;

ControllerStatus Controller::status() const {
  std::lock_guard<std::mutex> lock(mu_);
  return status_;
}

absl::Status Controller::ReadSource(Clock::time_point now) {
  absl::StatusOr<std::vector<LinkSample>> samples = source_->Read();
  {
    std::lock_guard<std::mutex> lock(mu_);
    status_.source_ok = samples.ok();
    status_.source_message = samples.ok() ? "" : std::string(samples.status().message());
  }
  if (!samples.ok()) return samples.status();
  matrix_.Update(*samples, now);
  return absl::OkStatus();
}

std::string Controller::ReconcileOnce() {
  const auto now = Clock::now();
  if (absl::Status s = ReadSource(now); !s.ok()) {
    spdlog::warn("job {}: link matrix source is stale: {}; keeping policy v{}", config_.job, std::string(s.message()),
                 service_->Current().policy.version);
    UpdateMetrics();
    return absl::StrCat("source failed: ", s.message());
  }
  return Reconcile(now);
}

std::string Controller::Reconcile(Clock::time_point now) {
  // A link whose rate changed is a reason to look at the others, which may have
  // changed too without carrying anything to show it: probe every link last
  // measured before the change, and plan once they have answered (the next pass).
  const bool changed = matrix_.last_change() > change_seen_;
  change_seen_ = std::max(change_seen_, matrix_.last_change());
  const double since_change = std::chrono::duration<double>(now - matrix_.last_change()).count();
  const double stale_after =
      changed ? std::min(config_.stale_after_seconds, since_change + config_.stale_after_change_seconds)
              : config_.stale_after_seconds;
  std::map<std::string, std::vector<std::string>> probes;
  for (const auto& [src, dst] : matrix_.Stale(now, stale_after)) probes[src].push_back(dst);
  for (const auto& [src, peers] : probes) service_->Probe(src, peers);
  // Once: the next pass plans on whatever the probes brought by then.
  const bool awaiting_probes = changed && !probes.empty() && !awaited_probes_;
  awaited_probes_ = awaiting_probes;

  const auto started = Clock::now();
  const core::Activation in_force = service_->Current();
  const core::Policy& current = in_force.policy;
  uint64_t highest = 0;
  double slowest = 0;  // the policy in force's slowest gateway, at its last iteration
  for (const auto& [dc, r] : service_->Reports()) {
    highest = std::max(highest, r.iteration);
    if (r.policy_version == current.version) slowest = std::max(slowest, r.iteration_seconds);
  }
  absl::StatusOr<Decision> d = Replan(matrix_, planned_, current, config_.replan);
  if (metrics_) metrics_->replan.Observe(std::chrono::duration<double>(Clock::now() - started).count());
  // A policy that runs, or on the links as now measured would run, far slower than
  // predicted was planned on rates that are gone (a link unused since the rates
  // changed, say): its settle iterations would only repeat the mistake.
  const double limit = config_.misplanned_ratio * current.predicted_seconds;
  const bool misplanned = slowest > limit || (d.ok() && d->current_seconds > limit);
  const bool settling =
      !misplanned && current.version > 1 && highest < in_force.activate_at + config_.settle_iterations;
  std::string outcome;
  if (!d.ok()) {
    outcome = absl::StrCat("re-plan failed: ", d.status().message());
    spdlog::error("job {}: {}", config_.job, outcome);
  } else if (d->publish && settling) {
    outcome = absl::StrCat("keeping policy v", current.version, " until it has run ", config_.settle_iterations,
                           " iterations (a new plan: ", d->reason, ")");
  } else if (d->publish && awaiting_probes && std::isfinite(d->current_seconds)) {
    outcome = absl::StrCat("keeping policy v", current.version, " until ", probes.size(),
                           " DCs have probed links not measured since a change (a new plan: ", d->reason, ")");
  } else if (d->publish) {
    std::vector<std::string> links;
    for (const LinkSample& l : matrix_.Measured(now)) {
      links.push_back(absl::StrFormat("%s->%s %.1f", l.src, l.dst, l.bytes_per_second / core::kBytesPerMbit));
    }
    spdlog::info("job {}: measured Mbit/s: {}", config_.job, absl::StrJoin(links, ", "));
    if (Publish(std::move(d->candidate), d->reason)) planned_ = d->links;
    outcome = d->reason;
  } else {
    outcome = d->reason;
  }
  {
    std::lock_guard<std::mutex> lock(mu_);
    status_.last_decision = outcome;
  }
  UpdateMetrics();
  return outcome;
}

bool Controller::Publish(core::Policy policy, const std::string& reason) {
  if (metrics_) metrics_->published.Increment();
  absl::StatusOr<uint64_t> v = service_->Rollout(std::move(policy));
  if (v.ok()) {
    spdlog::info("job {}: rolled out policy v{}: {}", config_.job, *v, reason);
    return true;
  }
  if (!absl::IsCancelled(v.status())) {
    spdlog::warn("job {}: rollout failed, the old policy stays: {}", config_.job, std::string(v.status().message()));
  }
  return false;
}

void Controller::UpdateMetrics() {
  if (!metrics_) return;
  const RolloutCounters c = service_->counters();
  metrics_->committed.Increment(static_cast<double>(c.committed) - metrics_->committed.Value());
  metrics_->aborted.Increment(static_cast<double>(c.aborted) - metrics_->aborted.Value());
  const core::Policy in_force = service_->Current().policy;
  metrics_->predicted.Set(in_force.predicted_seconds);
  metrics_->t_min.Set(in_force.t_min_seconds);
  double observed = 0;
  for (const auto& [dc, r] : service_->Reports()) observed = std::max(observed, r.iteration_seconds);
  metrics_->observed.Set(observed);
  std::lock_guard<std::mutex> lock(mu_);
  status_.matrix_age_seconds = matrix_.MaxAge(Clock::now());
  metrics_->matrix_age.Set(status_.matrix_age_seconds);
  metrics_->source_up.Set(status_.source_ok ? 1 : 0);
  for (const LinkSample& l : matrix_.Measured(Clock::now())) {
    metrics_->links.Add({{"job", config_.job}, {"src", l.src}, {"dst", l.dst}}).Set(l.bytes_per_second);
  }
}

void Controller::ForceLoop(const std::atomic<bool>& stop) {
  const std::vector<std::string>& strategies = core::StrategyNames();
  uint64_t last_iteration = std::numeric_limits<uint64_t>::max();
  size_t n = 0;
  while (!stop) {
    uint64_t highest = 0;
    for (const auto& [dc, r] : service_->Reports()) highest = std::max(highest, r.iteration);
    if (highest == last_iteration) {
      std::this_thread::sleep_for(std::chrono::milliseconds(2));
      continue;
    }
    last_iteration = highest;
    ++n;
    core::PlanOptions options;
    options.star_root = static_cast<int>(n % matrix_.topology().data_centers.size());
    const std::string& strategy = strategies[n % strategies.size()];
    absl::StatusOr<core::Policy> p = core::PlanTopology(matrix_.topology(), strategy, config_.replan.model_bytes,
                                                        config_.replan.chunk_bytes, options);
    if (!p.ok()) {
      spdlog::error("job {}: cannot plan {}: {}", config_.job, strategy, std::string(p.status().message()));
      continue;
    }
    Publish(*std::move(p), absl::StrCat("forced (", strategy, ")"));
    UpdateMetrics();
  }
}

void Controller::Run(const std::atomic<bool>& stop) {
  if (config_.force_every_iteration) return ForceLoop(stop);
  std::optional<Clock::time_point> watched;  // the read that saw a change, for the pass it starts
  while (!stop) {
    const std::string outcome = watched ? Reconcile(*watched) : ReconcileOnce();
    spdlog::info("job {}: reconcile: {}", config_.job, outcome);
    watched.reset();
    // Between passes the matrix is watched, and a change starts the next pass at
    // once; after probes for a change, the next pass comes as soon as they can answer.
    // A failed read is left to the next pass to report.
    const auto until = Clock::now() + (awaited_probes_ ? config_.probe_wait : config_.interval);
    auto watch = Clock::now() + config_.watch;
    while (!stop && Clock::now() < until) {
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
      if (Clock::now() < watch) continue;
      watch = Clock::now() + config_.watch;
      const auto now = Clock::now();
      if (ReadSource(now).ok() && matrix_.last_change() > change_seen_) {
        watched = now;
        break;
      }
    }
  }
}

}  // namespace geostorm::control
