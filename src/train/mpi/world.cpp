// MPI_COMM_WORLD as a Communicator. Errors stay MPI's default (MPI_ERRORS_ARE_FATAL): a failed call
// or a rank that dies ends the whole job through mpirun rather than leaving the others waiting.
// The C interface only: mpi.h would otherwise bring Open MPI's deprecated C++ bindings.
#define OMPI_SKIP_MPICXX 1
#define MPICH_SKIP_MPICXX 1
#include <mpi.h>

#include <climits>
#include <cstdlib>
#include <string>

#include "attend/core/error.hpp"
#include "attend/train/distributed.hpp"

namespace attend {

namespace {

// MPI counts are ints: a vector longer than INT_MAX goes in pieces.
template <typename T, typename Call>
void in_pieces(T* data, std::size_t n, Call call) {
  while (n > 0) {
    const int count = n > std::size_t(INT_MAX) ? INT_MAX : int(n);
    call(data, count);
    data += count;
    n -= std::size_t(count);
  }
}

class MpiWorld : public Communicator {
 public:
  MpiWorld() {
    int provided = 0;
    // Only the main thread calls MPI; the shard threads compute between the calls.
    MPI_Init_thread(nullptr, nullptr, MPI_THREAD_FUNNELED, &provided);
    int r = 0, s = 1;
    MPI_Comm_rank(MPI_COMM_WORLD, &r);
    MPI_Comm_size(MPI_COMM_WORLD, &s);
    rank_ = std::size_t(r);
    size_ = std::size_t(s);
  }
  ~MpiWorld() override { MPI_Finalize(); }
  std::size_t rank() const override { return rank_; }
  std::size_t size() const override { return size_; }
  void sum(float* data, std::size_t n) override {
    in_pieces(data, n, [](float* d, int c) { MPI_Allreduce(MPI_IN_PLACE, d, c, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD); });
  }
  void sum(double* data, std::size_t n) override {
    in_pieces(data, n, [](double* d, int c) { MPI_Allreduce(MPI_IN_PLACE, d, c, MPI_DOUBLE, MPI_SUM, MPI_COMM_WORLD); });
  }
  void broadcast(double* data, std::size_t n) override {
    in_pieces(data, n, [](double* d, int c) { MPI_Bcast(d, c, MPI_DOUBLE, 0, MPI_COMM_WORLD); });
  }
  [[noreturn]] void abort(int status) override {
    MPI_Abort(MPI_COMM_WORLD, status);
    std::_Exit(status);
  }

 private:
  std::size_t rank_ = 0, size_ = 1;
};

}  // namespace

bool mpi_built_in() { return true; }
std::unique_ptr<Communicator> make_mpi_world() { return std::make_unique<MpiWorld>(); }

}  // namespace attend
