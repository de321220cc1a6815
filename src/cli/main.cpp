// `attend <command> [options]`: dispatch to a command and turn every failure into
// "attend: error: <message>" on stderr and exit status 2.
#include <attend/core/error.hpp>
#include <attend/core/float_mode.hpp>
#include <algorithm>
#include <cstring>
#include <iostream>
#include <new>

#include "common.hpp"
#include "compare.hpp"

namespace attend::cli {
int run_average(const std::vector<std::string>& args);
int run_bench(const std::vector<std::string>& args);
int run_convert_checkpoint(const std::vector<std::string>& args);
int run_serve(const std::vector<std::string>& args);
}

namespace {

using attend::cli::Command;

struct CommandEntry {
  const char* name;
  Command run;
  const char* summary;
};

const CommandEntry kCommands[] = {
    {"train", attend::cli::run_train, "train a model (default: the dates toy task)"},
    {"translate", attend::cli::run_translate, "translate stdin line by line with a trained model"},
    {"eval", attend::cli::run_eval, "exact match, token accuracy and perplexity on a test set"},
    {"score", attend::cli::run_score, "log-probability of each target line given its source"},
    {"tasks", attend::cli::run_tasks, "list the built-in toy tasks"},
    {"bleu", attend::cli::run_bleu, "corpus BLEU of hypotheses against references (sacreBLEU's default)"},
    {"compare", attend::cli::run_compare_command, "train a grid of cells x attention x seeds; report"},
    {"serve", attend::cli::run_serve, "translate over HTTP and show the attention explorer page"},
    {"bench", attend::cli::run_bench, "training and decoding speed of one model shape"},
    {"average", attend::cli::run_average, "average the parameters of checkpoints of one model"},
    {"convert-checkpoint", attend::cli::run_convert_checkpoint, "rewrite a version-1 (HDF5) model file as version 2"},
};

void print_usage(std::ostream& out) {
  out << "usage: attend <command> [options]\n\ncommands:\n";
  for (const auto& c : kCommands) out << "  " << c.name << std::string(std::max<std::size_t>(20, std::strlen(c.name) + 2) - std::strlen(c.name), ' ') << c.summary << "\n";
  out << "\n`attend <command> --help` lists the command's options and their defaults.\n";
}

int dispatch(const std::vector<std::string>& args) {
  if (args.empty()) {
    print_usage(std::cerr);
    return 2;
  }
  if (args[0] == "--help" || args[0] == "-h" || args[0] == "help") {
    print_usage(std::cout);
    return 0;
  }
  for (const auto& c : kCommands)
    if (args[0] == c.name) return c.run(args);
  std::cerr << "attend: error: unknown command '" << args[0] << "'\n";
  print_usage(std::cerr);
  return 2;
}

int fail(const char* message) {
  std::cout.flush();
  std::cerr << "attend: error: " << message << std::endl;
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  // The command line owns its process: decoding flushes subnormals too (threads started later
  // inherit the mode); training sets its own mode from --flush-denormals.
  attend::set_flush_denormals(true);
  try {
    return dispatch(std::vector<std::string>(argv + 1, argv + argc));
  } catch (const attend::Error& e) {
    return fail(e.what());
  } catch (const boost::program_options::error& e) {
    return fail(e.what());
  } catch (const std::bad_alloc&) {
    return fail("out of memory (is a size such as --hidden, --emb or --batch too large?)");
  } catch (const std::exception& e) {
    return fail(e.what());
  } catch (...) {
    return fail("unexpected failure");
  }
}
