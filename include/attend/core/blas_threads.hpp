// The number of threads the BLAS behind Armadillo uses for one product.
#pragma once
#include <cstddef>

namespace attend {

// Sets the number of BLAS threads (OpenBLAS); 0 leaves the default.
void set_blas_threads(std::size_t threads);

}  // namespace attend
