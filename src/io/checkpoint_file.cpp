// Checkpoint format version 2: a CheckpointFile as one safetensors file (docs/checkpoint.md).
//   tensors            under their state_dict names; optimizer buffers as "optimizer/<name>.<buffer>"
//   __metadata__       "format" = "attend-checkpoint", "format_version" = "2", every config key
//                      as it is, each string list as "list.<name>" = a JSON array of strings, and
//                      "crc32.data" / "crc32.lists" (CRC-32 of the tensor bytes and of the lists'
//                      texts), optional so that files written by other tools load too.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include <cerrno>
#include <cstring>

#include <nlohmann/json.hpp>
#include <set>

#include "attend/core/atomic_file.hpp"
#include "attend/core/error.hpp"
#include "attend/io/checkpoint_file.hpp"
#include "attend/io/safetensors.hpp"

namespace attend {

namespace {

using json = nlohmann::json;

const char* const kFormat = "attend-checkpoint";
const std::string kListPrefix = "list.";
const std::string kOptimizerPrefix = "optimizer/";
const std::set<std::string> kReserved = {"format", "format_version", "crc32.data", "crc32.lists"};

std::uint32_t crc_of(std::uint32_t crc, const void* data, std::size_t n) {
  const auto* p = static_cast<const Bytef*>(data);
  while (n > 0) {
    const auto chunk = static_cast<uInt>(std::min<std::size_t>(n, 1u << 30));
    crc = static_cast<std::uint32_t>(crc32(crc, p, chunk));
    p += chunk;
    n -= chunk;
  }
  return crc;
}

std::uint32_t data_crc(const std::vector<SafetensorsTensor>& tensors) {
  std::uint32_t crc = static_cast<std::uint32_t>(crc32(0, Z_NULL, 0));
  for (const auto& t : tensors) crc = crc_of(crc, t.data.data(), t.data.size() * sizeof(float));
  return crc;
}

std::uint32_t lists_crc(const std::map<std::string, std::string>& metadata) {
  std::uint32_t crc = static_cast<std::uint32_t>(crc32(0, Z_NULL, 0));
  for (const auto& [key, value] : metadata)
    if (key.rfind(kListPrefix, 0) == 0) {
      crc = crc_of(crc, key.data(), key.size() + 1);  // the terminating NUL separates the entries
      crc = crc_of(crc, value.data(), value.size());
    }
  return crc;
}

}  // namespace

const Tensor* CheckpointFile::find(const std::string& name) const {
  for (const Tensor& t : tensors)
    if (t.name == name) return &t;
  return nullptr;
}

std::string encode_checkpoint(const CheckpointFile& ck, const std::string& what) {
  auto fail = [&](const std::string& problem) { return Error("cannot save checkpoint '" + what + "': " + problem); };
  SafetensorsFile f;
  f.metadata["format"] = kFormat;
  f.metadata["format_version"] = std::to_string(kCheckpointVersion);
  for (const auto& [key, value] : ck.config) {
    if (key.empty() || kReserved.count(key) || key.rfind(kListPrefix, 0) == 0)
      throw fail("config key '" + key + "' is empty or reserved by the format");
    f.metadata[key] = value;
  }
  for (const auto& [name, list] : ck.string_lists) {
    if (name.empty()) throw fail("a string list has no name");
    f.metadata[kListPrefix + name] = json(list).dump();
  }
  for (const auto* list : {&ck.tensors, &ck.optimizer})
    for (const Tensor& t : *list) {
      std::size_t need = 1;
      std::string shape;
      for (std::size_t d : t.shape) {
        need *= d;
        shape += (shape.empty() ? "" : ", ") + std::to_string(d);
      }
      if (t.data.size() != need)
        throw fail("tensor '" + t.name + "' has " + std::to_string(t.data.size()) + " values but its shape [" +
                   shape + "] needs " + std::to_string(need));
    }
  std::set<std::string> seen;
  for (const Tensor& t : ck.tensors) {
    if (t.name.empty() || t.name.rfind(kOptimizerPrefix, 0) == 0 || !seen.insert(t.name).second)
      throw fail("tensor name '" + t.name + "' is empty, reserved or used twice");
    f.tensors.push_back({t.name, t.shape, t.data});
  }
  for (const Tensor& t : ck.optimizer) {
    if (!seen.insert(kOptimizerPrefix + t.name).second) throw fail("optimizer buffer '" + t.name + "' appears twice");
    f.tensors.push_back({kOptimizerPrefix + t.name, t.shape, t.data});
  }
  f.metadata["crc32.data"] = std::to_string(data_crc(f.tensors));
  f.metadata["crc32.lists"] = std::to_string(lists_crc(f.metadata));
  try {
    return encode_safetensors(f);
  } catch (const Error& e) {
    throw fail(e.what());
  }
}

CheckpointFile decode_checkpoint(const std::string& bytes, const std::string& what) {
  if (!looks_like_safetensors(bytes))
    throw Error("'" + what + "' is not an attend checkpoint (not a safetensors file: it does not begin with a "
                "header length and '{')");
  SafetensorsFile f = decode_safetensors(bytes, "checkpoint '" + what + "'");
  auto fail = [&](const std::string& problem) { return Error("checkpoint '" + what + "' is invalid: " + problem); };
  const auto format = f.metadata.find("format");
  if (format == f.metadata.end() || format->second != kFormat)
    throw Error("'" + what + "' is a safetensors file but not an attend checkpoint (its __metadata__ has no "
                "\"format\": \"" + kFormat + "\"; docs/checkpoint.md lists what a checkpoint holds)");
  const auto version = f.metadata.find("format_version");
  if (version == f.metadata.end() || version->second != std::to_string(kCheckpointVersion))
    throw fail("format_version is " + (version == f.metadata.end() ? std::string("missing") : "'" + version->second + "'") +
               "; this build reads version " + std::to_string(kCheckpointVersion));
  const auto crc_lists = f.metadata.find("crc32.lists");
  if (crc_lists != f.metadata.end() && crc_lists->second != std::to_string(lists_crc(f.metadata)))
    throw fail("its string lists (vocabularies, SentencePiece models) fail their CRC-32 checksum (damaged file)");
  const auto crc_data = f.metadata.find("crc32.data");
  if (crc_data != f.metadata.end() && crc_data->second != std::to_string(data_crc(f.tensors)))
    throw fail("its tensor data fails the CRC-32 checksum (damaged file)");

  CheckpointFile ck;
  for (auto& [key, value] : f.metadata) {
    if (kReserved.count(key)) continue;
    if (key.rfind(kListPrefix, 0) == 0) {
      const json list = json_nesting_within(value, 1) ? json::parse(value, nullptr, /*allow_exceptions=*/false)
                                                      : json(json::value_t::discarded);
      if (list.is_discarded() || !list.is_array())
        throw fail("__metadata__ entry '" + key + "' is not a JSON list of strings");
      std::vector<std::string> strings;
      strings.reserve(list.size());
      for (const json& s : list) {
        if (!s.is_string()) throw fail("__metadata__ entry '" + key + "' holds something other than strings");
        strings.push_back(s.get<std::string>());
      }
      ck.string_lists[key.substr(kListPrefix.size())] = std::move(strings);
    } else {
      ck.config[key] = std::move(value);
    }
  }
  for (auto& t : f.tensors) {
    Tensor out{std::move(t.name), std::move(t.shape), std::move(t.data)};
    if (out.name.rfind(kOptimizerPrefix, 0) == 0) {
      out.name.erase(0, kOptimizerPrefix.size());
      ck.optimizer.push_back(std::move(out));
    } else {
      ck.tensors.push_back(std::move(out));
    }
  }
  return ck;
}

}  // namespace attend

