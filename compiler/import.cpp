// `llmc import`: reading config.json (and llama2.c headers) and naming a spec's tensors. The families
// themselves are in import_families.cpp.
#include "import.hpp"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "import_config.hpp"
#include "llmc/error.hpp"
#include "llmc/gguf.hpp"
#include "plan.hpp"

namespace llmc {
namespace import_detail {
namespace fs = std::filesystem;

int64_t context_for(int64_t checkpoint_context, const ImportOptions& o) {
  if (o.max_context > 0) return o.max_context;
  return std::min(checkpoint_context, kDefaultContextCap);
}


Activation activation_from(const Config& c, const std::string& key, const std::string& name) {
  if (name == "silu" || name == "swish") return Activation::silu;
  if (name == "gelu") return Activation::gelu;
  if (name == "gelu_new" || name == "gelu_pytorch_tanh" || name == "gelu_fast") return Activation::gelu_tanh;
  if (name == "relu") return Activation::relu;
  c.fail(key, fmt::format("activation '{}' is not supported (silu, gelu, gelu_new, gelu_pytorch_tanh, relu)", name));
}


// Tensor names of the checkpoint beside config.json (model.safetensors or its sharded index), or none.
std::set<std::string> checkpoint_names(const std::string& config_file) {
  const fs::path dir = fs::path(config_file).parent_path();
  std::set<std::string> names;
  std::ifstream index(dir / "model.safetensors.index.json", std::ios::binary);
  if (index) {
    const json j = json::parse(index, nullptr, false);
    if (j.is_object() && j.contains("weight_map") && j["weight_map"].is_object())
      for (const auto& [name, shard] : j["weight_map"].items()) names.insert(name);
    return names;
  }
  std::ifstream in(dir / "model.safetensors", std::ios::binary);
  unsigned char len[8];
  if (!in || !in.read(reinterpret_cast<char*>(len), 8)) return names;
  uint64_t n = 0;
  for (int i = 7; i >= 0; --i) n = (n << 8) | len[i];
  if (n > (uint64_t{1} << 30)) return names;
  std::string header(n, '\0');
  if (!in.read(header.data(), static_cast<std::streamsize>(n))) return names;
  const json j = json::parse(header, nullptr, false);
  if (j.is_object())
    for (const auto& [name, entry] : j.items())
      if (name != "__metadata__") names.insert(name);
  return names;
}

NameTable NameTable::with(std::map<std::string, std::string> changed, std::vector<std::string> dropped) const {
  NameTable t = *this;
  for (auto& [role, name] : changed) t.layer[role] = std::move(name);
  for (const auto& role : dropped) t.layer.erase(role);
  return t;
}

void name_tensors(Spec& s, const NameTable& table) {
  WeightNames& w = s.weights;
  // The table's layer names go in first: whether it names a feed-forward norm of its own decides the roles of a
  // parallel block.
  w.layer.clear();
  for (const auto& [role, name] : table.layer) w.layer[role] = table.layer_prefix + name;
  const TensorRoles roles = tensor_roles(s);
  std::map<std::string, std::string> used;
  for (const auto& role : roles.layer) {
    auto it = w.layer.find(role);
    if (it == w.layer.end())
      throw Error(
          fmt::format("internal error: the {} importer has no tensor name for the layer role '{}'", s.family, role));
    used.insert(*it);
  }
  w.layer = std::move(used);
  for (const char* role :
       {"embed", "embed_norm", "embed_norm_bias", "pos_embed", "final_norm", "final_norm_bias", "lm_head", "lm_head_bias",
        "token_types", "head_transform", "head_transform_bias", "head_norm", "head_norm_bias", "pooler", "pooler_bias",
        "relative_bias", "encoder_relative_bias", "encoder_final_norm"})
    w.global(role).clear();
  for (const auto& role : roles.global) {
    auto it = table.global.find(role);
    if (it == table.global.end())
      throw Error(fmt::format("internal error: the {} importer has no tensor name for '{}'", s.family, role));
    w.global(role) = it->second;
  }
  w.unused = table.unused;
}

// Python's json module writes inf and nan as bare Infinity, -Infinity and NaN (Mamba 2's time_step_limit is
// [0.0, Infinity]), which JSON has no words for. Outside strings Infinity becomes the largest double (nlohmann
// rejects overflowing literals), which is infinite once a spec narrows it to a float; NaN is refused.
std::string python_json_to_json(const std::string& text) {
  std::string out;
  bool in_string = false;
  for (size_t i = 0; i < text.size(); ++i) {
    const char ch = text[i];
    if (in_string) {
      out += ch;
      if (ch == '\\' && i + 1 < text.size()) out += text[++i];
      else if (ch == '"') in_string = false;
      continue;
    }
    if (ch == '"') in_string = true;
    if (text.compare(i, 8, "Infinity") == 0) {
      out += "1.7976931348623157e308";
      i += 7;
    } else if (text.compare(i, 3, "NaN") == 0) {
      throw Error("NaN in a config is not supported");
    } else {
      out += ch;
    }
  }
  return out;
}

json read_json(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw Error(path + ": cannot open");
  std::stringstream text;
  text << in.rdbuf();
  try {
    return json::parse(python_json_to_json(text.str()));
  } catch (const json::exception& e) {
    throw Error(path + ": not valid JSON: " + e.what());
  } catch (const Error& e) {
    throw Error(path + ": " + e.what());
  }
}

}  // namespace import_detail

using namespace import_detail;

std::vector<std::string> supported_model_types() {
  std::vector<std::string> names;
  for (const auto& [name, fn] : family_importers()) names.push_back(name);
  return names;
}

Spec import_hf(const std::string& path, const ImportOptions& options) {
  fs::path config_path(path);
  if (fs::is_directory(config_path)) config_path /= "config.json";
  Config c(read_json(config_path.string()), config_path.string());
  const std::string type = c.req<std::string>("model_type");
  auto it = family_importers().find(type);
  if (it == family_importers().end())
    c.fail("model_type", fmt::format("'{}' is not supported; supported model types: {}", type,
                                     fmt::join(supported_model_types(), ", ")));
  for (const char* key : {"num_hidden_layers", "n_layer", "num_layers", "n_layers"})  // before anything per layer
    if (c.has(key) && c.raw(key).is_number_integer() &&
        (c.raw(key).get<int64_t>() <= 0 || c.raw(key).get<int64_t>() > kMaxLayers))
      c.fail(key, fmt::format("{} layers: not between 1 and {}", c.raw(key).get<int64_t>(), kMaxLayers));
  Spec s;
  s.family = type;
  s.name = fs::path(path).filename().string();
  if (s.name.empty() || s.name == "config.json") s.name = fs::absolute(config_path).parent_path().filename().string();
  it->second(c, s, options);
  s.chat = import_chat_template(config_path.parent_path().string());
  return s;
}

Spec import_llama2c(const std::string& path, const ImportOptions& options) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw Error(path + ": cannot open");
  int32_t h[7];
  if (!in.read(reinterpret_cast<char*>(h), sizeof h)) throw Error(path + ": truncated llama2.c checkpoint (no header)");
  if (static_cast<uint32_t>(h[0]) == 0x616b3432u)
    throw Error(path + ": llama2.c export version " + std::to_string(h[1]) + " is not supported (legacy version 0 only)");
  const char* names[7] = {"dim", "hidden_dim", "n_layers", "n_heads", "n_kv_heads", "vocab_size", "seq_len"};
  for (int i = 0; i < 7; ++i)
    if (h[i] == 0 || (i != 5 && h[i] < 0))
      throw Error(fmt::format("{}: llama2.c header field {} is {}, expected a positive number", path, names[i], h[i]));
  if (h[0] % h[3] != 0 || h[3] % h[4] != 0)
    throw Error(fmt::format("{}: llama2.c header: {} heads / {} kv heads do not divide dim {}", path, h[3], h[4], h[0]));
  Spec s;
  s.name = fs::path(path).stem().string();
  s.family = "llama";
  s.vocab_size = std::abs(h[5]);
  s.hidden_size = h[0];
  s.num_layers = h[2];
  s.max_context = context_for(h[6], options);
  s.tied_embeddings = h[5] > 0;
  s.norm = {NormKind::rms, NormWeight::plain, false, 1e-5};
  s.attention.heads.assign(static_cast<size_t>(s.num_layers), h[3]);
  s.attention.kv_heads.assign(static_cast<size_t>(s.num_layers), h[4]);
  s.attention.head_dim = h[0] / h[3];
  s.attention.window.assign(static_cast<size_t>(s.num_layers), 0);
  s.positions = PositionKind::rope;
  s.rope.theta = 10000.0;
  s.rope.pairing = RopePairing::interleaved;  // llama2.c keeps Meta's layout: adjacent pairs
  s.rope.rotary_dim = s.attention.head_dim;
  s.mlp.kind = MlpKind::gated;
  s.mlp.activation = Activation::silu;
  s.mlp.intermediate.assign(static_cast<size_t>(s.num_layers), h[1]);
  s.bos = 1;
  s.eos = 2;
  s.add_bos = true;
  name_llama_tensors(s);
  return s;
}

Spec import_any(const std::string& path, const ImportOptions& options) {
  std::error_code ec;
  if (!fs::exists(path, ec)) throw Error(path + ": no such file or folder");
  if (fs::is_directory(path, ec) || fs::path(path).extension() == ".json") return import_hf(path, options);
  if (gguf::is_gguf_file(path)) return import_gguf(path, options);
  return import_llama2c(path, options);
}

}  // namespace llmc
