// Helpers shared by the `attend` commands: option plumbing, attention maps, progress lines and
// atomic file writes. The CLI is a thin layer over the library; nothing here does numerics.
#pragma once
#include <attend/io/checkpoint.hpp>
#include <attend/nn/config.hpp>
#include <attend/decode/search.hpp>
#include <attend/text/tasks.hpp>
#include <attend/eval/evaluate.hpp>
#include <attend/train/trainer.hpp>
#include <boost/program_options.hpp>
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
// Every default value of these options is written here and only here (--help shows them).

constexpr std::size_t kDefaultSteps = 1500;  // updates when neither --steps nor --epochs is given

// A built-in task; fields at 0 mean "the task's own default".
struct TaskSettings {
  std::string task = "dates";
  std::size_t train_size = 0, valid_size = 0, test_size = 0;
  int min_len = 0, max_len = 0, test_min_len = 0, test_max_len = 0;
};
po::options_description task_options(TaskSettings& s);
TaskOptions task_options_of(const TaskSettings& s);  // the seed is the caller's

// The model options other than the cell, the attention and the decoder style (which train takes
// one of and compare takes lists of).
struct ArchitectureSettings {
  std::size_t layers = 1;
  bool bidirectional = false;
  std::size_t emb = 32;
  std::size_t hidden = 128;
  double dropout = 0.0;
  std::size_t window = 5;
  std::size_t heads = 4;
  std::string score = "general";
  std::size_t max_src_len = 64;  // location attention: defaults to the longest source instead
  std::string bridge = "copy";
  bool reverse_source = false;
};
void add_architecture_options(po::options_description& d, ArchitectureSettings& s);
void apply_architecture(const ArchitectureSettings& s, ModelConfig& c);

// Optimisation and budget (the seed and --threads are each command's own: their meaning differs).
struct OptimizationSettings {
  std::string optimizer = "adam";
  double lr = 0.003;
  double momentum = 0.0;
  double clip = 5.0;
  double teacher_forcing = 1.0;
  double label_smoothing = 0.0;
  std::size_t batch = 64;
  std::size_t steps = 0;   // steps = epochs = 0: kDefaultSteps
  std::size_t epochs = 0;
  std::size_t eval_every = 0;  // 0 = once per epoch
  std::size_t patience = 0;    // 0 = never stop early
  double lr_decay = 1.0;
};
void add_optimization_options(po::options_description& d, OptimizationSettings& s);
// Checks what the library's validation does not see (optimizer name, ranges).
void check_optimization(const OptimizationSettings& s);
TrainOptions to_train_options(const OptimizationSettings& s);  // the seed is the caller's

// Parallel text files instead of a task, and how they become tokens, plus the options that only
// apply to training on files (BLEU validation, time limit, test-set beam search).
struct CorpusSettings {
  std::string train_src, train_tgt, valid_src, valid_tgt, test_src, test_tgt;
  std::string tokenizer;            // "" = char for a task, space for files
  std::size_t spm_vocab = 8000;
  std::string spm_type = "bpe";
  bool shared_vocab = false;
  std::size_t min_freq = 1;
  std::size_t max_vocab = 0;        // 0 = no limit (counts the 4 specials)
  std::size_t max_src_tokens = 0;   // drop training pairs with longer sources; 0 = keep all
  std::size_t max_tgt_tokens = 0;
  std::size_t max_line_tokens = 1000;  // a longer line in any file is a bad line
  bool lowercase = false;
  bool normalize = false;
  bool skip_bad_lines = false;
  std::size_t bleu_every = 0;       // 0 = at every validation (--eval-every, default once per epoch)
  double time_limit = 0;            // seconds; 0 = none
  std::size_t beam = 1;             // test-set decoding at the end
  double length_penalty = 0.0;
};
// `test_help` describes --test-src (optional for train, required for compare).
void add_corpus_options(po::options_description& d, CorpusSettings& s, const std::string& test_help);
// The corpus options given on the command line or in the config file (not defaulted).
std::vector<std::string> corpus_options_given(const po::variables_map& vm);

// --model and --threads, shared by translate, eval and score.
struct ModelOptions {
  std::string model;
  std::size_t threads = 0;
};
void add_model_options(po::options_description& desc, ModelOptions& o);
ModelBundle load_model_for(const ModelOptions& o, const po::variables_map& vm,
                           const std::string& command);

// ---- text -------------------------------------------------------------------------------------

// Reads a text file into lines (a trailing '\r' removed); throws Error naming an unreadable file.
std::vector<std::string> read_lines(const std::string& path);
// Removes a trailing '\r' (CRLF input).
void chomp(std::string& line);
// Writes `content` to PATH.tmp, flushes and renames it to PATH; throws Error on failure.
void write_file_atomic(const std::string& path, const std::string& content);

// Source ids of one line; throws Error "WHERE: ..." when the line does not fit location attention.
std::vector<int> encode_source(const ModelBundle& bundle, const std::string& line,
                               const std::string& where);
// Detokenised best translations of encoded sources: greedy in batches (beam 1) or beam search.
std::vector<std::string> translate_encoded(const ModelBundle& bundle,
                                           const std::vector<EncodedPair>& pairs,
                                           const SearchOptions& opt);
// The text options the model was trained with (info "lowercase" / "normalize"), applied to
// input lines the same way.
std::string prepare_input(const ModelBundle& bundle, const std::string& line);

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

}  // namespace attend::cli
