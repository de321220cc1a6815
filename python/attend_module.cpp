// The C++ half of the Python module `attend` (docs/python.md): the extension `attend._attend`,
// which the pure-Python package (python/attend/__init__.py) wraps in its classes.
//
// Every call into the library runs with the GIL released (py::gil_scoped_release), so other
// Python threads run meanwhile and two threads may translate at once; Python objects are built
// and Python callbacks are called only with the GIL held. Library errors become Python
// exceptions carrying the library's message: ValueError for bad options and input, OSError for
// files (FileNotFoundError for a path that does not exist), MemoryError, RuntimeError otherwise.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <attend/core/blas_threads.hpp>
#include <attend/core/error.hpp>
#include <attend/decode/decode.hpp>
#include <attend/decode/translator.hpp>
#include <attend/eval/bleu.hpp>
#include <attend/eval/evaluate.hpp>
#include <attend/eval/metrics_json.hpp>
#include <attend/experiment/run.hpp>
#include <attend/text/batching.hpp>
#include <attend/text/tasks.hpp>
#include <attend/train/trainer.hpp>
#include <boost/program_options.hpp>
#include <cmath>
#include <filesystem>
#include <functional>
#include <nlohmann/json.hpp>
#include <string>
#include <variant>
#include <vector>

#include "common.hpp"
#include "compare.hpp"

namespace py = pybind11;
namespace po = boost::program_options;

namespace attend::python {

namespace {

// ---- errors ---------------------------------------------------------------------------------

[[noreturn]] void raise(PyObject* type, const std::string& message) {
  PyErr_SetString(type, message.c_str());
  throw py::error_already_set();
}

// Runs f (with the GIL released when `release`), turning the library's exceptions into Python's:
// attend::Error and option errors into `error_type` (ValueError, or OSError where a file was
// being read). A Python exception raised in a callback passes through unchanged.
template <typename F>
auto guarded(PyObject* error_type, F&& f) -> decltype(f()) {
  try {
    return f();
  } catch (const py::error_already_set&) {
    throw;
  } catch (const po::error& e) {
    raise(PyExc_ValueError, e.what());
  } catch (const Error& e) {
    raise(error_type, e.what());
  } catch (const std::bad_alloc&) {
    raise(PyExc_MemoryError, "out of memory");
  } catch (const std::exception& e) {
    raise(PyExc_RuntimeError, e.what());
  }
}

// The files named by a list of options must exist: FileNotFoundError otherwise (the library
// would say so too, but as a plain error).
void require_file(const std::string& path, const std::string& what) {
  if (!path.empty() && !std::filesystem::exists(path))
    raise(PyExc_FileNotFoundError, what + ": no such file: '" + path + "'");
}

// ---- numpy ----------------------------------------------------------------------------------

// Rows (output tokens) × columns (source positions) as a float32 array.
py::array_t<float> matrix(const std::vector<std::vector<float>>& rows) {
  const std::size_t r = rows.size(), c = rows.empty() ? 0 : rows[0].size();
  py::array_t<float> a({r, c});
  auto m = a.mutable_unchecked<2>();
  for (std::size_t i = 0; i < r; ++i)
    for (std::size_t j = 0; j < c; ++j) m(i, j) = j < rows[i].size() ? rows[i][j] : 0.0f;
  return a;
}

py::dict views_dict(const std::vector<std::string>& names,
                    const std::vector<std::vector<std::vector<float>>>& views) {
  py::dict d;
  for (std::size_t v = 0; v < names.size() && v < views.size(); ++v) d[py::str(names[v])] = matrix(views[v]);
  return d;
}

py::object from_json(const nlohmann::json& j) {
  return py::module_::import("json").attr("loads")(j.dump());
}

// ---- Translator -----------------------------------------------------------------------------

class PyTranslator {
 public:
  PyTranslator(const std::string& path, std::size_t threads) : path_(path), threads_(threads) {
    require_file(path, "model");
    translator_ = guarded(PyExc_OSError, [&] {
      py::gil_scoped_release release;
      if (threads) set_blas_threads(threads);
      return std::make_unique<Translator>(Translator::load(path));
    });
  }

