#include "sidecar/sidecar.h"

#include <grpcpp/grpcpp.h>
#include <spdlog/spdlog.h>

#include <atomic>
#include <random>
#include <thread>

#include "absl/strings/str_cat.h"
#include "core/policy/policy_codec.h"
#include "geostorm/v1/control.pb.h"
#include "sidecar/control_link.h"
#include "sidecar/engine/aggregator.h"
#include "sidecar/engine/policy_switch.h"
#include "sidecar/metrics.h"
#include "sidecar/result_board.h"
#include "sidecar/transport/data_plane.h"
#include "sidecar/transport/peer_link.h"
#include "sidecar/wire/chunk_codec.h"

namespace geostorm::sidecar {
namespace {

using Clock = std::chrono::steady_clock;

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

std::string Outcome(const absl::Status& s) {
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

// The first DC that `dc` sends to under `policy` (tree edges and relay hops) and
// has no address for, or "".
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

std::vector<Activation> ActivationsOf(const v1::Current& current, std::optional<Activation>* pending) {
  std::vector<Activation> committed;
  for (const v1::Activation& a : current.committed()) {
    absl::StatusOr<core::Policy> p = core::FromProto(a.policy());
    if (!p.ok()) {
      spdlog::error("controller sent a committed policy that does not decode: {}", std::string(p.status().message()));
      continue;
    }
    committed.push_back({*std::move(p), a.activate_at()});
  }
  if (current.has_pending()) {
    absl::StatusOr<core::Policy> p = core::FromProto(current.pending().policy());
    if (p.ok()) *pending = Activation{*std::move(p), current.pending().activate_at()};
  }
  return committed;
}

// A member's long-lived Join stream to its gateway: LOCAL chunks up, RESULT back.
class MemberLink {
 public:
  MemberLink(const std::string& address, const std::shared_ptr<grpc::ChannelCredentials>& creds,
             std::function<void(const WireChunk&)> on_result)
      : channel_(grpc::CreateCustomChannel(address, creds, PeerChannelArguments())), on_result_(std::move(on_result)) {
    thread_ = std::thread([this] { Run(); });
  }
  ~MemberLink() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      stopping_ = true;
      if (context_) context_->TryCancel();
    }
    changed_.notify_all();
    thread_.join();
  }
  void Send(WireChunk chunk) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      queue_.push_back(std::move(chunk));
    }
    changed_.notify_all();
  }

 private:
  void Run() {
    while (true) {
      DataPlaneStub stub(channel_);
      grpc::ClientContext context;
      context.set_wait_for_ready(true);  // the gateway may not be up yet
      {
        std::lock_guard<std::mutex> lock(mu_);
        if (stopping_) return;
        context_ = &context;
      }
      auto stream = stub.Join(&context);
      std::thread reader([&] {
        WireChunk chunk;
        while (stream->Read(&chunk)) on_result_(chunk);
      });
      for (;;) {
        std::unique_lock<std::mutex> lock(mu_);
        changed_.wait(lock, [&] { return stopping_ || !queue_.empty(); });
        if (stopping_) break;
        WireChunk chunk = std::move(queue_.front());
        queue_.pop_front();
        lock.unlock();
        if (!stream->Write(chunk)) {  // never left: first on the next stream
          std::lock_guard<std::mutex> relock(mu_);
          queue_.push_front(std::move(chunk));
          break;
        }
      }
      context.TryCancel();
      reader.join();
      std::unique_lock<std::mutex> lock(mu_);
      context_ = nullptr;
      if (changed_.wait_for(lock, std::chrono::milliseconds(200), [&] { return stopping_; })) return;
    }
  }

  std::shared_ptr<grpc::Channel> channel_;
  std::function<void(const WireChunk&)> on_result_;
  std::mutex mu_;
  std::condition_variable changed_;
  std::deque<WireChunk> queue_;
  grpc::ClientContext* context_ = nullptr;
  bool stopping_ = false;
  std::thread thread_;
};

class SidecarImpl final : public Sidecar, public DataPlaneService, public WorkerService {
 public:
  explicit SidecarImpl(SidecarConfig config) : config_(std::move(config)) {}

  ~SidecarImpl() override { Shutdown(); }

