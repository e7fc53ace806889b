// A GGUF file's header, metadata and tensor directory, parsed from its bytes in memory (a mapped file).
//
// GGUF v2/v3, little-endian: "GGUF", u32 version, u64 tensor_count, u64 kv_count, kv_count × {string key,
// u32 type, value}, tensor_count × {string name, u32 n_dims, u64 ne[n_dims], u32 ggml type, u64 offset},
// padding to general.alignment (default 32), then the data section; a tensor's offset is relative to it.
// string = u64 length + bytes; array = u32 item type, u64 count, items. ne[0] is the fastest-varying
// dimension: a matrix of `rows` rows of `cols` values has ne = {cols, rows}.
// Nothing is trusted: every count, length and offset is checked against the bytes left before it is used,
// and tensors must lie inside the data section, aligned, without overlapping.
#pragma once
#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <map>
#include <string>
#include <vector>

#include "llmc/error.hpp"
#include "llmc/ggml_blocks.hpp"

namespace llmc::gguf {

enum ValueType : uint32_t {
  kU8 = 0, kI8 = 1, kU16 = 2, kI16 = 3, kU32 = 4, kI32 = 5, kF32 = 6, kBool = 7, kString = 8, kArray = 9,
  kU64 = 10, kI64 = 11, kF64 = 12,
};

// One metadata value. Numbers are kept as both integer and double; arrays as their items (numbers or
// strings) when the reader was asked to keep them, else only their type and length.
struct Value {
  uint32_t type = 0;
  uint32_t item_type = 0;  // arrays
  uint64_t length = 0;     // arrays
  int64_t i = 0;
  double f = 0;
  std::string s;
  std::vector<std::string> strs;
  std::vector<double> nums;
  bool is_integer() const { return type <= kI32 || type == kU64 || type == kI64 || type == kBool; }
  bool is_number() const { return is_integer() || type == kF32 || type == kF64; }
};

struct Tensor {
  std::string name;
  std::vector<uint64_t> ne;  // GGUF order: ne[0] varies fastest
  GgmlType type = GgmlType::f32;
  uint64_t offset = 0;  // in the data section
  uint64_t bytes = 0;
  const uint8_t* data = nullptr;
};

struct File {
  uint32_t version = 0;
  std::map<std::string, Value> meta;
  std::vector<Tensor> tensors;
  uint64_t alignment = 32;
  uint64_t data_offset = 0;  // of the data section in the file
};

// No dimension count, element count or metadata array is believed beyond these.
inline constexpr uint32_t kMaxDims = 4;
inline constexpr uint64_t kMaxElements = uint64_t{1} << 48;

// Parses the GGUF file `path` held in data[0, size). keep_arrays(key): whether to keep the items of the
// array at `key` (a vocabulary is large; the weights need none). Throws Error naming path and what is wrong.
template <class KeepArrays>
File parse(const std::string& path, const uint8_t* data, size_t size, KeepArrays keep_arrays);

inline File parse(const std::string& path, const uint8_t* data, size_t size) {
  return parse(path, data, size, [](const std::string&) { return false; });
}

namespace detail {

class Cursor {
 public:
  Cursor(const std::string& path, const uint8_t* data, size_t size) : path_(path), data_(data), size_(size) {}

  [[noreturn]] void fail(const std::string& what) const { throw Error("GGUF '" + path_ + "': " + what); }
  uint64_t pos() const { return pos_; }
  uint64_t remaining() const { return size_ - pos_; }

  const uint8_t* take(uint64_t n, const std::string& what) {
    if (n > remaining())
      fail("truncated: " + what + " needs " + std::to_string(n) + " bytes at offset " + std::to_string(pos_) +
           " but the file has " + std::to_string(size_));
    const uint8_t* p = data_ + pos_;
    pos_ += n;
    return p;
  }
  template <class T>
  T get(const std::string& what) {
    T v;
    std::memcpy(&v, take(sizeof v, what), sizeof v);
    return v;
  }
  std::string str(const std::string& what) {
    const uint64_t n = get<uint64_t>(what + " (length)");
    const uint8_t* p = take(n, what);
    return std::string(reinterpret_cast<const char*>(p), static_cast<size_t>(n));
  }

