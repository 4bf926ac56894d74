#include "sidecar/wire/crc32c.h"

#include <cstring>

#include <boost/crc.hpp>

namespace geostorm::sidecar {
namespace {

__attribute__((target("sse4.2"))) uint32_t Hardware(const unsigned char* p, size_t n) {
  uint64_t crc = 0xffffffffu;
  for (; n >= 8; p += 8, n -= 8) {
    uint64_t word;
    std::memcpy(&word, p, 8);
    crc = __builtin_ia32_crc32di(crc, word);
  }
  uint32_t c = static_cast<uint32_t>(crc);
  for (; n > 0; ++p, --n) c = __builtin_ia32_crc32qi(c, *p);
  return c ^ 0xffffffffu;
}

uint32_t Software(const unsigned char* p, size_t n) {
  boost::crc_optimal<32, 0x1EDC6F41, 0xFFFFFFFF, 0xFFFFFFFF, true, true> crc;
  crc.process_bytes(p, n);
  return crc.checksum();
}

}  // namespace

uint32_t Crc32c(const void* data, size_t size) {
  static const bool kHardware = __builtin_cpu_supports("sse4.2");
  const auto* p = static_cast<const unsigned char*>(data);
  return kHardware ? Hardware(p, size) : Software(p, size);
}

}  // namespace geostorm::sidecar
