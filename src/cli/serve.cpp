// `attend serve`: the translation service and the attention explorer over HTTP (docs/serve.md).
// The library's serve layer parses requests, batches them, checks API keys and keeps the
// metrics; this file is the HTTP plumbing on cpp-httplib, with one layer between the network
// and the handlers that every request passes (docs/serve.md, "Facing a network"):
//   - ConnectionPool: at most --max-connections open connections, --http-threads of them served
//     at once; one more is answered 503 at once and closed;
//   - GuardedServer / DeadlineStream: each connection is read and written by our own loop, so a
//     client that sends nothing is cut after --read-timeout, one that trickles bytes after
//     --request-timeout for the whole request, and one that does not read the answer likewise;
//   - the pre-routing hook: the API key (401 without it);
//   - the logger hook: the access log line and the HTTP metrics of every request.
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

namespace attend::cli {

namespace {

using Clock = std::chrono::steady_clock;

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

struct HttpOptions {
  std::size_t http_threads = 16;
  std::size_t max_connections = 64;  // open at once: served, or waiting for an HTTP thread
  std::size_t keep_alive_requests = 100;
  int read_timeout_ms = 5000;    // waiting for the next bytes of a request (or its first)
  int write_timeout_ms = 5000;   // waiting for the client to take the next bytes of an answer
  int request_timeout_ms = 30000;  // reading one whole request; writing one whole answer
  int keep_alive_ms = 2000;      // an idle kept-alive connection
  bool log_text = false;         // the access log shows the translated text
};

// ---------------------------------------------------------------------------------------------
// The access log: one line per request, never the text unless --access-log-text.

class AccessLog {
 public:
  explicit AccessLog(const std::string& where) {
    if (where == "-") out_ = &std::cerr;
    else if (where != "off") {
      file_.open(where, std::ios::app);
      if (!file_) throw Error("--access-log " + where + ": cannot be opened for writing");
      out_ = &file_;
    }
  }
  void write(const std::string& line) {
    if (!out_) return;
    std::lock_guard<std::mutex> lock(mutex_);
    *out_ << line << std::endl;
  }
  static std::string now_utc() {
    const auto now = std::chrono::system_clock::now();
    const std::time_t t = std::chrono::system_clock::to_time_t(now);
    const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count() % 1000;
    std::tm tm{};
    gmtime_r(&t, &tm);
    char buf[40];
    std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &tm);
    char out[48];
    std::snprintf(out, sizeof out, "%s.%03dZ", buf, static_cast<int>(ms));
    return out;
  }
  // A client's path, method or text as one printable line: control bytes and quotes escaped,
  // at most `limit` bytes.
  static std::string printable(const std::string& s, std::size_t limit = 200) {
    std::string out;
    for (const char ch : s.substr(0, limit)) {
      const auto c = static_cast<unsigned char>(ch);
      if (c < 0x20 || c == 0x7f || c == '"' || c == '\\') {
        char buf[8];
        std::snprintf(buf, sizeof buf, "\\x%02x", c);
        out += buf;
      } else {
        out += ch;
      }
    }
    if (s.size() > limit) out += "...";
    return out;
  }

 private:
  std::ofstream file_;
  std::ostream* out_ = nullptr;
  std::mutex mutex_;
};

// ---------------------------------------------------------------------------------------------
// One connection, read and written with deadlines.

enum class Cut { none, timeout, deadline };

// Plain TCP, or TLS over it when `ssl` is given (the socket is then non-blocking and every
// SSL_read/SSL_write that wants the network waits for it under the same timeouts and deadline).
class DeadlineStream : public httplib::Stream {
 public:
  DeadlineStream(socket_t sock, const HttpOptions& o, SSL* ssl = nullptr) : sock_(sock), o_(o), ssl_(ssl) {}

  bool is_readable() const override { return buffered() || wait(POLLIN, o_.read_timeout_ms); }
  bool is_writable() const override { return wait(POLLOUT, o_.write_timeout_ms); }

