// WorkerServer: the geostorm.v1.Worker service every sidecar serves to its local
// workers (a Unix socket or loopback).
//   - Describe: the job's sizes and world, for the worker library;
//   - AllReduce: one iteration of one worker. Its gradient chunks are checked and
//     handed to the Uplink (the gateway's aggregation, or a member's link to it),
//     and the result chunks go back as they finish. A bad chunk or a failure
//     anywhere ends the call with a frame that carries the reason.
// Thread-safe, as gRPC services are.
#ifndef GEOSTORM_SIDECAR_WORKER_SERVER_H_
#define GEOSTORM_SIDECAR_WORKER_SERVER_H_

#include <atomic>

#include "sidecar/sidecar.h"
#include "wire/services.h"

namespace geostorm::sidecar {

class ResultBoard;
class Uplink;

// The job as a sidecar describes it to its workers, and a gateway to its members.
void DescribeJob(const SidecarConfig& config, const Uplink& uplink, v1::JobInfo* info);

class WorkerServer final : public wire::WorkerService {
 public:
  // All three outlive the server.
  WorkerServer(const SidecarConfig& config, Uplink* uplink, ResultBoard* board)
      : config_(config), uplink_(uplink), board_(board) {}

  grpc::Status Describe(grpc::ServerContext* context, const v1::DescribeRequest* request, v1::JobInfo* info) override;
  grpc::Status AllReduce(grpc::ServerContext* context,
                         grpc::ServerReaderWriter<wire::ResultFrame, wire::GradientFrame>* stream) override;

 private:
  absl::Status OnChunk(const std::string& session, uint64_t t, const wire::GradientFrame& chunk);

  const SidecarConfig& config_;
  Uplink* uplink_;
  ResultBoard* board_;
  std::atomic<int64_t> next_session_{0};
};

}  // namespace geostorm::sidecar

#endif  // GEOSTORM_SIDECAR_WORKER_SERVER_H_
