#include "sidecar/wire/chunk_codec.h"

#include <cstring>

#include "absl/strings/str_cat.h"
#include "geostorm/v1/dataplane.pb.h"
#include "sidecar/wire/crc32c.h"

namespace geostorm::sidecar {
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

}  // namespace

void EncodeChunk(const std::string& job, int64_t chunk_bytes, const Envelope& in, v1::Chunk* out) {
  out->Clear();
  out->set_job(job);
  out->set_iteration(in.iteration);
  out->set_policy_version(in.policy_version);
  out->set_shard(in.shard);
  out->set_chunk(in.chunk);
  out->set_offset(in.chunk * chunk_bytes);
  const size_t bytes = in.data->size() * sizeof(float);
  out->set_length(static_cast<int64_t>(bytes));
  out->set_kind(ToWire(in.kind));
  out->set_contributors(in.contributors);
  out->set_sender(in.sender);
  for (const std::string& hop : in.route) out->add_route(hop);
  out->mutable_payload()->assign(reinterpret_cast<const char*>(in.data->data()), bytes);
  out->set_crc32c(Crc32c(out->payload().data(), bytes));
}

absl::StatusOr<Envelope> DecodeChunk(const WireLimits& limits, const v1::Chunk& in) {
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
  if (in.length() != expected || static_cast<int64_t>(in.payload().size()) != expected) {
    return absl::InvalidArgumentError(absl::StrCat("field 'length': ", in.length(), " with a payload of ",
                                                   in.payload().size(), " bytes, expected ", expected));
  }
  if (Crc32c(in.payload().data(), in.payload().size()) != in.crc32c()) {
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
  if (in.contributors() < 1) return absl::InvalidArgumentError("field 'contributors': must be at least 1");
  e.iteration = in.iteration();
  e.policy_version = in.policy_version();
  e.shard = in.shard();
  e.chunk = in.chunk();
  e.contributors = in.contributors();
  e.sender = in.sender();
  e.route.assign(in.route().begin(), in.route().end());
  auto data = std::make_shared<std::vector<float>>(expected / sizeof(float));
  std::memcpy(data->data(), in.payload().data(), static_cast<size_t>(expected));
  e.data = std::move(data);
  return e;
}

}  // namespace geostorm::sidecar
