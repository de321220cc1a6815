// The attention explorer in headless Chromium, driven as a user would through the DevTools
// protocol (over --remote-debugging-pipe): type a sentence, click Translate, hover a cell; then
// read from the DOM that each model's translation and heatmap were drawn. Skipped (with a
// warning) when Chromium is not installed.
#include <fcntl.h>
#include <httplib.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <cmath>
#include <nlohmann/json.hpp>

#include "test_serve_support.hpp"

using namespace attend::test;
using nlohmann::json;

namespace {

std::string find_chromium() {
  for (const char* p : {"/usr/bin/chromium", "/usr/bin/chromium-browser", "/usr/bin/google-chrome"})
    if (access(p, X_OK) == 0) return p;
  return "";
}

// One headless Chromium and one page, commanded with DevTools messages (JSON, each ended by a
// NUL byte) on the pipes --remote-debugging-pipe reads from fd 3 and writes to fd 4.
class Browser {
 public:
  Browser(const std::string& exe, const std::string& profile) {
    int to[2], from[2];
    REQUIRE(pipe(to) == 0);
    REQUIRE(pipe(from) == 0);
    pid_ = fork();
    REQUIRE(pid_ >= 0);
    if (pid_ == 0) {
      const int in = fcntl(to[0], F_DUPFD, 10), out = fcntl(from[1], F_DUPFD, 10);
      dup2(in, 3);
      dup2(out, 4);
      const int null = ::open("/dev/null", O_WRONLY);
      dup2(null, 1);
      dup2(null, 2);
      const std::string dir = "--user-data-dir=" + profile;
      execl(exe.c_str(), exe.c_str(), "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
            "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync",
            "--hide-scrollbars", "--remote-debugging-pipe", "--window-size=1400,900", dir.c_str(), "about:blank",
            static_cast<char*>(nullptr));
      _exit(127);
    }
    close(to[0]);
    close(from[1]);
    write_ = to[1];
    read_ = from[0];
  }
  ~Browser() {
    close(write_);
    close(read_);
    kill(pid_, SIGKILL);
    waitpid(pid_, nullptr, 0);
  }

  // Sends a command (to the page's session once attached) and returns its result.
  json call(const std::string& method, const json& params = json::object()) {
    const json reply = send(method, params);
    INFO(reply.dump());
    REQUIRE_FALSE(reply.contains("error"));
    return reply.at("result");
  }
  // The whole reply: {"result": ...} or {"error": ...}.
  json send(const std::string& method, const json& params) {
    json message = {{"id", ++id_}, {"method", method}, {"params", params}};
    if (!session_.empty()) message["sessionId"] = session_;
    const std::string text = message.dump() + std::string(1, '\0');
    REQUIRE(::write(write_, text.data(), text.size()) == static_cast<ssize_t>(text.size()));
    for (;;) {  // events and other answers are skipped
      const json reply = json::parse(next_message());
      if (reply.value("id", -1) == id_) return reply;
    }
  }
  // A new page, attached, once it shows `url` loaded (until then its scripts' context may be
  // replaced under a command, which then fails and is repeated).
  void open(const std::string& url) {
    const std::string target = call("Target.createTarget", {{"url", url}}).at("targetId");
    session_ = call("Target.attachToTarget", {{"targetId", target}, {"flatten", true}}).at("sessionId");
    for (int i = 0; i < 300; ++i) {
      const json r = send("Runtime.evaluate", {{"expression", "location.href + ' ' + document.readyState"},
                                               {"returnByValue", true}});
      if (r.contains("result") && r["result"]["result"].value("value", "") == url + " complete") return;
      usleep(100000);
    }
    FAIL("the page " << url << " did not load");
  }
  // The value of a JavaScript expression (a promise is awaited).
  json eval(const std::string& expression) {
    const json r = call("Runtime.evaluate", {{"expression", expression}, {"awaitPromise", true}, {"returnByValue", true}});
    INFO(r.dump());
    REQUIRE_FALSE(r.contains("exceptionDetails"));
    return r.at("result").value("value", json());
  }
  // Resolves when `condition` holds (polled every 50 ms); false after 30 s.
  bool wait_for(const std::string& condition) {
    return eval("new Promise(done => { const t0 = Date.now(); const poll = () => { if (" + condition +
                ") done(true); else if (Date.now() - t0 > 30000) done(false); else setTimeout(poll, 50); }; poll(); })")
        .get<bool>();
  }
  void mouse(const std::string& type, double x, double y) {
    json p = {{"type", type}, {"x", x}, {"y", y}};
    if (type != "mouseMoved") p.update({{"button", "left"}, {"clickCount", 1}});
    call("Input.dispatchMouseEvent", p);
  }
  void click(const std::string& selector) {
    const json box = eval("(() => { const b = document.querySelector('" + selector +
                          "').getBoundingClientRect(); return [b.x + b.width / 2, b.y + b.height / 2]; })()");
    mouse("mousePressed", box[0], box[1]);
    mouse("mouseReleased", box[0], box[1]);
  }

