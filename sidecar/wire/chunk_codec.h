// Envelope <-> geostorm.v1.Chunk: the wire form of a chunk, with its offset,
// length and CRC32C. Decoding checks everything the wire can get wrong before the
// engine sees the chunk. Thread-safe (pure functions).
#ifndef GEOSTORM_SIDECAR_WIRE_CHUNK_CODEC_H_
#define GEOSTORM_SIDECAR_WIRE_CHUNK_CODEC_H_

#include <string>

#include "absl/status/statusor.h"
#include "sidecar/engine/aggregator.h"

namespace geostorm::v1 {
class Chunk;
}

namespace geostorm::sidecar {

// What a decoder needs to know of the job.
struct WireLimits {
  std::string job;
  int64_t model_bytes = 0;
  int64_t chunk_bytes = 0;
};

void EncodeChunk(const std::string& job, int64_t chunk_bytes, const Envelope& in, v1::Chunk* out);

// Errors: kNotFound for another job, kDataLoss for a checksum mismatch,
// kInvalidArgument / kOutOfRange for malformed fields. The message names the field.
[[nodiscard]] absl::StatusOr<Envelope> DecodeChunk(const WireLimits& limits, const v1::Chunk& in);

}  // namespace geostorm::sidecar

#endif  // GEOSTORM_SIDECAR_WIRE_CHUNK_CODEC_H_