 private:
  std::string path_;
  const uint8_t* data_;
  uint64_t size_;
  uint64_t pos_ = 0;
};

inline int scalar_size(uint32_t t) {
  switch (t) {
    case kU8: case kI8: case kBool: return 1;
    case kU16: case kI16: return 2;
    case kU32: case kI32: case kF32: return 4;
    case kU64: case kI64: case kF64: return 8;
    default: return 0;
  }
}

// A scalar of type t at p (scalar_size(t) bytes) into v.i and v.f.
inline void read_scalar(uint32_t t, const uint8_t* p, int64_t& i, double& f) {
  auto as = [p](auto x) {
    std::memcpy(&x, p, sizeof x);
    return x;
  };
  switch (t) {
    case kU8: i = as(uint8_t{}); break;
    case kI8: i = as(int8_t{}); break;
    case kBool: i = p[0] != 0; break;
    case kU16: i = as(uint16_t{}); break;
    case kI16: i = as(int16_t{}); break;
    case kU32: i = as(uint32_t{}); break;
    case kI32: i = as(int32_t{}); break;
    case kU64: i = static_cast<int64_t>(as(uint64_t{})); f = static_cast<double>(as(uint64_t{})); return;
    case kI64: i = as(int64_t{}); break;
    case kF32: f = as(float{}); i = 0; return;
    case kF64: f = as(double{}); i = 0; return;
  }
  f = static_cast<double>(i);
}

inline Value read_value(Cursor& c, uint32_t type, const std::string& key, bool keep_items) {
  Value v;
  v.type = type;
  if (type == kString) {
    v.s = c.str("value of '" + key + "'");
    return v;
  }
  if (type != kArray) {
    const int n = scalar_size(type);
    if (n == 0) c.fail("metadata '" + key + "' has unknown value type " + std::to_string(type));
    read_scalar(type, c.take(static_cast<uint64_t>(n), "value of '" + key + "'"), v.i, v.f);
    return v;
  }
  v.item_type = c.get<uint32_t>("item type of array '" + key + "'");
  v.length = c.get<uint64_t>("length of array '" + key + "'");
  if (v.item_type == kString) {
    if (v.length > c.remaining() / 8)
      c.fail("array '" + key + "' claims " + std::to_string(v.length) + " strings, more than the file holds");
    if (keep_items) v.strs.reserve(static_cast<size_t>(v.length));
    for (uint64_t k = 0; k < v.length; ++k) {
      const std::string what = "item " + std::to_string(k) + " of '" + key + "'";
      if (keep_items) {
        v.strs.push_back(c.str(what));
      } else {
        c.take(c.get<uint64_t>(what + " (length)"), what);
      }
    }
    return v;
  }
  const int n = scalar_size(v.item_type);
  if (n == 0) c.fail("array '" + key + "' has unsupported item type " + std::to_string(v.item_type));
  if (v.length > c.remaining() / static_cast<uint64_t>(n))
    c.fail("array '" + key + "' claims " + std::to_string(v.length) + " items, more than the file holds");
  const uint8_t* items = c.take(v.length * static_cast<uint64_t>(n), "array '" + key + "'");
  if (keep_items) {
    v.nums.resize(static_cast<size_t>(v.length));
    for (uint64_t k = 0; k < v.length; ++k) {
      int64_t i = 0;
      read_scalar(v.item_type, items + k * static_cast<uint64_t>(n), i, v.nums[k]);
    }
  }
  return v;
}

// Reads one tensor's directory entry and checks its type and shape (not yet its place in the file).
inline Tensor read_tensor_info(Cursor& c, uint64_t index) {
  Tensor t;
  t.name = c.str("name of tensor " + std::to_string(index));
  const std::string where = "tensor '" + t.name + "'";
  const uint32_t dims = c.get<uint32_t>("dimension count of " + where);
  if (dims == 0 || dims > kMaxDims)
    c.fail(where + " has " + std::to_string(dims) + " dimensions, expected 1.." + std::to_string(kMaxDims));
  uint64_t count = 1;
  for (uint32_t d = 0; d < dims; ++d) {
    const uint64_t n = c.get<uint64_t>("dimension " + std::to_string(d) + " of " + where);
    if (n == 0 || n > kMaxElements || count > kMaxElements / n)
      c.fail(where + ": dimension " + std::to_string(d) + " is " + std::to_string(n) +
             (n == 0 ? " (empty tensor)" : ", too large"));
    count *= n;
    t.ne.push_back(n);
  }
  const uint32_t type = c.get<uint32_t>("type of " + where);
  const GgmlTypeInfo* info = ggml_type_info(type);
  if (!info) c.fail(where + " has unknown tensor type " + std::to_string(type));
  if (!info->readable)
    c.fail(where + " has tensor type " + info->name + ", which llmc does not read (it reads F32, F16, BF16, "
           "Q8_0, Q4_0, Q4_1, Q5_0, Q5_1, Q2_K, Q3_K, Q4_K, Q5_K, Q6_K, IQ4_NL)");
  if (t.ne[0] % info->block_values != 0)
    c.fail(where + ": rows of " + std::to_string(t.ne[0]) + " values are not whole " + info->name + " blocks of " +
           std::to_string(info->block_values));
  t.type = static_cast<GgmlType>(type);
  t.bytes = count / info->block_values * info->block_bytes;
  t.offset = c.get<uint64_t>("offset of " + where);
  return t;
}

}  // namespace detail

template <class KeepArrays>
File parse(const std::string& path, const uint8_t* data, size_t size, KeepArrays keep_arrays) {
  detail::Cursor c(path, data, size);
  File f;
  if (std::memcmp(c.take(4, "magic"), "GGUF", 4) != 0) c.fail("not a GGUF file (the first 4 bytes are not 'GGUF')");
  f.version = c.get<uint32_t>("version");
  if (f.version != 2 && f.version != 3)
    c.fail("GGUF version " + std::to_string(f.version) + " is not supported (2 or 3)");
  const uint64_t n_tensors = c.get<uint64_t>("tensor count"), n_kv = c.get<uint64_t>("metadata count");
  // A metadata entry takes at least 8 + 4 + 1 bytes, a tensor entry 8 + 4 + 8 + 4 + 8.
  if (n_kv > c.remaining() / 13)
    c.fail("metadata count " + std::to_string(n_kv) + " is larger than the file allows");
  if (n_tensors > c.remaining() / 32)
    c.fail("tensor count " + std::to_string(n_tensors) + " is larger than the file allows");
  for (uint64_t k = 0; k < n_kv; ++k) {
    std::string key = c.str("key of metadata entry " + std::to_string(k));
    const uint32_t type = c.get<uint32_t>("type of metadata '" + key + "'");
    Value v = detail::read_value(c, type, key, type == kArray && keep_arrays(key));
    if (!f.meta.emplace(key, std::move(v)).second) c.fail("metadata key '" + key + "' appears twice");
  }
  if (auto a = f.meta.find("general.alignment"); a != f.meta.end()) {
    const Value& v = a->second;
    if (v.type != kU32 || v.i <= 0 || (v.i & (v.i - 1)) != 0 || v.i > 65536)
      c.fail("general.alignment must be a u32 power of two up to 65536");
    f.alignment = static_cast<uint64_t>(v.i);
  }
  f.tensors.reserve(static_cast<size_t>(n_tensors));
  for (uint64_t k = 0; k < n_tensors; ++k) f.tensors.push_back(detail::read_tensor_info(c, k));
  f.data_offset = (c.pos() + f.alignment - 1) / f.alignment * f.alignment;
  if (f.data_offset > size && n_tensors > 0)
    c.fail("truncated: the data section would start at offset " + std::to_string(f.data_offset) +
           " but the file has " + std::to_string(size) + " bytes");
  const uint64_t data_size = f.data_offset <= size ? size - f.data_offset : 0;
  std::vector<std::pair<uint64_t, size_t>> order;  // (offset, tensor) to find overlaps
  std::map<std::string, size_t> names;
  for (size_t k = 0; k < f.tensors.size(); ++k) {
    Tensor& t = f.tensors[k];
    const std::string where = "tensor '" + t.name + "'";
    if (!names.emplace(t.name, k).second) c.fail(where + " appears twice");
    if (t.offset % f.alignment != 0)
      c.fail(where + ": offset " + std::to_string(t.offset) + " is not a multiple of the alignment " +
             std::to_string(f.alignment));
    if (t.offset > data_size || t.bytes > data_size - t.offset)
      c.fail("truncated: " + where + " needs bytes [" + std::to_string(t.offset) + ", " +
             std::to_string(t.offset + t.bytes) + ") of a data section of " + std::to_string(data_size) + " bytes");
    t.data = data + f.data_offset + t.offset;
    order.emplace_back(t.offset, k);
  }
  std::sort(order.begin(), order.end());
  for (size_t k = 1; k < order.size(); ++k) {
    const Tensor &prev = f.tensors[order[k - 1].second], &t = f.tensors[order[k].second];
    if (t.offset < prev.offset + prev.bytes)
      c.fail("tensors '" + prev.name + "' and '" + t.name + "' overlap (data bytes [" + std::to_string(prev.offset) +
             ", " + std::to_string(prev.offset + prev.bytes) + ") and [" + std::to_string(t.offset) + ", " +
             std::to_string(t.offset + t.bytes) + "))");
  }
  return f;
}

// Whether the file at path starts with GGUF's magic (false if it cannot be read).
inline bool is_gguf_file(const std::string& path) {
  std::FILE* f = std::fopen(path.c_str(), "rb");
  if (!f) return false;
  char magic[4] = {};
  const bool yes = std::fread(magic, 1, 4, f) == 4 && std::memcmp(magic, "GGUF", 4) == 0;
  std::fclose(f);
  return yes;
}

// Metadata lookups for callers that need a key of a given kind (e.g. `llmc import`); they throw naming it.
inline const Value* find(const File& f, const std::string& key) {
  auto it = f.meta.find(key);
  return it == f.meta.end() ? nullptr : &it->second;
}

}  // namespace llmc::gguf
