// The member link against an in-process gateway stream: its queue is bounded in
// bytes (Send blocks, then refuses), and what it took arrives in order, once.
#include "sidecar/transport/member_link.h"

#include <gtest/gtest.h>

#include <atomic>
#include <condition_variable>

#include "wire/services.h"

namespace geostorm::sidecar {
namespace {

using std::chrono::milliseconds;

// A gateway whose Join handler reads nothing until released, then records the
// chunks and answers each with a RESULT of the same index.
class StalledGateway final : public wire::DataPlaneService {
 public:
  grpc::Status Exchange(grpc::ServerContext*, grpc::ServerReaderWriter<v1::Ack, wire::WireChunk>*) override {
    return grpc::Status(grpc::StatusCode::UNIMPLEMENTED, "");
  }
  grpc::Status Join(grpc::ServerContext*, grpc::ServerReaderWriter<wire::WireChunk, wire::WireChunk>* stream) override {
    {
      std::unique_lock<std::mutex> lock(mu_);
      released_cv_.wait(lock, [&] { return released_; });
    }
    wire::WireChunk chunk;
    while (stream->Read(&chunk)) {
      received_.push_back(chunk.header.chunk());
      wire::WireChunk result;
      result.header.set_chunk(chunk.header.chunk());
      if (!stream->Write(result)) break;
    }
    return grpc::Status::OK;
  }
  void Release() {
    std::lock_guard<std::mutex> lock(mu_);
    released_ = true;
    released_cv_.notify_all();
  }
  std::vector<int64_t> received_;  // read by the test after the stream ended

 private:
  std::mutex mu_;
  std::condition_variable released_cv_;
  bool released_ = false;
};

TEST(MemberLink, BlocksThenRefusesWhenTheGatewayStallsAndLosesNothingItTook) {
  StalledGateway gateway;
  grpc::ServerBuilder builder;
  int port = 0;
  builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port);
  builder.RegisterService(&gateway);
  std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
  ASSERT_NE(port, 0);

  constexpr int64_t kChunkBytes = 256 << 10;
  constexpr int64_t kBound = 1 << 20;
  std::mutex mu;
  std::condition_variable results_cv;
  std::vector<int64_t> results;
  auto link = std::make_unique<MemberLink>("127.0.0.1:" + std::to_string(port), grpc::InsecureChannelCredentials(),
                                           kBound, [&](const wire::WireChunk& c) {
                                             std::lock_guard<std::mutex> lock(mu);
                                             results.push_back(c.header.chunk());
                                             results_cv.notify_all();
                                           });
  // Offer far more than the bound and the transport's buffers hold: Send must
  // start refusing, and the queue never holds more than the bound.
  int64_t taken = 0;
  bool refused = false;
  for (int64_t k = 0; k < 512 && !refused; ++k) {
    wire::WireChunk chunk;
    chunk.header.set_chunk(k);
    chunk.set_payload(std::make_shared<wire::Floats>(kChunkBytes / 4, 1.0f));
    if (link->Send(std::move(chunk), milliseconds(200))) {
      ++taken;
      EXPECT_LE(link->queued_bytes(), kBound);
    } else {
      refused = true;
    }
  }
  ASSERT_TRUE(refused) << "the queue took " << taken << " chunks of 256 KiB without backpressure";

  gateway.Release();
  {
    std::unique_lock<std::mutex> lock(mu);
    ASSERT_TRUE(results_cv.wait_for(lock, std::chrono::seconds(30),
                                    [&] { return static_cast<int64_t>(results.size()) == taken; }))
        << results.size() << " of " << taken << " results came back";
    for (int64_t k = 0; k < taken; ++k) EXPECT_EQ(results[k], k);  // in order, each once
  }
  EXPECT_EQ(link->queued_bytes(), 0);
  link.reset();
  server->Shutdown();
  EXPECT_EQ(static_cast<int64_t>(gateway.received_.size()), taken);
}

}  // namespace
}  // namespace geostorm::sidecar