  absl::Status Init() {
    absl::StatusOr<control::Credentials> creds = control::MakeCredentials(config_.tls, config_.insecure);
    if (!creds.ok()) return creds.status();
    std::vector<Activation> later;  // committed policies newer than the first
    if (!config_.controller.empty()) {
      absl::StatusOr<std::vector<Activation>> committed = ConnectController(creds->channel);
      if (!committed.ok()) return committed.status();
      config_.policy = committed->front().policy;
      later.assign(committed->begin() + 1, committed->end());
      const auto& dcs = config_.policy.data_centers;
      if (std::find(dcs.begin(), dcs.end(), config_.data_center) == dcs.end()) {
        return absl::InvalidArgumentError(
            absl::StrCat("--dc: '", config_.data_center, "' is not a DC of the controller's policy"));
      }
    }
    limits_ = {config_.job, config_.policy.model_bytes, config_.policy.chunk_bytes};
    board_ = std::make_unique<ResultBoard>(config_.policy.num_chunks());
    if (!config_.metrics_listen.empty()) {
      try {
        metrics_ = std::make_unique<SidecarMetrics>(config_.metrics_listen, config_.job, config_.data_center);
      } catch (const std::exception& e) {
        return absl::UnavailableError(absl::StrCat("--metrics ", config_.metrics_listen, ": ", e.what()));
      }
      metrics_->SetPolicy(config_.policy);
    }
    // Workers of the whole job: given, or W in every DC. Members report it to their
    // workers too (pass them the gateway's --workers or --total-workers).
    if (config_.total_workers <= 0) {
      config_.total_workers = config_.local_workers * static_cast<int>(config_.policy.data_centers.size());
    }
    const bool member = !config_.gateway.empty();
    if (member) {
      member_ = std::make_unique<MemberLink>(config_.gateway, creds->channel,
                                             [this](const WireChunk& c) { OnMemberResult(c); });
    } else {
      engine_ = std::make_unique<Aggregator>(
          AggregatorConfig{config_.job, config_.data_center, config_.local_workers, config_.total_workers},
          config_.policy);
      engine_->set_path_chooser([this](const auto& paths, int64_t bytes) { return EarliestFinish(paths, bytes); });
      for (const auto& [dc, address] : config_.peers) {
        links_[dc] =
            std::make_unique<PeerLink>(dc, address, creds->channel, config_.max_queue_bytes, config_.min_window_bytes);
      }
      for (Activation& a : later) {
        if (absl::Status s = engine_->SetPolicy(std::move(a.policy), a.activate_at); !s.ok()) return s;
      }
      std::vector<v1::PolicyUpdate> early;
      {
        std::lock_guard<std::mutex> lock(control_mu_);
        engine_ready_ = true;
        early.swap(early_updates_);
      }
      for (const v1::PolicyUpdate& u : early) Apply(u);
    }
    grpc::ServerBuilder builder;
    builder.SetMaxReceiveMessageSize(-1);
    builder.SetMaxSendMessageSize(-1);
    if (!member) {
      builder.AddListeningPort(config_.listen, creds->server, &data_port_);
      builder.RegisterService(static_cast<DataPlaneService*>(this));
    }
    if (!config_.worker_listen.empty()) {
      // The worker API is local only: a Unix socket or loopback, never TLS-less off-host.
      builder.AddListeningPort(config_.worker_listen, grpc::InsecureServerCredentials());
      builder.RegisterService(static_cast<WorkerService*>(this));
    }
    server_ = builder.BuildAndStart();
    if (!server_ || (!member && data_port_ == 0)) {
      return absl::UnavailableError(absl::StrCat("cannot listen on ", member ? config_.worker_listen : config_.listen));
    }
    metrics_thread_ = std::thread([this] { ExportLinks(); });
    spdlog::info("sidecar {} ({}) of job {} serving; policy v{} ({}), {} chunks", config_.data_center,
                 member ? "member" : "gateway", config_.job, config_.policy.version, config_.policy.strategy,
                 config_.policy.num_chunks());
    return absl::OkStatus();
  }

  int data_port() const override { return data_port_; }
  int metrics_port() const override { return metrics_ ? metrics_->port() : 0; }
  void Wait() override { server_->Wait(); }

  void Shutdown() override {
    if (stopping_.exchange(true)) return;
    if (server_) server_->Shutdown(std::chrono::system_clock::now() + std::chrono::milliseconds(500));
    if (metrics_thread_.joinable()) metrics_thread_.join();
    control_.reset();
    member_.reset();
    links_.clear();
  }

