// `attend translate`, `attend eval` and `attend score`: use a trained model.
#include <attend/core/error.hpp>
#include <attend/decode/attention_export.hpp>
#include <attend/core/blas_threads.hpp>
#include <attend/decode/ensemble.hpp>
#include <attend/decode/translator.hpp>
#include <attend/decode/translator_ensemble.hpp>
#include <attend/eval/bleu.hpp>
#include <attend/eval/chrf.hpp>
#include <attend/eval/evaluate.hpp>
#include <attend/eval/metrics_json.hpp>
#include <attend/text/corpus.hpp>
#include <attend/text/tasks.hpp>
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <functional>
#include <iostream>
#include <sstream>
#include <nlohmann/json.hpp>

#include "common.hpp"

namespace attend::cli {

namespace {

// ---- shared ---------------------------------------------------------------------------------

void add_search_options(po::options_description& d, SearchOptions& s, bool nbest) {
  d.add_options()
      ("beam,k", count_option(&s.beam), "beam width (1 = greedy search)");
  if (nbest)
    d.add_options()("nbest,n", count_option(&s.nbest),
                    "hypotheses per input, printed as score<TAB>translation when > 1");
  d.add_options()
      ("length-penalty", po::value<double>(&s.length_penalty)->default_value(0.0, "0"),
       "GNMT length penalty alpha (0 = raw log-probability)")
      ("max-len-ratio", po::value<double>(&s.max_len_ratio)->default_value(2.0, "2"),
       "at most ratio * source length + 10 output tokens");
}

std::string format_score(double x) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.6f", x);
  return buf;
}

// ---- models: one, or an ensemble (--model given more than once) ----------------------------

struct Models {
  std::vector<std::string> paths;
  std::size_t threads = 0;
  std::string combine = "mean";
  std::string weights;
  std::string normalize;  // --normalize: checked against (or applied to) every model's
};

void add_models_options(po::options_description& d, Models& m) {
  d.add_options()
      ("model,m", po::value<std::vector<std::string>>(&m.paths)->composing(),
       "model file written by `attend train` (required); give it more than once to decode with an ensemble")
      ("threads", count_option(&m.threads), "BLAS threads (0 = the library default)")
      ("normalize", po::value<std::string>(&m.normalize),
       "the model's normalisation (attend train --normalize): given anyway, it must be the same; for a model "
       "that records none (trained on text normalised beforehand) it is applied to the input")
      ("ensemble-combine", po::value<std::string>(&m.combine)->default_value("mean"),
       "ensembles: mean (the log of the models' mean probability) | logsum (the weighted sum of their "
       "log-probabilities)")
      ("ensemble-weights", po::value<std::string>(&m.weights),
       "ensembles with logsum: one weight per model, comma-separated (default: 1 each)");
}

// The models' translators (TranslatorEnsemble): the first one's text options, tokenizer and target
// vocabulary decide the output; every other model must have the same target vocabulary and
// tokenizer (exit 2 naming both files).
TranslatorEnsemble load_models(const Models& m, const po::variables_map& vm, const std::string& command) {
  require(vm, "model", command);
  set_blas_threads(m.threads);
  std::vector<Translator> members;
  for (const auto& path : m.paths) {
    ModelBundle b = load_model(path);
    if (vm.count("normalize")) apply_normalize_option(b, m.normalize, path);
    members.push_back(Translator(std::move(b)));
  }
  EnsembleOptions options;
  options.combine = parse_ensemble_combine(m.combine);
  if (!m.weights.empty()) {
    if (options.combine != EnsembleCombine::LogSum) throw Error("--ensemble-weights applies to --ensemble-combine logsum");
    options.weights = parse_ensemble_weights(m.weights);
  }
  return TranslatorEnsemble(std::move(members), m.paths, std::move(options));
}

// ---- translate ------------------------------------------------------------------------------

// How --show-attention prints the weights after each translation: a text map, or an export
// for plotting elsewhere (attention_export.hpp).
std::string g_attention_format = "text";
// Which view of the attention --show-attention prints (attention_rows: "mean" or "layer L head H").
std::string g_attention_view = kDefaultAttentionViewName;
// --show-normalized: print each line as the model saw it (after its normalisation) first.
bool g_show_normalized = false;

void print_hypothesis(const Translator& tr, const std::vector<std::string>& src, const Hypothesis* h,
                      std::size_t nbest, bool show_attention) {
  const TranslationHypothesis d = h ? tr.describe(*h) : TranslationHypothesis{};
  if (nbest > 1) std::cout << format_score(d.score) << "\t";
  std::cout << d.text << "\n";
  if (!show_attention || !h) return;
  auto out = d.tokens;
  if (h->finished) out.push_back("</s>");  // the weights include the step that emitted </s>
  if (g_attention_format == "svg") write_attention_svg(*h, src, out, std::cout, g_attention_view);
  else if (g_attention_format == "json") write_attention_json(*h, src, out, std::cout, g_attention_view);
  else if (g_attention_format == "csv") write_attention_csv(*h, src, out, std::cout, g_attention_view);
  else std::cout << attention_map(src, d.tokens, attention_rows(*h, g_attention_view));
  std::cout << "\n";
}

// Decodes the pending lines together and prints each one's hypotheses (an empty line: empty
// output lines).
void translate_and_print(const TranslatorEnsemble& ens, const std::vector<std::string>& raw, std::size_t first_lineno,
                         const SearchOptions& opt, std::size_t batch, bool show_attention) {
  const Translator& tr = ens.first();
  std::vector<std::string> lines(raw.size());
  for (std::size_t i = 0; i < raw.size(); ++i) lines[i] = tr.prepare(raw[i]);
  auto where = [&](std::size_t i) { return "input line " + std::to_string(first_lineno + i); };
  std::vector<std::vector<Hypothesis>> hyps;
  if (ens.single()) {
    std::vector<std::vector<int>> sources(lines.size());
    for (std::size_t i = 0; i < lines.size(); ++i) sources[i] = tr.encode(lines[i], where(i));
    hyps = decode(tr.model(), sources, opt, batch);
  } else {
    hyps = ensemble_decode(ens.models(), ens.sources(raw, where), opt, ens.options(), batch);
  }
  for (std::size_t i = 0; i < lines.size(); ++i) {
    const auto src = show_attention ? tr.bundle().tokenize_source(lines[i]) : std::vector<std::string>{};
    if (g_show_normalized) std::cout << "normalized: " << lines[i] << "\n";
    if (hyps[i].empty())
      for (std::size_t n = 0; n < opt.nbest; ++n) print_hypothesis(tr, src, nullptr, opt.nbest, false);
    for (const auto& h : hyps[i]) print_hypothesis(tr, src, &h, opt.nbest, show_attention);
  }
  std::cout.flush();
}

}  // namespace

