#include "wire/crc32c.h"

#include <array>
#include <cstring>

#include <boost/crc.hpp>

namespace geostorm::wire {
namespace {

// The CRC32C of a byte is computed by one instruction with a latency of three
// cycles but a throughput of one per cycle, so one stream of bytes runs at a
// third of the speed the CPU has. Three streams run side by side over adjacent
// blocks, and their CRCs are joined by "shifting" the earlier ones past the later
// blocks: CRC(A|B) = shift_|B|(CRC(A)) ^ CRC_from_0(B). The shift by a fixed
// number of zero bytes is linear on the 32-bit state, so it is four table
// lookups (tables made once, below).
constexpr uint32_t kPolynomial = 0x82F63B78;  // reflected
constexpr size_t kLong = 8192;
constexpr size_t kShort = 256;

using Matrix = std::array<uint32_t, 32>;  // column n: the image of bit n
using ShiftTable = std::array<std::array<uint32_t, 256>, 4>;

uint32_t Apply(const Matrix& m, uint32_t v) {
  uint32_t out = 0;
  for (int n = 0; v != 0; ++n, v >>= 1) {
    if (v & 1) out ^= m[n];
  }
  return out;
}

Matrix Compose(const Matrix& a, const Matrix& b) {  // a after b
  Matrix out;
  for (int n = 0; n < 32; ++n) out[n] = Apply(a, b[n]);
  return out;
}

// The table that shifts a CRC state past `bytes` zero bytes.
ShiftTable MakeShift(size_t bytes) {
  Matrix power;  // one zero bit, then squared up to one byte
  power[0] = kPolynomial;
  for (int n = 1; n < 32; ++n) power[n] = 1u << (n - 1);
  for (int i = 0; i < 3; ++i) power = Compose(power, power);
  Matrix op;
  for (int n = 0; n < 32; ++n) op[n] = 1u << n;
  for (; bytes > 0; bytes >>= 1, power = Compose(power, power)) {
    if (bytes & 1) op = Compose(power, op);
  }
  ShiftTable table;
  for (int k = 0; k < 4; ++k) {
    for (uint32_t b = 0; b < 256; ++b) table[k][b] = Apply(op, b << (8 * k));
  }
  return table;
}

uint32_t Shift(const ShiftTable& t, uint32_t crc) {
  return t[0][crc & 0xff] ^ t[1][(crc >> 8) & 0xff] ^ t[2][(crc >> 16) & 0xff] ^ t[3][crc >> 24];
}

__attribute__((target("sse4.2"))) uint64_t Word(uint64_t crc, const unsigned char* p) {
  uint64_t word;
  std::memcpy(&word, p, 8);
  return __builtin_ia32_crc32di(crc, word);
}

// Three blocks of `block` bytes at a time while they last.
__attribute__((target("sse4.2"))) uint64_t Interleaved(uint64_t crc, const unsigned char*& p, size_t& n, size_t block,
                                                       const ShiftTable& shift) {
  for (; n >= 3 * block; p += 3 * block, n -= 3 * block) {
    uint64_t crc1 = 0, crc2 = 0;
    for (size_t i = 0; i < block; i += 8) {
      crc = Word(crc, p + i);
      crc1 = Word(crc1, p + block + i);
      crc2 = Word(crc2, p + 2 * block + i);
    }
    crc = Shift(shift, static_cast<uint32_t>(crc)) ^ crc1;
    crc = Shift(shift, static_cast<uint32_t>(crc)) ^ crc2;
  }
  return crc;
}

__attribute__((target("sse4.2"))) uint32_t Hardware(const unsigned char* p, size_t n) {
  static const ShiftTable kLongShift = MakeShift(kLong);
  static const ShiftTable kShortShift = MakeShift(kShort);
  uint64_t crc = 0xffffffffu;
  crc = Interleaved(crc, p, n, kLong, kLongShift);
  crc = Interleaved(crc, p, n, kShort, kShortShift);
  for (; n >= 8; p += 8, n -= 8) crc = Word(crc, p);
  uint32_t c = static_cast<uint32_t>(crc);
  for (; n > 0; ++p, --n) c = __builtin_ia32_crc32qi(c, *p);
  return c ^ 0xffffffffu;
}

}  // namespace

uint32_t Crc32cPortable(const void* data, size_t size) {
  boost::crc_optimal<32, 0x1EDC6F41, 0xFFFFFFFF, 0xFFFFFFFF, true, true> crc;
  crc.process_bytes(data, size);
  return crc.checksum();
}

uint32_t Crc32c(const void* data, size_t size) {
  static const bool kHardware = __builtin_cpu_supports("sse4.2");
  return kHardware ? Hardware(static_cast<const unsigned char*>(data), size) : Crc32cPortable(data, size);
}

}  // namespace geostorm::wire
