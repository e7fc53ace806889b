#include "import.hpp"

#include <nlohmann/json.hpp>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <set>

#include "llmc/error.hpp"

namespace llmc {
namespace fs = std::filesystem;
using nlohmann::json;

namespace {

int64_t context_for(int64_t checkpoint_context, const ImportOptions& o) {
  if (o.max_context > 0) return o.max_context;
  return std::min(checkpoint_context, kDefaultContextCap);
}

// config.json with errors that name the file and key.
class Config {
 public:
  Config(json j, std::string file) : j_(std::move(j)), file_(std::move(file)) {}

  bool has(const std::string& key) const { return j_.contains(key) && !j_[key].is_null(); }
  const json& raw(const std::string& key) const { return j_.at(key); }

  template <typename T>
  T req(const std::string& key) const {
    if (!has(key)) throw Error(fmt::format("{}: key '{}' is missing", file_, key));
    return as<T>(key);
  }
  template <typename T>
  T get(const std::string& key, T fallback) const {
    return has(key) ? as<T>(key) : fallback;
  }
  // The first of several alternative keys that is present.
  template <typename T>
  T req_any(std::initializer_list<const char*> keys) const {
    for (const char* k : keys)
      if (has(k)) return as<T>(k);
    throw Error(fmt::format("{}: none of the keys {} is present", file_, fmt::join(keys, ", ")));
  }
  int64_t token(const std::string& key) const {  // an id, or the first of a list, or -1
    if (!has(key)) return -1;
    const json& v = j_[key];
    if (v.is_array()) return v.empty() ? -1 : v[0].get<int64_t>();
    return as<int64_t>(key);
  }
  [[noreturn]] void fail(const std::string& key, const std::string& what) const {
    throw Error(fmt::format("{}: key '{}': {}", file_, key, what));
  }
  const std::string& file() const { return file_; }
  void set(const std::string& key, const json& value) { j_[key] = value; }

