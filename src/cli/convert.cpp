// `attend convert-checkpoint OLD NEW`: rewrites a version-1 (HDF5) checkpoint as version 2
// (safetensors). The only command that hands a file to libhdf5: its parser is not hardened against
// damaged input (docs/reliability.md), so use it on files you trust.
#include <attend/core/error.hpp>
#include <attend/io/checkpoint.hpp>
#include <attend/io/checkpoint_file.hpp>
#include <iostream>

#include "common.hpp"

namespace attend::cli {

int run_convert_checkpoint(const std::vector<std::string>& args) {
  std::string in, out;
  po::options_description desc("Options");
  desc.add_options()
      ("in", po::value<std::string>(&in), "a version-1 checkpoint (HDF5), as written before format 2")
      ("out", po::value<std::string>(&out), "where to write the version-2 checkpoint (safetensors)")
      ("help,h", "show this help");
  po::positional_options_description positional;
  positional.add("in", 1).add("out", 1);
  const char* usage =
      "usage: attend convert-checkpoint OLD.h5 NEW.safetensors\n\n"
      "Reads a version-1 checkpoint with libhdf5 (only this command parses HDF5; use it on files\n"
      "you trust) and writes the same model, vocabularies, tokenizer and training state as a\n"
      "version-2 checkpoint, then loads the new file to check it.\n";
  po::variables_map vm;
  std::vector<std::string> rest(args.begin() + 1, args.end());
  for (const auto& a : rest)
    if (a == "--help" || a == "-h") {
      std::cout << usage << "\n" << desc;
      return 0;
    }
  po::store(po::command_line_parser(rest).options(desc).positional(positional).run(), vm);
  po::notify(vm);
  if (in.empty() || out.empty()) throw Error("convert-checkpoint needs OLD and NEW file names");
  if (in == out) throw Error("convert-checkpoint writes a new file; give NEW a different name from OLD");
  save_checkpoint_file(out, load_checkpoint_file_hdf5(in));
  const ModelBundle check = load_model(out);
  std::cout << "wrote " << out << " (format version " << kCheckpointVersion << ", "
            << check.model->params().size() << " parameters)\n";
  return 0;
}

}  // namespace attend::cli
