// The worker library against an in-process sidecar that misbehaves: the reason a
// sidecar gives for ending an iteration early must reach the worker.
#include "client/client.h"

#include <gtest/gtest.h>

#include <memory>

#include <grpcpp/grpcpp.h>

#include "wire/services.h"

namespace geostorm {
namespace {

// A sidecar of a 4-chunk model that answers `results` chunks of each iteration,
// then ends the call with `status`.
class ShortSidecar final : public wire::WorkerService {
 public:
  ShortSidecar(int results, grpc::Status status) : results_(results), status_(std::move(status)) {}

  grpc::Status Describe(grpc::ServerContext*, const v1::DescribeRequest*, v1::JobInfo* info) override {
    info->set_job("job");
    info->set_data_center("a");
    info->set_model_bytes(4 * 1024);
    info->set_chunk_bytes(1024);
    info->set_total_workers(1);
    return grpc::Status::OK;
  }
  grpc::Status AllReduce(grpc::ServerContext*,
                         grpc::ServerReaderWriter<wire::ResultFrame, wire::GradientFrame>* stream) override {
    wire::GradientFrame chunk;
    for (int k = 0; k < results_ && stream->Read(&chunk); ++k) {
      wire::ResultFrame out;
      out.header.set_iteration(chunk.header.iteration());
      out.header.set_chunk(chunk.header.chunk());
      out.header.set_contributors(1);
      out.set_payload(wire::PayloadOf(chunk));
      stream->Write(out);
    }
    return status_;
  }

 private:
  const int results_;
  const grpc::Status status_;
};

class ClientTest : public ::testing::Test {
 protected:
  // The sidecar outlives the server, whose calls may still be running in TearDown.
  void Serve(int results, grpc::Status status) {
    sidecar_ = std::make_unique<ShortSidecar>(results, std::move(status));
    grpc::ServerBuilder builder;
    builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port_);
    builder.RegisterService(sidecar_.get());
    server_ = builder.BuildAndStart();
    ASSERT_NE(port_, 0);
  }
  void TearDown() override {
    if (server_) server_->Shutdown();
  }
  std::string address() const { return "127.0.0.1:" + std::to_string(port_); }

  int port_ = 0;
  std::unique_ptr<ShortSidecar> sidecar_;
  std::unique_ptr<grpc::Server> server_;
};

TEST_F(ClientTest, ASidecarEndingTheCallEarlyGivesItsReason) {
  Serve(1, grpc::Status(grpc::StatusCode::RESOURCE_EXHAUSTED, "no chunk buffers left for iteration 0"));
  absl::StatusOr<Client> client = Client::Connect(address());
  ASSERT_TRUE(client.ok()) << client.status();
  std::vector<float> gradient(client->model_floats(), 1.0f);
  const std::vector<float> before = gradient;
  absl::StatusOr<int> sum = client->AllReduce(0, absl::MakeSpan(gradient));
  ASSERT_FALSE(sum.ok());
  EXPECT_NE(sum.status().message().find("after 1 of 4 result chunks"), std::string::npos) << sum.status();
  EXPECT_NE(sum.status().message().find("no chunk buffers left for iteration 0"), std::string::npos) << sum.status();
  EXPECT_EQ(gradient, before);  // a failed iteration leaves the gradient alone
}

TEST_F(ClientTest, AWholeResultIsASum) {
  Serve(4, grpc::Status::OK);
  absl::StatusOr<Client> client = Client::Connect(address());
  ASSERT_TRUE(client.ok()) << client.status();
  std::vector<float> gradient(client->model_floats(), 2.0f);
  absl::StatusOr<int> contributors = client->AllReduce(0, absl::MakeSpan(gradient));
  ASSERT_TRUE(contributors.ok()) << contributors.status();
  EXPECT_EQ(*contributors, 1);
}

TEST_F(ClientTest, ASessionSendsChunksAsTheirValuesBecomeReadyInAnyOrder) {
  Serve(4, grpc::Status::OK);  // echoes each chunk it gets, as its sum
  absl::StatusOr<Client> client = Client::Connect(address());
  ASSERT_TRUE(client.ok()) << client.status();
  std::vector<float> gradient(client->model_floats());
  absl::StatusOr<std::unique_ptr<Client::Session>> session = client->Begin(7, gradient);
  ASSERT_TRUE(session.ok()) << session.status();
  // A backward pass: the last values first, in pieces that straddle chunk borders.
  const int64_t n = client->model_floats();
  for (int64_t end = n; end > 0;) {
    const int64_t first = std::max<int64_t>(0, end - 100);
    for (int64_t i = first; i < end; ++i) gradient[i] = static_cast<float>(i);
    (*session)->Ready(first, end - first);
    end = first;
  }
  std::vector<float> out(n, -1.0f);
  absl::StatusOr<int> contributors = (*session)->Finish(absl::MakeSpan(out));
  ASSERT_TRUE(contributors.ok()) << contributors.status();
  for (int64_t i = 0; i < n; ++i) ASSERT_EQ(out[i], static_cast<float>(i)) << i;
}

TEST_F(ClientTest, FinishingASessionWithValuesNeverMarkedReadySaysWhich) {
  Serve(4, grpc::Status::OK);
  absl::StatusOr<Client> client = Client::Connect(address());
  ASSERT_TRUE(client.ok()) << client.status();
  std::vector<float> gradient(client->model_floats(), 1.0f);
  absl::StatusOr<std::unique_ptr<Client::Session>> session = client->Begin(0, gradient);
  ASSERT_TRUE(session.ok());
  (*session)->Ready(0, 2 * client->chunk_floats());  // chunks 0 and 1 only
  std::vector<float> out(gradient.size(), -1.0f);
  absl::StatusOr<int> contributors = (*session)->Finish(absl::MakeSpan(out));
  ASSERT_FALSE(contributors.ok());
  EXPECT_NE(contributors.status().message().find("chunk 2 was never marked ready"), std::string::npos)
      << contributors.status();
  EXPECT_EQ(out[0], -1.0f);  // untouched
}

}  // namespace
}  // namespace geostorm
