// Text in, text out: a trained model file with its tokenizer and vocabularies, decoded through
// decode(). For embedding attend in another program:
//   attend::Translator t = attend::Translator::load("model.safetensors");
//   std::cout << t.translate("hello world").text << "\n";
#pragma once
#include <string>
#include <vector>

#include "attend/decode/decode.hpp"
#include "attend/io/checkpoint.hpp"

namespace attend {

struct TranslationHypothesis {
  std::string text;                      // detokenised
  std::vector<std::string> tokens;       // target tokens, without </s>
  double score = 0, log_prob = 0;        // as Hypothesis
  bool finished = false;
  // With SearchOptions::keep_attention: one row per output token (</s> included when finished),
  // one weight per source token.
  std::vector<std::vector<float>> attention;
  // With SearchOptions::keep_attention_views: Hypothesis::view_names and Hypothesis::views.
  std::vector<std::string> view_names;
  std::vector<std::vector<std::vector<float>>> views;
};

struct Translation {
  std::string source;                      // the input line after the model's text options
  std::vector<std::string> source_tokens;  // as the model's tokenizer split it
  std::vector<TranslationHypothesis> nbest;  // best first; empty for an empty input line
  // The best hypothesis ("" / 0 / empty for an empty input line).
  std::string text;
  std::vector<std::string> tokens;
  double score = 0, log_prob = 0;
  bool finished = false;
  std::vector<std::vector<float>> attention;
  std::vector<std::string> view_names;
  std::vector<std::vector<std::vector<float>>> views;
};

class Translator {
 public:
  // Throws attend::Error naming the file and the problem (load_model).
  static Translator load(const std::string& path);
  explicit Translator(ModelBundle bundle);

  // Greedy search with attention weights kept.
  Translation translate(const std::string& line) const;
  Translation translate(const std::string& line, const SearchOptions& opt) const;
  // Lines decoded together, batch_size sources per decoder batch; results in input order.
  std::vector<Translation> translate(const std::vector<std::string>& lines, const SearchOptions& opt,
                                     std::size_t batch_size = 64) const;

  // The pieces translate() uses, for callers that keep token ids (eval, scoring):
  // the text options the model was trained with (lower-casing, normalisation) applied to a line,
  std::string prepare(const std::string& line) const;
  // a prepared line as source ids; throws attend::Error "WHERE: …" when the model cannot take it
  // (longer than location attention's --max-src-len),
  std::vector<int> encode(const std::string& prepared_line, const std::string& where = "input") const;
  // and a hypothesis as text;
  TranslationHypothesis describe(const Hypothesis& h) const;
  // a prepared line's n-best list (best first) as the Translation translate() returns.
  Translation assemble(std::string prepared, std::vector<Hypothesis> hyps) const;

  const ModelBundle& bundle() const { return bundle_; }
  const Seq2Seq<float>& model() const { return *bundle_.model; }

 private:
  ModelBundle bundle_;
};

}  // namespace attend
