// `attend tasks`: the built-in toy tasks, each with its description and one example.
#include <attend/text/tasks.hpp>
#include <attend/text/vocab.hpp>
#include <iostream>

#include "common.hpp"

namespace attend::cli {

int run_tasks(const std::vector<std::string>& args) {
  po::options_description desc("Options");
  desc.add_options()("help,h", "show this help");
  po::variables_map vm;
  if (!parse_command_line(args, desc, "usage: attend tasks\n\nLists the built-in toy tasks.\n", vm))
    return 0;
  std::size_t name_width = 0, desc_width = 0;
  for (const auto& name : task_names()) {
    name_width = std::max(name_width, name.size());
    desc_width = std::max(desc_width, task_description(name).size());
  }
  for (const auto& name : task_names()) {
    const Example e = task_example(name);
    const std::string d = task_description(name);
    std::cout << name << std::string(name_width + 3 - name.size(), ' ') << d
              << std::string(desc_width + 3 - d.size(), ' ') << detokenize(e.src, Tokenizer::Char)
              << " \u2192 " << detokenize(e.tgt, Tokenizer::Char) << "\n";
  }
  return 0;
}

}  // namespace attend::cli
