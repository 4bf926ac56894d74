#include "client/client.h"

#include <grpcpp/grpcpp.h>

#include <algorithm>
#include <cstring>
#include <thread>

#include "absl/strings/str_cat.h"
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
  args.SetMaxReceiveMessageSize(-1);
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

absl::Status Client::AllReduceStreaming(uint64_t iteration, absl::Span<const float> gradient,
                                        const ChunkCallback& on_chunk) {
  return Stream(iteration, gradient, 0, on_chunk);
}

absl::Status Client::Stream(uint64_t iteration, absl::Span<const float> gradient, uint64_t layout,
                            const ChunkCallback& on_chunk) {
  if (static_cast<int64_t>(gradient.size()) != model_floats()) {
    return absl::InvalidArgumentError(
        absl::StrCat("gradient has ", gradient.size(), " values; the job's model has ", model_floats()));
  }
  grpc::ClientContext context;
  auto stream = impl_->frames->AllReduce(&context);
  const int64_t step = chunk_floats();
  const int64_t chunks = (model_floats() + step - 1) / step;
  std::thread writer([&] {
    wire::GradientFrame chunk;
    chunk.header.set_iteration(iteration);
    chunk.header.set_layout(layout);
    for (int64_t k = 0; k < chunks; ++k) {
      const auto values = gradient.subspan(static_cast<size_t>(k * step), static_cast<size_t>(step));
      chunk.header.set_chunk(k);
      chunk.set_payload(std::make_shared<wire::Floats>(values.begin(), values.end()));  // sent from here, not copied
      if (!stream->Write(chunk)) break;
    }
    stream->WritesDone();
  });
  wire::ResultFrame result;
  int64_t received = 0;
  std::string error;
  while (received < chunks && stream->Read(&result)) {
    const v1::ResultChunk& r = result.header;
    if (!r.error().empty()) {
      error = r.error();
      break;
    }
    const int64_t want = r.chunk() < 0 || r.chunk() >= chunks ? -1 : std::min(step, model_floats() - r.chunk() * step);
    if (result.bytes() != want * static_cast<int64_t>(sizeof(float))) {
      error = absl::StrCat("the sidecar sent result chunk ", r.chunk(), " with ", result.bytes(), " bytes, expected ",
                           std::max<int64_t>(want, 0) * 4);
      break;
    }
    const wire::Payload values = wire::PayloadOf(result);
    on_chunk(r.chunk() * step, absl::MakeConstSpan(values->data(), values->size()), r.contributors());
    ++received;
  }
  if (!error.empty() || received == chunks) {
    context.TryCancel();  // done with it: the writer may still be blocked
    writer.join();
    stream->Finish().IgnoreError();  // cancelled by us
    if (!error.empty()) return absl::AbortedError(absl::StrCat("iteration ", iteration, ": ", error));
    return absl::OkStatus();
  }
  // The sidecar ended the call early: its final status says why (writes fail now).
  writer.join();
  const grpc::Status final_status = stream->Finish();
  return absl::UnavailableError(
      absl::StrCat("iteration ", iteration, ": the sidecar closed the stream after ", received, " of ", chunks,
                   " result chunks: ", final_status.ok() ? "with no error" : final_status.error_message()));
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
