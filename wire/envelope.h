// Envelope: a chunk as the engine sees it, decoded and checksum-verified by the
// codec (wire/chunk_codec.h). Plain data; thread-compatible.
#ifndef GEOSTORM_WIRE_ENVELOPE_H_
#define GEOSTORM_WIRE_ENVELOPE_H_

#include <cstdint>
#include <string>
#include <vector>

#include "wire/payload.h"

namespace geostorm::wire {

enum class ChunkKind { kReduce, kBroadcast, kLocal, kResult, kProbe };

// One chunk of one iteration: a local contribution, a partial sum on its way to
// a root, a finished result, or a probe.
struct Envelope {
  ChunkKind kind = ChunkKind::kReduce;
  uint64_t iteration = 0;
  uint64_t policy_version = 0;
  int shard = 0;
  int64_t chunk = 0;  // global chunk index
  int contributors = 0;
  std::string sender;              // the DC (or member) whose sum this is
  std::vector<std::string> route;  // hops still to go after the receiver, final receiver last
  Payload data;
  uint64_t layout = 0;  // fingerprint of the workers' tensor names and sizes (client/client.h)
};

}  // namespace geostorm::wire

#endif  // GEOSTORM_WIRE_ENVELOPE_H_
