// Checkpoint format version 1: HDF5. Kept only for `attend convert-checkpoint`; no everyday
// loader hands a file to libhdf5 (its parser is not hardened against damaged files).
#include "attend/io/checkpoint_file.hpp"

#include <fcntl.h>
#include <hdf5.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <set>
#include <utility>

#include "attend/core/error.hpp"

namespace attend {

namespace {

const char* const kFormat = "attend-checkpoint";
constexpr int kHdf5Version = 1;

// Owns one HDF5 identifier, so that every way out of a function closes what it opened.
class Handle {
 public:
  using Closer = herr_t (*)(hid_t);
  Handle(hid_t id, Closer closer) : id_(id), closer_(closer) {}
  Handle(Handle&& other) noexcept : id_(std::exchange(other.id_, H5I_INVALID_HID)), closer_(other.closer_) {}
  Handle(const Handle&) = delete;
  Handle& operator=(const Handle&) = delete;
  Handle& operator=(Handle&&) = delete;
  ~Handle() { close(); }

  hid_t get() const { return id_; }
  herr_t close() { return id_ < 0 ? 0 : closer_(std::exchange(id_, H5I_INVALID_HID)); }

 private:
  hid_t id_;
  Closer closer_;
};

// HDF5 prints its error stack to stderr by default; we report through Error instead.
class QuietHdf5 {
 public:
  QuietHdf5() {
    H5Eget_auto2(H5E_DEFAULT, &func_, &data_);
    H5Eset_auto2(H5E_DEFAULT, nullptr, nullptr);
  }
  ~QuietHdf5() { H5Eset_auto2(H5E_DEFAULT, func_, data_); }
  QuietHdf5(const QuietHdf5&) = delete;
  QuietHdf5& operator=(const QuietHdf5&) = delete;

 private:
  H5E_auto2_t func_ = nullptr;
  void* data_ = nullptr;
};

herr_t keep_innermost(unsigned n, const H5E_error2_t* err, void* out) {
  if (n == 0 && err->desc) *static_cast<std::string*>(out) = err->desc;
  return 0;
}

// The innermost HDF5 message says most ("truncated file: eof = ...", "... Fletcher32 checksum").
std::string hdf5_reason() {
  std::string desc;
  H5Ewalk2(H5E_DEFAULT, H5E_WALK_UPWARD, keep_innermost, &desc);
  H5Eclear2(H5E_DEFAULT);
  return desc.empty() ? "" : " (" + desc + ")";
}

// Turns failed HDF5 calls into Errors that start with `prefix_` (which names the file).
class Guard {
 public:
  explicit Guard(std::string prefix) : prefix_(std::move(prefix)) {}
  [[noreturn]] void fail(const std::string& what) const { throw Error(prefix_ + what + hdf5_reason()); }
  Handle own(hid_t id, Handle::Closer closer, const std::string& what) const {
    if (id < 0) fail(what);
    return Handle(id, closer);
  }
  void check(herr_t status, const std::string& what) const {
    if (status < 0) fail(what);
  }

