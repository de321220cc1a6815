#include "attend/eval/metrics_json.hpp"

namespace attend {

nlohmann::json evaluation_json(const EvalResult& r) {
  return {{"exact_match", r.exact_match},
          {"token_accuracy", r.token_accuracy},
          {"perplexity", r.perplexity},
          {"examples", r.examples}};
}

nlohmann::json bleu_json(const BleuScore& s) {
  return {{"bleu", s.score},     {"bleu_line", s.format()}, {"precisions", s.precisions},
          {"bp", s.bp},          {"hyp_len", s.hyp_len},    {"ref_len", s.ref_len}};
}

}  // namespace attend
