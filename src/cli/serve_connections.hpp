// The layer of `attend serve` between the network and its handlers (docs/serve.md, "Facing a
// network"), on cpp-httplib (internal to the CLI: the library does not use cpp-httplib):
//   - ConnectionPool: at most --max-connections open connections, --http-threads of them served
//     at once; one more is answered 503 at once and closed;
//   - GuardedServer / DeadlineStream: each connection is read and written by our own loop, so a
//     client that sends nothing is cut after --read-timeout, one that trickles bytes after
//     --request-timeout for the whole request, and one that does not read the answer likewise;
//     TLS through OpenSSL under the same deadlines;
//   - AccessLog: one line per request, never the text unless asked.
#pragma once
#include <arpa/inet.h>
#include <attend/core/error.hpp>
#include <attend/serve/metrics.hpp>
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
#include <ctime>
#include <fstream>
#include <iostream>
#include <list>
#include <mutex>
#include <string>

namespace attend::cli {

using Clock = std::chrono::steady_clock;

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
inline thread_local Connection* t_connection = nullptr;
// Set while the accepting thread hands over a connection the pool has no room for.
inline thread_local bool t_refusing = false;

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
inline std::string route_label(const std::string& path) {
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
inline bool client_gone(socket_t sock) {
  pollfd p{sock, POLLRDHUP, 0};
  return poll(&p, 1, 0) > 0 && (p.revents & (POLLRDHUP | POLLHUP | POLLERR)) != 0;
}

inline std::string seconds_text(int ms) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%g", ms / 1000.0);
  return buf;
}

}  // namespace attend::cli