 private:
  std::string prefix_;
};

std::string quoted(const std::string& s) { return "'" + s + "'"; }

std::string shape_text(const std::vector<std::size_t>& shape) {
  std::string text = "[";
  for (std::size_t i = 0; i < shape.size(); ++i) text += (i ? ", " : "") + std::to_string(shape[i]);
  return text + "]";
}

std::size_t element_count(const std::vector<std::size_t>& shape) {
  std::size_t n = 1;
  for (std::size_t d : shape) n *= d;
  return n;
}

// ---------------------------------------------------------------- writing

bool has_nul(const std::string& s) { return s.find('\0') != std::string::npos; }

// HDF5 object names: "/" separates groups and "." is the group itself.
bool valid_object_name(const std::string& s) {
  return !s.empty() && s != "." && s.find('/') == std::string::npos && !has_nul(s);
}

void validate(const CheckpointFile& ck, const std::string& path) {
  const std::string prefix = "cannot save checkpoint " + quoted(path) + ": ";
  for (const auto& [key, value] : ck.config)
    if (key.empty() || key == "." || has_nul(key) || has_nul(value))
      throw Error(prefix + "config key " + quoted(key) + " is empty or holds a NUL character");
  for (const auto& [name, list] : ck.string_lists) {
    if (!valid_object_name(name))
      throw Error(prefix + "string list name " + quoted(name) + " is empty, '.', or holds '/' or NUL");
    for (const std::string& s : list)
      if (has_nul(s)) throw Error(prefix + "string list " + quoted(name) + " holds a NUL character");
  }
  for (const auto* list : {&ck.tensors, &ck.optimizer}) {
    std::set<std::string> seen;
    for (const Tensor& t : *list) {
      if (!valid_object_name(t.name))
        throw Error(prefix + "tensor name " + quoted(t.name) + " is empty, '.', or holds '/' or NUL");
      if (!seen.insert(t.name).second) throw Error(prefix + "tensor " + quoted(t.name) + " appears twice");
      if (t.data.size() != element_count(t.shape))
        throw Error(prefix + "tensor " + quoted(t.name) + " has " + std::to_string(t.data.size()) +
                    " values but its shape " + shape_text(t.shape) + " needs " +
                    std::to_string(element_count(t.shape)));
    }
  }
}

Handle utf8_string_type(const Guard& g) {
  Handle type = g.own(H5Tcopy(H5T_C_S1), H5Tclose, "cannot make a string type");
  g.check(H5Tset_size(type.get(), H5T_VARIABLE), "cannot make a string type");
  g.check(H5Tset_cset(type.get(), H5T_CSET_UTF8), "cannot make a string type");
  return type;
}

Handle dataspace(const Guard& g, const std::vector<hsize_t>& dims) {
  hid_t id = dims.empty() ? H5Screate(H5S_SCALAR)
                          : H5Screate_simple(static_cast<int>(dims.size()), dims.data(), nullptr);
  return g.own(id, H5Sclose, "cannot make a dataspace");
}

// Fletcher32 stores a checksum per chunk, so a damaged dataset fails to read instead of loading
// wrong numbers. It needs chunked layout, which a scalar or empty dataset cannot have.
Handle checksummed_layout(const Guard& g, const std::vector<hsize_t>& dims) {
  Handle dcpl = g.own(H5Pcreate(H5P_DATASET_CREATE), H5Pclose, "cannot make a dataset layout");
  bool chunkable = !dims.empty();
  for (hsize_t d : dims) chunkable = chunkable && d > 0;
  if (chunkable) {
    g.check(H5Pset_chunk(dcpl.get(), static_cast<int>(dims.size()), dims.data()), "cannot set chunking");
    g.check(H5Pset_fletcher32(dcpl.get()), "cannot enable the Fletcher32 checksum");
  }
  return dcpl;
}

// Groups remember creation order so that tensors load in the order they were saved.
Handle ordered_group(const Guard& g, hid_t parent, const char* name) {
  Handle gcpl = g.own(H5Pcreate(H5P_GROUP_CREATE), H5Pclose, "cannot make a group");
  g.check(H5Pset_link_creation_order(gcpl.get(), H5P_CRT_ORDER_TRACKED | H5P_CRT_ORDER_INDEXED),
          "cannot make a group");
  return g.own(H5Gcreate2(parent, name, H5P_DEFAULT, gcpl.get(), H5P_DEFAULT), H5Gclose,
               "cannot create group " + quoted(name));
}

void write_string_attribute(const Guard& g, hid_t loc, const std::string& name, const std::string& value) {
  Handle type = utf8_string_type(g);
  Handle space = dataspace(g, {});
  Handle attr = g.own(H5Acreate2(loc, name.c_str(), type.get(), space.get(), H5P_DEFAULT, H5P_DEFAULT),
                      H5Aclose, "cannot create attribute " + quoted(name));
  const char* text = value.c_str();
  g.check(H5Awrite(attr.get(), type.get(), &text), "cannot write attribute " + quoted(name));
}

void write_int_attribute(const Guard& g, hid_t loc, const std::string& name, int value) {
  Handle space = dataspace(g, {});
  Handle attr = g.own(H5Acreate2(loc, name.c_str(), H5T_STD_I32LE, space.get(), H5P_DEFAULT, H5P_DEFAULT),
                      H5Aclose, "cannot create attribute " + quoted(name));
  g.check(H5Awrite(attr.get(), H5T_NATIVE_INT, &value), "cannot write attribute " + quoted(name));
}

// Fletcher32 cannot filter variable-length strings, so a string list carries its own checksum:
// zlib's CRC-32 of the UTF-8 strings joined by NUL (in Python: zlib.crc32(b"\0".join(...))).
std::uint32_t crc32_of(const std::vector<std::string>& list) {
  std::uint32_t crc = 0xFFFFFFFFu;
  auto add = [&crc](unsigned char byte) {
    crc ^= byte;
    for (int k = 0; k < 8; ++k) crc = (crc >> 1) ^ (0xEDB88320u & (0u - (crc & 1u)));
  };
  for (std::size_t i = 0; i < list.size(); ++i) {
    if (i > 0) add(0);
    for (char c : list[i]) add(static_cast<unsigned char>(c));
  }
  return ~crc;
}

void write_string_list(const Guard& g, hid_t group, const std::string& name,
                       const std::vector<std::string>& list) {
  Handle type = utf8_string_type(g);
  Handle space = dataspace(g, {list.size()});
  Handle ds = g.own(H5Dcreate2(group, name.c_str(), type.get(), space.get(), H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT),
                    H5Dclose, "cannot create string list " + quoted(name));
  std::vector<const char*> texts;
  for (const std::string& s : list) texts.push_back(s.c_str());
  if (!texts.empty())
    g.check(H5Dwrite(ds.get(), type.get(), H5S_ALL, H5S_ALL, H5P_DEFAULT, texts.data()),
            "cannot write string list " + quoted(name));
  Handle scalar = dataspace(g, {});
  Handle attr = g.own(H5Acreate2(ds.get(), "crc32", H5T_STD_U32LE, scalar.get(), H5P_DEFAULT, H5P_DEFAULT),
                      H5Aclose, "cannot write the checksum of string list " + quoted(name));
  const std::uint32_t crc = crc32_of(list);
  g.check(H5Awrite(attr.get(), H5T_NATIVE_UINT32, &crc), "cannot write the checksum of string list " + quoted(name));
}

void write_tensor(const Guard& g, hid_t group, const Tensor& t) {
  const std::vector<hsize_t> dims(t.shape.begin(), t.shape.end());
  Handle space = dataspace(g, dims);
  Handle dcpl = checksummed_layout(g, dims);
  Handle ds = g.own(H5Dcreate2(group, t.name.c_str(), H5T_IEEE_F32LE, space.get(), H5P_DEFAULT, dcpl.get(),
                               H5P_DEFAULT),
                    H5Dclose, "cannot create tensor " + quoted(t.name));
  if (!t.data.empty())
    g.check(H5Dwrite(ds.get(), H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, t.data.data()),
            "cannot write tensor " + quoted(t.name));
}

void write_hdf5(const Guard& g, const std::string& file_name, const CheckpointFile& ck) {
  // The 1.8 format adds checksums to the metadata too, and HDF5 >= 1.8 (any h5py) reads it.
  Handle fapl = g.own(H5Pcreate(H5P_FILE_ACCESS), H5Pclose, "cannot make file properties");
  g.check(H5Pset_libver_bounds(fapl.get(), H5F_LIBVER_V18, H5F_LIBVER_V18), "cannot set the file format");
  Handle file = g.own(H5Fcreate(file_name.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, fapl.get()), H5Fclose,
                      "cannot create " + quoted(file_name));
  write_string_attribute(g, file.get(), "format", kFormat);
  write_int_attribute(g, file.get(), "format_version", kHdf5Version);
  {
    Handle config = ordered_group(g, file.get(), "config");
    for (const auto& [key, value] : ck.config) write_string_attribute(g, config.get(), key, value);
    Handle strings = ordered_group(g, file.get(), "strings");
    for (const auto& [name, list] : ck.string_lists) write_string_list(g, strings.get(), name, list);
    Handle state = ordered_group(g, file.get(), "state_dict");
    for (const Tensor& t : ck.tensors) write_tensor(g, state.get(), t);
    if (!ck.optimizer.empty()) {
      Handle optimizer = ordered_group(g, file.get(), "optimizer");
      for (const Tensor& t : ck.optimizer) write_tensor(g, optimizer.get(), t);
    }
  }
  g.check(H5Fflush(file.get(), H5F_SCOPE_GLOBAL), "cannot flush " + quoted(file_name));
  g.check(file.close(), "cannot close " + quoted(file_name));
}

void fsync_path(const std::string& path, int flags) {
  int fd = ::open(path.c_str(), flags);
  if (fd < 0) return;
  ::fsync(fd);
  ::close(fd);
}

// ---------------------------------------------------------------- reading

// Reads n strings, variable-length or fixed-length, through `read(memory_type, buffer)`.
template <class Read>
std::vector<std::string> read_strings(const Guard& g, hid_t file_type, std::size_t n, Read read,
                                      const std::string& what) {
  Handle mem = g.own(H5Tget_native_type(file_type, H5T_DIR_DEFAULT), H5Tclose, "cannot read " + what);
  std::vector<std::string> out;
  if (n == 0) return out;
  if (H5Tis_variable_str(file_type) > 0) {
    std::vector<char*> texts(n, nullptr);
    herr_t status = read(mem.get(), texts.data());
    for (char* s : texts) {
      out.emplace_back(s ? s : "");
      H5free_memory(s);
    }
    g.check(status, "cannot read " + what);
  } else {
    const std::size_t size = H5Tget_size(file_type);
    std::vector<char> buffer(n * size);
    g.check(read(mem.get(), buffer.data()), "cannot read " + what);
    for (std::size_t i = 0; i < n; ++i) {
      const char* s = buffer.data() + i * size;
      out.emplace_back(s, strnlen(s, size));
    }
  }
  return out;
}

// Empty if the attribute is not a single string.
std::vector<std::string> read_string_attribute(const Guard& g, hid_t loc, const std::string& name) {
  const std::string what = "attribute " + quoted(name);
  Handle attr = g.own(H5Aopen(loc, name.c_str(), H5P_DEFAULT), H5Aclose, "cannot open " + what);
  Handle type = g.own(H5Aget_type(attr.get()), H5Tclose, "cannot read " + what);
  Handle space = g.own(H5Aget_space(attr.get()), H5Sclose, "cannot read " + what);
  if (H5Tget_class(type.get()) != H5T_STRING || H5Sget_simple_extent_npoints(space.get()) != 1) return {};
  return read_strings(
      g, type.get(), 1, [&](hid_t mem, void* buf) { return H5Aread(attr.get(), mem, buf); }, what);
}

class Reader {
 public:
  explicit Reader(const std::string& path)
      : path_(path), damaged_("checkpoint " + quoted(path) + " is damaged: ") {}

