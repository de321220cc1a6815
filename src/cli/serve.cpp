// `attend serve`: the translation service and the attention explorer over HTTP (docs/serve.md).
// The library's serve layer parses requests, batches them, checks API keys and keeps the
// metrics; serve_connections.hpp is the layer between the network and the handlers (connection
// limits, timeouts and deadlines, TLS, the access log); this file is the command: its options,
// the routes, the pre-routing hook (the API key, 401 without it), the logger hook (the access log
// line and the HTTP metrics of every request), signals and reload.
#include <arpa/inet.h>
#include <attend/core/blas_threads.hpp>
#include <attend/core/error.hpp>
#include <attend/serve/access.hpp>
#include <attend/serve/explorer.hpp>
#include <attend/serve/metrics.hpp>
#include <attend/serve/request.hpp>
#include <attend/serve/service.hpp>
#include <httplib.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <csignal>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <list>

#include "common.hpp"
#include "serve_connections.hpp"

namespace attend::cli {

namespace {


// The signal pipe: SIGTERM/SIGINT write 's' (stop), SIGHUP 'r' (reload the models).
int g_signal_pipe[2] = {-1, -1};

void on_signal(int sig) {
  const char byte = sig == SIGHUP ? 'r' : 's';
  [[maybe_unused]] const auto n = write(g_signal_pipe[1], &byte, 1);
}

void answer_json(httplib::Response& res, int status, const std::string& body) {
  res.status = status;
  res.set_content(body, "application/json");
}

}  // namespace

int run_serve(const std::vector<std::string>& args) {
  std::vector<std::string> model_specs;
  std::string ensemble_combine = "mean", ensemble_weights;
  std::string host = "127.0.0.1", api_key_file, access_log = "-", tls_cert, tls_key;
  int port = 8080;
  std::size_t threads = 1;
  std::size_t read_timeout = 5, write_timeout = 5, request_timeout = 30;
  double deadline = 60;
  bool no_batching = false, insecure_no_auth = false;
  ServiceOptions s;
  HttpOptions h;
  po::options_description desc("Options");
  desc.add_options()
      ("model,m", po::value(&model_specs)->composing(),
       "a model file, NAME=FILE, or NAME=FILE,FILE,... (an ensemble decoded together); repeat for several (required)")
      ("ensemble-combine", po::value(&ensemble_combine)->default_value(ensemble_combine),
       "how every ensemble combines its models: mean (the log of their mean probability) | logsum (the weighted "
       "sum of their log-probabilities)")
      ("ensemble-weights", po::value(&ensemble_weights),
       "with --ensemble-combine logsum: one weight per member, comma-separated, for every ensemble (default: 1 each)")
      ("host", po::value(&host)->default_value(host),
       "address to listen on (another than loopback needs --api-key-file or --insecure-no-auth)")
      ("port", po::value(&port)->default_value(port), "port to listen on (0 = any free port, printed)")
      ("api-key-file", po::value(&api_key_file),
       "file of API keys, one per line: requests need 'Authorization: Bearer KEY'")
      ("insecure-no-auth", po::bool_switch(&insecure_no_auth),
       "listen on a non-loopback --host without API keys (anyone who reaches the port may use it)")
      ("tls-cert", po::value(&tls_cert), "serve HTTPS: the certificate chain (PEM), with --tls-key")
      ("tls-key", po::value(&tls_key), "the certificate's private key (PEM, unencrypted)")
      ("workers", count_option(&s.workers), "decoding workers")
      ("batch-lines", count_option(&s.max_batch_lines), "lines of queued requests decoded together")
      ("no-batching", po::bool_switch(&no_batching), "decode each request on its own")
      ("max-queue", count_option(&s.max_queue), "requests that may wait for a worker (more: 503)")
      ("deadline", po::value(&deadline)->default_value(deadline),
       "seconds a translate request may wait and decode (then 503); fractions allowed")
      ("http-threads", count_option(&h.http_threads), "connections served at once")
      ("max-connections", count_option(&h.max_connections), "connections open at once (more: 503)")
      ("read-timeout", count_option(&read_timeout), "seconds without a byte from the client before closing")
      ("write-timeout", count_option(&write_timeout), "seconds the client may not read before closing")
      ("request-timeout", count_option(&request_timeout), "seconds to receive one whole request (and to send its answer)")
      ("access-log", po::value(&access_log)->default_value(access_log),
       "where the access log goes: - (stderr), a file, or off")
      ("access-log-text", po::bool_switch(&h.log_text), "put the translated text in the access log")
      ("threads", count_option(&threads), "BLAS threads per worker (0 = the library default)")
      ("max-body", count_option(&s.limits.max_body_bytes), "largest request body in bytes")
      ("max-lines", count_option(&s.limits.max_lines), "most lines in one request")
      ("max-line-bytes", count_option(&s.limits.max_line_bytes), "longest line in bytes")
      ("max-tokens", count_option(&s.limits.max_tokens), "most source tokens in one line")
      ("max-beam", count_option(&s.limits.max_beam), "widest beam a request may ask for")
      ("help,h", "show this help");
  po::variables_map vm;
  const char* usage =
      "usage: attend serve --model M [--model NAME=M2 | --model NAME=M3,M4 ...] [--host 127.0.0.1] [--port 8080] [options]\n\n"
      "Answers POST /v1/translate, GET /v1/models, GET /health and GET /metrics, and shows the\n"
      "attention explorer at / (docs/serve.md), which compares the models side by side. Each model\n"
      "keeps its own vocabularies and tokenizer; the first answers requests that name none.\n"
      "NAME=M3,M4 serves an ensemble of the files under one name (docs/ensembles.md).\n"
      "SIGTERM or Ctrl-C finishes the requests in flight and exits; SIGHUP reloads the models.\n";
  if (!parse_command_line(args, desc, usage, vm)) return 0;
  po::notify(vm);
  require(vm, "model", "serve");
  if (port < 0 || port > 65535) throw Error("--port " + std::to_string(port) + " is not a port (0 to 65535)");
  for (const auto* limit : {&s.workers, &s.max_batch_lines, &h.http_threads, &h.max_connections, &s.max_queue,
                            &read_timeout, &write_timeout, &request_timeout, &s.limits.max_body_bytes,
                            &s.limits.max_lines, &s.limits.max_line_bytes, &s.limits.max_tokens, &s.limits.max_beam})
    if (*limit == 0) throw Error("the server's limits, timeouts and pool sizes must be at least 1");
  for (const std::size_t seconds : {read_timeout, write_timeout, request_timeout})
    if (seconds > 86400) throw Error("the server's timeouts are at most 86400 seconds");
  if (!(deadline >= 0.001 && deadline <= 86400)) throw Error("--deadline must be from 0.001 to 86400 seconds");
  // Checked before a model is loaded or an address bound.
  if (!is_loopback_host(host) && api_key_file.empty() && !insecure_no_auth)
    throw Error("--host " + host + " is reachable from other machines: give --api-key-file FILE (requests then need "
                "'Authorization: Bearer KEY') or, to serve without authentication anyway, --insecure-no-auth");
  if (!api_key_file.empty() && insecure_no_auth) throw Error("--api-key-file and --insecure-no-auth exclude each other");
  const ApiKeys keys = api_key_file.empty() ? ApiKeys() : ApiKeys::load(api_key_file);
  if (tls_cert.empty() != tls_key.empty()) throw Error("--tls-cert and --tls-key go together");
  std::unique_ptr<SSL_CTX, decltype(&SSL_CTX_free)> tls(nullptr, SSL_CTX_free);
  if (!tls_cert.empty()) {
    tls.reset(SSL_CTX_new(TLS_server_method()));
    if (!tls) throw Error("cannot set up TLS (OpenSSL)");
    SSL_CTX_set_min_proto_version(tls.get(), TLS1_2_VERSION);
    SSL_CTX_set_mode(tls.get(), SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
    if (SSL_CTX_use_certificate_chain_file(tls.get(), tls_cert.c_str()) != 1)
      throw Error("--tls-cert " + tls_cert + ": not a readable PEM certificate");
    if (SSL_CTX_use_PrivateKey_file(tls.get(), tls_key.c_str(), SSL_FILETYPE_PEM) != 1)
      throw Error("--tls-key " + tls_key + ": not a readable PEM private key (without a passphrase)");
    if (SSL_CTX_check_private_key(tls.get()) != 1)
      throw Error("--tls-key " + tls_key + " is not the key of --tls-cert " + tls_cert);
  }
  s.batching = !no_batching;
  s.deadline = std::chrono::milliseconds(static_cast<long long>(1000 * deadline));
  h.read_timeout_ms = static_cast<int>(1000 * read_timeout);
  h.write_timeout_ms = static_cast<int>(1000 * write_timeout);
  h.request_timeout_ms = static_cast<int>(1000 * request_timeout);
  AccessLog log(access_log);

  // Every spec and the ensemble options are checked before a model is loaded.
  std::vector<ModelSpec> specs;
  for (const auto& spec : model_specs) specs.push_back(parse_model_spec(spec));
  EnsembleOptions ensemble;
  ensemble.combine = parse_ensemble_combine(ensemble_combine);
  if (!ensemble_weights.empty()) {
    if (ensemble.combine != EnsembleCombine::LogSum) throw Error("--ensemble-weights applies to --ensemble-combine logsum");
    ensemble.weights = parse_ensemble_weights(ensemble_weights);
    bool any = false;
    for (const auto& spec : specs) {
      if (spec.paths.size() == 1) continue;
      any = true;
      if (spec.paths.size() != ensemble.weights.size())
        throw Error("--ensemble-weights gives " + std::to_string(ensemble.weights.size()) + " weights, but the ensemble '" +
                    spec.name + "' has " + std::to_string(spec.paths.size()) + " models (the weights apply to every ensemble)");
    }
    if (!any) throw Error("--ensemble-weights: no --model is an ensemble (write --model NAME=FILE,FILE,...)");
  }
  std::vector<ServedModel> models;
  std::vector<std::string> shown;  // for the start line: an ensemble's name says so
  for (const auto& spec : specs) {
    models.push_back(load_served_model(spec, ensemble));
    shown.push_back(spec.paths.size() == 1 ? spec.name
                                           : spec.name + ": ensemble of " + std::to_string(spec.paths.size()));
  }
  set_blas_threads(threads);

  // The signals only write a byte to a pipe (all a handler may safely do); a thread waiting on
  // it stops the listener or reloads. A handler rather than a blocked mask, since threads
  // started before main (OpenBLAS's) would take a blocked signal's default action.
  if (pipe(g_signal_pipe) != 0) throw Error("cannot create the signal pipe");
  struct sigaction on {};
  on.sa_handler = on_signal;
  sigemptyset(&on.sa_mask);
  sigaction(SIGTERM, &on, nullptr);
  sigaction(SIGINT, &on, nullptr);
  sigaction(SIGHUP, &on, nullptr);
  std::signal(SIGPIPE, SIG_IGN);  // a client that hangs up must not end the server

  TranslationService service(std::move(models), s);
  Metrics& metrics = service.metrics();
  GuardedServer server(h, metrics, log, tls.get());
  server.set_payload_max_length(s.limits.max_body_bytes);
  // What the Keep-Alive header announces; GuardedServer's loop enforces them.
  server.set_keep_alive_max_count(h.keep_alive_requests);
  server.set_keep_alive_timeout(h.keep_alive_ms / 1000);
  // cpp-httplib 0.11 (Debian 12) listens with a backlog of 5, fixed in its compiled library: a
  // burst of new connections overflows it and the dropped ones retry after a second (seen as a
  // 1 s p99 in bench/serve_load.cpp) or fail. Listening again on the socket enlarges it.
  int listen_fd = -1;
  server.set_socket_options([&listen_fd](socket_t sock) {
    const int yes = 1;
    setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof yes);
    listen_fd = sock;
  });
  // Access control, before anything else: every path but the explorer page (which holds no data
  // and asks for the key itself) needs the key. The connection is closed after a 401, so a
  // request body that was not read cannot be taken for the next request.
  server.set_pre_routing_handler([&keys](const httplib::Request& req, httplib::Response& res) {
    if (!keys.enabled() || (req.method == "GET" && req.path == "/") || keys.accepts(req.get_header_value("Authorization")))
      return httplib::Server::HandlerResponse::Unhandled;
    res.set_header("WWW-Authenticate", "Bearer realm=\"attend\"");
    answer_json(res, 401, error_json("this server needs an API key: send 'Authorization: Bearer KEY'"));
    if (t_connection) t_connection->close_after = true;
    return httplib::Server::HandlerResponse::Handled;
  });
  server.Get("/", [](const httplib::Request&, httplib::Response& res) {
    res.set_content(explorer_page(), "text/html; charset=utf-8");
  });
  server.Get("/health", [&](const httplib::Request&, httplib::Response& res) {
    answer_json(res, 200, service.health_json());
  });
  server.Get("/metrics", [&](const httplib::Request&, httplib::Response& res) {
    res.set_content(metrics.render(), "text/plain; version=0.0.4; charset=utf-8");
  });
  server.Get("/v1/models", [&](const httplib::Request&, httplib::Response& res) {
    answer_json(res, 200, service.models_json());
  });
  server.Post("/v1/translate", server.unbounded([&](const httplib::Request& req, httplib::Response& res) {
    RequestContext fallback;
    RequestContext& context = t_connection ? t_connection->request : fallback;
    if (t_connection) {
      const socket_t sock = t_connection->stream->socket();
      context.client_gone = [sock] { return client_gone(sock); };
    }
    try {
      answer_json(res, 200, service.handle_translate(req.body, &context));
    } catch (const RequestError& e) {
      answer_json(res, e.status(), error_json(e.what()));
      if (e.status() == 503) res.set_header("Retry-After", "1");
      if (e.status() == 499 && t_connection) t_connection->close_after = t_connection->client_left = true;
    } catch (const std::bad_alloc&) {
      answer_json(res, 503, error_json("out of memory while translating; send fewer or shorter lines"));
    } catch (const std::exception& e) {
      answer_json(res, 500, error_json(std::string("translation failed: ") + e.what()));
    }
  }));
  server.set_exception_handler([](const httplib::Request&, httplib::Response& res, std::exception_ptr) {
    answer_json(res, 500, error_json("internal error"));
  });
  // httplib's own refusals (unknown path, wrong method, a body over --max-body) get a JSON reason.
  server.set_error_handler([&](const httplib::Request& req, httplib::Response& res) {
    if (!res.body.empty()) return;
    std::string why = "HTTP status " + std::to_string(res.status);
    if (res.status == 413 && req.get_header_value("Content-Type") == "application/x-www-form-urlencoded")
      why = "send the body as Content-Type: application/json (a form body is limited to 8192 bytes)";
    else if (res.status == 413)
      why = "the request body is larger than the limit of " + std::to_string(s.limits.max_body_bytes) + " bytes";
    else if (res.status == 404)
      why = "no " + AccessLog::printable(req.method, 16) + " " + AccessLog::printable(req.path) +
            " here (POST /v1/translate, GET /v1/models, GET /health, GET /metrics, GET /)";
    answer_json(res, res.status, error_json(why));
  });

  const int bound = port == 0 ? server.bind_to_any_port(host) : (server.bind_to_port(host, port) ? port : -1);
  if (bound < 0) throw Error("cannot listen on " + host + ":" + std::to_string(port) + " (in use, or not this machine's address)");
  if (listen_fd >= 0) ::listen(listen_fd, SOMAXCONN);
  std::thread watcher([&] {
    for (;;) {
      char byte = 0;
      const auto n = read(g_signal_pipe[0], &byte, 1);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0 || byte == 's') break;
      // 'r': SIGHUP. Requests keep being answered (with the old models) while the new load.
      std::cerr << "attend: reloading " << service.model_names().size() << " model"
                << (service.model_names().size() == 1 ? "" : "s") << " (SIGHUP)" << std::endl;
      try {
        service.reload();
        std::cerr << "attend: reloaded the models" << std::endl;
      } catch (const std::exception& e) {
        std::cerr << "attend: reload failed, still serving the models loaded before: " << e.what() << std::endl;
      }
    }
    server.stop();
  });
  std::cerr << "attend: serving " << service.model_names().size() << " model"
            << (service.model_names().size() == 1 ? "" : "s") << " (";
  for (std::size_t i = 0; i < shown.size(); ++i) std::cerr << (i ? ", " : "") << shown[i];
  std::cerr << ") on " << (tls ? "https" : "http") << "://" << host << ":" << bound << "/"
            << (keys.enabled() ? " (API key required)" : "") << std::endl;
  // Returns once stopped, after the connections in flight were answered.
  const bool listened = server.listen_after_bind();
  if (!listened) on_signal(SIGTERM);  // the watcher is still waiting
  watcher.join();
  service.stop();
  const ServiceStats st = service.stats();
  std::cerr << "attend: stopped after " << st.requests << " translate requests (" << st.lines << " lines in "
            << st.batches << " batches)" << std::endl;
  return 0;
}

}  // namespace attend::cli
