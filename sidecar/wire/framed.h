// Framed<Header, kField>: a protobuf message whose bulk `bytes` field (field
// number kField) is kept out of the message, as float32 values that gRPC sends
// and receives without protobuf copying them. On the wire it is exactly the
// Header message with that field set, so peers using the generated protobuf
// types read and write it unchanged.
//
//   WireChunk c;                 // = Framed<v1::Chunk, 13>
//   c.header.set_chunk(4);       // every field but payload
//   c.payload = values;          // shared, never copied on the way out
//   stream->Write(c);            // header bytes, then the payload's own memory
//
// Sending hands gRPC the payload's memory (kept alive by a reference until the
// transport is done with it). Receiving copies the payload once, out of gRPC's
// buffers into an aligned Floats; a payload whose length is not a multiple of 4
// keeps its byte count in `payload_bytes` for the decoder to refuse.
// Thread-compatible, like the protobuf messages.
#ifndef GEOSTORM_SIDECAR_WIRE_FRAMED_H_
#define GEOSTORM_SIDECAR_WIRE_FRAMED_H_

#include <grpcpp/impl/serialization_traits.h>
#include <grpcpp/support/byte_buffer.h>
#include <grpcpp/support/status.h>

#include <google/protobuf/message_lite.h>

#include "geostorm/v1/dataplane.pb.h"
#include "geostorm/v1/worker.pb.h"
#include "sidecar/engine/payload.h"

namespace geostorm::sidecar {

template <typename Header, int kField>
struct Framed {
  Header header;    // the bulk field is left unset here
  Payload payload;  // null: no payload
  int64_t payload_bytes = 0;

  int64_t bytes() const { return payload_bytes; }
  void set_payload(Payload p) {
    payload_bytes = p ? static_cast<int64_t>(p->size() * sizeof(float)) : 0;
    payload = std::move(p);
  }
};

using WireChunk = Framed<v1::Chunk, v1::Chunk::kPayloadFieldNumber>;
using GradientFrame = Framed<v1::GradientChunk, v1::GradientChunk::kPayloadFieldNumber>;
using ResultFrame = Framed<v1::ResultChunk, v1::ResultChunk::kPayloadFieldNumber>;

// The untemplated halves of the gRPC codec below.
grpc::Status SerializeFramed(const google::protobuf::MessageLite& header, int field, const Payload& payload,
                             grpc::ByteBuffer* out);
grpc::Status DeserializeFramed(grpc::ByteBuffer* in, int field, google::protobuf::MessageLite* header, Payload* payload,
                               int64_t* payload_bytes);

}  // namespace geostorm::sidecar

namespace grpc {

// gRPC's customisation point for message types that are not plain protobufs.
template <typename Header, int kField>
class SerializationTraits<geostorm::sidecar::Framed<Header, kField>, void> {
 public:
  static Status Serialize(const geostorm::sidecar::Framed<Header, kField>& msg, ByteBuffer* out, bool* own_buffer) {
    *own_buffer = true;
    return geostorm::sidecar::SerializeFramed(msg.header, kField, msg.payload, out);
  }
  static Status Deserialize(ByteBuffer* in, geostorm::sidecar::Framed<Header, kField>* msg) {
    return geostorm::sidecar::DeserializeFramed(in, kField, &msg->header, &msg->payload, &msg->payload_bytes);
  }
};

}  // namespace grpc

#endif  // GEOSTORM_SIDECAR_WIRE_FRAMED_H_
