#include "client/client.h"

#include <grpcpp/grpcpp.h>

#include <algorithm>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <mutex>
#include <thread>

#include "absl/strings/str_cat.h"
#include "core/status_macros.h"
#include "geostorm/v1/worker.grpc.pb.h"
#include "wire/services.h"

namespace geostorm {

struct Client::Impl {
  std::unique_ptr<v1::Worker::Stub> stub;    // Describe
  std::unique_ptr<wire::WorkerStub> frames;  // AllReduce, payloads not copied by protobuf
  v1::JobInfo info;
};

Client::Client(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Client::Client(Client&&) noexcept = default;
Client& Client::operator=(Client&&) noexcept = default;
Client::~Client() = default;

absl::StatusOr<Client> Client::Connect(const std::string& address) {
  grpc::ChannelArguments args;
  args.SetMaxReceiveMessageSize(wire::kMaxMessageBytes);
  args.SetMaxSendMessageSize(-1);
  auto impl = std::make_unique<Impl>();
  auto channel = grpc::CreateCustomChannel(address, grpc::InsecureChannelCredentials(), args);
  impl->stub = v1::Worker::NewStub(channel);
  impl->frames = std::make_unique<wire::WorkerStub>(channel);
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
  context.set_wait_for_ready(true);
  const grpc::Status s = impl->stub->Describe(&context, v1::DescribeRequest(), &impl->info);
  if (!s.ok()) return absl::UnavailableError(absl::StrCat("sidecar at ", address, ": ", s.error_message()));
  return Client(std::move(impl));
}

int64_t Client::model_floats() const { return impl_->info.model_bytes() / 4; }
int64_t Client::chunk_floats() const { return impl_->info.chunk_bytes() / 4; }
int Client::total_workers() const { return impl_->info.total_workers(); }
const std::string& Client::data_center() const { return impl_->info.data_center(); }
const std::string& Client::sync_mode() const { return impl_->info.sync_mode(); }

absl::StatusOr<int> Client::LocalSteps(double step_seconds) {
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
  v1::DescribeRequest request;
  request.set_step_seconds(step_seconds);
  v1::JobInfo info;
  const grpc::Status s = impl_->stub->Describe(&context, request, &info);
  if (!s.ok()) return absl::UnavailableError(absl::StrCat("sidecar: ", s.error_message()));
  return std::max(1, info.local_steps());
}

absl::Status Client::AllReduceStreaming(uint64_t iteration, absl::Span<const float> gradient,
                                        const ChunkCallback& on_chunk) {
  return Stream(iteration, gradient, 0, on_chunk);
}

namespace {

// One AllReduce call: a writer thread sends each chunk once all its values are
// marked ready; the caller's thread reads the result chunks in Wait().
class SessionImpl final : public Client::Session {
 public:
  SessionImpl(wire::WorkerStub& stub, uint64_t iteration, absl::Span<const float> gradient, uint64_t layout,
              int64_t chunk_floats, Client::ChunkCallback on_chunk)
      : iteration_(iteration),
        gradient_(gradient),
        layout_(layout),
        step_(chunk_floats),
        chunks_((static_cast<int64_t>(gradient.size()) + chunk_floats - 1) / chunk_floats),
        on_chunk_(std::move(on_chunk)),
        ready_(static_cast<size_t>(chunks_), 0),
        sent_(static_cast<size_t>(chunks_), false),
        stream_(stub.AllReduce(&context_)) {
    writer_ = std::thread([this] { Write(); });
  }
  ~SessionImpl() override {
    if (writer_.joinable()) Stop(/*cancel=*/true);
  }

  void Ready(int64_t first, int64_t count) override {
    std::lock_guard<std::mutex> lock(mu_);
    const int64_t end = std::min<int64_t>(first + count, static_cast<int64_t>(gradient_.size()));
    for (int64_t k = std::max<int64_t>(first, 0) / step_; k < chunks_ && k * step_ < end; ++k) {
      const int64_t lo = std::max(first, k * step_), hi = std::min(end, (k + 1) * step_);
      ready_[k] += hi - lo;
      if (ready_[k] == Size(k)) queue_.push_back(k);
    }
    changed_.notify_all();
  }

  absl::StatusOr<int> Finish(absl::Span<float> out) override {
    std::vector<float> sum(gradient_.size());
    int contributors = 0;
    on_chunk_ = [&](int64_t first, absl::Span<const float> v, int c) {
      std::memcpy(sum.data() + first, v.data(), v.size() * sizeof(float));
      contributors = c;
    };
    RETURN_IF_ERROR(Wait());
    if (out.size() != sum.size()) {
      return absl::InvalidArgumentError(absl::StrCat("out has ", out.size(), " values; the sum has ", sum.size()));
    }
    std::memcpy(out.data(), sum.data(), sum.size() * sizeof(float));
    return contributors;
  }

  // Reads every result chunk into on_chunk_, then ends the call.
  absl::Status Wait() {
    if (const int64_t k = FirstUnready(); k >= 0) {
      Stop(/*cancel=*/true);
      return absl::FailedPreconditionError(absl::StrCat("iteration ", iteration_, ": chunk ", k,
                                                        " was never marked ready (values ", k * step_, " to ",
                                                        k * step_ + Size(k) - 1, ")"));
    }
    wire::ResultFrame result;
    int64_t received = 0;
    std::string error;
    while (received < chunks_ && stream_->Read(&result)) {
      const v1::ResultChunk& r = result.header;
      if (!r.error().empty()) {
        error = r.error();
        break;
      }
      const int64_t want = r.chunk() < 0 || r.chunk() >= chunks_ ? -1 : Size(r.chunk());
      if (result.bytes() != want * static_cast<int64_t>(sizeof(float))) {
        error = absl::StrCat("the sidecar sent result chunk ", r.chunk(), " with ", result.bytes(), " bytes, expected ",
                             std::max<int64_t>(want, 0) * 4);
        break;
      }
      if (!Sent(r.chunk())) {
        error = absl::StrCat("the sidecar sent result chunk ", r.chunk(), " before this worker sent the chunk");
        break;
      }
      const wire::Payload values = wire::PayloadOf(result);
      on_chunk_(r.chunk() * step_, absl::MakeConstSpan(values->data(), values->size()), r.contributors());
      ++received;
    }
    if (!error.empty() || received == chunks_) {
      Stop(/*cancel=*/true);  // done with it: the writer may still be blocked
      if (!error.empty()) return absl::AbortedError(absl::StrCat("iteration ", iteration_, ": ", error));
      return absl::OkStatus();
    }
    // The sidecar ended the call early: its final status says why (writes fail now).
    Stop(/*cancel=*/false);
    const grpc::Status final_status = stream_->Finish();
    return absl::UnavailableError(
        absl::StrCat("iteration ", iteration_, ": the sidecar closed the stream after ", received, " of ", chunks_,
                     " result chunks: ", final_status.ok() ? "with no error" : final_status.error_message()));
  }

 private:
  int64_t Size(int64_t k) const { return std::min(step_, static_cast<int64_t>(gradient_.size()) - k * step_); }

  // Whether chunk k has left: its values were copied out of the gradient, which
  // on_chunk_ may then overwrite with the sum. (Under the lock the writer took after
  // copying: ordered for TSan too, which cannot see the sum come back through the
  // sidecars.)
  bool Sent(int64_t k) {
    std::lock_guard<std::mutex> lock(mu_);
    return sent_[k];
  }

  int64_t FirstUnready() {
    std::lock_guard<std::mutex> lock(mu_);
    for (int64_t k = 0; k < chunks_; ++k) {
      if (ready_[k] != Size(k)) return k;
    }
    return -1;
  }

  void Write() {
    wire::GradientFrame chunk;
    chunk.header.set_iteration(iteration_);
    chunk.header.set_layout(layout_);
    for (int64_t sent = 0; sent < chunks_; ++sent) {
      int64_t k = 0;
      {
        std::unique_lock<std::mutex> lock(mu_);
        changed_.wait(lock, [&] { return stopping_ || !queue_.empty(); });
        if (stopping_) return;
        k = queue_.front();
        queue_.pop_front();
      }
      const auto values = gradient_.subspan(static_cast<size_t>(k * step_), static_cast<size_t>(Size(k)));
      chunk.header.set_chunk(k);
      chunk.set_payload(std::make_shared<wire::Floats>(values.begin(), values.end()));  // sent from here, not copied
      {
        std::lock_guard<std::mutex> lock(mu_);
        sent_[k] = true;
      }
      if (!stream_->Write(chunk)) return;
    }
    stream_->WritesDone();
  }

  // Ends the writer; `cancel` also ends the call (not when its final status is wanted).
  void Stop(bool cancel) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      stopping_ = true;
    }
    changed_.notify_all();
    if (cancel) context_.TryCancel();
    if (writer_.joinable()) writer_.join();
    if (cancel && !finished_) {
      finished_ = true;
      stream_->Finish().IgnoreError();  // cancelled by us
    }
  }

  const uint64_t iteration_;
  const absl::Span<const float> gradient_;
  const uint64_t layout_;
  const int64_t step_, chunks_;
  Client::ChunkCallback on_chunk_;
  std::mutex mu_;
  std::condition_variable changed_;
  std::vector<int64_t> ready_;  // values marked ready, per chunk
  std::deque<int64_t> queue_;   // chunks ready and not yet sent
  std::vector<bool> sent_;      // chunks whose values were copied out to send
  bool stopping_ = false;
  bool finished_ = false;
  grpc::ClientContext context_;
  std::unique_ptr<grpc::ClientReaderWriter<wire::GradientFrame, wire::ResultFrame>> stream_;
  std::thread writer_;
};

}  // namespace

