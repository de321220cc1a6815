// Diagnostics of a training step (TrainOptions::diagnostics_every): the parameter groups the
// gradient norms are reported by, and how a DiagnosticsPoint is made from one step's figures.
#pragma once
#include <map>
#include <string>

#include "attend/train/trainer.hpp"

namespace attend {

// The group of a registry entry, from its checkpoint name: "embedding" (encoder.embedding.*,
// decoder.embedding.*), "attention" (decoder.attention.*), "output" (decoder.out.*), "encoder"
// (the rest of encoder.*) and "decoder" (the rest: decoder.rnn.*, decoder.W_c, bridge.*).
std::string parameter_group(const std::string& name);

// L2 norm of the gradient of each group present in the registry; the squares add up to the
// squared global norm.
template <typename T>
std::map<std::string, double> gradient_group_norms(const ParameterRegistry<T>& params);

// The point for `step` from a forward pass's statistics and the gradient norms.
DiagnosticsPoint make_diagnostics_point(std::size_t step, const ForwardStatistics& stats,
                                        std::map<std::string, double> grad_norm);

}  // namespace attend
