#include "wire/framed.h"

#include <grpcpp/support/proto_buffer_reader.h>

#include <algorithm>
#include <climits>
#include <cstring>

#include <google/protobuf/io/coded_stream.h>
#include <google/protobuf/io/zero_copy_stream_impl_lite.h>
#include <google/protobuf/wire_format_lite.h>

#include "absl/strings/str_cat.h"

namespace geostorm::wire {
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

Payload CopyOut(const std::vector<grpc::Slice>& received, int64_t bytes) {
  if (bytes <= 0) return nullptr;
  auto values = std::make_shared<Floats>((static_cast<size_t>(bytes) + sizeof(float) - 1) / sizeof(float));
  values->back() = 0;  // padding of a payload that is not whole floats
  auto* out = reinterpret_cast<unsigned char*>(values->data());
  for (const grpc::Slice& s : received) {
    std::memcpy(out, s.begin(), s.size());
    out += s.size();
  }
  return values;
}

grpc::Status SerializeFramed(const google::protobuf::MessageLite& header, int field, const Payload& payload,
                             const std::vector<grpc::Slice>& received, int64_t received_bytes, grpc::ByteBuffer* out) {
  std::vector<grpc::Slice> slices(1);
  std::string head;
  if (!header.AppendToString(&head)) return grpc::Status(grpc::StatusCode::INTERNAL, "header does not serialize");
  const size_t bytes = payload ? payload->size() * sizeof(float) : static_cast<size_t>(received_bytes);
  if (bytes > 0) {
    AppendVarint(PayloadTag(field), &head);
    AppendVarint(bytes, &head);
  }
  slices[0] = grpc::Slice(head);
  if (payload && bytes > 0) {
    // The payload's own memory; gRPC drops its reference (and with it, maybe the
    // buffer) once the bytes are on the socket.
    auto* owner = new Payload(payload);
    slices.emplace_back(
        const_cast<float*>(payload->data()), bytes, [](void* p) { delete static_cast<Payload*>(p); }, owner);
  } else if (bytes > 0) {
    slices.insert(slices.end(), received.begin(), received.end());  // references, as they came in
  }
  *out = grpc::ByteBuffer(slices.data(), slices.size());
  return grpc::Status::OK;
}

grpc::Status DeserializeFramed(grpc::ByteBuffer* in, int field, google::protobuf::MessageLite* header,
                               std::vector<grpc::Slice>* received, int64_t* payload_bytes) {
  const size_t total = in->Length();
  received->clear();
  *payload_bytes = 0;
  std::string head;
  size_t payload_at = 0;
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
      payload_at = static_cast<size_t>(input.CurrentPosition());
      if (!input.Skip(static_cast<int>(bytes))) return Malformed("payload cut short");
      *payload_bytes = bytes;
    }
    if (!input.ConsumedEntireMessage()) return Malformed("bad field tag");
  }
  if (*payload_bytes > 0) {
    // The payload's bytes as references into the slices they arrived in.
    std::vector<grpc::Slice> slices;
    if (!in->Dump(&slices).ok()) return Malformed("unreadable buffer");
    const size_t end = payload_at + static_cast<size_t>(*payload_bytes);
    size_t at = 0;
    for (const grpc::Slice& s : slices) {
      const size_t from = std::max(at, payload_at), to = std::min(at + s.size(), end);
      if (from < to) received->push_back(from == at && to == at + s.size() ? s : s.sub(from - at, to - at));
      at += s.size();
    }
  }
  in->Clear();
  if (!header->ParseFromString(head)) return Malformed("header fields");
  return grpc::Status::OK;
}

}  // namespace geostorm::wire
