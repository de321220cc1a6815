// `attend serve`: the translation service and the attention explorer over HTTP (docs/serve.md).
// The library's serve layer parses requests and batches them; this file is the HTTP plumbing.
#include <attend/core/blas_threads.hpp>
#include <attend/core/error.hpp>
#include <attend/serve/explorer.hpp>
#include <attend/serve/request.hpp>
#include <attend/serve/service.hpp>
#include <httplib.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <filesystem>
#include <iostream>

#include "common.hpp"

namespace attend::cli {

namespace {

// --model FILE (named after the file) or --model NAME=FILE.
ServedModel load_served(const std::string& spec) {
  std::string name, path = spec;
  const auto eq = spec.find('=');
  if (eq != std::string::npos && !std::filesystem::exists(spec)) {
    name = spec.substr(0, eq);
    path = spec.substr(eq + 1);
    if (name.empty() || path.empty()) throw Error("--model '" + spec + "': write --model NAME=FILE or --model FILE");
  } else {
    name = std::filesystem::path(path).stem().string();
  }
  for (const char c : name)
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.' || c == '+'))
      throw Error("--model '" + spec + "': the name '" + name +
                  "' may hold letters, digits and - _ . + only; give one with --model NAME=FILE");
  return ServedModel{name, path, Translator(load_model(path))};
}

int g_stop_pipe[2] = {-1, -1};

void request_stop(int) {
  const char byte = 1;
  [[maybe_unused]] const auto n = write(g_stop_pipe[1], &byte, 1);
}

void answer_json(httplib::Response& res, int status, const std::string& body) {
  res.status = status;
  res.set_content(body, "application/json");
}

}  // namespace

int run_serve(const std::vector<std::string>& args) {
  std::vector<std::string> model_specs;
  std::string host = "127.0.0.1";
  int port = 8080;
  std::size_t threads = 1, http_threads = 16;
  bool no_batching = false;
  ServiceOptions s;
  po::options_description desc("Options");
  desc.add_options()
      ("model,m", po::value(&model_specs)->composing(),
       "a model file, or NAME=FILE; repeat for several (required)")
      ("host", po::value(&host)->default_value(host),
       "address to listen on (another than 127.0.0.1 exposes the server to that network)")
      ("port", po::value(&port)->default_value(port), "port to listen on (0 = any free port, printed)")
      ("workers", count_option(&s.workers), "decoding workers")
      ("batch-lines", count_option(&s.max_batch_lines), "lines of queued requests decoded together")
      ("no-batching", po::bool_switch(&no_batching), "decode each request on its own")
      ("http-threads", count_option(&http_threads), "connections handled at once")
      ("threads", count_option(&threads), "BLAS threads per worker (0 = the library default)")
      ("max-body", count_option(&s.limits.max_body_bytes), "largest request body in bytes")
      ("max-lines", count_option(&s.limits.max_lines), "most lines in one request")
      ("max-line-bytes", count_option(&s.limits.max_line_bytes), "longest line in bytes")
      ("max-tokens", count_option(&s.limits.max_tokens), "most source tokens in one line")
      ("max-beam", count_option(&s.limits.max_beam), "widest beam a request may ask for")
      ("help,h", "show this help");
  po::variables_map vm;
  const char* usage =
      "usage: attend serve --model M [--model NAME=M2 ...] [--host 127.0.0.1] [--port 8080] [options]\n\n"
      "Answers POST /v1/translate, GET /v1/models and GET /health, and shows the attention explorer\n"
      "at / (docs/serve.md), which compares the models side by side. Each model keeps its own\n"
      "vocabularies and tokenizer; the first answers requests that name none. SIGTERM or Ctrl-C\n"
      "finishes the requests in flight and exits.\n";
  if (!parse_command_line(args, desc, usage, vm)) return 0;
  po::notify(vm);
  require(vm, "model", "serve");
  if (port < 0 || port > 65535) throw Error("--port " + std::to_string(port) + " is not a port (0 to 65535)");
  for (const auto* limit : {&s.workers, &s.max_batch_lines, &http_threads, &s.limits.max_body_bytes,
                            &s.limits.max_lines, &s.limits.max_line_bytes, &s.limits.max_tokens, &s.limits.max_beam})
    if (*limit == 0) throw Error("the server's limits and pool sizes must be at least 1");
  s.batching = !no_batching;

  std::vector<ServedModel> models;
  for (const auto& spec : model_specs) models.push_back(load_served(spec));
  set_blas_threads(threads);

  // SIGTERM and SIGINT only write a byte to a pipe (all a handler may safely do); a thread
  // waiting on it stops the listener. A handler rather than a blocked mask, since threads
  // started before main (OpenBLAS's) would take a blocked signal's default action.
  if (pipe(g_stop_pipe) != 0) throw Error("cannot create the shutdown pipe");
  struct sigaction on_stop {};
  on_stop.sa_handler = request_stop;
  sigemptyset(&on_stop.sa_mask);
  sigaction(SIGTERM, &on_stop, nullptr);
  sigaction(SIGINT, &on_stop, nullptr);
  std::signal(SIGPIPE, SIG_IGN);  // a client that hangs up must not end the server

  TranslationService service(std::move(models), s);
  httplib::Server server;
  server.new_task_queue = [http_threads] { return new httplib::ThreadPool(http_threads); };
  server.set_payload_max_length(s.limits.max_body_bytes);
  // Each connection holds an HTTP thread while it is kept alive: idle ones let go soon.
  server.set_keep_alive_timeout(2);
  // cpp-httplib 0.11 (Debian 12) listens with a backlog of 5, fixed in its compiled library: a
  // burst of new connections overflows it and the dropped ones retry after a second (seen as a
  // 1 s p99 in bench/serve_load.cpp) or fail. Listening again on the socket enlarges it.
  int listen_fd = -1;
  server.set_socket_options([&listen_fd](socket_t sock) {
    const int yes = 1;
    setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof yes);
    listen_fd = sock;
  });
  server.Get("/", [](const httplib::Request&, httplib::Response& res) {
    res.set_content(explorer_page(), "text/html; charset=utf-8");
  });
  server.Get("/health", [&](const httplib::Request&, httplib::Response& res) {
    answer_json(res, 200, service.health_json());
  });
  server.Get("/v1/models", [&](const httplib::Request&, httplib::Response& res) {
    answer_json(res, 200, service.models_json());
  });
  server.Post("/v1/translate", [&](const httplib::Request& req, httplib::Response& res) {
    try {
      answer_json(res, 200, service.handle_translate(req.body));
    } catch (const RequestError& e) {
      answer_json(res, e.status(), error_json(e.what()));
    } catch (const std::bad_alloc&) {
      answer_json(res, 503, error_json("out of memory while translating; send fewer or shorter lines"));
    } catch (const std::exception& e) {
      answer_json(res, 500, error_json(std::string("translation failed: ") + e.what()));
    }
  });
  server.set_exception_handler([](const httplib::Request&, httplib::Response& res, std::exception_ptr) {
    answer_json(res, 500, error_json("internal error"));
  });
  // httplib's own refusals (unknown path, wrong method, a body over --max-body) get a JSON reason.
  server.set_error_handler([&](const httplib::Request& req, httplib::Response& res) {
    if (!res.body.empty()) return;
    std::string why = "HTTP status " + std::to_string(res.status);
    if (res.status == 413)
      why = "the request body is larger than the limit of " + std::to_string(s.limits.max_body_bytes) + " bytes";
    else if (res.status == 404)
      why = "no " + req.method + " " + req.path + " here (POST /v1/translate, GET /v1/models, GET /health, GET /)";
    answer_json(res, res.status, error_json(why));
  });

