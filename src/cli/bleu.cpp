// `attend bleu --hyp F --ref F [--ref F2 ...] [-lc] [--metrics bleu,chrf,chrf++,ter]`: corpus
// BLEU, chrF, chrF++ and TER as sacreBLEU computes them by default.
#include <attend/eval/bleu.hpp>
#include <attend/eval/chrf.hpp>
#include <attend/eval/ter.hpp>
#include <attend/text/corpus.hpp>
#include <attend/core/error.hpp>
#include <algorithm>
#include <iostream>
#include <nlohmann/json.hpp>

#include "common.hpp"

namespace attend::cli {

namespace {

const char* const kMetricNames = "bleu, chrf, chrf++, ter";

std::vector<std::string> parse_metrics(const std::string& list) {
  std::vector<std::string> items = split_list(list), names;
  if (items.empty()) items.push_back("");
  for (const auto& name : items) {
    if (name != "bleu" && name != "chrf" && name != "chrf++" && name != "ter")
      throw Error("--metrics: unknown metric '" + name + "' (valid: " + kMetricNames + ")");
    if (std::find(names.begin(), names.end(), name) == names.end()) names.push_back(name);
  }
  return names;
}

// The signature fields follow sacreBLEU's JSON output for the same metric.
nlohmann::json bleu_object(const BleuScore& s, std::size_t nrefs, bool lowercase) {
  return {{"name", "BLEU"},         {"score", s.score},   {"precisions", s.precisions},
          {"counts", s.counts},     {"totals", s.totals}, {"bp", s.bp},
          {"ratio", s.ratio},       {"hyp_len", s.hyp_len}, {"ref_len", s.ref_len},
          {"nrefs", nrefs},         {"case", lowercase ? "lc" : "mixed"},
          {"tok", "13a"},           {"smooth", "exp"}};
}

nlohmann::json chrf_object(const ChrfScore& s, std::size_t nrefs) {
  return {{"name", s.name()},
          {"score", s.score},
          {"statistics", s.statistics},
          {"nrefs", nrefs},
          {"case", s.options.lowercase ? "lc" : "mixed"},
          {"eff", s.options.eps_smoothing ? "no" : "yes"},
          {"nc", s.options.char_order},
          {"nw", s.options.word_order},
          {"space", s.options.whitespace ? "yes" : "no"}};
}

nlohmann::json ter_object(const TerScore& s, std::size_t nrefs) {
  return {{"name", "TER"},
          {"score", s.score},
          {"num_edits", s.num_edits},
          {"ref_length", s.ref_length},
          {"nrefs", nrefs},
          {"case", s.options.case_sensitive ? "mixed" : "lc"},
          {"tok", "tercom"},
          {"norm", "no"},
          {"punct", s.options.no_punct ? "no" : "yes"},
          {"asian", "no"}};
}

}  // namespace

int run_bleu(const std::vector<std::string>& args) {
  std::string hyp_path, json_path, metrics = "bleu";
  std::vector<std::string> ref_paths;
  bool lowercase = false;
  po::options_description desc("Options");
  desc.add_options()
      ("hyp", po::value<std::string>(&hyp_path), "hypotheses, one detokenised sentence per line (required)")
      ("ref,r", po::value<std::vector<std::string>>(&ref_paths)->multitoken(),
       "reference file(s), line by line with --hyp (required; repeat for several references)")
      ("lc", po::bool_switch(&lowercase), "lower-case hypotheses and references for BLEU (sacreBLEU -lc)")
      ("metrics", po::value<std::string>(&metrics)->default_value("bleu"),
       "comma-separated: bleu, chrf (chrF2), chrf++ (chrF2++), ter; one line each")
      ("metrics-json", po::value<std::string>(&json_path),
       "also write the score as JSON here (several metrics: an array of one object each)")
      ("help,h", "show this help");
  // sacreBLEU spells lower-casing "-lc"; accept it as well as --lc.
  std::vector<std::string> fixed(args);
  for (auto& a : fixed)
    if (a == "-lc") a = "--lc";
  po::variables_map vm;
  const char* usage =
      "usage: attend bleu --hyp F --ref F [--ref F2 ...] [-lc] [--metrics bleu,chrf,chrf++,ter]\n\n"
      "Corpus BLEU-4, chrF2, chrF2++ and TER as sacreBLEU 2.x computes them by default (BLEU: 13a\n"
      "tokenisation, exp smoothing, closest reference length); prints each score like sacreBLEU's\n"
      "text output.\n";
  if (!parse_command_line(fixed, desc, usage, vm)) return 0;
  po::notify(vm);
  require(vm, "hyp", "bleu");
  require(vm, "ref", "bleu");
  const auto names = parse_metrics(metrics);
  // Empty lines are legitimate here (an empty translation); invalid UTF-8 is still an error.
  const auto hyps = read_monolingual(hyp_path, 0, {}, false, {}, true).lines;
  std::vector<std::vector<std::string>> refs;
  for (const auto& r : ref_paths) {
    refs.push_back(read_monolingual(r, 0, {}, false, {}, true).lines);
    if (refs.back().size() != hyps.size())
      throw Error("line counts differ: '" + hyp_path + "' has " + std::to_string(hyps.size()) +
                  " lines but '" + r + "' has " + std::to_string(refs.back().size()));
  }
  nlohmann::json objects = nlohmann::json::array();
  for (const auto& name : names) {
    if (name == "bleu") {
      const BleuScore s = corpus_bleu(hyps, refs, lowercase);
      std::cout << s.format() << "\n";
      objects.push_back(bleu_object(s, refs.size(), lowercase));
    } else if (name == "ter") {
      const TerScore s = corpus_ter(hyps, refs);
      std::cout << s.format() << "\n";
      objects.push_back(ter_object(s, refs.size()));
    } else {
      ChrfOptions o;
      if (name == "chrf++") o.word_order = 2;
      const ChrfScore s = corpus_chrf(hyps, refs, o);
      std::cout << s.format() << "\n";
      objects.push_back(chrf_object(s, refs.size()));
    }
  }
  if (!json_path.empty())
    write_file_atomic(json_path, (objects.size() == 1 ? objects[0] : objects).dump(2) + "\n");
  return 0;
}

}  // namespace attend::cli
