#include "attend/decode/translator.hpp"

#include "attend/core/error.hpp"
#include "attend/text/corpus.hpp"

namespace attend {

Translator Translator::load(const std::string& path) { return Translator(load_model(path)); }

Translator::Translator(ModelBundle bundle) : bundle_(std::move(bundle)) {
  if (!bundle_.model) throw Error("the translator needs a model (the bundle holds none)");
}

std::string Translator::prepare(const std::string& line) const {
  return apply_text_options(line, text_options_from_info(bundle_.info));
}

std::vector<int> Translator::encode(const std::string& prepared_line, const std::string& where) const {
  std::vector<int> ids = bundle_.src_vocab.encode(bundle_.tokenize_source(prepared_line));
  const ModelConfig& c = bundle_.model->config();
  // Location attention has one score row per source position, so longer sources have none.
  if (c.source_limit() && ids.size() > c.source_limit())
    throw Error(where + ": the source has " + std::to_string(ids.size()) +
                " tokens but this model's location attention handles at most --max-src-len " +
                std::to_string(c.max_src_len) + "; shorten the line or train with a larger --max-src-len");
  return ids;
}

TranslationHypothesis Translator::describe(const Hypothesis& h) const {
  TranslationHypothesis out;
  out.tokens = bundle_.tgt_vocab.decode(h.tokens);
  out.text = bundle_.detokenize_target(out.tokens);
  out.score = h.score;
  out.log_prob = h.log_prob;
  out.finished = h.finished;
  out.attention = h.attention;
  out.view_names = h.view_names;
  out.views = h.views;
  return out;
}

Translation Translator::assemble(std::string prepared, std::vector<Hypothesis> hyps) const {
  Translation t;
  t.source_tokens = bundle_.tokenize_source(prepared);
  t.source = std::move(prepared);
  for (const auto& h : hyps) t.nbest.push_back(describe(h));
  if (!t.nbest.empty()) {
    const TranslationHypothesis& best = t.nbest.front();
    t.text = best.text;
    t.tokens = best.tokens;
    t.score = best.score;
    t.log_prob = best.log_prob;
    t.finished = best.finished;
    t.attention = best.attention;
    t.view_names = best.view_names;
    t.views = best.views;
  }
  return t;
}

Translation Translator::translate(const std::string& line) const {
  SearchOptions opt;
  opt.keep_attention = true;
  return translate(line, opt);
}

Translation Translator::translate(const std::string& line, const SearchOptions& opt) const {
  return translate(std::vector<std::string>{line}, opt, 1).front();
}

std::vector<Translation> Translator::translate(const std::vector<std::string>& lines,
                                               const SearchOptions& opt, std::size_t batch_size) const {
  std::vector<std::string> prepared(lines.size());
  std::vector<std::vector<int>> sources(lines.size());
  for (std::size_t i = 0; i < lines.size(); ++i) {
    prepared[i] = prepare(lines[i]);
    sources[i] = encode(prepared[i], "input line " + std::to_string(i + 1));
  }
  auto hyps = decode(*bundle_.model, sources, opt, batch_size);
  std::vector<Translation> out;
  out.reserve(lines.size());
  for (std::size_t i = 0; i < lines.size(); ++i) out.push_back(assemble(std::move(prepared[i]), std::move(hyps[i])));
  return out;
}

}  // namespace attend