  const std::string& path() const { return path_; }
  std::size_t threads() const { return threads_; }

  // One dict per line: source, source_tokens, hypotheses (best first), each with text, tokens,
  // score, log_prob, finished and, with `attention`, the weights (and the views of a Transformer
  // decoder or a self-attention encoder).
  py::list translate(const std::vector<std::string>& lines, std::size_t beam, std::size_t nbest,
                     double length_penalty, double max_len_ratio, bool attention, std::size_t batch) const {
    SearchOptions opt;
    opt.beam = beam;
    opt.nbest = nbest;
    opt.length_penalty = length_penalty;
    opt.max_len_ratio = max_len_ratio;
    opt.keep_attention = attention;
    opt.keep_attention_views = attention;
    if (batch == 0) raise(PyExc_ValueError, "batch must be at least 1");
    std::vector<std::string> prepared(lines.size());
    std::vector<std::vector<std::string>> source_tokens(lines.size());
    const auto hyps = guarded(PyExc_ValueError, [&] {
      py::gil_scoped_release release;
      opt.validate();
      std::vector<std::vector<int>> sources(lines.size());
      for (std::size_t i = 0; i < lines.size(); ++i) {
        prepared[i] = translator_->prepare(lines[i]);
        sources[i] = translator_->encode(prepared[i], "line " + std::to_string(i + 1));
        source_tokens[i] = translator_->bundle().tokenize_source(prepared[i]);
      }
      return decode(translator_->model(), sources, opt, batch);
    });
    py::list out;
    for (std::size_t i = 0; i < lines.size(); ++i) {
      py::list nb;
      for (const Hypothesis& h : hyps[i]) {
        const TranslationHypothesis d = translator_->describe(h);
        py::dict hd;
        hd["text"] = d.text;
        hd["tokens"] = d.tokens;
        hd["score"] = d.score;
        hd["log_prob"] = d.log_prob;
        hd["finished"] = d.finished;
        if (attention) {
          hd["attention"] = matrix(h.attention);
          hd["views"] = views_dict(h.view_names, h.views);
          hd["encoder_views"] = views_dict(h.encoder_view_names, h.encoder_views);
        }
        nb.append(hd);
      }
      py::dict r;
      r["source"] = prepared[i];
      r["source_tokens"] = source_tokens[i];
      r["hypotheses"] = nb;
      out.append(r);
    }
    return out;
  }

  // Per pair: the target tokens with </s> and the log-probability of each (teacher-forced, as
  // `attend score`, whose number is their sum).
  py::list score(const std::vector<std::string>& src, const std::vector<std::string>& tgt) const {
    if (src.size() != tgt.size())
      raise(PyExc_ValueError, "score needs one target per source (" + std::to_string(src.size()) + " sources, " +
                                  std::to_string(tgt.size()) + " targets)");
    struct Scored {
      std::vector<std::string> tokens;
      std::vector<double> log_probs;
      double total = 0;
    };
    const auto scored = guarded(PyExc_ValueError, [&] {
      py::gil_scoped_release release;
      const ModelBundle& b = translator_->bundle();
      std::vector<EncodedPair> pairs(src.size());
      for (std::size_t i = 0; i < src.size(); ++i) {
        const std::string where = "source " + std::to_string(i + 1);
        pairs[i].src = translator_->encode(translator_->prepare(src[i]), where);
        if (pairs[i].src.empty()) throw Error(where + ": empty source");
        pairs[i].tgt = b.tgt_vocab.encode(b.tokenize_target(translator_->prepare(tgt[i])));
      }
      std::vector<Scored> result(pairs.size());
      Workspace<float> ws;
      for (std::size_t i = 0; i < pairs.size(); ++i) {
        const Batch batch = make_batch(pairs, {i});
        const LossStats s = translator_->model().loss(batch, ws);
        Scored& r = result[i];
        r.total = -s.nll_sum;
        for (std::size_t t = 0; t < batch.tgt_len[0]; ++t) {
          // ws.logits: V × T for one example; log-softmax of column t at the reference token.
          const arma::Col<float> col = ws.logits.col(t);
          const double mx = col.max();
          double sum = 0;
          for (arma::uword v = 0; v < col.n_elem; ++v) sum += std::exp(double(col[v]) - mx);
          const arma::uword y = batch.tgt_out(t, 0);
          r.log_probs.push_back(double(col[y]) - mx - std::log(sum));
          r.tokens.push_back(b.tgt_vocab.token(int(y)));
        }
      }
      return result;
    });
    py::list out;
    for (const Scored& s : scored) {
      py::dict d;
      d["tokens"] = s.tokens;
      d["token_log_probs"] = py::array_t<double>(s.log_probs.size(), s.log_probs.data());
      d["log_prob"] = s.total;
      out.append(d);
    }
    return out;
  }

