// The machine's single-precision GEMM rate through the BLAS attend uses (Armadillo → OpenBLAS):
// square products of a few sizes, 1 and 2 threads, best of several repetitions.
#include <attend/core/blas_threads.hpp>
#include <attend/train/trainer.hpp>
#include <armadillo>
#include <chrono>
#include <cstdio>

int main() {
  for (int threads : {1, 2}) {
    attend::set_blas_threads(threads);
    double best_overall = 0;
    for (int n : {256, 512, 1024, 2048}) {
      arma::fmat a(n, n, arma::fill::randu), b(n, n, arma::fill::randu), c(n, n);
      c = a * b;  // warm up
      const int reps = n <= 512 ? 50 : (n == 1024 ? 10 : 4);
      double best = 0;
      for (int r = 0; r < reps; ++r) {
        const auto start = std::chrono::steady_clock::now();
        c = a * b;
        const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
        best = std::max(best, 2.0 * n * n * n / s / 1e9);
      }
      best_overall = std::max(best_overall, best);
      std::printf("threads %d  n %4d  %7.1f GFLOP/s\n", threads, n, best);
    }
    std::printf("threads %d  peak   %7.1f GFLOP/s\n", threads, best_overall);
  }
}
