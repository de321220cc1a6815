// MPI_COMM_WORLD as a Communicator. Errors stay MPI's default (MPI_ERRORS_ARE_FATAL): a failed call
// or a rank that dies ends the whole job through mpirun rather than leaving the others waiting.
// The C interface only: mpi.h would otherwise bring Open MPI's deprecated C++ bindings.
#define OMPI_SKIP_MPICXX 1
#define MPICH_SKIP_MPICXX 1
#include <mpi.h>

#include <chrono>
#include <climits>
#include <cstdlib>
#include <string>
#include <thread>
#include <vector>

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

// A non-blocking collective, tested every 2 ms: a rank that waits for the others (rank 0 checking
// a grid's directory, a rank whose grid runs are done while another still trains) sleeps instead
// of spinning on a core the training ranks need.
void wait_sleeping(MPI_Request& request) {
  for (int done = 0;;) {
    MPI_Test(&request, &done, MPI_STATUS_IGNORE);
    if (done) return;
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
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
  void broadcast(std::string& text) override {
    unsigned long long n = text.size();
    MPI_Request request;
    MPI_Ibcast(&n, 1, MPI_UNSIGNED_LONG_LONG, 0, MPI_COMM_WORLD, &request);
    wait_sleeping(request);
    text.resize(n);
    in_pieces(text.data(), n, [](char* d, int c) {
      MPI_Request piece;
      MPI_Ibcast(d, c, MPI_CHAR, 0, MPI_COMM_WORLD, &piece);
      wait_sleeping(piece);
    });
  }
  std::vector<std::string> all_gather(const std::string& mine) override {
    long long n = static_cast<long long>(mine.size());
    std::vector<long long> sizes(size_);
    MPI_Request request;
    MPI_Iallgather(&n, 1, MPI_LONG_LONG, sizes.data(), 1, MPI_LONG_LONG, MPI_COMM_WORLD, &request);
    wait_sleeping(request);
    // Every rank now knows every size, so all of them take this branch or none does.
    std::vector<int> counts(size_), offsets(size_);
    long long total = 0;
    for (std::size_t r = 0; r < size_; ++r) {
      counts[r] = static_cast<int>(sizes[r]);
      offsets[r] = static_cast<int>(total);
      total += sizes[r];
      if (total > INT_MAX) throw Error("the ranks' messages exceed 2 GiB together (MPI counts are ints)");
    }
    std::string all(static_cast<std::size_t>(total), '\0');
    MPI_Iallgatherv(mine.data(), static_cast<int>(n), MPI_CHAR, all.data(), counts.data(), offsets.data(), MPI_CHAR,
                    MPI_COMM_WORLD, &request);
    wait_sleeping(request);
    std::vector<std::string> out(size_);
    for (std::size_t r = 0; r < size_; ++r) out[r] = all.substr(std::size_t(offsets[r]), std::size_t(counts[r]));
    return out;
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