// ---- files ----------------------------------------------------------------------------------

namespace attend {

void save_checkpoint_file(const std::string& path, const CheckpointFile& checkpoint) {
  const std::string bytes = encode_checkpoint(checkpoint, path);
  try {
    write_file_atomic(path, bytes);
  } catch (const Error& e) {
    throw Error("cannot save checkpoint '" + path + "': " + e.what());
  }
}

namespace {

const char kHdf5Signature[] = "\x89HDF\r\n\x1a\n";

std::string system_error(const std::string& what) { return what + " (" + std::strerror(errno) + ")"; }

std::string read_model_bytes(const std::string& path) {
  const std::string prefix = "cannot load checkpoint '" + path + "': ";
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0)
    throw Error(errno == ENOENT ? prefix + "no such file" : system_error(prefix + "cannot open it"));
  if (S_ISDIR(st.st_mode)) throw Error(prefix + "it is a directory, not a model file");
  if (!S_ISREG(st.st_mode)) throw Error(prefix + "not a regular file (a FIFO, socket or device)");
  // O_NONBLOCK: should the path turn into a FIFO after the check, open must not wait for a writer.
  const int fd = ::open(path.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) throw Error(system_error(prefix + "cannot open it"));
  std::string bytes;
  try {
    if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) throw Error(prefix + "not a regular file");
    bytes.resize(static_cast<std::size_t>(st.st_size));
    std::size_t done = 0;
    while (done < bytes.size()) {
      const ssize_t n = ::read(fd, &bytes[done], bytes.size() - done);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) throw Error(system_error(prefix + "read error"));
      if (n == 0) break;  // shrank while reading: what is there gets checked
      done += static_cast<std::size_t>(n);
    }
    bytes.resize(done);
  } catch (...) {
    ::close(fd);
    throw;
  }
  ::close(fd);
  if (bytes.empty()) throw Error("checkpoint '" + path + "' is an empty file");
  if (bytes.compare(0, 8, kHdf5Signature, 8) == 0)
    throw Error("checkpoint '" + path + "' is a version-1 (HDF5) file; convert it once with "
                "`attend convert-checkpoint " + path + " NEW`, the one command that parses HDF5");
  return bytes;
}

}  // namespace

CheckpointFile load_checkpoint_file(const std::string& path) {
  return decode_checkpoint(read_model_bytes(path), path);
}

}  // namespace attend