 private:
  template <typename T>
  T as(const std::string& key) const {
    try {
      return j_[key].get<T>();
    } catch (const json::exception&) {
      fail(key, fmt::format("has an unexpected type ({})", j_[key].dump()));
    }
  }
  json j_;
  std::string file_;
};

Activation activation_from(const Config& c, const std::string& key, const std::string& name) {
  if (name == "silu" || name == "swish") return Activation::silu;
  if (name == "gelu") return Activation::gelu;
  if (name == "gelu_new" || name == "gelu_pytorch_tanh" || name == "gelu_fast") return Activation::gelu_tanh;
  if (name == "relu") return Activation::relu;
  c.fail(key, fmt::format("activation '{}' is not supported (silu, gelu, gelu_new, gelu_pytorch_tanh, relu)", name));
}

// The Hugging Face Llama tensor names (also how the loader exposes llama2.c checkpoints).
void set_llama_weight_names(Spec& s) {
  WeightNames& w = s.weights;
  w.embed = "model.embed_tokens.weight";
  w.final_norm = "model.norm.weight";
  w.lm_head = s.tied_embeddings ? "" : "lm_head.weight";
  const std::string L = "model.layers.{i}.";
  w.layer = {{"attn_norm", L + "input_layernorm.weight"}, {"q", L + "self_attn.q_proj.weight"},
             {"k", L + "self_attn.k_proj.weight"},         {"v", L + "self_attn.v_proj.weight"},
             {"o", L + "self_attn.o_proj.weight"},         {"ffn_norm", L + "post_attention_layernorm.weight"},
             {"gate", L + "mlp.gate_proj.weight"},         {"up", L + "mlp.up_proj.weight"},
             {"down", L + "mlp.down_proj.weight"}};
}

// The Llama layout: fields shared by most Hugging Face decoders.
void llama_like(const Config& c, Spec& s, const ImportOptions& o) {
  s.vocab_size = c.req<int64_t>("vocab_size");
  s.hidden_size = c.req<int64_t>("hidden_size");
  s.num_layers = c.req<int64_t>("num_hidden_layers");
  s.max_context = context_for(c.req<int64_t>("max_position_embeddings"), o);
  s.tied_embeddings = c.get<bool>("tie_word_embeddings", false);
  const int64_t heads = c.req<int64_t>("num_attention_heads");
  const int64_t kv = c.get<int64_t>("num_key_value_heads", heads);
  s.attention.heads.assign(static_cast<size_t>(s.num_layers), heads);
  s.attention.kv_heads.assign(static_cast<size_t>(s.num_layers), kv);
  if (heads <= 0 || kv <= 0 || heads % kv != 0)
    c.fail("num_key_value_heads", fmt::format("{} kv heads do not divide {} attention heads", kv, heads));
  if (!c.has("head_dim") && s.hidden_size % heads != 0)
    c.fail("num_attention_heads", fmt::format("{} heads do not divide hidden_size {} (and there is no head_dim)", heads,
                                              s.hidden_size));
  s.attention.head_dim = c.get<int64_t>("head_dim", s.hidden_size / heads);
  s.attention.window.assign(static_cast<size_t>(s.num_layers), 0);
  const bool attention_bias = c.get<bool>("attention_bias", false);
  s.attention.bias_q = s.attention.bias_k = s.attention.bias_v = s.attention.bias_o = attention_bias;
  s.norm = {NormKind::rms, NormWeight::plain, false, c.get<double>("rms_norm_eps", 1e-6)};
  s.positions = PositionKind::rope;
  s.rope.theta = c.get<double>("rope_theta", 10000.0);
  s.rope.pairing = RopePairing::half;
  s.rope.rotary_dim = s.attention.head_dim;
  if (c.has("rope_scaling")) {
    const json& r = c.raw("rope_scaling");
    const std::string type = r.value("rope_type", r.value("type", std::string("none")));
    RopeScaling& x = s.rope.scaling;
    x.type = type;
    if (type == "linear") {
      x.factor = r.at("factor").get<double>();
    } else if (type == "llama3") {
      x.factor = r.at("factor").get<double>();
      x.low_freq_factor = r.at("low_freq_factor").get<double>();
      x.high_freq_factor = r.at("high_freq_factor").get<double>();
      x.original_max_positions = r.at("original_max_position_embeddings").get<int64_t>();
    } else if (type == "longrope" || type == "su") {
      x.type = "longrope";
      x.short_factor = r.at("short_factor").get<std::vector<double>>();
      x.long_factor = r.at("long_factor").get<std::vector<double>>();
      // Phi-3 names the original context at the top level; MiniCPM 3/4 inside rope_scaling.
      x.original_max_positions = r.contains("original_max_position_embeddings")
                                     ? r["original_max_position_embeddings"].get<int64_t>()
                                     : c.req<int64_t>("original_max_position_embeddings");
      x.max_positions = c.req<int64_t>("max_position_embeddings");
      if (r.contains("attention_factor") && !r["attention_factor"].is_null())
        x.attention_factor = r["attention_factor"].get<double>();
    } else if (type != "default" && type != "none") {
      c.fail("rope_scaling", fmt::format("rope type '{}' is not supported (linear, llama3, longrope)", type));
    } else {
      x.type = "none";
    }
  }
  s.mlp.kind = MlpKind::gated;
  s.mlp.activation = activation_from(c, "hidden_act", c.get<std::string>("hidden_act", "silu"));
  s.mlp.intermediate.assign(static_cast<size_t>(s.num_layers), c.req<int64_t>("intermediate_size"));
  s.mlp.bias = c.get<bool>("mlp_bias", false);
  s.bos = c.token("bos_token_id");
  s.eos = c.token("eos_token_id");
  s.add_bos = s.bos >= 0;

  WeightNames& w = s.weights;
  set_llama_weight_names(s);
  const std::string L = "model.layers.{i}.";
  if (attention_bias)
    for (const char* p : {"q", "k", "v", "o"})
      w.layer[std::string(p) + "_bias"] = L + "self_attn." + p + "_proj.bias";
  if (s.mlp.bias)
    for (const char* p : {"gate", "up", "down"}) w.layer[std::string(p) + "_bias"] = L + "mlp." + p + "_proj.bias";
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

// GPT-2 / GPT-1 checkpoints exist with the base model's names ("wte.weight": the original uploads) and with the
// LM-head model's ("transformer.wte.weight": save_pretrained). The checkpoint beside config.json decides;
// without one, save_pretrained's names.
std::string transformer_prefix(const Config& c, const std::string& probe) {
  return checkpoint_names(c.file()).count(probe) ? "" : "transformer.";
}

void window_everywhere(const Config& c, Spec& s, const char* key) {
  if (c.has(key)) s.attention.window.assign(static_cast<size_t>(s.num_layers), c.req<int64_t>(key));
}

// GPT-1 and GPT-2: learned positions, Conv1D weights, fused c_attn, LayerNorm with bias, plain MLP, tied
// classifier. Sets everything but the residual layout, activation, FFN width and final norm; returns the
// tensor name prefix ("transformer." or "").
std::string gpt_conv1d(const Config& c, Spec& s, const ImportOptions& o, const std::string& embed,
                       const std::string& positions) {
  s.vocab_size = c.req<int64_t>("vocab_size");
  s.hidden_size = c.req<int64_t>("n_embd");
  s.num_layers = c.req<int64_t>("n_layer");
  s.max_positions = c.req<int64_t>("n_positions");
  s.max_context = context_for(s.max_positions, o);
  if (s.max_context > s.max_positions)
    c.fail("n_positions", fmt::format("the position table has {} rows; a context of {} is not possible",
                                      s.max_positions, s.max_context));
  s.tied_embeddings = true;
  const int64_t heads = c.req<int64_t>("n_head");
  if (heads <= 0 || s.hidden_size % heads != 0)
    c.fail("n_head", fmt::format("{} heads do not divide n_embd {}", heads, s.hidden_size));
  s.attention.heads.assign(static_cast<size_t>(s.num_layers), heads);
  s.attention.kv_heads = s.attention.heads;
  s.attention.head_dim = s.hidden_size / heads;
  s.attention.window.assign(static_cast<size_t>(s.num_layers), 0);
  s.attention.qkv = QkvLayout::fused;
  s.attention.bias_q = s.attention.bias_k = s.attention.bias_v = s.attention.bias_o = true;
  s.norm = {NormKind::layer, NormWeight::plain, true, c.get<double>("layer_norm_epsilon", 1e-5)};
  s.positions = PositionKind::learned;
  s.mlp.kind = MlpKind::plain;
  s.mlp.bias = true;
  s.bos = c.token("bos_token_id");
  s.eos = c.token("eos_token_id");
  s.add_bos = false;
  const std::string T = transformer_prefix(c, embed), L = T + "h.{i}.";
  WeightNames& w = s.weights;
  w.layout = TensorLayout::in_out;  // Conv1D
  w.embed = T + embed;
  w.pos_embed = T + positions;
  w.layer = {{"attn_norm", L + "ln_1.weight"},  {"attn_norm_bias", L + "ln_1.bias"},
             {"qkv", L + "attn.c_attn.weight"}, {"qkv_bias", L + "attn.c_attn.bias"},
             {"o", L + "attn.c_proj.weight"},   {"o_bias", L + "attn.c_proj.bias"},
             {"ffn_norm", L + "ln_2.weight"},   {"ffn_norm_bias", L + "ln_2.bias"},
             {"up", L + "mlp.c_fc.weight"},     {"up_bias", L + "mlp.c_fc.bias"},
             {"down", L + "mlp.c_proj.weight"}, {"down_bias", L + "mlp.c_proj.bias"}};
  // The causal mask buffer of older checkpoints, and a saved copy of the tied classifier.
  w.unused = {L + "attn.bias", "lm_head.weight"};
  return T;
}

// Gemma: Llama's layout with a tied classifier, (1 + w) norms, embeddings scaled by √hidden and a GELU gate.
void gemma_like(const Config& c, Spec& s, const ImportOptions& o) {
  llama_like(c, s, o);
  s.tied_embeddings = true;
  s.weights.lm_head.clear();
  s.norm.weight = NormWeight::offset_one;
  s.embedding_scale = static_cast<float>(std::sqrt(static_cast<double>(s.hidden_size)));
  s.mlp.activation = activation_from(c, "hidden_activation",
                                     c.get<std::string>("hidden_activation", "gelu_pytorch_tanh"));
}

using Importer = std::function<void(const Config&, Spec&, const ImportOptions&)>;

const std::map<std::string, Importer>& importers() {
  static const std::map<std::string, Importer> table = {
      {"llama", [](const Config& c, Spec& s, const ImportOptions& o) { llama_like(c, s, o); }},
      {"mistral",
       [](const Config& c, Spec& s, const ImportOptions& o) {
         llama_like(c, s, o);
         window_everywhere(c, s, "sliding_window");
       }},
      {"qwen2",
       [](const Config& c, Spec& s, const ImportOptions& o) {
         llama_like(c, s, o);
         s.attention.bias_q = s.attention.bias_k = s.attention.bias_v = true;
         for (const char* p : {"q", "k", "v"})
           s.weights.layer[std::string(p) + "_bias"] = std::string("model.layers.{i}.self_attn.") + p + "_proj.bias";
         if (c.get<bool>("use_sliding_window", false)) {
           const int64_t from = c.req<int64_t>("max_window_layers");
           for (int64_t i = from; i < s.num_layers; ++i) s.attention.window[i] = c.req<int64_t>("sliding_window");
         }
       }},
      {"qwen3",
       [](const Config& c, Spec& s, const ImportOptions& o) {
         llama_like(c, s, o);
         s.attention.qk_norm = QkNorm::per_head;
         s.attention.qk_norm_spec = s.norm;
         s.weights.layer["q_norm"] = "model.layers.{i}.self_attn.q_norm.weight";
         s.weights.layer["k_norm"] = "model.layers.{i}.self_attn.k_norm.weight";
         if (c.get<bool>("use_sliding_window", false)) c.fail("use_sliding_window", "is not supported for qwen3");
       }},
      {"gemma", gemma_like},
      {"gemma2",
       [](const Config& c, Spec& s, const ImportOptions& o) {
         gemma_like(c, s, o);
         s.post_norms = true;
         s.attention.scale = 1.0 / std::sqrt(c.req<double>("query_pre_attn_scalar"));
         s.attention.softcap = c.get<double>("attn_logit_softcapping", 0.0);
         s.logit_softcap = c.get<double>("final_logit_softcapping", 0.0);
         for (int64_t i = 0; i < s.num_layers; i += 2) s.attention.window[i] = c.req<int64_t>("sliding_window");
         const std::string L = "model.layers.{i}.";
         s.weights.layer["post_attn_norm"] = L + "post_attention_layernorm.weight";
         s.weights.layer["ffn_norm"] = L + "pre_feedforward_layernorm.weight";
         s.weights.layer["post_ffn_norm"] = L + "post_feedforward_layernorm.weight";
       }},
      {"granite",
       [](const Config& c, Spec& s, const ImportOptions& o) {
         llama_like(c, s, o);
         s.embedding_scale = c.req<double>("embedding_multiplier");
         s.residual_scale = c.req<double>("residual_multiplier");
         s.attention.scale = c.req<double>("attention_multiplier");
         s.logit_scale = 1.0 / c.req<double>("logits_scaling");
       }},
      {"phi3",
       [](const Config& c, Spec& s, const ImportOptions& o) {
         llama_like(c, s, o);
         s.attention.qkv = QkvLayout::fused;
         s.mlp.fused_gate_up = true;
         const std::string L = "model.layers.{i}.";
         for (const char* r : {"q", "k", "v", "gate", "up"}) s.weights.layer.erase(r);
         s.weights.layer["qkv"] = L + "self_attn.qkv_proj.weight";
         s.weights.layer["gate_up"] = L + "mlp.gate_up_proj.weight";
         window_everywhere(c, s, "sliding_window");
       }},
      {"starcoder2",
       [](const Config& c, Spec& s, const ImportOptions& o) {
         llama_like(c, s, o);
         const bool bias = c.get<bool>("use_bias", true);
         s.norm = {NormKind::layer, NormWeight::plain, true, c.req<double>("norm_epsilon")};
         s.mlp.kind = MlpKind::plain;
         s.mlp.bias = bias;
         s.attention.bias_q = s.attention.bias_k = s.attention.bias_v = s.attention.bias_o = bias;
         window_everywhere(c, s, "sliding_window");
         const std::string L = "model.layers.{i}.";
         auto& w = s.weights.layer;
         w.erase("gate");
         w["up"] = L + "mlp.c_fc.weight";
         w["down"] = L + "mlp.c_proj.weight";
         w["attn_norm_bias"] = L + "input_layernorm.bias";
         w["ffn_norm_bias"] = L + "post_attention_layernorm.bias";
         s.weights.final_norm_bias = "model.norm.bias";
         if (bias) {
           for (const char* p : {"q", "k", "v", "o"})
             w[std::string(p) + "_bias"] = L + "self_attn." + p + "_proj.bias";
           w["up_bias"] = L + "mlp.c_fc.bias";
           w["down_bias"] = L + "mlp.c_proj.bias";
         }
       }},
      {"stablelm",
       [](const Config& c, Spec& s, const ImportOptions& o) {
         llama_like(c, s, o);
         s.norm = {NormKind::layer, NormWeight::plain, true, c.req<double>("layer_norm_eps")};
         s.rope.rotary_dim = static_cast<int64_t>(s.attention.head_dim * c.req<double>("partial_rotary_factor"));
         const bool qkv_bias = c.get<bool>("use_qkv_bias", false);
         s.attention.bias_q = s.attention.bias_k = s.attention.bias_v = qkv_bias;
         const std::string L = "model.layers.{i}.";
         auto& w = s.weights.layer;
         w["attn_norm_bias"] = L + "input_layernorm.bias";
         s.weights.final_norm_bias = "model.norm.bias";
         if (qkv_bias)
           for (const char* p : {"q", "k", "v"}) w[std::string(p) + "_bias"] = L + "self_attn." + p + "_proj.bias";
         if (c.get<bool>("use_parallel_residual", false)) {
           s.residual = Residual::parallel;
           w.erase("ffn_norm");
         } else {
           w["ffn_norm_bias"] = L + "post_attention_layernorm.bias";
         }
         if (c.get<bool>("qk_layernorm", false)) {
           // StableLmLayerNormPerHead: one bias-free LayerNorm per head, stored as norms.<h>.
           s.attention.qk_norm = QkNorm::per_head;
           s.attention.qk_norm_weights = QkNormWeights::per_head;
           s.attention.qk_norm_spec = NormSpec{NormKind::layer, NormWeight::plain, false, s.norm.eps};
           w["q_norm"] = L + "self_attn.q_layernorm.norms.{h}.weight";
           w["k_norm"] = L + "self_attn.k_layernorm.norms.{h}.weight";
         }
       }},
      {"olmo",
       [](const Config& c, Spec& s, const ImportOptions& o) {
         llama_like(c, s, o);
         s.norm = {NormKind::layer, NormWeight::none, false, 1e-5};
         s.attention.clip_qkv = c.get<double>("clip_qkv", 0.0);
         s.weights.final_norm.clear();
         s.weights.layer.erase("attn_norm");
         s.weights.layer.erase("ffn_norm");
       }},
      {"internlm2",
       [](const Config& c, Spec& s, const ImportOptions& o) {
         llama_like(c, s, o);
         if (c.get<bool>("bias", false)) c.fail("bias", "InternLM2 with biases is not supported");
         s.attention.qkv = QkvLayout::fused_per_kv_group;
         const std::string L = "model.layers.{i}.";
         s.weights.embed = "model.tok_embeddings.weight";
         s.weights.lm_head = s.tied_embeddings ? "" : "output.weight";
         s.weights.layer = {{"attn_norm", L + "attention_norm.weight"}, {"qkv", L + "attention.wqkv.weight"},
                            {"o", L + "attention.wo.weight"},           {"ffn_norm", L + "ffn_norm.weight"},
                            {"gate", L + "feed_forward.w1.weight"},     {"up", L + "feed_forward.w3.weight"},
                            {"down", L + "feed_forward.w2.weight"}};
       }},
      {"falcon",
       [](const Config& c, Spec& s, const ImportOptions& o) {
         s.vocab_size = c.req<int64_t>("vocab_size");
         s.hidden_size = c.req<int64_t>("hidden_size");
         s.num_layers = c.req<int64_t>("num_hidden_layers");
         s.max_context = context_for(c.get<int64_t>("max_position_embeddings", 2048), o);
         s.tied_embeddings = c.get<bool>("tie_word_embeddings", true);
         const int64_t heads = c.req<int64_t>("num_attention_heads");
         const bool new_arch = c.get<bool>("new_decoder_architecture", false);
         const bool multi_query = c.get<bool>("multi_query", true);
         const int64_t kv = new_arch ? c.req<int64_t>("num_kv_heads") : multi_query ? 1 : heads;
         s.attention.heads.assign(static_cast<size_t>(s.num_layers), heads);
         s.attention.kv_heads.assign(static_cast<size_t>(s.num_layers), kv);
         s.attention.head_dim = s.hidden_size / heads;
         s.attention.window.assign(static_cast<size_t>(s.num_layers), 0);
         s.attention.qkv = new_arch ? QkvLayout::fused_per_kv_group
                           : multi_query ? QkvLayout::fused : QkvLayout::fused_per_head;
         const bool bias = c.get<bool>("bias", false);
         s.attention.bias_q = s.attention.bias_k = s.attention.bias_v = s.attention.bias_o = bias;
         s.norm = {NormKind::layer, NormWeight::plain, true, c.get<double>("layer_norm_epsilon", 1e-5)};
         if (c.get<bool>("alibi", false)) {
           s.positions = PositionKind::alibi;
           // Hugging Face Falcon adds the bias twice, both times scaled: FalconAttention computes
           // (q·k + alibi)·inv_norm_factor and FalconModel._update_causal_mask folds alibi/√head_dim into the mask.
           s.alibi_slope_scale = 2.0 / std::sqrt(static_cast<double>(s.hidden_size / heads));
         } else {
           s.positions = PositionKind::rope;
           s.rope.theta = c.get<double>("rope_theta", 10000.0);
           s.rope.pairing = RopePairing::half;
           s.rope.rotary_dim = s.attention.head_dim;
         }
         s.mlp.kind = MlpKind::plain;
         s.mlp.activation = activation_from(c, "activation", c.get<std::string>("activation", "gelu"));
         s.mlp.intermediate.assign(static_cast<size_t>(s.num_layers),
                                   c.get<int64_t>("ffn_hidden_size", 4 * s.hidden_size));
         s.mlp.bias = bias;
         s.bos = c.token("bos_token_id");
         s.eos = c.token("eos_token_id");
         s.add_bos = false;
         const bool parallel = c.get<bool>("parallel_attn", true);
         s.residual = parallel || new_arch ? Residual::parallel : Residual::sequential;
         const std::string L = "transformer.h.{i}.";
         WeightNames& w = s.weights;
         w.embed = "transformer.word_embeddings.weight";
         w.final_norm = "transformer.ln_f.weight";
         w.final_norm_bias = "transformer.ln_f.bias";
         w.lm_head = s.tied_embeddings ? "" : "lm_head.weight";
         w.layer = {{"qkv", L + "self_attention.query_key_value.weight"},
                    {"o", L + "self_attention.dense.weight"},
                    {"up", L + "mlp.dense_h_to_4h.weight"},
                    {"down", L + "mlp.dense_4h_to_h.weight"}};
         const int64_t norms = new_arch ? c.get<int64_t>("num_ln_in_parallel_attn", 2) : 1;
         if (new_arch && norms == 2) {
           w.layer["attn_norm"] = L + "ln_attn.weight";
           w.layer["attn_norm_bias"] = L + "ln_attn.bias";
           w.layer["ffn_norm"] = L + "ln_mlp.weight";
           w.layer["ffn_norm_bias"] = L + "ln_mlp.bias";
         } else {
           w.layer["attn_norm"] = L + "input_layernorm.weight";
           w.layer["attn_norm_bias"] = L + "input_layernorm.bias";
           if (!parallel) {
             w.layer["ffn_norm"] = L + "post_attention_layernorm.weight";
             w.layer["ffn_norm_bias"] = L + "post_attention_layernorm.bias";
           }
         }
         if (bias) {
           w.layer["qkv_bias"] = L + "self_attention.query_key_value.bias";
           w.layer["o_bias"] = L + "self_attention.dense.bias";
           w.layer["up_bias"] = L + "mlp.dense_h_to_4h.bias";
           w.layer["down_bias"] = L + "mlp.dense_4h_to_h.bias";
         }
       }},
      {"gpt2",
       [](const Config& c, Spec& s, const ImportOptions& o) {
         const std::string T = gpt_conv1d(c, s, o, "wte.weight", "wpe.weight");
         if (!c.get<bool>("tie_word_embeddings", true)) c.fail("tie_word_embeddings", "GPT-2 checkpoints have no separate lm_head");
         if (c.get<bool>("scale_attn_by_inverse_layer_idx", false))
           c.fail("scale_attn_by_inverse_layer_idx", "per-layer attention scaling is not supported");
         if (!c.get<bool>("scale_attn_weights", true)) s.attention.scale = 1.0;
         s.mlp.activation = activation_from(c, "activation_function", c.get<std::string>("activation_function", "gelu_new"));
         s.mlp.intermediate.assign(static_cast<size_t>(s.num_layers),
                                   c.has("n_inner") ? c.req<int64_t>("n_inner") : 4 * s.hidden_size);
         s.weights.final_norm = T + "ln_f.weight";
         s.weights.final_norm_bias = T + "ln_f.bias";
         // Older checkpoints store the causal mask buffers.
         s.weights.unused.push_back(T + "h.{i}.attn.masked_bias");
       }},
      {"openai-gpt",
       [](const Config& c, Spec& s, const ImportOptions& o) {
         // GPT-1 (modeling_openai.py): Post-LN blocks n = ln_1(x + attn(x)); h = ln_2(n + mlp(n)); no final norm.
         gpt_conv1d(c, s, o, "tokens_embed.weight", "positions_embed.weight");
         s.residual = Residual::post_ln;
         // ACT_FNS in modeling_openai.py: "gelu" is gelu_new (tanh), "swish"/"silu" SiLU, "relu".
         const std::string afn = c.get<std::string>("afn", "gelu");
         s.mlp.activation = afn == "gelu" ? Activation::gelu_tanh : activation_from(c, "afn", afn);
         s.mlp.intermediate.assign(static_cast<size_t>(s.num_layers), 4 * s.hidden_size);
       }},
      {"baichuan",
       [](const Config& c, Spec& s, const ImportOptions& o) {
         // Baichuan 1/2 7B use RoPE and name max_position_embeddings; the 13B models use ALiBi and only name
         // model_max_length (their modeling code has no rotary embedding at all).
         const bool alibi = !c.has("max_position_embeddings");
         Config with_context = c;
         if (alibi) with_context.set("max_position_embeddings", c.req<int64_t>("model_max_length"));
         llama_like(with_context, s, o);
         s.attention.qkv = QkvLayout::fused;
         const std::string L = "model.layers.{i}.";
         for (const char* r : {"q", "k", "v"}) s.weights.layer.erase(r);
         s.weights.layer["qkv"] = L + "self_attn.W_pack.weight";
         if (alibi) s.positions = PositionKind::alibi;
         // Baichuan 2 (NormHead) configs carry z_loss_weight; Baichuan 1 configs do not.
         s.norm_head = c.has("z_loss_weight");
         s.add_bos = false;
       }},
      {"chatglm",
       [](const Config& c, Spec& s, const ImportOptions& o) {
         // THUDM ChatGLM2/3 (GLM-4 similar) remote code: modeling_chatglm.py.
         s.vocab_size = c.req<int64_t>("padded_vocab_size");
         s.hidden_size = c.req<int64_t>("hidden_size");
         s.num_layers = c.req<int64_t>("num_layers");
         s.max_context = context_for(c.req<int64_t>("seq_length"), o);
         s.tied_embeddings = false;
         if (c.get<bool>("apply_residual_connection_post_layernorm", false))
           c.fail("apply_residual_connection_post_layernorm", "residuals taken after the norm are not supported");
         if (!c.get<bool>("post_layer_norm", true)) c.fail("post_layer_norm", "a model without final norm is not supported");
         if (!c.get<bool>("original_rope", true)) c.fail("original_rope", "only original_rope: true is supported");
         if (c.has("pre_seq_len")) c.fail("pre_seq_len", "P-tuning prefixes are not supported");
         const int64_t heads = c.req<int64_t>("num_attention_heads");
         const int64_t kv = c.get<bool>("multi_query_attention", false) ? c.req<int64_t>("multi_query_group_num") : heads;
         s.attention.heads.assign(static_cast<size_t>(s.num_layers), heads);
         s.attention.kv_heads.assign(static_cast<size_t>(s.num_layers), kv);
         s.attention.head_dim = c.get<int64_t>("kv_channels", s.hidden_size / heads);
         s.attention.window.assign(static_cast<size_t>(s.num_layers), 0);
         s.attention.qkv = QkvLayout::fused;
         const bool qkv_bias = c.get<bool>("add_qkv_bias", false), bias = c.get<bool>("add_bias_linear", false);
         s.attention.bias_q = s.attention.bias_k = s.attention.bias_v = qkv_bias || bias;
         s.attention.bias_o = bias;
         const bool rms = c.get<bool>("rmsnorm", true);
         s.norm = {rms ? NormKind::rms : NormKind::layer, NormWeight::plain, !rms, c.get<double>("layernorm_epsilon", 1e-5)};
         // RotaryEmbedding(kv_channels // 2): the first half of each head rotates, adjacent pairs.
         s.positions = PositionKind::rope;
         s.rope.theta = 10000.0 * c.get<double>("rope_ratio", 1.0);
         s.rope.pairing = RopePairing::interleaved;
         s.rope.rotary_dim = s.attention.head_dim / 2;
         s.mlp.kind = MlpKind::gated;
         s.mlp.activation = Activation::silu;
         s.mlp.fused_gate_up = true;  // dense_h_to_4h = [gate; up] (swiglu chunks it in two)
         s.mlp.bias = bias;
         s.mlp.intermediate.assign(static_cast<size_t>(s.num_layers), c.req<int64_t>("ffn_hidden_size"));
         s.bos = c.token("bos_token_id");
         s.eos = c.token("eos_token_id");
         s.add_bos = false;  // the tokenizer's [gMASK]<sop> prefix is part of the prompt
         const std::string L = "transformer.encoder.layers.{i}.";
         WeightNames& w = s.weights;
         w.embed = "transformer.embedding.word_embeddings.weight";
         w.final_norm = "transformer.encoder.final_layernorm.weight";
         w.lm_head = "transformer.output_layer.weight";
         w.layer = {{"attn_norm", L + "input_layernorm.weight"},
                    {"qkv", L + "self_attention.query_key_value.weight"},
                    {"o", L + "self_attention.dense.weight"},
                    {"ffn_norm", L + "post_attention_layernorm.weight"},
                    {"gate_up", L + "mlp.dense_h_to_4h.weight"},
                    {"down", L + "mlp.dense_4h_to_h.weight"}};
         if (!rms) {
           w.final_norm_bias = "transformer.encoder.final_layernorm.bias";
           w.layer["attn_norm_bias"] = L + "input_layernorm.bias";
           w.layer["ffn_norm_bias"] = L + "post_attention_layernorm.bias";
         }
         if (s.attention.bias_q) w.layer["qkv_bias"] = L + "self_attention.query_key_value.bias";
         if (bias) {
           w.layer["o_bias"] = L + "self_attention.dense.bias";
           w.layer["gate_up_bias"] = L + "mlp.dense_h_to_4h.bias";
           w.layer["down_bias"] = L + "mlp.dense_4h_to_h.bias";
         }
         w.unused = {"transformer.rotary_pos_emb.inv_freq"};
       }},
      {"cohere",
       [](const Config& c, Spec& s, const ImportOptions& o) {
         llama_like(c, s, o);
         s.tied_embeddings = c.get<bool>("tie_word_embeddings", true);
         s.weights.lm_head = s.tied_embeddings ? "" : "lm_head.weight";
         s.norm = {NormKind::layer, NormWeight::plain, false, c.req<double>("layer_norm_eps")};
         s.residual = Residual::parallel;
         s.rope.pairing = RopePairing::interleaved;
         s.logit_scale = c.req<double>("logit_scale");
         const std::string L = "model.layers.{i}.";
         s.weights.layer.erase("ffn_norm");
         if (c.get<bool>("use_qk_norm", false)) {
           // CohereLayerNorm over head_dim with a [heads, head_dim] weight: every head has its own.
           s.attention.qk_norm = QkNorm::per_head;
           s.attention.qk_norm_weights = QkNormWeights::per_head;
           s.attention.qk_norm_spec = s.norm;
           s.weights.layer["q_norm"] = L + "self_attn.q_norm.weight";
           s.weights.layer["k_norm"] = L + "self_attn.k_norm.weight";
         }
       }},
      {"openelm",
       [](const Config& c, Spec& s, const ImportOptions& o) {
         // apple OpenELM remote code (modeling_openelm.py, configuration_openelm.py).
         s.vocab_size = c.req<int64_t>("vocab_size");
         s.hidden_size = c.req<int64_t>("model_dim");
         s.num_layers = c.req<int64_t>("num_transformer_layers");
         s.max_context = context_for(c.get<int64_t>("max_context_length", 2048), o);
         s.tied_embeddings = c.get<bool>("share_input_output_layers", false);
         const int64_t L_ = s.num_layers, d = s.hidden_size;
         const int64_t head_dim = c.req<int64_t>("head_dim");
         const int64_t groups = c.get<int64_t>("num_gqa_groups", 1);
         // make_divisible from configuration_openelm.py.
         auto make_divisible = [](double v, int64_t k) {
           int64_t n = std::max<int64_t>(k, static_cast<int64_t>(v + static_cast<double>(k) / 2) / k * k);
           if (static_cast<double>(n) < 0.9 * v) n += k;
           return n;
         };
         // A number, two ends of np.linspace rounded to 2 decimals, or one value per layer.
         auto per_layer = [&](const std::string& key) {
           std::vector<double> v;
           const json& j = c.raw(key);
           if (j.is_number()) v.assign(static_cast<size_t>(L_), j.get<double>());
           else if (j.is_array() && static_cast<int64_t>(j.size()) == L_) v = j.get<std::vector<double>>();
           else if (j.is_array() && j.size() == 2) {
             const double a = j[0].get<double>(), b = j[1].get<double>();
             for (int64_t i = 0; i < L_; ++i) {
               const double x = L_ == 1 ? a : a + (b - a) * static_cast<double>(i) / static_cast<double>(L_ - 1);
               v.push_back(std::round(x * 100.0) / 100.0);
             }
           } else {
             c.fail(key, fmt::format("expected a number, two numbers or {} numbers", L_));
           }
           return v;
         };
         if (c.has("num_query_heads") && c.raw("num_query_heads").is_array()) {
           s.attention.heads = c.req<std::vector<int64_t>>("num_query_heads");
           s.attention.kv_heads = c.has("num_kv_heads") ? c.req<std::vector<int64_t>>("num_kv_heads")
                                                         : std::vector<int64_t>();
           if (s.attention.kv_heads.empty())
             for (int64_t h : s.attention.heads) s.attention.kv_heads.push_back(h / groups);
         } else {
           for (double m : per_layer("qkv_multipliers")) {
             const int64_t q_dim = make_divisible(static_cast<double>(d) * m, head_dim * groups);
             s.attention.heads.push_back(q_dim / head_dim);
             s.attention.kv_heads.push_back(q_dim / head_dim / groups);
           }
         }
         if (static_cast<int64_t>(s.attention.heads.size()) != L_ || static_cast<int64_t>(s.attention.kv_heads.size()) != L_)
           c.fail("num_query_heads", fmt::format("expected {} values (one per layer)", L_));
         const int64_t divisor = c.get<int64_t>("ffn_dim_divisor", 256);
         for (double m : per_layer("ffn_multipliers"))
           s.mlp.intermediate.push_back(make_divisible(m * static_cast<double>(d), divisor));
         s.attention.head_dim = head_dim;
         s.attention.window.assign(static_cast<size_t>(L_), 0);
         s.attention.qkv = QkvLayout::fused;
         if (c.get<std::string>("normalization_layer_name", "rms_norm") != "rms_norm")
           c.fail("normalization_layer_name", "only rms_norm is supported");
         s.norm = {NormKind::rms, NormWeight::plain, false, 1e-6};  // OpenELMRMSNorm's default eps
         if (c.get<bool>("normalize_qk_projections", false)) {
           s.attention.qk_norm = QkNorm::per_head;
           s.attention.qk_norm_spec = s.norm;
         }
         s.positions = PositionKind::rope;
         s.rope.theta = c.get<double>("rope_freq_constant", 10000.0);
         s.rope.pairing = RopePairing::half;
         s.rope.rotary_dim = head_dim;
         if (!c.get<bool>("ffn_with_glu", true)) c.fail("ffn_with_glu", "only the GLU feed-forward is supported");
         s.mlp.kind = MlpKind::gated;
         s.mlp.fused_gate_up = true;  // proj_1 = [gate; up]
         s.mlp.activation = activation_from(c, "activation_fn_name", c.get<std::string>("activation_fn_name", "swish"));
         s.bos = c.token("bos_token_id");
         s.eos = c.token("eos_token_id");
         s.add_bos = s.bos >= 0;
         const std::string L = "transformer.layers.{i}.";
         WeightNames& w = s.weights;
         w.embed = "transformer.token_embeddings.weight";
         w.final_norm = "transformer.norm.weight";
         w.lm_head = s.tied_embeddings ? "" : "lm_head.weight";
         w.layer = {{"attn_norm", L + "attn_norm.weight"}, {"qkv", L + "attn.qkv_proj.weight"},
                    {"o", L + "attn.out_proj.weight"},     {"ffn_norm", L + "ffn_norm.weight"},
                    {"gate_up", L + "ffn.proj_1.weight"},  {"down", L + "ffn.proj_2.weight"}};
         if (s.attention.qk_norm != QkNorm::none) {
           w.layer["q_norm"] = L + "attn.q_norm.weight";
           w.layer["k_norm"] = L + "attn.k_norm.weight";
         }
       }},
      {"minicpm",
       [](const Config& c, Spec& s, const ImportOptions& o) {
         // openbmb MiniCPM remote code: µP scales on embeddings, residual branches and the classifier input.
         llama_like(c, s, o);
         s.tied_embeddings = c.get<bool>("tie_word_embeddings", true);
         s.weights.lm_head = s.tied_embeddings ? "" : "lm_head.weight";
         // Later MiniCPM configs can switch the scales off (use_mup: false); the 2B remote code always applies them.
         if (c.get<bool>("use_mup", true)) {
           s.embedding_scale = c.req<double>("scale_emb");
           s.residual_scale = c.req<double>("scale_depth") / std::sqrt(static_cast<double>(s.num_layers));
           // lm_head(h / (hidden_size / dim_model_base)) is the logits × dim_model_base / hidden_size.
           s.logit_scale = c.req<double>("dim_model_base") / static_cast<double>(s.hidden_size);
         }
       }},
      {"olmo2",
       [](const Config& c, Spec& s, const ImportOptions& o) {
         // OLMo 2: no input norms; a norm on each branch output; RMSNorm over the whole q and k projections.
         llama_like(c, s, o);
         s.pre_norms = false;
         s.post_norms = true;
         s.attention.qk_norm = QkNorm::whole;
         s.attention.qk_norm_spec = s.norm;
         const std::string L = "model.layers.{i}.";
         auto& w = s.weights.layer;
         w.erase("attn_norm");
         w.erase("ffn_norm");
         w["post_attn_norm"] = L + "post_attention_layernorm.weight";
         w["post_ffn_norm"] = L + "post_feedforward_layernorm.weight";
         w["q_norm"] = L + "self_attn.q_norm.weight";
         w["k_norm"] = L + "self_attn.k_norm.weight";
       }},
      {"qwen",
       [](const Config& c, Spec& s, const ImportOptions& o) {
         // Qwen (1) remote code (Qwen/Qwen-7B modeling_qwen.py).
         s.vocab_size = c.req<int64_t>("vocab_size");
         s.hidden_size = c.req<int64_t>("hidden_size");
         s.num_layers = c.req<int64_t>("num_hidden_layers");
         const int64_t trained = c.req<int64_t>("seq_length");
         s.max_context = context_for(trained, o);
         // Beyond seq_length the reference switches on dynamic NTK RoPE and log-n attention scaling.
         if (s.max_context > trained && (c.get<bool>("use_dynamic_ntk", false) || c.get<bool>("use_logn_attn", false)))
           c.fail("seq_length", fmt::format("a context of {} needs dynamic NTK / log-n scaling, which is not supported",
                                            s.max_context));
         s.tied_embeddings = c.get<bool>("tie_word_embeddings", false);
         const int64_t heads = c.req<int64_t>("num_attention_heads");
         s.attention.heads.assign(static_cast<size_t>(s.num_layers), heads);
         s.attention.kv_heads = s.attention.heads;
         s.attention.head_dim = c.get<int64_t>("kv_channels", s.hidden_size / heads);
         s.attention.window.assign(static_cast<size_t>(s.num_layers), 0);
         s.attention.qkv = QkvLayout::fused;
         const bool bias = !c.get<bool>("no_bias", true);
         s.attention.bias_q = s.attention.bias_k = s.attention.bias_v = true;  // c_attn always has a bias
         s.attention.bias_o = bias;
         s.norm = {NormKind::rms, NormWeight::plain, false, c.get<double>("layer_norm_epsilon", 1e-6)};
         s.positions = PositionKind::rope;
         s.rope.theta = c.get<double>("rotary_emb_base", 10000.0);
         s.rope.pairing = RopePairing::half;
         s.rope.rotary_dim = static_cast<int64_t>(static_cast<double>(s.attention.head_dim) * c.get<double>("rotary_pct", 1.0));
         s.mlp.kind = MlpKind::gated;
         s.mlp.activation = Activation::silu;
         s.mlp.bias = bias;
         s.mlp.intermediate.assign(static_cast<size_t>(s.num_layers), c.req<int64_t>("intermediate_size") / 2);
         s.bos = c.token("bos_token_id");
         s.eos = c.token("eos_token_id");
         s.add_bos = false;
         const std::string L = "transformer.h.{i}.";
         WeightNames& w = s.weights;
         w.embed = "transformer.wte.weight";
         w.final_norm = "transformer.ln_f.weight";
         w.lm_head = s.tied_embeddings ? "" : "lm_head.weight";
         // QWenMLP: c_proj(w1(x) · silu(w2(x))): w2 is the gate, w1 the up projection.
         w.layer = {{"attn_norm", L + "ln_1.weight"}, {"qkv", L + "attn.c_attn.weight"},
                    {"qkv_bias", L + "attn.c_attn.bias"}, {"o", L + "attn.c_proj.weight"},
                    {"ffn_norm", L + "ln_2.weight"},  {"gate", L + "mlp.w2.weight"},
                    {"up", L + "mlp.w1.weight"},      {"down", L + "mlp.c_proj.weight"}};
         if (bias) {
           w.layer["o_bias"] = L + "attn.c_proj.bias";
           w.layer["gate_bias"] = L + "mlp.w2.bias";
           w.layer["up_bias"] = L + "mlp.w1.bias";
           w.layer["down_bias"] = L + "mlp.c_proj.bias";
         }
       }},
      {"gpt_neox",
       [](const Config& c, Spec& s, const ImportOptions& o) {
         s.vocab_size = c.req<int64_t>("vocab_size");
         s.hidden_size = c.req<int64_t>("hidden_size");
         s.num_layers = c.req<int64_t>("num_hidden_layers");
         s.max_context = context_for(c.req<int64_t>("max_position_embeddings"), o);
         s.tied_embeddings = c.get<bool>("tie_word_embeddings", false);
         const int64_t heads = c.req<int64_t>("num_attention_heads");
         s.attention.heads.assign(static_cast<size_t>(s.num_layers), heads);
         s.attention.kv_heads.assign(static_cast<size_t>(s.num_layers), heads);
         s.attention.head_dim = s.hidden_size / heads;
         s.attention.window.assign(static_cast<size_t>(s.num_layers), 0);
         s.attention.qkv = QkvLayout::fused_per_head;
         const bool bias = c.get<bool>("attention_bias", true);
         s.attention.bias_q = s.attention.bias_k = s.attention.bias_v = s.attention.bias_o = bias;
         s.norm = {NormKind::layer, NormWeight::plain, true, c.req<double>("layer_norm_eps")};
         s.positions = PositionKind::rope;
         s.rope.theta = c.get<double>("rope_theta", c.get<double>("rotary_emb_base", 10000.0));
         s.rope.pairing = RopePairing::half;
         s.rope.rotary_dim = static_cast<int64_t>(s.attention.head_dim *
                                                  c.get<double>("partial_rotary_factor", c.get<double>("rotary_pct", 1.0)));
         s.mlp.kind = MlpKind::plain;
         s.mlp.activation = activation_from(c, "hidden_act", c.req<std::string>("hidden_act"));
         s.mlp.intermediate.assign(static_cast<size_t>(s.num_layers), c.req<int64_t>("intermediate_size"));
         s.mlp.bias = true;
         s.residual = c.get<bool>("use_parallel_residual", true) ? Residual::parallel : Residual::sequential;
         s.bos = c.token("bos_token_id");
         s.eos = c.token("eos_token_id");
         s.add_bos = false;
         const std::string L = "gpt_neox.layers.{i}.";
         WeightNames& w = s.weights;
         w.embed = "gpt_neox.embed_in.weight";
         w.final_norm = "gpt_neox.final_layer_norm.weight";
         w.final_norm_bias = "gpt_neox.final_layer_norm.bias";
         w.lm_head = s.tied_embeddings ? "" : "embed_out.weight";
         w.layer = {{"attn_norm", L + "input_layernorm.weight"},      {"attn_norm_bias", L + "input_layernorm.bias"},
                    {"ffn_norm", L + "post_attention_layernorm.weight"},
                    {"ffn_norm_bias", L + "post_attention_layernorm.bias"},
                    {"qkv", L + "attention.query_key_value.weight"}, {"o", L + "attention.dense.weight"},
                    {"up", L + "mlp.dense_h_to_4h.weight"},          {"up_bias", L + "mlp.dense_h_to_4h.bias"},
                    {"down", L + "mlp.dense_4h_to_h.weight"},        {"down_bias", L + "mlp.dense_4h_to_h.bias"}};
         if (bias) {
           w.layer["qkv_bias"] = L + "attention.query_key_value.bias";
           w.layer["o_bias"] = L + "attention.dense.bias";
         }
       }},
  };
  return table;
}

json read_json(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw Error(path + ": cannot open");
  try {
    return json::parse(in);
  } catch (const json::exception& e) {
    throw Error(path + ": not valid JSON: " + e.what());
  }
}

}  // namespace

std::vector<std::string> supported_model_types() {
  std::vector<std::string> names;
  for (const auto& [name, fn] : importers()) names.push_back(name);
  return names;
}

Spec import_hf(const std::string& path, const ImportOptions& options) {
  fs::path config_path(path);
  if (fs::is_directory(config_path)) config_path /= "config.json";
  Config c(read_json(config_path.string()), config_path.string());
  const std::string type = c.req<std::string>("model_type");
  auto it = importers().find(type);
  if (it == importers().end())
    c.fail("model_type", fmt::format("'{}' is not supported; supported model types: {}", type,
                                     fmt::join(supported_model_types(), ", ")));
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
  // The loader exposes llama2.c tensors under the Hugging Face Llama names.
  set_llama_weight_names(s);
  return s;
}

Spec import_any(const std::string& path, const ImportOptions& options) {
  std::error_code ec;
  if (!fs::exists(path, ec)) throw Error(path + ": no such file or folder");
  if (fs::is_directory(path, ec) || fs::path(path).extension() == ".json") return import_hf(path, options);
  return import_llama2c(path, options);
}

}  // namespace llmc