  // TLS: the server's side of the handshake, under the current deadline.
  bool handshake() {
    for (;;) {
      ERR_clear_error();
      const int r = SSL_accept(ssl_);
      if (r == 1) return true;
      if (!wait_for_ssl(r)) return false;
    }
  }

  ssize_t read(char* ptr, size_t size) override {
    if (ssl_) {
      for (;;) {
        ERR_clear_error();
        const int n = SSL_read(ssl_, ptr, static_cast<int>(std::min<size_t>(size, 1 << 20)));
        if (n > 0) return n;
        if (SSL_get_error(ssl_, n) == SSL_ERROR_ZERO_RETURN) return 0;
        if (!wait_for_ssl(n)) return -1;
      }
    }
    if (filled_ == used_) {
      if (!wait(POLLIN, o_.read_timeout_ms)) return -1;
      // httplib reads headers a byte at a time: fill a buffer with what has arrived.
      ssize_t n;
      do n = recv(sock_, buffer_, sizeof buffer_, 0);
      while (n < 0 && errno == EINTR);
      if (n <= 0) return n;
      filled_ = static_cast<std::size_t>(n);
      used_ = 0;
    }
    const std::size_t n = std::min(size, filled_ - used_);
    std::memcpy(ptr, buffer_ + used_, n);
    used_ += n;
    return static_cast<ssize_t>(n);
  }

  ssize_t write(const char* ptr, size_t size) override {
    if (ssl_) {
      for (;;) {
        ERR_clear_error();
        const int n = SSL_write(ssl_, ptr, static_cast<int>(std::min<size_t>(size, 1 << 20)));
        if (n > 0) return n;
        if (!wait_for_ssl(n)) return -1;
      }
    }
    if (!wait(POLLOUT, o_.write_timeout_ms)) return -1;
    ssize_t n;
    do n = send(sock_, ptr, size, MSG_NOSIGNAL);
    while (n < 0 && errno == EINTR);
    return n;
  }

  void get_remote_ip_and_port(std::string& ip, int& port) const override { address(true, ip, port); }
  void get_local_ip_and_port(std::string& ip, int& port) const override { address(false, ip, port); }
  socket_t socket() const override { return sock_; }

  // Waits up to `ms` for the first byte of the next request, giving up early when `stopping`.
  bool wait_for_request(int ms, const std::function<bool()>& stopping) {
    if (buffered()) return true;
    const auto until = Clock::now() + std::chrono::milliseconds(ms);
    while (!stopping()) {
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(until - Clock::now()).count();
      if (left <= 0) return false;
      pollfd p{sock_, POLLIN, 0};
      const int r = poll(&p, 1, static_cast<int>(std::min<long long>(left, 100)));
      if (r > 0) return true;
      if (r < 0 && errno != EINTR) return false;
    }
    return false;
  }

  // Reads and writes after this time fail (the connection is then closed).
  void set_deadline(Clock::time_point t) { deadline_ = t; }
  void clear_deadline() { deadline_ = Clock::time_point::max(); }
  Cut cut() const { return cut_; }
  void reset_cut() { cut_ = Cut::none; }

 private:
  // Waits for `events` up to `ms` and up to the deadline; records why it gave up.
  bool wait(short events, int ms) const {
    const auto timeout = Clock::now() + std::chrono::milliseconds(ms);
    const auto until = std::min(timeout, deadline_);
    for (;;) {
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(until - Clock::now()).count();
      if (left <= 0) break;
      pollfd p{sock_, events, 0};
      const int r = poll(&p, 1, static_cast<int>(left));
      if (r > 0) return true;
      if (r < 0 && errno != EINTR) return false;
    }
    cut_ = deadline_ <= timeout ? Cut::deadline : Cut::timeout;
    return false;
  }
  void address(bool peer, std::string& ip, int& port) const {
    sockaddr_storage a{};
    socklen_t len = sizeof a;
    ip.clear();
    port = 0;
    if ((peer ? getpeername(sock_, reinterpret_cast<sockaddr*>(&a), &len)
              : getsockname(sock_, reinterpret_cast<sockaddr*>(&a), &len)) != 0)
      return;
    char buf[INET6_ADDRSTRLEN] = {};
    if (a.ss_family == AF_INET) {
      const auto* v4 = reinterpret_cast<const sockaddr_in*>(&a);
      inet_ntop(AF_INET, &v4->sin_addr, buf, sizeof buf);
      port = ntohs(v4->sin_port);
    } else if (a.ss_family == AF_INET6) {
      const auto* v6 = reinterpret_cast<const sockaddr_in6*>(&a);
      inet_ntop(AF_INET6, &v6->sin6_addr, buf, sizeof buf);
      port = ntohs(v6->sin6_port);
    }
    ip = buf;
  }