absl::StatusOr<std::unique_ptr<Client::Session>> Client::Begin(uint64_t iteration, absl::Span<const float> gradient,
                                                               uint64_t layout) {
  if (static_cast<int64_t>(gradient.size()) != model_floats()) {
    return absl::InvalidArgumentError(
        absl::StrCat("gradient has ", gradient.size(), " values; the job's model has ", model_floats()));
  }
  return std::unique_ptr<Session>(
      new SessionImpl(*impl_->frames, iteration, gradient, layout, chunk_floats(), nullptr));
}

absl::Status Client::Stream(uint64_t iteration, absl::Span<const float> gradient, uint64_t layout,
                            const ChunkCallback& on_chunk) {
  if (static_cast<int64_t>(gradient.size()) != model_floats()) {
    return absl::InvalidArgumentError(
        absl::StrCat("gradient has ", gradient.size(), " values; the job's model has ", model_floats()));
  }
  SessionImpl session(*impl_->frames, iteration, gradient, layout, chunk_floats(), on_chunk);
  session.Ready(0, static_cast<int64_t>(gradient.size()));
  return session.Wait();
}

absl::StatusOr<int> Client::AllReduce(uint64_t iteration, absl::Span<const Tensor> tensors) {
  std::vector<const Tensor*> by_name;
  for (const Tensor& t : tensors) by_name.push_back(&t);
  std::sort(by_name.begin(), by_name.end(), [](const Tensor* a, const Tensor* b) { return a->name < b->name; });
  // FNV-1a over every name and size, in layout order; 0 is kept for a flat gradient.
  uint64_t layout = 0xcbf29ce484222325ull;
  auto mix = [&](const void* p, size_t n) {
    for (size_t i = 0; i < n; ++i) layout = (layout ^ static_cast<const unsigned char*>(p)[i]) * 0x100000001b3ull;
  };
  int64_t floats = 0;
  for (size_t i = 0; i < by_name.size(); ++i) {
    const Tensor& t = *by_name[i];
    if (t.name.empty()) return absl::InvalidArgumentError("a tensor has no name");
    if (i > 0 && by_name[i - 1]->name == t.name) {
      return absl::InvalidArgumentError(absl::StrCat("tensor '", t.name, "' is given twice"));
    }
    const uint64_t size = t.values.size();
    mix(t.name.data(), t.name.size() + 1);  // with its terminating NUL
    mix(&size, sizeof size);
    floats += static_cast<int64_t>(size);
  }
  if (floats != model_floats()) {
    return absl::InvalidArgumentError(
        absl::StrCat("the tensors have ", floats, " values in all; the job's model has ", model_floats()));
  }
  if (layout == 0) layout = 1;
  std::vector<float> flat;
  flat.reserve(static_cast<size_t>(floats));
  for (const Tensor* t : by_name) flat.insert(flat.end(), t->values.begin(), t->values.end());
  int contributors = 0;
  absl::Status s = Stream(iteration, flat, layout, [&](int64_t first, absl::Span<const float> v, int c) {
    std::copy(v.begin(), v.end(), flat.begin() + first);
    contributors = c;
  });
  if (!s.ok()) return s;
  auto next = flat.begin();
  for (const Tensor* t : by_name) {
    std::copy(next, next + static_cast<std::ptrdiff_t>(t->values.size()), t->values.begin());
    next += static_cast<std::ptrdiff_t>(t->values.size());
  }
  return contributors;
}

absl::StatusOr<int> Client::AllReduce(uint64_t iteration, absl::Span<float> gradient) {
  int contributors = 0;
  std::vector<float> sum(gradient.size());
  absl::Status s = AllReduceStreaming(iteration, gradient, [&](int64_t first, absl::Span<const float> v, int c) {
    std::memcpy(sum.data() + first, v.data(), v.size() * sizeof(float));
    contributors = c;
  });
  if (!s.ok()) return s;
  std::memcpy(gradient.data(), sum.data(), sum.size() * sizeof(float));
  return contributors;
}

}  // namespace geostorm
