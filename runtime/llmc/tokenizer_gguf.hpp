// Part of llmc/tokenizer.hpp (include that one): the tokenizer metadata of a GGUF file.
//
// GGUF (v2/v3, little-endian): "GGUF", u32 version, u64 tensor_count, u64 kv_count, then kv_count x
// {string key, u32 type, value}; string = u64 length + bytes; array = u32 item type, u64 count, items.
// Only the metadata is read (the file can be a whole model); every length and count is checked against
// the bytes left in the file before anything is allocated.
#pragma once
#ifndef LLMC_TOKENIZER_INTERNAL
#error "include llmc/tokenizer.hpp instead of its parts"
#endif

#include <map>

namespace llmc {
namespace tok_detail {

struct GgufValue {
  uint32_t type = 0;  // GGUF type of the value (9 = array)
  uint32_t item_type = 0;
  int64_t i = 0;
  uint64_t u = 0;
  double f = 0;
  bool b = false;
  std::string s;
  std::vector<std::string> strs;
  std::vector<double> nums;  // numeric array items
};

class GgufReader {
 public:
  explicit GgufReader(const std::string& path) : path_(path) {
    size_ = file_size(path);
    f_ = open_file(path);
    if (!f_) throw Error("GGUF '" + path + "': cannot open");
  }
  ~GgufReader() {
    if (f_) std::fclose(f_);
  }
  GgufReader(const GgufReader&) = delete;
  GgufReader& operator=(const GgufReader&) = delete;

  // Reads all metadata; keeps the values of keys for which keep(key) is true.
  template <class Keep>
  std::map<std::string, GgufValue> read(Keep keep) {
    char magic[4];
    bytes(magic, 4, "magic");
    if (std::memcmp(magic, "GGUF", 4) != 0) fail("not a GGUF file (bad magic)");
    uint32_t version = u32("version");
    if (version != 2 && version != 3) fail("unsupported GGUF version " + std::to_string(version));
    uint64_t n_tensors = u64("tensor count");
    (void)n_tensors;
    uint64_t n_kv = u64("metadata count");
    // each kv needs at least 8 (key length) + 4 (type) + 1 bytes
    if (n_kv > remaining() / 13) fail("metadata count " + std::to_string(n_kv) + " is larger than the file allows");
    std::map<std::string, GgufValue> out;
    for (uint64_t k = 0; k < n_kv; ++k) {
      std::string key = str("key of metadata entry " + std::to_string(k));
      uint32_t type = u32("type of '" + key + "'");
      bool want = keep(key);
      GgufValue v;
      v.type = type;
      value(type, key, want ? &v : nullptr);
      if (want) out[key] = std::move(v);
    }
    return out;
  }

  [[noreturn]] void fail(const std::string& what) const { throw Error("GGUF '" + path_ + "': " + what); }

