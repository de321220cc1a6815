// The attention views of the Transformer decoder (each layer's and head's cross-attention) and
// of a self-attention encoder:
// greedy and beam search keep them when asked, the default attention is the mean over the last
// layer's heads, the JSON export carries them, and `attend translate --attention-view` picks one.
#include <catch2/catch.hpp>

#include <cmath>
#include <nlohmann/json.hpp>
#include <sstream>

#include "attend/core/error.hpp"
#include "attend/decode/attention_export.hpp"
#include "attend/decode/decode.hpp"
#include "attend/text/vocab.hpp"
#include "support.hpp"
#include "test_serve_support.hpp"

using namespace attend;
using attend::test::contains;
using attend::test::quote;
using attend::test::run_cli;

namespace {

constexpr std::size_t kLayers = 2, kHeads = 3;

ModelConfig transformer_config(bool reversed) {
  ModelConfig c;
  c.encoder = "transformer";
  c.decoder = "transformer";
  c.attention = "multihead";
  c.hidden = 12;
  c.heads = kHeads;
  c.self_heads = 2;
  c.ffn = 16;
  c.self_layers = 1;
  c.decoder_layers = kLayers;
  c.reverse_source = reversed;
  c.src_vocab = 14;
  c.tgt_vocab = 13;
  return c;
}

// Random weights, scaled up so the heads attend differently and the rows are far from uniform.
std::unique_ptr<Seq2Seq<float>> random_model(const ModelConfig& c) {
  auto model = std::make_unique<Seq2Seq<float>>(c, 5);
  model->params().values() *= 3.0f;
  return model;
}

std::vector<std::vector<int>> sources() {
  return {{4, 5, 6, 7, 8, 9, 10}, {6, 4}, {9, 5, 11}, {12, 13, 4, 5, 6}, {7}};
}

// Every check on one hypothesis of a source of `len` tokens.
void check_views(const Hypothesis& h, std::size_t len) {
  REQUIRE(h.view_names.size() == kLayers * kHeads);
  REQUIRE(h.views.size() == kLayers * kHeads);
  for (std::size_t l = 0; l < kLayers; ++l)
    for (std::size_t k = 0; k < kHeads; ++k)
      CHECK(h.view_names[l * kHeads + k] == "layer " + std::to_string(l) + " head " + std::to_string(k));
  REQUIRE(!h.attention.empty());
  for (const auto& rows : h.views) {
    REQUIRE(rows.size() == h.attention.size());  // one row per emitted token, </s> included
    for (const auto& row : rows) {
      REQUIRE(row.size() == len);
      double sum = 0;
      for (float w : row) {
        CHECK(w >= 0);
        sum += w;
      }
      CHECK(sum == Approx(1.0).epsilon(1e-5));
    }
  }
  // The default view is the mean over the last layer's heads.
  double worst = 0;
  for (std::size_t i = 0; i < h.attention.size(); ++i)
    for (std::size_t j = 0; j < len; ++j) {
      double mean = 0;
      for (std::size_t k = 0; k < kHeads; ++k) mean += h.views[(kLayers - 1) * kHeads + k][i][j];
      mean /= double(kHeads);
      worst = std::max(worst, std::abs(mean - double(h.attention[i][j])));
    }
  CHECK(worst < 1e-6);
  // The heads differ (else the mean check would say little).
  double spread = 0;
  for (std::size_t i = 0; i < h.attention.size(); ++i)
    for (std::size_t j = 0; j < len; ++j)
      spread = std::max(spread, std::abs(double(h.views[0][i][j]) - double(h.views[kHeads - 1][i][j])));
  if (len > 1) CHECK(spread > 1e-3);
}

}  // namespace

TEST_CASE("greedy and beam search keep every layer's and head's attention when asked", "[attention-views]") {
  for (const bool reversed : {false, true}) {
    auto model = random_model(transformer_config(reversed));
    const auto src = sources();
    for (const std::size_t beam : {1, 3}) {
      INFO("reversed " << reversed << " beam " << beam);
      SearchOptions opt;
      opt.beam = beam;
      opt.nbest = beam == 1 ? 1 : 2;
      opt.keep_attention = true;
      opt.keep_attention_views = true;
      const auto lists = decode(*model, src, opt, 3);  // two batches, mixed lengths (padding)
      for (std::size_t i = 0; i < src.size(); ++i) {
        REQUIRE(lists[i].size() == opt.nbest);
        for (const auto& h : lists[i]) check_views(h, src[i].size());
      }
      // Without the flag nothing is kept, and the search is the same.
      opt.keep_attention_views = false;
      const auto plain = decode(*model, src, opt, 3);
      for (std::size_t i = 0; i < src.size(); ++i)
        for (std::size_t n = 0; n < plain[i].size(); ++n) {
          CHECK(plain[i][n].views.empty());
          CHECK(plain[i][n].view_names.empty());
          CHECK(plain[i][n].tokens == lists[i][n].tokens);
          CHECK(plain[i][n].attention == lists[i][n].attention);
        }
    }
  }
}

