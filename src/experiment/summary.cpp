// The summary of a comparison grid (summary.hpp): runs grouped by variant and averaged over
// seeds, the best variant and the tests against it, the ranking by budget (the axis contrasts: summary_axes.cpp).
#include "attend/experiment/summary.hpp"

#include <algorithm>
#include <cmath>
#include <map>

#include "attend/text/tasks.hpp"
#include "length_buckets.hpp"
#include "report_text.hpp"
#include "summary_axes.hpp"

namespace attend {

using report::fmt;
using report::mean_curve;


namespace {

std::string join_rates(const std::vector<double>& rates) {
  std::string t;
  for (double x : rates) t += (t.empty() ? "" : ", ") + fmt("%g", x);
  return t;
}

// "lr 0.001 (of 0.0003, 0.001), warmup 4000, inverse-sqrt, label smoothing 0.1".
std::string training_text(const VariantSummary& v) {
  if (!v.has_training) return v.lr > 0 ? "lr " + fmt("%g", v.lr) : "";
  const VariantTraining& t = v.training;
  std::string text;
  if (!t.lr_grid.empty())
    text = (v.lr > 0 ? "lr " + fmt("%g", v.lr) : std::string("lr not chosen")) + " (of " + join_rates(t.lr_grid) + ")";
  else
    text = "lr " + fmt("%g", t.train.optimizer.lr);
  const LrScheduleOptions& sch = t.train.lr_schedule;
  text += sch.warmup ? ", warmup " + std::to_string(sch.warmup) : std::string(", no warmup");
  if (sch.schedule != LrSchedule::Constant) text += ", " + to_string(sch.schedule);
  if (t.train.label_smoothing > 0) text += ", label smoothing " + fmt("%g", t.train.label_smoothing);
  for (const auto& [key, value] : t.settings)
    if (key != "lr" && key != "lr-grid" && key != "warmup" && key != "lr-schedule" && key != "label-smoothing")
      text += ", " + key + " " + value;
  return text;
}

std::string count_text(std::size_t n) {
  if (n >= 1000000) return fmt("%.1fM", n / 1e6);
  if (n >= 1000) return fmt("%.1fk", n / 1e3);
  return std::to_string(n);
}

// CompareSummary::matching, matching_text, parameters_text, parameter_ratio.
void matching(CompareSummary& s, const CompareResult& result) {
  if (result.time_limit > 0) {
    s.matching = "equal-time";
    s.matching_text = "Matching: equal time: every run trained for at most " + report::duration(result.time_limit) +
                      " (--time-limit) within the budget " + s.budget +
                      "; faster variants take more steps (see steps and tokens/s).";
  } else if (s.converge) {
    s.matching = "convergence";
    s.matching_text = "Matching: at convergence: every run trained until its " + s.validation_metric +
                      " stopped improving or it reached the step cap (the budget above); the steps and time each "
                      "took differ.";
  } else {
    s.matching = "equal-steps";
    s.matching_text = "Matching: equal steps: every run trained the same number of updates (" + s.budget +
                      ") of the same batches; the time each took differs (see train time and tokens/s).";
  }
  const VariantSummary* lo = nullptr;
  const VariantSummary* hi = nullptr;
  for (const auto& v : s.variants) {
    if (!v.parameters) continue;
    if (!lo || v.parameters < lo->parameters) lo = &v;
    if (!hi || v.parameters > hi->parameters) hi = &v;
  }
  if (!lo) return;
  s.parameter_ratio = double(hi->parameters) / double(lo->parameters);
  if (hi->parameters == lo->parameters)
    s.parameters_text = "Parameters are equal: " + count_text(lo->parameters) + " in every variant.";
  else
    s.parameters_text = "Parameters differ by up to " + fmt("%.1f", s.parameter_ratio) + "x: " + lo->name + " " +
                        count_text(lo->parameters) + ", " + hi->name + " " + count_text(hi->parameters) + ".";
}

}  // namespace

std::vector<CompareSummary::BudgetRanking> rank_at_fractions(
    const std::vector<std::string>& variants,
    const std::vector<std::vector<const std::vector<CurvePoint>*>>& curves, bool higher_better,
    const std::vector<double>& fractions) {
  std::vector<CompareSummary::BudgetRanking> out;
  std::size_t budget = 0;
  for (const auto& runs : curves)
    for (const auto* c : runs)
      for (const auto& p : *c)
        if (std::isfinite(p.value)) budget = std::max(budget, p.step);
  if (budget == 0) return out;
  auto better = [&](double a, double b) { return higher_better ? a > b : a < b; };
  for (double f : fractions) {
    CompareSummary::BudgetRanking r;
    r.fraction = f;
    const auto limit = static_cast<std::size_t>(std::floor(f * double(budget) + 1e-9));
    for (std::size_t k = 0; k < variants.size() && k < curves.size(); ++k) {
      if (curves[k].empty()) continue;
      double sum = 0;
      bool complete = true;
      for (const auto* c : curves[k]) {
        double best = NAN;
        for (const auto& p : *c)
          if (p.step <= limit && std::isfinite(p.value)) {
            if (std::isnan(best) || better(p.value, best)) best = p.value;
            r.step = std::max(r.step, p.step);
          }
        if (std::isnan(best)) complete = false;
        sum += best;
      }
      if (complete) r.order.push_back({variants[k], sum / curves[k].size()});
    }
    std::stable_sort(r.order.begin(), r.order.end(),
                     [&](const auto& a, const auto& b) { return better(a.second, b.second); });
    out.push_back(r);
  }
  return out;
}

namespace {

// BLEU against chrF2: every pair of variants with successful runs whose order by mean BLEU is
// the opposite of their order by mean chrF2.
void metric_agreement(CompareSummary& s) {
  std::vector<const VariantSummary*> ranked;
  for (const auto& v : s.variants)
    if (v.ok && v.chrf.n) ranked.push_back(&v);
  if (ranked.size() < 2) {
    s.metric_agreement = "";
    return;
  }
  std::size_t pairs = 0;
  std::string listed;
  for (std::size_t i = 0; i < ranked.size(); ++i)
    for (std::size_t j = i + 1; j < ranked.size(); ++j) {
      ++pairs;
      const VariantSummary *a = ranked[i], *b = ranked[j];
      const double db = a->bleu.mean - b->bleu.mean, dc = a->chrf.mean - b->chrf.mean;
      if (db == 0 || dc == 0 || (db > 0) == (dc > 0)) continue;
      if (db < 0) std::swap(a, b);
      s.metric_disagreements.push_back({a->name, b->name});
      listed += (listed.empty() ? "" : "; ") + a->name + " > " + b->name + " by BLEU (" + fmt("%.2f", a->bleu.mean) +
                " against " + fmt("%.2f", b->bleu.mean) + ") but < by chrF2 (" + fmt("%.2f", a->chrf.mean) +
                " against " + fmt("%.2f", b->chrf.mean) + ")";
    }
  auto by = [&](const MeanStd VariantSummary::*m) {
    std::vector<const VariantSummary*> o = ranked;
    std::stable_sort(o.begin(), o.end(), [&](const VariantSummary* x, const VariantSummary* y) {
      return (x->*m).mean > (y->*m).mean;
    });
    std::string t;
    for (const auto* v : o) t += (t.empty() ? "" : " > ") + v->name;
    return t;
  };
  if (s.metric_disagreements.empty())
    s.metric_agreement = "BLEU and chrF2 order the variants the same way (means over seeds): " + by(&VariantSummary::bleu) + ".";
  else
    s.metric_agreement = "BLEU and chrF2 disagree about the order of " + std::to_string(s.metric_disagreements.size()) +
                         " of " + std::to_string(pairs) + " pairs of variants (means over seeds): " + listed +
                         ". By BLEU: " + by(&VariantSummary::bleu) + "; by chrF2: " + by(&VariantSummary::chrf) + ".";
}

}  // namespace

CompareSummary summarize(const CompareResult& result, std::size_t max_buckets) {
  CompareSummary s;
  s.alignment = result.alignment;
  s.data_name = result.data_name;
  s.total_runs = result.runs.size();
  s.alignment_note = task_has_alignment(s.alignment)
                         ? s.alignment + ": " + task_alignment_note(s.alignment)
                         : "this data has no known alignment; only the entropy is shown.";
  s.corpus = result.corpus;
  s.data_description = result.data_description;
  s.bleu_lowercase = result.bleu_lowercase;
  s.beam = result.beam;
  if (s.corpus)
    s.alignment_note = "A corpus has no gold (reference) alignment, so the mass on the gold position "
                       "cannot be computed and is not shown; only the entropy of the attention is.";

  s.budget = result.budget;
  s.converge = result.converge;
  s.lr_grid = result.lr_grid;
  s.validation_metric = s.corpus ? "validation BLEU (greedy; higher is better)"
                                 : "validation loss (cross-entropy per token; lower is better)";

  // Variants in grid order. With a learning-rate grid a variant's runs are those at its chosen
  // rate; its first-seed runs at every rate are the trials of that choice.
  std::map<std::string, std::size_t> index;
  for (const auto& r : result.runs) {
    const std::string name = r.spec.variant.name();
    if (!index.count(name)) {
      index[name] = s.variants.size();
      VariantSummary v;
      v.variant = r.spec.variant;
      v.name = name;
      auto chosen = result.chosen_lr.find(name);
      if (chosen != result.chosen_lr.end()) v.lr = chosen->second;
      auto training = result.training.find(name);
      if (training != result.training.end()) v.training = training->second, v.has_training = true;
      s.variants.push_back(v);
    }
    VariantSummary& v = s.variants[index[name]];
    if (!result.lr_grid.empty() && r.spec.seed == result.runs.front().spec.seed &&
        std::find(result.lr_grid.begin(), result.lr_grid.end(), r.spec.lr) != result.lr_grid.end()) {
      VariantSummary::RateTrial t;
      t.lr = r.spec.lr;
      t.status = r.status;
      const double score = validation_score(r);
      if (std::isfinite(score)) t.validation = s.corpus ? score : -score;
      t.chosen = v.lr > 0 && r.spec.lr == v.lr;
      v.rates.push_back(t);
    }
    if (result.lr_grid.empty() || v.lr == 0 || r.spec.lr == v.lr) {
      v.runs.push_back(&r);
    } else if (r.status == RunStatus::Failed) {
      s.failures.push_back({r.spec.name(), r.error});
    }
  }

  // Length buckets over the test sources of every successful run.
  int lo = 0, hi = 0;
  for (const auto& r : result.runs) {
    if (r.status != RunStatus::Ok) continue;
    for (int n : r.test_src_len) {
      lo = lo == 0 ? n : std::min(lo, n);
      hi = std::max(hi, n);
    }
    s.train_min_len = s.train_min_len == 0 ? r.train_min_len : std::min(s.train_min_len, r.train_min_len);
    s.train_max_len = std::max(s.train_max_len, r.train_max_len);
  }
  s.test_min_len = lo;
  s.test_max_len = hi;
  if (s.corpus) {
    for (const auto& r : result.runs)
      if (r.status == RunStatus::Ok) {
        s.buckets = quantile_buckets(r.test_src_len, max_buckets);
        break;
      }
  } else if (hi > 0) {
    const int span = hi - lo + 1;
    const int buckets = std::max(1, std::min<int>(static_cast<int>(max_buckets), span));
    const int width = (span + buckets - 1) / buckets;
    for (int a = lo; a <= hi; a += width) s.buckets.push_back({a, std::min(hi, a + width - 1)});
  }

  // With two rates every choice is at an end; the rates section says so once instead.
  for (auto& v : s.variants) {
    const std::vector<double>& candidates = v.has_training ? v.training.lr_grid : result.lr_grid;
    if (candidates.size() < 3) continue;
    const auto [lowest, highest] = std::minmax_element(candidates.begin(), candidates.end());
    {
      if (v.lr <= 0 || (v.lr != *lowest && v.lr != *highest)) continue;
      const bool low = v.lr == *lowest;
      v.notes.push_back("its rate (" + fmt("%g", v.lr) + ") is the " + (low ? "smallest" : "largest") +
                        " of " + (v.training.settings.count("lr-grid") ? "its --for lr-grid" : "--lr-grid") +
                        ": a " + (low ? "smaller" : "larger") +
                        " one was not tried and may be better");
    }
  }

  for (auto& v : s.variants) {
    std::vector<double> em, ta, ppl, sec, tps, ent, uni, gold, bleu, chrf, zero, sup;
    std::vector<std::vector<double>> by(s.buckets.size());
    std::vector<const std::vector<CurvePoint>*> tl, vl, vb;
    std::vector<double> best_step, best_seconds, steps;
    for (const RunResult* r : v.runs) {
      if (r->parameters) v.parameters = r->parameters;
      const std::string seed = "seed " + std::to_string(r->spec.seed);
      if (r->status == RunStatus::Failed) {
        ++v.failed;
        v.notes.push_back(seed + " failed (" + r->error + ")");
        s.failures.push_back({r->spec.name(), r->error});
        continue;
      }
      if (r->status == RunStatus::Diverged) {
        ++v.diverged;
        v.notes.push_back(seed + " diverged (NaN or infinite loss after " + std::to_string(r->steps) +
                          " steps); excluded from the means");
        continue;
      }
      ++v.ok;
      if (result.converge && !r->stopped_early && !r->time_limit_reached)
        v.notes.push_back(seed + " reached the step cap (" + std::to_string(r->steps) +
                          " steps) while its validation was still improving: it may not have converged");
      best_step.push_back(double(r->best_step));
      steps.push_back(double(r->steps));
      best_seconds.push_back(r->best_seconds);
      v.stopped_early += r->stopped_early;
      em.push_back(r->exact_match);
      ta.push_back(r->token_accuracy);
      ppl.push_back(r->perplexity);
      sec.push_back(r->seconds);
      tps.push_back(r->tokens_per_s);
      if (r->attention_entropy >= 0) ent.push_back(r->attention_entropy), uni.push_back(r->uniform_entropy);
      if (r->gold_mass >= 0) gold.push_back(r->gold_mass);
      if (r->attention_zero_share >= 0) zero.push_back(r->attention_zero_share), sup.push_back(r->attention_support);
      for (std::size_t k = 0; k < s.buckets.size(); ++k) {
        const double x = s.corpus ? bucket_bleu(*r, s.buckets[k].lo, s.buckets[k].hi)
                                  : bucket_em(*r, s.buckets[k].lo, s.buckets[k].hi);
        if (std::isfinite(x)) by[k].push_back(x);
      }
      tl.push_back(&r->train_loss);
      vl.push_back(&r->valid_loss);
      if (s.corpus) {
        bleu.push_back(r->bleu);
        if (std::isfinite(r->chrf)) chrf.push_back(r->chrf);
        vb.push_back(&r->valid_bleu);
      }
    }
    v.bleu = mean_std(bleu);
    v.chrf = mean_std(chrf);
    if (s.corpus) v.mean_valid_bleu = mean_curve(vb);
    v.exact_match = mean_std(em);
    v.token_accuracy = mean_std(ta);
    v.perplexity = mean_std(ppl);
    v.seconds = mean_std(sec);
    v.tokens_per_s = mean_std(tps);
    v.attention_entropy = mean_std(ent);
    v.uniform_entropy = mean_std(uni);
    v.gold_mass = mean_std(gold);
    v.zero_share = mean_std(zero);
    v.support = mean_std(sup);
    v.has_attention = !ent.empty();
    for (auto& b : by) v.by_length.push_back(mean_std(b));
    v.mean_train_loss = mean_curve(tl);
    v.mean_valid_loss = mean_curve(vl);
    v.best_step = mean_std(best_step);
    v.best_seconds = mean_std(best_seconds);
    v.steps = mean_std(steps);
    v.training_text = training_text(v);
    s.max_seeds = std::max(s.max_seeds, v.ok);
  }

  matching(s, result);
  if (s.corpus) {
    bool all = false;
    for (const auto& v : s.variants) {
      if (!v.ok) continue;
      all = true;
      for (const RunResult* r : v.runs)
        if (r->status == RunStatus::Ok && (!std::isfinite(r->chrf) || r->test_chrf.empty())) all = false;
      if (!all) break;
    }
    s.has_chrf = all;
  }
  if (s.has_chrf) metric_agreement(s);

  // The ranking by validation figure at fractions of the budget.
  {
    std::vector<std::string> names;
    std::vector<std::vector<const std::vector<CurvePoint>*>> curves;
    for (const auto& v : s.variants) {
      names.push_back(v.name);
      curves.emplace_back();
      for (const RunResult* r : v.runs)
        if (r->status == RunStatus::Ok) curves.back().push_back(s.corpus ? &r->valid_bleu : &r->valid_loss);
    }
    s.rankings = rank_at_fractions(names, curves, s.corpus);
    auto order_text = [](const CompareSummary::BudgetRanking& r) {
      std::string t;
      for (const auto& [name, value] : r.order) t += (t.empty() ? "" : " > ") + name;
      return t;
    };
    auto where = [](const CompareSummary::BudgetRanking& r) {
      return fmt("%.0f%%", 100 * r.fraction) + " (step " + std::to_string(r.step) + ")";
    };
    std::size_t ranked = 0;
    for (const auto& r : s.rankings) ranked = std::max(ranked, r.order.size());
    if (s.rankings.empty() || ranked < 2) {
      s.ranking_note = "Fewer than two variants have validation figures, so there is no ranking by budget.";
    } else {
      // A fraction at which some variant had not validated yet has no full ranking: it is
      // reported as such, and a missing ranking is not a change.
      std::vector<std::string> orders;
      std::vector<const CompareSummary::BudgetRanking*> full;
      std::string not_yet;
      for (const auto& r : s.rankings) {
        if (r.order.size() == ranked) {
          full.push_back(&r);
          orders.push_back(order_text(r));
        } else {
          not_yet += (not_yet.empty() ? "" : ", ") + fmt("%.0f%%", 100 * r.fraction);
        }
      }
      bool same = true;
      for (const auto& o : orders) same = same && o == orders.back();
      s.ranking_changes = !same;
      if (same) {
        s.ranking_note = "The ranking by " + s.validation_metric + " is the same at every fraction of the budget" +
                         (not_yet.empty() ? "" : " where every variant had validated") + ": " + orders.back() + ".";
      } else {
        s.ranking_note = "The ranking changes with the budget: ";
        for (std::size_t k = 0; k < full.size(); ++k)
          s.ranking_note += (k ? "; " : "") + std::string("at ") + where(*full[k]) + " " + orders[k];
        s.ranking_note += ". A verdict at a smaller budget would differ from the one at the full budget.";
      }
      if (!not_yet.empty())
        s.ranking_note += " At " + not_yet + " of the budget not every variant had validated yet, so there is no "
                          "ranking there.";
    }
  }

  // The best variant: highest mean exact match (corpus: BLEU), then lowest perplexity.
  auto score = [&](const VariantSummary& v) { return s.corpus ? v.bleu.mean : v.exact_match.mean; };
  VariantSummary* best = nullptr;
  for (auto& v : s.variants) {
    if (v.ok == 0) continue;
    if (!best || score(v) > score(*best) ||
        (score(v) == score(*best) && v.perplexity.mean < best->perplexity.mean))
      best = &v;
  }
  if (best) {
    best->is_best = true;
    s.best = best->name;
    for (auto& v : s.variants) {
      if (&v == best) continue;
      const PairedComparison c = compare_paired(v, *best, s.corpus, s.resamples, s.bootstrap_seed);
      v.seeds_vs_best = c.seeds;
      v.vs_best = c.bootstrap;
      v.compared = c.compared;
      v.vs_best_chrf = c.bootstrap_chrf;
      v.compared_chrf = c.compared_chrf;
      v.seeds_vs_best_chrf = c.seeds_chrf;
    }
  }
  add_axis_contrasts(s);
  add_width_series(s, result);
  return s;
}

PairedComparison compare_paired(const VariantSummary& va, const VariantSummary& vb, bool corpus,
                                std::size_t resamples, std::uint64_t seed) {
  PairedComparison c;
  std::map<std::uint64_t, const RunResult*> b_runs;
  for (const RunResult* r : vb.runs)
    if (r->status == RunStatus::Ok) b_runs[r->spec.seed] = r;
  std::vector<std::pair<const RunResult*, const RunResult*>> pairs;  // (a, b) by seed
  for (const RunResult* r : va.runs) {
    auto it = b_runs.find(r->spec.seed);
    if (r->status == RunStatus::Ok && it != b_runs.end()) pairs.emplace_back(r, it->second);
  }
  {
    std::vector<double> a, b;
    for (const auto& [ra, rb] : pairs) {
      a.push_back(corpus ? ra->bleu : ra->exact_match);
      b.push_back(corpus ? rb->bleu : rb->exact_match);
    }
    c.seeds = seed_test(a, b);
  }
  if (corpus) {
    {
      std::vector<double> a, b;
      std::vector<std::vector<ChrfStatistics>> sa, sb;
      for (const auto& [ra, rb] : pairs) {
        if (!std::isfinite(ra->chrf) || !std::isfinite(rb->chrf)) continue;
        a.push_back(ra->chrf);
        b.push_back(rb->chrf);
        if (ra->test_chrf.empty() || ra->test_chrf.size() != rb->test_chrf.size()) continue;
        sa.push_back(ra->test_chrf);
        sb.push_back(rb->test_chrf);
      }
      c.seeds_chrf = seed_test(a, b);
      if (!sa.empty()) {
        c.bootstrap_chrf = paired_bootstrap_chrf(sa, sb, ChrfOptions{}, resamples, seed);
        c.compared_chrf = true;
      }
    }
    std::vector<std::vector<BleuStats>> a, b;
    for (const auto& [ra, rb] : pairs) {
      if (ra->test_bleu.size() != rb->test_bleu.size()) continue;
      a.push_back(ra->test_bleu);
      b.push_back(rb->test_bleu);
    }
    if (a.empty()) return c;
    c.bootstrap = paired_bootstrap_bleu(a, b, resamples, seed);
    c.compared = true;
    return c;
  }
  std::vector<double> a, b;
  std::vector<int> strata;
  for (const auto& [ra, rb] : pairs) {
    if (ra->test_correct.size() != rb->test_correct.size()) continue;
    for (std::size_t i = 0; i < ra->test_correct.size(); ++i) {
      a.push_back(ra->test_correct[i]);
      b.push_back(rb->test_correct[i]);
      strata.push_back(static_cast<int>(ra->spec.seed));
    }
  }
  if (a.empty()) return c;
  c.bootstrap = paired_bootstrap(a, b, strata, resamples, seed);
  c.compared = true;
  return c;
}

}  // namespace attend