  bool buffered() const { return filled_ > used_ || (ssl_ && SSL_pending(ssl_) > 0); }
  // After an SSL call returned `r` <= 0: waits for what it wants; false for an error or a
  // timeout (recorded as for plain reads and writes).
  bool wait_for_ssl(int r) const {
    const int e = SSL_get_error(ssl_, r);
    if (e == SSL_ERROR_WANT_READ) return wait(POLLIN, o_.read_timeout_ms);
    if (e == SSL_ERROR_WANT_WRITE) return wait(POLLOUT, o_.write_timeout_ms);
    return false;
  }

  socket_t sock_;
  const HttpOptions& o_;
  SSL* ssl_ = nullptr;
  char buffer_[4096];
  std::size_t filled_ = 0, used_ = 0;
  Clock::time_point deadline_ = Clock::time_point::max();
  mutable Cut cut_ = Cut::none;
};

// What the handlers of a request learn about its connection (they run on its thread).
struct Connection {
  DeadlineStream* stream = nullptr;
  Clock::time_point started;  // the request's first byte
  bool logged = false;        // its answer went through the logger
  bool close_after = false;   // end the connection after this answer
  bool client_left = false;   // the client hung up while its translate request waited (499)
  RequestContext request;     // lines (and text) of a translate request, for the log
};
thread_local Connection* t_connection = nullptr;
// Set while the accepting thread hands over a connection the pool has no room for.
thread_local bool t_refusing = false;

// ---------------------------------------------------------------------------------------------
// The connection pool: at most max_connections connections, served by `threads` threads.

class ConnectionPool : public httplib::TaskQueue {
 public:
  ConnectionPool(std::size_t threads, std::size_t max_connections, Metrics& metrics)
      : max_(max_connections), metrics_(metrics) {
    for (std::size_t i = 0; i < std::min(threads, max_connections); ++i) threads_.emplace_back([this] { work(); });
  }
  ~ConnectionPool() override { shutdown(); }

  void enqueue(std::function<void()> fn) override {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      if (active_ + waiting_.size() < max_) {
        waiting_.push_back(std::move(fn));
        publish();
        wake_.notify_one();
        return;
      }
    }
    // No room: the connection is refused on this (the accepting) thread, at once.
    t_refusing = true;
    fn();
    t_refusing = false;
  }

  void shutdown() override {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      stopping_ = true;
    }
    wake_.notify_all();
    for (auto& t : threads_)
      if (t.joinable()) t.join();
  }

 private:
  void work() {
    for (;;) {
      std::function<void()> fn;
      {
        std::unique_lock<std::mutex> lock(mutex_);
        wake_.wait(lock, [&] { return stopping_ || !waiting_.empty(); });
        if (waiting_.empty()) return;
        fn = std::move(waiting_.front());
        waiting_.pop_front();
        ++active_;
        publish();
      }
      fn();
      std::lock_guard<std::mutex> lock(mutex_);
      --active_;
      publish();
    }
  }
  void publish() {  // under mutex_
    metrics_.set("attend_http_connections", {{"state", "active"}}, static_cast<double>(active_));
    metrics_.set("attend_http_connections", {{"state", "waiting"}}, static_cast<double>(waiting_.size()));
  }

  const std::size_t max_;
  Metrics& metrics_;
  std::mutex mutex_;
  std::condition_variable wake_;
  std::list<std::function<void()>> waiting_;
  std::size_t active_ = 0;
  bool stopping_ = false;
  std::vector<std::thread> threads_;
};

