#include "sidecar/control_link.h"

#include <grpcpp/grpcpp.h>
#include <spdlog/spdlog.h>

#include "geostorm/v1/control.grpc.pb.h"
#include "sidecar/transport/peer_link.h"

namespace geostorm::sidecar {

ControlLink::ControlLink(const std::string& address, const std::shared_ptr<grpc::ChannelCredentials>& credentials,
                         Callbacks callbacks, std::chrono::milliseconds period)
    : channel_(grpc::CreateCustomChannel(address, credentials, PeerChannelArguments())),
      callbacks_(std::move(callbacks)),
      period_(period) {
  subscriber_ = std::thread([this] { SubscribeLoop(); });
  reporter_ = std::thread([this] { ReportLoop(); });
}

ControlLink::~ControlLink() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
    if (subscribe_context_) subscribe_context_->TryCancel();
    if (report_context_) report_context_->TryCancel();
  }
  changed_.notify_all();
  subscriber_.join();
  reporter_.join();
}

void ControlLink::Report(v1::Progress progress) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    queue_.push_back(std::move(progress));
  }
  changed_.notify_all();
}

bool ControlLink::Track(grpc::ClientContext** slot, grpc::ClientContext* context) {
  std::lock_guard<std::mutex> lock(mu_);
  *slot = stopping_ ? nullptr : context;
  return !stopping_;
}

bool ControlLink::Backoff(int attempt) {
  const auto wait = std::chrono::milliseconds(std::min(2000, 50 << std::min(attempt, 6)));
  std::unique_lock<std::mutex> lock(mu_);
  return !changed_.wait_for(lock, wait, [&] { return stopping_; });
}

void ControlLink::SubscribeLoop() {
  v1::Control::Stub stub(channel_);
  for (int attempt = 0;; ++attempt) {
    grpc::ClientContext context;
    context.set_wait_for_ready(true);
    if (!Track(&subscribe_context_, &context)) return;
    auto stream = stub.Subscribe(&context, callbacks_.hello());
    v1::PolicyUpdate update;
    while (stream->Read(&update)) {
      attempt = 0;
      callbacks_.on_update(update);
    }
    const grpc::Status status = stream->Finish();
    if (!Track(&subscribe_context_, nullptr)) return;
    spdlog::warn("controller stream ended ({}); redialling", status.error_message());
    if (!Backoff(attempt)) return;
  }
}

void ControlLink::ReportLoop() {
  v1::Control::Stub stub(channel_);
  for (int attempt = 0;; ++attempt) {
    grpc::ClientContext context;
    context.set_wait_for_ready(true);
    if (!Track(&report_context_, &context)) return;
    v1::ReportReply reply;
    auto stream = stub.Report(&context, &reply);
    bool ok = stream->Write(callbacks_.progress());
    while (ok) {
      v1::Progress next;
      {
        std::unique_lock<std::mutex> lock(mu_);
        const bool woke = changed_.wait_for(lock, period_, [&] { return stopping_ || !queue_.empty(); });
        if (stopping_) break;
        if (woke) {
          next = std::move(queue_.front());
          queue_.pop_front();
        }
      }
      if (next.job().empty()) next = callbacks_.progress();
      ok = stream->Write(next);
      if (ok) attempt = 0;
    }
    context.TryCancel();
    stream->Finish();
    if (!Track(&report_context_, nullptr)) return;
    if (!Backoff(attempt)) return;
  }
}

}  // namespace geostorm::sidecar
