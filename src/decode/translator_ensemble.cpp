#include "attend/decode/translator_ensemble.hpp"

#include <cmath>
#include <sstream>

#include "attend/core/error.hpp"

namespace attend {

std::vector<double> parse_ensemble_weights(const std::string& text) {
  std::vector<double> weights;
  std::string item;
  std::stringstream in(text);
  while (std::getline(in, item, ',')) {
    try {
      std::size_t used = 0;
      const double w = std::stod(item, &used);
      if (used != item.size() || !std::isfinite(w)) throw std::invalid_argument(item);
      weights.push_back(w);
    } catch (const std::exception&) {
      throw Error("--ensemble-weights: '" + item + "' is not a number");
    }
  }
  if (!text.empty() && text.back() == ',') throw Error("--ensemble-weights: '' is not a number");
  return weights;
}

std::string ensemble_combine_name(EnsembleCombine combine) {
  return combine == EnsembleCombine::Mean ? "mean" : "logsum";
}

TranslatorEnsemble::TranslatorEnsemble(std::vector<Translator> members, std::vector<std::string> paths,
                                       EnsembleOptions options)
    : members_(std::move(members)), paths_(std::move(paths)), options_(std::move(options)) {
  if (members_.empty()) throw Error("an ensemble needs at least one model");
  if (paths_.size() != members_.size())
    throw Error("an ensemble of " + std::to_string(members_.size()) + " models needs as many file names, not " +
                std::to_string(paths_.size()));
  for (std::size_t i = 1; i < members_.size(); ++i) {
    const ModelBundle &a = members_[0].bundle(), &b = members_[i].bundle();
    if (a.tgt_vocab.tokens() != b.tgt_vocab.tokens())
      throw Error("cannot ensemble '" + paths_[0] + "' and '" + paths_[i] +
                  "': the models must share the target vocabulary (" + std::to_string(a.tgt_vocab.size()) +
                  " against " + std::to_string(b.tgt_vocab.size()) + " tokens" +
                  (a.tgt_vocab.size() == b.tgt_vocab.size() ? ", in a different order or with other tokens" : "") + ")");
    if (a.tokenizer != b.tokenizer)
      throw Error("cannot ensemble '" + paths_[0] + "' and '" + paths_[i] + "': their tokenizers differ (" +
                  tokenizer_name(a.tokenizer) + " against " + tokenizer_name(b.tokenizer) + ")");
  }
  if (!options_.weights.empty() && options_.combine != EnsembleCombine::LogSum)
    throw Error("ensemble weights apply to the logsum combination (--ensemble-combine logsum); mean takes none");
  if (!options_.weights.empty() && options_.weights.size() != members_.size())
    throw Error("--ensemble-weights: " + std::to_string(options_.weights.size()) + " weights for " +
                std::to_string(members_.size()) + " models");
}

TranslatorEnsemble TranslatorEnsemble::load(const std::vector<std::string>& paths, EnsembleOptions options) {
  std::vector<Translator> members;
  members.reserve(paths.size());
  for (const auto& path : paths) members.push_back(Translator::load(path));
  return TranslatorEnsemble(std::move(members), paths, std::move(options));
}

std::vector<const Seq2Seq<float>*> TranslatorEnsemble::models() const {
  std::vector<const Seq2Seq<float>*> out;
  out.reserve(members_.size());
  for (const auto& t : members_) out.push_back(&t.model());
  return out;
}

std::vector<std::vector<std::vector<int>>> TranslatorEnsemble::sources(
    const std::vector<std::string>& lines, const std::function<std::string(std::size_t)>& where) const {
  std::vector<std::vector<std::vector<int>>> out(members_.size(), std::vector<std::vector<int>>(lines.size()));
  for (std::size_t m = 0; m < members_.size(); ++m)
    for (std::size_t i = 0; i < lines.size(); ++i)
      out[m][i] = members_[m].encode(members_[m].prepare(lines[i]), where(i));
  return out;
}

std::vector<Translation> TranslatorEnsemble::translate(const std::vector<std::string>& lines, const SearchOptions& opt,
                                                       std::size_t batch_size) const {
  if (single()) return first().translate(lines, opt, batch_size);
  const auto where = [](std::size_t i) { return "input line " + std::to_string(i + 1); };
  auto hyps = ensemble_decode(models(), sources(lines, where), opt, options_, batch_size);
  std::vector<Translation> out;
  out.reserve(lines.size());
  for (std::size_t i = 0; i < lines.size(); ++i) out.push_back(first().assemble(first().prepare(lines[i]), std::move(hyps[i])));
  return out;
}

}  // namespace attend