TEST_CASE("the decoder's views are zero past each source's length", "[attention-views]") {
  auto model = random_model(transformer_config(false));
  arma::umat src(4, 2, arma::fill::zeros);
  src(0, 0) = 4, src(1, 0) = 5, src(2, 0) = 6, src(3, 0) = 7;
  src(0, 1) = 8, src(1, 1) = 9;
  const Lengths len{4, 2};
  Workspace<float> ws;
  model->start_decoding(src, len, 2, ws);
  const arma::uword feed[2] = {Vocab::kBos, Vocab::kBos};
  model->decoder().step(0, feed, ws.dec);
  const auto views = model->decoder().attention_views(0, ws.dec);
  REQUIRE(views.size() == kLayers * kHeads);
  for (const auto& v : views) {
    REQUIRE(v.weights.n_rows == 4);
    REQUIRE(v.weights.n_cols == 2);
    for (std::size_t b = 0; b < 2; ++b) {
      double sum = 0;
      for (std::size_t j = 0; j < 4; ++j) {
        if (j >= len[b]) CHECK(v.weights(j, b) == 0.0f);
        sum += v.weights(j, b);
      }
      CHECK(sum == Approx(1.0).epsilon(1e-5));
    }
  }
  CHECK(attention_view_names(*model).size() == kLayers * kHeads);
  CHECK(attention_view_names(*model).back() == "layer 1 head 2");
}

TEST_CASE("a self-attention encoder's weights come with the views, over the source in its order",
          "[attention-views]") {
  for (const bool reversed : {false, true}) {
    ModelConfig c = transformer_config(reversed);
    c.self_layers = 2;
    auto model = random_model(c);
    const auto src = sources();
    for (const std::size_t beam : {1, 3}) {
      INFO("reversed " << reversed << " beam " << beam);
      SearchOptions opt;
      opt.beam = beam;
      opt.keep_attention = true;
      opt.keep_attention_views = true;
      const auto lists = decode(*model, src, opt, 3);
      for (std::size_t i = 0; i < src.size(); ++i) {
        const Hypothesis& h = lists[i][0];
        REQUIRE(h.encoder_view_names.size() == 2 * c.self_heads);
        CHECK(h.encoder_view_names[0] == "encoder layer 0 head 0");
        CHECK(h.encoder_view_names.back() == "encoder layer 1 head 1");
        for (const auto& rows : h.encoder_views) {
          REQUIRE(rows.size() == src[i].size());  // a row per source position (query)
          for (const auto& row : rows) {
            REQUIRE(row.size() == src[i].size());  // over the real source positions (keys)
            double sum = 0;
            for (float w : row) sum += w;
            CHECK(sum == Approx(1.0).epsilon(1e-5));
          }
        }
      }
      // The same source alone, reversed by hand with reverse_source off, gives the mirrored maps.
      if (reversed && beam == 1) {
        ModelConfig plain = c;
        plain.reverse_source = false;
        auto other = random_model(plain);  // the same weights: the same seed and names
        std::vector<int> flipped(src[0].rbegin(), src[0].rend());
        const Hypothesis& a = lists[0][0];
        const Hypothesis b = decode(*other, {flipped}, opt)[0][0];
        const std::size_t n = src[0].size();
        REQUIRE(b.encoder_views.size() == a.encoder_views.size());
        for (std::size_t v = 0; v < a.encoder_views.size(); ++v)
          for (std::size_t q = 0; q < n; ++q)
            for (std::size_t k = 0; k < n; ++k)
              CHECK(a.encoder_views[v][q][k] == Approx(b.encoder_views[v][n - 1 - q][n - 1 - k]).margin(1e-5));
      }
    }
  }
  // The JSON export carries them; a recurrent encoder has none.
  auto model = random_model(transformer_config(false));
  SearchOptions opt;
  opt.keep_attention = true;
  opt.keep_attention_views = true;
  const Hypothesis h = decode(*model, {{4, 5, 6}}, opt)[0][0];
  std::ostringstream out;
  write_attention_json(h, {"a", "b", "c"}, {"x"}, out);
  const nlohmann::json j = nlohmann::json::parse(out.str());
  CHECK(j.at("encoder_view_names").size() == h.encoder_view_names.size());
  CHECK(j.at("encoder_views").at("encoder layer 0 head 1").size() == 3);
  ModelConfig rnn = transformer_config(false);
  rnn.encoder = "rnn";
  auto recurrent = random_model(rnn);
  CHECK(decode(*recurrent, {{4, 5, 6}}, opt)[0][0].encoder_views.empty());
}

TEST_CASE("a recurrent decoder has no views", "[attention-views]") {
  for (const std::string decoder : {"bahdanau", "luong"}) {
    ModelConfig c;
    c.attention = decoder == "luong" ? "multihead" : "bahdanau";
    c.decoder = decoder;
    c.emb = 6;
    c.hidden = 8;
    c.heads = 2;
    c.src_vocab = 14;
    c.tgt_vocab = 13;
    Seq2Seq<float> model(c, 2);
    CHECK(attention_view_names(model).empty());
    for (const std::size_t beam : {1, 2}) {
      SearchOptions opt;
      opt.beam = beam;
      opt.keep_attention = true;
      opt.keep_attention_views = true;
      for (const auto& list : decode(model, sources(), opt))
        for (const auto& h : list) {
          CHECK(!h.attention.empty());
          CHECK(h.views.empty());
          CHECK(h.view_names.empty());
          CHECK(&attention_rows(h, "mean") == &h.attention);
          CHECK_THROWS_AS(attention_rows(h, "layer 0 head 0"), Error);
        }
    }
  }
}

