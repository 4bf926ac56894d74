// Payload: a chunk's float32 values, shared between the engine, the peer links
// and gRPC (which sends straight from it) without copies. Immutable once shared.
#ifndef GEOSTORM_WIRE_PAYLOAD_H_
#define GEOSTORM_WIRE_PAYLOAD_H_

#include <memory>
#include <utility>
#include <vector>

namespace geostorm::wire {

// Allocates without value-initialising: a chunk buffer is always written in full
// before it is read, and zero-filling it first would cost one more pass over it.
template <typename T>
struct NoInitAllocator : std::allocator<T> {
  template <typename U>
  struct rebind {
    using other = NoInitAllocator<U>;
  };
  using std::allocator<T>::allocator;
  template <typename U>
  void construct(U* p) noexcept {
    ::new (static_cast<void*>(p)) U;
  }
  template <typename U, typename... Args>
  void construct(U* p, Args&&... args) {
    ::new (static_cast<void*>(p)) U(std::forward<Args>(args)...);
  }
};

// A chunk's float32 values: `Floats v(n)` leaves them uninitialised.
using Floats = std::vector<float, NoInitAllocator<float>>;
using Payload = std::shared_ptr<const Floats>;

}  // namespace geostorm::wire

#endif  // GEOSTORM_WIRE_PAYLOAD_H_
