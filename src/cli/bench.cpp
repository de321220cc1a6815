// `attend bench`: training-step and decoding speed of one model shape on synthetic batches.
// The length rule, the FLOP count and the timed work are documented in docs/performance.md;
// bench/torch_bench.py times the PyTorch twin of the same model the same way.
#include <sys/resource.h>

#include <algorithm>
#include <attend/core/blas_threads.hpp>
#include <attend/core/error.hpp>
#include <attend/nn/cost.hpp>
#include <attend/train/parallel.hpp>
#include <attend/decode/search.hpp>
#include <attend/train/trainer.hpp>
#include <chrono>
#include <iostream>
#include <nlohmann/json.hpp>

#include "common.hpp"

namespace attend::cli {

namespace {

struct BenchSettings {
  ModelConfig model;
  std::size_t batch = 64, src_len = 12, tgt_len = 12, vocab = 40;
  std::size_t decode_len = 0;  // output tokens of the timed decoding; 0 = tgt_len
  std::size_t warmup = 3, iters = 20, threads = 0;
  bool json = false;
};

// src_len[b] = S − (7b) mod (S/2 + 1), tgt_len[b] = T − (5b) mod (T/2 + 1), the last real target
// token </s>; token ids drawn uniformly from the non-special ids.
std::vector<EncodedPair> synthetic_batch(const BenchSettings& s) {
  std::mt19937_64 rng(7);
  std::vector<EncodedPair> data(s.batch);
  for (std::size_t b = 0; b < s.batch; ++b) {
    const std::size_t sl = s.src_len - (7 * b) % (s.src_len / 2 + 1);
    const std::size_t tl = s.tgt_len - (5 * b) % (s.tgt_len / 2 + 1);
    for (std::size_t i = 0; i < sl; ++i) data[b].src.push_back(4 + rng() % (s.vocab - 4));
    for (std::size_t i = 0; i + 1 < tl; ++i) data[b].tgt.push_back(4 + rng() % (s.vocab - 4));
  }
  return data;
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v.empty() ? 0 : v[v.size() / 2];
}

template <typename F>
double median_seconds(std::size_t warmup, std::size_t iters, F&& f) {
  using Clock = std::chrono::steady_clock;
  for (std::size_t i = 0; i < warmup; ++i) f();
  std::vector<double> t;
  for (std::size_t i = 0; i < iters; ++i) {
    const auto start = Clock::now();
    f();
    t.push_back(std::chrono::duration<double>(Clock::now() - start).count());
  }
  return median(t);
}

double peak_rss_mb() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return u.ru_maxrss / 1024.0;
}

}  // namespace