 private:
  std::string next_message() {
    std::string m;
    for (;;) {
      const auto end = buffer_.find('\0');
      if (end != std::string::npos) {
        m = buffer_.substr(0, end);
        buffer_.erase(0, end + 1);
        return m;
      }
      char chunk[65536];
      const ssize_t n = ::read(read_, chunk, sizeof chunk);
      REQUIRE(n > 0);  // Chromium ended
      buffer_.append(chunk, static_cast<std::size_t>(n));
    }
  }

  pid_t pid_ = -1;
  int write_ = -1, read_ = -1, id_ = 0;
  std::string session_, buffer_;
};

}  // namespace

TEST_CASE("the explorer draws two models' translations and heatmaps side by side in Chromium", "[browser][serve]") {
  const std::string exe = find_chromium();
  if (exe.empty()) {
    WARN("chromium is not installed (apt-get install -y chromium): the browser check is skipped");
    return;
  }
  ServerProcess server("--model bahdanau=" + quote(serve_models().bahdanau) + " --model luong=" +
                       quote(serve_models().luong));
  TempDir profile;
  alarm(180);  // a hung browser fails the run instead of stalling it
  {
    Browser b(exe, profile.file());
    b.open("http://127.0.0.1:" + std::to_string(server.port()) + "/");
    REQUIRE(b.wait_for("document.body && document.body.dataset.ready === '1'"));
    const std::string sentence = "explore";
    b.eval("document.getElementById('src').focus()");
    b.call("Input.insertText", {{"text", sentence}});  // typed into the focused field
    b.click("#go");
    REQUIRE(b.wait_for("document.getElementById('render-check').dataset.ok === '1'"));
    const json check = json::parse(b.eval("document.getElementById('render-check').textContent").get<std::string>());
    INFO(check.dump());

    // What the API answers for the same input, to compare with what was drawn.
    httplib::Client api("127.0.0.1", server.port());
    for (const char* model : {"bahdanau", "luong"}) {
      const json body = {{"text", {sentence}}, {"model", model}, {"beam", 4}, {"nbest", 3}, {"attention", true}};
      const json t = json::parse(api.Post("/v1/translate", body.dump(), "application/json")->body)["translations"][0];
      const json& drawn = check.at(model);
      CHECK(drawn.at("error").is_null());
      CHECK(drawn.at("translation") == (t.at("text") == "" ? json("(empty)") : t.at("text")));
      const std::size_t rows = t.at("attention").size(), cols = t.at("source_tokens").size();
      CHECK(cols == sentence.size());
      CHECK(drawn.at("cells").get<std::size_t>() == rows * cols);
      CHECK(drawn.at("drawn").get<std::size_t>() == rows * cols);  // every cell has a box on screen
      CHECK(drawn.at("src_labels").get<std::size_t>() == cols);
      CHECK(drawn.at("out_labels").get<std::size_t>() == rows);
      CHECK(drawn.at("nbest").get<std::size_t>() == t.at("nbest").size());
      // A recurrent model: one attention, no layer or kind to pick, one row in the summary table.
      CHECK(drawn.at("layers").get<std::size_t>() == 0);
      CHECK_FALSE(drawn.at("kind_shown").get<bool>());
      CHECK(drawn.at("summary") == json({"mean"}));
    }
    // The two panels sit side by side: the second starts right of the first, at the same height.
    const json boxes = b.eval("[...document.querySelectorAll('.panel')].map(p => { const r = p.getBoundingClientRect(); return [r.left, r.top, r.right]; })");
    REQUIRE(boxes.size() == 2);
    CHECK(boxes[1][0].get<double>() >= boxes[0][2].get<double>());
    CHECK(boxes[1][1].get<double>() == boxes[0][1].get<double>());

    // Hovering a cell shows its weight.
    const json cell = b.eval("(() => { const c = document.querySelector('.panel rect.cell'); const r = c.getBoundingClientRect(); return [r.x + r.width / 2, r.y + r.height / 2, c.dataset.w]; })()");
    b.mouse("mouseMoved", cell[0], cell[1]);
    REQUIRE(b.wait_for("document.getElementById('tip').style.display === 'block'"));
    const std::string tip = b.eval("document.getElementById('tip').textContent");
    INFO(tip);
    CHECK(contains(tip, cell[2].get<std::string>()));  // data-w: the weight to 4 decimals
  }
  alarm(0);
  CHECK(server.terminate() == 0);
}

