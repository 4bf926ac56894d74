#include "sidecar/wire/framed.h"

#include <grpcpp/support/proto_buffer_reader.h>

#include <climits>

#include <google/protobuf/io/coded_stream.h>
#include <google/protobuf/io/zero_copy_stream_impl_lite.h>
#include <google/protobuf/wire_format_lite.h>

#include "absl/strings/str_cat.h"

namespace geostorm::sidecar {
namespace {

using google::protobuf::internal::WireFormatLite;

uint32_t PayloadTag(int field) { return WireFormatLite::MakeTag(field, WireFormatLite::WIRETYPE_LENGTH_DELIMITED); }

void AppendVarint(uint64_t v, std::string* out) {
  for (; v >= 0x80; v >>= 7) out->push_back(static_cast<char>(v | 0x80));
  out->push_back(static_cast<char>(v));
}

grpc::Status Malformed(const std::string& what) {
  return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, absl::StrCat("malformed message: ", what));
}

}  // namespace

grpc::Status SerializeFramed(const google::protobuf::MessageLite& header, int field, const Payload& payload,
                             grpc::ByteBuffer* out) {
  std::string head;
  if (!header.AppendToString(&head)) return grpc::Status(grpc::StatusCode::INTERNAL, "header does not serialize");
  if (payload == nullptr || payload->empty()) {
    grpc::Slice slice(head);
    *out = grpc::ByteBuffer(&slice, 1);
    return grpc::Status::OK;
  }
  const size_t bytes = payload->size() * sizeof(float);
  AppendVarint(PayloadTag(field), &head);
  AppendVarint(bytes, &head);
  // The second slice is the payload's own memory; gRPC drops its reference (and
  // with it, maybe the buffer) once the bytes are on the socket.
  auto* owner = new Payload(payload);
  grpc::Slice slices[2] = {grpc::Slice(head), grpc::Slice(
                                                  const_cast<float*>(payload->data()), bytes,
                                                  [](void* p) { delete static_cast<Payload*>(p); }, owner)};
  *out = grpc::ByteBuffer(slices, 2);
  return grpc::Status::OK;
}

grpc::Status DeserializeFramed(grpc::ByteBuffer* in, int field, google::protobuf::MessageLite* header, Payload* payload,
                               int64_t* payload_bytes) {
  const size_t total = in->Length();
  *payload = nullptr;
  *payload_bytes = 0;
  std::string head;
  {
    grpc::ProtoBufferReader reader(in);
    if (!reader.status().ok()) return reader.status();
    google::protobuf::io::CodedInputStream input(&reader);
    input.SetTotalBytesLimit(INT_MAX);
    google::protobuf::io::StringOutputStream head_stream(&head);
    google::protobuf::io::CodedOutputStream head_out(&head_stream);
    const uint32_t payload_tag = PayloadTag(field);
    for (uint32_t tag = input.ReadTag(); tag != 0; tag = input.ReadTag()) {
      if (tag != payload_tag) {
        // Every other field is copied, as it came, into the header's bytes.
        if (!WireFormatLite::SkipField(&input, tag, &head_out)) return Malformed(absl::StrCat("field tag ", tag));
        continue;
      }
      uint32_t bytes = 0;
      if (!input.ReadVarint32(&bytes) || bytes > total || bytes > INT_MAX) return Malformed("payload length");
      auto values = std::make_shared<Floats>((bytes + sizeof(float) - 1) / sizeof(float));
      if (bytes % sizeof(float) != 0) values->back() = 0;
      if (!input.ReadRaw(values->data(), static_cast<int>(bytes))) return Malformed("payload cut short");
      *payload = std::move(values);
      *payload_bytes = bytes;
    }
    if (!input.ConsumedEntireMessage()) return Malformed("bad field tag");
  }
  in->Clear();
  if (!header->ParseFromString(head)) return Malformed("header fields");
  return grpc::Status::OK;
}

}  // namespace geostorm::sidecar