  // ---- DataPlane (gateway) ----

  grpc::Status Exchange(grpc::ServerContext*, grpc::ServerReaderWriter<v1::Ack, WireChunk>* stream) override {
    WireChunk chunk;
    while (stream->Read(&chunk)) {
      const absl::Status s = OnWireChunk(chunk);
      v1::Ack ack;
      ack.set_chunk(chunk.header.chunk());
      ack.set_iteration(chunk.header.iteration());
      ack.set_accepted(s.ok());
      if (!s.ok()) ack.set_error(std::string(std::string(s.message())));
      if (!stream->Write(ack)) break;
    }
    return grpc::Status::OK;
  }

  grpc::Status Join(grpc::ServerContext* context, grpc::ServerReaderWriter<WireChunk, WireChunk>* stream) override {
    // The handler thread writes results; a reader thread takes LOCAL chunks.
    std::mutex mu;
    std::condition_variable joined;
    std::deque<uint64_t> iterations;  // in the order the member started them
    bool closed = false;
    std::thread reader([&] {
      WireChunk chunk;
      std::set<uint64_t> seen;
      while (stream->Read(&chunk)) {
        const uint64_t t = chunk.header.iteration();
        if (chunk.header.kind() == v1::CHUNK_LOCAL && seen.insert(t).second) {
          board_->Subscribe(t);
          std::lock_guard<std::mutex> lock(mu);
          iterations.push_back(t);
          joined.notify_all();
        }
        OnWireChunk(chunk).IgnoreError();  // counted and logged there
      }
      std::lock_guard<std::mutex> lock(mu);
      closed = true;
      joined.notify_all();
    });
    for (;;) {
      uint64_t t;
      {
        std::unique_lock<std::mutex> lock(mu);
        joined.wait(lock, [&] { return closed || !iterations.empty(); });
        if (iterations.empty()) break;
        t = iterations.front();
        iterations.pop_front();
      }
      const auto deadline = Clock::now() + config_.timeout;
      for (int64_t i = 0; i < engine_->num_chunks(); ++i) {
        absl::StatusOr<Result> r = board_->Next(t, static_cast<size_t>(i), deadline);
        if (!r.ok()) {
          Abandon(t, r.status());
          break;
        }
        Envelope e{ChunkKind::kResult, t, 0, 0, r->chunk, r->contributors, config_.data_center, {}, r->data};
        if (!stream->Write(EncodeChunk(config_.job, config_.policy.chunk_bytes, e))) break;
      }
      board_->Unsubscribe(t);
    }
    context->TryCancel();
    reader.join();
    std::lock_guard<std::mutex> lock(mu);
    for (uint64_t t : iterations) board_->Unsubscribe(t);
    return grpc::Status::OK;
  }

  // ---- Worker API ----

  grpc::Status Describe(grpc::ServerContext*, const v1::DescribeRequest*, v1::JobInfo* info) override {
    info->set_job(config_.job);
    info->set_data_center(config_.data_center);
    info->set_model_bytes(config_.policy.model_bytes);
    info->set_chunk_bytes(config_.policy.chunk_bytes);
    info->set_total_workers(config_.total_workers);
    return grpc::Status::OK;
  }