  // The model configuration with typed values (the checkpoint's model.* keys), the facts the
  // training run recorded (info) and the attention views this model can show.
  py::dict config() const {
    const ModelConfig& c = translator_->model().config();
    py::dict d;
    for (const ModelField& f : model_fields()) {
      std::visit(
          [&](auto member) {
            using V = std::decay_t<decltype(c.*member)>;
            if constexpr (std::is_same_v<V, std::string> || std::is_same_v<V, std::size_t> ||
                          std::is_same_v<V, double> || std::is_same_v<V, bool>)
              d[py::str(f.key)] = c.*member;
            else
              d[py::str(f.key)] = f.get(c);
          },
          f.member);
    }
    return d;
  }

  std::map<std::string, std::string> info() const { return translator_->bundle().info; }

  std::vector<std::string> view_names() const {
    return guarded(PyExc_ValueError, [&] { return attention_view_names(translator_->model()); });
  }

 private:
  std::string path_;
  std::size_t threads_;
  std::unique_ptr<Translator> translator_;
};

// ---- bleu -----------------------------------------------------------------------------------

BleuScore bleu(const std::vector<std::string>& hyps, const std::vector<std::vector<std::string>>& refs,
               bool lowercase) {
  return guarded(PyExc_ValueError, [&] {
    py::gil_scoped_release release;
    for (const auto& r : refs)
      if (r.size() != hyps.size())
        throw Error("line counts differ: " + std::to_string(hyps.size()) + " hypotheses but a reference stream has " +
                    std::to_string(r.size()) + " lines");
    return corpus_bleu(hyps, refs, lowercase);
  });
}

// ---- train ----------------------------------------------------------------------------------

// The options of `attend train`, bound to the library's structs by the command line's own option
// groups (src/cli/common.cpp: task_options, add_model_options over model_fields(),
// add_optimization_options, add_text_pipeline_options, add_file_run_options). The few that
// `attend train` adds beyond those groups come from the same functions (add_resume_options,
// add_run_control_options, add_run_output_options), so both spell and bind them alike.
struct TrainArgs {
  TaskOptions task;
  ModelConfig model = cli::cli_model_config();
  FileRunOptions run;
  std::string metrics_json;
  TrainArgs() { run.train = cli::cli_train_options(); }
};

po::options_description train_description(TrainArgs& a) {
  po::options_description all;
  all.add(cli::task_options(a.task));
  po::options_description files("Parallel text files");
  cli::add_text_pipeline_options(files, a.run.text, "test sources (optional; BLEU at the end)");
  cli::add_file_run_options(files, &a.run.bleu_every, &a.run.train.max_seconds, &a.run.test_search.beam,
                            &a.run.test_search.length_penalty);
  cli::add_resume_options(files, a.run);
  all.add(files);
  po::options_description model("Model");
  cli::add_model_options(model, a.model);
  all.add(model);
  po::options_description training("Training");
  cli::add_optimization_options(training, a.run.train);
  cli::add_run_control_options(training, a.run);
  all.add(training);
  po::options_description output("Output");
  cli::add_run_output_options(output, a.run, a.metrics_json);
  all.add(output);
  return all;
}

// The option names attend.train accepts, as the command line spells them.
std::vector<std::string> train_option_names() {
  TrainArgs a;
  const po::options_description d = train_description(a);
  std::vector<std::string> names;
  for (const auto& o : d.options()) names.push_back(o->long_name());
  return names;
}

std::vector<std::vector<std::string>> sides(const std::vector<Example>& examples, bool source) {
  std::vector<std::vector<std::string>> out;
  for (const auto& e : examples) out.push_back(source ? e.src : e.tgt);
  return out;
}

std::size_t longest_source(const TaskData& data) {
  std::size_t n = 0;
  for (const auto* split : {&data.train, &data.valid, &data.test})
    for (const auto& e : *split) n = std::max(n, e.src.size());
  return n;
}

std::string join(const std::vector<std::string>& tokens) {
  std::string line;
  for (const auto& t : tokens) line += (line.empty() ? "" : " ") + t;
  return line;
}

// Calls a Python callable (None: nothing) with the GIL held; a Python exception propagates as
// py::error_already_set and ends training (as does a signal's: Ctrl-C in a notebook).
struct Callback {
  py::object fn;
  template <typename... A>
  void operator()(A&&... args) const {
    if (fn.is_none()) return;
    py::gil_scoped_acquire gil;
    fn(std::forward<A>(args)...);
  }
  // The progress hook: Ctrl-C (KeyboardInterrupt) stops training here, then on_progress is called.
  void step(const TrainProgress& p) const {
    py::gil_scoped_acquire gil;
    if (PyErr_CheckSignals() != 0) throw py::error_already_set();
    if (!fn.is_none()) fn(p.step, p.total_steps, p.loss, p.lr);
  }
};

// A built-in task, as `attend train --task` runs it (src/cli/train.cpp) without the printing:
// validation BLEU (of greedy outputs, over the task's tokens) is computed for the callback only:
// the kept parameters are chosen by the validation loss, as on the command line.
nlohmann::json train_task(TrainArgs& a, const po::variables_map& vm, const Callback& validated,
                          const Callback& progress) {
  if (vm.count("tokenizer") && a.run.text.tokenizer != "char")
    throw Error("--tokenizer applies to training on files (--train-src ...); built-in tasks use char");
  ModelConfig config = a.model;
  config.validate();
  set_blas_threads(a.run.threads);
  const TaskData data = make_task(a.task);
  ModelBundle b;
  b.tokenizer = Tokenizer::Char;
  b.src_vocab = Vocab::build(sides(data.train, true));
  b.tgt_vocab = Vocab::build(sides(data.train, false));
  config.fit_to_vocabularies(b.src_vocab.size(), b.tgt_vocab.size(), false);
  config.fit_to_data(longest_source(data), !vm["max-src-len"].defaulted());
  b.model = std::make_unique<Seq2Seq<float>>(config, a.run.train.seed);

  TrainOptions o = a.run.train;
  o.threads = training_shards(a.run.threads);
  const auto valid = encode_examples(data.valid, b.src_vocab, b.tgt_vocab);
  // A task's output is one word of characters (or digits): BLEU over its tokens, space-separated.
  std::vector<std::vector<int>> valid_sources;
  std::vector<std::string> valid_refs;
  for (std::size_t i = 0; i < valid.size(); ++i) {
    valid_sources.push_back(valid[i].src);
    valid_refs.push_back(join(data.valid[i].tgt));
  }
  if (!validated.fn.is_none())
    o.validate = [&](std::size_t step, double valid_loss) {
      const auto hyps = decode(*b.model, valid_sources, SearchOptions{}, 128);
      std::vector<std::string> lines;
      for (const auto& h : hyps) lines.push_back(h.empty() ? "" : join(b.tgt_vocab.decode(h[0].tokens)));
      const double bleu = corpus_bleu(lines, {valid_refs}).score;
      validated(step, valid_loss, bleu);
      return -valid_loss;  // what train() uses without a hook: the kept parameters do not change
    };
  const ProgressFn on_progress = [&](const TrainProgress& p) { progress.step(p); };
  const TrainResult t = [&] {
    TrainingThreads threads(a.run.threads);
    return train(*b.model, encode_examples(data.train, b.src_vocab, b.tgt_vocab), valid, o, on_progress);
  }();
  const EvalResult r = evaluate(*b.model, encode_examples(data.test, b.src_vocab, b.tgt_vocab), 128, true, {});
  b.info = {{"task", a.task.name},
            {"seed", std::to_string(a.task.seed)},
            {"steps", std::to_string(t.steps)},
            {"seconds", std::to_string(t.seconds)},
            {"test-exact-match", std::to_string(r.exact_match)}};
  for (const TaskField& f : task_fields()) b.info[f.option] = f.get(a.task);
  save_model(a.run.model_path, b);
  return {{"config", config_json(config)},
          {"train", train_options_json(a.task, o, a.run.threads)},
          {"steps", t.steps},
          {"seconds", t.seconds},
          {"tokens_per_s", t.seconds > 0 ? t.tokens / t.seconds : 0.0},
          {"test", evaluation_json(r)},
          {"loss_curve", curve_json(t.train_loss)},
          {"valid_curve", curve_json(t.valid_loss)},
          {"diverged", false},
          {"stopped_early", t.stopped_early},
          {"best_step", t.best_step}};
}

// attend.train's core: `args` are command-line words ("--hidden", "64", ...). Returns the model
// path and the metrics (the JSON of `attend train --metrics-json`).
py::tuple train_command(const std::vector<std::string>& args, py::object validated, py::object progress) {
  const Callback on_validated{std::move(validated)}, on_progress{std::move(progress)};
  TrainArgs a;
  po::variables_map vm;
  guarded(PyExc_ValueError, [&] {
    const po::options_description desc = train_description(a);
    std::vector<std::string> argv{"train"};
    argv.insert(argv.end(), args.begin(), args.end());
    cli::parse_command_line(argv, desc, "", vm);  // as `attend train` reads its command line
    po::notify(vm);
    cli::apply_decoder_defaults(a.model, vm);
    cli::finish_train_options(a.run.train);
    a.task.seed = a.run.text.subword.seed = a.run.train.seed;
  });
  const bool on_files = vm.count("train-src") || vm.count("train-tgt") || vm.count("valid-src") ||
                        vm.count("valid-tgt") || vm.count("resume");
  if (on_files) {
    const CorpusFiles& f = a.run.text.files;
    for (const auto& [path, name] : {std::pair{f.train_src, "train_src"}, {f.train_tgt, "train_tgt"},
                                     {f.valid_src, "valid_src"}, {f.valid_tgt, "valid_tgt"},
                                     {f.test_src, "test_src"}, {f.test_tgt, "test_tgt"},
                                     {a.run.resume, "resume"}})
      require_file(path, name);
  }
  const nlohmann::json metrics = guarded(PyExc_ValueError, [&]() -> nlohmann::json {
    py::gil_scoped_release release;
    if (!on_files) return train_task(a, vm, on_validated, on_progress);
    FileRunOptions& run = a.run;
    if (!run.resume.empty() && vm["model"].defaulted()) run.model_path = run.resume;
    for (const char* name : {"train-src", "train-tgt", "valid-src", "valid-tgt"})
      if (!vm.count(name) && run.resume.empty())
        throw Error(std::string("--") + name + " is required when training on files");
    if (!vm["task"].defaulted()) throw Error("give either --task or --train-src/--train-tgt files, not both");
    run.test_search.validate();
    FileRunHooks hooks;
    hooks.progress = [&](const TrainProgress& p) { on_progress.step(p); };
    hooks.validated = [&](std::size_t step, double valid_loss, double bleu, bool) {
      on_validated(step, valid_loss, bleu);
    };
    const FileRunResult r = attend::train_on_files(run, a.model, !vm["max-src-len"].defaulted(), hooks);
    return file_run_json(run, a.task, r);
  });
  if (!a.metrics_json.empty())
    guarded(PyExc_OSError, [&] { write_file_atomic(a.metrics_json, metrics.dump(2) + "\n"); });
  return py::make_tuple(a.run.model_path, from_json(metrics));
}

// ---- compare --------------------------------------------------------------------------------

// `attend compare` with these command-line words; the caller reads results.json under --out.
int compare_command(const std::vector<std::string>& args) {
  return guarded(PyExc_ValueError, [&] {
    py::gil_scoped_release release;
    std::vector<std::string> argv{"attend compare"};
    argv.insert(argv.end(), args.begin(), args.end());
    return cli::run_compare_command(argv);
  });
}

}  // namespace

}  // namespace attend::python

