// geostorm::Client: the worker-side library. A worker hands its gradient to its
// local sidecar and gets back the sum over every worker of the job.
//
//   absl::StatusOr<geostorm::Client> c = geostorm::Client::Connect("unix:/run/geostorm/worker.sock");
//   std::vector<float> grad(c->model_floats());
//   absl::StatusOr<int> contributors = c->AllReduce(iteration, grad);  // grad now holds the sum
//
// or, with the model's gradient as named tensors (any order; their sizes add up
// to model_floats()):
//   c->AllReduce(iteration, {{"fc.weight", w}, {"fc.bias", b}});
//
// Divide by the contributor count for a mean and apply your own optimiser: these
// are all-reduce semantics, as with DDP. A Client is not thread-safe; use one per
// thread.
#ifndef GEOSTORM_CLIENT_CLIENT_H_
#define GEOSTORM_CLIENT_CLIENT_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/types/span.h"

namespace geostorm {

// One named tensor of a worker's gradient, summed in place.
struct Tensor {
  std::string name;
  absl::Span<float> values;
};

class Client {
 public:
  // Connects to a sidecar's worker API and reads the job's shape.
  [[nodiscard]] static absl::StatusOr<Client> Connect(const std::string& address);

  Client(Client&&) noexcept;
  Client& operator=(Client&&) noexcept;
  ~Client();

  int64_t model_floats() const;
  int64_t chunk_floats() const;
  int total_workers() const;
  const std::string& data_center() const;
  // How the job's workers synchronise: "bsp", "esync" or "nbsync" (the sidecar's
  // --sync-mode, from GeoTrainingJob spec.sync.mode).
  const std::string& sync_mode() const;
  // ESync: the local steps this DC takes before its next synchronisation, as the
  // controller last scheduled them (asks the sidecar; 1 before any schedule).
  // `step_seconds` > 0 reports this worker's compute per local step, from which
  // the controller schedules.
  [[nodiscard]] absl::StatusOr<int> LocalSteps(double step_seconds = 0);

  // Blocking all-reduce of one iteration: `gradient` (model_floats() values) is
  // replaced by the sum. Returns the number of contributors, or the error that
  // failed the iteration (a dead peer, a timeout, bad input).
  [[nodiscard]] absl::StatusOr<int> AllReduce(uint64_t iteration, absl::Span<float> gradient);

  // Several named tensors as one gradient. They are laid out by name, so every
  // worker may pass them in its own order; the names and sizes (fingerprinted
  // into each chunk) must be the same on every worker of the job, or the sidecars
  // refuse to sum them and the iteration fails with an error saying so. Errors
  // name a tensor that is duplicated or empty, and a total size that is not the
  // model's.
  [[nodiscard]] absl::StatusOr<int> AllReduce(uint64_t iteration, absl::Span<const Tensor> tensors);

  // Streaming form: `on_chunk(first_float, values, contributors)` runs for each
  // result chunk as it arrives, in arrival order, while the gradient is still
  // being sent.
  using ChunkCallback = std::function<void(int64_t first_float, absl::Span<const float> sum, int contributors)>;
  [[nodiscard]] absl::Status AllReduceStreaming(uint64_t iteration, absl::Span<const float> gradient,
                                                const ChunkCallback& on_chunk);

  // An all-reduce whose gradient is handed in piece by piece, as a backward pass
  // produces it: each chunk goes out as soon as every value in it is ready, while
  // later ones are still being computed.
  //
  //   std::unique_ptr<Client::Session> s = *client.Begin(t, gradient);
  //   s->Ready(first, count);   // gradient[first, first+count) is final (any thread)
  //   absl::StatusOr<int> n = s->Finish(gradient);  // waits; the sum replaces it
  //
  // `gradient` must outlive the session and not change where it was marked ready.
  // Finish fails, naming the first chunk, if some values were never marked ready;
  // on any failure `out` is left untouched. Ready is thread-safe; Finish is called once.
  class Session {
   public:
    virtual ~Session() = default;
    virtual void Ready(int64_t first, int64_t count) = 0;
    [[nodiscard]] virtual absl::StatusOr<int> Finish(absl::Span<float> out) = 0;
  };
  [[nodiscard]] absl::StatusOr<std::unique_ptr<Session>> Begin(uint64_t iteration, absl::Span<const float> gradient,
                                                               uint64_t layout = 0);

 private:
  struct Impl;
  explicit Client(std::unique_ptr<Impl> impl);
  absl::Status Stream(uint64_t iteration, absl::Span<const float> gradient, uint64_t layout,
                      const ChunkCallback& on_chunk);
  std::unique_ptr<Impl> impl_;
};

}  // namespace geostorm

#endif  // GEOSTORM_CLIENT_CLIENT_H_