  CheckpointFile read() {
    Handle file = damaged_.own(H5Fopen(path_.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT), H5Fclose,
                               "cannot open its HDF5 structure");
    check_format(file.get());
    CheckpointFile ck;
    if (Handle config = open_group(file.get(), "config"); config.get() >= 0) read_config(config.get(), ck);
    if (Handle strings = open_group(file.get(), "strings"); strings.get() >= 0) {
      for (const std::string& name : members(strings.get())) {
        Handle ds = open_dataset(strings.get(), "strings", name);
        ck.string_lists[name] = read_string_list(ds.get(), name);
      }
    }
    if (Handle state = open_group(file.get(), "state_dict"); state.get() >= 0) {
      for (const std::string& name : members(state.get())) {
        Handle ds = open_dataset(state.get(), "state_dict", name);
        ck.tensors.push_back(read_tensor(ds.get(), name));
      }
    }
    if (Handle optimizer = open_group(file.get(), "optimizer"); optimizer.get() >= 0) {
      for (const std::string& name : members(optimizer.get())) {
        Handle ds = open_dataset(optimizer.get(), "optimizer", name);
        ck.optimizer.push_back(read_tensor(ds.get(), name));
      }
    }
    return ck;
  }

 private:
  [[noreturn]] void not_attend(const std::string& why) const {
    throw Error(quoted(path_) + " is not an attend checkpoint (" + why + ")");
  }
  [[noreturn]] void invalid(const std::string& why) const {
    throw Error("checkpoint " + quoted(path_) + " is invalid: " + why);
  }

