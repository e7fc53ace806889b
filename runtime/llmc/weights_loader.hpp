// WeightStore::open and the checkpoint parsers (safetensors, sharded index, llama2.c).
// Nothing here trusts the file: every size and offset is checked against the file before use.
#pragma once
#include <nlohmann/json.hpp>

#include <sstream>

#include "llmc/gguf.hpp"
#include "llmc/weights.hpp"

namespace llmc {

// The safetensors format limits the JSON header to 100 MB; a longer one is refused before parsing.
inline constexpr uint64_t kMaxSafetensorsHeader = 100'000'000;
// No tensor dimension or element count beyond this (2^48) is believed.
inline constexpr uint64_t kMaxTensorElements = uint64_t{1} << 48;
// Nor a grouped matrix dimension beyond 2^24.
inline constexpr uint64_t kMaxGroupedDim = uint64_t{1} << 24;

// Matrices a `llmc quantize` file holds grouped, from its safetensors metadata: "llmc.grouped_layout" is the
// layout version, and "llmc.grouped.<tensor>" = "<format> <rows> <cols>" for each grouped tensor (stored as U8
// bytes). Other metadata is ignored.
struct GroupedEntry {
  WFormat format;
  int64_t rows, cols;
};
inline std::map<std::string, GroupedEntry> grouped_entries(const nlohmann::json& header, const std::string& path) {
  std::map<std::string, GroupedEntry> out;
  const auto meta = header.find("__metadata__");
  if (meta == header.end() || !meta->is_object()) return out;
  const std::string prefix = "llmc.grouped.";
  for (const auto& [key, value] : meta->items()) {
    if (key.compare(0, prefix.size(), prefix) != 0) continue;
    const std::string where = path + ": metadata '" + key + "'";
    const std::string text = value.is_string() ? value.get<std::string>() : value.dump();
    std::istringstream in(text);
    std::string format_name, rest;
    uint64_t rows = 0, cols = 0;
    GroupedEntry e{};
    if (!value.is_string() || !(in >> format_name >> rows >> cols) || (in >> rest) ||
        !grouped_format_from_name(format_name, e.format))
      throw Error(where + " is '" + text + "', expected '<format> <rows> <cols>' with format one of q8_0, q4_0, "
                  "q4_k, q5_k, q6_k, f32_g16, f16_g16, bf16_g16");
    if (rows == 0 || cols == 0 || rows > kMaxGroupedDim || cols > kMaxGroupedDim)
      throw Error(where + ": matrix size " + std::to_string(rows) + " x " + std::to_string(cols) + " out of range");
    if (is_quantised(e.format) && cols % kQuantBlock != 0)
      throw Error(where + ": " + format_name + " needs whole blocks of 32 columns, not " + std::to_string(cols));
    if (is_kquant(e.format) && cols % kKBlock != 0)
      throw Error(where + ": " + format_name + " needs whole super-blocks of 256 columns, not " + std::to_string(cols));
    e.rows = static_cast<int64_t>(rows);
    e.cols = static_cast<int64_t>(cols);
    out.emplace(key.substr(prefix.size()), e);
  }
  if (out.empty()) return out;
  const auto layout = meta->find("llmc.grouped_layout");
  const std::string version = std::to_string(kGroupedLayoutVersion);
  if (layout == meta->end() || !layout->is_string() || layout->get<std::string>() != version)
    throw Error(path + ": written by `llmc quantize` for grouped layout " +
                (layout == meta->end() ? std::string("(none given)") : layout->dump()) + ", but this binary reads layout " +
                version + ": run llmc quantize again on the original checkpoint");
  return out;
}

inline void WeightStore::add_safetensors(std::unique_ptr<MappedFile> owned) {
  auto& file = files_.emplace_back(std::move(owned));
  const std::string path = file->path();
  const uint8_t* base = file->data();
  const size_t size = file->size();
  if (size < 8) throw Error(path + ": truncated safetensors file (" + std::to_string(size) + " bytes, no header)");
  uint64_t header_len = 0;
  for (int i = 7; i >= 0; --i) header_len = (header_len << 8) | base[i];
  if (header_len > kMaxSafetensorsHeader)
    throw Error(path + ": safetensors header claims " + std::to_string(header_len) +
                " bytes, more than the format's limit of 100 MB (not a safetensors file?)");
  if (header_len > size - 8)
    throw Error(path + ": safetensors header claims " + std::to_string(header_len) + " bytes but the file has " +
                std::to_string(size - 8) + " after the length field");
  nlohmann::json header;
  try {
    header = nlohmann::json::parse(base + 8, base + 8 + header_len);
  } catch (const nlohmann::json::exception& e) {
    throw Error(path + ": safetensors header is not valid JSON: " + e.what());
  }
  if (!header.is_object()) throw Error(path + ": safetensors header is not a JSON object");
  const uint8_t* data = base + 8 + header_len;
  const size_t data_size = size - 8 - header_len;
  const std::map<std::string, GroupedEntry> grouped = grouped_entries(header, path);
  std::vector<std::pair<size_t, size_t>> ranges;
  for (const auto& [name, entry] : header.items()) {
    if (name == "__metadata__") continue;
    const std::string where = path + ": tensor '" + name + "'";
    if (!entry.is_object() || !entry.contains("dtype") || !entry.contains("shape") || !entry.contains("data_offsets"))
      throw Error(where + ": entry needs dtype, shape and data_offsets");
    const auto& jd = entry["dtype"];
    const auto& js = entry["shape"];
    const auto& jo = entry["data_offsets"];
    if (!jd.is_string()) throw Error(where + ": dtype is not a string");
    TensorInfo t;
    t.file = path;
    const std::string dt = jd.get<std::string>();
    if (dt == "F32") t.dtype = DType::f32;
    else if (dt == "F16") t.dtype = DType::f16;
    else if (dt == "BF16") t.dtype = DType::bf16;
    else if (dt != "U8" || !grouped.count(name))
      throw Error(where + ": dtype " + dt + " is not supported (F32, F16, BF16; U8 for matrices llmc quantize grouped)");
    const auto g = grouped.find(name);
    if (g != grouped.end() && dt != "U8") throw Error(where + ": grouped by llmc quantize, so its dtype must be U8, not " + dt);
    if (!js.is_array()) throw Error(where + ": shape is not a list");
    uint64_t count = 1;
    for (const auto& d : js) {
      if (!d.is_number_unsigned()) throw Error(where + ": shape has a value that is not a non-negative integer");
      const uint64_t v = d.get<uint64_t>();
      if (v > kMaxTensorElements || (v != 0 && count > kMaxTensorElements / v))
        throw Error(where + ": shape " + js.dump() + " is too large");
      count *= v;
      t.shape.push_back(static_cast<int64_t>(v));
    }
    if (!jo.is_array() || jo.size() != 2 || !jo[0].is_number_unsigned() || !jo[1].is_number_unsigned())
      throw Error(where + ": data_offsets must be two non-negative integers");
    const uint64_t begin = jo[0].get<uint64_t>(), end = jo[1].get<uint64_t>();
    if (begin > end)
      throw Error(where + ": data_offsets [" + std::to_string(begin) + ", " + std::to_string(end) +
                  "] end before they begin");
    if (end > data_size)
      throw Error(where + ": data_offsets [" + std::to_string(begin) + ", " + std::to_string(end) +
                  "] lie outside the " + std::to_string(data_size) + " bytes of data (truncated file?)");
    if (g != grouped.end()) {
      const GroupedEntry& e = g->second;
      const uint64_t bytes = grouped_matrix_bytes(e.format, static_cast<size_t>(e.rows), static_cast<size_t>(e.cols));
      if (t.shape.size() != 1 || count != bytes || end - begin != bytes)
        throw Error(where + ": a " + grouped_format_name(e.format) + " matrix [" + std::to_string(e.rows) + ", " +
                    std::to_string(e.cols) + "] is U8 [" + std::to_string(bytes) + "], not U8 " + shape_str(t.shape) +
                    " holding " + std::to_string(end - begin) + " bytes");
      t.grouped = e.format;
      t.shape = {e.rows, e.cols};
    } else if (end - begin != count * dtype_size(t.dtype)) {
      throw Error(where + ": holds " + std::to_string(end - begin) + " bytes but " + dt + " " + shape_str(t.shape) +
                  " needs " + std::to_string(count * dtype_size(t.dtype)));
    }
    t.data = data + begin;
    t.bytes = end - begin;
    ranges.emplace_back(begin, end);
    if (!tensors_.emplace(name, std::move(t)).second) throw Error(where + ": defined twice");
  }
  for (const auto& [name, e] : grouped)
    if (!header.contains(name)) throw Error(path + ": metadata 'llmc.grouped." + name + "' names no tensor of this file");
  std::sort(ranges.begin(), ranges.end());
  for (size_t i = 1; i < ranges.size(); ++i)
    if (ranges[i].first < ranges[i - 1].second)
      throw Error(path + ": tensors overlap in the data section (offsets " + std::to_string(ranges[i].first) +
                  " and " + std::to_string(ranges[i - 1].first) + ")");
}

// llama2.c "version 0" checkpoint: 7 int32 (dim, hidden, layers, heads, kv heads, ±vocab, seq_len), then fp32
// tensors, exposed under Hugging Face Llama names.
inline void WeightStore::add_llama2c(std::unique_ptr<MappedFile> owned) {
  auto& file = files_.emplace_back(std::move(owned));
  const std::string path = file->path();
  if (file->size() < 28) throw Error(path + ": truncated llama2.c checkpoint (no 28-byte header)");
  int32_t h[7];
  std::memcpy(h, file->data(), sizeof h);
  if (static_cast<uint32_t>(h[0]) == 0x616b3432u)
    throw Error(path + ": llama2.c export version " + std::to_string(h[1]) +
                " is not supported; use the legacy version 0 (fp32) checkpoint");
  const int64_t dim = h[0], hidden = h[1], layers = h[2], heads = h[3], kv_heads = h[4], seq = h[6];
  const bool shared = h[5] > 0;
  const int64_t vocab = h[5] > 0 ? h[5] : -int64_t{h[5]};
  std::string bad;
  const auto range = [](int64_t v, int64_t hi) { return v <= 0 || v > hi; };
  if (range(dim, 1 << 16)) bad = "dim is " + std::to_string(dim) + ", expected 1..65536";
  else if (range(hidden, 1 << 18)) bad = "hidden_dim is " + std::to_string(hidden) + ", expected 1..262144";
  else if (range(layers, 1024)) bad = "n_layers is " + std::to_string(layers) + ", expected 1..1024";
  else if (heads <= 0 || dim % heads != 0)
    bad = "n_heads is " + std::to_string(heads) + ", expected a divisor of dim " + std::to_string(dim);
  else if (kv_heads <= 0 || heads % kv_heads != 0)
    bad = "n_kv_heads is " + std::to_string(kv_heads) + ", expected a divisor of n_heads " + std::to_string(heads);
  else if (range(vocab, 1 << 22)) bad = "vocab_size is " + std::to_string(h[5]) + ", expected ±1..4194304";
  else if (range(seq, 1 << 22)) bad = "seq_len is " + std::to_string(seq) + ", expected 1..4194304";
  if (!bad.empty()) throw Error(path + ": not a llama2.c checkpoint, or a corrupt one: header field " + bad);
  const int64_t head = dim / heads, kv_dim = kv_heads * head;
  struct Entry {
    std::string name;
    std::vector<int64_t> shape;
    bool per_layer;
  };
  const std::string L = "model.layers.";
  std::vector<Entry> order = {
      {"model.embed_tokens.weight", {vocab, dim}, false},
      {"input_layernorm.weight", {dim}, true},
      {"self_attn.q_proj.weight", {dim, dim}, true},
      {"self_attn.k_proj.weight", {kv_dim, dim}, true},
      {"self_attn.v_proj.weight", {kv_dim, dim}, true},
      {"self_attn.o_proj.weight", {dim, dim}, true},
      {"post_attention_layernorm.weight", {dim}, true},
      {"mlp.gate_proj.weight", {hidden, dim}, true},
      {"mlp.down_proj.weight", {dim, hidden}, true},
      {"mlp.up_proj.weight", {hidden, dim}, true},
      {"model.norm.weight", {dim}, false},
      {"rope.freq_cis_real", {seq, head / 2}, false},
      {"rope.freq_cis_imag", {seq, head / 2}, false},
  };
  if (!shared) order.push_back({"lm_head.weight", {vocab, dim}, false});
  size_t offset = 28;
  auto add = [&](const std::string& name, const std::vector<int64_t>& shape) {
    size_t count = 1;
    for (int64_t d : shape) count *= static_cast<size_t>(d);
    const size_t bytes = count * 4;
    if (offset + bytes > file->size())
      throw Error(path + ": truncated llama2.c checkpoint: tensor '" + name + "' needs bytes up to " +
                  std::to_string(offset + bytes) + " but the file has " + std::to_string(file->size()) +
                  " (do the header sizes match this file?)");
    tensors_[name] = TensorInfo{DType::f32, shape, file->data() + offset, bytes, path};
    offset += bytes;
  };
  for (const Entry& e : order) {
    if (!e.per_layer) {
      add(e.name, e.shape);
      continue;
    }
    for (int64_t i = 0; i < layers; ++i) add(L + std::to_string(i) + "." + e.name, e.shape);
  }
  if (offset != file->size())
    throw Error(path + ": llama2.c checkpoint has " + std::to_string(file->size() - offset) +
                " bytes beyond the tensors its header describes (do the header sizes match this file?)");
  implicit_unused_ = {"rope.freq_cis_real", "rope.freq_cis_imag"};
}

// GGUF: tensors under their GGUF names, shapes in row-major order (ne reversed: a matrix is [rows, cols]).
inline void WeightStore::add_gguf(std::unique_ptr<MappedFile> owned) {
  auto& file = files_.emplace_back(std::move(owned));
  const gguf::File g = gguf::parse(file->path(), file->data(), file->size());
  for (const gguf::Tensor& gt : g.tensors) {
    TensorInfo t;
    t.file = file->path();
    switch (gt.type) {
      case GgmlType::f32: t.dtype = DType::f32; break;
      case GgmlType::f16: t.dtype = DType::f16; break;
      case GgmlType::bf16: t.dtype = DType::bf16; break;
      default: t.blocks = gt.type;
    }
    t.shape.assign(gt.ne.rbegin(), gt.ne.rend());
    t.data = gt.data;
    t.bytes = gt.bytes;
    tensors_.emplace(gt.name, std::move(t));
  }
}

inline bool is_gguf(const MappedFile& f) { return f.size() >= 4 && std::memcmp(f.data(), "GGUF", 4) == 0; }

inline WeightStore WeightStore::open(const std::string& path) {
  namespace fs = std::filesystem;
  WeightStore store;
  store.source_ = path;
  fs::path p(path);
  std::error_code ec;
  if (fs::is_directory(p, ec)) {
    if (fs::exists(p / "model.safetensors.index.json")) p /= "model.safetensors.index.json";
    else if (fs::exists(p / "model.safetensors")) p /= "model.safetensors";
    else throw Error(path + ": folder has neither model.safetensors nor model.safetensors.index.json");
  }
  const std::string name = p.filename().string();
  if (name.size() >= 11 && name.substr(name.size() - 11) == ".index.json") {
    MappedFile index(p.string());
    nlohmann::json j;
    try {
      j = nlohmann::json::parse(index.data(), index.data() + index.size());
    } catch (const nlohmann::json::exception& e) {
      throw Error(p.string() + ": not valid JSON: " + e.what());
    }
    if (!j.is_object() || !j.contains("weight_map") || !j["weight_map"].is_object())
      throw Error(p.string() + ": no weight_map object");
    std::set<std::string> shards;
    for (const auto& [tensor, shard] : j["weight_map"].items()) {
      if (!shard.is_string()) throw Error(p.string() + ": weight_map entry '" + tensor + "' is not a file name");
      const std::string s = shard.get<std::string>();
      if (s.find('/') != std::string::npos || s == "..")
        throw Error(p.string() + ": shard name '" + s + "' must be a plain file name");
      shards.insert(s);
    }
    for (const auto& s : shards) store.add_safetensors(std::make_unique<MappedFile>((p.parent_path() / s).string()));
    for (const auto& [tensor, shard] : j["weight_map"].items()) {
      auto it = store.tensors_.find(tensor);
      if (it == store.tensors_.end() || fs::path(it->second.file).filename() != shard.get<std::string>())
        throw Error(p.string() + ": weight_map says tensor '" + tensor + "' is in " + shard.get<std::string>() +
                    ", but it is not there");
    }
    return store;
  }
  if (name.size() >= 12 && name.substr(name.size() - 12) == ".safetensors") {
    store.add_safetensors(std::make_unique<MappedFile>(p.string()));
    return store;
  }
  auto file = std::make_unique<MappedFile>(p.string());
  if (is_gguf(*file)) store.add_gguf(std::move(file));
  else store.add_llama2c(std::move(file));
  return store;
}

inline WeightStore WeightStore::open_part(const std::string& path, uint64_t offset, uint64_t size,
                                         const std::string& name) {
  WeightStore store;
  store.source_ = name;
  store.add_safetensors(std::make_unique<MappedFile>(path, offset, size, name));
  return store;
}

inline WeightStore WeightStore::from_bytes(const std::string& name, std::string bytes) {
  WeightStore store;
  store.source_ = name;
  auto file = std::make_unique<MappedFile>(name, std::move(bytes));
  if (name.size() >= 12 && name.substr(name.size() - 12) == ".safetensors") store.add_safetensors(std::move(file));
  else if (is_gguf(*file)) store.add_gguf(std::move(file));
  else store.add_llama2c(std::move(file));
  for (auto& entry : store.tensors_) entry.second.in_memory = true;
  return store;
}

}  // namespace llmc
