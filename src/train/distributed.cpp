#include "attend/train/distributed.hpp"

#include <cstdlib>
#include <initializer_list>
#include <string>

#include "attend/core/error.hpp"

namespace attend {

std::unique_ptr<Communicator> make_mpi_world();  // src/train/mpi/: MPI's world, or nullptr without MPI

void SingleProcess::abort(int status) { std::exit(status); }

namespace {

// The first of these environment variables that holds a positive number, else 1.
std::size_t count_from_environment(std::initializer_list<const char*> names) {
  for (const char* name : names)
    if (const char* v = std::getenv(name)) {
      char* end = nullptr;
      const unsigned long n = std::strtoul(v, &end, 10);
      if (end != v && n > 0) return n;
    }
  return 1;
}

}  // namespace

std::size_t launched_world_size() { return count_from_environment({"OMPI_COMM_WORLD_SIZE", "PMI_SIZE"}); }

std::size_t launched_local_size() {
  return count_from_environment({"OMPI_COMM_WORLD_LOCAL_SIZE", "MPI_LOCALNRANKS"});
}

std::unique_ptr<Communicator> join_launched_world() {
  const std::size_t launched = launched_world_size();
  if (launched <= 1) return std::make_unique<SingleProcess>();
  if (!mpi_built_in())
    throw Error("launched as one of " + std::to_string(launched) +
                " processes (mpirun?), but this attend was built without MPI (cmake -DATTEND_MPI=ON with "
                "libopenmpi-dev installed); run it without mpirun, or rebuild");
  return make_mpi_world();
}

}  // namespace attend
