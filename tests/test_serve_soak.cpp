// The short soak test of `attend serve` (about 20 s; the 5-minute one is bench/serve_soak.cpp,
// figures in docs/serve.md): 64 clients on loopback mixing good requests, malformed ones,
// trickling clients, hang-ups, idle connections and bursts beyond the queue. Tagged [soak] so it
// can be recognised (and left out with ~[soak]).
#include <catch2/catch.hpp>

#include "../bench/serve_soak.hpp"
#include "test_serve_support.hpp"

using namespace attend::test;

TEST_CASE("soak 20 s - 64 mixed clients leave the server up with right answers or 503s", "[serve][soak][http]") {
  ServerProcess server("--model " + quote(serve_models().luong) +
                       " --workers 2 --max-queue 4 --max-connections 40 --http-threads 12 --read-timeout 2 "
                       "--request-timeout 2 --deadline 5 --access-log off");
  attend::soak::SoakOptions o;
  o.port = server.port();
  o.server_pid = server.pid();
  o.seconds = 20;
  o.warmup_seconds = 5;
  o.clients = 64;
  o.burst_every_seconds = 6;
  o.burst_size = 32;
  o.cut_wait_ms = 8000;
  // The expected answers: each sentence alone, before the load.
  REQUIRE(attend::soak::learn_expected(o, {"abc", "hello", "serve", "attention", "xyzzy", "reverse", "abcdefg", "qwerty"}));
  const attend::soak::SoakReport r = attend::soak::Soak(o).run();
  INFO(attend::soak::describe(r));
  CHECK(r.server_alive);
  CHECK(r.good_ok > 0);
  CHECK(r.good_wrong == 0);
  CHECK(r.good_failed == 0);
  CHECK(r.malformed_other == 0);
  CHECK(r.trickle_cut > 0);
  CHECK(r.trickle_not_cut == 0);
  CHECK(r.idle_not_cut == 0);
  CHECK(server.terminate() == 0);
  WARN(attend::soak::describe(r));
}
