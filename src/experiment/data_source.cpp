#include "attend/experiment/data_source.hpp"

#include <algorithm>
#include <filesystem>
#include <sstream>

#include "attend/core/error.hpp"
#include "attend/experiment/compare.hpp"

namespace attend {

namespace fs = std::filesystem;

DataSource task_source(const TaskOptions& task) {
  DataSource s;
  s.name = "task " + task.name;
  s.signature = {{"task", task.name}};
  for (const TaskField& f : task_fields()) s.signature[f.key] = f.get(task);
  if (task_has_alignment(task.name)) s.alignment = task.name;
  s.load = [task](std::uint64_t seed) {
    TaskOptions t = task;
    t.seed = seed;
    TaskData d = make_task(t);
    CompareData c;
    std::vector<std::vector<std::string>> src, tgt;
    for (const auto& e : d.train) src.push_back(e.src), tgt.push_back(e.tgt);
    c.src_vocab = Vocab::build(src);
    c.tgt_vocab = Vocab::build(tgt);
    c.train = std::move(d.train);
    c.valid = std::move(d.valid);
    c.test = std::move(d.test);
    return c;
  };
  return s;
}

DataSource corpus_source(const TextPipelineOptions& o) {
  const CorpusFiles& f = o.files;
  const std::pair<const char*, const std::string*> files[] = {
      {"train-src", &f.train_src}, {"train-tgt", &f.train_tgt}, {"valid-src", &f.valid_src},
      {"valid-tgt", &f.valid_tgt}, {"test-src", &f.test_src},   {"test-tgt", &f.test_tgt}};
  for (const auto& [option, path] : files)
    if (path->empty())
      throw Error(std::string("--") + option + " is required for a grid on files (the test pair is what BLEU is measured on)");

  DataSource s;
  // The text side, once for the whole grid.
  PreparedCorpus p = prepare_corpus(o, [&](const std::string& w) { s.warnings.push_back(w); });
  auto d = std::make_shared<CompareData>();
  d->train = std::move(p.tokens.train);
  d->valid = std::move(p.tokens.valid);
  d->test = std::move(p.tokens.test);
  for (std::size_t i = 0; i < p.train.size(); ++i) {
    const int words = static_cast<int>(count_words(p.train.src[i]));
    d->train_min_words = i == 0 ? words : std::min(d->train_min_words, words);
    d->train_max_words = std::max(d->train_max_words, words);
  }
  d->src_vocab = std::move(p.src_vocab);
  d->tgt_vocab = std::move(p.tgt_vocab);
  d->tokenizer = p.side.tokenizer;
  d->shared_vocab = o.shared_vocab;
  d->src_subword = p.side.src_subword;
  d->tgt_subword = p.side.tgt_subword;
  d->valid_ref_text = p.valid.tgt;
  d->test_src_text = p.test.src;
  d->test_ref_text = p.test.tgt;
  d->info = corpus_info(o);

  s.name = "corpus " + fs::path(f.train_src).filename().string() + " \u2192 " +
           fs::path(f.train_tgt).filename().string();
  s.corpus = true;
  s.signature = corpus_signature(o);

  std::ostringstream desc;
  desc << d->train.size() << " training pairs";
  if (p.filtered) desc << " (" << p.filtered << " longer than the length filter dropped)";
  desc << ", " << d->valid.size() << " validation, " << d->test.size() << " test; tokenizer " << o.tokenizer;
  if (d->tokenizer == Tokenizer::Spm)
    desc << " (" << o.subword.model_type << ", " << d->src_subword->size() << " pieces"
         << (o.shared_vocab ? ", shared" : "") << ")";
  desc << "; vocabularies " << d->src_vocab.size() << " \u2192 " << d->tgt_vocab.size()
       << (o.shared_vocab ? " (shared)" : "");
  s.description = desc.str();
  std::shared_ptr<const CompareData> shared = d;
  s.shared = shared;
  s.load = [shared](std::uint64_t) { return *shared; };
  return s;
}

std::vector<int> gold_alignment(const std::string& alignment, const std::vector<std::string>& src,
                                const std::vector<std::string>& out) {
  return task_gold_alignment(alignment, src, out);
}

}  // namespace attend
