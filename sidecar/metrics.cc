#include "sidecar/metrics.h"

#include <prometheus/counter.h>
#include <prometheus/exposer.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>

#include <map>

#include "absl/strings/str_cat.h"

namespace geostorm::sidecar {

struct SidecarMetrics::Series {
  prometheus::Family<prometheus::Gauge>& throughput;
  prometheus::Family<prometheus::Counter>& link_bytes;
  prometheus::Family<prometheus::Counter>& link_busy;
  prometheus::Family<prometheus::Gauge>& iteration;
  prometheus::Family<prometheus::Histogram>& duration;
  prometheus::Family<prometheus::Gauge>& policy_version;
  prometheus::Family<prometheus::Gauge>& topology_edge;
  prometheus::Family<prometheus::Gauge>& topology_node;
  prometheus::Family<prometheus::Counter>& chunks;
  prometheus::Family<prometheus::Counter>& refused;
};

SidecarMetrics::SidecarMetrics(std::string job, std::string dc)
    : job_(std::move(job)), dc_(std::move(dc)), registry_(std::make_shared<prometheus::Registry>()) {
  using prometheus::BuildCounter;
  using prometheus::BuildGauge;
  using prometheus::BuildHistogram;
  series_.reset(new Series{
      BuildGauge()
          .Name("geostorm_link_throughput_bytes_per_second")
          .Help("Passive estimate of a link's throughput: bytes acknowledged over busy time")
          .Register(*registry_),
      BuildCounter().Name("geostorm_link_bytes_total").Help("Bytes acknowledged on a link").Register(*registry_),
      BuildCounter()
          .Name("geostorm_link_busy_seconds_total")
          .Help("Seconds a link had unacknowledged bytes")
          .Register(*registry_),
      BuildGauge().Name("geostorm_iteration").Help("Last iteration finished at this DC").Register(*registry_),
      BuildHistogram()
          .Name("geostorm_iteration_duration_seconds")
          .Help("Time from a worker's first chunk to its last result chunk")
          .Register(*registry_),
      BuildGauge().Name("geostorm_policy_version").Help("Policy version in force").Register(*registry_),
      BuildGauge()
          .Name("geostorm_topology_edge")
          .Help("Share of the model a tree or aux edge carries")
          .Register(*registry_),
      BuildGauge()
          .Name("geostorm_topology_node")
          .Help("This DC in the policy in force: its role (root, relay or leaf) and the share of the model it roots")
          .Register(*registry_),
      BuildCounter().Name("geostorm_chunks_total").Help("Chunks handled, by outcome").Register(*registry_),
      BuildCounter()
          .Name("geostorm_chunks_refused_total")
          .Help("Chunks refused, by the peer or member that sent them and the reason")
          .Register(*registry_),
  });
}

absl::StatusOr<std::unique_ptr<SidecarMetrics>> SidecarMetrics::Start(const std::string& listen, std::string job,
                                                                      std::string dc) {
  std::unique_ptr<SidecarMetrics> metrics(new SidecarMetrics(std::move(job), std::move(dc)));
  try {  // prometheus-cpp (civetweb) throws when it cannot listen
    metrics->exposer_ = std::make_unique<prometheus::Exposer>(listen);
  } catch (const std::exception& e) {
    return absl::UnavailableError(absl::StrCat("--metrics ", listen, ": cannot serve /metrics there: ", e.what()));
  }
  metrics->exposer_->RegisterCollectable(metrics->registry_);
  return metrics;
}

SidecarMetrics::~SidecarMetrics() = default;

int SidecarMetrics::port() const {
  const auto ports = exposer_->GetListeningPorts();
  return ports.empty() ? 0 : ports.front();
}

void SidecarMetrics::CountChunk(const std::string& phase, const std::string& outcome) {
  series_->chunks.Add({{"job", job_}, {"dc", dc_}, {"phase", phase}, {"outcome", outcome}}).Increment();
}

void SidecarMetrics::IterationDone(uint64_t iteration, double seconds) {
  series_->iteration.Add({{"job", job_}, {"dc", dc_}}).Set(static_cast<double>(iteration));
  series_->duration
      .Add({{"job", job_}, {"dc", dc_}},
           prometheus::Histogram::BucketBoundaries{0.05, 0.1, 0.25, 0.5, 1, 2, 4, 8, 16, 32, 64})
      .Observe(seconds);
}

void SidecarMetrics::SetPolicy(const core::Policy& p) {
  series_->policy_version.Add({{"job", job_}, {"dc", dc_}}).Set(static_cast<double>(p.version));
  // Each sidecar reports its own node and the edges it sends on, for the policy
  // in force only: the series of the last policy go first.
  std::lock_guard<std::mutex> lock(mu_);
  for (prometheus::Gauge* g : topology_) {
    series_->topology_edge.Remove(g);
    series_->topology_node.Remove(g);
  }
  topology_.clear();
  const double chunks = static_cast<double>(p.num_chunks());
  std::map<std::pair<std::string, std::string>, std::map<std::string, double>> edges;  // (root, dst) -> kind -> share
  double rooted = 0;
  bool relay = false;
  for (const core::ShardPlan& s : p.shards) {
    const double share = static_cast<double>(s.num_chunks) / chunks;
    if (p.data_centers[s.root] == dc_) rooted += share;
    for (core::Phase phase : {core::Phase::kReduce, core::Phase::kBroadcast}) {
      for (auto [from, to] : core::TreeEdges(s, phase)) {
        if (p.data_centers[from] != dc_) continue;
        edges[{p.data_centers[s.root], p.data_centers[to]}][phase == core::Phase::kReduce ? "reduce" : "broadcast"] +=
            share;
      }
    }
  }
  for (const core::AuxRoute& a : p.aux_routes) {
    for (size_t h = 1; h + 1 < a.path.size(); ++h) relay |= p.data_centers[a.path[h]] == dc_;
    if (p.data_centers[a.path.front()] != dc_) continue;
    const core::ShardPlan& s = p.shards[a.shard];
    edges[{p.data_centers[s.root], p.data_centers[a.path[1]]}]["aux"] +=
        a.fraction * static_cast<double>(s.num_chunks) / chunks;
  }
  for (const auto& [root_dst, kinds] : edges) {
    for (const auto& [kind, share] : kinds) {
      prometheus::Gauge& g = series_->topology_edge.Add(
          {{"job", job_}, {"root", root_dst.first}, {"src", dc_}, {"dst", root_dst.second}, {"kind", kind}});
      g.Set(share);
      topology_.push_back(&g);
    }
  }
  prometheus::Gauge& node = series_->topology_node.Add({{"job", job_},
                                                        {"dc", dc_},
                                                        {"role", rooted > 0 ? "root"
                                                                 : relay    ? "relay"
                                                                            : "leaf"}});
  node.Set(rooted);
  topology_.push_back(&node);
}

void SidecarMetrics::StartRefusals(const std::vector<std::string>& peers) {
  for (const std::string& peer : peers) {
    for (const char* reason : {"checksum_error", "duplicate", "rejected"}) {
      series_->refused.Add({{"job", job_}, {"dc", dc_}, {"peer", peer}, {"reason", reason}});
    }
  }
}

void SidecarMetrics::CountRefusal(const std::string& peer, const std::string& reason) {
  series_->refused.Add({{"job", job_}, {"dc", dc_}, {"peer", peer}, {"reason", reason}}).Increment();
}

void SidecarMetrics::UpdateLink(const std::string& dst, const LinkMeter& meter) {
  const prometheus::Labels labels{{"job", job_}, {"src", dc_}, {"dst", dst}};
  series_->throughput.Add(labels).Set(meter.bytes_per_second());
  const int64_t bytes = meter.acked_bytes_total();
  const double busy = meter.busy_seconds_total();
  std::lock_guard<std::mutex> lock(mu_);
  auto& [last_bytes, last_busy] = last_link_[dst];
  series_->link_bytes.Add(labels).Increment(static_cast<double>(bytes - last_bytes));
  series_->link_busy.Add(labels).Increment(busy - last_busy);
  last_bytes = bytes;
  last_busy = busy;
}

}  // namespace geostorm::sidecar