TEST_CASE("the explorer shows a Transformer's views by kind, layer and head next to an RNN's map", "[browser][serve][attention-views]") {
  const std::string exe = find_chromium();
  if (exe.empty()) {
    WARN("chromium is not installed (apt-get install -y chromium): the browser check is skipped");
    return;
  }
  ServerProcess server("--model transformer=" + quote(serve_transformer_model()) + " --model bahdanau=" +
                       quote(serve_models().bahdanau));
  TempDir profile;
  alarm(180);
  {
    Browser b(exe, profile.file());
    const std::string sentence = "views";
    b.open("http://127.0.0.1:" + std::to_string(server.port()) + "/?text=" + sentence);
    REQUIRE(b.wait_for("document.getElementById('render-check').dataset.ok === '1'"));
    const json first = json::parse(b.eval("document.getElementById('render-check').textContent").get<std::string>());
    INFO(first.dump());
    const json& drawn = first.at("transformer");
    CHECK(drawn.at("error").is_null());
    CHECK(drawn.at("kinds") == json({"cross", "encoder"}));
    CHECK(drawn.at("kind_shown").get<bool>());
    CHECK(drawn.at("layers").get<std::size_t>() == 2);  // 2 decoder layers
    CHECK(drawn.at("heads").get<std::size_t>() == 4);   // mean, all, head 0, head 1
    CHECK(drawn.at("view") == "mean");
    CHECK(drawn.at("summary") ==
          json({"mean", "layer 0 head 0", "layer 0 head 1", "layer 1 head 0", "layer 1 head 1"}));
    // The RNN beside it: its one map, no pickers.
    const json& rnn = first.at("bahdanau");
    CHECK(rnn.at("error").is_null());
    CHECK_FALSE(rnn.at("kind_shown").get<bool>());
    CHECK(rnn.at("layers").get<std::size_t>() == 0);
    CHECK(rnn.at("cells").get<std::size_t>() > 0);
    const json boxes = b.eval("[...document.querySelectorAll('.panel')].map(p => { const r = p.getBoundingClientRect(); return [r.left, r.top, r.right]; })");
    REQUIRE(boxes.size() == 2);
    CHECK(boxes[1][0].get<double>() >= boxes[0][2].get<double>());

    httplib::Client api("127.0.0.1", server.port());
    const json body = {{"text", {sentence}}, {"model", "transformer"}, {"beam", 4}, {"nbest", 3}, {"attention", true}};
    const json t = json::parse(api.Post("/v1/translate", body.dump(), "application/json")->body)["translations"][0];
    // The weights drawn (data-w, 4 decimals, row by row) are those of the view shown.
    const auto same = [](const json& drawn_weights, const json& rows) {
      std::size_t at = 0;
      for (const auto& row : rows)
        for (const auto& w : row) {
          if (at == drawn_weights.size()) return true;
          if (std::abs(drawn_weights[at++].get<double>() - w.get<double>()) > 1e-4) return false;
        }
      return at == drawn_weights.size();
    };
    CHECK(same(drawn.at("weights"), t.at("attention")));
    const std::string panel = "document.querySelector('.panel[data-model=transformer] ";
    const auto pick = [&](const std::string& which, const std::string& value) {
      b.eval("(() => { const s = " + panel + "select.view-" + which + "'); s.value = '" + value +
             "'; s.dispatchEvent(new Event('change')); })()");
    };

    pick("layer", "1");
    pick("head", "0");
    REQUIRE(b.wait_for(panel + ".map').dataset.view === 'layer 1 head 0'"));
    const json second = json::parse(b.eval("document.getElementById('render-check').textContent").get<std::string>());
    INFO(second.dump());
    const json& picked = second.at("transformer");
    CHECK(picked.at("view") == "layer 1 head 0");
    const std::size_t rows = t.at("attention").size(), cols = t.at("source_tokens").size();
    CHECK(picked.at("cells").get<std::size_t>() == rows * cols);
    CHECK(picked.at("drawn").get<std::size_t>() == rows * cols);
    CHECK(same(picked.at("weights"), t.at("attention_views").at("layer 1 head 0")));
    // and not the mean's (when the head differs from it at all in the cells compared).
    if (!same(picked.at("weights"), t.at("attention")))
      SUCCEED("the picked head's map differs from the mean's");
    else
      WARN("layer 1 head 0 equals the mean to 4 decimals in the cells compared");
    CHECK(b.eval(panel + "table.summary tr.current').dataset.view") == "layer 1 head 0");

    // All heads of a layer side by side.
    pick("head", "all");
    REQUIRE(b.wait_for(panel + ".map').dataset.view === 'layer 1 all'"));
    const json grid = json::parse(b.eval("document.getElementById('render-check').textContent").get<std::string>());
    CHECK(grid.at("transformer").at("drawn").get<std::size_t>() == 2 * rows * cols);

    // The encoder's self-attention: source x source, its last layer's mean first.
    pick("kind", "encoder");
    REQUIRE(b.wait_for(panel + ".map').dataset.view === 'encoder mean'"));
    const json enc = json::parse(b.eval("document.getElementById('render-check').textContent").get<std::string>());
    INFO(enc.dump());
    const json& e = enc.at("transformer");
    CHECK(e.at("layers").get<std::size_t>() == 1);
    CHECK(e.at("cells").get<std::size_t>() == cols * cols);
    CHECK(e.at("drawn").get<std::size_t>() == cols * cols);
    CHECK(e.at("out_labels").get<std::size_t>() == cols);
    CHECK(same(e.at("weights"), t.at("encoder_attention")));
    CHECK(e.at("summary") == json({"mean", "encoder layer 0 head 0", "encoder layer 0 head 1"}));
    pick("head", "1");
    REQUIRE(b.wait_for(panel + ".map').dataset.view === 'encoder layer 0 head 1'"));
    const json enc1 = json::parse(b.eval("document.getElementById('render-check').textContent").get<std::string>());
    CHECK(same(enc1.at("transformer").at("weights"), t.at("encoder_attention_views").at("encoder layer 0 head 1")));
  }
  alarm(0);
  CHECK(server.terminate() == 0);
}