 private:
  uint64_t remaining() const { return size_ - pos_; }
  void bytes(void* dst, uint64_t n, const std::string& what) {
    if (n > remaining())
      fail("truncated: " + what + " needs " + std::to_string(n) + " bytes at offset " + std::to_string(pos_) +
           " but the file has " + std::to_string(size_));
    if (n && std::fread(dst, 1, static_cast<size_t>(n), f_) != n) fail("read error at offset " + std::to_string(pos_));
    pos_ += n;
  }
  void skip(uint64_t n, const std::string& what) {
    if (n > remaining()) fail("truncated: " + what + " extends past the end of the file");
    if (std::fseek(f_, static_cast<long>(pos_ + n), SEEK_SET) != 0) fail("seek error");
    pos_ += n;
  }
  uint32_t u32(const std::string& what) {
    uint32_t v;
    bytes(&v, 4, what);
    return v;
  }
  uint64_t u64(const std::string& what) {
    uint64_t v;
    bytes(&v, 8, what);
    return v;
  }
  std::string str(const std::string& what) {
    uint64_t n = u64(what);
    if (n > remaining()) fail("truncated: " + what + " claims " + std::to_string(n) + " bytes");
    std::string s(static_cast<size_t>(n), '\0');
    bytes(s.data(), n, what);
    return s;
  }
  static int scalar_size(uint32_t t) {
    switch (t) {
      case 0: case 1: case 7: return 1;
      case 2: case 3: return 2;
      case 4: case 5: case 6: return 4;
      case 10: case 11: case 12: return 8;
      default: return 0;
    }
  }
  double scalar(uint32_t t, const std::string& what, GgufValue* v) {
    unsigned char buf[8];
    int sz = scalar_size(t);
    bytes(buf, static_cast<uint64_t>(sz), what);
    double d = 0;
    switch (t) {
      case 0: { uint8_t x = buf[0]; d = x; if (v) v->u = x, v->i = x; break; }
      case 1: { int8_t x; std::memcpy(&x, buf, 1); d = x; if (v) v->i = x, v->u = static_cast<uint64_t>(x); break; }
      case 2: { uint16_t x; std::memcpy(&x, buf, 2); d = x; if (v) v->u = x, v->i = x; break; }
      case 3: { int16_t x; std::memcpy(&x, buf, 2); d = x; if (v) v->i = x, v->u = static_cast<uint64_t>(x); break; }
      case 4: { uint32_t x; std::memcpy(&x, buf, 4); d = x; if (v) v->u = x, v->i = x; break; }
      case 5: { int32_t x; std::memcpy(&x, buf, 4); d = x; if (v) v->i = x, v->u = static_cast<uint64_t>(x); break; }
      case 6: { float x; std::memcpy(&x, buf, 4); d = x; if (v) v->f = x; break; }
      case 7: { d = buf[0] != 0; if (v) v->b = buf[0] != 0, v->u = v->i = buf[0] != 0; break; }
      case 10: { uint64_t x; std::memcpy(&x, buf, 8); d = static_cast<double>(x); if (v) v->u = x, v->i = static_cast<int64_t>(x); break; }
      case 11: { int64_t x; std::memcpy(&x, buf, 8); d = static_cast<double>(x); if (v) v->i = x, v->u = static_cast<uint64_t>(x); break; }
      case 12: { double x; std::memcpy(&x, buf, 8); d = x; if (v) v->f = x; break; }
      default: fail("bad value type " + std::to_string(t) + " for " + what);
    }
    if (v && t != 6 && t != 12) v->f = d;
    return d;
  }
  void value(uint32_t type, const std::string& key, GgufValue* v) {
    if (type == 8) {
      std::string s = str("value of '" + key + "'");
      if (v) v->s = std::move(s);
      return;
    }
    if (type == 9) {
      uint32_t it = u32("array type of '" + key + "'");
      uint64_t n = u64("array length of '" + key + "'");
      if (v) v->item_type = it;
      if (it == 8) {
        if (n > remaining() / 8) fail("array '" + key + "' claims " + std::to_string(n) + " strings, more than the file holds");
        if (v) v->strs.reserve(static_cast<size_t>(n));
        for (uint64_t k = 0; k < n; ++k) {
          if (v) {
            v->strs.push_back(str("item " + std::to_string(k) + " of '" + key + "'"));
          } else {
            uint64_t len = u64("item of '" + key + "'");
            skip(len, "item of '" + key + "'");
          }
        }
        return;
      }
      int sz = scalar_size(it);
      if (sz == 0) fail("array '" + key + "' has unsupported item type " + std::to_string(it));
      if (n > remaining() / static_cast<uint64_t>(sz))
        fail("array '" + key + "' claims " + std::to_string(n) + " items, more than the file holds");
      if (!v) {
        skip(n * static_cast<uint64_t>(sz), "array '" + key + "'");
        return;
      }
      v->nums.reserve(static_cast<size_t>(n));
      for (uint64_t k = 0; k < n; ++k) v->nums.push_back(scalar(it, key, nullptr));
      return;
    }
    if (scalar_size(type) == 0) fail("metadata '" + key + "' has unknown type " + std::to_string(type));
    scalar(type, "value of '" + key + "'", v);
  }

  std::string path_;
  std::FILE* f_ = nullptr;
  uint64_t size_ = 0;
  uint64_t pos_ = 0;
};

}  // namespace tok_detail
}  // namespace llmc
