#include "client/client.h"

#include <grpcpp/grpcpp.h>

#include <cstring>
#include <thread>

#include "absl/strings/str_cat.h"
#include "geostorm/v1/worker.grpc.pb.h"

namespace geostorm {

struct Client::Impl {
  std::unique_ptr<v1::Worker::Stub> stub;
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
  impl->stub = v1::Worker::NewStub(grpc::CreateCustomChannel(address, grpc::InsecureChannelCredentials(), args));
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
  if (static_cast<int64_t>(gradient.size()) != model_floats()) {
    return absl::InvalidArgumentError(
        absl::StrCat("gradient has ", gradient.size(), " values; the job's model has ", model_floats()));
  }
  grpc::ClientContext context;
  auto stream = impl_->stub->AllReduce(&context);
  const int64_t step = chunk_floats();
  const int64_t chunks = (model_floats() + step - 1) / step;
  std::thread writer([&] {
    v1::GradientChunk chunk;
    chunk.set_iteration(iteration);
    for (int64_t k = 0; k < chunks; ++k) {
      const int64_t first = k * step;
      const int64_t n = std::min(step, model_floats() - first);
      chunk.set_chunk(k);
      chunk.mutable_payload()->assign(reinterpret_cast<const char*>(gradient.data() + first), n * sizeof(float));
      if (!stream->Write(chunk)) break;
    }
    stream->WritesDone();
  });
  v1::ResultChunk result;
  int64_t received = 0;
  std::string error;
  while (received < chunks && stream->Read(&result)) {
    if (!result.error().empty()) {
      error = result.error();
      break;
    }
    const int64_t first = result.chunk() * step;
    const size_t n = result.payload().size() / sizeof(float);
    std::vector<float> values(n);
    std::memcpy(values.data(), result.payload().data(), n * sizeof(float));
    on_chunk(first, values, result.contributors());
    ++received;
  }
  context.TryCancel();
  writer.join();
  stream->Finish().ok();
  if (!error.empty()) return absl::AbortedError(absl::StrCat("iteration ", iteration, ": ", error));
  if (received < chunks) {
    return absl::UnavailableError(absl::StrCat("iteration ", iteration, ": the sidecar closed the stream after ",
                                               received, " of ", chunks, " result chunks"));
  }
  return absl::OkStatus();
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
