#include "attend/core/atomic_file.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>

#include "attend/core/error.hpp"

namespace attend {

namespace {

std::string reason() { return std::strerror(errno); }

void write_all(int fd, const std::string& content, const std::string& tmp) {
  for (std::size_t done = 0; done < content.size();) {
    const ssize_t n = ::write(fd, content.data() + done, content.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) throw Error("cannot write '" + tmp + "' (" + reason() + ")");
    done += static_cast<std::size_t>(n);
  }
  if (::fsync(fd) != 0) throw Error("cannot write '" + tmp + "' (" + reason() + ")");
}

}  // namespace

void write_file_atomic(const std::string& path, const std::string& content) {
  const std::string tmp = path + ".tmp";
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0666);
  if (fd < 0) throw Error("cannot write '" + tmp + "' (" + reason() + ")");
  try {
    write_all(fd, content, tmp);
  } catch (...) {
    ::close(fd);
    std::remove(tmp.c_str());
    throw;
  }
  if (::close(fd) != 0) {
    const std::string why = reason();
    std::remove(tmp.c_str());
    throw Error("cannot write '" + tmp + "' (" + why + ")");
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0) {
    const std::string why = reason();
    std::remove(tmp.c_str());
    throw Error("cannot rename '" + tmp + "' to '" + path + "' (" + why + ")");
  }
  // Some file systems refuse to sync a directory; the file itself is complete either way.
  const std::filesystem::path dir = std::filesystem::path(path).parent_path();
  const int dfd = ::open(dir.empty() ? "." : dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd >= 0) {
    ::fsync(dfd);
    ::close(dfd);
  }
}

}  // namespace attend
