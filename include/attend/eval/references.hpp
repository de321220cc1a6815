// The shape every corpus metric expects of its references: refs[k][i] is the k-th reference of
// hypothesis i.
#pragma once
#include <string>
#include <vector>

namespace attend {

// Throws Error, naming `metric`, when there are no reference streams or one's size differs from
// the hypotheses'.
void check_reference_streams(const std::string& metric, const std::vector<std::string>& hyps,
                             const std::vector<std::vector<std::string>>& refs);

}  // namespace attend
