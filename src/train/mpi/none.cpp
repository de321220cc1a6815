// The build without MPI (ATTEND_MPI=OFF or MPI not found).
#include "attend/train/distributed.hpp"

namespace attend {

bool mpi_built_in() { return false; }
std::unique_ptr<Communicator> make_mpi_world() { return nullptr; }

}  // namespace attend
