#include "sidecar/gateway.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <random>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "control/credentials.h"
#include "control/event_log.h"
#include "core/status_macros.h"
#include "sidecar/metrics.h"
#include "sidecar/result_board.h"
#include "sidecar/rollout_client.h"
#include "sidecar/transport/peer_link.h"

namespace geostorm::sidecar {

using wire::ChunkKind;
using wire::Envelope;
using wire::WireChunk;

const char* PhaseName(ChunkKind k) {
  switch (k) {
    case ChunkKind::kReduce:
      return "reduce";
    case ChunkKind::kBroadcast:
      return "broadcast";
    case ChunkKind::kLocal:
      return "local";
    case ChunkKind::kResult:
      return "result";
    case ChunkKind::kProbe:
      return "probe";
  }
  return "unknown";
}

std::string OutcomeOf(const absl::Status& s) {
  switch (s.code()) {
    case absl::StatusCode::kOk:
      return "accepted";
    case absl::StatusCode::kDataLoss:
      return "checksum_error";
    case absl::StatusCode::kAlreadyExists:
      return "duplicate";
    default:
      return "rejected";
  }
}

std::string UnreachablePeer(const core::Policy& p, const std::string& dc,
                            const std::map<std::string, std::string>& peers) {
  auto missing = [&](int from, int to) {
    return p.data_centers[from] == dc && p.data_centers[to] != dc && !peers.count(p.data_centers[to]);
  };
  for (const core::ShardPlan& s : p.shards) {
    for (core::Phase phase : {core::Phase::kReduce, core::Phase::kBroadcast}) {
      for (auto [from, to] : core::TreeEdges(s, phase)) {
        if (missing(from, to)) return p.data_centers[to];
      }
    }
  }
  for (const core::AuxRoute& a : p.aux_routes) {
    for (size_t h = 0; h + 1 < a.path.size(); ++h) {
      if (missing(a.path[h], a.path[h + 1])) return p.data_centers[a.path[h + 1]];
    }
  }
  return "";
}

bool Dialler::Names(const std::string& dc) const {
  return anyone || std::find(dcs.begin(), dcs.end(), dc) != dcs.end() ||
         std::find(dcs.begin(), dcs.end(), "*") != dcs.end();
}

std::string Dialler::ToString() const {
  if (anyone) return "anyone";
  if (dcs.empty()) return "no DC of the job";
  return absl::StrCat("'", absl::StrJoin(dcs, "', '"), "'");
}

Gateway::Gateway(const SidecarConfig& config, Shared shared)
    : config_(config),
      shared_(shared),
      limits_{config.job, config.policy.model_bytes, config.policy.chunk_bytes},
      num_chunks_(config.policy.num_chunks()),
      timeout_ms_(IterationTimeout(config.timeout, config.policy).count()) {}

absl::StatusOr<std::unique_ptr<Gateway>> Gateway::Create(const SidecarConfig& config,
                                                         const std::shared_ptr<grpc::ChannelCredentials>& credentials,
                                                         Shared shared, std::unique_ptr<RolloutClient> rollout) {
  std::unique_ptr<Gateway> gateway(new Gateway(config, shared));
  RETURN_IF_ERROR(gateway->Init(credentials, std::move(rollout)));
  return gateway;
}

absl::Status Gateway::Init(const std::shared_ptr<grpc::ChannelCredentials>& credentials,
                           std::unique_ptr<RolloutClient> rollout) {
  engine_ = std::make_unique<Aggregator>(
      AggregatorConfig{config_.job, config_.data_center, config_.local_workers, config_.total_workers}, config_.policy);
  engine_->set_path_chooser([this](const auto& paths, int64_t bytes) { return EarliestFinish(paths, bytes); });
  AddRelays(config_.policy);
  std::vector<std::string> senders = {"other"};  // the names refusals are counted under
  for (const auto& [dc, address] : config_.peers) {
    senders.push_back(dc);
    links_[dc] = std::make_unique<PeerLink>(dc, address, credentials, config_.max_queue_bytes, config_.min_window_bytes,
                                            control::DataCenterIdentity(config_.job, dc, config_.insecure));
  }
  if (shared_.metrics) shared_.metrics->StartRefusals(senders);
  if (rollout) {
    for (size_t i = 1; i < rollout->initial().size(); ++i) {  // the first is config_.policy
      const core::Activation& a = rollout->initial()[i];
      AddRelays(a.policy);
      RETURN_IF_ERROR(engine_->SetPolicy(a.policy, a.activate_at));
    }
    RolloutGate::Engine hooks;
    hooks.latest_version = [this] {
      std::lock_guard<std::mutex> lock(engine_mu_);
      return engine_->latest_version();
    };
    hooks.activate = [this](core::Activation a) {
      const uint64_t v = a.policy.version, from = a.activate_at;
      {
        std::lock_guard<std::mutex> lock(engine_mu_);
        RETURN_IF_ERROR(engine_->SetPolicy(std::move(a.policy), from));
      }
      if (shared_.events) shared_.events->PolicyCommitted(v, from);
      return absl::OkStatus();
    };
    hooks.check = [this](const core::Policy& next) {
      const core::Policy& now = config_.policy;
      if (next.data_centers != now.data_centers || next.model_bytes != now.model_bytes ||
          next.chunk_bytes != now.chunk_bytes) {
        return absl::InvalidArgumentError("the policy has other DCs, model size or chunk size than this job");
      }
      if (const std::string dc = UnreachablePeer(next, config_.data_center, config_.peers); !dc.empty()) {
        return absl::FailedPreconditionError(absl::StrCat("no address for '", dc, "', which the policy sends to"));
      }
      return absl::OkStatus();
    };
    hooks.prepared = [this](const core::Activation& a) {
      AddRelays(a.policy);  // its relayed chunks may come before its commit does
      if (shared_.events) shared_.events->PolicyPrepared(a.policy.version, a.activate_at);
    };
    gate_ = std::make_unique<RolloutGate>(std::move(hooks), config_.max_queue_bytes);
    rollout_ = std::move(rollout);
    rollout_->Attach(
        gate_.get(),
        {[this] { return MakeProgress(); }, [this](const std::vector<std::string>& peers) { SendProbes(peers); },
         [this] { AcceptReleased(); }, [this](int steps) { local_steps_ = std::max(1, steps); }});
  }
  metrics_thread_ = std::thread([this] { ExportLinks(); });
  return absl::OkStatus();
}

Gateway::~Gateway() {
  stopping_ = true;
  if (metrics_thread_.joinable()) metrics_thread_.join();
  rollout_.reset();  // no more updates into the gate
  links_.clear();
}

absl::Status Gateway::Begin(uint64_t t, Clock::time_point deadline) {
  if (gate_) {
    RETURN_IF_ERROR(gate_->AdmitIteration(t, deadline));
    rollout_->Report(MakeProgress());
  }
  // This DC's workers have moved on to t, so an unfinished older iteration
  // (leftovers of a failure, or chunks resent to a restarted sidecar) can never
  // be used: drop it.
  std::lock_guard<std::mutex> lock(engine_mu_);
  engine_->Abandon(t);
  return absl::OkStatus();
}

absl::Status Gateway::Contribute(const std::string& session, uint64_t t, int64_t chunk, wire::Payload values,
                                 uint64_t layout) {
  return Engine("local", [&](Aggregator& a) { return a.OnLocal(t, chunk, session, values, 1, layout); });
}

void Gateway::Done(uint64_t t, double seconds) {
  last_iteration_seconds_ = seconds;
  if (shared_.metrics) shared_.metrics->IterationDone(t, seconds);
  uint64_t version = 0;
  {
    std::lock_guard<std::mutex> lock(engine_mu_);
    const core::Policy& policy = engine_->PolicyFor(t);
    version = policy.version;
    if (version != exported_version_) {
      if (shared_.metrics) shared_.metrics->SetPolicy(policy);
      timeout_ms_ = IterationTimeout(config_.timeout, policy).count();
    }
    exported_version_ = version;
  }
  if (shared_.events) shared_.events->IterationDone(t, seconds, version);
  spdlog::info("{}: iteration {} done in {:.3f} s with policy v{}", config_.data_center, t, seconds, version);
}

void Gateway::Fail(uint64_t t, const absl::Status& why) {
  spdlog::error("{}: iteration {} failed: {}", config_.data_center, t, std::string(why.message()));
  {
    std::lock_guard<std::mutex> lock(error_mu_);
    last_error_ = absl::StrCat("iteration ", t, ": ", why.message());
  }
  if (shared_.events) shared_.events->IterationFailed(t, std::string(why.message()));
  shared_.board->Fail(t, std::string(why.message()));
  std::lock_guard<std::mutex> lock(engine_mu_);
  engine_->Abandon(t + 1);
}

absl::Status Gateway::OnWireChunk(const WireChunk& wire, const Dialler& from) {
  if (absl::Status s = CheckDialler(wire.header.sender(), from); !s.ok()) {
    Count("unknown", OutcomeOf(s));
    Refused(wire.header.iteration(), wire.header.chunk(), wire.header.sender(), s);
    return s;
  }
  if (wire.header.route_size() > 0) return Relay(wire);
  absl::StatusOr<Envelope> e = wire::DecodeChunk(limits_, wire);
  if (!e.ok()) {
    Count("unknown", OutcomeOf(e.status()));
    Refused(wire.header.iteration(), wire.header.chunk(), wire.header.sender(), e.status());
    return e.status();
  }
  if (e->kind == ChunkKind::kProbe) {
    Count("probe", "accepted");
    return absl::OkStatus();
  }
  if (gate_) {
    // An iteration that a prepared policy holds waits here until the rollout is
    // decided; its chunks are kept aside, up to the queue bound.
    const char* phase = PhaseName(e->kind);
    const uint64_t t = e->iteration;
    const int64_t chunk = e->chunk;
    const std::string sender = e->sender;
    absl::StatusOr<bool> now = gate_->Offer(*e, Clock::now() + Timeout());
    if (!now.ok()) {
      Count(phase, "rejected");
      Refused(t, chunk, sender, now.status());
      return now.status();
    }
    if (!*now) {
      Count(phase, "held");
      return absl::OkStatus();
    }
  }
  return Accept(*e);
}

absl::Status Gateway::CheckDialler(const std::string& sender, const Dialler& from) const {
  if (from.Names(sender)) return absl::OkStatus();
  {
    std::lock_guard<std::mutex> lock(relays_mu_);
    for (auto it = relays_.lower_bound({sender, ""}); it != relays_.end() && it->first == sender; ++it) {
      if (from.Names(it->second)) return absl::OkStatus();
    }
  }
  return absl::PermissionDeniedError(
      absl::StrCat("a chunk from '", sender, "' came over a connection whose certificate ", "is for ", from.ToString(),
                   ": neither that DC nor one that relays ", "its chunks to ", config_.data_center));
}

void Gateway::AddRelays(const core::Policy& policy) {
  std::lock_guard<std::mutex> lock(relays_mu_);
  for (const core::AuxRoute& a : policy.aux_routes) {
    for (size_t h = 2; h < a.path.size(); ++h) {
      if (policy.data_centers[a.path[h]] != config_.data_center) continue;
      relays_.insert({policy.data_centers[a.path.front()], policy.data_centers[a.path[h - 1]]});
    }
  }
}

// A chunk with hops left goes on unread: its header is checked, its payload is
// neither copied nor checksummed here (the final receiver does that).
absl::Status Gateway::Relay(WireChunk wire) {
  const std::string hop = wire.header.route(0);
  auto link = links_.find(hop);
  absl::Status s = wire::CheckHeader(limits_, wire);
  if (s.ok() && link == links_.end()) {
    s = absl::InvalidArgumentError(absl::StrCat("relay hop '", hop, "' is not a peer of ", config_.data_center));
  }
  if (!s.ok()) {
    Count("unknown", OutcomeOf(s));
    Refused(wire.header.iteration(), wire.header.chunk(), wire.header.sender(), s);
    return s;
  }
  double priority = 0;
  {
    std::lock_guard<std::mutex> lock(engine_mu_);
    priority = engine_->Priority(wire.header.iteration(), wire.header.shard(), wire.header.chunk());
  }
  const char* phase = wire.header.kind() == v1::CHUNK_BROADCAST ? "broadcast" : "reduce";
  wire.header.mutable_route()->erase(wire.header.mutable_route()->begin());
  if (!link->second->Send(std::move(wire), Timeout(), priority)) {
    Count(phase, "dropped");
    return absl::ResourceExhaustedError(absl::StrCat("peer '", hop, "' did not take a relayed chunk in time"));
  }
  Count(phase, "relayed");
  return absl::OkStatus();
}

// A decoded chunk into the engine, counted by outcome.
absl::Status Gateway::Accept(const Envelope& e) {
  absl::Status s = Engine(PhaseName(e.kind), [&](Aggregator& a) {
    if (e.kind == ChunkKind::kLocal) {
      return a.OnLocal(e.iteration, e.chunk, e.sender, e.data, e.contributors, e.layout);
    }
    return a.OnPeer(e);  // routed chunks never get here: see Relay
  });
  if (!s.ok()) Refused(e.iteration, e.chunk, e.sender, s);
  if (IsLayoutMismatch(s)) Fail(e.iteration, s);  // it can never be summed: fail it now, with the reason
  return s;
}

void Gateway::AcceptReleased() {
  for (const Envelope& e : gate_->TakeReleased()) Accept(e).IgnoreError();  // counted and logged there
}

absl::Status Gateway::Engine(const char* phase, const std::function<absl::Status(Aggregator&)>& call) {
  std::vector<Outgoing> out;
  std::vector<Result> results;
  absl::Status s;
  {
    std::lock_guard<std::mutex> lock(engine_mu_);
    s = call(*engine_);
    out = engine_->TakeOutgoing();
    results = engine_->TakeResults();
  }
  // Counted before anything it completed is visible: a worker that has its sum
  // sees the chunks that made it counted.
  Count(phase, OutcomeOf(s));
  for (Result& r : results) shared_.board->Publish(std::move(r));
  for (Outgoing& o : out) SendToPeer(o);
  return s;
}

void Gateway::SendToPeer(const Outgoing& o) {
  auto it = links_.find(o.peer);
  if (it == links_.end()) {
    Count(PhaseName(o.chunk.kind), "dropped");
    spdlog::error("{}: no address for peer '{}' (add --peer {}=HOST:PORT)", config_.data_center, o.peer, o.peer);
    return;
  }
  if (config_.inject_delay.count() > 0) {
    thread_local std::mt19937 random(std::random_device{}());
    std::this_thread::sleep_for(std::chrono::microseconds(random() % (config_.inject_delay.count() * 1000 + 1)));
  }
  if (!it->second->Send(wire::EncodeChunk(config_.job, config_.policy.chunk_bytes, o.chunk), Timeout(), o.priority)) {
    Count(PhaseName(o.chunk.kind), "dropped");
    spdlog::warn("{}: peer '{}' did not take chunk {} of iteration {} in time", config_.data_center, o.peer,
                 o.chunk.chunk, o.chunk.iteration);
  }
}

// Earliest expected finish: queued bytes plus this chunk over the measured rate.
size_t Gateway::EarliestFinish(const std::vector<std::vector<std::string>>& paths, int64_t bytes) {
  size_t best = 0;
  double best_finish = 0;
  for (size_t i = 0; i < paths.size(); ++i) {
    auto it = links_.find(paths[i].front());
    if (it == links_.end()) continue;
    const LinkMeter& m = it->second->meter();
    const double rate = m.bytes_per_second() > 0 ? m.bytes_per_second() : 1e8;  // unmeasured: probe it
    const double finish =
        static_cast<double>(m.outstanding_bytes() + bytes * static_cast<int64_t>(paths[i].size())) / rate;
    if (i == 0 || finish < best_finish) {
      best = i;
      best_finish = finish;
    }
  }
  return best;
}

// Filler on each named link, behind any real traffic: enough for its meter to take
// fresh samples (LinkMeter::NextProbeBytes).
void Gateway::SendProbes(const std::vector<std::string>& peers) {
  const int64_t chunk_bytes = config_.policy.BytesOf(0, 1);
  auto zeros = std::make_shared<wire::Floats>(static_cast<size_t>(chunk_bytes / 4), 0.0f);
  for (const std::string& peer : peers) {
    auto it = links_.find(peer);
    if (it == links_.end()) continue;
    const int64_t chunks = (it->second->meter().NextProbeBytes() + chunk_bytes - 1) / chunk_bytes;
    for (int64_t i = 0; i < chunks; ++i) {
      Envelope e{ChunkKind::kProbe, 0, 0, 0, 0, 1, config_.data_center, {}, zeros};
      WireChunk wire = wire::EncodeChunk(config_.job, config_.policy.chunk_bytes, e);
      if (!it->second->Send(std::move(wire), std::chrono::milliseconds(10), /*priority=*/1e9)) break;
      Count("probe", "sent");
    }
  }
}

void Gateway::ReportStep(double seconds) {
  std::lock_guard<std::mutex> lock(step_mu_);
  step_seconds_ = step_seconds_ > 0 ? 0.7 * step_seconds_ + 0.3 * seconds : seconds;
}

v1::Progress Gateway::MakeProgress() {
  v1::Progress p;
  p.set_job(config_.job);
  p.set_data_center(config_.data_center);
  p.set_iteration(gate_ ? gate_->highest() : 0);
  {
    std::lock_guard<std::mutex> lock(engine_mu_);
    p.set_policy_version(engine_->PolicyFor(p.iteration()).version);
  }
  p.set_iteration_seconds(last_iteration_seconds_);
  {
    std::lock_guard<std::mutex> lock(step_mu_);
    p.set_step_seconds(step_seconds_);
  }
  {
    std::lock_guard<std::mutex> lock(error_mu_);
    p.set_error(last_error_);
  }
  for (const auto& [dc, link] : links_) {
    v1::LinkEstimate* l = p.add_links();
    l->set_dst(dc);
    l->set_bytes_per_second(link->meter().bytes_per_second());
    l->set_age_seconds(std::min(link->meter().age_seconds(), 1e9));
  }
  return p;
}

void Gateway::ExportLinks() {
  while (!stopping_) {
    if (shared_.metrics) {
      for (const auto& [dc, link] : links_) shared_.metrics->UpdateLink(dc, link->meter());
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
}

void Gateway::Count(const char* phase, const std::string& outcome) {
  if (shared_.metrics) shared_.metrics->CountChunk(phase, outcome);
}

void Gateway::Refused(uint64_t iteration, int64_t chunk, const std::string& sender, const absl::Status& s) {
  // The sender's name comes from the wire: only the known peers get a series of their own.
  if (shared_.metrics) shared_.metrics->CountRefusal(config_.peers.count(sender) ? sender : "other", OutcomeOf(s));
  // Rate-limited: the first few, then one in a thousand.
  const int64_t n = refusals_++;
  if (n < 20 || n % 1000 == 0) {
    spdlog::warn("{}: refused chunk {} of iteration {} from '{}': {} ({} refused so far)", config_.data_center, chunk,
                 iteration, sender, std::string(s.message()), n + 1);
  }
}

}  // namespace geostorm::sidecar
