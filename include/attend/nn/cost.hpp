// The GEMM FLOP model of a training step (`attend bench`; docs/performance.md writes the terms
// out): 2·m·n·k per product, three products per weight (forward, input gradient, weight gradient).
#pragma once
#include <cstddef>

namespace attend {

struct ModelConfig;

// GEMM FLOPs of a strategy's own products in one training step (forward, input gradient and
// weight gradient: three products of 2·m·n·k each), per example: per_source_position counts once
// per memory column (key projections, once per batch), per_target_step once per decoder step.
struct GemmCost {
  double per_source_position = 0, per_target_step = 0;
};

// GEMM FLOPs of one training step (forward and backward) of a batch of B examples padded to S
// source and T target steps, counted on the padded shapes that are computed. The attention
// strategy counts its own products (AttentionTraits::cost); G: the cell's gates.
double training_step_flops(const ModelConfig& config, std::size_t B, std::size_t S, std::size_t T,
                           std::size_t G);

}  // namespace attend