// The metrics' name for a path: the served ones, or "other" (a client's paths are unbounded).
std::string route_label(const std::string& path) {
  for (const char* known : {"/", "/health", "/metrics", "/v1/models", "/v1/translate"})
    if (path == known) return path;
  return "other";
}

// ---------------------------------------------------------------------------------------------
// The server: httplib's request parsing and routing, our connections.

class GuardedServer : public httplib::Server {
 public:
  // With `tls` (owned by the caller), every connection speaks TLS.
  GuardedServer(const HttpOptions& o, Metrics& metrics, AccessLog& log, SSL_CTX* tls = nullptr)
      : o_(o), metrics_(metrics), log_(log), tls_(tls) {
    metrics_.gauge("attend_http_connections", "Open connections: served (active) or waiting for an HTTP thread.");
    metrics_.counter("attend_http_connections_refused_total",
                     "Connections refused with 503 because --max-connections were open.");
    metrics_.counter("attend_http_requests_total", "HTTP requests answered, by method, path and status.");
    metrics_.histogram("attend_http_request_duration_seconds",
                       "From a request's first byte to the end of its answer, by path.",
                       {0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60});
    metrics_.counter("attend_http_requests_cut_total",
                     "Requests whose connection was closed for taking too long: a read or write timeout, "
                     "or the whole-request deadline.");
    metrics_.counter("attend_http_tls_handshakes_failed_total", "TLS connections whose handshake failed or timed out.");
    metrics_.counter("attend_http_idle_connections_closed_total",
                     "New connections closed because no request began within --read-timeout.");
    metrics_.set("attend_http_connections", {{"state", "active"}}, 0);
    metrics_.set("attend_http_connections", {{"state", "waiting"}}, 0);
    new_task_queue = [this] { return new ConnectionPool(o_.http_threads, o_.max_connections, metrics_); };
    set_logger([this](const httplib::Request& req, const httplib::Response& res) { record(req, res.status); });
    closer_ = std::thread([this] { close_refused(); });
  }
  ~GuardedServer() override {
    {
      std::lock_guard<std::mutex> lock(refused_mutex_);
      closing_ = true;
    }
    closer_.join();
  }

  // The logger: the access log line and the HTTP metrics of one answered request.
  void record(const httplib::Request& req, int status) {
    record(req.method, req.path, req.remote_addr, status);
  }
  void record(const std::string& req_method, const std::string& path, const std::string& ip, int status) {
    Connection* c = t_connection;
    const double seconds = c ? std::chrono::duration<double>(Clock::now() - c->started).count() : 0;
    const std::string route = route_label(path);
    const std::string method = req_method == "GET" || req_method == "POST" ? req_method : "other";
    metrics_.add("attend_http_requests_total", {{"method", method}, {"path", route}, {"status", std::to_string(status)}});
    metrics_.observe("attend_http_request_duration_seconds", {{"path", route}}, seconds);
    char took[32];
    std::snprintf(took, sizeof took, "%.4f", seconds);
    std::string line = AccessLog::now_utc() + " " + (ip.empty() ? "-" : ip) + " " +
                       AccessLog::printable(req_method, 16) + " " + AccessLog::printable(path) + " " +
                       std::to_string(status) + " " + took + "s";
    if (c && c->request.lines) line += " lines=" + std::to_string(c->request.lines);
    if (c && o_.log_text && !c->request.text.empty()) {
      line += " text=\"";
      for (std::size_t i = 0; i < c->request.text.size(); ++i)
        line += (i ? "\\n" : "") + AccessLog::printable(c->request.text[i], 4096);
      line += "\"";
    }
    log_.write(line);
    if (c) c->logged = true;
  }

  // Gives a handler time to work: no deadline while it runs, a fresh one for writing its answer.
  template <class Handler>
  httplib::Server::Handler unbounded(Handler handler) {
    return [this, handler](const httplib::Request& req, httplib::Response& res) {
      if (t_connection) t_connection->stream->clear_deadline();
      handler(req, res);
      if (t_connection)
        t_connection->stream->set_deadline(Clock::now() + std::chrono::milliseconds(o_.request_timeout_ms));
    };
  }

