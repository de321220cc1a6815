// Batched beam search and the decode() entry point: for every attention strategy, both decoder
// styles and two cells, the batch a source is decoded in must not change its result.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <numeric>
#include <random>
#include <map>
#include <set>

#include "attend/decode/decode.hpp"
#include "attend/text/vocab.hpp"
#include "attend/train/trainer.hpp"

using namespace attend;

namespace {

constexpr std::size_t kSrcVocab = 14, kTgtVocab = 13;

struct Variant {
  ModelConfig config;
  std::string name;
};

// Every registered strategy × {bahdanau, luong} × {gru, lstm}; layers, bidirectionality,
// bridge and source reversal vary along the list so each combination is exercised somewhere.
std::vector<Variant> variants() {
  std::vector<Variant> out;
  std::size_t n = 0;
  for (const std::string& attention : attention_names())
    for (const std::string style : {"bahdanau", "luong"})
      for (const std::string cell : {"gru", "lstm"}) {
        if (attention == "none" && style == "luong") continue;  // no attention: one style only
        ModelConfig c;
        c.cell = cell;
        c.attention = attention;
        c.decoder = attention == "none" ? "auto" : style;
        c.emb = 8;
        c.hidden = 16;
        c.heads = 2;
        c.window = 2;
        c.max_src_len = 16;
        c.layers = 1 + (n / 2) % 2;
        c.bidirectional = n % 3 == 1;
        c.reverse_source = n % 4 == 2;
        c.bridge = n % 5 == 3 ? Bridge::Dense : Bridge::Copy;
        c.src_vocab = kSrcVocab;
        c.tgt_vocab = kTgtVocab;
        out.push_back({c, attention + "/" + style + "/" + cell + "/L" + std::to_string(c.layers) +
                              (c.bidirectional ? "/bi" : "") + (c.reverse_source ? "/reversed" : "")});
        ++n;
      }
  // The Transformer decoder over both kinds of encoder, with the default cross-attention and
  // two per-head strategies (one of them step-dependent).
  for (const std::string attention : {"multihead", "bahdanau", "local-m"})
    for (const std::string encoder : {"transformer", "rnn"}) {
      ModelConfig c;
      c.encoder = encoder;
      c.attention = attention;
      c.decoder = "transformer";
      c.hidden = 16;
      c.heads = 2;
      c.self_heads = 4;
      c.ffn = 24;
      c.window = 2;
      c.decoder_layers = 2;
      c.norm_first = n % 2 == 1;
      c.reverse_source = n % 3 == 1;
      c.src_vocab = kSrcVocab;
      c.tgt_vocab = kTgtVocab;
      out.push_back({c, attention + "/transformer/" + encoder + (c.norm_first ? "/pre" : "") +
                            (c.reverse_source ? "/reversed" : "")});
      ++n;
    }
  return out;
}

// Sources of lengths 1 … 11 with repeats, so batches mix lengths and searches end at different steps.
std::vector<std::vector<int>> make_sources(std::size_t n, std::uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::vector<std::vector<int>> out(n);
  for (auto& s : out) {
    s.resize(1 + rng() % 11);
    for (int& id : s) id = static_cast<int>(Vocab::kEos + 1 + rng() % (kSrcVocab - Vocab::kEos - 1));
  }
  return out;
}

// A model trained for a few steps to reverse make_sources' sequences: its outputs depend on
// the source, most end with </s> and some run to the length limit. One per configuration,
// shared by the test cases.
const Seq2Seq<float>& make_model(const ModelConfig& c, const std::string& name) {
  static std::map<std::string, std::unique_ptr<Seq2Seq<float>>> trained;
  auto& model = trained[name];
  if (model) return *model;
  model = std::make_unique<Seq2Seq<float>>(c, 3);
  std::vector<EncodedPair> data;
  for (const auto& s : make_sources(400, 99)) {
    EncodedPair p;
    p.src = s;
    for (auto it = s.rbegin(); it != s.rend(); ++it) p.tgt.push_back(Vocab::kEos + 1 + *it % (kTgtVocab - Vocab::kEos - 1));
    data.push_back(p);
  }
  TrainOptions o;
  o.steps = 60;
  o.batch = 32;
  o.optimizer.lr = 1e-2;
  train(*model, data, {}, o);
  return *model;
}

SearchOptions beam_options(std::size_t k, std::size_t nbest = 1) {
  SearchOptions o;
  o.beam = k;
  o.nbest = nbest;
  o.length_penalty = 0.6;
  o.max_len_ratio = 1.5;
  o.max_len_extra = 3;
  o.keep_attention = true;
  return o;
}

// The matrix products round a column differently with the number of columns in the batch
// (OpenBLAS), so scores and weights of differently composed batches agree to float rounding,
// accumulated over up to 20 steps.
void check_same(const std::vector<Hypothesis>& a, const std::vector<Hypothesis>& b) {
  REQUIRE(a.size() == b.size());
  for (std::size_t i = 0; i < a.size(); ++i) {
    INFO("hypothesis " << i);
    CHECK(a[i].tokens == b[i].tokens);
    CHECK(a[i].finished == b[i].finished);
    CHECK(a[i].log_prob == Approx(b[i].log_prob).epsilon(1e-4).margin(1e-5));
    CHECK(a[i].score == Approx(b[i].score).epsilon(1e-4).margin(1e-5));
    REQUIRE(a[i].attention.size() == b[i].attention.size());
    for (std::size_t t = 0; t < a[i].attention.size(); ++t) {
      REQUIRE(a[i].attention[t].size() == b[i].attention[t].size());
      for (std::size_t j = 0; j < a[i].attention[t].size(); ++j)
        CHECK(a[i].attention[t][j] == Approx(b[i].attention[t][j]).margin(1e-4));
    }
  }
}

void check_identical(const std::vector<Hypothesis>& a, const std::vector<Hypothesis>& b) {
  REQUIRE(a.size() == b.size());
  for (std::size_t i = 0; i < a.size(); ++i) {
    CHECK(a[i].tokens == b[i].tokens);
    CHECK(a[i].finished == b[i].finished);
    CHECK(a[i].log_prob == b[i].log_prob);
    CHECK(a[i].score == b[i].score);
    CHECK(a[i].attention == b[i].attention);
  }
}

// The outputs are worth comparing: some searches end with </s>, and hypotheses of several
// lengths occur.
void require_non_trivial(const std::vector<std::vector<Hypothesis>>& lists) {
  std::size_t finished = 0;
  std::set<std::size_t> lengths;
  for (const auto& l : lists)
    for (const auto& h : l) {
      finished += h.finished;
      lengths.insert(h.tokens.size());
    }
  REQUIRE(finished > 0);
  REQUIRE(lengths.size() >= 3);
}

double lp(std::size_t length, double alpha) {
  return alpha == 0 ? 1.0 : std::pow((5.0 + double(length)) / 6.0, alpha);
}

// The one-source beam search as it was before batching, written plainly: the source's memory
// replicated k times, the full log-softmax of every row, all candidates sorted.
std::vector<Hypothesis> reference_beam(const Seq2Seq<float>& model, const std::vector<int>& src,
                                       const SearchOptions& opt) {
  Workspace<float> ws;
  const std::size_t k = opt.beam, S = src.size(), T_max = max_output_length(S, opt);
  arma::umat s(S, 1);
  for (std::size_t j = 0; j < S; ++j) s(j, 0) = static_cast<arma::uword>(src[j]);
  model.start_decoding_replicated(s, S, k, T_max, ws);
  const Decoder<float>& dec = model.decoder();
  std::vector<Hypothesis> alive(1), finished;
  std::vector<arma::uword> feed(k, Vocab::kBos);
  struct Cand { double lp; std::size_t parent, token; };
  for (std::size_t t = 0; t < T_max && !alive.empty() && finished.size() < k; ++t) {
    dec.step(t, feed.data(), ws.dec);
    dec.logits(t, 1, ws.dec, ws.logits);
    std::vector<Cand> cand;
    for (std::size_t i = 0; i < alive.size(); ++i) {
      const arma::fvec z = ws.logits.col(i);
      const float mx = z.max();
      float sum = 0;
      for (float x : z) sum += std::exp(x - mx);
      const double lse = double(mx) + std::log(double(sum));
      for (std::size_t v = 0; v < z.n_elem; ++v) cand.push_back({alive[i].log_prob + double(z[v]) - lse, i, v});
    }
    std::stable_sort(cand.begin(), cand.end(), [](const Cand& a, const Cand& b) { return a.lp > b.lp; });
    const arma::fmat w = *dec.weights(t, ws.dec);
    std::vector<Hypothesis> next;
    std::vector<std::size_t> parents;
    for (std::size_t r = 0; r < std::min(cand.size(), 2 * k) && next.size() < k; ++r) {
      Hypothesis h = alive[cand[r].parent];
      h.log_prob = cand[r].lp;
      if (opt.keep_attention && !w.is_empty()) {
        std::vector<float> a(S);
        for (std::size_t j = 0; j < S; ++j)
          a[model.config().reverse_source ? S - 1 - j : j] = w(j, cand[r].parent);
        h.attention.push_back(a);
      }
      if (cand[r].token == Vocab::kEos) {
        if (r < k) {
          h.finished = true;
          h.score = h.log_prob / lp(h.tokens.size() + 1, opt.length_penalty);
          finished.push_back(h);
        }
        continue;
      }
      h.tokens.push_back(static_cast<int>(cand[r].token));
      parents.push_back(cand[r].parent);
      next.push_back(h);
    }
    for (std::size_t i = 0; i < next.size(); ++i) feed[i] = static_cast<arma::uword>(next[i].tokens.back());
    parents.resize(k, parents.empty() ? 0 : parents[0]);
    dec.reorder(t, parents, ws.dec);
    alive = next;
  }
  if (finished.size() < opt.nbest || finished.empty())
    for (auto& h : alive) {
      h.score = h.log_prob / lp(h.tokens.size(), opt.length_penalty);
      finished.push_back(h);
    }
  std::stable_sort(finished.begin(), finished.end(),
                   [](const Hypothesis& a, const Hypothesis& b) { return a.score > b.score; });
  finished.resize(std::min(finished.size(), std::max<std::size_t>(1, opt.nbest)));
  return finished;
}

}  // namespace

