// Envelope <-> WireChunk (geostorm.v1.Chunk): the wire form of a chunk, with its
// offset, length and CRC32C. The payload is shared both ways, never copied.
// Decoding checks everything the wire can get wrong before the engine sees the
// chunk. Thread-safe (pure functions).
#ifndef GEOSTORM_WIRE_CHUNK_CODEC_H_
#define GEOSTORM_WIRE_CHUNK_CODEC_H_

#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "wire/envelope.h"
#include "wire/framed.h"

namespace geostorm::wire {

// What a decoder needs to know of the job.
struct WireLimits {
  std::string job;
  int64_t model_bytes = 0;
  int64_t chunk_bytes = 0;
};

WireChunk EncodeChunk(const std::string& job, int64_t chunk_bytes, const Envelope& in);

// The CRC32C of the header fields a chunk keeps end to end (see header_crc32c in
// dataplane.proto). SealHeader sets it: EncodeChunk does, and so must whoever
// changes one of those fields afterwards (tests that forge a chunk on purpose).
uint32_t HeaderCrc(const v1::Chunk& header);
void SealHeader(v1::Chunk& header);

// Everything but the payload's checksum: what a relay checks before it sends a
// chunk on unread. The fields' ranges first, so that an error names the field,
// then the header's checksum. Errors as DecodeChunk's.
[[nodiscard]] absl::Status CheckHeader(const WireLimits& limits, const WireChunk& in);

// Errors: kNotFound for another job, kDataLoss for a checksum mismatch,
// kInvalidArgument / kOutOfRange for malformed fields. The message names the field.
[[nodiscard]] absl::StatusOr<Envelope> DecodeChunk(const WireLimits& limits, const WireChunk& in);

// The same chunk as the generated protobuf type, payload copied (for tests and
// tools that talk to a sidecar through the generated stubs).
v1::Chunk ToProto(const WireChunk& in);

}  // namespace geostorm::wire

#endif  // GEOSTORM_WIRE_CHUNK_CODEC_H_
