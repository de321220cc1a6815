// `attend average --out M.safetensors M1 M2 ...`: the element-wise mean of the parameters of
// several checkpoints of one model (checkpoint averaging, docs/training.md).
#include <attend/core/error.hpp>
#include <attend/io/average.hpp>
#include <attend/io/checkpoint.hpp>
#include <iostream>

#include "common.hpp"

namespace attend::cli {

int run_average(const std::vector<std::string>& args) {
  std::string out;
  std::vector<std::string> models;
  po::options_description desc("Options");
  desc.add_options()
      ("out", po::value<std::string>(&out), "where to write the averaged model (atomically)")
      ("model", po::value<std::vector<std::string>>(&models), "a model to average (or give the files after the options)")
      ("help,h", "show this help");
  po::positional_options_description positional;
  positional.add("model", -1);
  const char* usage =
      "usage: attend average --out AVG.safetensors M1.safetensors M2.safetensors ...\n\n"
      "Writes the element-wise mean of the models' parameters (summed in double, stored as float).\n"
      "The models must share the configuration (every model.* key and the tokenizer), the\n"
      "vocabularies and the subword models; typically checkpoints of one training run. The output\n"
      "keeps the first model's metadata (vocabularies, text options, subword models, info) and no\n"
      "training state: it translates and evaluates, and trains only as a new run.\n";
  std::vector<std::string> rest(args.begin() + 1, args.end());
  for (const auto& a : rest)
    if (a == "--help" || a == "-h") {
      std::cout << usage << "\n" << desc;
      return 0;
    }
  po::variables_map vm;
  po::store(po::command_line_parser(rest).options(desc).positional(positional).run(), vm);
  po::notify(vm);
  if (out.empty()) throw Error("average needs --out FILE (where to write the averaged model)");
  if (models.empty()) throw Error("average needs at least one model file to average");
  for (const auto& m : models)
    if (m == out) throw Error("average writes a new file: --out '" + out + "' is also one of the models averaged");
  average_checkpoint_files(models, out);
  const ModelBundle check = load_model(out);
  std::cout << "averaged " << models.size() << (models.size() == 1 ? " model" : " models") << " into " << out << " ("
            << check.model->params().size() << " parameters)\n";
  return 0;
}

}  // namespace attend::cli