int run_translate(const std::vector<std::string>& args) {
  Models m;
  SearchOptions opt;
  bool show_attention = false;
  po::options_description desc("Options");
  add_models_options(desc, m);
  add_search_options(desc, opt, true);
  desc.add_options()
      ("show-attention", po::bool_switch(&show_attention), "print the attention after each translation (each n-best hypothesis)")
      ("attention-format", po::value(&g_attention_format)->default_value("text"),
       "text (a map of shades) | svg | json | csv")
      ("attention-view", po::value(&g_attention_view)->default_value(kDefaultAttentionViewName),
       "which attention --show-attention prints: mean (a Transformer decoder: the mean over the last "
       "layer's heads) or \"layer L head H\" (json: every view is included as well)")
      ("show-normalized", po::bool_switch(&g_show_normalized),
       "print each input line as the model saw it (after the normalisation it was trained with), "
       "as 'normalized: LINE', before its translation")
      ("help,h", "show this help");
  po::variables_map vm;
  const char* usage = "usage: attend translate --model M [options] < input > output\n\n"
                      "Translates stdin line by line (an empty line gives an empty line).\n";
  if (!parse_command_line(args, desc, usage, vm)) return 0;
  po::notify(vm);
  opt.validate();
  if (g_attention_format != "text" && g_attention_format != "svg" && g_attention_format != "json" &&
      g_attention_format != "csv")
    throw Error("unknown --attention-format '" + g_attention_format + "' (valid: text, svg, json, csv)");
  opt.keep_attention = show_attention;

  const TranslatorEnsemble ens = load_models(m, vm, "translate");
  const Translator& tr = ens.first();
  if (show_attention && !ens.single()) {
    // An ensemble keeps each model's default attention, named "model 1", "model 2", …
    std::vector<std::string> views;
    for (std::size_t i = 0; i < ens.size(); ++i) views.push_back("model " + std::to_string(i + 1));
    if (g_attention_view != kDefaultAttentionViewName &&
        std::find(views.begin(), views.end(), g_attention_view) == views.end())
      throw Error("unknown --attention-view '" + g_attention_view + "' for this ensemble (valid: " +
                  attention_view_list(views) + ")");
  } else if (show_attention) {
    const std::vector<std::string> views = attention_view_names(tr.model());
    if (g_attention_view != kDefaultAttentionViewName &&
        std::find(views.begin(), views.end(), g_attention_view) == views.end())
      throw Error("unknown --attention-view '" + g_attention_view + "' for this model (valid: " +
                  attention_view_list(views) + ")");
    // The JSON export carries every view (the decoder's and a self-attention encoder's); the other
    // formats need only the one they print.
    opt.keep_attention_views = g_attention_format == "json" || g_attention_view != kDefaultAttentionViewName;
  }

  const std::size_t batch = stdin_is_tty() ? 1 : 64;  // interactive: answer each line at once
  std::vector<std::string> pending;
  std::size_t first = 1;
  std::string text;
  for (std::size_t lineno = 1; std::getline(std::cin, text); ++lineno) {
    chomp(text);
    pending.push_back(text);
    if (pending.size() < batch) continue;
    translate_and_print(ens, pending, first, opt, batch, show_attention);
    pending.clear();
    first = lineno + 1;
  }
  translate_and_print(ens, pending, first, opt, batch, show_attention);
  return 0;
}

