// The CSV table (results.csv) of a comparison grid: one row per variant.
#include "attend/experiment/report.hpp"

#include <cmath>
#include <ostream>

#include "attend/core/csv.hpp"
#include "report_text.hpp"

namespace attend {

using namespace report;

void write_csv(const CompareSummary& s, std::ostream& out) {
  const Headline h = headline_of(s);
  out << "variant,cell,attention,decoder,runs,runs_ok,runs_diverged,runs_failed," << h.csv << "_mean,"
      << h.csv << "_std,token_accuracy_mean,token_accuracy_std,perplexity_mean,perplexity_std";
  for (const auto& b : s.buckets)
    out << "," << h.csv_len << "_" << b.lo << "_" << b.hi << "_mean," << h.csv_len << "_" << b.lo << "_" << b.hi << "_std";
  out << ",parameters,train_seconds_mean,tokens_per_s_mean," << h.csv_delta << ",p_value_vs_best,"
      << "attention_entropy_mean," << (has_gold(s) ? "gold_mass_mean," : "") << "best,notes"
      << ",lr,best_step_mean,best_seconds_mean,stopped_early,seeds_paired,sign_flip_p_vs_best,t_test_p_vs_best";
  for (double x : s.lr_grid) out << ",validation_lr_" << fmt("%g", x);
  for (const auto& r : s.rankings) out << ",rank_at_" << fmt("%.0f", 100 * r.fraction) << "pct";
  out << ",steps_mean,lr_candidates,warmup,lr_schedule,label_smoothing,training";
  if (s.has_chrf)
    out << ",chrf_mean,chrf_std,delta_chrf_vs_best,p_value_chrf_vs_best,sign_flip_p_chrf_vs_best,t_test_p_chrf_vs_best";
  out << "\n";
  auto n = [](const MeanStd& m, bool sd) { return m.n ? fmt("%.6g", sd ? m.std : m.mean) : std::string(); };
  for (const auto& v : s.variants) {
    const MeanStd& value = v.*h.value;
    out << csv_field(v.name) << "," << v.variant.cell << "," << v.variant.attention << ","
        << v.variant.decoder << "," << v.runs.size() << "," << v.ok << "," << v.diverged << ","
        << v.failed << "," << n(value, false) << "," << n(value, true) << ","
        << n(v.token_accuracy, false) << "," << n(v.token_accuracy, true) << ","
        << n(v.perplexity, false) << "," << n(v.perplexity, true);
    for (const auto& b : v.by_length) out << "," << n(b, false) << "," << n(b, true);
    std::string notes;
    for (const auto& x : v.notes) notes += (notes.empty() ? "" : "; ") + x;
    out << "," << v.parameters << "," << n(v.seconds, false) << "," << n(v.tokens_per_s, false)
        << "," << (v.compared ? fmt("%.6g", v.vs_best.delta) : "") << ","
        << (v.compared ? fmt("%.6g", v.vs_best.p_value) : "") << "," << n(v.attention_entropy, false)
        << "," << (has_gold(s) ? n(v.gold_mass, false) + "," : "") << (v.is_best ? 1 : 0) << ","
        << csv_field(notes);
    const bool judged = !v.is_best && v.seeds_vs_best.judged();
    out << "," << (v.lr > 0 ? fmt("%g", v.lr) : "") << "," << n(v.best_step, false) << "," << n(v.best_seconds, false)
        << "," << v.stopped_early << "," << v.seeds_vs_best.seeds << ","
        << (judged ? fmt("%.6g", v.seeds_vs_best.sign_flip_p) : "") << ","
        << (judged && std::isfinite(v.seeds_vs_best.t.p) ? fmt("%.6g", v.seeds_vs_best.t.p) : "");
    for (double x : s.lr_grid) {
      std::string cell;
      for (const auto& t : v.rates)
        if (t.lr == x && std::isfinite(t.validation)) cell = fmt("%.6g", t.validation);
      out << "," << cell;
    }
    for (const auto& r : s.rankings) {
      std::string rank;
      for (std::size_t k = 0; k < r.order.size(); ++k)
        if (r.order[k].first == v.name) rank = std::to_string(k + 1);
      out << "," << rank;
    }
    // The training settings (blank for a result without them): candidates separated by spaces.
    std::string candidates;
    for (double x : v.training.lr_grid) candidates += (candidates.empty() ? "" : " ") + fmt("%g", x);
    const TrainOptions& t = v.training.train;
    out << "," << n(v.steps, false) << "," << candidates << ","
        << (v.has_training ? std::to_string(t.lr_schedule.warmup) : "") << ","
        << (v.has_training ? to_string(t.lr_schedule.schedule) : "") << ","
        << (v.has_training ? fmt("%g", t.label_smoothing) : "") << "," << csv_field(v.training_text);
    if (s.has_chrf) {
      const bool judged_chrf = !v.is_best && v.seeds_vs_best_chrf.judged();
      out << "," << n(v.chrf, false) << "," << n(v.chrf, true) << ","
          << (v.compared_chrf ? fmt("%.6g", v.vs_best_chrf.delta) : "") << ","
          << (v.compared_chrf ? fmt("%.6g", v.vs_best_chrf.p_value) : "") << ","
          << (judged_chrf ? fmt("%.6g", v.seeds_vs_best_chrf.sign_flip_p) : "") << ","
          << (judged_chrf && std::isfinite(v.seeds_vs_best_chrf.t.p) ? fmt("%.6g", v.seeds_vs_best_chrf.t.p) : "");
    }
    out << "\n";
  }
}

}  // namespace attend
