// One rank of Gloo's ring all-reduce (Debian libgloo-dev, TCP transport): the peer
// that bench/wan/head_to_head.py runs in each DC's namespace. Ranks meet through a
// directory (Gloo's FileStore). Every iteration starts after a barrier, sums
// integer-valued floats (so the result is checked exactly), and prints
//   iteration <t> <seconds>
// where seconds is the slowest rank's all-reduce time.
//
//   gloo_allreduce --rank 0 --size 9 --address 10.77.0.1 --store /tmp/s --floats 2500000 --iterations 5
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <memory>
#include <vector>

#include "CLI/CLI.hpp"
#include "gloo/allreduce.h"
#include "gloo/barrier.h"
#include "gloo/math.h"
#include "gloo/rendezvous/context.h"
#include "gloo/rendezvous/file_store.h"
#include "gloo/transport/tcp/device.h"

int main(int argc, char** argv) {
  int rank = 0, size = 1, iterations = 5;
  size_t floats = 1 << 20;
  std::string address = "127.0.0.1", store_dir;
  CLI::App app{"Gloo ring all-reduce, one rank"};
  app.add_option("--rank", rank)->required();
  app.add_option("--size", size)->required();
  app.add_option("--address", address, "this rank's address");
  app.add_option("--store", store_dir, "rendezvous directory shared by the ranks")->required();
  app.add_option("--floats", floats, "elements per rank");
  app.add_option("--iterations", iterations);
  CLI11_PARSE(app, argc, argv);

  gloo::transport::tcp::attr attr;
  attr.hostname = address;
  auto device = gloo::transport::tcp::CreateDevice(attr);
  gloo::rendezvous::FileStore store(store_dir);
  auto context = std::make_shared<gloo::rendezvous::Context>(rank, size);
  context->setTimeout(std::chrono::minutes(5));
  context->connectFullMesh(store, device);

  std::vector<float> data(floats);
  std::vector<float> seconds(1);
  for (int t = 0; t < iterations; ++t) {
    for (size_t i = 0; i < floats; ++i) data[i] = static_cast<float>((rank + 1) * (1 + (i + t) % 7));
    gloo::BarrierOptions barrier(context);
    gloo::barrier(barrier);
    const auto start = std::chrono::steady_clock::now();
    gloo::AllreduceOptions opts(context);
    opts.setAlgorithm(gloo::AllreduceOptions::Algorithm::RING);
    opts.setOutput(data.data(), data.size());
    opts.setReduceFunction(static_cast<void (*)(void*, const void*, const void*, size_t)>(&gloo::sum<float>));
    gloo::allreduce(opts);
    seconds[0] = std::chrono::duration<float>(std::chrono::steady_clock::now() - start).count();
    // The slowest rank's time: an all-reduce of maxima over one float.
    gloo::AllreduceOptions slowest(context);
    slowest.setOutput(seconds.data(), 1);
    slowest.setReduceFunction(static_cast<void (*)(void*, const void*, const void*, size_t)>(&gloo::max<float>));
    gloo::allreduce(slowest);
    const float ranks_sum = static_cast<float>(size * (size + 1) / 2);
    for (size_t i = 0; i < floats; ++i) {
      if (data[i] != ranks_sum * static_cast<float>(1 + (i + t) % 7)) {
        std::fprintf(stderr, "rank %d iteration %d: element %zu is %f, not the exact sum\n", rank, t, i, data[i]);
        return 1;
      }
    }
    if (rank == 0) std::printf("iteration %d %.6f\n", t, seconds[0]);
    std::fflush(stdout);
  }
  return 0;
}