TEST_CASE("beam search of width 1 returns the greedy hypothesis of each source", "[search]") {
  const auto sources = make_sources(12, 7);
  for (const Variant& v : variants()) {
    INFO(v.name);
    const Seq2Seq<float>& model = make_model(v.config, v.name);
    SearchOptions opt = beam_options(1);
    opt.length_penalty = 0;  // greedy's score is its log-probability only with α = 0
    Workspace<float> ws;
    std::vector<std::vector<Hypothesis>> greedy;
    for (const auto& s : sources) {
      arma::umat src(s.size(), 1);
      for (std::size_t j = 0; j < s.size(); ++j) src(j, 0) = static_cast<arma::uword>(s[j]);
      const Hypothesis g = greedy_search(model, src, Lengths{s.size()}, opt, ws)[0];
      const Hypothesis b = beam_search(model, s, opt, ws)[0];
      // One column each: the same products, so exactly the same numbers.
      CHECK(b.tokens == g.tokens);
      CHECK(b.finished == g.finished);
      CHECK(b.log_prob == g.log_prob);
      CHECK(b.attention == g.attention);
      greedy.push_back({g});
    }
    require_non_trivial(greedy);
  }
}

TEST_CASE("batched beam search of width 1 equals batched greedy search", "[search]") {
  const auto sources = make_sources(12, 8);
  for (const Variant& v : variants()) {
    INFO(v.name);
    const Seq2Seq<float>& model = make_model(v.config, v.name);
    SearchOptions opt = beam_options(1);
    opt.length_penalty = 0;
    std::size_t S = 0;
    for (const auto& s : sources) S = std::max(S, s.size());
    arma::umat src(S, sources.size(), arma::fill::zeros);
    Lengths len;
    for (std::size_t c = 0; c < sources.size(); ++c) {
      for (std::size_t j = 0; j < sources[c].size(); ++j) src(j, c) = static_cast<arma::uword>(sources[c][j]);
      len.push_back(sources[c].size());
    }
    Workspace<float> ws;
    const auto greedy = greedy_search(model, src, len, opt, ws);
    const auto beam = beam_search(model, src, len, opt, ws);
    REQUIRE(beam.size() == sources.size());
    for (std::size_t c = 0; c < sources.size(); ++c) {
      INFO("source " << c);
      check_same(beam[c], {greedy[c]});
    }
  }
}

