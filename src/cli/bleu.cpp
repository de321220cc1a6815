// `attend bleu --hyp F --ref F [--ref F2 ...] [-lc] [--metrics bleu,chrf,chrf++,ter]`: corpus
// BLEU, chrF, chrF++ and TER as sacreBLEU computes them by default.
#include <attend/eval/bleu.hpp>
#include <attend/eval/bleu_stats.hpp>
#include <attend/eval/chrf.hpp>
#include <attend/eval/significance.hpp>
#include <attend/eval/ter.hpp>
#include <attend/text/corpus.hpp>
#include <attend/core/error.hpp>
#include <algorithm>
#include <cstdio>
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

// --paired-bootstrap BASE: the hypotheses against BASE's on the same sentences, on corpus BLEU and
// corpus chrF2 (one reference), as the compare reports test two variants.
nlohmann::json paired_bootstrap_against(const std::vector<std::string>& hyps, const std::vector<std::string>& base,
                                        const std::vector<std::string>& ref, bool lowercase, std::size_t resamples,
                                        const std::string& base_path) {
  std::vector<BleuStats> bleu_a(hyps.size()), bleu_b(hyps.size());
  std::vector<ChrfStatistics> chrf_a(hyps.size()), chrf_b(hyps.size());
  const ChrfOptions chrf;  // sacreBLEU's default, case-sensitive also under -lc (as the chrF line)
  for (std::size_t i = 0; i < hyps.size(); ++i) {
    bleu_a[i] = bleu_stats(hyps[i], ref[i], lowercase);
    bleu_b[i] = bleu_stats(base[i], ref[i], lowercase);
    chrf_a[i] = corpus_chrf({hyps[i]}, {{ref[i]}}, chrf).statistics;
    chrf_b[i] = corpus_chrf({base[i]}, {{ref[i]}}, chrf).statistics;
  }
  const BootstrapResult b = paired_bootstrap_bleu({bleu_a}, {bleu_b}, resamples);
  const BootstrapResult c = paired_bootstrap_chrf({chrf_a}, {chrf_b}, chrf, resamples);
  auto p_text = [](double p) {
    char buf[32];
    std::snprintf(buf, sizeof buf, p < 0.001 ? "< 0.001" : "%.3f", p);
    return std::string(buf);
  };
  char line[256];
  std::snprintf(line, sizeof line, "paired bootstrap against %s (%zu resamples): BLEU %+.2f (p %s), chrF2 %+.2f (p %s)",
                base_path.c_str(), resamples, b.delta, p_text(b.p_value).c_str(), c.delta, p_text(c.p_value).c_str());
  std::cout << line << "\n";
  return {{"name", "paired bootstrap"}, {"baseline", base_path}, {"resamples", resamples},
          {"bleu_delta", b.delta},      {"bleu_p", b.p_value},     {"chrf_delta", c.delta},
          {"chrf_p", c.p_value},        {"method", bootstrap_bleu_method()}};
}

}  // namespace

int run_bleu(const std::vector<std::string>& args) {
  std::string hyp_path, json_path, metrics = "bleu", base_path;
  std::size_t resamples = 1000;
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
      ("paired-bootstrap", po::value<std::string>(&base_path),
       "another system's hypotheses for the same lines: test --hyp against them by paired bootstrap "
       "resampling (Koehn 2004) on corpus BLEU and chrF2 (one --ref)")
      ("resamples", count_option(&resamples), "--paired-bootstrap: resamples")
      ("help,h", "show this help");
  // sacreBLEU spells lower-casing "-lc"; accept it as well as --lc.
  std::vector<std::string> fixed(args);
  for (auto& a : fixed)
    if (a == "-lc") a = "--lc";
  po::variables_map vm;
  const char* usage =
      "usage: attend bleu --hyp F --ref F [--ref F2 ...] [-lc] [--metrics bleu,chrf,chrf++,ter]\n"
      "                  [--paired-bootstrap BASELINE_HYP]\n\n"
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
  std::vector<std::string> base;
  if (!base_path.empty()) {
    if (refs.size() != 1) throw Error("--paired-bootstrap takes one --ref");
    base = read_monolingual(base_path, 0, {}, false, {}, true).lines;
    if (base.size() != hyps.size())
      throw Error("line counts differ: '" + hyp_path + "' has " + std::to_string(hyps.size()) + " lines but '" +
                  base_path + "' has " + std::to_string(base.size()));
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
  if (!base_path.empty())
    objects.push_back(paired_bootstrap_against(hyps, base, refs[0], lowercase, resamples, base_path));
  if (!json_path.empty())
    write_file_atomic(json_path, (objects.size() == 1 ? objects[0] : objects).dump(2) + "\n");
  return 0;
}

}  // namespace attend::cli
