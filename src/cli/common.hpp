// Helpers shared by the `attend` commands: option plumbing, attention maps and progress lines.
// The CLI is a thin layer over the library; nothing here does numerics.
#pragma once
#include <attend/core/atomic_file.hpp>
#include <attend/experiment/run.hpp>
#include <attend/io/checkpoint.hpp>
#include <attend/text/pipeline.hpp>
#include <attend/nn/config.hpp>
#include <attend/decode/search.hpp>
#include <attend/text/tasks.hpp>
#include <attend/eval/evaluate.hpp>
#include <attend/train/trainer.hpp>
#include <boost/program_options.hpp>
#include <iosfwd>
#include <string>
#include <vector>

namespace attend::cli {

namespace po = boost::program_options;

// A command's entry point: the arguments after the command name (args[0] is "attend <command>").
using Command = int (*)(const std::vector<std::string>& args);

int run_train(const std::vector<std::string>& args);
int run_translate(const std::vector<std::string>& args);
int run_eval(const std::vector<std::string>& args);
int run_score(const std::vector<std::string>& args);
int run_tasks(const std::vector<std::string>& args);
int run_bleu(const std::vector<std::string>& args);

// ---- options --------------------------------------------------------------------------------

// Default value shown in --help as written ("0.003", not "0.0030000000000000001").
std::string show(double value);

// A non-negative whole number option. Boost would read "-3" into a std::size_t as 2^64 − 3;
// this type accepts digits only and stores into a plain std::size_t field through a notifier.
struct Count {
  std::size_t value = 0;
};
void validate(boost::any& v, const std::vector<std::string>& tokens, Count*, int);
std::ostream& operator<<(std::ostream& out, const Count& c);
po::typed_value<Count>* count_value(std::size_t* field);          // no default
po::typed_value<Count>* count_option(std::size_t* field);         // default: *field

// Parses the command line into vm; returns false (after printing the help) for --help.
bool parse_command_line(const std::vector<std::string>& args, const po::options_description& desc,
                        const std::string& usage, po::variables_map& vm);
// Stores a Boost config file into vm (options already there win); errors name the file.
void store_config_file(const std::string& path, const po::options_description& desc,
                       po::variables_map& vm);
// The same on the file's text (`path` names it in errors); store_config_file reads the file and
// calls this, and so does the config fuzz target.
void store_config_text(const std::string& text, const std::string& path, const po::options_description& desc,
                       po::variables_map& vm);
// Throws attend::Error "--NAME is required" when a required option is absent.
void require(const po::variables_map& vm, const std::string& name, const std::string& command);

// An option with its default shown in --help: a whole number as a Count, a double as written
// ("0.003"), anything else as Boost prints it; a flag is false by default and true when given
// without a value.
po::typed_value<Count>* opt(std::size_t* field);
po::typed_value<double>* opt(double* field);
template <typename T>
po::typed_value<T>* opt(T* field) {
  return po::value<T>(field)->default_value(*field);
}
po::typed_value<bool>* flag(bool* field);

// ---- option groups shared by `attend train` and `attend compare` -------------------------------
// Each binds straight to a library struct, whose initialisers are the defaults --help shows; the
// few the command line changes are in cli_model_config() and cli_train_options().

// The library's defaults with the command line's own: see common.cpp for why they differ.
ModelConfig cli_model_config();
TrainOptions cli_train_options();

po::options_description task_options(TaskOptions& t);  // the seed is the caller's
// The model options, one per field of ModelConfig::model_fields() (its option name, help and
// choices), bound straight to `c`; `except` names checkpoint keys a command binds its own way.
void add_model_options(po::options_description& d, ModelConfig& c, const std::vector<std::string>& except = {});
// After parsing: --attention left out means the decoder's own default strategy, when it has one
// (the Transformer decoder's is multihead).
void apply_decoder_defaults(ModelConfig& c, const po::variables_map& vm);
// Optimisation, learning-rate schedule and budget (the seed and --threads are each command's
// own: their meaning differs).
void add_optimization_options(po::options_description& d, TrainOptions& o);
// Reports the library's objection to the options (attend::validate) and resolves neither
// --steps nor --epochs to the default number of steps.
void finish_train_options(TrainOptions& o);
// Parallel text files and how they become tokens; `test_help` describes --test-src (optional for
// train, required for compare).
void add_text_pipeline_options(po::options_description& d, TextPipelineOptions& t,
                               const std::string& test_help);
// The options that apply only to training on files, bound wherever the command keeps them.
void add_file_run_options(po::options_description& d, std::size_t* bleu_every, double* time_limit,
                          std::size_t* beam, double* length_penalty);
// What `attend train` and the Python module's attend.train both declare beyond the shared groups,
// bound to the run's options: on files, --resume and the checkpoint averages; in training, --seed,
// --diagnostics-every and --threads; in the output, --model and --metrics-json.
void add_resume_options(po::options_description& d, FileRunOptions& run);
void add_run_control_options(po::options_description& d, FileRunOptions& run);
void add_run_output_options(po::options_description& d, FileRunOptions& run, std::string& metrics_json);
// The file options given on the command line or in the config file (not defaulted).
std::vector<std::string> corpus_options_given(const po::variables_map& vm);

// --model and --threads, shared by translate, eval and score.
struct ModelOptions {
  std::string model;
  std::size_t threads = 0;
  std::string normalize;  // --normalize: must match the model's, or is applied to a model without one
};
void add_model_options(po::options_description& desc, ModelOptions& o);
// --normalize SPEC of train and compare into text options (the older 1/0 spellings: whitespace
// or nothing); throws Error for an unknown step.
void set_normalization(TextOptions& text, const std::string& spec);
// --normalize SPEC of translate, eval and score against the model's recorded normalisation: the
// same is fine, none recorded takes SPEC, anything else is an Error saying both.
void apply_normalize_option(ModelBundle& b, const std::string& spec, const std::string& path);
ModelBundle load_model_for(const ModelOptions& o, const po::variables_map& vm,
                           const std::string& command);

// ---- text -------------------------------------------------------------------------------------

// Removes a trailing '\r' (CRLF input).
void chomp(std::string& line);
// A comma-separated option value as its items, each trimmed of blanks; "" gives none.
std::vector<std::string> split_list(const std::string& s);
// split_list's items as numbers ("--lr-grid 0.001,0.003"); throws Error "OPTION: 'x' is not a
// number" for an item that is not one whole number (an empty item included).
std::vector<double> parse_number_list(const std::string& option, const std::string& text);


// Text attention map: a header row with the source tokens, then one row per output token whose
// cells shade the weight of each source token with " .:-=+*#%@".
std::string attention_map(const std::vector<std::string>& src, const std::vector<std::string>& out,
                          const std::vector<std::vector<float>>& weights);

// ---- progress ---------------------------------------------------------------------------------

std::string format_duration(double seconds);      // 0:41, 12:03, 1:02:03
std::string format_thousands(double value);       // 12,345
std::string format_progress(const TrainProgress& p);
bool stderr_is_tty();
bool stdin_is_tty();

// ---- mpirun -------------------------------------------------------------------------------------

// The ranks other than 0 print nothing (their progress and reports would repeat rank 0's).
class SilentUnless {
 public:
  explicit SilentUnless(bool speaks);
  ~SilentUnless() { restore(); }
  SilentUnless(const SilentUnless&) = delete;
  SilentUnless& operator=(const SilentUnless&) = delete;
  void restore();

 private:
  std::streambuf* out_ = nullptr;
  std::streambuf* err_ = nullptr;
};

// After an error on one rank under mpirun: prints it with the rank (even on a silenced rank) and
// ends every rank with status 2, since the others would wait in their next collective call.
[[noreturn]] void abort_all_ranks(Communicator& world, SilentUnless& silent, const std::exception& e);

}  // namespace attend::cli