TEST_CASE("batched beam search gives the same hypotheses for batch sizes 1, 7 and all", "[search]") {
  const auto sources = make_sources(20, 9);
  for (const Variant& v : variants()) {
    INFO(v.name);
    const Seq2Seq<float>& model = make_model(v.config, v.name);
    const SearchOptions opt = beam_options(4, 2);
    const auto one = decode(model, sources, opt, 1);
    const auto seven = decode(model, sources, opt, 7);
    const auto all = decode(model, sources, opt, sources.size());
    require_non_trivial(one);
    for (std::size_t i = 0; i < sources.size(); ++i) {
      INFO("source " << i);
      check_same(one[i], seven[i]);
      check_same(one[i], all[i]);
    }
  }
}

TEST_CASE("shuffling the sources gives each source exactly the same hypotheses", "[search]") {
  const auto sources = make_sources(20, 10);
  std::vector<std::size_t> perm(sources.size());
  std::iota(perm.begin(), perm.end(), 0);
  std::shuffle(perm.begin(), perm.end(), std::mt19937_64(3));
  std::vector<std::vector<int>> shuffled;
  for (std::size_t i : perm) shuffled.push_back(sources[i]);
  for (const Variant& v : variants()) {
    INFO(v.name);
    const Seq2Seq<float>& model = make_model(v.config, v.name);
    for (std::size_t k : {1, 4}) {
      INFO("beam " << k);
      const SearchOptions opt = beam_options(k, k > 1 ? 2 : 1);
      const auto in_order = decode(model, sources, opt, 6);
      const auto out_of_order = decode(model, shuffled, opt, 6);
      for (std::size_t i = 0; i < perm.size(); ++i) check_identical(out_of_order[i], in_order[perm[i]]);
    }
  }
}

