// `llmc import model.gguf`: a spec from a GGUF file's metadata and tensor directory. The metadata becomes the
// config.json its family's Hugging Face importer reads (import_families.cpp), so a family's fields are decided
// in one place for both; the tensor names are llama.cpp's, by role. What convert_hf_to_gguf.py changed on the
// way (rope pairing, Gemma's norm weights) is written into the spec, never converted back: the binary maps the
// same GGUF file as its weights.
#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <map>
#include <optional>

#include "import.hpp"
#include "import_config.hpp"
#include "llmc/gguf.hpp"
#include "llmc/weights_loader.hpp"

namespace llmc {
namespace {

using import_detail::Config;
using nlohmann::json;

// The GGUF metadata, with errors that name the file and key.
class GgufMeta {
 public:
  GgufMeta(const std::string& path, gguf::File file, std::string arch)
      : path_(path), file_(std::move(file)), arch_(std::move(arch)) {
    for (const auto& t : file_.tensors) tensors_[t.name] = &t;
  }

  [[noreturn]] void fail(const std::string& key, const std::string& what) const {
    throw Error(fmt::format("{}: GGUF metadata '{}' {}", path_, key, what));
  }
  const std::string& arch() const { return arch_; }
  const std::string& path() const { return path_; }
  const gguf::Value* find(const std::string& key) const { return gguf::find(file_, key); }
  bool has(const std::string& key) const { return find(arch_ + "." + key) != nullptr; }
  // "<arch>.<key>" as an integer ≥ 0 (required unless a default is given). A per-layer array is refused.
  int64_t count(const std::string& key, std::optional<int64_t> fallback = std::nullopt) const {
    const std::string k = arch_ + "." + key;
    const gguf::Value* v = find(k);
    if (!v) {
      if (fallback) return *fallback;
      fail(k, "is missing");
    }
    if (v->type == gguf::kArray) fail(k, "differs per layer, which llmc imports for openelm only");
    if (!v->is_integer() || v->i < 0) fail(k, "must be a non-negative integer");
    return v->i;
  }
  // "<arch>.<key>" per layer: an array of `layers` positive integers, or one (every layer's).
  std::vector<int64_t> per_layer(const std::string& key, int64_t layers) const {
    const std::string k = arch_ + "." + key;
    const gguf::Value* v = find(k);
    if (!v || v->type != gguf::kArray) return std::vector<int64_t>(static_cast<size_t>(layers), positive(key));
    if (v->nums.size() != v->length) fail(k, "is not an array of numbers");
    if (static_cast<int64_t>(v->nums.size()) != layers)
      fail(k, fmt::format("has {} values for {} layers", v->nums.size(), layers));
    std::vector<int64_t> values;
    for (double x : v->nums) {
      if (!(x >= 1 && x <= 1e9) || x != std::floor(x)) fail(k, fmt::format("holds {}: not a positive integer", x));
      values.push_back(static_cast<int64_t>(x));
    }
    return values;
  }
  int64_t positive(const std::string& key) const {
    const int64_t n = count(key);
    if (n == 0) fail(arch_ + "." + key, "is 0");
    return n;
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
  bool has_tensor(const std::string& name) const { return tensor(name) != nullptr; }

 private:
  std::string path_;
  gguf::File file_;
  std::string arch_;
  std::map<std::string, const gguf::Tensor*> tensors_;
};

// The state-space architectures: no attention (MambaModel writes attention.head_count 0, "unused").
bool is_state_space(const GgufMeta& m) { return m.arch() == "mamba" || m.arch() == "mamba2"; }

// The config.json keys every family reads, from the metadata llama.cpp's writer gives every architecture. Where
// the family's layers differ in width (per_layer_widths: OpenELM), head counts and FFN widths may be per-layer
// arrays: the scalar keys then hold the widest layer's, and the family's keys read the arrays.
json keys_common(const GgufMeta& m, bool per_layer_widths) {
  json c;
  const int64_t hidden = m.count("embedding_length"), layers = m.count("block_count");
  if (layers == 0 || layers > kMaxLayers)  // before anything is sized per layer
    m.fail(m.arch() + ".block_count", fmt::format("is {}: not between 1 and {}", layers, kMaxLayers));
  auto width = [&](const std::string& key, std::optional<int64_t> fallback = std::nullopt) {
    if (!per_layer_widths || (fallback && !m.has(key))) return m.count(key, fallback);
    const std::vector<int64_t> v = m.per_layer(key, layers);
    return *std::max_element(v.begin(), v.end());
  };
  if (hidden == 0) m.fail(m.arch() + ".embedding_length", "is 0");
  c["hidden_size"] = hidden;
  c["num_hidden_layers"] = layers;
  c["max_position_embeddings"] = m.count("context_length");
  const gguf::Tensor* embed = m.tensor("token_embd.weight");
  if (!embed || embed->ne.size() != 2)
    throw Error(m.path() + ": no 2-D tensor 'token_embd.weight' (the token embeddings)");
  c["vocab_size"] = embed->ne[1];
  c["tie_word_embeddings"] = !m.has_tensor("output.weight");
  if (const int64_t bos = m.token("tokenizer.ggml.bos_token_id"); bos >= 0) c["bos_token_id"] = bos;
  if (const int64_t eos = m.token("tokenizer.ggml.eos_token_id"); eos >= 0) c["eos_token_id"] = eos;
  if (is_state_space(m)) return c;
  const int64_t heads = width("attention.head_count");
  if (heads == 0) m.fail(m.arch() + ".attention.head_count", "is 0");
  c["num_attention_heads"] = heads;
  c["num_key_value_heads"] = width("attention.head_count_kv", heads);
  // Multi-head latent attention states its head sizes otherwise (keys_deepseek2).
  if (!m.has("attention.kv_lora_rank")) {
    const int64_t head_dim = m.count("attention.key_length", hidden / heads);
    if (head_dim == 0)
      m.fail(m.arch() + ".attention.head_count",
             fmt::format("is {}: heads of embedding_length {} would be empty", heads, hidden));
    if (m.has("attention.key_length")) c["head_dim"] = head_dim;
    if (m.count("attention.value_length", head_dim) != head_dim)
      m.fail(m.arch() + ".attention.value_length", "differs from the key length, which llmc does not import");
  }
  if (m.has("feed_forward_length")) c["intermediate_size"] = width("feed_forward_length");
  if (m.has("attention.layer_norm_rms_epsilon")) c["rms_norm_eps"] = m.real("attention.layer_norm_rms_epsilon", 0);
  if (m.has("attention.layer_norm_epsilon")) c["layer_norm_eps"] = m.real("attention.layer_norm_epsilon", 0);
  if (m.has("attention.sliding_window")) c["sliding_window"] = m.count("attention.sliding_window");
  c["rope_theta"] = m.real("rope.freq_base", 10000.0);
  if (const gguf::Value* scaling = m.find(m.arch() + ".rope.scaling.type")) {
    const bool deepseek_yarn = scaling->s == "yarn" && m.arch() == "deepseek2";  // keys_deepseek2
    if (scaling->s == "linear")
      c["rope_scaling"] = {{"rope_type", "linear"}, {"factor", m.real("rope.scaling.factor", 1.0)}};
    else if (scaling->s != "none" && !deepseek_yarn)
      m.fail(m.arch() + ".rope.scaling.type",
             "is '" + scaling->s + "' (supported: none, linear; yarn for deepseek2)");
  }
  c["attention_bias"] = m.has_tensor("blk.0.attn_q.bias") && m.has_tensor("blk.0.attn_output.bias");
  c["mlp_bias"] = m.has_tensor("blk.0.ffn_down.bias");
  return c;
}

// A head's width as the config states it for the family importers: head_dim when the file gives key_length
// (keys_common), else hidden / heads.
int64_t config_head_dim(const json& c) {
  return c.value("head_dim", c["hidden_size"].get<int64_t>() / c["num_attention_heads"].get<int64_t>());
}

void keys_none(const GgufMeta&, json&) {}

// Llama 3's rope scaling. convert_hf_to_gguf.py (LlamaModel.generate_extra_tensors) stores its divisor of each
// rotary frequency as the tensor rope_freqs.weight, not the parameters it computed them from; the spec states
// parameters (as config.json's rope_scaling), so this finds the first of the usual ones that gives the same
// divisors: factor is the largest divisor, low_freq_factor 1, 2 or 4, high_freq_factor 2 to 32 and the original
// context a power of two. A divisor depends on those only through the two wavelengths where smoothing starts
// and ends, so any set that reproduces the tensor gives the model the same rotations.
void keys_llama3_rope(const GgufMeta& m, json& c) {
  const gguf::Tensor* t = m.tensor("rope_freqs.weight");
  const int64_t dim = config_head_dim(c);
  if (dim < 2 || t->type != GgmlType::f32 || t->ne.size() != 1 || static_cast<int64_t>(t->ne[0]) * 2 != dim)
    throw Error(fmt::format("{}: tensor 'rope_freqs.weight' must be F32 with {} values (half the head size)", m.path(),
                            dim / 2));
  std::vector<float> divisors(static_cast<size_t>(dim / 2));
  std::memcpy(divisors.data(), t->data, divisors.size() * sizeof(float));
  const double base = c["rope_theta"].get<double>(), factor = *std::max_element(divisors.begin(), divisors.end());
  auto divisor = [&](size_t i, double low, double high, double original) {  // as generate_extra_tensors
    const float freq = 1.0f / static_cast<float>(std::pow(base, static_cast<double>(2 * i) / static_cast<double>(dim)));
    const double wavelen = 2 * M_PI / freq;
    if (wavelen < original / high) return 1.0;
    if (wavelen > original / low) return factor;
    const double smooth = (original / wavelen - low) / (high - low);
    return 1 / ((1 - smooth) / factor + smooth);
  };
  for (double low : {1.0, 2.0, 4.0})
    for (double high : {2.0, 4.0, 8.0, 16.0, 32.0})
      for (int64_t original = 64; high > low && original <= (int64_t{1} << 22); original *= 2) {
        bool same = true;
        for (size_t i = 0; i < divisors.size() && same; ++i)
          same = std::fabs(divisor(i, low, high, static_cast<double>(original)) - divisors[i]) <= 1e-5 * divisors[i];
        if (!same) continue;
        c["rope_scaling"] = {{"rope_type", "llama3"},      {"factor", factor},         {"low_freq_factor", low},
                             {"high_freq_factor", high},   {"original_max_position_embeddings", original}};
        return;
      }
  throw Error(m.path() + ": tensor 'rope_freqs.weight' matches no Llama 3 rope scaling (low_freq_factor 1, 2 or 4, "
                         "high_freq_factor 2 to 32, an original context of a power of two)");
}

// The routed experts of llama.cpp's MoE architectures (expert_count, expert_used_count, and the experts' width
// when it differs from the dense one).
void keys_experts(const GgufMeta& m, json& c) {
  const int64_t experts = m.count("expert_count"), used = m.count("expert_used_count");
  if (used == 0 || used > experts)
    m.fail(m.arch() + ".expert_used_count", fmt::format("is {}: not between 1 and the {} experts", used, experts));
  c["num_experts"] = c["num_local_experts"] = experts;
  c["num_experts_per_tok"] = used;
  if (m.has("expert_feed_forward_length")) c["moe_intermediate_size"] = m.count("expert_feed_forward_length");
}

// llama: Mixtral is a llama with experts in GGUF; Llama 3.1 / 3.2 carry rope_freqs.weight.
void keys_llama(const GgufMeta& m, json& c) {
  if (m.count("expert_count", 0) > 0) {
    c["model_type"] = "mixtral";
    keys_experts(m, c);
  }
  if (m.has_tensor("rope_freqs.weight")) keys_llama3_rope(m, c);
}

// Phi-3's LongRoPE (Phi3MiniModel.generate_extra_tensors): the short and long factor lists as the tensors
// rope_factors_short / rope_factors_long (F32, one value per rotated pair), the original context and the
// cos / sin multiplier as keys. Hugging Face reads the lists as float32, so the tensors' values are its own.
std::vector<double> rope_factor_list(const GgufMeta& m, const std::string& name, int64_t pairs) {
  const gguf::Tensor* t = m.tensor(name);
  if (!t)
    throw Error(fmt::format("{}: tensor '{}' is missing (a LongRoPE file has both factor lists)", m.path(), name));
  if (t->type != GgmlType::f32 || t->ne.size() != 1 || static_cast<int64_t>(t->ne[0]) != pairs)
    throw Error(fmt::format("{}: tensor '{}' must be F32 with {} values (half the rotary dimension)", m.path(), name,
                            pairs));
  std::vector<float> values(static_cast<size_t>(pairs));
  std::memcpy(values.data(), t->data, values.size() * sizeof(float));
  std::vector<double> factors;
  for (float v : values) {
    if (!std::isfinite(v) || v <= 0)
      throw Error(fmt::format("{}: tensor '{}' holds {}: not a positive factor", m.path(), name, v));
    factors.push_back(std::stod(fmt::format("{}", v)));  // the shortest decimal that reads back as the float
  }
  return factors;
}

void keys_phi3(const GgufMeta& m, json& c) {
  if (!m.has_tensor("rope_factors_long.weight") && !m.has_tensor("rope_factors_short.weight")) return;
  const int64_t pairs = m.count("rope.dimension_count", config_head_dim(c)) / 2;
  json scaling = {{"rope_type", "longrope"},
                  {"short_factor", rope_factor_list(m, "rope_factors_short.weight", pairs)},
                  {"long_factor", rope_factor_list(m, "rope_factors_long.weight", pairs)},
                  {"original_max_position_embeddings", m.count("rope.scaling.original_context_length")}};
  if (m.has("rope.scaling.attn_factor")) scaling["attention_factor"] = m.real("rope.scaling.attn_factor", 1.0);
  c["rope_scaling"] = scaling;
}

// The rotated share of a head (rope.dimension_count, else the whole head), as the partial rotary factor configs
// state.
double rotary_fraction(const GgufMeta& m, int64_t head_dim) {
  return static_cast<double>(m.count("rope.dimension_count", head_dim)) / static_cast<double>(head_dim);
}

// Qwen (1) (QwenModel): c_attn's fused [q; k; v] and its bias as stored, rotate-half pairs, w2 (the gate) as
// ffn_gate and w1 as ffn_up; feed_forward_length is the config's intermediate_size, twice the MLP's width (the
// importer halves it, as QWenMLP does). Files of older converters (the Qwen GGUFs in circulation) carry the
// RMSNorm epsilon as layer_norm_rms_epsilon, which llama.cpp reads; today's converter copies the config's
// layer_norm_epsilon under the LayerNorm key.
void keys_qwen(const GgufMeta& m, json& c) {
  const int64_t head_dim = config_head_dim(c);
  c["seq_length"] = c["max_position_embeddings"];
  c["intermediate_size"] = m.count("feed_forward_length");
  c["kv_channels"] = head_dim;
  c["rotary_emb_base"] = c["rope_theta"];
  c["rotary_pct"] = rotary_fraction(m, head_dim);
  c["layer_norm_epsilon"] = c.contains("rms_norm_eps") ? c["rms_norm_eps"] : c.value("layer_norm_eps", json(1e-6));
  c["no_bias"] = !m.has_tensor("blk.0.attn_output.bias");
}

// OpenELM (OpenELMModel): head counts and FFN widths per layer, the fused qkv as stored with per-head q / k
// RMSNorms, proj_1's [gate; up] split into ffn_gate and ffn_up (adjust_openelm), rotate-half pairs, the
// classifier the embeddings (llama.cpp reads token_embd for both). The widths enter the config as
// ffn_multipliers of width / model_dim with a divisor of 1, which make_divisible rounds back to the widths.
void keys_openelm(const GgufMeta& m, json& c) {
  const int64_t layers = c["num_hidden_layers"], hidden = c["hidden_size"];
  const std::vector<int64_t> heads = m.per_layer("attention.head_count", layers);
  c["num_query_heads"] = heads;
  c["num_kv_heads"] = m.has("attention.head_count_kv") ? m.per_layer("attention.head_count_kv", layers) : heads;
  std::vector<double> multipliers;
  for (int64_t w : m.per_layer("feed_forward_length", layers))
    multipliers.push_back(static_cast<double>(w) / static_cast<double>(hidden));
  c["ffn_multipliers"] = multipliers;
  c["ffn_dim_divisor"] = 1;
  c["model_dim"] = hidden;
  c["num_transformer_layers"] = layers;
  c["head_dim"] = config_head_dim(c);
  c["max_context_length"] = c["max_position_embeddings"];
  c["rope_freq_constant"] = c["rope_theta"];
  c["normalize_qk_projections"] = m.has_tensor("blk.0.attn_q_norm.weight");
  c["share_input_output_layers"] = !m.has_tensor("output.weight");
}

// Llama 4 (Llama4Model): the attention pattern is llama.cpp's code, not the file's: every 4th layer without RoPE,
// the others attending within chunks of 8192 positions and (but in the 128-expert model, Maverick) with q and k
// L2-normalised after RoPE; the NoPE layers scale q by log(⌊(p + 1) / 8192⌋ + 1)·0.1 + 1. MoE every
// interleave_moe_layer_step-th layer (a sigmoid top-k router scaling the experts' input, a shared expert as wide
// as the experts), dense layers of feed_forward_length; Llama 3 rope scaling from rope_freqs.weight. Refused: a
// sliding_window of 0 (MobileLLM-R1: llama.cpp then still runs its last layer without RoPE, with no temperature
// set) and a chunk pattern other than 4.
void keys_llama4(const GgufMeta& m, json& c) {
  keys_experts(m, c);
  c["intermediate_size_mlp"] = m.count("feed_forward_length");
  c["intermediate_size"] = m.count("expert_feed_forward_length");
  c["interleave_moe_layer_step"] = m.count("interleave_moe_layer_step");
  c["use_qk_norm"] = c["num_local_experts"].get<int64_t>() != 128;
  if (m.has("attention.sliding_window") && m.count("attention.sliding_window") == 0)
    m.fail(m.arch() + ".attention.sliding_window", "is 0 (MobileLLM-R1's layout), which llmc does not import");
  if (m.count("attention.sliding_window_pattern", 4) != 4)
    m.fail(m.arch() + ".attention.sliding_window_pattern",
           "is not 4: llama.cpp would chunk other layers than the ones it leaves without RoPE");
  c["attention_chunk_size"] = 8192;
  c["attn_temperature_tuning"] = 1;
  c["floor_scale"] = 8192;
  c["attn_scale"] = 0.1;
  c.erase("sliding_window");
  if (m.has_tensor("rope_freqs.weight")) keys_llama3_rope(m, c);
}

// Grok-1 (GrokModel): attention logits scaled by attention.output_scale, then soft-capped at
// attn_logit_softcapping; embeddings and logits scaled. Without those keys (older files) llama.cpp's defaults,
// Grok-1's values. Four norms per layer (adjust_grok). GGUF keeps no activation: the ports' exact GELU. The
// router's top k weights are taken as they are, as in the reference (Grok-1's JAX code and its PyTorch ports);
// llama.cpp renormalises them, a per-token scale that the RMSNorm after the experts cancels but for its
// epsilon. Grok 2 (a dense FFN beside the experts, a final soft-cap, attention temperature) is refused.
void keys_grok(const GgufMeta& m, json& c) {
  keys_experts(m, c);
  c["attn_output_multiplier"] = m.real("attention.output_scale", 0.08838834764831845);
  c["embedding_multiplier_scale"] = m.real("embedding_scale", 78.38367176906169);
  c["output_multiplier_scale"] = m.real("logit_scale", 0.5773502691896257);
  c["max_attn_value"] = m.real("attn_logit_softcapping", 30.0);
  c["hidden_act"] = "gelu";
  if (m.real("final_logit_softcapping", 0.0) != 0.0)
    m.fail(m.arch() + ".final_logit_softcapping", "is set (Grok 2), which llmc does not import");
  if (m.has("attention.temperature_length"))
    m.fail(m.arch() + ".attention.temperature_length",
           "is set (Grok 2's attention temperature), which llmc does not import");
  if (m.has_tensor("blk.0.ffn_up.weight"))
    throw Error(m.path() + ": tensor 'blk.0.ffn_up.weight' (Grok 2's dense feed-forward beside the experts) is not "
                           "supported");
}

// StableLM (StableLMModel, llama.cpp's models/stablelm.cpp): LayerNorms with bias; a block without ffn_norm is
// parallel (StableLM 2 12B), as llama.cpp decides it; StableLM 2 12B's per-head q / k norms stacked [heads,
// head_dim] (spec qk_norm_weights per_head reads the stacked tensor as it is).
void keys_stablelm(const GgufMeta& m, json& c) {
  c["partial_rotary_factor"] = rotary_fraction(m, config_head_dim(c));
  c["layer_norm_eps"] = m.real("attention.layer_norm_epsilon", 1e-5);
  c["use_parallel_residual"] = !m.has_tensor("blk.0.ffn_norm.weight");
  c["use_qkv_bias"] = m.has_tensor("blk.0.attn_q.bias");
  c["qk_layernorm"] = m.has_tensor("blk.0.attn_q_norm.weight");
}

// GPT-NeoX (GPTNeoXModel): query_key_value regrouped from per-head (q, k, v) to [q; k; v]; the parallel residual
// as the file says (llama.cpp's default true). GGUF keeps no activation: GPT-NeoX's config default, erf GELU.
void keys_gptneox(const GgufMeta& m, json& c) {
  c["rotary_pct"] = rotary_fraction(m, c["hidden_size"].get<int64_t>() / c["num_attention_heads"].get<int64_t>());
  const gguf::Value* parallel = m.find("gptneox.use_parallel_residual");
  c["use_parallel_residual"] = parallel ? parallel->i != 0 : true;
  c["attention_bias"] = m.has_tensor("blk.0.attn_qkv.bias");
  c["hidden_act"] = "gelu";
}

// BLOOM (BloomModel): query_key_value regrouped to [q; k; v] as GPT-NeoX's; the embedding LayerNorm; ALiBi; the
// classifier tied to the embeddings.
void keys_bloom(const GgufMeta& m, json& c) {
  c["n_head"] = c["num_attention_heads"];
  c["layer_norm_epsilon"] = m.real("attention.layer_norm_epsilon", 1e-5);
  c["seq_length"] = c["max_position_embeddings"];
}

// OLMo (OlmoModel): LayerNorms without weights (eps 1e-5), q / k permuted as llama's, clip_qkv as clamp_kqv.
void keys_olmo(const GgufMeta& m, json& c) {
  if (m.has("attention.clamp_kqv")) c["clip_qkv"] = m.real("attention.clamp_kqv", 0.0);
}

// ChatGLM2 / 3 (ChatGLMModel; ChatGLM-6B v1 has no llama.cpp architecture): fused [q; k; v] and [gate; up] as
// stored, RMSNorm, the first half of each head rotating adjacent pairs with base 10000·rope_ratio.
void keys_chatglm(const GgufMeta& m, json& c) {
  const int64_t heads = c["num_attention_heads"], kv = c["num_key_value_heads"];
  const int64_t head_dim = c["hidden_size"].get<int64_t>() / heads;
  if (m.count("rope.dimension_count", head_dim / 2) != head_dim / 2)
    m.fail("chatglm.rope.dimension_count",
           fmt::format("is not half the head size {} (ChatGLM rotates half)", head_dim));
  c["padded_vocab_size"] = c["vocab_size"];
  c["num_layers"] = c["num_hidden_layers"];
  c["seq_length"] = c["max_position_embeddings"];
  c["multi_query_attention"] = kv != heads;
  c["multi_query_group_num"] = kv;
  c["ffn_hidden_size"] = m.count("feed_forward_length");
  c["add_qkv_bias"] = m.has_tensor("blk.0.attn_qkv.bias");
  c["add_bias_linear"] = m.has_tensor("blk.0.attn_output.bias");
  c["layernorm_epsilon"] = m.real("attention.layer_norm_rms_epsilon", 1e-5);
  c["rope_ratio"] = c["rope_theta"].get<double>() / 10000.0;
}

// MiniCPM (MiniCPMModel; llama.cpp runs it as Granite): µP scales as Granite's keys, from which the config's
// scale_emb, scale_depth and dim_model_base are recovered; q / k permuted. Older files without the keys have
// MiniCPM-2B's values (embedding × 12, residual 1.4/√layers, dim_model_base 256).
void keys_minicpm(const GgufMeta& m, json& c) {
  const double layers = c["num_hidden_layers"].get<double>(), hidden = c["hidden_size"].get<double>();
  c["scale_emb"] = m.real("embedding_scale", 12.0);
  c["scale_depth"] = m.real("residual_scale", 1.4 / std::sqrt(layers)) * std::sqrt(layers);
  const double logit_scale = m.real("logit_scale", hidden / 256.0);  // hidden / dim_model_base
  if (!(logit_scale > 0.0)) m.fail("minicpm.logit_scale", "must be positive");
  c["dim_model_base"] = hidden / logit_scale;
}

// BERT (BertModel): the encoder alone (the converter drops the MLM head and the pooler); token types as many as
// token_types.weight has rows; GGUF keeps no activation: BERT's default, erf GELU.
void keys_bert(const GgufMeta& m, json& c) {
  const gguf::Tensor* types = m.tensor("token_types.weight");
  c["type_vocab_size"] = types && types->ne.size() == 2 ? static_cast<int64_t>(types->ne[1]) : int64_t{2};
  c["layer_norm_eps"] = m.real("attention.layer_norm_epsilon", 1e-12);
  c["hidden_act"] = "gelu";
  c["architectures"] = json::array({"BertModel"});
}

// Mamba (MambaModel, conversion/mamba.py): the state-space sizes; FalconMamba's RMSNorms of dt, B and C are not
// part of llmc's Mamba.
void keys_mamba(const GgufMeta& m, json& c) {
  if (const gguf::Value* v = m.find("mamba.ssm.dt_b_c_rms"); v && v->i != 0)
    m.fail("mamba.ssm.dt_b_c_rms", "is true (FalconMamba's norms of dt, B and C), which llmc does not support");
  c["intermediate_size"] = m.count("ssm.inner_size");
  c["state_size"] = m.count("ssm.state_size");
  c["conv_kernel"] = m.count("ssm.conv_kernel");
  c["time_step_rank"] = m.count("ssm.time_step_rank");
  c["layer_norm_epsilon"] = m.real("attention.layer_norm_rms_epsilon", 1e-5);
}

// Mamba 2 (Mamba2Model): time_step_rank is the head count. llama.cpp does not floor dt (time_step_min 0) and
// normalises the gated norm per group, where Hugging Face's Mamba 2 normalises the whole width: a file of more
// than one group would mean two models, so it is refused.
void keys_mamba2(const GgufMeta& m, json& c) {
  const int64_t hidden = c["hidden_size"], inner = m.count("ssm.inner_size"), heads = m.count("ssm.time_step_rank");
  if (heads == 0 || inner % heads != 0)
    m.fail("mamba2.ssm.time_step_rank", fmt::format("is {}: not a head count that divides ssm.inner_size {}", heads,
                                                    inner));
  if (inner % hidden != 0)  // the importer states the width as expand × hidden
    m.fail("mamba2.ssm.inner_size", fmt::format("is {}: not a whole multiple of the hidden size {}", inner, hidden));
  if (const int64_t groups = m.count("ssm.group_count", 1); groups != 1)
    m.fail("mamba2.ssm.group_count", fmt::format("is {}: llama.cpp normalises the gated norm per group, Hugging Face "
                                                 "over the whole width; only 1 group is imported", groups));
  c["expand"] = static_cast<double>(inner / hidden);
  c["num_heads"] = heads;
  c["head_dim"] = inner / heads;
  c["n_groups"] = 1;
  c["state_size"] = m.count("ssm.state_size");
  c["conv_kernel"] = m.count("ssm.conv_kernel");
  c["time_step_min"] = 0.0;
  c["layer_norm_epsilon"] = m.real("attention.layer_norm_rms_epsilon", 1e-5);
}

// PhiMoE (Phi-3.5-MoE; PhiMoeModel is a Phi3MiniModel with stacked experts): LayerNorms with bias, attention and
// classifier biases, LongRoPE as phi3's. Its routing is the model's own, sparsemixer (llama.cpp runs a softmax top 2
// instead: llmc's logits differ from llama.cpp's on such a file), with Phi-3.5-MoE's router_jitter_noise 0.01,
// which GGUF does not keep.
void keys_phimoe(const GgufMeta& m, json& c) {
  keys_phi3(m, c);
  keys_experts(m, c);
  c["router_jitter_noise"] = 0.01;
  c["lm_head_bias"] = m.has_tensor("output.bias");
}

// Qwen2-MoE: one sigmoid-gated shared expert; llama.cpp (models/qwen2moe.cpp) does not renormalise the top k.
void keys_qwen2moe(const GgufMeta& m, json& c) {
  keys_experts(m, c);
  c["shared_expert_intermediate_size"] = m.count("expert_shared_feed_forward_length");
  c["norm_topk_prob"] = false;
}

// Qwen3-MoE: llama.cpp (models/qwen3moe.cpp) always renormalises the top k, as Qwen3-MoE's configs ask.
void keys_qwen3moe(const GgufMeta& m, json& c) {
  keys_experts(m, c);
  c["norm_topk_prob"] = true;
}

// Command-R: LayerNorm without bias, a logit scale, per-head q / k norms in Command R+ (models/command-r.cpp).
void keys_command_r(const GgufMeta& m, json& c) {
  c["logit_scale"] = m.real("logit_scale", 1.0);
  c["use_qk_norm"] = m.has_tensor("blk.0.attn_q_norm.weight");
}

// Gemma 2 and 3 GGUFs do not store query_pre_attn_scalar: llama.cpp (models/gemma2.cpp, gemma3.cpp) scales the
// queries by 1/√head_dim, except in the 27B models (46 and 62 layers), by 1/√(hidden / heads), as their
// configs' query_pre_attn_scalar says.
int64_t gemma_query_scalar(const json& c, int64_t layers_27b) {
  const int64_t hidden = c["hidden_size"], heads = c["num_attention_heads"];
  if (c["num_hidden_layers"].get<int64_t>() == layers_27b) return hidden / heads;
  return config_head_dim(c);
}

// Gemma 2: soft-caps and the window of its even layers, llama.cpp's defaults where a key is absent.
void keys_gemma2(const GgufMeta& m, json& c) {
  if (m.count("attention.sliding_window_pattern", 2) != 2)
    m.fail(m.arch() + ".attention.sliding_window_pattern", "is not 2 (every other layer), which llmc does not import");
  c["query_pre_attn_scalar"] = gemma_query_scalar(c, 46);
  c["attn_logit_softcapping"] = m.real("attn_logit_softcapping", 50.0);
  c["final_logit_softcapping"] = m.real("final_logit_softcapping", 30.0);
  c["sliding_window"] = m.count("attention.sliding_window", 4096);
}

// Gemma 3: without a window every layer is global; with one, every 6th (or sliding_window_pattern-th) is, and
// the others rotate with rope.freq_base_swa (10000 by default) and no scaling.
void keys_gemma3(const GgufMeta& m, json& c) {
  c["query_pre_attn_scalar"] = gemma_query_scalar(c, 62);
  if (m.has("final_logit_softcapping")) c["final_logit_softcapping"] = m.real("final_logit_softcapping", 0.0);
  const bool windowed = c.contains("sliding_window") && c["sliding_window"].get<int64_t>() > 0;
  c["sliding_window_pattern"] = windowed ? m.count("attention.sliding_window_pattern", 6) : 1;
  c["rope_local_base_freq"] = m.real("rope.freq_base_swa", 10000.0);
}

// StarCoder 2: LayerNorm with bias (norm_epsilon), biases wherever the file has them. Its GGUFs do not keep the
// sliding window (StarCoder2Model writes none, llama.cpp's models/starcoder2.cpp attends to the whole context).
void keys_starcoder2(const GgufMeta& m, json& c) {
  c["norm_epsilon"] = m.real("attention.layer_norm_epsilon", 1e-5);
  c["use_bias"] = m.has_tensor("blk.0.attn_q.bias");
  c["hidden_act"] = "gelu_pytorch_tanh";
}

// Falcon: FalconModel writes every query_key_value as [q; k; v] (regrouping the new architecture's kv groups)
// and only parallel blocks run in llama.cpp; a second norm (attn_norm_2) marks the new architecture's norm per
// branch.
void keys_falcon(const GgufMeta& m, json& c) {
  const bool two_norms = m.has_tensor("blk.0.attn_norm_2.weight");
  const int64_t kv = c["num_key_value_heads"];
  c["new_decoder_architecture"] = two_norms || kv > 1;
  c["multi_query"] = kv == 1;
  c["num_kv_heads"] = kv;
  c["num_ln_in_parallel_attn"] = two_norms ? 2 : 1;
  c["parallel_attn"] = true;
  c["bias"] = m.has_tensor("blk.0.attn_qkv.bias");
  c["ffn_hidden_size"] = m.count("feed_forward_length");
  c["layer_norm_epsilon"] = m.real("attention.layer_norm_epsilon", 1e-5);
}

// OLMoE: llama.cpp (models/olmoe.cpp) does not renormalise the top k.
void keys_olmoe(const GgufMeta& m, json& c) {
  keys_experts(m, c);
  c["norm_topk_prob"] = false;
}

// Granite: µP multipliers (GraniteModel writes logits_scaling as logit_scale, which llama.cpp divides by).
void keys_granite(const GgufMeta& m, json& c) {
  c["embedding_multiplier"] = m.real("embedding_scale", 1.0);
  c["residual_multiplier"] = m.real("residual_scale", 1.0);
  c["attention_multiplier"] = m.real("attention.scale", 1.0);
  c["logits_scaling"] = m.real("logit_scale", 1.0);
}

void keys_granitemoe(const GgufMeta& m, json& c) {
  keys_granite(m, c);
  keys_experts(m, c);
}

// GPT-2: its config's own key names; the classifier is the token embeddings (llama.cpp reads an output.weight
// when a file has one, a copy of them: it is left unread).
void keys_gpt2(const GgufMeta& m, json& c) {
  c["n_embd"] = c["hidden_size"];
  c["n_layer"] = c["num_hidden_layers"];
  c["n_head"] = c["num_attention_heads"];
  c["n_positions"] = c["max_position_embeddings"];
  c["n_inner"] = m.count("feed_forward_length");
  c["layer_norm_epsilon"] = m.real("attention.layer_norm_epsilon", 1e-5);
  c["tie_word_embeddings"] = true;
}

// DeepSeek-V2 / V3 (DeepseekV2Model, llama.cpp's models/deepseek2.cpp): multi-head latent attention, with kv_b
// split into k_b / v_b (or, in files from before that split, whole); DeepSeekMoE as llama.cpp runs it. Its
// importer is deepseek_v3's: llama.cpp renormalises the top k (expert_weights_norm), then scales them
// (expert_weights_scale), as V3 does; DeepSeek-V2's reference scales only weights it does not renormalise,
// which V2's own configs never ask for together.
// DeepseekV2Model splits kv_b into k_b (each head's key part transposed) and v_b, the per-head matrices the
// MLA block multiplies by; older files keep attn_kv_b whole.
bool deepseek2_kv_b_split(const GgufMeta& m) { return m.has_tensor("blk.0.attn_k_b.weight"); }

void keys_deepseek2(const GgufMeta& m, json& c) {
  c["model_type"] = "deepseek_v3";
  const int64_t rope = m.count("rope.dimension_count"), latent = m.count("attention.kv_lora_rank");
  const bool split = deepseek2_kv_b_split(m);
  // key_length / value_length are the absorbed form's (latent + rope, latent) in split files.
  const std::string qk_key = split ? "attention.key_length_mla" : "attention.key_length";
  const int64_t qk = m.count(qk_key);
  if (qk <= rope) m.fail(m.arch() + "." + qk_key, fmt::format("is {}: not above the rope part {}", qk, rope));
  c["qk_rope_head_dim"] = rope;
  c["qk_nope_head_dim"] = qk - rope;
  c["v_head_dim"] = m.count(split ? "attention.value_length_mla" : "attention.value_length");
  c["kv_lora_rank"] = latent;
  if (const int64_t q_lora = m.count("attention.q_lora_rank", 0); q_lora > 0) c["q_lora_rank"] = q_lora;
  c["num_key_value_heads"] = c["num_attention_heads"];  // stored as 1: the absorbed form's one latent head
  c["rope_interleave"] = true;  // llama.cpp rotates adjacent pairs, as DeepSeek's own checkpoints pair them
  if (const gguf::Value* scaling = m.find(m.arch() + ".rope.scaling.type"); scaling && scaling->s == "yarn") {
    // DeepseekV2Model writes 0.1·mscale_all_dim as yarn_log_multiplier; llama.cpp takes mscale equal to it.
    if (!m.has("rope.scaling.yarn_log_multiplier"))
      m.fail(m.arch() + ".rope.scaling.yarn_log_multiplier", "is missing (a yarn deepseek2 file states it)");
    // Six digits: the f32 key holds 0.1·0.707 as 0.0707000017, which divides back to 0.70699996.
    const double mscale = std::stod(fmt::format("{:.6g}", m.real("rope.scaling.yarn_log_multiplier", 0) / 0.1));
    c["rope_scaling"] = {{"rope_type", "yarn"},
                         {"factor", m.real("rope.scaling.factor", 1.0)},
                         {"original_max_position_embeddings", m.count("rope.scaling.original_context_length")},
                         {"beta_fast", m.real("rope.scaling.yarn_beta_fast", 32.0)},
                         {"beta_slow", m.real("rope.scaling.yarn_beta_slow", 1.0)},
                         {"mscale", mscale},
                         {"mscale_all_dim", mscale}};
  }
  if (m.count("expert_count", 0) == 0) return;  // dense
  keys_experts(m, c);
  c["n_routed_experts"] = c["num_experts"];
  c["n_shared_experts"] = m.count("expert_shared_count", 0);
  c["first_k_dense_replace"] = m.count("leading_dense_block_count", 0);
  c["norm_topk_prob"] = m.count("expert_weights_norm", 0) != 0;
  const double scale = m.real("expert_weights_scale", 0.0);
  c["routed_scaling_factor"] = scale == 0.0 ? 1.0 : scale;  // 0: not scaled
  const int64_t groups = m.count("expert_group_count", 0), used_groups = m.count("expert_group_used_count", 0);
  // expert_gating_func: 1 softmax (also when absent, as llama.cpp reads older files), 2 sigmoid.
  const int64_t gating = m.count("expert_gating_func", 1);
  if (gating == 2) {
    c["topk_method"] = "noaux_tc";
    c["scoring_func"] = "sigmoid";
    c["n_group"] = std::max<int64_t>(groups, 1);
    c["topk_group"] = groups > 1 ? used_groups : 1;
  } else if (gating == 1) {
    // llama.cpp ranks groups by the sum of their best two scores, DeepSeek-V2's reference by their best one.
    if (groups > 1)
      m.fail(m.arch() + ".expert_group_count", fmt::format("is {} with softmax gating: llama.cpp and DeepSeek-V2 "
                                                           "choose expert groups differently; not imported", groups));
    c["topk_method"] = "greedy";
    c["scoring_func"] = "softmax";
  } else {
    m.fail(m.arch() + ".expert_gating_func", fmt::format("is {} (supported: 1 softmax, 2 sigmoid)", gating));
  }
}

// T5 and its v1.1 / Flan / mT5 variants (T5Model in conversion/t5.py; llama.cpp's models/t5.cpp): block_count is
// the encoder's layers, decoder_block_count the decoder's. The file keeps no feed_forward_proj: llama.cpp runs a
// model with ffn_gate tensors as gated tanh-GELU (v1.1, Flan, mT5: gated-gelu), the others with ReLU (T5), and
// buckets relative positions up to its fixed distance of 128 (every T5 config's).
void keys_t5(const GgufMeta& m, json& c) {
  const std::string arch = m.arch();
  for (const std::string stack : {"enc", "dec"})
    if (const std::string t = stack + ".blk.1.attn_rel_b.weight"; m.has_tensor(t))
      throw Error(m.path() + ": tensor '" + t + "': a relative position table in every layer (UMT5) is not " +
                  "supported; llmc reads T5's one table per stack, in block 0");
  const int64_t decoder_layers = m.count("decoder_block_count", c["num_hidden_layers"].get<int64_t>());
  if (decoder_layers == 0 || decoder_layers > kMaxLayers)
    m.fail(arch + ".decoder_block_count", fmt::format("is {}: not between 1 and {}", decoder_layers, kMaxLayers));
  if (!m.has("attention.layer_norm_rms_epsilon")) m.fail(arch + ".attention.layer_norm_rms_epsilon", "is missing");
  const int64_t start = m.token(arch + ".decoder_start_token_id");
  if (start < 0) m.fail(arch + ".decoder_start_token_id", "is missing or not a token id (the decoder's first token)");
  c["d_model"] = c["hidden_size"];
  c["d_ff"] = m.positive("feed_forward_length");
  c["num_layers"] = c["num_hidden_layers"];
  c["num_decoder_layers"] = decoder_layers;
  c["num_heads"] = c["num_attention_heads"];
  c["d_kv"] = config_head_dim(c);
  c["layer_norm_epsilon"] = m.real("attention.layer_norm_rms_epsilon", 0);
  c["relative_attention_num_buckets"] = m.positive("attention.relative_buckets_count");
  c["relative_attention_max_distance"] = 128;
  c["feed_forward_proj"] = m.has_tensor("enc.blk.0.ffn_gate.weight") ? "gated-gelu" : "relu";
  c["n_positions"] = c["max_position_embeddings"];
  c["decoder_start_token_id"] = start;
  // Checkpoints saved before safetensors store the tied classifier as lm_head.weight, a copy of shared.weight,
  // which the converter writes as output.weight: the model is still tied (Hugging Face scales its input).
  const gguf::Tensor *out = m.tensor("output.weight"), *embed = m.tensor("token_embd.weight");
  if (out && out->type == embed->type && out->ne == embed->ne && out->bytes == embed->bytes &&
      std::memcmp(out->data, embed->data, out->bytes) == 0)
    c["tie_word_embeddings"] = true;
}

// The GGUF names of a spec's roles: llama.cpp's (gguf_global_names(), gguf_layer_names()) unless the family's
// adjustment changes them. A layer's tensor is layer_prefix + its name; an encoder–decoder's encoder layers'
// encoder_prefix + the same name.
struct GgufNames {
  std::map<std::string, std::string> global, layer;
  std::string layer_prefix = "blk.{i}.", encoder_prefix = "enc.blk.{i}.";
};

struct GgufFamily {
  const char* arch;        // general.architecture
  const char* model_type;  // the Hugging Face family whose importer reads the config
  // convert_hf_to_gguf.py permutes the q / k rows of llama-architecture models so that rotary pairs are
  // adjacent (llama.cpp's "normal" rope); the others keep Hugging Face's layout (half pairs, or interleaved in
  // both, as Command-R).
  bool permuted_qk;
  // Gemma's RMSNorms scale by (1 + w): convert_hf_to_gguf.py stores every norm weight + 1 (GemmaModel), so the
  // GGUF's norms are plain.
  bool norms_plus_one;
  void (*keys)(const GgufMeta&, json&);  // the family's own config keys (may set model_type)
  // What the family's GGUF differs in from the Hugging Face importer's spec beyond the common renaming: its
  // layer roles, tensors left unread, and its GGUF names where they differ from llama.cpp's usual ones.
  void (*adjust)(const GgufMeta&, Spec&, GgufNames& names) = nullptr;
  bool per_layer_widths = false;  // head counts and FFN widths may differ per layer (keys_common)
};

// Falcon-40B's norm per branch (gguf-py tensor_mapping.py): the feed-forward's (ln_mlp) is attn_norm, the
// attention's (ln_attn) attn_norm_2. With one norm (Falcon-7B) it is attn_norm.
void adjust_falcon(const GgufMeta&, Spec& s, GgufNames& names) {
  if (!s.weights.layer.count("ffn_norm")) return;
  names.layer["ffn_norm"] = "attn_norm.weight";
  names.layer["ffn_norm_bias"] = "attn_norm.bias";
  names.layer["attn_norm"] = "attn_norm_2.weight";
  names.layer["attn_norm_bias"] = "attn_norm_2.bias";
}

// The experts' [gate; up] read as the two stacked tensors ffn_gate_exps and ffn_up_exps (GraniteMoeModel and
// Llama4Model split it).
void split_expert_gate_up(Spec& s) {
  s.mlp.fused_gate_up = false;
  s.weights.layer.erase("expert_gate_up");
  s.weights.layer["expert_gate"] = s.weights.layer["expert_up"] = "";
}
void adjust_granitemoe(const GgufMeta& m, Spec& s, GgufNames&) {
  if (s.weights.layer.count("expert_gate_up") && m.has_tensor("blk.0.ffn_gate_exps.weight")) split_expert_gate_up(s);
}

// GPT-2's classifier is the token embeddings; an output.weight (llama.cpp reads one if present) is a copy.
void adjust_gpt2(const GgufMeta& m, Spec& s, GgufNames&) {
  if (m.has_tensor("output.weight")) s.weights.unused.push_back("output.weight");
}

// Mamba / Mamba 2: the small tensors as MambaModel / Mamba2Model store them (spec mixer.layout: gguf): A itself
// (−exp(A_log)) as role `a`, the convolution squeezed, Mamba 2's A / D / norm reshaped; out_proj is ssm_out.
void adjust_mamba(const GgufMeta&, Spec& s, GgufNames& names) {
  s.ssm_layout = SsmLayout::gguf;
  s.weights.layer.erase("a_log");
  s.weights.layer["a"] = "";
  names.layer["o"] = "ssm_out.weight";
}

// InternLM2Model splits wqkv (per kv group) into attn_q, attn_k, attn_v, q / k permuted as llama's.
void adjust_internlm2(const GgufMeta&, Spec& s, GgufNames&) {
  s.attention.qkv = QkvLayout::separate;
  s.weights.layer.erase("qkv");
  s.weights.layer["q"] = s.weights.layer["k"] = s.weights.layer["v"] = "";
}

// BERT: no pooler, no MLM head (BertModel.filter_tensors drops them): the binary gives embeddings; inputs wrapped
// in the file's [CLS] and [SEP]; gguf-py's names of the two post-LN norms.
void adjust_bert(const GgufMeta& m, Spec& s, GgufNames& names) {
  s.pooler = s.classifier = false;
  for (const char* role : {"pooler", "pooler_bias", "head_transform", "head_transform_bias", "head_norm",
                           "head_norm_bias", "lm_head_bias"})
    s.weights.global(role).clear();
  if (const int64_t cls = m.token("tokenizer.ggml.cls_token_id"); cls >= 0) s.bos = cls;
  if (const int64_t sep = m.token("tokenizer.ggml.seperator_token_id"); sep >= 0) s.eos = sep;
  names.layer["attn_norm"] = "attn_output_norm.weight";
  names.layer["attn_norm_bias"] = "attn_output_norm.bias";
  names.layer["ffn_norm"] = "layer_output_norm.weight";
  names.layer["ffn_norm_bias"] = "layer_output_norm.bias";
}

// OpenELMModel splits proj_1's [gate; up] into ffn_gate and ffn_up.
void adjust_openelm(const GgufMeta&, Spec& s, GgufNames&) {
  s.mlp.fused_gate_up = false;
  s.weights.layer.erase("gate_up");
  s.weights.layer["gate"] = s.weights.layer["up"] = "";
}

// Grok's norms after the attention and after the experts (gguf-py: ATTN_OUT_NORM, LAYER_OUT_NORM).
void adjust_grok(const GgufMeta&, Spec&, GgufNames& names) {
  names.layer["post_attn_norm"] = "attn_output_norm.weight";
  names.layer["post_ffn_norm"] = "layer_output_norm.weight";
}

void adjust_llama4(const GgufMeta&, Spec& s, GgufNames&) { split_expert_gate_up(s); }

// A split kv_b is bound as the roles k_b and v_b (spec mla.kv_b: split).
void adjust_deepseek2(const GgufMeta& m, Spec& s, GgufNames&) {
  if (!s.weights.layer.count("kv_b") || !deepseek2_kv_b_split(m)) return;
  s.attention.mla.kv_b = MlaKvB::split;
  s.weights.layer.erase("kv_b");
  s.weights.layer["k_b"] = s.weights.layer["v_b"] = "";
}

// T5's names (llama.cpp's LLM_TENSOR_DEC_* / ENC_*): decoder layers under dec.blk, encoder layers under enc.blk,
// attn_o for an attention's output, one relative position table in block 0 of each stack.
void adjust_t5(const GgufMeta& m, Spec& s, GgufNames& names) {
  names.layer_prefix = "dec.blk.{i}.";
  names.layer["o"] = "attn_o.weight";
  names.layer["cross_norm"] = "cross_attn_norm.weight";
  for (const std::string part : {"q", "k", "v", "o"}) names.layer["cross_" + part] = "cross_attn_" + part + ".weight";
  names.global["final_norm"] = "dec.output_norm.weight";
  names.global["encoder_final_norm"] = "enc.output_norm.weight";
  names.global["relative_bias"] = "dec.blk.0.attn_rel_b.weight";
  names.global["encoder_relative_bias"] = "enc.blk.0.attn_rel_b.weight";
  if (s.tied_embeddings && m.has_tensor("output.weight")) s.weights.unused.push_back("output.weight");  // keys_t5
}

constexpr GgufFamily kGgufFamilies[] = {
    {"llama", "llama", true, false, keys_llama},
    {"qwen", "qwen", false, false, keys_qwen},
    {"qwen2", "qwen2", false, false, keys_none},
    {"qwen3", "qwen3", false, false, keys_none},
    {"qwen2moe", "qwen2_moe", false, false, keys_qwen2moe},
    {"qwen3moe", "qwen3_moe", false, false, keys_qwen3moe},
    {"gemma", "gemma", false, true, keys_none},
    {"gemma2", "gemma2", false, true, keys_gemma2},
    {"gemma3", "gemma3_text", false, true, keys_gemma3},
    {"phi3", "phi3", false, false, keys_phi3},
    {"command-r", "cohere", false, false, keys_command_r},
    {"olmo2", "olmo2", false, false, keys_none},
    {"gpt2", "gpt2", false, false, keys_gpt2, adjust_gpt2},
    {"starcoder2", "starcoder2", false, false, keys_starcoder2},
    {"falcon", "falcon", false, false, keys_falcon, adjust_falcon},
    {"olmoe", "olmoe", false, false, keys_olmoe},
    {"granite", "granite", true, false, keys_granite},  // GraniteModel is a LlamaModel: q / k permuted
    {"granitemoe", "granitemoe", true, false, keys_granitemoe, adjust_granitemoe},
    {"deepseek2", "deepseek_v3", false, false, keys_deepseek2, adjust_deepseek2},
    {"stablelm", "stablelm", false, false, keys_stablelm},
    {"gptneox", "gpt_neox", false, false, keys_gptneox},
    {"olmo", "olmo", true, false, keys_olmo},
    {"chatglm", "chatglm", false, false, keys_chatglm},
    {"phimoe", "phimoe", false, false, keys_phimoe},
    {"minicpm", "minicpm", true, false, keys_minicpm},
    {"bert", "bert", false, false, keys_bert, adjust_bert},
    {"internlm2", "internlm2", true, false, keys_none, adjust_internlm2},
    {"bloom", "bloom", false, false, keys_bloom},
    {"mamba", "mamba", false, false, keys_mamba, adjust_mamba},
    {"mamba2", "mamba2", false, false, keys_mamba2, adjust_mamba},
    {"openelm", "openelm", false, false, keys_openelm, adjust_openelm, true},
    {"grok", "grok", false, false, keys_grok, adjust_grok},
    {"llama4", "llama4_text", false, false, keys_llama4, adjust_llama4},
    {"t5", "t5", false, false, keys_t5, adjust_t5},
};

// llama.cpp's tensor names (llama-arch.cpp) of the roles a spec reads; "{i}" is the block.
const std::map<std::string, std::string>& gguf_global_names() {
  static const std::map<std::string, std::string> names = {{"embed", "token_embd.weight"},
                                                           {"embed_norm", "token_embd_norm.weight"},
                                                           {"embed_norm_bias", "token_embd_norm.bias"},
                                                           {"pos_embed", "position_embd.weight"},
                                                           {"final_norm", "output_norm.weight"},
                                                           {"final_norm_bias", "output_norm.bias"},
                                                           {"lm_head", "output.weight"},
                                                           {"lm_head_bias", "output.bias"},
                                                           {"token_types", "token_types.weight"}};
  return names;
}
const std::map<std::string, std::string>& gguf_layer_names() {
  static const std::map<std::string, std::string> names = {
      {"attn_norm", "attn_norm.weight"},        {"attn_norm_bias", "attn_norm.bias"},
      {"q", "attn_q.weight"},                   {"q_bias", "attn_q.bias"},
      {"k", "attn_k.weight"},                   {"k_bias", "attn_k.bias"},
      {"v", "attn_v.weight"},                   {"v_bias", "attn_v.bias"},
      {"qkv", "attn_qkv.weight"},               {"qkv_bias", "attn_qkv.bias"},
      {"o", "attn_output.weight"},              {"o_bias", "attn_output.bias"},
      {"q_norm", "attn_q_norm.weight"},         {"k_norm", "attn_k_norm.weight"},
      {"post_attn_norm", "post_attention_norm.weight"},
      {"ffn_norm", "ffn_norm.weight"},          {"ffn_norm_bias", "ffn_norm.bias"},
      {"post_ffn_norm", "post_ffw_norm.weight"},
      {"gate", "ffn_gate.weight"},              {"gate_bias", "ffn_gate.bias"},
      {"up", "ffn_up.weight"},                  {"up_bias", "ffn_up.bias"},
      {"gate_up", "ffn_up.weight"},  // Phi-3's [gate; up], as Hugging Face's gate_up_proj
      {"down", "ffn_down.weight"},              {"down_bias", "ffn_down.bias"},
      {"router", "ffn_gate_inp.weight"},        {"expert_gate", "ffn_gate_exps.weight"},
      {"expert_up", "ffn_up_exps.weight"},      {"expert_down", "ffn_down_exps.weight"},
      {"shared_gate", "ffn_gate_shexp.weight"}, {"shared_up", "ffn_up_shexp.weight"},
      {"shared_down", "ffn_down_shexp.weight"}, {"shared_expert_gate", "ffn_gate_inp_shexp.weight"},
      {"router_bias", "exp_probs_b.bias"},      {"q_a", "attn_q_a.weight"},
      {"q_a_norm", "attn_q_a_norm.weight"},     {"q_b", "attn_q_b.weight"},
      {"kv_a", "attn_kv_a_mqa.weight"},         {"kv_a_norm", "attn_kv_a_norm.weight"},
      {"kv_b", "attn_kv_b.weight"},             {"k_b", "attn_k_b.weight"},
      {"v_b", "attn_v_b.weight"},
      {"in_proj", "ssm_in.weight"},             {"conv", "ssm_conv1d.weight"},
      {"conv_bias", "ssm_conv1d.bias"},         {"x_proj", "ssm_x.weight"},
      {"dt_proj", "ssm_dt.weight"},             {"dt_bias", "ssm_dt.bias"},
      {"a", "ssm_a"},                           {"d_skip", "ssm_d"},
      {"ssm_norm", "ssm_norm.weight"},
  };
  return names;
}

// Renames the spec's tensors (the Hugging Face importer's) to the GGUF's, checking that the file has each;
// clears the importer's list of unread tensors (its names) before the family's adjustment.
void name_gguf_tensors(const GgufMeta& m, const GgufFamily& family, Spec& s, const std::string& path) {
  // A layer tensor must be in some layer (not every layer has every role: DeepSeek's first ones are dense).
  auto present = [&](const std::string& role, const std::string& name, int64_t layers) {
    const size_t at = name.find("{i}");
    auto in_layer = [&](int64_t i) {
      return at == std::string::npos ? name : name.substr(0, at) + std::to_string(i) + name.substr(at + 3);
    };
    for (int64_t i = 0; i < (at == std::string::npos ? 1 : layers); ++i)
      if (m.has_tensor(in_layer(i))) return;
    throw Error(fmt::format("{}: tensor '{}' ({} of the {} architecture) is missing", path, in_layer(0), role,
                            m.arch()));
  };
  GgufNames names{gguf_global_names(), gguf_layer_names()};
  s.weights.unused.clear();
  if (family.adjust) family.adjust(m, s, names);
  auto name_layers = [&](std::map<std::string, std::string>& layer, const std::string& prefix, int64_t layers) {
    for (auto& [role, name] : layer) {
      auto it = names.layer.find(role);
      if (it == names.layer.end())
        throw Error(fmt::format("{}: llmc does not know the GGUF name of the {} architecture's '{}' tensors", path,
                                m.arch(), role));
      name = prefix + it->second;
      present(role, name, layers);
    }
  };
  name_layers(s.weights.layer, names.layer_prefix, s.num_layers);
  if (s.encoder) name_layers(s.weights.encoder_layer, names.encoder_prefix, s.encoder->num_layers);
  for (const auto& [role, name] : names.global) {
    std::string& global = s.weights.global(role);
    if (global.empty()) continue;
    global = name;
    present(role, name, 1);
  }
}

}  // namespace

Spec import_gguf(const std::string& path, const ImportOptions& options) {
  return import_gguf(MappedFile(path), options);
}

Spec import_gguf(const MappedFile& mapped, const ImportOptions& options) {
  const std::string& path = mapped.path();
  // The vocabulary's arrays are the tokenizer's business; the model's (per-layer widths) are read here.
  gguf::File file = gguf::parse(path, mapped.data(), mapped.size(),
                                [](const std::string& key) { return key.rfind("tokenizer.", 0) != 0; });
  const gguf::Value* arch_value = gguf::find(file, "general.architecture");
  if (!arch_value || arch_value->type != gguf::kString)
    throw Error(path + ": GGUF metadata 'general.architecture' is missing or not a string");
  const GgufMeta m(path, std::move(file), arch_value->s);
  const GgufFamily* family = nullptr;
  std::vector<std::string> known;
  for (const GgufFamily& f : kGgufFamilies) {
    known.push_back(f.arch);
    if (m.arch() == f.arch) family = &f;
  }
  if (!family)
    throw Error(fmt::format("{}: GGUF architecture '{}' is not supported for import; supported: {}", path, m.arch(),
                            fmt::join(known, ", ")));
  if (m.has_tensor("rope_freqs.weight") && m.arch() != "llama" && m.arch() != "llama4")
    throw Error(path + ": tensor 'rope_freqs.weight' (rope frequency factors) is supported for llama and llama4 GGUFs "
                       "only");
  const bool phi = m.arch() == "phi3" || m.arch() == "phimoe";
  if ((m.has_tensor("rope_factors_long.weight") || m.has_tensor("rope_factors_short.weight")) && !phi)
    throw Error(path + ": tensors 'rope_factors_long.weight' / 'rope_factors_short.weight' (LongRoPE factors) are "
                       "supported for phi3 and phimoe GGUFs only");

  json config = keys_common(m, family->per_layer_widths);
  config["model_type"] = family->model_type;
  family->keys(m, config);
  const std::string model_type = config["model_type"];

  Spec s;
  s.name = std::filesystem::path(path).stem().string();
  s.family = model_type;
  import_detail::family_importers().at(model_type)(Config(config, path + " (GGUF metadata)"), s, options);
  name_gguf_tensors(m, *family, s, path);
  if (s.attention.qkv != QkvLayout::separate) s.attention.qkv = QkvLayout::fused;  // [q; k; v] (Falcon regrouped)
  for (const char* stated : {"rope_freqs.weight", "rope_factors_long.weight", "rope_factors_short.weight"})
    if (m.has_tensor(stated)) s.weights.unused.push_back(stated);  // stated as rope.scaling
  // convert_hf_to_gguf.py writes every matrix [out, in] (GPT2Model transposes the Conv1D ones).
  s.weights.layout = s.weights.expert_layout = TensorLayout::linear;
  if (family->permuted_qk) s.rope.pairing = RopePairing::interleaved;
  if (family->norms_plus_one) {
    s.norm.weight = NormWeight::plain;
    if (s.attention.qk_norm_spec) s.attention.qk_norm_spec->weight = NormWeight::plain;
  }
  if (m.has("rope.dimension_count")) s.rope.rotary_dim = m.count("rope.dimension_count");
  // Without the key, llama.cpp adds BOS for SentencePiece ("llama") vocabularies only.
  const gguf::Value* add_bos = m.find("tokenizer.ggml.add_bos_token");
  const gguf::Value* tok_model = m.find("tokenizer.ggml.model");
  // An encoder's importer wraps the input in [CLS] ... [SEP] itself.
  if (s.kind != ModelKind::encoder)
    s.add_bos = s.bos >= 0 && (add_bos ? add_bos->i != 0 : tok_model && tok_model->s == "llama");
  return s;
}

}  // namespace llmc
