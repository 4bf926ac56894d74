// One rank of Open MPI's all-reduce: the peer that bench/wan/head_to_head.py starts
// with mpirun, one rank per DC namespace. Every iteration starts after a barrier,
// sums integer-valued floats in place (checked exactly) and rank 0 prints
//   iteration <t> <seconds>
// where seconds is the slowest rank's all-reduce time.
//
//   mpirun -np 9 ... mpi_allreduce --floats 2500000 --iterations 5
#include <mpi.h>

#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

int main(int argc, char** argv) {
  MPI_Init(&argc, &argv);
  int rank = 0, size = 1;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  MPI_Comm_size(MPI_COMM_WORLD, &size);
  size_t floats = 1 << 20;
  int iterations = 5;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string flag = argv[i];
    if (flag == "--floats") floats = std::strtoull(argv[i + 1], nullptr, 10);
    if (flag == "--iterations") iterations = std::atoi(argv[i + 1]);
  }
  std::vector<float> data(floats);
  int status = 0;
  for (int t = 0; t < iterations && status == 0; ++t) {
    for (size_t i = 0; i < floats; ++i) data[i] = static_cast<float>((rank + 1) * (1 + (i + t) % 7));
    MPI_Barrier(MPI_COMM_WORLD);
    const double start = MPI_Wtime();
    MPI_Allreduce(MPI_IN_PLACE, data.data(), static_cast<int>(floats), MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD);
    double seconds = MPI_Wtime() - start, slowest = 0;
    MPI_Reduce(&seconds, &slowest, 1, MPI_DOUBLE, MPI_MAX, 0, MPI_COMM_WORLD);
    const float ranks_sum = static_cast<float>(size * (size + 1) / 2);
    for (size_t i = 0; i < floats; ++i) {
      if (data[i] != ranks_sum * static_cast<float>(1 + (i + t) % 7)) {
        std::fprintf(stderr, "rank %d iteration %d: element %zu is %f, not the exact sum\n", rank, t, i, data[i]);
        status = 1;
        break;
      }
    }
    if (rank == 0 && status == 0) std::printf("iteration %d %.6f\n", t, slowest);
    std::fflush(stdout);
  }
  MPI_Finalize();
  return status;
}
