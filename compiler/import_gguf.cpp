// `llmc import model.gguf`: a spec from a GGUF file's metadata and tensor directory. The layout differences
// between GGUF and Hugging Face checkpoints are written into the spec (tensor names, rope pairing), never
// converted: the binary maps the same GGUF file as its weights.
#include <fmt/format.h>
#include <fmt/ranges.h>

#include <filesystem>
#include <map>
#include <optional>

#include "import.hpp"
#include "llmc/gguf.hpp"
#include "llmc/weights_loader.hpp"

namespace llmc {
namespace {

// What differs between the GGUF architectures llmc imports (the rest is read from the metadata).
struct GgufFamily {
  const char* arch;      // general.architecture
  const char* family;    // the spec's family
  // convert_hf_to_gguf.py permutes the q / k rows of llama-architecture models so that rotary pairs are
  // adjacent (llama.cpp's "normal" rope); the Qwen models keep Hugging Face's halves (llama.cpp's NeoX rope).
  RopePairing pairing;
};
constexpr GgufFamily kGgufFamilies[] = {
    {"llama", "llama", RopePairing::interleaved},
    {"qwen2", "qwen2", RopePairing::half},
    {"qwen3", "qwen3", RopePairing::half},
};

// llama.cpp's tensor names for the roles of a Llama-like decoder ("{i}": the block number). Optional roles
// (biases, q/k norms, the classifier) are in the spec when the file has them for block 0.
struct RoleName {
  const char* role;
  const char* name;
  bool optional;
};
constexpr RoleName kLayerNames[] = {
    {"attn_norm", "blk.{i}.attn_norm.weight", false}, {"q", "blk.{i}.attn_q.weight", false},
    {"k", "blk.{i}.attn_k.weight", false},            {"v", "blk.{i}.attn_v.weight", false},
    {"o", "blk.{i}.attn_output.weight", false},       {"ffn_norm", "blk.{i}.ffn_norm.weight", false},
    {"gate", "blk.{i}.ffn_gate.weight", false},       {"up", "blk.{i}.ffn_up.weight", false},
    {"down", "blk.{i}.ffn_down.weight", false},       {"q_bias", "blk.{i}.attn_q.bias", true},
    {"k_bias", "blk.{i}.attn_k.bias", true},          {"v_bias", "blk.{i}.attn_v.bias", true},
    {"o_bias", "blk.{i}.attn_output.bias", true},     {"q_norm", "blk.{i}.attn_q_norm.weight", true},
    {"k_norm", "blk.{i}.attn_k_norm.weight", true},
};

class GgufMeta {
 public:
  GgufMeta(const std::string& path, gguf::File file, std::string arch)
      : path_(path), file_(std::move(file)), arch_(std::move(arch)) {
    for (const auto& t : file_.tensors) tensors_[t.name] = &t;
  }

  [[noreturn]] void fail(const std::string& key, const std::string& what) const {
    throw Error(fmt::format("{}: GGUF metadata '{}' {}", path_, key, what));
  }
  const gguf::Value* find(const std::string& key) const { return gguf::find(file_, key); }
  // "<arch>.<key>" as an integer ≥ 0 (required unless a default is given).
  int64_t count(const std::string& key, std::optional<int64_t> fallback = std::nullopt) const {
    const std::string k = arch_ + "." + key;
    const gguf::Value* v = find(k);
    if (!v) {
      if (fallback) return *fallback;
      fail(k, "is missing");
    }
    if (!v->is_integer() || v->i < 0) fail(k, "must be a non-negative integer");
    return v->i;
  }
  // Per-layer counts: one integer for every layer (a per-layer array is refused for now).
  std::vector<int64_t> per_layer(const std::string& key, int64_t layers, std::optional<int64_t> fallback) const {
    const std::string k = arch_ + "." + key;
    const gguf::Value* v = find(k);
    if (v && v->type == gguf::kArray) fail(k, "differs per layer, which llmc does not import from GGUF yet");
    return std::vector<int64_t>(static_cast<size_t>(layers), count(key, fallback));
  }
  double real(const std::string& key, double fallback) const {
    const std::string k = arch_ + "." + key;
    const gguf::Value* v = find(k);
    if (!v) return fallback;
    if (!v->is_number()) fail(k, "must be a number");
    // An f32 value as the shortest decimal that reads back as it (1e-05, not 9.999999747378752e-06).
    if (v->type == gguf::kF32) return std::stod(fmt::format("{}", static_cast<float>(v->f)));
    return v->f;
  }
  int64_t token(const std::string& key) const {
    const gguf::Value* v = find(key);
    return v && v->is_integer() ? v->i : -1;
  }
  const gguf::Tensor* tensor(const std::string& name) const {
    auto it = tensors_.find(name);
    return it == tensors_.end() ? nullptr : it->second;
  }

