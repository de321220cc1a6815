#include "run_one.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>

#include "attend/decode/search.hpp"
#include "attend/decode/translate_encoded.hpp"
#include "attend/eval/greedy_bleu.hpp"
#include "attend/eval/bleu.hpp"
#include "attend/eval/chrf.hpp"
#include "attend/experiment/compare.hpp"
#include "attend/experiment/run.hpp"
#include "attend/io/checkpoint.hpp"
#include "attend/core/atomic_file.hpp"
#include "rate_name.hpp"
#include "run_record.hpp"

namespace attend {

namespace fs = std::filesystem;

namespace {

// Test sentences whose attention the report shows: spread over the source lengths of the
// candidates.
std::vector<std::size_t> spread_by_length(const std::vector<Example>& test, std::vector<std::size_t> order,
                                          std::size_t k) {
  std::stable_sort(order.begin(), order.end(),
                   [&](std::size_t a, std::size_t b) { return test[a].src.size() < test[b].src.size(); });
  std::vector<std::size_t> picks;
  if (order.empty() || k == 0) return picks;
  for (std::size_t i = 0; i < k; ++i) {
    const std::size_t pos = k == 1 ? order.size() / 2 : (order.size() - 1) * (2 * i + 1) / (2 * k);
    if (std::find(picks.begin(), picks.end(), order[pos]) == picks.end()) picks.push_back(order[pos]);
  }
  return picks;
}

std::vector<std::size_t> sample_indices(const std::vector<Example>& test, std::size_t k) {
  std::vector<std::size_t> order(test.size());
  for (std::size_t i = 0; i < order.size(); ++i) order[i] = i;
  return spread_by_length(test, order, k);
}

// A corpus: heatmaps stay legible up to about 30 tokens a side, so the picks are spread over the
// sentences of 3-30 tokens (all sentences when there are none).
std::vector<std::size_t> corpus_sample_indices(const std::vector<Example>& test, std::size_t k) {
  std::vector<std::size_t> order;
  for (std::size_t i = 0; i < test.size(); ++i)
    if (test[i].src.size() >= 3 && test[i].src.size() <= 30 && test[i].tgt.size() <= 30) order.push_back(i);
  if (order.empty()) return sample_indices(test, k);
  return spread_by_length(test, order, k);
}

void alignment_statistics(RunResult& r, const std::vector<Example>& test,
                          const std::vector<Hypothesis>& hyps, const std::string& alignment,
                          std::size_t max_sentences) {
  double entropy = 0, uniform = 0, gold = 0;
  std::size_t steps = 0, gold_steps = 0, positions = 0, zeros = 0;
  for (std::size_t i = 0; i < test.size() && i < max_sentences && i < hyps.size(); ++i) {
    const auto& att = hyps[i].attention;
    if (att.empty()) continue;
    const auto g = gold_alignment(alignment, test[i].src, test[i].tgt);
    for (std::size_t t = 0; t < att.size(); ++t) {
      double h = 0;
      for (float a : att[t])
        if (a > 0) h -= double(a) * std::log(double(a));
        else ++zeros;
      positions += att[t].size();
      entropy += h;
      uniform += std::log(double(std::max<std::size_t>(1, att[t].size())));
      ++steps;
      if (t < g.size() && g[t] >= 0 && static_cast<std::size_t>(g[t]) < att[t].size()) {
        gold += att[t][g[t]];
        ++gold_steps;
      }
    }
  }
  if (steps) {
    r.attention_entropy = entropy / steps;
    r.uniform_entropy = uniform / steps;
    r.attention_zero_share = positions ? double(zeros) / double(positions) : 0.0;
    r.attention_support = double(positions - zeros) / double(steps);
  }
  if (gold_steps) r.gold_mass = gold / gold_steps;
}

std::string format_line(const RunSpec& spec, const TrainProgress& p) {
  char buf[200];
  std::snprintf(buf, sizeof buf, "%s step %zu/%zu loss %.4f %.0f tok/s elapsed %.1fs", spec.name().c_str(),
                p.step, p.total_steps, p.loss, p.tokens_per_s, p.elapsed_s);
  return buf;
}

// The test figures of a corpus run: detokenised BLEU (greedy or beam) with per-sentence
// statistics, token accuracy and perplexity of the references (teacher-forced), attention
// entropy and a few attention samples with their text.
void score_corpus(RunResult& r, const ModelBundle& b, const CompareData& data,
                  const std::vector<EncodedPair>& test_data, const CompareOptions& options, std::ostream& log) {
  SearchOptions search;
  search.keep_attention = true;
  EvalResult e = evaluate(*b.model, test_data, 128, true, search);
  search = options.test_search();
  search.keep_attention = true;
  std::vector<Hypothesis> hyps = options.beam > 1 ? best_hypotheses(*b.model, test_data, search) : std::move(e.hypotheses);
  r.token_accuracy = e.token_accuracy;
  r.perplexity = e.perplexity;
  std::vector<std::string> texts(hyps.size());
  BleuStats total;
  r.test_bleu.resize(hyps.size());
  r.test_correct.resize(hyps.size());
  std::size_t exact = 0;
  for (std::size_t i = 0; i < hyps.size(); ++i) {
    texts[i] = output_text(b, hyps[i]);
    r.test_bleu[i] = bleu_stats(texts[i], data.test_ref_text[i], options.bleu_lowercase);
    total += r.test_bleu[i];
    r.test_correct[i] = hyps[i].finished && hyps[i].tokens == test_data[i].tgt;
    exact += r.test_correct[i];
  }
  r.exact_match = hyps.empty() ? 0 : double(exact) / hyps.size();
  r.bleu = bleu_score(total);
  r.bleu_line = bleu_from_counts(total.counts, total.totals, total.hyp_len, total.ref_len).format();
  {
    const ChrfOptions chrf;  // sacreBLEU's default: case-sensitive, also under --lc (as `attend bleu -lc`)
    ChrfStatistics sum;
    r.test_chrf.resize(hyps.size());
    for (std::size_t i = 0; i < hyps.size(); ++i) {
      r.test_chrf[i] = corpus_chrf({texts[i]}, {{data.test_ref_text[i]}}, chrf).statistics;
      if (sum.empty()) sum.assign(r.test_chrf[i].size(), {0, 0, 0});
      for (std::size_t o = 0; o < sum.size(); ++o)
        for (std::size_t c = 0; c < 3; ++c) sum[o][c] += r.test_chrf[i][o][c];
    }
    if (!sum.empty()) r.chrf = chrf_from_statistics(sum, chrf);
  }
  alignment_statistics(r, data.test, hyps, "", options.alignment_sentences);
  for (std::size_t i : corpus_sample_indices(data.test, options.heatmap_sentences)) {
    AttentionSample s;
    s.index = i;
    s.src = data.test[i].src;
    s.ref = data.test[i].tgt;
    s.out = b.tgt_vocab.decode(hyps[i].tokens);
    s.weights = hyps[i].attention;
    s.correct = r.test_correct[i] != 0;
    s.src_text = data.test_src_text[i];
    s.ref_text = data.test_ref_text[i];
    s.out_text = texts[i];
    r.samples.push_back(std::move(s));
  }
  r.status = std::isfinite(e.perplexity) ? RunStatus::Ok : RunStatus::Diverged;
  char buf[160];
  std::snprintf(buf, sizeof buf, "test (%zu pairs, %s%s): ", hyps.size(),
                options.beam > 1 ? ("beam " + std::to_string(options.beam)).c_str() : "greedy",
                options.bleu_lowercase ? ", lower-cased BLEU" : "");
  log << buf << r.bleu_line;
  if (std::isfinite(r.chrf)) {
    std::snprintf(buf, sizeof buf, "; chrF2 %.2f", r.chrf);
    log << buf;
  }
  std::snprintf(buf, sizeof buf, "; token accuracy %.4f perplexity %.4f", r.token_accuracy, r.perplexity);
  log << buf << "\n";
}

}  // namespace

void train_run(RunResult& r, const CompareOptions& options, const DataSource& source, const CompareData& data,
               std::ostream& log, const std::function<void(const TrainProgress&)>& progress) {
  const RunSpec& spec = r.spec;
  ModelBundle b;
  b.src_vocab = data.src_vocab;
  b.tgt_vocab = data.tgt_vocab;
  b.tokenizer = data.tokenizer;
  b.src_subword = data.src_subword;
  b.tgt_subword = data.tgt_subword;
  b.model = build_model(options, spec.variant, spec.seed, data);
  const ModelConfig& c = b.model->config();
  r.parameters = b.model->params().size();
  r.train_min_len = r.train_max_len = 0;
  for (const auto& e : data.train) {
    const int n = static_cast<int>(e.src.size());
    r.train_min_len = r.train_min_len == 0 ? n : std::min(r.train_min_len, n);
    r.train_max_len = std::max(r.train_max_len, n);
  }
  if (source.corpus) r.train_min_len = data.train_min_words, r.train_max_len = data.train_max_words;
  log << "run " << spec.name() << ": " << c.cell << " + " << c.attention << " ("
      << c.decoder_style() << " decoder), seed " << spec.seed << ", " << r.parameters
      << " parameters; " << data.train.size() << " train, " << data.valid.size() << " valid, "
      << data.test.size() << " test examples\n";

  const VariantTraining variant = variant_training(options, spec.variant);
  r.training = variant.settings;
  TrainOptions o = variant.train;
  o.seed = spec.seed;
  o.ranks = nullptr;  // a run trains in one process, as in a local grid
  if (spec.lr > 0) o.optimizer.lr = spec.lr;
  log << "learning rate " << o.optimizer.lr;
  if (o.lr_schedule.warmup) log << ", warmup " << o.lr_schedule.warmup << " steps";
  if (o.lr_schedule.schedule != LrSchedule::Constant) log << ", " << to_string(o.lr_schedule.schedule);
  log << "; budget " << budget_text(options) << "\n";
  for (const auto& rule : variant.rules) log << "--for '" << rule << "' applies\n";
  const auto train_data = encode_examples(data.train, b.src_vocab, b.tgt_vocab);
  const auto valid_data = encode_examples(data.valid, b.src_vocab, b.tgt_vocab);
  const auto test_data = encode_examples(data.test, b.src_vocab, b.tgt_vocab);
  std::size_t last_logged = 0;
  auto on_progress = [&](const TrainProgress& p) {
    if (p.step - last_logged >= 100 || p.step == p.total_steps || last_logged == 0) {
      log << format_line(spec, p) << std::endl;  // flushed, so train.log can be followed while the run trains
      last_logged = p.step;
    }
    progress(p);
  };
  r.corpus = source.corpus;
  if (source.corpus) {
    // As `attend train` on files: greedy BLEU on the validation lines decides the kept parameters.
    if (options.bleu_every) o.eval_every = options.bleu_every;
    o.max_seconds = options.time_limit;
    o.validate = [&](std::size_t step, double valid_loss) {
      const double bleu = greedy_bleu(b, valid_data, data.valid_ref_text, options.bleu_lowercase);
      r.valid_bleu.push_back({step, bleu});
      char buf[160];
      std::snprintf(buf, sizeof buf, "validation at step %zu: loss %.4f greedy BLEU %.2f", step, valid_loss, bleu);
      log << buf << std::endl;
      return bleu;
    };
  }
  o.diagnostics_every = options.diagnostics_every;
  if (o.diagnostics_every == 0)
    o.diagnostics_every = o.eval_every ? o.eval_every : std::max<std::size_t>(1, o.steps / 50);
  TrainResult t;
  std::string diverged;  // TrainingDiverged's message: which step and batch, what was not finite
  try {
    t = train(*b.model, train_data, valid_data, o, on_progress);
  } catch (const TrainingDiverged& e) {
    diverged = e.what();
    t.steps = e.step() - 1;
  }
  r.time_limit_reached = t.time_limit_reached;
  r.steps = t.steps;
  r.train_tokens = t.tokens;
  r.seconds = t.seconds;
  r.tokens_per_s = t.seconds > 0 ? t.tokens / t.seconds : 0;
  r.train_loss = t.train_loss;
  r.valid_loss = t.valid_loss;
  r.best_step = t.best_step;
  r.best_seconds = t.best_seconds;
  r.stopped_early = t.stopped_early;
  r.diagnostics = t.diagnostics;
  r.test_src_len.clear();
  for (std::size_t i = 0; i < data.test.size(); ++i)
    r.test_src_len.push_back(static_cast<int>(source.corpus ? count_words(data.test_src_text[i])
                                                              : data.test[i].src.size()));

  if (!diverged.empty()) {
    r.status = RunStatus::Diverged;
    r.exact_match = r.token_accuracy = r.perplexity = NAN;
    log << "diverged: " << diverged << "\n";
  } else if (source.corpus) {
    score_corpus(r, b, data, test_data, options, log);
  } else {
    SearchOptions search;
    search.keep_attention = true;
    const EvalResult e = evaluate(*b.model, test_data, 128, true, search);
    r.exact_match = e.exact_match;
    r.token_accuracy = e.token_accuracy;
    r.perplexity = e.perplexity;
    r.test_correct.resize(test_data.size());
    for (std::size_t i = 0; i < test_data.size(); ++i)
      r.test_correct[i] = e.hypotheses[i].finished && e.hypotheses[i].tokens == test_data[i].tgt;
    alignment_statistics(r, data.test, e.hypotheses, source.alignment, options.alignment_sentences);
    for (std::size_t i : sample_indices(data.test, options.heatmap_sentences)) {
      AttentionSample s;
      s.index = i;
      s.src = data.test[i].src;
      s.ref = data.test[i].tgt;
      s.out = b.tgt_vocab.decode(e.hypotheses[i].tokens);
      s.weights = e.hypotheses[i].attention;
      s.correct = r.test_correct[i] != 0;
      r.samples.push_back(std::move(s));
    }
    r.status = std::isfinite(e.perplexity) ? RunStatus::Ok : RunStatus::Diverged;
    char buf[160];
    std::snprintf(buf, sizeof buf, "test: exact match %.4f token accuracy %.4f perplexity %.4f",
                  r.exact_match, r.token_accuracy, r.perplexity);
    log << buf << "\n";
  }
  b.info = data.info;
  b.info["compare-run"] = spec.name();
  b.info["seed"] = std::to_string(spec.seed);
  b.info["steps"] = std::to_string(r.steps);
  b.info["status"] = to_string(r.status);
  b.info["lr"] = rate_name(o.optimizer.lr);
  if (o.lr_schedule.warmup) b.info["warmup"] = std::to_string(o.lr_schedule.warmup);
  if (o.lr_schedule.schedule != LrSchedule::Constant) b.info["lr-schedule"] = to_string(o.lr_schedule.schedule);
  if (r.corpus && std::isfinite(r.bleu)) b.info["test-bleu"] = std::to_string(r.bleu);
  save_model((fs::path(r.run_dir) / "model.safetensors").string(), b);
  write_file_atomic((fs::path(r.run_dir) / "metrics.json").string(), to_json(r).dump(1) + "\n");
  log << "saved " << (fs::path(r.run_dir) / "model.safetensors").string() << "\n";
}

}  // namespace attend
