#include "wire/chunk_codec.h"

#include "absl/strings/str_cat.h"
#include "core/status_macros.h"
#include "geostorm/v1/dataplane.pb.h"
#include "wire/crc32c.h"

namespace geostorm::wire {
namespace {

v1::ChunkKind ToWire(ChunkKind k) {
  switch (k) {
    case ChunkKind::kReduce:
      return v1::CHUNK_REDUCE;
    case ChunkKind::kBroadcast:
      return v1::CHUNK_BROADCAST;
    case ChunkKind::kLocal:
      return v1::CHUNK_LOCAL;
    case ChunkKind::kResult:
      return v1::CHUNK_RESULT;
    case ChunkKind::kProbe:
      return v1::CHUNK_PROBE;
  }
  return v1::CHUNK_KIND_UNSPECIFIED;
}

// Appends the bytes of a fixed-size value, or of a string after its length.
template <typename T>
void Put(std::string& out, T v) {
  out.append(reinterpret_cast<const char*>(&v), sizeof(v));
}
void Put(std::string& out, const std::string& s) {
  Put(out, static_cast<uint64_t>(s.size()));
  out += s;
}

}  // namespace

uint32_t HeaderCrc(const v1::Chunk& h) {
  std::string bytes;
  bytes.reserve(96 + h.job().size() + h.sender().size());
  Put(bytes, h.job());
  Put(bytes, h.iteration());
  Put(bytes, h.policy_version());
  Put(bytes, h.shard());
  Put(bytes, h.chunk());
  Put(bytes, h.offset());
  Put(bytes, h.length());
  Put(bytes, static_cast<int32_t>(h.kind()));
  Put(bytes, h.contributors());
  Put(bytes, h.sender());
  Put(bytes, h.layout());
  Put(bytes, h.crc32c());
  return Crc32c(bytes.data(), bytes.size());
}

void SealHeader(v1::Chunk& header) { header.set_header_crc32c(HeaderCrc(header)); }

WireChunk EncodeChunk(const std::string& job, int64_t chunk_bytes, const Envelope& in) {
  WireChunk out;
  v1::Chunk& h = out.header;
  h.set_job(job);
  h.set_iteration(in.iteration);
  h.set_policy_version(in.policy_version);
  h.set_shard(in.shard);
  h.set_chunk(in.chunk);
  h.set_offset(in.chunk * chunk_bytes);
  h.set_kind(ToWire(in.kind));
  h.set_contributors(in.contributors);
  h.set_sender(in.sender);
  for (const std::string& hop : in.route) h.add_route(hop);
  h.set_layout(in.layout);
  out.set_payload(in.data);
  h.set_length(out.bytes());
  h.set_crc32c(in.data ? Crc32c(in.data->data(), static_cast<size_t>(out.bytes())) : Crc32c(nullptr, 0));
  SealHeader(h);
  return out;
}

v1::Chunk ToProto(const WireChunk& in) {
  v1::Chunk out = in.header;
  if (Payload p = PayloadOf(in))
    out.set_payload(reinterpret_cast<const char*>(p->data()), static_cast<size_t>(in.bytes()));
  return out;
}

absl::Status CheckHeader(const WireLimits& limits, const WireChunk& wire) {
  const v1::Chunk& in = wire.header;
  if (in.job() != limits.job) return absl::NotFoundError(absl::StrCat("chunk for unknown job '", in.job(), "'"));
  const int64_t chunks = (limits.model_bytes + limits.chunk_bytes - 1) / limits.chunk_bytes;
  if (in.chunk() < 0 || in.chunk() >= chunks) {
    return absl::OutOfRangeError(absl::StrCat("field 'chunk': ", in.chunk(), " is outside [0, ", chunks, ")"));
  }
  if (in.offset() != in.chunk() * limits.chunk_bytes) {
    return absl::InvalidArgumentError(
        absl::StrCat("field 'offset': ", in.offset(), " does not match chunk ", in.chunk()));
  }
  const int64_t expected = std::min(limits.chunk_bytes, limits.model_bytes - in.offset());
  if (in.length() != expected || wire.bytes() != expected) {
    return absl::InvalidArgumentError(absl::StrCat("field 'length': ", in.length(), " with a payload of ", wire.bytes(),
                                                   " bytes, expected ", expected));
  }
  if (in.kind() == v1::CHUNK_KIND_UNSPECIFIED || !v1::ChunkKind_IsValid(in.kind())) {
    return absl::InvalidArgumentError("field 'kind': unspecified");
  }
  if (in.contributors() < 1) return absl::InvalidArgumentError("field 'contributors': must be at least 1");
  if (HeaderCrc(in) != in.header_crc32c()) {
    return absl::DataLossError(absl::StrCat("chunk ", in.chunk(), " of iteration ", in.iteration(), " from '",
                                            in.sender(), "': its header fails its CRC32C"));
  }
  return absl::OkStatus();
}

absl::StatusOr<Envelope> DecodeChunk(const WireLimits& limits, const WireChunk& wire) {
  RETURN_IF_ERROR(CheckHeader(limits, wire));
  const v1::Chunk& in = wire.header;
  Payload data = PayloadOf(wire);
  if (Crc32c(data->data(), static_cast<size_t>(wire.bytes())) != in.crc32c()) {
    return absl::DataLossError(absl::StrCat("chunk ", in.chunk(), " of iteration ", in.iteration(), " from '",
                                            in.sender(), "' fails its CRC32C"));
  }
  Envelope e;
  switch (in.kind()) {
    case v1::CHUNK_REDUCE:
      e.kind = ChunkKind::kReduce;
      break;
    case v1::CHUNK_BROADCAST:
      e.kind = ChunkKind::kBroadcast;
      break;
    case v1::CHUNK_LOCAL:
      e.kind = ChunkKind::kLocal;
      break;
    case v1::CHUNK_RESULT:
      e.kind = ChunkKind::kResult;
      break;
    case v1::CHUNK_PROBE:
      e.kind = ChunkKind::kProbe;
      break;
    default:
      return absl::InvalidArgumentError("field 'kind': unspecified");
  }
  e.iteration = in.iteration();
  e.policy_version = in.policy_version();
  e.shard = in.shard();
  e.chunk = in.chunk();
  e.contributors = in.contributors();
  e.sender = in.sender();
  e.route.assign(in.route().begin(), in.route().end());
  e.layout = in.layout();
  e.data = std::move(data);
  return e;
}

}  // namespace geostorm::wire
