// Text in, text out with an ensemble of trained models (docs/ensembles.md): the Translators of
// several model files decoded together by ensemble_decode(). `attend translate`, `eval` and
// `score` (--model more than once) and `attend serve` (--model NAME=A,B) share it:
//   attend::TranslatorEnsemble e = attend::TranslatorEnsemble::load({"a.safetensors", "b.safetensors"});
//   std::cout << e.translate({"hello world"}, attend::SearchOptions{}).front().text << "\n";
// The first member's text options, tokenizer and target vocabulary turn the output back into
// text; every member reads the source with its own text options and source vocabulary. An
// ensemble of one member is that Translator: translate() gives exactly Translator::translate's
// output (the ensemble options do not apply).
#pragma once
#include <cstddef>
#include <functional>
#include <string>
#include <vector>

#include "attend/decode/ensemble.hpp"
#include "attend/decode/translator.hpp"

namespace attend {

// "0.7,0.3" (as --ensemble-weights takes them) as numbers. Throws attend::Error naming an item
// that is not a finite number, or an empty item.
std::vector<double> parse_ensemble_weights(const std::string& text);

// "mean" | "logsum" (parse_ensemble_combine's names).
std::string ensemble_combine_name(EnsembleCombine combine);

class TranslatorEnsemble {
 public:
  // paths[i] is the file members[i] came from (it names the member in errors and reports).
  // Throws attend::Error for no member, a number of paths other than the members', a member
  // whose target vocabulary (the same tokens in the same order) or tokenizer differs from the
  // first's ("cannot ensemble 'A' and 'B': …", naming both files), weights under the mean
  // combination, or a number of weights other than the members'.
  TranslatorEnsemble(std::vector<Translator> members, std::vector<std::string> paths, EnsembleOptions options = {});
  // Loads each file (load_model; its errors name the file), then checks as above.
  static TranslatorEnsemble load(const std::vector<std::string>& paths, EnsembleOptions options = {});

  std::size_t size() const { return members_.size(); }
  bool single() const { return members_.size() == 1; }
  const std::vector<Translator>& members() const { return members_; }
  const Translator& first() const { return members_.front(); }
  const std::vector<std::string>& paths() const { return paths_; }
  const EnsembleOptions& options() const { return options_; }
  std::vector<const Seq2Seq<float>*> models() const;

  // sources(...)[m][i]: raw line i as member m's source ids (its own text options and source
  // vocabulary; Translator::encode's errors, `where(i)` naming the line).
  std::vector<std::vector<std::vector<int>>> sources(const std::vector<std::string>& lines,
                                                     const std::function<std::string(std::size_t)>& where) const;

  // The lines decoded together, batch_size sources per decoder batch; results in input order.
  // One member: first().translate(lines, opt, batch_size). More: ensemble_decode() with
  // options(), each result assembled by the first member (its source, source tokens and text).
  // With opt.keep_attention, `attention` is the first member's default view, and view_names /
  // views hold every member's default view as "model 1", "model 2", … (opt.keep_attention_views
  // is not supported by ensemble_decode and ignored). Throws attend::Error "input line N: …" for
  // a line a member cannot take.
  std::vector<Translation> translate(const std::vector<std::string>& lines, const SearchOptions& opt,
                                     std::size_t batch_size = 64) const;

 private:
  std::vector<Translator> members_;
  std::vector<std::string> paths_;
  EnsembleOptions options_;
};

}  // namespace attend