  void check_format(hid_t file) const {
    htri_t has = H5Aexists(file, "format");
    if (has < 0) damaged_.fail("cannot read the root attributes");
    if (has == 0) not_attend("no 'format' attribute");
    const std::vector<std::string> format = read_string_attribute(damaged_, file, "format");
    if (format.empty()) not_attend("its 'format' attribute is not text");
    if (format[0] != kFormat) not_attend("format " + quoted(format[0]));

    has = H5Aexists(file, "format_version");
    if (has < 0) damaged_.fail("cannot read the root attributes");
    if (has == 0) invalid("no 'format_version' attribute");
    Handle attr = damaged_.own(H5Aopen(file, "format_version", H5P_DEFAULT), H5Aclose,
                               "cannot open attribute 'format_version'");
    Handle type = damaged_.own(H5Aget_type(attr.get()), H5Tclose, "cannot read attribute 'format_version'");
    Handle space = damaged_.own(H5Aget_space(attr.get()), H5Sclose, "cannot read attribute 'format_version'");
    if (H5Tget_class(type.get()) != H5T_INTEGER || H5Sget_simple_extent_npoints(space.get()) != 1)
      invalid("'format_version' is not an integer");
    long long version = 0;
    damaged_.check(H5Aread(attr.get(), H5T_NATIVE_LLONG, &version), "cannot read attribute 'format_version'");
    if (version != kHdf5Version)
      throw Error("checkpoint " + quoted(path_) + " is an HDF5 file of format version " +
                  std::to_string(version) + "; only version " + std::to_string(kHdf5Version) +
                  " was ever written as HDF5");
    if (version < 1) invalid("format version " + std::to_string(version) + " does not exist");
  }