  grpc::Status AllReduce(grpc::ServerContext* context,
                         grpc::ServerReaderWriter<ResultFrame, GradientFrame>* stream) override {
    const std::string session =
        absl::StrCat(config_.member_id.empty() ? config_.data_center : config_.member_id, "/worker", next_session_++);
    GradientFrame first;
    if (!stream->Read(&first)) return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "no gradient chunks sent");
    const uint64_t t = first.header.iteration();
    const auto started = Clock::now();
    if (absl::Status s = AdmitIteration(t, started + config_.timeout); !s.ok()) {
      Abandon(t, s);
      stream->Write(ErrorFrame(t, s));
      return grpc::Status::OK;
    }
    if (control_) control_->Report(MakeProgress());
    board_->Subscribe(t);
    if (engine_) {
      // This DC's workers have moved on to t, so an unfinished older iteration
      // (leftovers of a failure, or chunks resent to a restarted sidecar) can
      // never be used: drop it.
      std::lock_guard<std::mutex> lock(engine_mu_);
      engine_->Abandon(t);
    }
    std::atomic<bool> bad_input{false};
    std::string bad_why;
    std::thread reader([&] {
      GradientFrame chunk = first;
      do {
        absl::Status s = chunk.header.iteration() != t
                             ? absl::InvalidArgumentError(absl::StrCat("chunk for iteration ", chunk.header.iteration(),
                                                                       " in a call for iteration ", t))
                             : OnWorkerChunk(session, chunk);
        if (!s.ok() && !bad_input.exchange(true)) {
          bad_why = std::string(std::string(s.message()));
          board_->Fail(t, absl::StrCat("bad input from ", session, ": ", bad_why));
        }
      } while (stream->Read(&chunk));
    });
    const auto deadline = started + config_.timeout;
    const int64_t chunks = config_.policy.num_chunks();
    absl::Status outcome;
    for (int64_t i = 0; i < chunks; ++i) {
      absl::StatusOr<Result> r = board_->Next(t, static_cast<size_t>(i), deadline);
      if (!r.ok()) {
        outcome = r.status();
        break;
      }
      ResultFrame out;
      out.header.set_iteration(t);
      out.header.set_chunk(r->chunk);
      out.header.set_contributors(r->contributors);
      out.set_payload(r->data);
      if (!stream->Write(out)) break;
    }
    if (!outcome.ok()) {
      Abandon(t, outcome);
      stream->Write(ErrorFrame(t, outcome));
    } else {
      const double seconds = std::chrono::duration<double>(Clock::now() - started).count();
      last_iteration_seconds_ = seconds;
      if (metrics_) metrics_->IterationDone(t, seconds);
      if (engine_) {
        uint64_t version = 0;
        {
          std::lock_guard<std::mutex> lock(engine_mu_);
          version = engine_->PolicyFor(t).version;
          if (metrics_ && version != exported_version_) metrics_->SetPolicy(engine_->PolicyFor(t));
          exported_version_ = version;
        }
        spdlog::info("{}: iteration {} done in {:.3f} s with policy v{}", config_.data_center, t, seconds, version);
      }
    }
    board_->Unsubscribe(t);
    context->TryCancel();
    reader.join();
    return grpc::Status::OK;
  }

 private:
  static ResultFrame ErrorFrame(uint64_t t, const absl::Status& why) {
    ResultFrame error;
    error.header.set_iteration(t);
    error.header.set_error(std::string(why.message()));
    return error;
  }

  absl::Status OnWorkerChunk(const std::string& session, const GradientFrame& chunk) {
    const int64_t k = chunk.header.chunk();
    const uint64_t t = chunk.header.iteration();
    if (k < 0 || k >= config_.policy.num_chunks() || chunk.bytes() != config_.policy.BytesOf(k, 1)) {
      return absl::InvalidArgumentError(absl::StrCat("gradient chunk ", k, " has ", chunk.bytes(),
                                                     " bytes; the model has ", config_.policy.num_chunks(),
                                                     " chunks of ", config_.policy.chunk_bytes, " bytes"));
    }
    if (member_) {
      Envelope e{ChunkKind::kLocal,    t, config_.policy.version, 0, k, 1, session, {}, PayloadOf(chunk),
                 chunk.header.layout()};
      member_->Send(EncodeChunk(config_.job, config_.policy.chunk_bytes, e));
      return absl::OkStatus();
    }
    absl::Status s =
        Engine([&](Aggregator& a) { return a.OnLocal(t, k, session, PayloadOf(chunk), 1, chunk.header.layout()); });
    Count("local", Outcome(s));
    return s;
  }

  absl::Status OnWireChunk(const WireChunk& wire) {
    if (wire.header.route_size() > 0 && engine_) return Relay(wire);
    absl::StatusOr<Envelope> e = DecodeChunk(limits_, wire);
    if (!e.ok()) {
      Count("unknown", Outcome(e.status()));
      LogRefusal(wire.header.iteration(), wire.header.chunk(), wire.header.sender(), e.status());
      return e.status();
    }
    if (e->kind == ChunkKind::kProbe) {
      Count("probe", "accepted");
      return absl::OkStatus();
    }
    if (control_) {
      // An iteration that a prepared policy holds waits here until the rollout is
      // decided; its chunks are kept aside, up to the queue bound.
      const int64_t bytes = static_cast<int64_t>(e->data->size() * sizeof(float));
      std::unique_lock<std::mutex> lock(control_mu_);
      bool admitted = false;
      control_cv_.wait_until(lock, Clock::now() + config_.timeout, [&] {
        admitted = switch_.Admit(e->iteration);
        return admitted || held_bytes_ + bytes <= config_.max_queue_bytes;
      });
      if (!admitted) {
        if (held_bytes_ + bytes > config_.max_queue_bytes) {
          absl::Status s = absl::ResourceExhaustedError(
              absl::StrCat("iteration ", e->iteration, " waits for policy v", switch_.prepared_version().value_or(0),
                           " to be committed or aborted, and the chunks held for it fill the queue"));
          Count(PhaseName(e->kind), "rejected");
          LogRefusal(e->iteration, e->chunk, e->sender, s);
          return s;
        }
        held_bytes_ += bytes;
        held_.push_back(*std::move(e));
        Count(PhaseName(held_.back().kind), "held");
        return absl::OkStatus();
      }
    }
    return Accept(*e);
  }

  // A chunk with hops left goes on unread: its header is checked, its payload is
  // neither copied nor checksummed here (the final receiver does that).
  absl::Status Relay(WireChunk wire) {
    const std::string hop = wire.header.route(0);
    auto link = links_.find(hop);
    absl::Status s = CheckHeader(limits_, wire);
    if (s.ok() && link == links_.end()) {
      s = absl::InvalidArgumentError(absl::StrCat("relay hop '", hop, "' is not a peer of ", config_.data_center));
    }
    if (!s.ok()) {
      Count("unknown", Outcome(s));
      LogRefusal(wire.header.iteration(), wire.header.chunk(), wire.header.sender(), s);
      return s;
    }
    double priority = 0;
    {
      std::lock_guard<std::mutex> lock(engine_mu_);
      priority = engine_->Priority(wire.header.iteration(), wire.header.shard(), wire.header.chunk());
    }
    const char* phase = wire.header.kind() == v1::CHUNK_BROADCAST ? "broadcast" : "reduce";
    wire.header.mutable_route()->erase(wire.header.mutable_route()->begin());
    if (!link->second->Send(std::move(wire), config_.timeout, priority)) {
      Count(phase, "dropped");
      return absl::ResourceExhaustedError(absl::StrCat("peer '", hop, "' did not take a relayed chunk in time"));
    }
    Count(phase, "relayed");
    return absl::OkStatus();
  }

  // A decoded chunk into the engine, counted by outcome.
  absl::Status Accept(const Envelope& e) {
    const char* phase = PhaseName(e.kind);
    absl::Status s;
    if (e.kind == ChunkKind::kLocal) {
      s = Engine(
          [&](Aggregator& a) { return a.OnLocal(e.iteration, e.chunk, e.sender, e.data, e.contributors, e.layout); });
    } else {
      s = Engine([&](Aggregator& a) { return a.OnPeer(e); });  // routed chunks never get here: see Relay
    }
    Count(phase, Outcome(s));
    if (!s.ok()) LogRefusal(e.iteration, e.chunk, e.sender, s);
    if (IsLayoutMismatch(s)) Abandon(e.iteration, s);  // it can never be summed: fail it now, with the reason
    return s;
  }

  // ---- Rollout (gateways with a controller) ----

  // Connects to the controller and waits for the first Current: the committed
  // policies, oldest first.
  absl::StatusOr<std::vector<Activation>> ConnectController(const std::shared_ptr<grpc::ChannelCredentials>& creds) {
    ControlLink::Callbacks callbacks;
    callbacks.hello = [this] {
      v1::Hello h;
      h.set_job(config_.job);
      h.set_data_center(config_.data_center);
      std::lock_guard<std::mutex> lock(control_mu_);
      h.set_iteration(switch_.highest());
      return h;
    };
    callbacks.on_update = [this](const v1::PolicyUpdate& u) { OnControlUpdate(u); };
    callbacks.progress = [this] { return MakeProgress(); };
    control_ = std::make_unique<ControlLink>(config_.controller, creds, std::move(callbacks));
    const auto wait = std::max<std::chrono::milliseconds>(config_.timeout, std::chrono::seconds(30));
    std::unique_lock<std::mutex> lock(control_mu_);
    const bool got = control_cv_.wait_for(
        lock, wait, [&] { return !early_updates_.empty() && early_updates_.front().has_current(); });
    if (!got) {
      return absl::UnavailableError(
          absl::StrCat("--controller ", config_.controller, ": no policy within ", wait.count() / 1000, " s"));
    }
    std::optional<Activation> pending;
    std::vector<Activation> committed = ActivationsOf(early_updates_.front().current(), &pending);
    if (committed.empty()) return absl::InvalidArgumentError("the controller sent no usable committed policy");
    return committed;
  }

  void OnControlUpdate(const v1::PolicyUpdate& u) {
    {
      std::lock_guard<std::mutex> lock(control_mu_);
      if (!engine_ready_) {  // kept for Init, in order
        early_updates_.push_back(u);
        control_cv_.notify_all();
        return;
      }
    }
    Apply(u);
  }

  void Apply(const v1::PolicyUpdate& u) {
    std::optional<v1::PrepareAck> ack;
    {
      std::lock_guard<std::mutex> lock(control_mu_);
      switch (u.update_case()) {
        case v1::PolicyUpdate::kCurrent: {
          std::optional<Activation> pending;
          const std::vector<Activation> committed = ActivationsOf(u.current(), &pending);
          for (Activation& a : switch_.Settle(committed, pending, LatestVersion())) Activate(std::move(a));
          if (pending) ack = Prepare(*std::move(pending));
          break;
        }
        case v1::PolicyUpdate::kPrepare: {
          absl::StatusOr<core::Policy> p = core::FromProto(u.prepare().policy());
          if (p.ok()) {
            ack = Prepare({*std::move(p), u.prepare().activate_at()});
          } else {
            ack.emplace();
            ack->set_version(u.prepare().policy().version());
            ack->set_error(absl::StrCat("policy does not decode: ", p.status().message()));
          }
          break;
        }
        case v1::PolicyUpdate::kCommit: {
          absl::StatusOr<Activation> a = switch_.Commit(u.commit().version());
          if (a.ok()) {
            Activate(*std::move(a));
          } else {
            spdlog::error("{}: {}", config_.data_center, std::string(a.status().message()));
          }
          break;
        }
        case v1::PolicyUpdate::kAbort:
          spdlog::warn("{}: policy v{} aborted: {}", config_.data_center, u.abort().version(), u.abort().reason());
          switch_.Abort(u.abort().version());
          break;
        default:
          break;
      }
      control_cv_.notify_all();
    }
    if (u.has_probe()) SendProbes({u.probe().peers().begin(), u.probe().peers().end()});
    if (ack && !config_.ignore_prepare) {
      v1::Progress p = MakeProgress();
      *p.mutable_ack() = *ack;
      control_->Report(std::move(p));
    }
    ReleaseHeld();
  }

  // Under control_mu_.
  v1::PrepareAck Prepare(Activation next) {
    v1::PrepareAck ack;
    ack.set_version(next.policy.version);
    const core::Policy& now = config_.policy;
    absl::Status s;
    if (next.policy.data_centers != now.data_centers || next.policy.model_bytes != now.model_bytes ||
        next.policy.chunk_bytes != now.chunk_bytes) {
      s = absl::InvalidArgumentError("the policy has other DCs, model size or chunk size than this job");
    } else if (const std::string dc = UnreachablePeer(next.policy, config_.data_center, config_.peers); !dc.empty()) {
      s = absl::FailedPreconditionError(absl::StrCat("no address for '", dc, "', which the policy sends to"));
    } else {
      s = switch_.Prepare(std::move(next), LatestVersion());
    }
    ack.set_ok(s.ok());
    if (!s.ok()) {
      ack.set_error(std::string(s.message()));
      spdlog::warn("{}: refusing policy v{}: {}", config_.data_center, ack.version(), ack.error());
    }
    return ack;
  }

  // Under control_mu_.
  void Activate(Activation a) {
    const uint64_t v = a.policy.version;
    const uint64_t from = a.activate_at;
    std::lock_guard<std::mutex> lock(engine_mu_);
    if (absl::Status s = engine_->SetPolicy(std::move(a.policy), from); !s.ok()) {
      spdlog::error("{}: cannot activate policy v{}: {}", config_.data_center, v, std::string(s.message()));
      return;
    }
    spdlog::info("{}: policy v{} committed, from iteration {}", config_.data_center, v, from);
  }

  uint64_t LatestVersion() {
    std::lock_guard<std::mutex> lock(engine_mu_);
    return engine_->latest_version();
  }

  // Waits until iteration t may start here: not held by a prepared policy.
  absl::Status AdmitIteration(uint64_t t, Clock::time_point deadline) {
    if (!control_) return absl::OkStatus();  // policies from a file never change
    std::unique_lock<std::mutex> lock(control_mu_);
    if (control_cv_.wait_until(lock, deadline, [&] { return switch_.Admit(t); })) return absl::OkStatus();
    return absl::DeadlineExceededError(absl::StrCat("iteration ", t,
                                                    " waited for the controller to commit or abort policy v",
                                                    switch_.prepared_version().value_or(0)));
  }

  // Feeds the chunks of iterations no longer held to the engine.
  void ReleaseHeld() {
    std::vector<Envelope> ready;
    {
      std::lock_guard<std::mutex> lock(control_mu_);
      for (auto it = held_.begin(); it != held_.end();) {
        if (switch_.Admit(it->iteration)) {
          held_bytes_ -= static_cast<int64_t>(it->data->size() * sizeof(float));
          ready.push_back(std::move(*it));
          it = held_.erase(it);
        } else {
          ++it;
        }
      }
      control_cv_.notify_all();
    }
    for (const Envelope& e : ready) Accept(e).IgnoreError();  // counted there
  }

  v1::Progress MakeProgress() {
    v1::Progress p;
    p.set_job(config_.job);
    p.set_data_center(config_.data_center);
    {
      std::lock_guard<std::mutex> lock(control_mu_);
      p.set_iteration(switch_.highest());
    }
    if (!engine_ready_) return p;  // Init is still building the engine and the peer links
    {
      std::lock_guard<std::mutex> lock(engine_mu_);
      p.set_policy_version(engine_->PolicyFor(p.iteration()).version);
    }
    p.set_iteration_seconds(last_iteration_seconds_);
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

  // A few chunks of filler on each named link, behind any real traffic.
  void SendProbes(const std::vector<std::string>& peers) {
    for (const std::string& peer : peers) {
      auto it = links_.find(peer);
      if (it == links_.end()) continue;
      auto zeros = std::make_shared<Floats>(static_cast<size_t>(config_.policy.BytesOf(0, 1) / 4), 0.0f);
      for (int i = 0; i < 4; ++i) {
        Envelope e{ChunkKind::kProbe, 0, 0, 0, 0, 1, config_.data_center, {}, zeros};
        WireChunk wire = EncodeChunk(config_.job, config_.policy.chunk_bytes, e);
        if (!it->second->Send(std::move(wire), std::chrono::milliseconds(10), /*priority=*/1e9)) break;
        Count("probe", "sent");
      }
    }
  }

  // Runs one engine call under the lock, then sends what it produced.
  absl::Status Engine(const std::function<absl::Status(Aggregator&)>& call) {
    std::vector<Outgoing> out;
    std::vector<Result> results;
    absl::Status s;
    {
      std::lock_guard<std::mutex> lock(engine_mu_);
      s = call(*engine_);
      out = engine_->TakeOutgoing();
      results = engine_->TakeResults();
    }
    for (Result& r : results) board_->Publish(std::move(r));
    for (Outgoing& o : out) SendToPeer(o);
    return s;
  }

  void SendToPeer(const Outgoing& o) {
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
    if (!it->second->Send(EncodeChunk(config_.job, config_.policy.chunk_bytes, o.chunk), config_.timeout, o.priority)) {
      Count(PhaseName(o.chunk.kind), "dropped");
      spdlog::warn("{}: peer '{}' did not take chunk {} of iteration {} in time", config_.data_center, o.peer,
                   o.chunk.chunk, o.chunk.iteration);
    }
  }

  // Earliest expected finish: queued bytes plus this chunk over the measured rate.
  size_t EarliestFinish(const std::vector<std::vector<std::string>>& paths, int64_t bytes) {
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

  void OnMemberResult(const WireChunk& wire) {
    absl::StatusOr<Envelope> e = DecodeChunk(limits_, wire);
    if (!e.ok() || e->kind != ChunkKind::kResult) {
      Count("result", e.ok() ? "rejected" : Outcome(e.status()));
      return;
    }
    Count("result", "accepted");
    board_->Publish({e->iteration, e->chunk, e->contributors, e->data});
  }

  void Abandon(uint64_t t, const absl::Status& why) {
    spdlog::error("{}: iteration {} failed: {}", config_.data_center, t, std::string(why.message()));
    {
      std::lock_guard<std::mutex> lock(error_mu_);
      last_error_ = absl::StrCat("iteration ", t, ": ", why.message());
    }
    board_->Fail(t, std::string(std::string(why.message())));
    if (engine_) {
      std::lock_guard<std::mutex> lock(engine_mu_);
      engine_->Abandon(t + 1);
    }
  }

  void Count(const char* phase, const std::string& outcome) {
    if (metrics_) metrics_->CountChunk(phase, outcome);
  }

  void LogRefusal(uint64_t iteration, int64_t chunk, const std::string& sender, const absl::Status& s) {
    // Rate-limited: the first few, then one in a thousand.
    const int64_t n = refusals_++;
    if (n < 20 || n % 1000 == 0) {
      spdlog::warn("{}: refused chunk {} of iteration {} from '{}': {} ({} refused so far)", config_.data_center, chunk,
                   iteration, sender, std::string(s.message()), n + 1);
    }
  }

  void ExportLinks() {
    while (!stopping_) {
      if (metrics_) {
        for (const auto& [dc, link] : links_) metrics_->UpdateLink(dc, link->meter());
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(200));
    }
  }

  SidecarConfig config_;
  WireLimits limits_;
  std::unique_ptr<ResultBoard> board_;
  std::unique_ptr<SidecarMetrics> metrics_;
  std::mutex engine_mu_;
  std::unique_ptr<Aggregator> engine_;
  std::map<std::string, std::unique_ptr<PeerLink>> links_;
  std::unique_ptr<MemberLink> member_;
  // Rollout: the switch, chunks of held iterations, and updates that came before
  // the engine was built.
  std::mutex control_mu_;
  std::condition_variable control_cv_;
  PolicySwitch switch_;
  std::vector<Envelope> held_;
  int64_t held_bytes_ = 0;
  std::atomic<bool> engine_ready_{false};
  std::vector<v1::PolicyUpdate> early_updates_;
  std::unique_ptr<ControlLink> control_;
  std::atomic<double> last_iteration_seconds_{0};
  uint64_t exported_version_ = 0;  // under engine_mu_
  std::mutex error_mu_;
  std::string last_error_;
  std::unique_ptr<grpc::Server> server_;
  int data_port_ = 0;
  std::atomic<int64_t> next_session_{0};
  std::atomic<int64_t> refusals_{0};
  std::atomic<bool> stopping_{false};
  std::thread metrics_thread_;
};

}  // namespace