// ---- eval -----------------------------------------------------------------------------------

namespace {

struct EvalArgs {
  std::string task, src, ref;
  TaskOptions t;
  std::size_t batch = 128;
  std::string out, metrics_json;
  bool lowercase_bleu = false, skip_bad_lines = false;
  bool normalize_refs = false;  // BLEU against the references after the model's normalisation
  std::vector<double> length_penalties;  // --length-penalty-grid: decode once per alpha, keep the best
};

// "0,0.2,0.4" as GNMT alphas: finite, not negative, no repeats; Error naming the bad item.
std::vector<double> parse_length_penalty_grid(const std::string& text) {
  const std::vector<double> alphas = parse_number_list("--length-penalty-grid", text);
  if (alphas.empty()) throw Error("--length-penalty-grid: give alphas separated by commas, e.g. 0,0.4,0.8");
  for (std::size_t i = 0; i < alphas.size(); ++i) {
    std::ostringstream alpha;
    alpha << alphas[i];
    if (!std::isfinite(alphas[i]) || alphas[i] < 0)
      throw Error("--length-penalty-grid: " + alpha.str() + " must be a number >= 0");
    if (std::find(alphas.begin(), alphas.begin() + i, alphas[i]) != alphas.begin() + i)
      throw Error("--length-penalty-grid: " + alpha.str() + " is given twice");
  }
  return alphas;
}

// A task option without a default: a count for the sizes, an int for the lengths.
po::typed_value<Count>* task_value(std::size_t* field) { return count_value(field); }
po::typed_value<int>* task_value(int* field) { return po::value<int>(field); }

void add_eval_options(po::options_description& d, EvalArgs& a) {
  d.add_options()
      ("task", po::value<std::string>(&a.task), "evaluate on this task's test split (default: the model's task)");
  for (const TaskField& f : task_fields())
    std::visit([&](auto member) { d.add_options()(f.option, task_value(&(a.t.*member)), "task option (default: as trained)"); },
               f.member);
  d.add_options()
      ("seed", po::value<std::uint64_t>(&a.t.seed), "task seed (default: as trained, else 1)")
      ("src", po::value<std::string>(&a.src), "source file, one sentence per line")
      ("ref", po::value<std::string>(&a.ref), "reference file, one sentence per line")
      ("batch", count_option(&a.batch), "examples per batch")
      ("out,o", po::value<std::string>(&a.out), "with --src/--ref: write the translations here (atomically)")
      ("metrics-json", po::value<std::string>(&a.metrics_json), "write the metrics as JSON here")
      ("lc", po::bool_switch(&a.lowercase_bleu), "with --src/--ref: lower-cased BLEU (sacreBLEU -lc)")
      ("skip-bad-lines", po::bool_switch(&a.skip_bad_lines),
       "with --src/--ref: drop pairs with empty or invalid UTF-8 lines (warning with the count)")
      ("normalize-refs", po::bool_switch(&a.normalize_refs),
       "with --src/--ref: BLEU against the references after the model's normalisation (the hypotheses "
       "are never changed); default: the references as written")
      ("length-penalty-grid", po::value<std::string>()->notifier([&a](const std::string& text) {
         a.length_penalties = parse_length_penalty_grid(text);
       }),
       "with --src/--ref: decode once per GNMT alpha in this list (e.g. 0,0.2,0.4,0.6,0.8,1), print "
       "BLEU, chrF and the brevity penalty of each, and report (and --out) the alpha of the best BLEU; "
       "choose it on a validation set, then give it to --length-penalty on the test set");
}

// A task option the user did not give takes the value recorded at training time (same task).
template <typename T>
void from_info(const po::variables_map& vm, const ModelBundle& b, const std::string& key, T& field) {
  if (vm.count(key)) return;
  const auto it = b.info.find(key);
  if (it == b.info.end()) return;
  try {
    field = static_cast<T>(std::stoll(it->second));
  } catch (const std::exception&) {
    throw Error("the model's recorded " + key + " '" + it->second + "' is not a number");
  }
}

std::vector<EncodedPair> task_pairs(const po::variables_map& vm, const ModelBundle& b, EvalArgs& a) {
  const auto recorded = b.info.find("task");
  if (a.task.empty() && recorded == b.info.end())
    throw Error("the model records no task; give --task T or --src F --ref F");
  if (a.task.empty()) a.task = recorded->second;
  a.t.name = a.task;
  if (recorded != b.info.end() && recorded->second == a.task) {
    for (const TaskField& f : task_fields())
      std::visit([&](auto member) { from_info(vm, b, f.option, a.t.*member); }, f.member);
    from_info(vm, b, "seed", a.t.seed);
  }
  const auto pairs = encode_examples(make_task(a.t).test, b.src_vocab, b.tgt_vocab);
  const std::size_t limit = b.model->config().source_limit();
  for (std::size_t i = 0; i < pairs.size(); ++i)
    if (limit && pairs[i].src.size() > limit)
      throw Error("test example " + std::to_string(i + 1) + " of task " + a.task + " has " +
                  std::to_string(pairs[i].src.size()) + " tokens, more than the model's --max-src-len " +
                  std::to_string(limit));
  return pairs;
}

// The pairs of two parallel files (plain or .gz) with the checks of attend train, as written
// (BLEU compares with the references as written; --lc lower-cases both sides).
ParallelCorpus read_file_corpus(const std::string& src_path, const std::string& tgt_path,
                                bool skip_bad_lines) {
  CorpusOptions o;
  o.skip_bad_lines = skip_bad_lines;
  ParallelCorpus c = read_parallel(src_path, tgt_path, o);
  if (c.skipped) {
    std::cerr << "attend: warning: skipped " << c.skipped << " bad pair" << (c.skipped == 1 ? "" : "s")
              << " (--skip-bad-lines); first:";
    for (const auto& p : c.problems) std::cerr << "\n  " << p;
    std::cerr << "\n";
  }
  return c;
}

// Token ids of the pairs; the text options the model was trained with (--lowercase,
// --normalize) apply to both sides.
std::vector<EncodedPair> encode_pairs(const Translator& tr, const std::vector<std::string>& src,
                                      const std::vector<std::string>& tgt,
                                      const std::vector<std::size_t>& line_numbers,
                                      const std::string& src_path) {
  const ModelBundle& b = tr.bundle();
  std::vector<EncodedPair> pairs(src.size());
  for (std::size_t i = 0; i < src.size(); ++i) {
    const std::string where = src_path + ":" + std::to_string(line_numbers[i]);
    pairs[i].src = tr.encode(tr.prepare(src[i]), where);
    if (pairs[i].src.empty()) throw Error(where + ": empty source line");
    pairs[i].tgt = b.tgt_vocab.encode(b.tokenize_target(tr.prepare(tgt[i])));
  }
  return pairs;
}

// attend eval --src F --ref F: BLEU of the detokenised translations, perplexity of the references.
// An ensemble (--model more than once): the translations are the ensemble's; perplexity and token
// accuracy are the first model's (teacher-forced, as printed).
// The detokenised best hypothesis of every pair under opt; sources[m] are member m's source ids
// (one model: decode(); an ensemble: ensemble_decode()).
std::vector<std::string> decode_texts(const TranslatorEnsemble& ens,
                                      const std::vector<std::vector<std::vector<int>>>& sources, const EvalArgs& a,
                                      const SearchOptions& opt) {
  const auto out = ens.single() ? decode(ens.first().model(), sources[0], opt, a.batch)
                                : ensemble_decode(ens.models(), sources, opt, ens.options(), a.batch);
  std::vector<std::string> hyps(out.size());
  for (std::size_t i = 0; i < out.size(); ++i) hyps[i] = out[i].empty() ? "" : ens.first().describe(out[i][0]).text;
  return hyps;
}

// attend eval --src F --ref F: BLEU of the detokenised translations, perplexity of the references.
// An ensemble (--model more than once): the translations are the ensemble's; perplexity and token
// accuracy are the first model's (teacher-forced, as printed).
// The first entry of the highest BLEU.
template <typename Tried>
std::size_t best_index(const std::vector<Tried>& tried) {
  std::size_t best = 0;
  for (std::size_t i = 1; i < tried.size(); ++i)
    if (tried[i].bleu.score > tried[best].bleu.score) best = i;
  return best;
}

// The detokenised best hypothesis of every pair under opt (one model: decode(); an ensemble:
// ensemble_decode()).
std::vector<std::string> decode_texts(const TranslatorEnsemble& ens, const ParallelCorpus& c,
                                      const std::vector<EncodedPair>& pairs, const EvalArgs& a,
                                      const SearchOptions& opt) {
  const Translator& tr = ens.first();
  std::vector<std::vector<Hypothesis>> out;
  if (ens.single()) {
    std::vector<std::vector<int>> sources(pairs.size());
    for (std::size_t i = 0; i < pairs.size(); ++i) sources[i] = pairs[i].src;
    out = decode(tr.model(), sources, opt, a.batch);
  } else {
    auto where = [&](std::size_t i) { return a.src + ":" + std::to_string(c.line_numbers[i]); };
    out = ensemble_decode(ens.models(), ens.sources(c.src, where), opt, ens.options(), a.batch);
  }
  std::vector<std::string> hyps(pairs.size());
  for (std::size_t i = 0; i < pairs.size(); ++i) hyps[i] = out[i].empty() ? "" : tr.describe(out[i][0]).text;
  return hyps;
}

// attend eval --src F --ref F: BLEU of the detokenised translations, perplexity of the references.
// An ensemble (--model more than once): the translations are the ensemble's; perplexity and token
// accuracy are the first model's (teacher-forced, as printed). With --length-penalty-grid the
// files are decoded once per alpha and the alpha of the best BLEU (the first, on ties) is the one
// reported and written.
int eval_files(const TranslatorEnsemble& ens, const EvalArgs& a, SearchOptions opt) {
  const Translator& tr = ens.first();
  const ParallelCorpus c = read_file_corpus(a.src, a.ref, a.skip_bad_lines);
  if (c.size() == 0) throw Error("nothing to evaluate: no pairs in '" + a.src + "'");
  const auto pairs = encode_pairs(tr, c.src, c.tgt, c.line_numbers, a.src);
  const EvalResult r = evaluate(tr.model(), pairs, a.batch, false, opt);
  std::vector<std::string> refs = c.tgt;
  if (a.normalize_refs)
    for (auto& ref : refs) ref = tr.prepare(ref);

  // Each member's source ids, encoded once for every alpha.
  std::vector<std::vector<std::vector<int>>> sources;
  if (ens.single()) {
    sources.resize(1);
    for (const auto& p : pairs) sources[0].push_back(p.src);
  } else {
    sources = ens.sources(c.src, [&](std::size_t i) { return a.src + ":" + std::to_string(c.line_numbers[i]); });
  }
  struct Tried {
    double alpha;
    BleuScore bleu;
    ChrfScore chrf;
  };
  std::vector<Tried> tried;
  std::size_t best_at = 0;
  std::vector<std::string> hyps;
  const std::vector<double> alphas = a.length_penalties.empty() ? std::vector<double>{opt.length_penalty} : a.length_penalties;
  for (const double alpha : alphas) {
    SearchOptions o = opt;
    o.length_penalty = alpha;
    std::vector<std::string> h = decode_texts(ens, sources, a, o);
    // chrF2 as sacreBLEU's default computes it: case-sensitive, also under --lc (as `attend bleu -lc`).
    tried.push_back({alpha, corpus_bleu(h, {refs}, a.lowercase_bleu), corpus_chrf(h, {refs})});
    if (tried.size() == 1 || tried.back().bleu.score > tried[best_at].bleu.score) {  // the first, on ties
      best_at = tried.size() - 1;
      hyps = std::move(h);
    }
  }
  const Tried& best = tried[best_at];
  opt.length_penalty = best.alpha;
  if (!a.length_penalties.empty()) {
    std::printf("length penalty  alpha  BLEU    chrF2   BP     ratio\n");
    for (const auto& t : tried)
      std::printf("                %-5g  %6.2f  %6.2f  %.3f  %.3f%s\n", t.alpha, t.bleu.score, t.chrf.score, t.bleu.bp,
                  t.bleu.ratio, &t == &best ? "  (best BLEU)" : "");
  }
  if (!a.out.empty()) {
    std::string text;
    for (const auto& h : hyps) text += h + "\n";
    write_file_atomic(a.out, text);
  }
  std::printf("%s%s\n%s\nperplexity      %.4f%s\ntoken accuracy  %.2f%%%s\nlines           %zu\n",
              best.bleu.format().c_str(), a.lowercase_bleu ? " (lower-cased)" : "", best.chrf.format().c_str(),
              r.perplexity, ens.single() ? "" : " (model 1)", 100 * r.token_accuracy, ens.single() ? "" : " (model 1)",
              pairs.size());
  // The best alpha at an end of the grid says the grid may have stopped short of the real best.
  const auto [lowest, highest] = std::minmax_element(alphas.begin(), alphas.end());
  const bool best_at_edge = alphas.size() > 1 && (best.alpha == *highest || (best.alpha == *lowest && *lowest > 0));
  if (!a.length_penalties.empty()) std::printf("length penalty  %g (best BLEU of %zu)\n", best.alpha, tried.size());
  if (best_at_edge)
    std::fprintf(stderr, "note: the best alpha, %g, is the %s of --length-penalty-grid; BLEU may be higher beyond it\n",
                 best.alpha, best.alpha == *highest ? "largest" : "smallest");
  if (!ens.single())
    std::printf("ensemble        %zu models, %s\n", ens.size(),
                ens.options().combine == EnsembleCombine::Mean ? "mean probability" : "weighted log-probabilities");
  if (c.skipped) std::printf("skipped lines   %zu\n", c.skipped);
  if (!a.metrics_json.empty()) {
    nlohmann::json j = bleu_json(best.bleu);
    j.update({{"chrf", best.chrf.score},
              {"chrf_name", best.chrf.name()},
              {"bleu_lowercase", a.lowercase_bleu},
              {"normalized_references", a.normalize_refs},
              {"perplexity", r.perplexity},
              {"token_accuracy", r.token_accuracy},
              {"lines", pairs.size()},
              {"skipped", c.skipped},
              {"beam", opt.beam},
              {"models", ens.size()},
              {"length_penalty", opt.length_penalty},
              {"max_len_ratio", opt.max_len_ratio}});
    if (!a.length_penalties.empty()) {
      nlohmann::json grid = nlohmann::json::array();
      for (const auto& t : tried)
        grid.push_back({{"length_penalty", t.alpha}, {"bleu", t.bleu.score}, {"chrf", t.chrf.score},
                        {"bp", t.bleu.bp}, {"ratio", t.bleu.ratio}});
      j["length_penalty_grid"] = grid;
      j["length_penalty_at_grid_edge"] = best_at_edge;
    }
    write_file_atomic(a.metrics_json, j.dump(2) + "\n");
  }
  return 0;
}

void print_eval(const EvalResult& r) {
  std::printf("exact match     %.2f%%\ntoken accuracy  %.2f%%\nperplexity      %.4f\nexamples        %zu\n",
              100 * r.exact_match, 100 * r.token_accuracy, r.perplexity, r.examples);
}

}  // namespace

