// CRC32C (Castagnoli) of a byte range: SSE4.2 instructions on three interleaved
// streams where the CPU has them, Boost.CRC otherwise. Thread-safe.
#ifndef GEOSTORM_WIRE_CRC32C_H_
#define GEOSTORM_WIRE_CRC32C_H_

#include <cstddef>
#include <cstdint>

namespace geostorm::wire {

//   uint32_t crc = Crc32c(payload.data(), payload.size());
uint32_t Crc32c(const void* data, size_t size);

// Boost.CRC, byte by byte: what Crc32c falls back to, and checks itself against.
uint32_t Crc32cPortable(const void* data, size_t size);

}  // namespace geostorm::wire

#endif  // GEOSTORM_WIRE_CRC32C_H_
