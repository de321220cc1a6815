#include "attend/eval/references.hpp"

#include "attend/core/error.hpp"

namespace attend {

void check_reference_streams(const std::string& metric, const std::vector<std::string>& hyps,
                             const std::vector<std::vector<std::string>>& refs) {
  if (refs.empty()) throw Error(metric + " needs at least one reference");
  for (std::size_t k = 0; k < refs.size(); ++k)
    if (refs[k].size() != hyps.size())
      throw Error(metric + ": reference stream " + std::to_string(k + 1) + " has " +
                  std::to_string(refs[k].size()) + " lines but there are " +
                  std::to_string(hyps.size()) + " hypotheses");
}

}  // namespace attend