  // A missing group reads as empty; a group written by hand need not hold every part.
  Handle open_group(hid_t file, const char* name) const {
    htri_t exists = H5Lexists(file, name, H5P_DEFAULT);
    if (exists < 0) damaged_.fail("cannot look up group " + quoted(name));
    if (exists == 0) return Handle(H5I_INVALID_HID, H5Gclose);
    Handle obj = damaged_.own(H5Oopen(file, name, H5P_DEFAULT), H5Oclose, "cannot open group " + quoted(name));
    if (H5Iget_type(obj.get()) != H5I_GROUP) invalid(quoted(name) + " is not a group");
    return obj;
  }

  Handle open_dataset(hid_t group, const std::string& group_name, const std::string& name) const {
    const std::string label = quoted(group_name + "/" + name);
    Handle obj = damaged_.own(H5Oopen(group, name.c_str(), H5P_DEFAULT), H5Oclose, "cannot open " + label);
    if (H5Iget_type(obj.get()) != H5I_DATASET)
      invalid(label + " is not a dataset (names keep their dots; '/' makes subgroups)");
    return obj;
  }

  // Member names in creation order when the group tracks it (files we write), else by name.
  std::vector<std::string> members(hid_t group) const {
    Handle gcpl = damaged_.own(H5Gget_create_plist(group), H5Pclose, "cannot read a group");
    unsigned order = 0;
    damaged_.check(H5Pget_link_creation_order(gcpl.get(), &order), "cannot read a group");
    const H5_index_t index = (order & H5P_CRT_ORDER_INDEXED) ? H5_INDEX_CRT_ORDER : H5_INDEX_NAME;
    H5G_info_t info;
    damaged_.check(H5Gget_info(group, &info), "cannot read a group");
    std::vector<std::string> names;
    for (hsize_t i = 0; i < info.nlinks; ++i) {
      ssize_t len = H5Lget_name_by_idx(group, ".", index, H5_ITER_INC, i, nullptr, 0, H5P_DEFAULT);
      if (len < 0) damaged_.fail("cannot list a group");
      std::string name(static_cast<std::size_t>(len) + 1, '\0');
      if (H5Lget_name_by_idx(group, ".", index, H5_ITER_INC, i, name.data(), name.size(), H5P_DEFAULT) < 0)
        damaged_.fail("cannot list a group");
      name.resize(static_cast<std::size_t>(len));
      names.push_back(name);
    }
    return names;
  }

  static herr_t collect_name(hid_t, const char* name, const H5A_info_t*, void* out) {
    static_cast<std::vector<std::string>*>(out)->push_back(name);
    return 0;
  }

  void read_config(hid_t group, CheckpointFile& ck) const {
    std::vector<std::string> keys;
    damaged_.check(H5Aiterate2(group, H5_INDEX_NAME, H5_ITER_INC, nullptr, collect_name, &keys),
                   "cannot list the config");
    for (const std::string& key : keys) {
      std::vector<std::string> value = read_string_attribute(damaged_, group, key);
      if (value.empty()) invalid("config key " + quoted(key) + " is not text");
      ck.config[key] = value[0];
    }
  }