 private:
  bool process_and_close_socket(socket_t sock) override {
    if (t_refusing) {
      refuse(sock);
      return false;
    }
    SSL* ssl = nullptr;
    if (tls_) {
      fcntl(sock, F_SETFL, fcntl(sock, F_GETFL) | O_NONBLOCK);
      ssl = SSL_new(tls_);
      if (!ssl || SSL_set_fd(ssl, sock) != 1) {
        if (ssl) SSL_free(ssl);
        ::close(sock);
        return false;
      }
    }
    DeadlineStream stream(sock, o_, ssl);
    if (ssl) {
      stream.set_deadline(Clock::now() + std::chrono::milliseconds(o_.request_timeout_ms));
      if (!stream.handshake()) {
        metrics_.add("attend_http_tls_handshakes_failed_total");
        SSL_free(ssl);
        ::close(sock);
        return false;
      }
    }
    Connection connection;
    connection.stream = &stream;
    t_connection = &connection;
    const auto stopping = [this] { return svr_sock_ == INVALID_SOCKET; };
    bool ok = true;
    for (std::size_t n = 0; ok && n < o_.keep_alive_requests; ++n) {
      // A new connection's first request gets --read-timeout to begin; a kept-alive one less.
      if (!stream.wait_for_request(n == 0 ? o_.read_timeout_ms : o_.keep_alive_ms, stopping)) {
        if (n == 0 && !stopping()) {
          metrics_.add("attend_http_idle_connections_closed_total");
          std::string ip;
          int port = 0;
          stream.get_remote_ip_and_port(ip, port);
          log_.write(AccessLog::now_utc() + " " + (ip.empty() ? "-" : ip) + " - - cut: no request within --read-timeout");
        }
        break;
      }
      connection.started = Clock::now();
      connection.logged = false;
      connection.request = RequestContext{};
      connection.request.keep_text = o_.log_text;
      stream.set_deadline(connection.started + std::chrono::milliseconds(o_.request_timeout_ms));
      stream.reset_cut();
      connection.client_left = false;
      bool closed = false;
      ok = process_request(stream, n + 1 == o_.keep_alive_requests, closed, nullptr) && !closed &&
           !connection.close_after;
      if (connection.client_left && !connection.logged) {  // its answer could not be written
        std::string ip;
        int port = 0;
        stream.get_remote_ip_and_port(ip, port);
        record("POST", "/v1/translate", ip, 499);
      }
      if (stream.cut() != Cut::none) {
        const char* why = stream.cut() == Cut::deadline ? "deadline" : "timeout";
        metrics_.add("attend_http_requests_cut_total", {{"reason", why}});
        if (!connection.logged) {
          std::string ip;
          int port = 0;
          stream.get_remote_ip_and_port(ip, port);
          char took[32];
          std::snprintf(took, sizeof took, "%.4f",
                        std::chrono::duration<double>(Clock::now() - connection.started).count());
          log_.write(AccessLog::now_utc() + " " + (ip.empty() ? "-" : ip) + " - - cut " + took + "s (" +
                     (stream.cut() == Cut::deadline ? "the request took longer than --request-timeout"
                                                    : "no bytes within --read-timeout or --write-timeout") + ")");
        }
        ok = false;
      }
    }
    t_connection = nullptr;
    if (ssl) {
      SSL_shutdown(ssl);  // the close_notify, without waiting for the client's
      SSL_free(ssl);
    }
    ::shutdown(sock, SHUT_RDWR);
    ::close(sock);
    return true;
  }

