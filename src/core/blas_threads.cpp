#include "attend/core/blas_threads.hpp"

#include <dlfcn.h>

namespace attend {

void set_blas_threads(std::size_t threads) {
  if (threads == 0) return;
  // Looked up at run time: the BLAS behind Armadillo is chosen by Debian's alternatives.
  using SetThreads = void (*)(int);
  if (auto f = reinterpret_cast<SetThreads>(dlsym(RTLD_DEFAULT, "openblas_set_num_threads")))
    f(static_cast<int>(threads));
}

}  // namespace attend
