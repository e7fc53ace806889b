// Writes GGUF files (v3) for tests and fuzz seeds: metadata of the common value types, tensors given as
// their stored bytes, and switches to write the malformed files the loader must refuse.
#pragma once
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

namespace llmc_test {

class GgufWriter {
 public:
  void u32(const std::string& key, uint32_t v) { kv(key, 4, pod(v)); }
  void i32(const std::string& key, int32_t v) { kv(key, 5, pod(v)); }
  void f32(const std::string& key, float v) { kv(key, 6, pod(v)); }
  void boolean(const std::string& key, bool v) { kv(key, 7, std::string(1, v ? 1 : 0)); }
  void str(const std::string& key, const std::string& v) { kv(key, 8, string(v)); }
  void strs(const std::string& key, const std::vector<std::string>& v) {
    std::string b = pod(uint32_t{8}) + pod(uint64_t{v.size()});
    for (const auto& s : v) b += string(s);
    kv(key, 9, b);
  }
  void f32s(const std::string& key, const std::vector<float>& v) {
    std::string b = pod(uint32_t{6}) + pod(uint64_t{v.size()});
    for (float x : v) b += pod(x);
    kv(key, 9, b);
  }
  void i32s(const std::string& key, const std::vector<int32_t>& v) {
    std::string b = pod(uint32_t{5}) + pod(uint64_t{v.size()});
    for (int32_t x : v) b += pod(x);
    kv(key, 9, b);
  }

  // A tensor of ggml type `type` with dimensions ne (GGUF order: ne[0] varies fastest) and stored bytes.
  // offset: where in the data section (default: after the previous tensor, aligned).
  void tensor(const std::string& name, const std::vector<uint64_t>& ne, uint32_t type, const std::string& bytes,
              int64_t offset = -1) {
    const uint64_t at = offset >= 0 ? static_cast<uint64_t>(offset) : aligned(data_.size());
    if (data_.size() < at + bytes.size()) data_.resize(at + bytes.size(), '\0');
    data_.replace(at, bytes.size(), bytes);
    infos_ += string(name) + pod(static_cast<uint32_t>(ne.size()));
    for (uint64_t n : ne) infos_ += pod(n);
    infos_ += pod(type) + pod(at);
    ++tensors_;
  }

  std::string bytes() const {
    std::string head = "GGUF" + pod(uint32_t{3}) + pod(tensors_) + pod(kvs_) + meta_ + infos_;
    head.resize(aligned(head.size()), '\0');
    return head + data_;
  }

  uint64_t alignment = 32;

 private:
  template <class T>
  static std::string pod(T v) {
    return std::string(reinterpret_cast<const char*>(&v), sizeof v);
  }
  static std::string string(const std::string& s) { return pod(uint64_t{s.size()}) + s; }
  void kv(const std::string& key, uint32_t type, const std::string& value) {
    meta_ += string(key) + pod(type) + value;
    ++kvs_;
  }
  uint64_t aligned(uint64_t n) const { return (n + alignment - 1) / alignment * alignment; }

  std::string meta_, infos_, data_;
  uint64_t tensors_ = 0, kvs_ = 0;
};

}  // namespace llmc_test