int run_eval(const std::vector<std::string>& args) {
  Models m;
  SearchOptions opt;
  EvalArgs a;
  po::options_description desc("Options");
  add_models_options(desc, m);
  add_eval_options(desc, a);
  add_search_options(desc, opt, false);
  desc.add_options()("help,h", "show this help");
  po::variables_map vm;
  const char* usage =
      "usage: attend eval --model M [--task T [task options] | --src F --ref F [--out F]] [options]\n\n"
      "With --src/--ref: BLEU (sacreBLEU's default), perplexity of the references, line count.\n";
  if (!parse_command_line(args, desc, usage, vm)) return 0;
  po::notify(vm);
  opt.validate();
  if (a.batch == 0) throw Error("--batch must be at least 1");
  if (vm.count("src") != vm.count("ref")) throw Error("--src and --ref go together");
  if (vm.count("src") && vm.count("task")) throw Error("give either --task or --src/--ref, not both");
  const TranslatorEnsemble ens = load_models(m, vm, "eval");
  const Translator& tr = ens.first();

  if (vm.count("src")) return eval_files(ens, a, opt);
  if (!ens.single()) throw Error("an ensemble (--model more than once) evaluates on files: give --src F --ref F");
  if (!a.out.empty()) throw Error("--out needs --src/--ref");
  const auto pairs = task_pairs(vm, tr.bundle(), a);
  if (pairs.empty()) throw Error("nothing to evaluate: no examples");
  const EvalResult r = evaluate(tr.model(), pairs, a.batch, true, opt);
  print_eval(r);
  if (!a.metrics_json.empty()) {
    nlohmann::json j = evaluation_json(r);
    j["beam"] = opt.beam;
    write_file_atomic(a.metrics_json, j.dump(2) + "\n");
  }
  return 0;
}