TEST_CASE("the explorer shows an ensemble's translation and each member's attention", "[browser][serve][serve-ensemble]") {
  const std::string exe = find_chromium();
  if (exe.empty()) {
    WARN("chromium is not installed (apt-get install -y chromium): the browser check is skipped");
    return;
  }
  ServerProcess server("--model e=" + quote(serve_models().bahdanau + "," + serve_models().luong));
  TempDir profile;
  alarm(180);
  {
    Browser b(exe, profile.file());
    const std::string sentence = "explore";
    b.open("http://127.0.0.1:" + std::to_string(server.port()) + "/?text=" + sentence);
    REQUIRE(b.wait_for("document.getElementById('render-check').dataset.ok === '1'"));
    const json first = json::parse(b.eval("document.getElementById('render-check').textContent").get<std::string>());
    INFO(first.dump());
    httplib::Client api("127.0.0.1", server.port());
    const json body = {{"text", {sentence}}, {"model", "e"}, {"beam", 4}, {"nbest", 3}, {"attention", true}};
    const json t = json::parse(api.Post("/v1/translate", body.dump(), "application/json")->body)["translations"][0];
    const json& drawn = first.at("e");
    CHECK(drawn.at("error").is_null());
    CHECK(drawn.at("translation") == (t.at("text") == "" ? json("(empty)") : t.at("text")));
    CHECK(drawn.at("kinds") == json({"model 1", "model 2"}));
    CHECK(drawn.at("kind_shown").get<bool>());
    CHECK(drawn.at("layers").get<std::size_t>() == 0);
    CHECK(drawn.at("view") == "model 1");
    CHECK(drawn.at("summary") == json({"model 1", "model 2"}));
    const std::size_t cells = t.at("attention").size() * t.at("source_tokens").size();
    CHECK(drawn.at("drawn").get<std::size_t>() == cells);
    const auto same = [](const json& drawn_weights, const json& rows) {
      std::size_t at = 0;
      for (const auto& row : rows)
        for (const auto& w : row) {
          if (at == drawn_weights.size()) return true;
          if (std::abs(drawn_weights[at++].get<double>() - w.get<double>()) > 1e-4) return false;
        }
      return at == drawn_weights.size();
    };
    CHECK(same(drawn.at("weights"), t.at("attention_views").at("model 1")));

    // The second member's map, picked as a kind of attention.
    const std::string panel = "document.querySelector('.panel[data-model=e] ";
    b.eval("(() => { const s = " + panel + "select.view-kind'); s.value = 'model 2'; s.dispatchEvent(new Event('change')); })()");
    REQUIRE(b.wait_for(panel + ".map').dataset.view === 'model 2'"));
    const json second = json::parse(b.eval("document.getElementById('render-check').textContent").get<std::string>());
    CHECK(second.at("e").at("drawn").get<std::size_t>() == cells);
    CHECK(same(second.at("e").at("weights"), t.at("attention_views").at("model 2")));
    CHECK(b.eval(panel + "table.summary tr.current').dataset.view") == "model 2");
    // A click on the first member's summary row shows its map again.
    b.click(".panel[data-model=e] table.summary tr[data-view=\"model 1\"]");
    REQUIRE(b.wait_for(panel + ".map').dataset.view === 'model 1'"));
  }
  alarm(0);
  CHECK(server.terminate() == 0);
}
