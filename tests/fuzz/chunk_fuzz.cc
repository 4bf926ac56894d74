// A chunk as a gateway receives it from another DC: gRPC's bytes, cut into slices
// anywhere, through the framed codec, then the header checks and the decoder.
// A chunk that decodes must describe a real piece of the model, and encode back to
// the same chunk.
#include <grpcpp/support/byte_buffer.h>

#include <cstdint>
#include <string>
#include <vector>

#include "tests/fuzz/require.h"
#include "wire/chunk_codec.h"

using geostorm::fuzz::Require;
using geostorm::wire::WireChunk;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  // The first byte says where the transport cut the message.
  const std::string bytes(reinterpret_cast<const char*>(data) + 1, size - 1);
  const size_t cut = std::min<size_t>(data[0], bytes.size());
  std::vector<grpc::Slice> slices = {grpc::Slice(bytes.substr(0, cut)), grpc::Slice(bytes.substr(cut))};
  grpc::ByteBuffer buffer(slices.data(), slices.size());

  WireChunk chunk;
  if (!grpc::SerializationTraits<WireChunk>::Deserialize(&buffer, &chunk).ok()) return 0;
  const geostorm::wire::WireLimits limits{"job", /*model_bytes=*/10000, /*chunk_bytes=*/4000};
  const absl::Status header = CheckHeader(limits, chunk);
  const absl::StatusOr<geostorm::wire::Envelope> envelope = DecodeChunk(limits, chunk);
  Require(header.ok() || !envelope.ok(), "a chunk the header check refuses does not decode");
  if (!envelope.ok()) return 0;

  const int64_t bytes_in = envelope->data ? static_cast<int64_t>(envelope->data->size() * sizeof(float)) : 0;
  Require(envelope->chunk >= 0 && envelope->chunk * limits.chunk_bytes + bytes_in <= limits.model_bytes,
          "a decoded chunk lies inside the model");
  const WireChunk again = EncodeChunk(limits.job, limits.chunk_bytes, *envelope);
  const absl::StatusOr<geostorm::wire::Envelope> back = DecodeChunk(limits, again);
  Require(back.ok() && back->chunk == envelope->chunk && back->iteration == envelope->iteration &&
              back->route == envelope->route && *back->data == *envelope->data,
          "a decoded chunk encodes back to itself");
  return 0;
}
