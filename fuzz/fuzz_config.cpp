// `attend train --config FILE` on arbitrary file contents: the same option groups train binds,
// parsed by the CLI's store_config_file, then the library's own checks. Any input is accepted or
// refused with attend::Error or a Boost.Program_options error (both: `attend: error: …`, exit 2).
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <string>

#include "../src/cli/common.hpp"
#include "attend/core/error.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  namespace po = boost::program_options;
  static const std::string path = std::string(std::getenv("TMPDIR") ? std::getenv("TMPDIR") : "/tmp") +
                                  "/attend-fuzz-config-" + std::to_string(::getpid()) + ".cfg";
  std::FILE* f = std::fopen(path.c_str(), "wb");
  if (!f) __builtin_trap();
  if (size && std::fwrite(data, 1, size, f) != size) __builtin_trap();
  std::fclose(f);

  attend::TaskOptions task;
  attend::ModelConfig model = attend::cli::cli_model_config();
  attend::TrainOptions train = attend::cli::cli_train_options();
  attend::TextPipelineOptions text;
  po::options_description desc;
  desc.add(attend::cli::task_options(task));
  attend::cli::add_model_options(desc, model);
  attend::cli::add_optimization_options(desc, train);
  attend::cli::add_text_pipeline_options(desc, text, "test files");
  try {
    po::variables_map vm;
    attend::cli::store_config_file(path, desc, vm);
    po::notify(vm);
    attend::cli::finish_train_options(train);
    model.src_vocab = model.tgt_vocab = 8;
    model.validate();
  } catch (const attend::Error&) {
  } catch (const po::error&) {
  }
  return 0;
}