absl::StatusOr<std::unique_ptr<Sidecar>> Sidecar::Start(SidecarConfig config) {
  const core::Policy& p = config.policy;
  if (config.data_center.empty()) return absl::InvalidArgumentError("--dc: the DC name is required");
  if (!config.controller.empty()) {
    // The policy comes from the controller; Init checks it.
    if (!config.gateway.empty())
      return absl::InvalidArgumentError("--controller: only gateways talk to the controller");
  } else {
    if (std::find(p.data_centers.begin(), p.data_centers.end(), config.data_center) == p.data_centers.end()) {
      return absl::InvalidArgumentError(absl::StrCat("--dc: '", config.data_center, "' is not a DC of the policy"));
    }
    if (p.model_bytes % 4 != 0 || p.chunk_bytes % 4 != 0) {
      return absl::InvalidArgumentError("policy: model and chunk sizes must be whole float32 values (multiples of 4)");
    }
    if (config.gateway.empty()) {
      if (const std::string dc = UnreachablePeer(p, config.data_center, config.peers); !dc.empty()) {
        return absl::InvalidArgumentError(absl::StrCat("--peer: no address for '", dc, "', which the policy sends to"));
      }
    }
  }
  auto sidecar = std::make_unique<SidecarImpl>(std::move(config));
  if (absl::Status s = sidecar->Init(); !s.ok()) return s;
  return sidecar;
}

}  // namespace geostorm::sidecar
