#include "wire/services.h"

#include <grpcpp/impl/client_unary_call.h>
#include <grpcpp/impl/rpc_service_method.h>
#include <grpcpp/support/method_handler.h>

namespace geostorm::wire {
namespace {

constexpr char kExchange[] = "/geostorm.v1.DataPlane/Exchange";
constexpr char kJoin[] = "/geostorm.v1.DataPlane/Join";
constexpr char kDescribeJob[] = "/geostorm.v1.DataPlane/Describe";
constexpr char kDescribe[] = "/geostorm.v1.Worker/Describe";
constexpr char kAllReduce[] = "/geostorm.v1.Worker/AllReduce";

using grpc::internal::RpcMethod;
using grpc::internal::RpcServiceMethod;

template <typename Service, typename Out, typename In>
RpcServiceMethod* Bidi(const char* name, Service* service,
                       grpc::Status (Service::*method)(grpc::ServerContext*, grpc::ServerReaderWriter<Out, In>*)) {
  return new RpcServiceMethod(
      name, RpcMethod::BIDI_STREAMING,
      new grpc::internal::BidiStreamingHandler<Service, In, Out>(
          [method](Service* s, grpc::ServerContext* c, grpc::ServerReaderWriter<Out, In>* stream) {
            return (s->*method)(c, stream);
          },
          service));
}

template <typename Service>
RpcServiceMethod* DescribeMethod(const char* name, Service* service) {
  return new RpcServiceMethod(
      name, RpcMethod::NORMAL_RPC,
      new grpc::internal::RpcMethodHandler<Service, v1::DescribeRequest, v1::JobInfo, google::protobuf::MessageLite,
                                           google::protobuf::MessageLite>(
          [](Service* s, grpc::ServerContext* c, const v1::DescribeRequest* request, v1::JobInfo* info) {
            return s->Describe(c, request, info);
          },
          service));
}

}  // namespace

DataPlaneService::DataPlaneService() {
  AddMethod(Bidi(kExchange, this, &DataPlaneService::Exchange));
  AddMethod(Bidi(kJoin, this, &DataPlaneService::Join));
  AddMethod(DescribeMethod(kDescribeJob, this));
}

WorkerService::WorkerService() {
  AddMethod(DescribeMethod(kDescribe, this));
  AddMethod(Bidi(kAllReduce, this, &WorkerService::AllReduce));
}

DataPlaneStub::DataPlaneStub(std::shared_ptr<grpc::Channel> channel)
    : channel_(std::move(channel)),
      exchange_(kExchange, RpcMethod::BIDI_STREAMING, channel_),
      join_(kJoin, RpcMethod::BIDI_STREAMING, channel_),
      describe_(kDescribeJob, RpcMethod::NORMAL_RPC, channel_) {}

std::unique_ptr<ExchangeStream> DataPlaneStub::Exchange(grpc::ClientContext* context) {
  return std::unique_ptr<ExchangeStream>(
      grpc::internal::ClientReaderWriterFactory<WireChunk, v1::Ack>::Create(channel_.get(), exchange_, context));
}

std::unique_ptr<JoinStream> DataPlaneStub::Join(grpc::ClientContext* context) {
  return std::unique_ptr<JoinStream>(
      grpc::internal::ClientReaderWriterFactory<WireChunk, WireChunk>::Create(channel_.get(), join_, context));
}

grpc::Status DataPlaneStub::Describe(grpc::ClientContext* context, const v1::DescribeRequest& request,
                                     v1::JobInfo* info) {
  return grpc::internal::BlockingUnaryCall<v1::DescribeRequest, v1::JobInfo, google::protobuf::MessageLite,
                                           google::protobuf::MessageLite>(channel_.get(), describe_, context, request,
                                                                          info);
}

WorkerStub::WorkerStub(std::shared_ptr<grpc::Channel> channel)
    : channel_(std::move(channel)), all_reduce_(kAllReduce, RpcMethod::BIDI_STREAMING, channel_) {}

std::unique_ptr<grpc::ClientReaderWriter<GradientFrame, ResultFrame>> WorkerStub::AllReduce(
    grpc::ClientContext* context) {
  return std::unique_ptr<grpc::ClientReaderWriter<GradientFrame, ResultFrame>>(
      grpc::internal::ClientReaderWriterFactory<GradientFrame, ResultFrame>::Create(channel_.get(), all_reduce_,
                                                                                    context));
}

}  // namespace geostorm::wire
