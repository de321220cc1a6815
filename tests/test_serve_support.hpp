// What the `attend serve` tests share: two small trained models and a server process on a free
// loopback port.
#pragma once
#include <sys/types.h>

#include <string>
#include <vector>

#include "support.hpp"

namespace attend::test {

// Two small models of the reverse task, trained once per test run with `attend train`:
// "bahdanau" (additive attention) and "luong" (luong-general). Paths stay valid for the run.
struct ServeModels {
  std::string bahdanau, luong;
};
const ServeModels& serve_models();
// A small Transformer (encoder and decoder, 2 decoder layers × 2 cross-attention heads) of the
// same task, trained once per test run on first use: its answers carry attention views.
const std::string& serve_transformer_model();

// `attend serve ARGS --port 0` started as a child process; the constructor waits until it
// listens (REQUIREs that it does) and reads its port. The destructor ends it (SIGKILL) if it
// is still running.
class ServerProcess {
 public:
  explicit ServerProcess(const std::string& args);
  ~ServerProcess();
  ServerProcess(const ServerProcess&) = delete;
  ServerProcess& operator=(const ServerProcess&) = delete;
  int port() const { return port_; }
  pid_t pid() const { return pid_; }
  // Sends SIGTERM and waits: the exit status (-1 when killed by a signal or not ended in 60 s).
  int terminate();
  // What the server wrote on stderr (complete after terminate()).
  std::string log() const;

 private:
  TempDir dir_;
  pid_t pid_ = -1;
  int port_ = 0;
};

}  // namespace attend::test