int run_bench(const std::vector<std::string>& args) {
  BenchSettings s;
  s.model.attention = "luong-general";
  po::options_description desc("Options");
  add_model_options(desc, s.model);
  desc.add_options()
      ("batch", count_option(&s.batch), "batch size B")
      ("src-len", count_option(&s.src_len), "longest source S")
      ("tgt-len", count_option(&s.tgt_len), "longest target T, </s> included")
      ("vocab", count_option(&s.vocab), "source and target vocabulary V")
      ("decode-len", count_option(&s.decode_len), "output tokens of every timed decoding (0 = --tgt-len)")
      ("warmup", count_option(&s.warmup), "untimed repetitions first")
      ("iters", count_option(&s.iters), "timed repetitions (the median is reported)")
      ("threads", count_option(&s.threads), "threads: training runs this many data-parallel shards with one BLAS thread each; decoding uses this many BLAS threads (0 = 2)")
      ("json", po::bool_switch(&s.json), "print one JSON object")
      ("help,h", "show this help");
  po::variables_map vm;
  if (!parse_command_line(args, desc, "usage: attend bench [options]\n\nSpeed of one model shape "
                                      "on synthetic batches (docs/performance.md).", vm))
    return 0;
  po::notify(vm);
  apply_decoder_defaults(s.model, vm);
  if (s.vocab < 5 || s.batch < 1 || s.src_len < 1 || s.tgt_len < 2 || s.iters < 1)
    throw Error("bench needs --vocab ≥ 5, --batch ≥ 1, --src-len ≥ 1, --tgt-len ≥ 2, --iters ≥ 1");
  const std::size_t threads = s.threads ? s.threads : 2;
  s.model.src_vocab = s.model.tgt_vocab = s.vocab;
  s.model.max_src_len = std::max(s.model.max_src_len, s.src_len);
  Seq2Seq<float> model(s.model, 1);
  auto& P = model.params();
  const auto data = synthetic_batch(s);
  std::vector<std::size_t> all(s.batch);
  for (std::size_t b = 0; b < s.batch; ++b) all[b] = b;
  const Batch batch = make_batch(data, all);
  Workspace<float> ws;
  OptimizerConfig oc;
  auto adam = make_optimizer<float>(oc, P.size());

  set_blas_threads(1);
  ParallelLoss<float> parallel(model, threads, 1);
  const double train_s = median_seconds(s.warmup, s.iters, [&] {
    P.zero_grad();
    parallel.loss(batch, true, {});
    clip_global_norm(P.grads(), 5.0);
    adam->step(P.values(), P.grads());
  });
  const double rss = peak_rss_mb();
  const std::size_t G = cell_traits(s.model.cell).gates;
  const double flops = training_step_flops(s.model, s.batch, batch.src.n_rows, batch.tgt_in.n_rows, G);

  set_blas_threads(threads);
  SearchOptions fixed;  // exactly T steps: </s> does not stop a hypothesis
  fixed.stop_at_eos = false;
  fixed.max_len_ratio = 0;
  const std::size_t decode_len = s.decode_len ? s.decode_len : s.tgt_len;
  fixed.max_len_extra = decode_len;
  const Batch one = make_batch(data, {0});
  const double greedy1_s = median_seconds(s.warmup, s.iters, [&] {
    greedy_search(model, one.src, one.src_len, fixed, ws);
  });
  const double greedyB_s = median_seconds(s.warmup, s.iters, [&] {
    greedy_search(model, batch.src, batch.src_len, fixed, ws);
  });
  SearchOptions beam = fixed;
  beam.beam = 5;
  const double beam_s = median_seconds(s.warmup, s.iters, [&] { beam_search(model, data[0].src, beam, ws); });

  nlohmann::json j = {
      {"encoder", s.model.encoder}, {"self_layers", s.model.self_layers}, {"self_heads", s.model.self_heads},
      {"ffn", s.model.ffn},
      {"cell", s.model.cell}, {"attention", s.model.attention},
      {"decoder", s.model.decoder_style()}, {"batch", s.batch}, {"src_len", s.src_len},
      {"tgt_len", s.tgt_len}, {"decode_len", decode_len}, {"vocab", s.vocab}, {"emb", s.model.emb},
      {"hidden", s.model.hidden}, {"parameters", P.size()}, {"threads", threads},
      {"train_ms_per_step", 1000 * train_s},
      {"train_tokens_per_s", batch.real_target_tokens() / train_s},
      {"train_gflops", flops / train_s / 1e9}, {"gemm_gflop_per_step", flops / 1e9},
      {"greedy_b1_sents_per_s", 1 / greedy1_s},
      {"greedy_batch_sents_per_s", s.batch / greedyB_s},
      {"beam5_b1_sents_per_s", 1 / beam_s}, {"peak_rss_mb", rss}};
  if (s.json) {
    std::cout << j.dump() << "\n";
    return 0;
  }
  std::printf("%s encoder, %s + %s (%s decoder), B=%zu S=%zu T=%zu V=%zu E=%zu H=%zu, %zu parameters\n",
              s.model.encoder.c_str(), s.model.cell.c_str(), s.model.attention.c_str(), s.model.decoder_style().c_str(),
              s.batch, s.src_len, s.tgt_len, s.vocab, s.model.emb, s.model.hidden, P.size());
  std::printf("train step        %9.2f ms (median of %zu)\n", 1000 * train_s, s.iters);
  std::printf("train throughput  %9.0f target tokens/s\n", batch.real_target_tokens() / train_s);
  std::printf("GEMM              %9.1f GFLOP/s (%.3f GFLOP per step)\n", flops / train_s / 1e9, flops / 1e9);
  std::printf("greedy, batch 1   %9.1f sentences/s\n", 1 / greedy1_s);
  std::printf("greedy, batch %-3zu %9.1f sentences/s\n", s.batch, s.batch / greedyB_s);
  std::printf("beam 5, batch 1   %9.1f sentences/s\n", 1 / beam_s);
  std::printf("peak RSS          %9.1f MB (after training steps)\n", rss);
  return 0;
}

}  // namespace attend::cli
