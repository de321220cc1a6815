// `attend train --config FILE` on arbitrary file contents: the same option groups train binds,
// parsed by the CLI's config reader (store_config_text, what store_config_file runs on the file's
// text), then the library's own checks. Any input is accepted or refused with attend::Error or a
// Boost.Program_options error (both: `attend: error: …`, exit 2).
#include <cstdint>
#include <string>

#include "../src/cli/common.hpp"
#include "attend/core/error.hpp"

namespace {

namespace po = boost::program_options;

// The options bound to these structs are declared once; each input starts from their defaults.
struct Bound {
  attend::TaskOptions task;
  attend::ModelConfig model = attend::cli::cli_model_config();
  attend::TrainOptions train = attend::cli::cli_train_options();
  attend::TextPipelineOptions text;
};

Bound bound;

const po::options_description& options() {
  static const po::options_description desc = [] {
    po::options_description d;
    d.add(attend::cli::task_options(bound.task));
    attend::cli::add_model_options(d, bound.model);
    attend::cli::add_optimization_options(d, bound.train);
    attend::cli::add_text_pipeline_options(d, bound.text, "test files");
    return d;
  }();
  return desc;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const po::options_description& desc = options();
  bound = Bound{};
  try {
    po::variables_map vm;
    attend::cli::store_config_text(std::string(reinterpret_cast<const char*>(data), size), "fuzz.cfg", desc, vm);
    po::notify(vm);
    attend::cli::finish_train_options(bound.train);
    bound.model.src_vocab = bound.model.tgt_vocab = 8;
    bound.model.validate();
  } catch (const attend::Error&) {
  } catch (const po::error&) {
  }
  return 0;
}
