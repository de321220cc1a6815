// Helpers shared by the `attend` commands: option plumbing, attention maps, progress lines and
// atomic file writes. The CLI is a thin layer over the library; nothing here does numerics.
#pragma once
#include <attend/checkpoint.hpp>
#include <attend/search.hpp>
#include <attend/trainer.hpp>
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
// The length limit on sources (location attention), 0 = none.
std::size_t source_limit(const ModelConfig& config);

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