TEST_CASE("n-best lists hold distinct hypotheses, best score first", "[search]") {
  const auto sources = make_sources(16, 11);
  for (const Variant& v : variants()) {
    INFO(v.name);
    const Seq2Seq<float>& model = make_model(v.config, v.name);
    const auto lists = decode(model, sources, beam_options(5, 3), 8);
    std::size_t full = 0;
    for (const auto& l : lists) {
      REQUIRE(!l.empty());
      REQUIRE(l.size() <= 3);
      full += l.size() == 3;
      for (std::size_t i = 1; i < l.size(); ++i) {
        CHECK(l[i - 1].score >= l[i].score);
        for (std::size_t j = 0; j < i; ++j)
          CHECK_FALSE((l[i].tokens == l[j].tokens && l[i].finished == l[j].finished));
      }
    }
    CHECK(full > 0);
  }
}

TEST_CASE("batched beam search equals the one-source reference search", "[search]") {
  const auto sources = make_sources(14, 12);
  for (const Variant& v : variants()) {
    INFO(v.name);
    const Seq2Seq<float>& model = make_model(v.config, v.name);
    for (const SearchOptions& opt : {beam_options(3, 3), beam_options(5, 1)}) {
      INFO("beam " << opt.beam);
      const auto batched = decode(model, sources, opt, 5);
      for (std::size_t i = 0; i < sources.size(); ++i) {
        INFO("source " << i);
        check_same(batched[i], reference_beam(model, sources[i], opt));
      }
    }
  }
}

TEST_CASE("decode returns an empty list for an empty source and keeps the others in place", "[search]") {
  const Variant v = variants()[1];
  const Seq2Seq<float>& model = make_model(v.config, v.name);
  std::vector<std::vector<int>> sources = make_sources(5, 13);
  const auto full = decode(model, sources, beam_options(3, 2), 4);
  sources.insert(sources.begin() + 2, std::vector<int>{});
  const auto with_empty = decode(model, sources, beam_options(3, 2), 4);
  REQUIRE(with_empty.size() == 6);
  CHECK(with_empty[2].empty());
  for (std::size_t i = 0; i < 5; ++i) check_same(with_empty[i < 2 ? i : i + 1], full[i]);
}

TEST_CASE("attention of every hypothesis covers the source in its original order", "[search]") {
  for (const Variant& v : variants()) {
    if (v.config.attention == "none" || !v.config.reverse_source) continue;
    INFO(v.name);
    const Seq2Seq<float>& model = make_model(v.config, v.name);
    // A source and its reverse: with reverse_source the encoder sees them swapped, and the
    // weights are reported back over the positions as written.
    const std::vector<int> a = {4, 5, 6, 7, 8, 9}, b(a.rbegin(), a.rend());
    const auto lists = decode(model, {a, b}, beam_options(3, 1), 2);
    for (const auto& l : lists)
      for (const auto& h : l) {
        REQUIRE(h.attention.size() == h.tokens.size() + (h.finished ? 1 : 0));
        for (const auto& row : h.attention) CHECK(row.size() == a.size());
      }
    ModelConfig forward = v.config;
    forward.reverse_source = false;
    Seq2Seq<float> plain(forward, 10);
    plain.params().assign(model.params().values());
    // Same weights, the source reversed by hand: position j then is position S−1−j as written.
    const auto reversed_by_model = decode(model, {a}, beam_options(3, 1), 1)[0];
    const auto reversed_by_hand = decode(plain, {b}, beam_options(3, 1), 1)[0];
    REQUIRE(reversed_by_model.size() == reversed_by_hand.size());
    for (std::size_t i = 0; i < reversed_by_model.size(); ++i) {
      CHECK(reversed_by_model[i].tokens == reversed_by_hand[i].tokens);
      const auto& x = reversed_by_model[i].attention;
      const auto& y = reversed_by_hand[i].attention;
      REQUIRE(x.size() == y.size());
      for (std::size_t t = 0; t < x.size(); ++t)
        for (std::size_t j = 0; j < a.size(); ++j) CHECK(x[t][j] == Approx(y[t][a.size() - 1 - j]).margin(1e-6));
    }
  }
}
