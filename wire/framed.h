// Framed<Header, kField>: a protobuf message whose bulk `bytes` field (field
// number kField) is kept out of the message, as float32 values that gRPC sends
// and receives without protobuf copying them. On the wire it is exactly the
// Header message with that field set, so peers using the generated protobuf
// types read and write it unchanged.
//
//   WireChunk c;                 // = Framed<v1::Chunk, 13>
//   c.header.set_chunk(4);       // every field but payload
//   c.set_payload(values);       // shared, never copied on the way out
//   stream->Write(c);            // header bytes, then the payload's own memory
//
// Sending hands gRPC the payload's memory (kept alive by a reference until the
// transport is done with it). Receiving copies nothing: the payload stays in
// gRPC's buffers (`received`, referenced slices) until PayloadOf() copies it
// once into aligned Floats, so that a relay can send it on unread. A payload
// whose length is not a multiple of 4 keeps its byte count in `payload_bytes`
// for the decoder to refuse.
// Thread-compatible, like the protobuf messages.
#ifndef GEOSTORM_WIRE_FRAMED_H_
#define GEOSTORM_WIRE_FRAMED_H_

#include <grpcpp/impl/serialization_traits.h>
#include <grpcpp/support/byte_buffer.h>
#include <grpcpp/support/slice.h>
#include <grpcpp/support/status.h>

#include <vector>

#include <google/protobuf/message_lite.h>

#include "geostorm/v1/dataplane.pb.h"
#include "geostorm/v1/worker.pb.h"
#include "wire/payload.h"

namespace geostorm::wire {

// The largest message any geostorm process receives: the largest chunk a policy
// may have (core::kMaxChunkBytes) and room for its header. gRPC refuses anything
// larger with RESOURCE_EXHAUSTED before it is buffered.
inline constexpr int kMaxMessageBytes = (64 << 20) + (1 << 20);

template <typename Header, int kField>
struct Framed {
  Header header;                      // the bulk field is left unset here
  Payload payload;                    // a sender's values (null: none, or see `received`)
  std::vector<grpc::Slice> received;  // a received payload, still in gRPC's buffers
  int64_t payload_bytes = 0;

  int64_t bytes() const { return payload_bytes; }
  void set_payload(Payload p) {
    payload_bytes = p ? static_cast<int64_t>(p->size() * sizeof(float)) : 0;
    payload = std::move(p);
    received.clear();
  }
};

using WireChunk = Framed<v1::Chunk, v1::Chunk::kPayloadFieldNumber>;
using GradientFrame = Framed<v1::GradientChunk, v1::GradientChunk::kPayloadFieldNumber>;
using ResultFrame = Framed<v1::ResultChunk, v1::ResultChunk::kPayloadFieldNumber>;

// The payload as values: `payload` itself, or the received bytes copied out
// (padded with zeros to whole floats). Null when there is none.
Payload CopyOut(const std::vector<grpc::Slice>& received, int64_t bytes);
template <typename Header, int kField>
Payload PayloadOf(const Framed<Header, kField>& f) {
  return f.payload ? f.payload : CopyOut(f.received, f.payload_bytes);
}

// The untemplated halves of the gRPC codec below.
grpc::Status SerializeFramed(const google::protobuf::MessageLite& header, int field, const Payload& payload,
                             const std::vector<grpc::Slice>& received, int64_t received_bytes, grpc::ByteBuffer* out);
grpc::Status DeserializeFramed(grpc::ByteBuffer* in, int field, google::protobuf::MessageLite* header,
                               std::vector<grpc::Slice>* received, int64_t* payload_bytes);

}  // namespace geostorm::wire

namespace grpc {

// gRPC's customisation point for message types that are not plain protobufs.
template <typename Header, int kField>
class SerializationTraits<geostorm::wire::Framed<Header, kField>, void> {
 public:
  static Status Serialize(const geostorm::wire::Framed<Header, kField>& msg, ByteBuffer* out, bool* own_buffer) {
    *own_buffer = true;
    return geostorm::wire::SerializeFramed(msg.header, kField, msg.payload, msg.received, msg.payload_bytes, out);
  }
  static Status Deserialize(ByteBuffer* in, geostorm::wire::Framed<Header, kField>* msg) {
    msg->payload = nullptr;
    return geostorm::wire::DeserializeFramed(in, kField, &msg->header, &msg->received, &msg->payload_bytes);
  }
};

}  // namespace grpc

#endif  // GEOSTORM_WIRE_FRAMED_H_
