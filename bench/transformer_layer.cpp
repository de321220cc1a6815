// attend's self-attention stack alone: forward + backward of `layers` Transformer layers (float,
// one BLAS thread unless told) on the shapes bench/torch_transformer.py times for nn.TransformerEncoder.
// Usage: bench_transformer_layer H heads F layers S B [iters] [blas threads]; prints one JSON line
// with the median wall times and the process's CPU time per forward + backward.
#include <attend/core/blas_threads.hpp>
#include <attend/nn/transformer.hpp>
#include <attend/train/trainer.hpp>
#include <algorithm>
#include <chrono>
#include <ctime>
#include <cstdio>
#include <cstdlib>
#include <vector>

int main(int argc, char** argv) {
  if (argc < 7) {
    std::fprintf(stderr, "usage: bench_transformer_layer H heads F layers S B [iters] [threads]\n");
    return 2;
  }
  attend::TransformerShape shape;
  shape.width = std::strtoul(argv[1], nullptr, 10);
  shape.heads = std::strtoul(argv[2], nullptr, 10);
  shape.ffn = std::strtoul(argv[3], nullptr, 10);
  const std::size_t layers = std::strtoul(argv[4], nullptr, 10), S = std::strtoul(argv[5], nullptr, 10),
                    B = std::strtoul(argv[6], nullptr, 10);
  const int iters = argc > 7 ? std::atoi(argv[7]) : 20;
  const int threads = argc > 8 ? std::atoi(argv[8]) : 1;
  attend::set_blas_threads(threads);
  attend::ParameterRegistry<float> P;
  attend::TransformerStack<float> stack(P, "encoder.transformer.", shape, layers);
  P.allocate(1);
  stack.initialize();
  attend::Lengths len(B);
  for (std::size_t b = 0; b < B; ++b) len[b] = S - (7 * b) % (S / 2 + 1);  // as attend bench pads
  arma::fmat x(shape.width, S * B, arma::fill::randn), dy(shape.width, S * B, arma::fill::randn), dx;
  std::vector<arma::fmat> outs;
  std::vector<attend::TransformerLayerCache<float>> caches;
  std::vector<double> fwd, both;
  double cpu = 0;
  for (int i = 0; i < iters + 3; ++i) {
    const std::clock_t c0 = std::clock();
    const auto t0 = std::chrono::steady_clock::now();
    stack.forward(x, len, outs, caches, nullptr);
    const auto t1 = std::chrono::steady_clock::now();
    stack.backward(dy, caches, dx);
    const auto t2 = std::chrono::steady_clock::now();
    if (i < 3) continue;
    cpu += double(std::clock() - c0) / CLOCKS_PER_SEC;
    fwd.push_back(std::chrono::duration<double>(t1 - t0).count());
    both.push_back(std::chrono::duration<double>(t2 - t0).count());
  }
  std::sort(fwd.begin(), fwd.end());
  std::sort(both.begin(), both.end());
  std::printf("{\"impl\": \"attend\", \"H\": %zu, \"heads\": %zu, \"ffn\": %zu, \"layers\": %zu, \"S\": %zu, "
              "\"B\": %zu, \"threads\": %d, \"forward_ms\": %.3f, \"forward_backward_ms\": %.3f, "
              "\"cpu_ms\": %.3f}\n",
              shape.width, shape.heads, shape.ffn, layers, S, B, threads, 1000 * fwd[fwd.size() / 2],
              1000 * both[both.size() / 2], 1000 * cpu / iters);
}