  const int bound = port == 0 ? server.bind_to_any_port(host) : (server.bind_to_port(host, port) ? port : -1);
  if (bound < 0) throw Error("cannot listen on " + host + ":" + std::to_string(port) + " (in use, or not this machine's address)");
  if (listen_fd >= 0) ::listen(listen_fd, SOMAXCONN);
  std::thread watcher([&server] {
    char byte = 0;
    while (read(g_stop_pipe[0], &byte, 1) < 0 && errno == EINTR) {
    }
    server.stop();
  });
  std::cerr << "attend: serving " << service.model_names().size() << " model"
            << (service.model_names().size() == 1 ? "" : "s") << " (";
  for (std::size_t i = 0; i < service.model_names().size(); ++i) std::cerr << (i ? ", " : "") << service.model_names()[i];
  std::cerr << ") on http://" << host << ":" << bound << "/" << std::endl;
  // Returns once stopped, after the connections in flight were answered.
  const bool listened = server.listen_after_bind();
  if (!listened) request_stop(0);  // the watcher is still waiting
  watcher.join();
  service.stop();
  const ServiceStats st = service.stats();
  std::cerr << "attend: stopped after " << st.requests << " translate requests (" << st.lines << " lines in "
            << st.batches << " batches)" << std::endl;
  return 0;
}

}  // namespace attend::cli