  std::vector<std::string> read_string_list(hid_t ds, const std::string& name) const {
    const std::string what = "string list " + quoted(name);
    Handle type = damaged_.own(H5Dget_type(ds), H5Tclose, "cannot read " + what);
    Handle space = damaged_.own(H5Dget_space(ds), H5Sclose, "cannot read " + what);
    if (H5Tget_class(type.get()) != H5T_STRING || H5Sget_simple_extent_ndims(space.get()) != 1)
      invalid(what + " is not a 1-D array of strings");
    const hssize_t n = H5Sget_simple_extent_npoints(space.get());
    if (n < 0) damaged_.fail("cannot read " + what);
    std::vector<std::string> list = read_strings(
        damaged_, type.get(), static_cast<std::size_t>(n),
        [&](hid_t mem, void* buf) { return H5Dread(ds, mem, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf); }, what);
    // The checksum is optional so that lists written by hand (h5py) load too.
    const htri_t has_crc = H5Aexists(ds, "crc32");
    if (has_crc < 0) damaged_.fail("cannot read " + what);
    if (has_crc > 0) {
      Handle attr = damaged_.own(H5Aopen(ds, "crc32", H5P_DEFAULT), H5Aclose, "cannot read the checksum of " + what);
      std::uint32_t stored = 0;
      damaged_.check(H5Aread(attr.get(), H5T_NATIVE_UINT32, &stored), "cannot read the checksum of " + what);
      if (stored != crc32_of(list)) damaged_.fail(what + " fails its CRC-32 checksum");
    }
    return list;
  }

  Tensor read_tensor(hid_t ds, const std::string& name) const {
    const std::string what = "tensor " + quoted(name);
    Handle type = damaged_.own(H5Dget_type(ds), H5Tclose, "cannot read " + what);
    Handle space = damaged_.own(H5Dget_space(ds), H5Sclose, "cannot read " + what);
    if (H5Tget_class(type.get()) != H5T_FLOAT) invalid(what + " does not hold floating-point data");
    const int rank = H5Sget_simple_extent_ndims(space.get());
    const hssize_t n = H5Sget_simple_extent_npoints(space.get());
    if (rank < 0 || n < 0) damaged_.fail("cannot read the shape of " + what);
    if (H5Sget_simple_extent_type(space.get()) == H5S_NULL) invalid(what + " has no shape");
    std::vector<hsize_t> dims(static_cast<std::size_t>(rank));
    if (rank > 0) H5Sget_simple_extent_dims(space.get(), dims.data(), nullptr);

    Tensor t;
    t.name = name;
    t.shape.assign(dims.begin(), dims.end());
    if (element_count(t.shape) != static_cast<std::size_t>(n))
      invalid(what + " has " + std::to_string(n) + " values but shape " + shape_text(t.shape));
    t.data.resize(static_cast<std::size_t>(n));
    if (n > 0)  // HDF5 converts float64/float16 data to float32 here
      damaged_.check(H5Dread(ds, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, t.data.data()),
                     "cannot read " + what);
    return t;
  }

  std::string path_;
  Guard damaged_;
};

}  // namespace

void save_checkpoint_file_hdf5(const std::string& path, const CheckpointFile& checkpoint) {
  validate(checkpoint, path);
  QuietHdf5 quiet;
  const Guard g("cannot save checkpoint " + quoted(path) + ": ");
  const std::string tmp = path + ".tmp." + std::to_string(::getpid());
  try {
    write_hdf5(g, tmp, checkpoint);
    fsync_path(tmp, O_RDONLY);
    if (std::rename(tmp.c_str(), path.c_str()) != 0)
      throw Error("cannot save checkpoint " + quoted(path) + ": cannot rename " + quoted(tmp) + " over it (" +
                  std::strerror(errno) + ")");
  } catch (...) {
    std::remove(tmp.c_str());
    throw;
  }
  // Makes the rename itself durable; some file systems refuse to sync a directory, which is harmless.
  const std::filesystem::path dir = std::filesystem::path(path).parent_path();
  fsync_path(dir.empty() ? "." : dir.string(), O_RDONLY | O_DIRECTORY);
}

CheckpointFile load_checkpoint_file_hdf5(const std::string& path) {
  std::error_code ec;
  const auto status = std::filesystem::status(path, ec);
  if (!std::filesystem::exists(status)) throw Error("cannot load checkpoint " + quoted(path) + ": no such file");
  if (!std::filesystem::is_regular_file(status))
    throw Error("cannot load checkpoint " + quoted(path) + ": not a regular file");
  if (std::filesystem::file_size(path, ec) == 0) throw Error("checkpoint " + quoted(path) + " is an empty file");
  if (::access(path.c_str(), R_OK) != 0)
    throw Error("cannot load checkpoint " + quoted(path) + ": " + std::strerror(errno));

  QuietHdf5 quiet;
  const htri_t is_hdf5 = H5Fis_hdf5(path.c_str());
  if (is_hdf5 == 0) throw Error(quoted(path) + " is not an attend checkpoint (not HDF5)");
  if (is_hdf5 < 0) throw Error("cannot load checkpoint " + quoted(path) + hdf5_reason());
  return Reader(path).read();
}

}  // namespace attend
