// The metrics files' shared pieces: an evaluation and a BLEU score as JSON, written the same way by
// `attend train`, `attend eval` and `attend translate`.
#pragma once
#include <nlohmann/json.hpp>

#include "attend/eval/bleu.hpp"
#include "attend/eval/evaluate.hpp"

namespace attend {

// {"exact_match", "token_accuracy", "perplexity", "examples"}.
nlohmann::json evaluation_json(const EvalResult& result);
// {"bleu", "bleu_line", "precisions", "bp", "hyp_len", "ref_len"}.
nlohmann::json bleu_json(const BleuScore& score);

}  // namespace attend
