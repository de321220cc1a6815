// Encoded sentence pairs and padded, column-per-example batches.
#pragma once
#include <armadillo>
#include <cstddef>
#include <random>
#include <vector>

#include "attend/text/batch.hpp"
#include "attend/text/tasks.hpp"
#include "attend/text/vocab.hpp"

namespace attend {

// src without specials; tgt without </s> (batching adds <s> and </s>).
struct EncodedPair {
  std::vector<int> src, tgt;
};

std::vector<EncodedPair> encode_examples(const std::vector<Example>& examples, const Vocab& src,
                                         const Vocab& tgt);


// Throws Error for no indices or an empty source.
Batch make_batch(const std::vector<EncodedPair>& data, const std::vector<std::size_t>& indices);

// Shuffled, length-bucketed batches: shuffle, sort chunks of about 50 batches by source length,
// cut into batches, shuffle the batch order. Deterministic given the rng state.
std::vector<std::vector<std::size_t>> bucketed_batches(const std::vector<EncodedPair>& data,
                                                       std::size_t batch_size, std::mt19937_64& rng);

// Consecutive batches in order (for evaluation); the last may be smaller.
std::vector<std::vector<std::size_t>> sequential_batches(std::size_t n, std::size_t batch_size);

}  // namespace attend
