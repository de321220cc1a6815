// Processes started by mpirun: the few collective operations that data-parallel training and a
// compare grid spread over ranks need, behind one interface so that the callers read the same with
// one process or many.
#pragma once
#include <cstddef>
#include <memory>
#include <string>
#include <vector>

namespace attend {

// The processes of one job (a training run, a compare grid). Every call is collective: all ranks
// make it, in the same order, with the same sizes (the strings' sizes excepted).
class Communicator {
 public:
  virtual ~Communicator() = default;
  virtual std::size_t rank() const = 0;
  virtual std::size_t size() const = 0;
  bool root() const { return rank() == 0; }
  // Element-wise sum over the ranks, in place: afterwards every rank holds the same sums.
  virtual void sum(float* data, std::size_t n) = 0;
  virtual void sum(double* data, std::size_t n) = 0;
  // Rank 0's values, in place on every rank.
  virtual void broadcast(double* data, std::size_t n) = 0;
  virtual void broadcast(std::string& text) = 0;
  // Every rank's `mine`, in rank order, on every rank.
  virtual std::vector<std::string> all_gather(const std::string& mine) = 0;
  // Ends every rank with this exit status: after one rank's error the others would otherwise wait
  // in their next collective call for ever.
  [[noreturn]] virtual void abort(int status) = 0;
};

// This process alone: rank 0 of 1; sums and broadcasts leave the data as it is.
class SingleProcess : public Communicator {
 public:
  std::size_t rank() const override { return 0; }
  std::size_t size() const override { return 1; }
  void sum(float*, std::size_t) override {}
  void sum(double*, std::size_t) override {}
  void broadcast(double*, std::size_t) override {}
  void broadcast(std::string&) override {}
  std::vector<std::string> all_gather(const std::string& mine) override { return {mine}; }
  [[noreturn]] void abort(int status) override;
};

// How many processes the launcher (mpirun, srun, mpiexec) started, from the environment it gives
// each one (OMPI_COMM_WORLD_SIZE, PMI_SIZE); 1 when not launched by one.
std::size_t launched_world_size();

// How many of those processes run on this machine (OMPI_COMM_WORLD_LOCAL_SIZE, MPI_LOCALNRANKS);
// 1 when the launcher does not say.
std::size_t launched_local_size();

// Whether this build has MPI (CMake option ATTEND_MPI).
bool mpi_built_in();

// The world this process was launched into: MPI's when launched by mpirun with more than one
// process, SingleProcess otherwise. MPI is initialised here and finalised when the returned object
// is destroyed, so it must outlive every collective call. Throws Error when launched with more
// than one process by a build without MPI (each would otherwise train alone and overwrite the
// others' checkpoints).
std::unique_ptr<Communicator> join_launched_world();

}  // namespace attend
