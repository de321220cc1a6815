// The JSON summary (results.json) of a comparison grid.
#include "attend/experiment/report.hpp"

#include <cmath>
#include <nlohmann/json.hpp>
#include <ostream>

#include "attend/experiment/grid_axis.hpp"
#include "report_text.hpp"

namespace attend {

using namespace report;

namespace {

using json = nlohmann::json;

json ms_json(const MeanStd& m) {
  if (m.n == 0) return nullptr;
  return {{"mean", m.mean}, {"std", m.std}, {"n", m.n}};
}

}  // namespace

void write_json(const CompareSummary& s, std::ostream& out) {
  json j;
  j["data"] = s.data_name;
  j["best"] = s.best;
  j["train_lengths"] = {s.train_min_len, s.train_max_len};
  j["test_lengths"] = {s.test_min_len, s.test_max_len};
  j["significance_method"] = bootstrap_method();
  j["alignment"] = s.alignment;
  j["alignment_note"] = s.alignment_note;
  if (s.corpus) {
    j["metric"] = "bleu";
    j["bleu_definition"] = bleu_definition(s);
    j["significance_method"] = bootstrap_bleu_method();
    j["data_description"] = s.data_description;
    j["length_unit"] = "words";
    if (s.has_chrf) {
      j["chrf_definition"] = chrf_definition(s);
      j["chrf_significance_method"] = bootstrap_chrf_method();
      j["metric_agreement"] = s.metric_agreement;
      json d = json::array();
      for (const auto& [a, b] : s.metric_disagreements) d.push_back({{"bleu_higher", a}, {"chrf_higher", b}});
      j["metric_disagreements"] = d;
    }
  }
  j["seed_test_method"] = seed_test_method();
  j["budget"] = s.budget;
  j["converge"] = s.converge;
  j["lr_grid"] = s.lr_grid;
  j["matching"] = {{"kind", s.matching}, {"text", s.matching_text}, {"parameters", s.parameters_text},
                   {"parameter_ratio", s.parameter_ratio}};
  j["validation_metric"] = s.validation_metric;
  json rankings = json::array();
  for (const auto& r : s.rankings) {
    json order = json::array();
    for (const auto& [name, value] : r.order) order.push_back({{"variant", name}, {"validation", value}});
    rankings.push_back({{"fraction", r.fraction}, {"step", r.step}, {"order", order}});
  }
  j["rankings_by_budget"] = rankings;
  j["ranking_changes"] = s.ranking_changes;
  j["ranking_note"] = s.ranking_note;
  auto seed_json = [](const SeedTest& t) {
    return json{{"seeds", t.seeds}, {"mean_difference", t.mean_difference}, {"judged", t.judged()},
                {"sign_flip_p", std::isfinite(t.sign_flip_p) ? json(t.sign_flip_p) : json(nullptr)},
                {"t", std::isfinite(t.t.t) ? json(t.t.t) : json(nullptr)}, {"df", t.t.df},
                {"t_test_p", std::isfinite(t.t.p) ? json(t.t.p) : json(nullptr)}};
  };
  json contrasts = json::array();
  for (const auto& c : s.contrasts) {
    json x = {{"axis", c.axis},
              {"value", c.value},
              {"reference_value", c.reference_value},
              {"variant", s.variants[c.variant].name},
              {"twin", s.variants[c.reference].name},
              {"seeds", seed_json(c.test.seeds)}};
    if (c.test.compared)
      x["bootstrap"] = {{s.corpus ? "delta_bleu" : "delta_exact_match", c.test.bootstrap.delta},
                        {"p_value", c.test.bootstrap.p_value},
                        {"items", c.test.bootstrap.items},
                        {"resamples", c.test.bootstrap.resamples}};
    if (s.has_chrf) {
      x["chrf_seeds"] = seed_json(c.test.seeds_chrf);
      if (c.test.compared_chrf)
        x["chrf_bootstrap"] = {{"delta_chrf", c.test.bootstrap_chrf.delta},
                               {"p_value", c.test.bootstrap_chrf.p_value},
                               {"items", c.test.bootstrap_chrf.items},
                               {"resamples", c.test.bootstrap_chrf.resamples}};
    }
    contrasts.push_back(x);
  }
  j["axis_contrasts"] = contrasts;
  json notes = json::array();
  for (const auto& [axis, text] : s.contrast_notes) notes.push_back({{"axis", axis}, {"note", text}});
  j["axis_contrast_notes"] = notes;
  // Present only in a grid with a width axis, so the other grids' files stay as they were. Per
  // series mean, std and n align with xs (null where there is no successful run); the metric is
  // "metric" (exact match 0–1 on a task, BLEU 0–100 on a corpus).
  if (!s.width_series.empty()) {
    json all = json::array();
    for (const auto& w : s.width_series) {
      json lines = json::array();
      for (const auto& line : w.series) {
        json mean = json::array(), sd = json::array(), n = json::array(), variants = json::array();
        for (std::size_t k = 0; k < w.xs.size(); ++k) {
          const MeanStd& m = line.cells[k];
          mean.push_back(m.n ? json(m.mean) : json(nullptr));
          sd.push_back(m.n ? json(m.std) : json(nullptr));
          n.push_back(m.n);
          variants.push_back(line.variants[k] >= 0 ? json(s.variants[std::size_t(line.variants[k])].name)
                                                   : json(nullptr));
        }
        json x = {{"name", line.name}, {"mean", mean}, {"std", sd}, {"n", n}, {"variants", variants}};
        if (line.tested) {
          x["test"] = {{"x_low", w.xs[line.low]}, {"x_high", w.xs[line.high]}, {"seeds", seed_json(line.test.seeds)}};
          if (line.test.compared)
            x["test"]["bootstrap"] = {{s.corpus ? "delta_bleu" : "delta_exact_match", line.test.bootstrap.delta},
                                      {"p_value", line.test.bootstrap.p_value},
                                      {"items", line.test.bootstrap.items},
                                      {"resamples", line.test.bootstrap.resamples}};
        }
        lines.push_back(x);
      }
      all.push_back({{"axis", w.axis},
                     {"x_label", w.x_label},
                     {"metric", s.corpus ? "bleu" : "exact_match"},
                     {"xs", w.xs},
                     {"series", lines},
                     {"note", w.note}});
    }
    j["width_series"] = all;
  }
  const bool best_exists = !s.best.empty();
  j["variants"] = json::array();
  for (const auto& v : s.variants) {
    json x = {{"variant", v.name},
              {"runs", v.runs.size()},
              {"ok", v.ok},
              {"diverged", v.diverged},
              {"failed", v.failed},
              {"exact_match", ms_json(v.exact_match)},
              {"token_accuracy", ms_json(v.token_accuracy)},
              {"perplexity", ms_json(v.perplexity)},
              {"parameters", v.parameters},
              {"train_seconds", ms_json(v.seconds)},
              {"tokens_per_s", ms_json(v.tokens_per_s)},
              {"attention_entropy", ms_json(v.attention_entropy)},
              {"uniform_entropy", ms_json(v.uniform_entropy)},
              {"gold_mass", ms_json(v.gold_mass)},
              {"best", v.is_best},
              {"notes", v.notes}};
    // Attention sparsity, when the runs measured it (runs recorded before it was have none).
    if (v.zero_share.n) {
      x["attention_zero_share"] = ms_json(v.zero_share);
      x["attention_support"] = ms_json(v.support);
    }
    // Each axis's value under its field's key (cell, attention, decoder, luong_output, encoder, …).
    for (const GridAxis& axis : grid_axes())
      if (const std::string* value = axis_value(v.variant, axis)) x[axis.field] = *value;
    const char* by_key = s.corpus ? "bleu" : "exact_match";
    json by = json::array();
    for (std::size_t k = 0; k < v.by_length.size(); ++k)
      by.push_back({{"lengths", {s.buckets[k].lo, s.buckets[k].hi}}, {by_key, ms_json(v.by_length[k])}});
    x[s.corpus ? "bleu_by_length" : "exact_match_by_length"] = by;
    if (s.corpus) x["bleu"] = ms_json(v.bleu);
    if (s.has_chrf) {
      x["chrf"] = ms_json(v.chrf);
      if (!v.is_best && best_exists) x["seeds_vs_best_chrf"] = seed_json(v.seeds_vs_best_chrf);
      if (v.compared_chrf)
        x["vs_best_chrf"] = {{"delta_chrf", v.vs_best_chrf.delta}, {"p_value", v.vs_best_chrf.p_value},
                             {"items", v.vs_best_chrf.items}, {"resamples", v.vs_best_chrf.resamples}};
    }
    x["lr"] = v.lr > 0 ? json(v.lr) : json(nullptr);
    x["best_step"] = ms_json(v.best_step);
    x["best_seconds"] = ms_json(v.best_seconds);
    x["stopped_early"] = v.stopped_early;
    x["steps"] = ms_json(v.steps);
    if (v.has_training) {
      const TrainOptions& t = v.training.train;
      x["training"] = {{"text", v.training_text},
                       {"lr", v.training.lr_grid.empty() ? json(t.optimizer.lr) : v.lr > 0 ? json(v.lr) : json(nullptr)},
                       {"lr_candidates", v.training.lr_grid},
                       {"warmup", t.lr_schedule.warmup},
                       {"lr_schedule", to_string(t.lr_schedule.schedule)},
                       {"label_smoothing", t.label_smoothing},
                       {"settings", v.training.settings},
                       {"rules", v.training.rules}};
    }
    if (!v.rates.empty()) {
      json rates = json::array();
      for (const auto& t : v.rates)
        rates.push_back({{"lr", t.lr}, {"status", to_string(t.status)}, {"chosen", t.chosen},
                         {"validation", std::isfinite(t.validation) ? json(t.validation) : json(nullptr)}});
      x["rates"] = rates;
    }
    if (!v.is_best && best_exists) x["seeds_vs_best"] = seed_json(v.seeds_vs_best);
    if (v.compared)
      x["vs_best"] = {{s.corpus ? "delta_bleu" : "delta_exact_match", v.vs_best.delta}, {"p_value", v.vs_best.p_value},
                      {"items", v.vs_best.items}, {"resamples", v.vs_best.resamples}};
    json runs = json::array();
    for (const RunResult* r : v.runs) {
      json run = {{"run", r->spec.name()},
                  {"seed", r->spec.seed},
                  {"status", to_string(r->status)},
                  {"error", r->error},
                  {"exact_match", std::isfinite(r->exact_match) ? json(r->exact_match) : json(nullptr)},
                  {"seconds", r->seconds},
                  {"lr", r->spec.lr},
                  {"steps", r->steps},
                  {"best_step", r->best_step},
                  {"best_seconds", r->best_seconds},
                  {"stopped_early", r->stopped_early}};
      if (s.corpus) {
        run["bleu"] = std::isfinite(r->bleu) ? json(r->bleu) : json(nullptr);
        run["bleu_line"] = r->bleu_line;
        if (s.has_chrf) run["chrf"] = std::isfinite(r->chrf) ? json(r->chrf) : json(nullptr);
      }
      runs.push_back(run);
    }
    x["runs_detail"] = runs;
    j["variants"].push_back(x);
  }
  j["failures"] = json::array();
  for (const auto& [run, err] : s.failures) j["failures"].push_back({{"run", run}, {"error", err}});
  out << j.dump(2) << "\n";
}

}  // namespace attend
