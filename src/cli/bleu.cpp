// `attend bleu --hyp F --ref F [--ref F2 ...] [-lc]`: corpus BLEU as sacreBLEU computes it by default.
#include <attend/eval/bleu.hpp>
#include <attend/text/corpus.hpp>
#include <attend/core/error.hpp>
#include <iostream>
#include <nlohmann/json.hpp>

#include "common.hpp"

namespace attend::cli {

int run_bleu(const std::vector<std::string>& args) {
  std::string hyp_path, json_path;
  std::vector<std::string> ref_paths;
  bool lowercase = false;
  po::options_description desc("Options");
  desc.add_options()
      ("hyp", po::value<std::string>(&hyp_path), "hypotheses, one detokenised sentence per line (required)")
      ("ref,r", po::value<std::vector<std::string>>(&ref_paths)->multitoken(),
       "reference file(s), line by line with --hyp (required; repeat for several references)")
      ("lc", po::bool_switch(&lowercase), "lower-case hypotheses and references (sacreBLEU -lc)")
      ("metrics-json", po::value<std::string>(&json_path), "also write the score as JSON here")
      ("help,h", "show this help");
  // sacreBLEU spells lower-casing "-lc"; accept it as well as --lc.
  std::vector<std::string> fixed(args);
  for (auto& a : fixed)
    if (a == "-lc") a = "--lc";
  po::variables_map vm;
  const char* usage =
      "usage: attend bleu --hyp F --ref F [--ref F2 ...] [-lc]\n\n"
      "Corpus BLEU-4 as sacreBLEU 2.x computes it by default (13a tokenisation, exp smoothing,\n"
      "closest reference length); prints the score like sacreBLEU's text output.\n";
  if (!parse_command_line(fixed, desc, usage, vm)) return 0;
  po::notify(vm);
  require(vm, "hyp", "bleu");
  require(vm, "ref", "bleu");
  // Empty lines are legitimate here (an empty translation); invalid UTF-8 is still an error.
  const auto hyps = read_monolingual(hyp_path, 0, {}, false, {}, true).lines;
  std::vector<std::vector<std::string>> refs;
  for (const auto& r : ref_paths) {
    refs.push_back(read_monolingual(r, 0, {}, false, {}, true).lines);
    if (refs.back().size() != hyps.size())
      throw Error("line counts differ: '" + hyp_path + "' has " + std::to_string(hyps.size()) +
                  " lines but '" + r + "' has " + std::to_string(refs.back().size()));
  }
  const BleuScore s = corpus_bleu(hyps, refs, lowercase);
  std::cout << s.format() << "\n";
  if (!json_path.empty()) {
    nlohmann::json j = {{"name", "BLEU"},
                        {"score", s.score},
                        {"precisions", s.precisions},
                        {"counts", s.counts},
                        {"totals", s.totals},
                        {"bp", s.bp},
                        {"ratio", s.ratio},
                        {"hyp_len", s.hyp_len},
                        {"ref_len", s.ref_len},
                        {"nrefs", refs.size()},
                        {"case", lowercase ? "lc" : "mixed"},
                        {"tok", "13a"},
                        {"smooth", "exp"}};
    write_file_atomic(json_path, j.dump(2) + "\n");
  }
  return 0;
}

}  // namespace attend::cli