 private:
  std::string path_;
  gguf::File file_;
  std::string arch_;
  std::map<std::string, const gguf::Tensor*> tensors_;
};

std::string layer0(const std::string& pattern) {
  std::string s = pattern;
  s.replace(s.find("{i}"), 3, "0");
  return s;
}

}  // namespace

Spec import_gguf(const std::string& path, const ImportOptions& options) {
  const MappedFile mapped(path);
  gguf::File file = gguf::parse(path, mapped.data(), mapped.size());
  const gguf::Value* arch_value = gguf::find(file, "general.architecture");
  if (!arch_value || arch_value->type != gguf::kString)
    throw Error(path + ": GGUF metadata 'general.architecture' is missing or not a string");
  const std::string arch = arch_value->s;
  const GgufFamily* family = nullptr;
  std::vector<std::string> known;
  for (const GgufFamily& f : kGgufFamilies) {
    known.push_back(f.arch);
    if (arch == f.arch) family = &f;
  }
  if (!family)
    throw Error(fmt::format("{}: GGUF architecture '{}' is not supported for import; supported: {}", path, arch,
                            fmt::join(known, ", ")));
  const GgufMeta m(path, std::move(file), arch);

  Spec s;
  s.name = std::filesystem::path(path).stem().string();
  s.family = family->family;
  const gguf::Tensor* embed = m.tensor("token_embd.weight");
  if (!embed || embed->ne.size() != 2) throw Error(path + ": no 2-D tensor 'token_embd.weight' (the token embeddings)");
  s.vocab_size = static_cast<int64_t>(embed->ne[1]);
  s.hidden_size = m.count("embedding_length");
  s.num_layers = m.count("block_count");
  if (s.num_layers <= 0 || s.hidden_size <= 0) m.fail(arch + ".block_count", "and embedding_length must be positive");
  const int64_t ctx = m.count("context_length");
  s.max_context = options.max_context > 0 ? options.max_context : std::min(ctx, kDefaultContextCap);
  s.tied_embeddings = m.tensor("output.weight") == nullptr;
  const int64_t heads = m.count("attention.head_count"), kv = m.count("attention.head_count_kv", heads);
  if (heads <= 0 || kv <= 0 || heads % kv != 0)
    m.fail(arch + ".attention.head_count_kv", fmt::format("is {}, which does not divide {} heads", kv, heads));
  s.attention.heads = m.per_layer("attention.head_count", s.num_layers, heads);
  s.attention.kv_heads = m.per_layer("attention.head_count_kv", s.num_layers, kv);
  if (!m.find(arch + ".attention.key_length") && s.hidden_size % heads != 0)
    m.fail(arch + ".attention.head_count", fmt::format("{} does not divide embedding_length {}", heads, s.hidden_size));
  s.attention.head_dim = m.count("attention.key_length", s.hidden_size / heads);
  s.attention.window.assign(static_cast<size_t>(s.num_layers), 0);
  s.norm = {NormKind::rms, NormWeight::plain, false, m.real("attention.layer_norm_rms_epsilon", 1e-5)};
  s.positions = PositionKind::rope;
  s.rope.theta = m.real("rope.freq_base", 10000.0);
  s.rope.pairing = family->pairing;
  s.rope.rotary_dim = m.count("rope.dimension_count", s.attention.head_dim);
  if (m.tensor("rope_freqs.weight"))
    throw Error(path + ": tensor 'rope_freqs.weight' (Llama 3 rope frequency factors) is not supported yet");
  if (const gguf::Value* scaling = m.find(arch + ".rope.scaling.type")) {
    if (scaling->s == "linear") {
      s.rope.scaling.type = "linear";
      s.rope.scaling.factor = m.real("rope.scaling.factor", 1.0);
    } else if (scaling->s != "none") {
      m.fail(arch + ".rope.scaling.type", "is '" + scaling->s + "' (supported: none, linear)");
    }
  }
  s.mlp.kind = MlpKind::gated;
  s.mlp.activation = Activation::silu;
  s.mlp.intermediate = m.per_layer("feed_forward_length", s.num_layers, std::nullopt);
  s.bos = m.token("tokenizer.ggml.bos_token_id");
  s.eos = m.token("tokenizer.ggml.eos_token_id");
  const gguf::Value* add_bos = m.find("tokenizer.ggml.add_bos_token");
  const gguf::Value* tok_model = m.find("tokenizer.ggml.model");
  // Without the key, llama.cpp adds BOS for SentencePiece ("llama") vocabularies only.
  s.add_bos = s.bos >= 0 && (add_bos ? add_bos->i != 0 : tok_model && tok_model->s == "llama");

  WeightNames& w = s.weights;
  w.embed = "token_embd.weight";
  w.final_norm = "output_norm.weight";
  w.lm_head = s.tied_embeddings ? "" : "output.weight";
  for (const RoleName& r : kLayerNames) {
    if (!m.tensor(layer0(r.name))) {
      if (r.optional) continue;
      throw Error(fmt::format("{}: tensor '{}' ({} of block 0) is missing", path, layer0(r.name), r.role));
    }
    w.layer[r.role] = r.name;
  }
  s.attention.bias_q = w.layer.count("q_bias") > 0;
  s.attention.bias_k = w.layer.count("k_bias") > 0;
  s.attention.bias_v = w.layer.count("v_bias") > 0;
  s.attention.bias_o = w.layer.count("o_bias") > 0;
  if (w.layer.count("q_norm")) {
    s.attention.qk_norm = QkNorm::per_head;
    s.attention.qk_norm_spec = s.norm;
  }
  return s;
}

}  // namespace llmc
