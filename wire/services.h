// The DataPlane and Worker gRPC services with framed payloads (wire/framed.h):
// the same methods and messages as the generated geostorm.v1 services, but chunk
// payloads go out of and into float buffers without protobuf copying them.
// Registered by hand the way generated code does it, because generated services
// are bound to the protobuf message types.
//
//   class Gateway : public DataPlaneService { grpc::Status Exchange(...) override; ... };
//   builder.RegisterService(&gateway);
//   auto stream = DataPlaneStub(channel).Exchange(&context);  // a peer's side
//
// Thread-safe as gRPC services and streams are.
#ifndef GEOSTORM_WIRE_SERVICES_H_
#define GEOSTORM_WIRE_SERVICES_H_

#include <grpcpp/channel.h>
#include <grpcpp/client_context.h>
#include <grpcpp/impl/codegen/proto_utils.h>
#include <grpcpp/impl/rpc_method.h>
#include <grpcpp/impl/service_type.h>
#include <grpcpp/server_context.h>
#include <grpcpp/support/sync_stream.h>

#include <memory>

#include "geostorm/v1/dataplane.pb.h"
#include "geostorm/v1/worker.pb.h"
#include "wire/framed.h"

namespace geostorm::wire {

using ExchangeStream = grpc::ClientReaderWriter<WireChunk, v1::Ack>;
using JoinStream = grpc::ClientReaderWriter<WireChunk, WireChunk>;

// geostorm.v1.DataPlane: a gateway serves it to peer gateways and its members.
class DataPlaneService : public grpc::Service {
 public:
  DataPlaneService();
  virtual grpc::Status Exchange(grpc::ServerContext* context, grpc::ServerReaderWriter<v1::Ack, WireChunk>* stream) = 0;
  virtual grpc::Status Join(grpc::ServerContext* context, grpc::ServerReaderWriter<WireChunk, WireChunk>* stream) = 0;
  // For members; peers that only relay need not answer it.
  virtual grpc::Status Describe(grpc::ServerContext*, const v1::DescribeRequest*, v1::JobInfo*) {
    return {grpc::StatusCode::UNIMPLEMENTED, "not a gateway"};
  }
};

// geostorm.v1.Worker: every sidecar serves it to its local workers.
class WorkerService : public grpc::Service {
 public:
  WorkerService();
  virtual grpc::Status Describe(grpc::ServerContext* context, const v1::DescribeRequest* request,
                                v1::JobInfo* info) = 0;
  virtual grpc::Status AllReduce(grpc::ServerContext* context,
                                 grpc::ServerReaderWriter<ResultFrame, GradientFrame>* stream) = 0;
};

// The client side of geostorm.v1.DataPlane, as a generated stub would be.
class DataPlaneStub {
 public:
  explicit DataPlaneStub(std::shared_ptr<grpc::Channel> channel);
  std::unique_ptr<ExchangeStream> Exchange(grpc::ClientContext* context);
  std::unique_ptr<JoinStream> Join(grpc::ClientContext* context);
  grpc::Status Describe(grpc::ClientContext* context, const v1::DescribeRequest& request, v1::JobInfo* info);

 private:
  std::shared_ptr<grpc::Channel> channel_;
  const grpc::internal::RpcMethod exchange_;
  const grpc::internal::RpcMethod join_;
  const grpc::internal::RpcMethod describe_;
};

// The framed AllReduce call of geostorm.v1.Worker, for the worker library.
class WorkerStub {
 public:
  explicit WorkerStub(std::shared_ptr<grpc::Channel> channel);
  std::unique_ptr<grpc::ClientReaderWriter<GradientFrame, ResultFrame>> AllReduce(grpc::ClientContext* context);

 private:
  std::shared_ptr<grpc::Channel> channel_;
  const grpc::internal::RpcMethod all_reduce_;
};

}  // namespace geostorm::wire

#endif  // GEOSTORM_WIRE_SERVICES_H_
