// Numbers that tell attention heads apart, for the explorer's table (docs/serve.md, "Head
// summaries"): how spread out a view's weights are and how closely they follow the diagonal.
#pragma once
#include <cstddef>
#include <string>
#include <vector>

namespace attend {

// One view's weights: rows[i][j] = the weight query (output token, or source position for the
// encoder's self-attention) i gives key (source position) j; each row sums to 1.
struct AttentionSummary {
  std::size_t rows = 0, columns = 0;  // T queries, S keys
  // The mean over the rows of the row's entropy -Σ_j w ln w (nats, 0 ln 0 = 0).
  double entropy = 0;
  // ln S: the entropy of a uniform row, the most a row can have.
  double uniform_entropy = 0;
  // The diagonal position of row i is d_i = i·S/T (0-based; d_i = i for a square map). The mean
  // over the rows of the weight on the keys j with |j - d_i| <= 1.
  double diagonal_mass = 0;
  // The share of rows whose largest weight (the first, on ties) is at a key j with |j - d_i| <= 1.
  double diagonal_argmax = 0;
};

// All zero but `columns` for no rows; uniform_entropy 0 for no columns.
AttentionSummary summarize_attention(const std::vector<std::vector<float>>& rows);

// The mean over the views whose name's layer part (what precedes " head ") is the last view's,
// i.e. over the last layer's heads when the views come layer by layer as "… layer L head H".
// Empty for no views.
std::vector<std::vector<float>> mean_of_last_layer(const std::vector<std::string>& names,
                                                   const std::vector<std::vector<std::vector<float>>>& views);

}  // namespace attend