  // A connection beyond --max-connections: 503 and Retry-After, written without waiting, then closed.
  void refuse(socket_t sock) {
    if (tls_) {  // no plain-text answer on a TLS port: the client sees the connection closed
      ::close(sock);
      metrics_.add("attend_http_connections_refused_total");
      return;
    }
    static const std::string body =
        error_json("the server has too many open connections; retry later") ;
    const std::string answer = "HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\n"
                               "Retry-After: 1\r\nConnection: close\r\nContent-Length: " +
                               std::to_string(body.size()) + "\r\n\r\n" + body;
    [[maybe_unused]] const auto sent = send(sock, answer.data(), answer.size(), MSG_DONTWAIT | MSG_NOSIGNAL);
    ::shutdown(sock, SHUT_WR);
    // Closing now, with the client's request unread, would reset the connection, and the client
    // could see the reset before the answer. So the socket is parked for up to a second, its
    // input read and dropped, until the client closes it (at most kMaxParked at once).
    {
      std::lock_guard<std::mutex> lock(refused_mutex_);
      if (refused_.size() < kMaxParked) {
        refused_.push_back({sock, Clock::now() + std::chrono::seconds(1)});
        sock = INVALID_SOCKET;
      }
    }
    if (sock != INVALID_SOCKET) ::close(sock);
    metrics_.add("attend_http_connections_refused_total");
    log_.write(AccessLog::now_utc() + " - - - 503 refused (--max-connections " + std::to_string(o_.max_connections) +
               " open)");
  }

  // The refused connections' closer: drains each parked socket until its client closes it or
  // its second is up.
  void close_refused() {
    char buf[4096];
    for (;;) {
      std::vector<Parked> parked;
      {
        std::lock_guard<std::mutex> lock(refused_mutex_);
        parked.swap(refused_);
        if (closing_ && parked.empty()) return;
      }
      std::vector<pollfd> fds;
      for (const auto& p : parked) fds.push_back({p.sock, POLLIN, 0});
      if (!fds.empty()) poll(fds.data(), fds.size(), 50);
      else std::this_thread::sleep_for(std::chrono::milliseconds(50));
      std::vector<Parked> keep;
      const auto now = Clock::now();
      bool closing = false;
      {
        std::lock_guard<std::mutex> lock(refused_mutex_);
        closing = closing_;
      }
      for (const auto& p : parked) {
        bool done = now >= p.until || closing;
        for (int i = 0; !done && i < 16; ++i) {
          const ssize_t n = recv(p.sock, buf, sizeof buf, MSG_DONTWAIT);
          if (n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)) done = true;
          if (n < 0) break;
        }
        if (done) ::close(p.sock);
        else keep.push_back(p);
      }
      std::lock_guard<std::mutex> lock(refused_mutex_);
      refused_.insert(refused_.end(), keep.begin(), keep.end());
    }
  }

  struct Parked {
    socket_t sock;
    Clock::time_point until;
  };
  static constexpr std::size_t kMaxParked = 512;
  const HttpOptions& o_;
  Metrics& metrics_;
  AccessLog& log_;
  SSL_CTX* tls_ = nullptr;
  std::mutex refused_mutex_;
  std::vector<Parked> refused_;
  bool closing_ = false;  // guarded by refused_mutex_
  std::thread closer_;
};

// True when the client of the current connection has hung up (polled while its request waits).
bool client_gone(socket_t sock) {
  pollfd p{sock, POLLRDHUP, 0};
  return poll(&p, 1, 0) > 0 && (p.revents & (POLLRDHUP | POLLHUP | POLLERR)) != 0;
}

std::string seconds_text(int ms) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%g", ms / 1000.0);
  return buf;
}

}  // namespace

int run_serve(const std::vector<std::string>& args) {
  std::vector<std::string> model_specs;
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
       "a model file, or NAME=FILE; repeat for several (required)")
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
      "usage: attend serve --model M [--model NAME=M2 ...] [--host 127.0.0.1] [--port 8080] [options]\n\n"
      "Answers POST /v1/translate, GET /v1/models, GET /health and GET /metrics, and shows the\n"
      "attention explorer at / (docs/serve.md), which compares the models side by side. Each model\n"
      "keeps its own vocabularies and tokenizer; the first answers requests that name none.\n"
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

  std::vector<ServedModel> models;
  for (const auto& spec : model_specs) models.push_back(load_served(spec));
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
  for (std::size_t i = 0; i < service.model_names().size(); ++i) std::cerr << (i ? ", " : "") << service.model_names()[i];
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