TEST_CASE("the JSON export carries every view and names the default one", "[attention-views]") {
  auto model = random_model(transformer_config(false));
  SearchOptions opt;
  opt.keep_attention = true;
  opt.keep_attention_views = true;
  const Hypothesis h = decode(*model, {{4, 5, 6}}, opt)[0][0];
  const std::vector<std::string> src = {"a", "b", "c"};
  std::vector<std::string> out;
  for (std::size_t i = 0; i < h.tokens.size(); ++i) out.push_back("t" + std::to_string(i));

  std::ostringstream s;
  write_attention_json(h, src, out, s);
  const auto j = nlohmann::json::parse(s.str());
  CHECK(j.at("view") == "mean");
  CHECK(j.at("default_view") == "mean over the last layer's heads");
  CHECK(j.at("weights") == nlohmann::json(h.attention));
  REQUIRE(j.at("views").size() == kLayers * kHeads);
  CHECK(j.at("view_names") == nlohmann::json(h.view_names));
  for (std::size_t v = 0; v < h.views.size(); ++v) CHECK(j.at("views").at(h.view_names[v]) == nlohmann::json(h.views[v]));

  std::ostringstream one;
  write_attention_json(h, src, out, one, "layer 0 head 1");
  const auto k = nlohmann::json::parse(one.str());
  CHECK(k.at("view") == "layer 0 head 1");
  CHECK(k.at("weights") == nlohmann::json(h.views[1]));

  std::ostringstream csv, svg;
  write_attention_csv(h, src, out, csv, "layer 1 head 2");
  CHECK(contains(csv.str(), "output\\source,a,b,c"));
  write_attention_svg(h, src, out, svg, "layer 1 head 2");
  CHECK(contains(svg.str(), "layer 1 head 2"));  // the title names the view

  std::ostringstream bad;
  try {
    write_attention_json(h, src, out, bad, "layer 9 head 0");
    FAIL("an unknown view was accepted");
  } catch (const Error& e) {
    CHECK(contains(e.what(), "layer 9 head 0"));
    CHECK(contains(e.what(), "mean, layer 0 head 0, layer 0 head 1"));
  }
}

TEST_CASE("attend translate --attention-view picks a layer's head and refuses an unknown view", "[attention-views][cli]") {
  const std::string model = attend::test::serve_transformer_model();
  const attend::test::TempDir dir;
  const std::string base = "translate --show-attention --model " + quote(model) + " ";

  const auto json_lines = [](const std::string& text) {
    std::vector<nlohmann::json> out;
    std::istringstream lines(text);
    for (std::string line; std::getline(lines, line);)
      if (!line.empty() && line[0] == '{') out.push_back(nlohmann::json::parse(line));
    return out;
  };
  const auto all = run_cli(dir, base + "--attention-format json", "abcd\n");
  INFO(all.err);
  REQUIRE(all.status == 0);
  const auto j = json_lines(all.out);
  REQUIRE(j.size() == 1);
  CHECK(j[0].at("view") == "mean");
  REQUIRE(j[0].at("views").size() == 4);  // 2 layers × 2 heads
  CHECK(j[0].at("view_names").back() == "layer 1 head 1");

  const auto one = run_cli(dir, base + "--attention-format json --attention-view 'layer 1 head 0'", "abcd\n");
  REQUIRE(one.status == 0);
  const auto k = json_lines(one.out);
  REQUIRE(k.size() == 1);
  CHECK(k[0].at("view") == "layer 1 head 0");
  CHECK(k[0].at("weights") == j[0].at("views").at("layer 1 head 0"));

  const auto text = run_cli(dir, base + "--attention-view 'layer 0 head 1'", "abcd\n");
  REQUIRE(text.status == 0);
  CHECK(contains(text.out, "|abcd|"));  // the map's header row: the source
  const auto csv = run_cli(dir, base + "--attention-format csv --attention-view 'layer 0 head 0'", "abcd\n");
  REQUIRE(csv.status == 0);
  CHECK(contains(csv.out, "output\\source,a,b,c,d"));

  const auto bad = run_cli(dir, base + "--attention-view 'layer 2 head 0'", "abcd\n");
  CHECK(bad.status == 2);
  CHECK(contains(bad.err, "layer 2 head 0"));
  CHECK(contains(bad.err, "mean, layer 0 head 0, layer 0 head 1, layer 1 head 0, layer 1 head 1"));

  // A recurrent model has the default view only.
  const auto rnn = run_cli(dir, "translate --show-attention --attention-view 'layer 0 head 0' --model " +
                                    quote(attend::test::serve_models().bahdanau), "abcd\n");
  CHECK(rnn.status == 2);
  CHECK(contains(rnn.err, "(valid: mean)"));
}