// ---- score ----------------------------------------------------------------------------------

namespace {

// Every line pair must be scored, so no pair may be dropped: score has no --skip-bad-lines.
// An empty target is the output </s> alone, which has a probability like any other.
std::vector<EncodedPair> score_pairs(const Translator& tr, const std::string& src_path,
                                     const std::string& tgt_path) {
  const auto src = read_text_lines(src_path), tgt = read_text_lines(tgt_path);
  if (src.size() != tgt.size())
    throw Error(src_path + " has " + std::to_string(src.size()) + " lines but " + tgt_path + " has " +
                std::to_string(tgt.size()) + "; score needs one target line per source line");
  std::vector<std::size_t> line_numbers(src.size());
  for (std::size_t i = 0; i < src.size(); ++i) {
    line_numbers[i] = i + 1;
    for (const auto* side : {&src, &tgt}) {
      const std::string& path = side == &src ? src_path : tgt_path;
      const std::size_t at = find_invalid_utf8((*side)[i]);
      if (at != std::string::npos)
        throw Error(path + ":" + std::to_string(i + 1) + ": invalid UTF-8 at byte " + std::to_string(at + 1));
    }
  }
  return encode_pairs(tr, src, tgt, line_numbers, src_path);
}

}  // namespace


int run_score(const std::vector<std::string>& args) {
  Models m;
  std::string src_path, tgt_path;
  po::options_description desc("Options");
  add_models_options(desc, m);
  desc.add_options()
      ("src", po::value<std::string>(&src_path), "source file, one sentence per line (required)")
      ("tgt", po::value<std::string>(&tgt_path), "target file, one sentence per line (required)")
      ("help,h", "show this help");
  po::variables_map vm;
  const char* usage = "usage: attend score --model M --src F --tgt F\n\n"
                      "Prints ln p(target | source), </s> included, one line per pair.\n";
  if (!parse_command_line(args, desc, usage, vm)) return 0;
  po::notify(vm);
  require(vm, "src", "score");
  require(vm, "tgt", "score");
  const TranslatorEnsemble ens = load_models(m, vm, "score");
  const Translator& tr = ens.first();

  const auto pairs = score_pairs(tr, src_path, tgt_path);
  if (!ens.single()) {
    // Each model's pairs (its own source side); the target ids are the shared vocabulary's.
    std::vector<std::vector<EncodedPair>> per_model;
    for (const auto& member : ens.members()) per_model.push_back(score_pairs(member, src_path, tgt_path));
    const auto scores = ensemble_score(ens.models(), per_model, ens.options());
    for (double x : scores) std::cout << format_score(x) << "\n";
    return 0;
  }
  Workspace<float> ws;
  for (std::size_t i = 0; i < pairs.size(); ++i) {
    const LossStats s = tr.model().loss(make_batch(pairs, {i}), ws);
    std::cout << format_score(-s.nll_sum) << "\n";
  }
  return 0;
}

}  // namespace attend::cli