PYBIND11_MODULE(_attend, m) {
  using namespace attend;
  using namespace attend::python;
  m.doc() = "attend's C++ library from Python (the package attend wraps this module)";

  py::class_<PyTranslator>(m, "_Translator")
      .def(py::init<const std::string&, std::size_t>(), py::arg("path"), py::arg("threads") = 0)
      .def_property_readonly("path", &PyTranslator::path)
      .def_property_readonly("threads", &PyTranslator::threads)
      .def("translate", &PyTranslator::translate, py::arg("lines"), py::arg("beam"), py::arg("nbest"),
           py::arg("length_penalty"), py::arg("max_len_ratio"), py::arg("attention"), py::arg("batch"))
      .def("score", &PyTranslator::score, py::arg("src"), py::arg("tgt"))
      .def("config", &PyTranslator::config)
      .def("info", &PyTranslator::info)
      .def("view_names", &PyTranslator::view_names);

  py::class_<BleuScore>(m, "BleuScore", "Corpus BLEU as `attend bleu` computes it (sacreBLEU's default)")
      .def_readonly("score", &BleuScore::score)
      .def_readonly("precisions", &BleuScore::precisions)
      .def_readonly("counts", &BleuScore::counts)
      .def_readonly("totals", &BleuScore::totals)
      .def_readonly("bp", &BleuScore::bp)
      .def_readonly("ratio", &BleuScore::ratio)
      .def_readonly("hyp_len", &BleuScore::hyp_len)
      .def_readonly("ref_len", &BleuScore::ref_len)
      .def("__float__", [](const BleuScore& s) { return s.score; })
      .def("__str__", &BleuScore::format)
      .def("__repr__", [](const BleuScore& s) { return "<attend.BleuScore " + s.format() + ">"; });

  m.def("_bleu", &bleu, py::arg("hyps"), py::arg("refs"), py::arg("lowercase") = false);
  m.def("_train", &train_command, py::arg("args"), py::arg("validated") = py::none(),
        py::arg("progress") = py::none());
  m.def("_train_option_names", &train_option_names);
  m.def("_compare", &compare_command, py::arg("args"));
  m.def("model_options", [] {
    py::list out;
    for (const ModelField& f : model_fields())
      if (*f.option) out.append(py::make_tuple(f.option, f.describe()));
    return out;
  }, "The model options attend.train accepts (the library's model_fields()): (name, help) pairs.");
  m.def("set_threads", [](std::size_t n) { set_blas_threads(n); }, py::arg("threads"),
        "BLAS threads for the products (0 leaves the default)");
}
