// DataPlaneServer: a gateway's geostorm.v1.DataPlane service.
//   - Exchange: a peer gateway's stream of chunks, each answered with an Ack that
//     carries the refusal's reason, if any;
//   - Join: a member sidecar's stream. Its LOCAL chunks go to the gateway, and the
//     RESULT chunks of every iteration it started go back, in order;
//   - Describe: the job's shape and timeout, for a member that starts without a policy.
// Thread-safe, as gRPC services are.
#ifndef GEOSTORM_SIDECAR_DATA_PLANE_SERVER_H_
#define GEOSTORM_SIDECAR_DATA_PLANE_SERVER_H_

#include "sidecar/sidecar.h"
#include "wire/services.h"

namespace geostorm::sidecar {

class Gateway;
class ResultBoard;

class DataPlaneServer final : public wire::DataPlaneService {
 public:
  // All three outlive the server.
  DataPlaneServer(const SidecarConfig& config, Gateway* gateway, ResultBoard* board)
      : config_(config), gateway_(gateway), board_(board) {}

  grpc::Status Exchange(grpc::ServerContext* context,
                        grpc::ServerReaderWriter<v1::Ack, wire::WireChunk>* stream) override;
  grpc::Status Join(grpc::ServerContext* context,
                    grpc::ServerReaderWriter<wire::WireChunk, wire::WireChunk>* stream) override;
  grpc::Status Describe(grpc::ServerContext* context, const v1::DescribeRequest* request, v1::JobInfo* info) override;

 private:
  const SidecarConfig& config_;
  Gateway* gateway_;
  ResultBoard* board_;
};

}  // namespace geostorm::sidecar

#endif  // GEOSTORM_SIDECAR_DATA_PLANE_SERVER_H_
