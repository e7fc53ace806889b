// `llmc import`: one function per model family, each setting a spec's fields from a Hugging Face config.json,
// and each family's checkpoint tensor names as a table. Which tensors a spec reads follows from its fields
// (name_tensors), so no importer lists its tensors by hand.
#include <algorithm>
#include <cmath>

#include "import_config.hpp"
#include "plan.hpp"

namespace llmc::import_detail {
namespace {

// Hugging Face's Llama names, which most decoders share (and the loader gives llama2.c checkpoints).
const NameTable& llama_names() {
  static const NameTable t{
      {{"embed", "model.embed_tokens.weight"},
       {"final_norm", "model.norm.weight"},
       {"final_norm_bias", "model.norm.bias"},
       {"lm_head", "lm_head.weight"}},
      "model.layers.{i}.",
      {{"attn_norm", "input_layernorm.weight"},          {"attn_norm_bias", "input_layernorm.bias"},
       {"q", "self_attn.q_proj.weight"},                 {"q_bias", "self_attn.q_proj.bias"},
       {"k", "self_attn.k_proj.weight"},                 {"k_bias", "self_attn.k_proj.bias"},
       {"v", "self_attn.v_proj.weight"},                 {"v_bias", "self_attn.v_proj.bias"},
       {"o", "self_attn.o_proj.weight"},                 {"o_bias", "self_attn.o_proj.bias"},
       {"q_norm", "self_attn.q_norm.weight"},            {"k_norm", "self_attn.k_norm.weight"},
       {"ffn_norm", "post_attention_layernorm.weight"},  {"ffn_norm_bias", "post_attention_layernorm.bias"},
       {"gate", "mlp.gate_proj.weight"},                 {"gate_bias", "mlp.gate_proj.bias"},
       {"up", "mlp.up_proj.weight"},                     {"up_bias", "mlp.up_proj.bias"},
       {"down", "mlp.down_proj.weight"},                 {"down_bias", "mlp.down_proj.bias"}},
      {}};
  return t;
}

// Falcon (RefinedWeb) names; new-architecture models with two norms call them ln_attn and ln_mlp.
const NameTable& falcon_names() {
  static const NameTable t{
      {{"embed", "transformer.word_embeddings.weight"},
       {"final_norm", "transformer.ln_f.weight"},
       {"final_norm_bias", "transformer.ln_f.bias"},
       {"lm_head", "lm_head.weight"}},
      "transformer.h.{i}.",
      {{"attn_norm", "input_layernorm.weight"},          {"attn_norm_bias", "input_layernorm.bias"},
       {"qkv", "self_attention.query_key_value.weight"}, {"qkv_bias", "self_attention.query_key_value.bias"},
       {"o", "self_attention.dense.weight"},             {"o_bias", "self_attention.dense.bias"},
       {"ffn_norm", "post_attention_layernorm.weight"},  {"ffn_norm_bias", "post_attention_layernorm.bias"},
       {"up", "mlp.dense_h_to_4h.weight"},               {"up_bias", "mlp.dense_h_to_4h.bias"},
       {"down", "mlp.dense_4h_to_h.weight"},             {"down_bias", "mlp.dense_4h_to_h.bias"}},
      {}};
  return t;
}

const NameTable& gpt_neox_names() {
  static const NameTable t{
      {{"embed", "gpt_neox.embed_in.weight"},
       {"final_norm", "gpt_neox.final_layer_norm.weight"},
       {"final_norm_bias", "gpt_neox.final_layer_norm.bias"},
       {"lm_head", "embed_out.weight"}},
      "gpt_neox.layers.{i}.",
      {{"attn_norm", "input_layernorm.weight"},          {"attn_norm_bias", "input_layernorm.bias"},
       {"qkv", "attention.query_key_value.weight"},      {"qkv_bias", "attention.query_key_value.bias"},
       {"o", "attention.dense.weight"},                  {"o_bias", "attention.dense.bias"},
       {"ffn_norm", "post_attention_layernorm.weight"},  {"ffn_norm_bias", "post_attention_layernorm.bias"},
       {"up", "mlp.dense_h_to_4h.weight"},               {"up_bias", "mlp.dense_h_to_4h.bias"},
       {"down", "mlp.dense_4h_to_h.weight"},             {"down_bias", "mlp.dense_4h_to_h.bias"}},
      {}};
  return t;
}

const NameTable& internlm2_names() {
  static const NameTable t{{{"embed", "model.tok_embeddings.weight"},
                            {"final_norm", "model.norm.weight"},
                            {"lm_head", "output.weight"}},
                           "model.layers.{i}.",
                           {{"attn_norm", "attention_norm.weight"}, {"qkv", "attention.wqkv.weight"},
                            {"o", "attention.wo.weight"},           {"ffn_norm", "ffn_norm.weight"},
                            {"gate", "feed_forward.w1.weight"},     {"up", "feed_forward.w3.weight"},
                            {"down", "feed_forward.w2.weight"}},
                           {}};
  return t;
}

// THUDM ChatGLM2/3 remote code (modeling_chatglm.py).
const NameTable& chatglm_names() {
  static const NameTable t{
      {{"embed", "transformer.embedding.word_embeddings.weight"},
       {"final_norm", "transformer.encoder.final_layernorm.weight"},
       {"final_norm_bias", "transformer.encoder.final_layernorm.bias"},
       {"lm_head", "transformer.output_layer.weight"}},
      "transformer.encoder.layers.{i}.",
      {{"attn_norm", "input_layernorm.weight"},          {"attn_norm_bias", "input_layernorm.bias"},
       {"qkv", "self_attention.query_key_value.weight"}, {"qkv_bias", "self_attention.query_key_value.bias"},
       {"o", "self_attention.dense.weight"},             {"o_bias", "self_attention.dense.bias"},
       {"ffn_norm", "post_attention_layernorm.weight"},  {"ffn_norm_bias", "post_attention_layernorm.bias"},
       {"gate_up", "mlp.dense_h_to_4h.weight"},          {"gate_up_bias", "mlp.dense_h_to_4h.bias"},
       {"down", "mlp.dense_4h_to_h.weight"},             {"down_bias", "mlp.dense_4h_to_h.bias"}},
      {"transformer.rotary_pos_emb.inv_freq"}};
  return t;
}

// apple OpenELM remote code (modeling_openelm.py).
const NameTable& openelm_names() {
  static const NameTable t{{{"embed", "transformer.token_embeddings.weight"},
                            {"final_norm", "transformer.norm.weight"},
                            {"lm_head", "lm_head.weight"}},
                           "transformer.layers.{i}.",
                           {{"attn_norm", "attn_norm.weight"}, {"qkv", "attn.qkv_proj.weight"},
                            {"o", "attn.out_proj.weight"},     {"q_norm", "attn.q_norm.weight"},
                            {"k_norm", "attn.k_norm.weight"},  {"ffn_norm", "ffn_norm.weight"},
                            {"gate_up", "ffn.proj_1.weight"},  {"down", "ffn.proj_2.weight"}},
                           {}};
  return t;
}

// Qwen (1) remote code (Qwen/Qwen-7B modeling_qwen.py). QWenMLP is c_proj(w1(x) · silu(w2(x))): w2 is the gate,
// w1 the up projection.
const NameTable& qwen_names() {
  static const NameTable t{{{"embed", "transformer.wte.weight"},
                            {"final_norm", "transformer.ln_f.weight"},
                            {"lm_head", "lm_head.weight"}},
                           "transformer.h.{i}.",
                           {{"attn_norm", "ln_1.weight"},     {"qkv", "attn.c_attn.weight"},
                            {"qkv_bias", "attn.c_attn.bias"}, {"o", "attn.c_proj.weight"},
                            {"o_bias", "attn.c_proj.bias"},   {"ffn_norm", "ln_2.weight"},
                            {"gate", "mlp.w2.weight"},        {"gate_bias", "mlp.w2.bias"},
                            {"up", "mlp.w1.weight"},          {"up_bias", "mlp.w1.bias"},
                            {"down", "mlp.c_proj.weight"},    {"down_bias", "mlp.c_proj.bias"}},
                           {}};
  return t;
}

// GPT-1 / GPT-2 names under a prefix ("transformer." or "", see transformer_prefix).
NameTable gpt_names(const std::string& prefix, const std::string& embed, const std::string& positions) {
  return NameTable{{{"embed", prefix + embed},
                    {"pos_embed", prefix + positions},
                    {"final_norm", prefix + "ln_f.weight"},
                    {"final_norm_bias", prefix + "ln_f.bias"}},
                   prefix + "h.{i}.",
                   {{"attn_norm", "ln_1.weight"},     {"attn_norm_bias", "ln_1.bias"},
                    {"qkv", "attn.c_attn.weight"},    {"qkv_bias", "attn.c_attn.bias"},
                    {"o", "attn.c_proj.weight"},      {"o_bias", "attn.c_proj.bias"},
                    {"ffn_norm", "ln_2.weight"},      {"ffn_norm_bias", "ln_2.bias"},
                    {"up", "mlp.c_fc.weight"},        {"up_bias", "mlp.c_fc.bias"},
                    {"down", "mlp.c_proj.weight"},    {"down_bias", "mlp.c_proj.bias"}},
                   // The causal mask buffer of older checkpoints, and a saved copy of the tied classifier.
                   {prefix + "h.{i}.attn.bias", "lm_head.weight"}};
}

void window_everywhere(const Config& c, Spec& s, const char* key) {
  if (c.has(key)) s.attention.window.assign(static_cast<size_t>(s.num_layers), c.req<int64_t>(key));
}

void set_biases(AttentionSpec& a, bool q, bool k, bool v, bool o) {
  a.bias_q = q;
  a.bias_k = k;
  a.bias_v = v;
  a.bias_o = o;
}

RopeScaling rope_scaling_from(const Config& c) {
  RopeScaling x;
  if (!c.has("rope_scaling")) return x;
  const json& r = c.raw("rope_scaling");
  const std::string type = r.value("rope_type", r.value("type", std::string("none")));
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
  } else if (type == "yarn") {
    x.factor = r.at("factor").get<double>();
    x.original_max_positions = r.at("original_max_position_embeddings").get<int64_t>();
    auto number = [&](const char* key, double fallback) {
      return r.contains(key) && !r[key].is_null() ? r[key].get<double>() : fallback;
    };
    x.beta_fast = number("beta_fast", 32.0);
    x.beta_slow = number("beta_slow", 1.0);
    x.mscale = number("mscale", 1.0);
    x.mscale_all_dim = number("mscale_all_dim", 0.0);
    if (r.contains("attention_factor") && !r["attention_factor"].is_null())
      c.fail("rope_scaling", "yarn with an explicit attention_factor is not supported (mscale / mscale_all_dim are)");
  } else if (type != "default" && type != "none") {
    c.fail("rope_scaling", fmt::format("rope type '{}' is not supported (linear, llama3, longrope, yarn)", type));
  } else {
    x.type = "none";
  }
  return x;
}

// The Llama layout: the fields most Hugging Face decoders share.
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
  set_biases(s.attention, attention_bias, attention_bias, attention_bias, attention_bias);
  s.norm = {NormKind::rms, NormWeight::plain, false, c.get<double>("rms_norm_eps", 1e-6)};
  s.positions = PositionKind::rope;
  s.rope.theta = c.get<double>("rope_theta", 10000.0);
  s.rope.pairing = RopePairing::half;
  s.rope.rotary_dim = s.attention.head_dim;
  s.rope.scaling = rope_scaling_from(c);
  s.mlp.kind = MlpKind::gated;
  s.mlp.activation = activation_from(c, "hidden_act", c.get<std::string>("hidden_act", "silu"));
  s.mlp.intermediate.assign(static_cast<size_t>(s.num_layers), c.req<int64_t>("intermediate_size"));
  s.mlp.bias = c.get<bool>("mlp_bias", false);
  s.bos = c.token("bos_token_id");
  s.eos = c.token("eos_token_id");
  s.add_bos = s.bos >= 0;
}

// Gemma: Llama's layout with a tied classifier, (1 + w) norms, embeddings scaled by √hidden and a GELU gate.
void gemma_like(const Config& c, Spec& s, const ImportOptions& o) {
  llama_like(c, s, o);
  s.tied_embeddings = true;
  s.norm.weight = NormWeight::offset_one;
  s.embedding_scale = static_cast<float>(std::sqrt(static_cast<double>(s.hidden_size)));
  s.mlp.activation = activation_from(c, "hidden_activation",
                                     c.get<std::string>("hidden_activation", "gelu_pytorch_tanh"));
}

// GPT-2 / GPT-1 checkpoints exist with the base model's names ("wte.weight": the original uploads) and with the
// LM-head model's ("transformer.wte.weight": save_pretrained). The checkpoint beside config.json decides;
// without one, save_pretrained's names.
std::string transformer_prefix(const Config& c, const std::string& probe) {
  return checkpoint_names(c.file()).count(probe) ? "" : "transformer.";
}

// GPT-1 and GPT-2: learned positions, Conv1D weights, fused c_attn, LayerNorm with bias, plain MLP, tied
// classifier. Sets everything but the residual layout, activation and FFN width; returns the names.
NameTable gpt_conv1d(const Config& c, Spec& s, const ImportOptions& o, const std::string& embed,
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
  set_biases(s.attention, true, true, true, true);
  s.norm = {NormKind::layer, NormWeight::plain, true, c.get<double>("layer_norm_epsilon", 1e-5)};
  s.positions = PositionKind::learned;
  s.mlp.kind = MlpKind::plain;
  s.mlp.bias = true;
  s.bos = c.token("bos_token_id");
  s.eos = c.token("eos_token_id");
  s.add_bos = false;
  s.weights.layout = TensorLayout::in_out;  // Conv1D
  return gpt_names(transformer_prefix(c, embed), embed, positions);
}

void import_llama(const Config& c, Spec& s, const ImportOptions& o) {
  llama_like(c, s, o);
  name_tensors(s, llama_names());
}

void import_mistral(const Config& c, Spec& s, const ImportOptions& o) {
  llama_like(c, s, o);
  window_everywhere(c, s, "sliding_window");
  name_tensors(s, llama_names());
}

void import_qwen2(const Config& c, Spec& s, const ImportOptions& o) {
  llama_like(c, s, o);
  set_biases(s.attention, true, true, true, s.attention.bias_o);
  if (c.get<bool>("use_sliding_window", false)) {
    const int64_t from = c.req<int64_t>("max_window_layers");
    for (int64_t i = from; i < s.num_layers; ++i) s.attention.window[static_cast<size_t>(i)] = c.req<int64_t>("sliding_window");
  }
  name_tensors(s, llama_names());
}

void import_qwen3(const Config& c, Spec& s, const ImportOptions& o) {
  llama_like(c, s, o);
  s.attention.qk_norm = QkNorm::per_head;
  s.attention.qk_norm_spec = s.norm;
  if (c.get<bool>("use_sliding_window", false)) c.fail("use_sliding_window", "is not supported for qwen3");
  name_tensors(s, llama_names());
}

void import_gemma(const Config& c, Spec& s, const ImportOptions& o) {
  gemma_like(c, s, o);
  name_tensors(s, llama_names());
}

void import_gemma2(const Config& c, Spec& s, const ImportOptions& o) {
  gemma_like(c, s, o);
  s.post_norms = true;
  s.attention.scale = 1.0 / std::sqrt(c.req<double>("query_pre_attn_scalar"));
  s.attention.softcap = c.get<double>("attn_logit_softcapping", 0.0);
  s.logit_softcap = c.get<double>("final_logit_softcapping", 0.0);
  for (int64_t i = 0; i < s.num_layers; i += 2) s.attention.window[static_cast<size_t>(i)] = c.req<int64_t>("sliding_window");
  // Sandwich norms: the attention's output norm takes the name Llama gives the feed-forward's input norm.
  name_tensors(s, llama_names().with({{"post_attn_norm", "post_attention_layernorm.weight"},
                                      {"ffn_norm", "pre_feedforward_layernorm.weight"},
                                      {"post_ffn_norm", "post_feedforward_layernorm.weight"}}));
}

// Gemma 3 text (modeling_gemma3.py): Gemma 2's sandwich norms with q/k norms instead of soft-caps; every
// sliding_window_pattern-th layer is global (rope_theta, rope_scaling), the others slide over sliding_window with
// RoPE base rope_local_base_freq and no scaling.
void import_gemma3(const Config& c, Spec& s, const ImportOptions& o) {
  gemma_like(c, s, o);
  s.post_norms = true;
  s.attention.scale = 1.0 / std::sqrt(c.req<double>("query_pre_attn_scalar"));
  if (c.has("attn_logit_softcapping")) c.fail("attn_logit_softcapping", "Gemma 3 has no attention soft-cap");
  s.logit_softcap = c.get<double>("final_logit_softcapping", 0.0);
  s.attention.qk_norm = QkNorm::head;
  s.attention.qk_norm_spec = s.norm;
  const int64_t pattern = c.get<int64_t>("sliding_window_pattern", 6);
  if (pattern <= 0) c.fail("sliding_window_pattern", fmt::format("expected a positive number, found {}", pattern));
  for (int64_t i = 0; i < s.num_layers; ++i)
    if ((i + 1) % pattern != 0) s.attention.window[static_cast<size_t>(i)] = c.req<int64_t>("sliding_window");
  if (pattern > 1 && s.num_layers > 0) {
    RopeSpec local = s.rope;
    local.theta = c.get<double>("rope_local_base_freq", 10000.0);
    local.scaling = RopeScaling{};
    s.local_rope = local;
  }
  name_tensors(s, llama_names().with({{"post_attn_norm", "post_attention_layernorm.weight"},
                                      {"ffn_norm", "pre_feedforward_layernorm.weight"},
                                      {"post_ffn_norm", "post_feedforward_layernorm.weight"}}));
}

void import_granite(const Config& c, Spec& s, const ImportOptions& o) {
  llama_like(c, s, o);
  s.embedding_scale = c.req<double>("embedding_multiplier");
  s.residual_scale = c.req<double>("residual_multiplier");
  s.attention.scale = c.req<double>("attention_multiplier");
  s.logit_scale = 1.0 / c.req<double>("logits_scaling");
  name_tensors(s, llama_names());
}

void import_phi3(const Config& c, Spec& s, const ImportOptions& o) {
  llama_like(c, s, o);
  s.attention.qkv = QkvLayout::fused;
  s.mlp.fused_gate_up = true;
  window_everywhere(c, s, "sliding_window");
  name_tensors(s, llama_names().with({{"qkv", "self_attn.qkv_proj.weight"}, {"gate_up", "mlp.gate_up_proj.weight"}}));
}

void import_starcoder2(const Config& c, Spec& s, const ImportOptions& o) {
  llama_like(c, s, o);
  const bool bias = c.get<bool>("use_bias", true);
  s.norm = {NormKind::layer, NormWeight::plain, true, c.req<double>("norm_epsilon")};
  s.mlp.kind = MlpKind::plain;
  s.mlp.bias = bias;
  set_biases(s.attention, bias, bias, bias, bias);
  window_everywhere(c, s, "sliding_window");
  name_tensors(s, llama_names().with({{"up", "mlp.c_fc.weight"},
                                      {"up_bias", "mlp.c_fc.bias"},
                                      {"down", "mlp.c_proj.weight"},
                                      {"down_bias", "mlp.c_proj.bias"}}));
}

// The rotated dims of a head: head_dim × the config's fraction (partial_rotary_factor, rotary_pct), which must be
// in (0, 1] (a NaN or huge value would not convert to an integer).
int64_t rotary_dims(const Config& c, const std::string& key, double fraction, int64_t head_dim) {
  if (!(fraction > 0.0 && fraction <= 1.0)) c.fail(key, fmt::format("{} is not a fraction in (0, 1]", fraction));
  return static_cast<int64_t>(static_cast<double>(head_dim) * fraction);
}

void import_stablelm(const Config& c, Spec& s, const ImportOptions& o) {
  llama_like(c, s, o);
  s.norm = {NormKind::layer, NormWeight::plain, true, c.req<double>("layer_norm_eps")};
  const double rotary = c.req<double>("partial_rotary_factor");
  s.rope.rotary_dim = rotary_dims(c, "partial_rotary_factor", rotary, s.attention.head_dim);
  const bool qkv_bias = c.get<bool>("use_qkv_bias", false);
  set_biases(s.attention, qkv_bias, qkv_bias, qkv_bias, false);
  const bool parallel = c.get<bool>("use_parallel_residual", false);
  if (parallel) s.residual = Residual::parallel;
  if (c.get<bool>("qk_layernorm", false)) {
    // StableLmLayerNormPerHead: one bias-free LayerNorm per head, stored as norms.<h>.
    s.attention.qk_norm = QkNorm::per_head;
    s.attention.qk_norm_weights = QkNormWeights::per_head;
    s.attention.qk_norm_spec = NormSpec{NormKind::layer, NormWeight::plain, false, s.norm.eps};
  }
  // Parallel blocks share the input norm.
  name_tensors(s, llama_names().with({{"q_norm", "self_attn.q_layernorm.norms.{h}.weight"},
                                      {"k_norm", "self_attn.k_layernorm.norms.{h}.weight"}},
                                     parallel ? std::vector<std::string>{"ffn_norm", "ffn_norm_bias"}
                                              : std::vector<std::string>{}));
}

void import_olmo(const Config& c, Spec& s, const ImportOptions& o) {
  llama_like(c, s, o);
  s.norm = {NormKind::layer, NormWeight::none, false, 1e-5};  // OLMo's LayerNorm has no weights
  s.attention.clip_qkv = c.get<double>("clip_qkv", 0.0);
  name_tensors(s, llama_names());
}

void import_internlm2(const Config& c, Spec& s, const ImportOptions& o) {
  llama_like(c, s, o);
  if (c.get<bool>("bias", false)) c.fail("bias", "InternLM2 with biases is not supported");
  s.attention.qkv = QkvLayout::fused_per_kv_group;
  name_tensors(s, internlm2_names());
}

void import_falcon(const Config& c, Spec& s, const ImportOptions& o) {
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
  s.attention.qkv = new_arch ? QkvLayout::fused_per_kv_group : multi_query ? QkvLayout::fused : QkvLayout::fused_per_head;
  const bool bias = c.get<bool>("bias", false);
  set_biases(s.attention, bias, bias, bias, bias);
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
  s.mlp.intermediate.assign(static_cast<size_t>(s.num_layers), c.get<int64_t>("ffn_hidden_size", 4 * s.hidden_size));
  s.mlp.bias = bias;
  s.bos = c.token("bos_token_id");
  s.eos = c.token("eos_token_id");
  s.add_bos = false;
  const bool parallel = c.get<bool>("parallel_attn", true);
  s.residual = parallel || new_arch ? Residual::parallel : Residual::sequential;
  // The new architecture has a norm per branch (unless num_ln_in_parallel_attn is 1); parallel blocks of the old
  // one share the input norm.
  if (new_arch && c.get<int64_t>("num_ln_in_parallel_attn", 2) == 2)
    name_tensors(s, falcon_names().with({{"attn_norm", "ln_attn.weight"}, {"attn_norm_bias", "ln_attn.bias"},
                                         {"ffn_norm", "ln_mlp.weight"}, {"ffn_norm_bias", "ln_mlp.bias"}}));
  else if (s.residual == Residual::parallel)
    name_tensors(s, falcon_names().with({}, {"ffn_norm", "ffn_norm_bias"}));
  else
    name_tensors(s, falcon_names());
}

void import_gpt2(const Config& c, Spec& s, const ImportOptions& o) {
  NameTable names = gpt_conv1d(c, s, o, "wte.weight", "wpe.weight");
  if (!c.get<bool>("tie_word_embeddings", true)) c.fail("tie_word_embeddings", "GPT-2 checkpoints have no separate lm_head");
  if (c.get<bool>("scale_attn_by_inverse_layer_idx", false))
    c.fail("scale_attn_by_inverse_layer_idx", "per-layer attention scaling is not supported");
  if (!c.get<bool>("scale_attn_weights", true)) s.attention.scale = 1.0;
  s.mlp.activation = activation_from(c, "activation_function", c.get<std::string>("activation_function", "gelu_new"));
  s.mlp.intermediate.assign(static_cast<size_t>(s.num_layers),
                            c.has("n_inner") ? c.req<int64_t>("n_inner") : 4 * s.hidden_size);
  // Older checkpoints also store this causal mask buffer.
  names.unused.push_back(names.layer_prefix + "attn.masked_bias");
  name_tensors(s, names);
}

void import_openai_gpt(const Config& c, Spec& s, const ImportOptions& o) {
  // GPT-1 (modeling_openai.py): Post-LN blocks n = ln_1(x + attn(x)); h = ln_2(n + mlp(n)); no final norm.
  const NameTable names = gpt_conv1d(c, s, o, "tokens_embed.weight", "positions_embed.weight");
  s.residual = Residual::post_ln;
  // ACT_FNS in modeling_openai.py: "gelu" is gelu_new (tanh), "swish"/"silu" SiLU, "relu".
  const std::string afn = c.get<std::string>("afn", "gelu");
  s.mlp.activation = afn == "gelu" ? Activation::gelu_tanh : activation_from(c, "afn", afn);
  s.mlp.intermediate.assign(static_cast<size_t>(s.num_layers), 4 * s.hidden_size);
  name_tensors(s, names);
}

// BLOOM (modeling_bloom.py): ALiBi, a LayerNorm on the embeddings, query_key_value fused per head ([q; k; v] of
// each head in turn), biases everywhere, a tanh-GELU MLP 4× wide, tied classifier.
void import_bloom(const Config& c, Spec& s, const ImportOptions& o) {
  s.vocab_size = c.req<int64_t>("vocab_size");
  s.hidden_size = c.req_any<int64_t>({"hidden_size", "n_embed"});
  s.num_layers = c.req_any<int64_t>({"n_layer", "num_hidden_layers"});
  // ALiBi has no position table: the context is the training length (2048 for the released models).
  s.max_context = context_for(c.get<int64_t>("seq_length", 2048), o);
  s.tied_embeddings = c.get<bool>("tie_word_embeddings", true);
  if (c.get<bool>("apply_residual_connection_post_layernorm", false))
    c.fail("apply_residual_connection_post_layernorm", "residuals taken after the norm are not supported");
  const int64_t heads = c.req_any<int64_t>({"n_head", "num_attention_heads"});
  if (heads <= 0 || s.hidden_size % heads != 0)
    c.fail("n_head", fmt::format("{} heads do not divide hidden_size {}", heads, s.hidden_size));
  s.attention.heads.assign(static_cast<size_t>(s.num_layers), heads);
  s.attention.kv_heads = s.attention.heads;
  s.attention.head_dim = s.hidden_size / heads;
  s.attention.window.assign(static_cast<size_t>(s.num_layers), 0);
  s.attention.qkv = QkvLayout::fused_per_head;
  set_biases(s.attention, true, true, true, true);
  s.norm = {NormKind::layer, NormWeight::plain, true, c.get<double>("layer_norm_epsilon", 1e-5)};
  s.embedding_norm = true;
  // BloomAttention adds the bias unscaled (baddbmm beta 1) to the scaled scores: slope_scale 1.
  s.positions = PositionKind::alibi;
  s.mlp.kind = MlpKind::plain;
  s.mlp.activation = Activation::gelu_tanh;  // bloom_gelu_forward
  s.mlp.intermediate.assign(static_cast<size_t>(s.num_layers), 4 * s.hidden_size);
  s.mlp.bias = true;
  s.bos = c.token("bos_token_id");
  s.eos = c.token("eos_token_id");
  s.add_bos = false;
  // Released checkpoints use BloomModel's names ("h.0...."); save_pretrained of BloomForCausalLM "transformer.h.0....".
  const std::string prefix = transformer_prefix(c, "word_embeddings.weight");
  name_tensors(s, NameTable{{{"embed", prefix + "word_embeddings.weight"},
                             {"embed_norm", prefix + "word_embeddings_layernorm.weight"},
                             {"embed_norm_bias", prefix + "word_embeddings_layernorm.bias"},
                             {"final_norm", prefix + "ln_f.weight"},
                             {"final_norm_bias", prefix + "ln_f.bias"},
                             {"lm_head", "lm_head.weight"}},
                            prefix + "h.{i}.",
                            falcon_names().layer,
                            {"lm_head.weight"}});
}

// RWKV-4 (modeling_rwkv.py): embeddings, block 0's pre_ln (an embedding norm), then per block
// x += time_mix(ln1(x)); x += channel_mix(ln2(x)); ln_out and an untied head. No positions, no attention.
// rescale_every: in eval mode Hugging Face halves the residual stream every rescale_every blocks and divides the
// output weights to match; that is the same model up to the LayerNorms' eps, which llmc does not reproduce.
void import_rwkv(const Config& c, Spec& s, const ImportOptions& o) {
  s.vocab_size = c.req<int64_t>("vocab_size");
  s.hidden_size = c.req<int64_t>("hidden_size");
  s.num_layers = c.req<int64_t>("num_hidden_layers");
  s.max_context = context_for(c.get<int64_t>("context_length", 1024), o);  // sizes only the prefill chunk
  s.tied_embeddings = c.get<bool>("tie_word_embeddings", false);
  s.norm = {NormKind::layer, NormWeight::plain, true, c.get<double>("layer_norm_epsilon", 1e-5)};
  s.embedding_norm = true;
  s.mixer = MixerKind::rwkv4;
  s.mixer_size = c.get<int64_t>("attention_hidden_size", s.hidden_size);
  s.attention.heads.assign(static_cast<size_t>(s.num_layers), 0);
  s.attention.kv_heads = s.attention.heads;
  s.attention.window = s.attention.heads;
  s.positions = PositionKind::none;
  s.mlp.kind = MlpKind::channel_mix;
  s.mlp.activation = Activation::relu;
  s.mlp.intermediate.assign(static_cast<size_t>(s.num_layers), c.get<int64_t>("intermediate_size", 4 * s.hidden_size));
  s.bos = c.token("bos_token_id");
  s.eos = c.token("eos_token_id");
  s.add_bos = false;
  name_tensors(s, NameTable{{{"embed", "rwkv.embeddings.weight"},
                             {"embed_norm", "rwkv.blocks.0.pre_ln.weight"},
                             {"embed_norm_bias", "rwkv.blocks.0.pre_ln.bias"},
                             {"final_norm", "rwkv.ln_out.weight"},
                             {"final_norm_bias", "rwkv.ln_out.bias"},
                             {"lm_head", "head.weight"}},
                            "rwkv.blocks.{i}.",
                            {{"attn_norm", "ln1.weight"},
                             {"attn_norm_bias", "ln1.bias"},
                             {"time_mix_k", "attention.time_mix_key"},
                             {"time_mix_v", "attention.time_mix_value"},
                             {"time_mix_r", "attention.time_mix_receptance"},
                             {"k", "attention.key.weight"},
                             {"v", "attention.value.weight"},
                             {"receptance", "attention.receptance.weight"},
                             {"time_decay", "attention.time_decay"},
                             {"time_first", "attention.time_first"},
                             {"o", "attention.output.weight"},
                             {"ffn_norm", "ln2.weight"},
                             {"ffn_norm_bias", "ln2.bias"},
                             {"ffn_time_mix_k", "feed_forward.time_mix_key"},
                             {"ffn_time_mix_r", "feed_forward.time_mix_receptance"},
                             {"up", "feed_forward.key.weight"},
                             {"down", "feed_forward.value.weight"},
                             {"ffn_receptance", "feed_forward.receptance.weight"}},
                            {}});
}

// Mamba and Mamba 2 share their backbone: embeddings, rmsnorm(x) into the mixer, norm_f, a classifier (tied unless
// the config says otherwise). The mixer's fields are each family's own.
void import_ssm_backbone(const Config& c, Spec& s, const ImportOptions& o) {
  s.vocab_size = c.req<int64_t>("vocab_size");
  s.hidden_size = c.req<int64_t>("hidden_size");
  s.num_layers = c.req<int64_t>("num_hidden_layers");
  s.max_context = context_for(2048, o);  // no positions: this sizes only the prefill chunk
  s.tied_embeddings = c.get<bool>("tie_word_embeddings", true);
  if (c.get<bool>("use_bias", false)) c.fail("use_bias", "in_proj / out_proj biases are not supported");
  if (!c.get<bool>("use_conv_bias", true)) c.fail("use_conv_bias", "a convolution without bias is not supported");
  const std::string act = c.get<std::string>("hidden_act", "silu");
  if (act != "silu") c.fail("hidden_act", fmt::format("'{}': the mixer supports silu only", act));
  s.norm = {NormKind::rms, NormWeight::plain, false, c.get<double>("layer_norm_epsilon", 1e-5)};
}

// No attention, no positions, no feed-forward: each layer is x += mixer(norm(x)).
void ssm_layers_without_attention_or_mlp(const Config& c, Spec& s) {
  s.attention.heads.assign(static_cast<size_t>(s.num_layers), 0);
  s.attention.kv_heads = s.attention.heads;
  s.attention.window = s.attention.heads;
  s.positions = PositionKind::none;
  s.mlp.kind = MlpKind::none;
  s.mlp.intermediate.assign(static_cast<size_t>(s.num_layers), 0);
  s.bos = c.token("bos_token_id");
  s.eos = c.token("eos_token_id");
  s.add_bos = false;
}

// Mamba (modeling_mamba.py): embeddings, then per layer x += mixer(rmsnorm(x)) (no feed-forward), norm_f and a
// classifier (tied unless the config says otherwise).
void import_mamba(const Config& c, Spec& s, const ImportOptions& o) {
  import_ssm_backbone(c, s, o);
  s.mixer = MixerKind::mamba;
  s.mixer_size = c.req<int64_t>("intermediate_size");
  s.ssm_state = c.req<int64_t>("state_size");
  s.conv_kernel = c.req<int64_t>("conv_kernel");
  const json& rank = c.raw("time_step_rank");  // "auto": ceil(hidden / 16)
  s.dt_rank = rank.is_string() ? (s.hidden_size + 15) / 16 : c.req<int64_t>("time_step_rank");
  ssm_layers_without_attention_or_mlp(c, s);
  name_tensors(s, NameTable{{{"embed", "backbone.embeddings.weight"},
                             {"final_norm", "backbone.norm_f.weight"},
                             {"lm_head", "lm_head.weight"}},
                            "backbone.layers.{i}.",
                            {{"attn_norm", "norm.weight"},
                             {"in_proj", "mixer.in_proj.weight"},
                             {"conv", "mixer.conv1d.weight"},
                             {"conv_bias", "mixer.conv1d.bias"},
                             {"x_proj", "mixer.x_proj.weight"},
                             {"dt_proj", "mixer.dt_proj.weight"},
                             {"dt_bias", "mixer.dt_proj.bias"},
                             {"a_log", "mixer.A_log"},
                             {"d_skip", "mixer.D"},
                             {"o", "mixer.out_proj.weight"}},
                            s.tied_embeddings ? std::vector<std::string>{"lm_head.weight"} : std::vector<std::string>{}});
}

// Mamba 2 (modeling_mamba2.py): as Mamba, with Mamba2Mixer: in_proj to [z | xBC | dt] (no MLP halves), heads of
// head_dim with a scalar decay each, n_groups of B and C, the gated RMSNorm (mixer.norm) before out_proj. dt's floor
// is time_step_min, as transformers 4.46.1's torch path clamps it (later versions clamp to time_step_limit).
void import_mamba2(const Config& c, Spec& s, const ImportOptions& o) {
  import_ssm_backbone(c, s, o);
  s.mixer = MixerKind::mamba2;
  const double expand = c.get<double>("expand", 2);
  if (!(expand > 0.0 && expand <= 64.0)) c.fail("expand", fmt::format("{} is not a factor in (0, 64]", expand));
  s.mixer_size = static_cast<int64_t>(expand * static_cast<double>(s.hidden_size));
  s.ssm_heads = c.req<int64_t>("num_heads");
  const int64_t head_dim = c.req<int64_t>("head_dim");
  if (s.ssm_heads * head_dim != s.mixer_size)
    c.fail("head_dim", fmt::format("{} heads of {} are not expand x hidden_size = {}", s.ssm_heads, head_dim,
                                   s.mixer_size));
  s.ssm_groups = c.get<int64_t>("n_groups", 1);
  s.ssm_state = c.req<int64_t>("state_size");
  s.conv_kernel = c.req<int64_t>("conv_kernel");
  s.dt_min = c.get<double>("time_step_min", 0.001);
  ssm_layers_without_attention_or_mlp(c, s);
  name_tensors(s, NameTable{{{"embed", "backbone.embeddings.weight"},
                             {"final_norm", "backbone.norm_f.weight"},
                             {"lm_head", "lm_head.weight"}},
                            "backbone.layers.{i}.",
                            {{"attn_norm", "norm.weight"},
                             {"in_proj", "mixer.in_proj.weight"},
                             {"conv", "mixer.conv1d.weight"},
                             {"conv_bias", "mixer.conv1d.bias"},
                             {"dt_bias", "mixer.dt_bias"},
                             {"a_log", "mixer.A_log"},
                             {"d_skip", "mixer.D"},
                             {"ssm_norm", "mixer.norm.weight"},
                             {"o", "mixer.out_proj.weight"}},
                            s.tied_embeddings ? std::vector<std::string>{"lm_head.weight"}
                                              : std::vector<std::string>{}});
}

// Yuan 2 (IEIT-Yuan yuan_hf_model.py, remote code): Llama's layout with localized filtering before q and k (see
// AttentionSpec), and the MLP's activation on up_proj: down(gate_proj(x) · silu(up_proj(x))), which is llmc's gated
// MLP with the two projections' roles swapped. The reference's EOD resets (reset_attention_mask: tokens after an
// <eod> inside one prompt do not see those before it) are not modelled: a prompt is one document.
void import_yuan(const Config& c, Spec& s, const ImportOptions& o) {
  if (c.get<bool>("use_shareqk", false)) c.fail("use_shareqk", "the shared-qk variant is not supported");
  Config with_context = c;
  if (!c.has("max_position_embeddings"))
    with_context.set("max_position_embeddings", c.req<int64_t>("model_max_length"));
  if (!c.has("tie_word_embeddings")) with_context.set("tie_word_embeddings", true);  // YuanConfig's default
  llama_like(with_context, s, o);
  s.attention.localized_filtering = true;
  s.add_bos = false;  // Yuan's tokenizer adds no BOS
  NameTable names = llama_names().with({{"gate", "mlp.up_proj.weight"},
                                        {"up", "mlp.gate_proj.weight"},
                                        {"lf_conv1", "self_attn.lf_gate.conv1.weight"},
                                        {"lf_conv1_bias", "self_attn.lf_gate.conv1.bias"},
                                        {"lf_conv2", "self_attn.lf_gate.conv2.weight"},
                                        {"lf_conv2_bias", "self_attn.lf_gate.conv2.bias"},
                                        {"lf_norm", "self_attn.lf_gate.output_layernorm.weight"}});
  names.unused.push_back("model.layers.{i}.self_attn.rotary_emb.inv_freq");  // RoPE's table, recomputed
  name_tensors(s, names);
}

void import_baichuan(const Config& c, Spec& s, const ImportOptions& o) {
  // Baichuan 1/2 7B use RoPE and name max_position_embeddings; the 13B models use ALiBi and only name
  // model_max_length (their modeling code has no rotary embedding at all).
  const bool alibi = !c.has("max_position_embeddings");
  Config with_context = c;
  if (alibi) with_context.set("max_position_embeddings", c.req<int64_t>("model_max_length"));
  llama_like(with_context, s, o);
  s.attention.qkv = QkvLayout::fused;
  if (alibi) s.positions = PositionKind::alibi;
  // Baichuan 2 (NormHead) configs carry z_loss_weight; Baichuan 1 configs do not.
  s.norm_head = c.has("z_loss_weight");
  s.add_bos = false;
  name_tensors(s, llama_names().with({{"qkv", "self_attn.W_pack.weight"}}));
}

// ChatGLM-6B v1 (THUDM/chatglm-6b modeling_chatglm.py; model_type chatglm as ChatGLM2/3, told apart by its keys):
// GLM's prefix-LM (a prompt is its text, [gMASK], BOS; the context bidirectional, then causal), 2D RoPE over the
// two halves of each head with the frequencies rounded to fp16 (inv_freq.half()), fused per-head qkv, LayerNorm,
// residuals from the normalised input × √(2·28) (see below), a GELU (tanh) MLP, biases everywhere.
void import_chatglm_v1(const Config& c, Spec& s, const ImportOptions& o) {
  s.vocab_size = c.req<int64_t>("vocab_size");
  s.hidden_size = c.req<int64_t>("hidden_size");
  s.num_layers = c.req<int64_t>("num_layers");
  s.max_context = context_for(c.get<int64_t>("max_sequence_length", 2048), o);
  s.tied_embeddings = c.get<bool>("tie_word_embeddings", true);  // chatglm-6b's config leaves the default
  if (!c.get<bool>("position_encoding_2d", true)) c.fail("position_encoding_2d", "1D positions are not supported");
  if (c.has("pre_seq_len")) c.fail("pre_seq_len", "P-tuning prefixes are not supported");
  if (c.get<int64_t>("quantization_bit", 0) != 0) c.fail("quantization_bit", "quantised checkpoints are not supported");
  const int64_t heads = c.req<int64_t>("num_attention_heads");
  if (heads <= 0 || s.hidden_size % (4 * heads) != 0)
    c.fail("num_attention_heads", fmt::format("{} heads do not split hidden_size {} into heads of a multiple of 4 "
                                              "(two rotated halves)", heads, s.hidden_size));
  s.attention.heads.assign(static_cast<size_t>(s.num_layers), heads);
  s.attention.kv_heads = s.attention.heads;
  s.attention.head_dim = s.hidden_size / heads;
  s.attention.window.assign(static_cast<size_t>(s.num_layers), 0);
  s.attention.qkv = QkvLayout::fused_per_head;
  set_biases(s.attention, true, true, true, true);
  s.attention.mask = AttentionMask::prefix;
  s.attention.prefix_lm = AttentionSpec::PrefixLm{c.get<int64_t>("gmask_token_id", 130001),
                                                  c.get<int64_t>("mask_token_id", 130000)};
  s.norm = {NormKind::layer, NormWeight::plain, true, c.get<double>("layernorm_epsilon", 1e-5)};
  s.residual_normed = true;
  // √(2·28): ChatGLMModel builds its GLMBlocks without num_layers, so GLMBlock's default of 28 sets alpha whatever
  // the config's num_layers (chatglm-6b has 28 layers; the 2-layer golden case shows the default applies).
  s.residual_alpha = std::sqrt(2.0 * 28.0);
  s.positions = PositionKind::rope;
  s.rope.theta = 10000.0;
  s.rope.pairing = RopePairing::half;
  s.rope.rotary_dim = s.attention.head_dim / 2;
  s.rope.two_d = true;
  s.rope.f16_frequencies = true;
  s.mlp.kind = MlpKind::plain;
  s.mlp.activation = Activation::gelu_tanh;
  s.mlp.bias = true;
  s.mlp.intermediate.assign(static_cast<size_t>(s.num_layers),
                            c.get<int64_t>("inner_hidden_size", 4 * s.hidden_size));
  s.bos = c.token("bos_token_id");
  s.eos = c.token("eos_token_id");
  s.add_bos = false;  // BOS ends the context, after [gMASK]: the prompt carries both
  std::vector<std::string> unused = {"transformer.layers.{i}.attention.rotary_emb.inv_freq"};  // recomputed
  if (s.tied_embeddings) unused.push_back("lm_head.weight");
  name_tensors(s, NameTable{{{"embed", "transformer.word_embeddings.weight"},
                             {"final_norm", "transformer.final_layernorm.weight"},
                             {"final_norm_bias", "transformer.final_layernorm.bias"},
                             {"lm_head", "lm_head.weight"}},
                            "transformer.layers.{i}.",
                            {{"attn_norm", "input_layernorm.weight"},
                             {"attn_norm_bias", "input_layernorm.bias"},
                             {"qkv", "attention.query_key_value.weight"},
                             {"qkv_bias", "attention.query_key_value.bias"},
                             {"o", "attention.dense.weight"},
                             {"o_bias", "attention.dense.bias"},
                             {"ffn_norm", "post_attention_layernorm.weight"},
                             {"ffn_norm_bias", "post_attention_layernorm.bias"},
                             {"up", "mlp.dense_h_to_4h.weight"},
                             {"up_bias", "mlp.dense_h_to_4h.bias"},
                             {"down", "mlp.dense_4h_to_h.weight"},
                             {"down_bias", "mlp.dense_4h_to_h.bias"}},
                            unused});
}

void import_chatglm(const Config& c, Spec& s, const ImportOptions& o) {
  if (c.has("position_encoding_2d") || c.has("inner_hidden_size")) return import_chatglm_v1(c, s, o);
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
  set_biases(s.attention, qkv_bias || bias, qkv_bias || bias, qkv_bias || bias, bias);
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
  name_tensors(s, chatglm_names());
}

void import_cohere(const Config& c, Spec& s, const ImportOptions& o) {
  llama_like(c, s, o);
  s.tied_embeddings = c.get<bool>("tie_word_embeddings", true);
  s.norm = {NormKind::layer, NormWeight::plain, false, c.req<double>("layer_norm_eps")};
  s.residual = Residual::parallel;
  s.rope.pairing = RopePairing::interleaved;
  s.logit_scale = c.req<double>("logit_scale");
  if (c.get<bool>("use_qk_norm", false)) {
    // CohereLayerNorm over head_dim with a [heads, head_dim] weight: every head has its own.
    s.attention.qk_norm = QkNorm::per_head;
    s.attention.qk_norm_weights = QkNormWeights::per_head;
    s.attention.qk_norm_spec = s.norm;
  }
  name_tensors(s, llama_names().with({}, {"ffn_norm"}));  // both branches read the input norm
}

// make_divisible from configuration_openelm.py.
int64_t make_divisible(double v, int64_t k) {
  int64_t n = std::max<int64_t>(k, static_cast<int64_t>(v + static_cast<double>(k) / 2) / k * k);
  if (static_cast<double>(n) < 0.9 * v) n += k;
  return n;
}

// An OpenELM per-layer setting: a number, two ends of np.linspace rounded to 2 decimals, or one value per layer.
std::vector<double> openelm_per_layer(const Config& c, const std::string& key, int64_t layers) {
  std::vector<double> v;
  const json& j = c.raw(key);
  if (j.is_number()) {
    v.assign(static_cast<size_t>(layers), j.get<double>());
  } else if (j.is_array() && static_cast<int64_t>(j.size()) == layers) {
    v = j.get<std::vector<double>>();
  } else if (j.is_array() && j.size() == 2) {
    const double a = j[0].get<double>(), b = j[1].get<double>();
    for (int64_t i = 0; i < layers; ++i) {
      const double x = layers == 1 ? a : a + (b - a) * static_cast<double>(i) / static_cast<double>(layers - 1);
      v.push_back(std::round(x * 100.0) / 100.0);
    }
  } else {
    c.fail(key, fmt::format("expected a number, two numbers or {} numbers", layers));
  }
  return v;
}

void import_openelm(const Config& c, Spec& s, const ImportOptions& o) {
  s.vocab_size = c.req<int64_t>("vocab_size");
  s.hidden_size = c.req<int64_t>("model_dim");
  s.num_layers = c.req<int64_t>("num_transformer_layers");
  s.max_context = context_for(c.get<int64_t>("max_context_length", 2048), o);
  s.tied_embeddings = c.get<bool>("share_input_output_layers", false);
  const int64_t layers = s.num_layers, d = s.hidden_size;
  const int64_t head_dim = c.req<int64_t>("head_dim");
  const int64_t groups = c.get<int64_t>("num_gqa_groups", 1);
  if (c.has("num_query_heads") && c.raw("num_query_heads").is_array()) {
    s.attention.heads = c.req<std::vector<int64_t>>("num_query_heads");
    s.attention.kv_heads = c.has("num_kv_heads") ? c.req<std::vector<int64_t>>("num_kv_heads") : std::vector<int64_t>();
    if (s.attention.kv_heads.empty())
      for (int64_t h : s.attention.heads) s.attention.kv_heads.push_back(h / groups);
  } else {
    for (double m : openelm_per_layer(c, "qkv_multipliers", layers)) {
      const int64_t q_dim = make_divisible(static_cast<double>(d) * m, head_dim * groups);
      s.attention.heads.push_back(q_dim / head_dim);
      s.attention.kv_heads.push_back(q_dim / head_dim / groups);
    }
  }
  if (static_cast<int64_t>(s.attention.heads.size()) != layers || static_cast<int64_t>(s.attention.kv_heads.size()) != layers)
    c.fail("num_query_heads", fmt::format("expected {} values (one per layer)", layers));
  const int64_t divisor = c.get<int64_t>("ffn_dim_divisor", 256);
  for (double m : openelm_per_layer(c, "ffn_multipliers", layers))
    s.mlp.intermediate.push_back(make_divisible(m * static_cast<double>(d), divisor));
  s.attention.head_dim = head_dim;
  s.attention.window.assign(static_cast<size_t>(layers), 0);
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
  name_tensors(s, openelm_names());
}

void import_minicpm(const Config& c, Spec& s, const ImportOptions& o) {
  // openbmb MiniCPM remote code: µP scales on embeddings, residual branches and the classifier input.
  llama_like(c, s, o);
  s.tied_embeddings = c.get<bool>("tie_word_embeddings", true);
  // Later MiniCPM configs can switch the scales off (use_mup: false); the 2B remote code always applies them.
  if (c.get<bool>("use_mup", true)) {
    s.embedding_scale = c.req<double>("scale_emb");
    s.residual_scale = c.req<double>("scale_depth") / std::sqrt(static_cast<double>(s.num_layers));
    // lm_head(h / (hidden_size / dim_model_base)) is the logits × dim_model_base / hidden_size.
    s.logit_scale = c.req<double>("dim_model_base") / static_cast<double>(s.hidden_size);
  }
  name_tensors(s, llama_names());
}

void import_olmo2(const Config& c, Spec& s, const ImportOptions& o) {
  // OLMo 2: no input norms; a norm on each branch output; RMSNorm over the whole q and k projections.
  llama_like(c, s, o);
  s.pre_norms = false;
  s.post_norms = true;
  s.attention.qk_norm = QkNorm::whole;
  s.attention.qk_norm_spec = s.norm;
  name_tensors(s, llama_names().with({{"post_attn_norm", "post_attention_layernorm.weight"},
                                      {"post_ffn_norm", "post_feedforward_layernorm.weight"}}));
}

void import_qwen(const Config& c, Spec& s, const ImportOptions& o) {
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
  set_biases(s.attention, true, true, true, bias);  // c_attn always has a bias
  s.norm = {NormKind::rms, NormWeight::plain, false, c.get<double>("layer_norm_epsilon", 1e-6)};
  s.positions = PositionKind::rope;
  s.rope.theta = c.get<double>("rotary_emb_base", 10000.0);
  s.rope.pairing = RopePairing::half;
  s.rope.rotary_dim = rotary_dims(c, "rotary_pct", c.get<double>("rotary_pct", 1.0), s.attention.head_dim);
  s.mlp.kind = MlpKind::gated;
  s.mlp.activation = Activation::silu;
  s.mlp.bias = bias;
  s.mlp.intermediate.assign(static_cast<size_t>(s.num_layers), c.req<int64_t>("intermediate_size") / 2);
  s.bos = c.token("bos_token_id");
  s.eos = c.token("eos_token_id");
  s.add_bos = false;
  name_tensors(s, qwen_names());
}

void import_gpt_neox(const Config& c, Spec& s, const ImportOptions& o) {
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
  set_biases(s.attention, bias, bias, bias, bias);
  s.norm = {NormKind::layer, NormWeight::plain, true, c.req<double>("layer_norm_eps")};
  s.positions = PositionKind::rope;
  s.rope.theta = c.get<double>("rope_theta", c.get<double>("rotary_emb_base", 10000.0));
  s.rope.pairing = RopePairing::half;
  const char* rotary_key = c.has("partial_rotary_factor") ? "partial_rotary_factor" : "rotary_pct";
  s.rope.rotary_dim = rotary_dims(c, rotary_key, c.get<double>(rotary_key, 1.0), s.attention.head_dim);
  s.mlp.kind = MlpKind::plain;
  s.mlp.activation = activation_from(c, "hidden_act", c.req<std::string>("hidden_act"));
  s.mlp.intermediate.assign(static_cast<size_t>(s.num_layers), c.req<int64_t>("intermediate_size"));
  s.mlp.bias = true;
  s.residual = c.get<bool>("use_parallel_residual", true) ? Residual::parallel : Residual::sequential;
  s.bos = c.token("bos_token_id");
  s.eos = c.token("eos_token_id");
  s.add_bos = false;
  name_tensors(s, gpt_neox_names());  // parallel blocks with a norm per branch
}

// The MoE block of Mixtral-style configs: num_local_experts (or num_experts) experts of intermediate_size (or
// moe_intermediate_size), num_experts_per_tok of them per token.
void moe_like(const Config& c, Spec& s, Routing routing, bool renormalize) {
  MlpSpec& m = s.mlp;
  MoeSpec& e = m.moe;
  m.kind = MlpKind::moe;
  e.experts = c.req_any<int64_t>({"num_local_experts", "num_experts"});
  e.top_k = c.req<int64_t>("num_experts_per_tok");
  if (e.top_k <= 0 || e.top_k > e.experts)
    c.fail("num_experts_per_tok", fmt::format("{} experts per token is not between 1 and the {} experts", e.top_k,
                                              e.experts));
  e.routing = routing;
  e.renormalize = renormalize;
  if (c.has("moe_intermediate_size"))
    m.intermediate.assign(static_cast<size_t>(s.num_layers), c.req<int64_t>("moe_intermediate_size"));
}

// Mixtral's names for its experts.
const NameTable& mixtral_names() {
  static const NameTable t = llama_names().with({{"router", "block_sparse_moe.gate.weight"},
                                                 {"expert_gate", "block_sparse_moe.experts.{e}.w1.weight"},
                                                 {"expert_up", "block_sparse_moe.experts.{e}.w3.weight"},
                                                 {"expert_down", "block_sparse_moe.experts.{e}.w2.weight"}});
  return t;
}

// Qwen-MoE / OLMoE names: experts under mlp, as Llama's MLP names.
const NameTable& qwen_moe_names() {
  static const NameTable t = llama_names().with({{"router", "mlp.gate.weight"},
                                                 {"expert_gate", "mlp.experts.{e}.gate_proj.weight"},
                                                 {"expert_up", "mlp.experts.{e}.up_proj.weight"},
                                                 {"expert_down", "mlp.experts.{e}.down_proj.weight"},
                                                 {"shared_gate", "mlp.shared_expert.gate_proj.weight"},
                                                 {"shared_up", "mlp.shared_expert.up_proj.weight"},
                                                 {"shared_down", "mlp.shared_expert.down_proj.weight"},
                                                 {"shared_expert_gate", "mlp.shared_expert_gate.weight"}});
  return t;
}

void import_mixtral(const Config& c, Spec& s, const ImportOptions& o) {
  llama_like(c, s, o);
  window_everywhere(c, s, "sliding_window");
  moe_like(c, s, Routing::softmax_topk, true);  // MixtralSparseMoeBlock always renormalises the top k
  name_tensors(s, mixtral_names());
}

// Qwen2-MoE and Qwen3-MoE: layers are sparse unless listed in mlp_only_layers or off the decoder_sparse_step
// grid; those keep a dense MLP of intermediate_size.
void qwen_moe_layers(const Config& c, Spec& s) {
  MoeSpec& e = s.mlp.moe;
  const int64_t step = c.get<int64_t>("decoder_sparse_step", 1);
  if (step <= 0) c.fail("decoder_sparse_step", fmt::format("expected a positive step, found {}", step));
  const std::vector<int64_t> only_mlp = c.get<std::vector<int64_t>>("mlp_only_layers", {});
  for (int64_t i = 0; i < s.num_layers; ++i)
    if (std::find(only_mlp.begin(), only_mlp.end(), i) != only_mlp.end() || (i + 1) % step != 0)
      e.dense_layers.push_back(i);
  if (!e.dense_layers.empty()) e.dense_intermediate = c.req<int64_t>("intermediate_size");
}

void import_qwen2_moe(const Config& c, Spec& s, const ImportOptions& o) {
  import_qwen2(c, s, o);
  moe_like(c, s, Routing::softmax_topk, c.get<bool>("norm_topk_prob", false));
  qwen_moe_layers(c, s);
  // One shared expert, gated by sigmoid(shared_expert_gate · x).
  s.mlp.moe.shared_intermediate = c.req<int64_t>("shared_expert_intermediate_size");
  s.mlp.moe.shared_gate = true;
  name_tensors(s, qwen_moe_names());
}

void import_qwen3_moe(const Config& c, Spec& s, const ImportOptions& o) {
  import_qwen3(c, s, o);
  moe_like(c, s, Routing::softmax_topk, c.get<bool>("norm_topk_prob", false));
  qwen_moe_layers(c, s);
  name_tensors(s, qwen_moe_names());
}

void import_olmoe(const Config& c, Spec& s, const ImportOptions& o) {
  // OLMoE: RMSNorm over the whole q and k projections (as OLMo 2), pre-norm layers, Qwen-MoE's expert names.
  llama_like(c, s, o);
  s.attention.qk_norm = QkNorm::whole;
  s.attention.qk_norm_spec = s.norm;
  s.attention.clip_qkv = c.get<double>("clip_qkv", 0.0);
  moe_like(c, s, Routing::softmax_topk, c.get<bool>("norm_topk_prob", false));
  name_tensors(s, qwen_moe_names());
}

void import_granitemoe(const Config& c, Spec& s, const ImportOptions& o) {
  // GraniteMoE: Granite's µP multipliers; experts stored stacked ([experts, 2·width, hidden] = [gate; up]) and
  // routed by a softmax over the top k logits.
  import_granite(c, s, o);
  moe_like(c, s, Routing::topk_softmax, false);
  s.mlp.fused_gate_up = true;
  name_tensors(s, llama_names().with({{"router", "block_sparse_moe.router.layer.weight"},
                                      {"expert_gate_up", "block_sparse_moe.input_linear.weight"},
                                      {"expert_down", "block_sparse_moe.output_linear.weight"}}));
}

void import_phimoe(const Config& c, Spec& s, const ImportOptions& o) {
  // PhiMoE: Mixtral's layout with LayerNorms (eps from rms_norm_eps), attention biases, a classifier bias and
  // sparsemixer routing.
  llama_like(c, s, o);
  window_everywhere(c, s, "sliding_window");
  s.norm = {NormKind::layer, NormWeight::plain, true, c.get<double>("rms_norm_eps", 1e-5)};
  const bool attention_bias = c.get<bool>("attention_bias", false);
  set_biases(s.attention, attention_bias, attention_bias, attention_bias, attention_bias);
  s.logit_bias = c.get<bool>("lm_head_bias", false);
  moe_like(c, s, Routing::sparsemixer, false);
  s.mlp.moe.jitter_eps = c.get<double>("router_jitter_noise", 0.01);
  NameTable names = mixtral_names();
  names.global["lm_head_bias"] = "lm_head.bias";
  name_tensors(s, names);
}

// Grok-1, as keyfan's PyTorch port (the golden reference): Mixtral's MoE with GELU experts and unrenormalised
// weights, four RMSNorms per layer (sandwich), attention logits scaled by attn_output_multiplier and capped at
// 30·tanh(x/30), embeddings × embedding_multiplier_scale and logits × output_multiplier_scale.
void import_grok(const Config& c, Spec& s, const ImportOptions& o) {
  llama_like(c, s, o);
  s.tied_embeddings = c.get<bool>("tie_word_embeddings", true);
  s.post_norms = true;
  s.attention.scale = c.req<double>("attn_output_multiplier");
  s.attention.softcap = c.get<double>("max_attn_value", 30.0);
  s.embedding_scale = c.req<double>("embedding_multiplier_scale");
  s.logit_scale = c.req<double>("output_multiplier_scale");
  s.mlp.activation = activation_from(c, "hidden_act", c.get<std::string>("hidden_act", "gelu"));
  moe_like(c, s, Routing::softmax_topk, false);
  static const NameTable names{{{"embed", "transformer.in_out_embed.weight"},
                                {"final_norm", "transformer.rms_norm.weight"},
                                {"lm_head", "lm_head.weight"}},
                               "transformer.decoder_layer.{i}.",
                               {{"attn_norm", "rms_norm.weight"},
                                {"q", "multi_head_attention.query.weight"},
                                {"k", "multi_head_attention.key.weight"},
                                {"v", "multi_head_attention.value.weight"},
                                {"o", "multi_head_attention.linear.weight"},
                                {"post_attn_norm", "rms_norm_1.weight"},
                                {"ffn_norm", "rms_norm_2.weight"},
                                {"router", "router.weight"},
                                {"expert_gate", "moe.{e}.linear.weight"},
                                {"expert_up", "moe.{e}.linear_v.weight"},
                                {"expert_down", "moe.{e}.linear_1.weight"},
                                {"post_ffn_norm", "rms_norm_3.weight"}},
                               {}};
  name_tensors(s, names);
}

// Llama 4 (text), as transformers v4.51: Llama's layout, RoPE on interleaved pairs. Layers flagged 1 in
// no_rope_layers rotate q and k, then L2-normalise them (use_qk_norm; eps 1e-6, not rms_norm_eps) and attend
// within chunks of attention_chunk_size; the others (NoPE) attend globally with q scaled by the attention
// temperature. Layers in moe_layers are MoE: a top-k sigmoid router whose weight scales the expert's input,
// experts stacked [count, in, out] ([gate | up] in one tensor) and a shared expert; the rest are dense MLPs of
// intermediate_size_mlp.
void import_llama4(const Config& c, Spec& s, const ImportOptions& o) {
  llama_like(c, s, o);
  s.rope.pairing = RopePairing::interleaved;
  std::vector<int64_t> rotates;  // 1: the layer uses RoPE
  for (int64_t i = 0; i < s.num_layers; ++i) rotates.push_back((i + 1) % 4 != 0);
  rotates = c.get<std::vector<int64_t>>("no_rope_layers", rotates);
  if (static_cast<int64_t>(rotates.size()) != s.num_layers)
    c.fail("no_rope_layers", fmt::format("expected {} flags (one per layer), found {}", s.num_layers, rotates.size()));
  const int64_t chunk = c.get<int64_t>("attention_chunk_size", 0);
  for (int64_t i = 0; i < s.num_layers; ++i) {
    if (rotates[static_cast<size_t>(i)]) s.attention.chunk.push_back(chunk);
    else s.rope.nope_layers.push_back(i), s.attention.chunk.push_back(0);
  }
  if (c.get<bool>("use_qk_norm", false)) {
    s.attention.qk_norm = QkNorm::head;
    s.attention.qk_norm_spec = NormSpec{NormKind::rmsnorm, NormWeight::none, false, 1e-6};
    s.attention.qk_norm_after_rope = true;
  }
  if (c.get<int64_t>("attn_temperature_tuning", 0) != 0)
    s.attention.temperature_tuning = TemperatureTuning{c.req<double>("floor_scale"), c.req<double>("attn_scale")};

  moe_like(c, s, Routing::topk_sigmoid, false);
  MoeSpec& e = s.mlp.moe;
  e.weighted_input = true;
  e.shared_intermediate = c.req<int64_t>("intermediate_size");
  s.mlp.fused_gate_up = true;
  s.weights.expert_layout = TensorLayout::conv1d;
  const int64_t step = c.get<int64_t>("interleave_moe_layer_step", 1);
  if (step <= 0) c.fail("interleave_moe_layer_step", fmt::format("expected a positive step, found {}", step));
  std::vector<int64_t> sparse;
  for (int64_t i = step - 1; i < s.num_layers; i += step) sparse.push_back(i);
  sparse = c.get<std::vector<int64_t>>("moe_layers", sparse);
  for (int64_t i = 0; i < s.num_layers; ++i)
    if (std::find(sparse.begin(), sparse.end(), i) == sparse.end()) e.dense_layers.push_back(i);
  if (!e.dense_layers.empty()) e.dense_intermediate = c.req<int64_t>("intermediate_size_mlp");
  name_tensors(s, llama_names().with({{"gate", "feed_forward.gate_proj.weight"},
                                      {"up", "feed_forward.up_proj.weight"},
                                      {"down", "feed_forward.down_proj.weight"},
                                      {"router", "feed_forward.router.weight"},
                                      {"expert_gate_up", "feed_forward.experts.gate_up_proj"},
                                      {"expert_down", "feed_forward.experts.down_proj"},
                                      {"shared_gate", "feed_forward.shared_expert.gate_proj.weight"},
                                      {"shared_up", "feed_forward.shared_expert.up_proj.weight"},
                                      {"shared_down", "feed_forward.shared_expert.down_proj.weight"}}));
}

// DeepSeek-V2 / V3 names (modeling_deepseek.py; transformers' deepseek_v3): MLA projections under self_attn,
// experts and shared experts under mlp.
const NameTable& deepseek_names() {
  static const NameTable t = llama_names().with({{"q_a", "self_attn.q_a_proj.weight"},
                                                 {"q_a_norm", "self_attn.q_a_layernorm.weight"},
                                                 {"q_b", "self_attn.q_b_proj.weight"},
                                                 {"kv_a", "self_attn.kv_a_proj_with_mqa.weight"},
                                                 {"kv_a_norm", "self_attn.kv_a_layernorm.weight"},
                                                 {"kv_b", "self_attn.kv_b_proj.weight"},
                                                 {"router", "mlp.gate.weight"},
                                                 {"router_bias", "mlp.gate.e_score_correction_bias"},
                                                 {"expert_gate", "mlp.experts.{e}.gate_proj.weight"},
                                                 {"expert_up", "mlp.experts.{e}.up_proj.weight"},
                                                 {"expert_down", "mlp.experts.{e}.down_proj.weight"},
                                                 {"shared_gate", "mlp.shared_experts.gate_proj.weight"},
                                                 {"shared_up", "mlp.shared_experts.up_proj.weight"},
                                                 {"shared_down", "mlp.shared_experts.down_proj.weight"}});
  return t;
}

// Multi-head latent attention from a DeepSeek config: q/k heads of nope + rope, the rope part rotated with its
// pairs interleaved (the reference permutes them to rotate_half order in q and k alike, which leaves q·k as is).
void deepseek_attention(const Config& c, Spec& s) {
  AttentionSpec& a = s.attention;
  a.kind = AttentionKind::mla;
  const int64_t nope = c.req<int64_t>("qk_nope_head_dim"), rope = c.req<int64_t>("qk_rope_head_dim");
  a.head_dim = nope + rope;
  a.kv_heads = a.heads;
  a.mla.q_lora_rank = c.get<int64_t>("q_lora_rank", 0);
  a.mla.kv_lora_rank = c.req<int64_t>("kv_lora_rank");
  a.mla.v_head_dim = c.req<int64_t>("v_head_dim");
  a.mla.norm_eps = 1e-6;  // DeepseekV2RMSNorm(q_lora_rank / kv_lora_rank): the default eps, not rms_norm_eps
  s.rope.rotary_dim = rope;
  s.rope.pairing = c.get<bool>("rope_interleave", true) ? RopePairing::interleaved : RopePairing::half;
}

// DeepSeekMoE: n_routed_experts fine-grained experts of moe_intermediate_size and n_shared_experts of them fused
// into one shared expert; layers below first_k_dense_replace and off the moe_layer_freq grid are dense.
// v2_weights: V2's remote code scales the weights by routed_scaling_factor only when it does not renormalise.
void deepseek_moe(const Config& c, Spec& s, bool v2_weights) {
  if (!c.has("n_routed_experts")) return;  // a dense model
  MlpSpec& m = s.mlp;
  MoeSpec& e = m.moe;
  m.kind = MlpKind::moe;
  e.experts = c.req<int64_t>("n_routed_experts");
  e.top_k = c.req<int64_t>("num_experts_per_tok");
  m.intermediate.assign(static_cast<size_t>(s.num_layers), c.req<int64_t>("moe_intermediate_size"));
  e.shared_intermediate = c.get<int64_t>("n_shared_experts", 0) * c.req<int64_t>("moe_intermediate_size");
  const std::string method = c.get<std::string>("topk_method", v2_weights ? "greedy" : "noaux_tc");
  const std::string scoring = c.get<std::string>("scoring_func", method == "noaux_tc" ? "sigmoid" : "softmax");
  if (method == "greedy" && scoring == "softmax") e.routing = Routing::softmax_topk;
  else if (method == "group_limited_greedy" && scoring == "softmax") e.routing = Routing::group_limited_greedy;
  else if (method == "noaux_tc" && scoring == "sigmoid") e.routing = Routing::noaux_tc;
  else c.fail("topk_method", fmt::format("'{}' with scoring_func '{}' is not supported (greedy or group_limited_greedy "
                                         "with softmax, noaux_tc with sigmoid)", method, scoring));
  if (e.routing != Routing::softmax_topk) {
    e.groups = c.req<int64_t>("n_group");
    e.top_groups = c.req<int64_t>("topk_group");
    if (e.groups <= 0 || e.experts % e.groups != 0)
      c.fail("n_group", fmt::format("{} groups do not divide the {} routed experts", e.groups, e.experts));
    if (e.top_groups <= 0 || e.top_groups > e.groups)
      c.fail("topk_group", fmt::format("{} groups kept, expected 1 to n_group ({})", e.top_groups, e.groups));
  }
  // V2: `if top_k > 1 and norm_topk_prob: w /= sum else: w *= routed_scaling_factor`; V3 renormalises, then scales.
  e.renormalize = c.get<bool>("norm_topk_prob", false) && (!v2_weights || e.top_k > 1);
  e.scale = v2_weights && e.renormalize ? 1.0 : c.get<double>("routed_scaling_factor", 1.0);
  const int64_t first_sparse = c.get<int64_t>("first_k_dense_replace", 0), freq = c.get<int64_t>("moe_layer_freq", 1);
  if (freq <= 0) c.fail("moe_layer_freq", fmt::format("expected a positive step, found {}", freq));
  for (int64_t i = 0; i < s.num_layers; ++i)
    if (i < first_sparse || i % freq != 0) e.dense_layers.push_back(i);
  if (!e.dense_layers.empty()) e.dense_intermediate = c.req<int64_t>("intermediate_size");
}

void import_deepseek_v2(const Config& c, Spec& s, const ImportOptions& o) {
  llama_like(c, s, o);
  deepseek_attention(c, s);
  deepseek_moe(c, s, true);
  name_tensors(s, deepseek_names());
}

void import_deepseek_v3(const Config& c, Spec& s, const ImportOptions& o) {
  llama_like(c, s, o);
  deepseek_attention(c, s);
  deepseek_moe(c, s, false);
  name_tensors(s, deepseek_names());
}

// T5 (modeling_t5.py), and its v1.1 / Flan-T5 variants: an encoder–decoder. Both stacks are pre-norm T5
// LayerNorm (RMS, no bias) blocks with unscaled attention and a relative position bias table in block 0 of each
// stack; decoder blocks add cross-attention (layer.1) before the feed-forward (layer.2). feed_forward_proj relu
// (T5): wo(relu(wi(x))); gated-gelu (v1.1, Flan): wo(gelu_new(wi_0(x)) · wi_1(x)). A tied classifier (original T5)
// sees the decoder output × d_model^−½; v1.1 has an untied lm_head, unscaled.
void import_t5(const Config& c, Spec& s, const ImportOptions& o) {
  s.kind = ModelKind::encoder_decoder;
  s.vocab_size = c.req<int64_t>("vocab_size");
  s.hidden_size = c.req<int64_t>("d_model");
  const int64_t encoder_layers = c.req<int64_t>("num_layers");
  s.num_layers = c.get<int64_t>("num_decoder_layers", encoder_layers);
  s.max_context = context_for(c.get<int64_t>("n_positions", 512), o);  // relative positions: no table limits it
  s.tied_embeddings = c.get<bool>("tie_word_embeddings", true);
  const int64_t heads = c.req<int64_t>("num_heads");
  s.attention.heads.assign(static_cast<size_t>(s.num_layers), heads);
  s.attention.kv_heads = s.attention.heads;
  s.attention.head_dim = c.req<int64_t>("d_kv");
  s.attention.window.assign(static_cast<size_t>(s.num_layers), 0);
  s.attention.scale = 1.0;  // T5 folds 1/√d into its initialisation
  s.norm = {NormKind::rms, NormWeight::plain, false, c.get<double>("layer_norm_epsilon", 1e-6)};
  s.positions = PositionKind::relative;
  s.relative.buckets = c.get<int64_t>("relative_attention_num_buckets", 32);
  s.relative.max_distance = c.get<int64_t>("relative_attention_max_distance", 128);
  // feed_forward_proj: "[gated-]ACT"; T5Config turns gated-gelu into gelu_new (tanh).
  const std::string proj = c.get<std::string>("feed_forward_proj", "relu");
  const bool gated = proj.rfind("gated-", 0) == 0;
  const std::string act = gated ? proj.substr(6) : proj;
  if (act.empty() || act.find('-') != std::string::npos)
    c.fail("feed_forward_proj", fmt::format("'{}' is not '[gated-]ACT' (relu, gated-gelu, ...)", proj));
  s.mlp.kind = gated ? MlpKind::gated : MlpKind::plain;
  s.mlp.activation = gated && act == "gelu" ? Activation::gelu_tanh : activation_from(c, "feed_forward_proj", act);
  s.mlp.intermediate.assign(static_cast<size_t>(s.num_layers), c.req<int64_t>("d_ff"));
  if (s.tied_embeddings) s.logit_scale = 1.0 / std::sqrt(static_cast<double>(s.hidden_size));
  s.bos = -1;
  s.eos = c.token("eos_token_id");
  s.add_bos = false;
  s.tokenizer_kind = "unigram";  // T5's SentencePiece vocabulary (spiece.model, tokenizer.json Unigram)
  EncoderSpec& e = s.encoder.emplace();
  e.num_layers = encoder_layers;
  e.decoder_start = c.token("decoder_start_token_id");
  if (e.decoder_start < 0) c.fail("decoder_start_token_id", "missing: the decoder needs a start token");
  e.add_eos = s.eos >= 0;  // T5's tokenizer ends every source with </s>

  // Sublayer names: self-attention, [cross-attention,] feed-forward.
  const auto names = [](const std::string& ffn) {
    return std::map<std::string, std::string>{
        {"attn_norm", "layer.0.layer_norm.weight"},     {"q", "layer.0.SelfAttention.q.weight"},
        {"k", "layer.0.SelfAttention.k.weight"},        {"v", "layer.0.SelfAttention.v.weight"},
        {"o", "layer.0.SelfAttention.o.weight"},        {"cross_norm", "layer.1.layer_norm.weight"},
        {"cross_q", "layer.1.EncDecAttention.q.weight"}, {"cross_k", "layer.1.EncDecAttention.k.weight"},
        {"cross_v", "layer.1.EncDecAttention.v.weight"}, {"cross_o", "layer.1.EncDecAttention.o.weight"},
        {"ffn_norm", ffn + ".layer_norm.weight"},       {"up", ffn + ".DenseReluDense.wi.weight"},
        {"down", ffn + ".DenseReluDense.wo.weight"}};
  };
  auto decoder = names("layer.2"), encoder = names("layer.1");
  for (auto* table : {&decoder, &encoder})
    if (gated) {
      const std::string ffn = table == &decoder ? "layer.2" : "layer.1";
      (*table)["gate"] = ffn + ".DenseReluDense.wi_0.weight";
      (*table)["up"] = ffn + ".DenseReluDense.wi_1.weight";
    }
  NameTable table{{{"embed", "shared.weight"},
                   {"final_norm", "decoder.final_layer_norm.weight"},
                   {"lm_head", "lm_head.weight"},
                   {"relative_bias", "decoder.block.0.layer.0.SelfAttention.relative_attention_bias.weight"},
                   {"encoder_relative_bias", "encoder.block.0.layer.0.SelfAttention.relative_attention_bias.weight"},
                   {"encoder_final_norm", "encoder.final_layer_norm.weight"}},
                  "decoder.block.{i}.",
                  decoder,
                  // Copies of shared.weight that older checkpoints store.
                  {"encoder.embed_tokens.weight", "decoder.embed_tokens.weight"}};
  if (s.tied_embeddings) table.unused.push_back("lm_head.weight");
  name_tensors(s, table);
  s.weights.encoder_layer.clear();
  for (const std::string& role : tensor_roles(s).encoder_layer)
    s.weights.encoder_layer[role] = "encoder.block.{i}." + encoder.at(role);
}

}  // namespace

const std::map<std::string, FamilyImporter>& family_importers() {
  static const std::map<std::string, FamilyImporter> table = {
      {"baichuan", import_baichuan}, {"bloom", import_bloom},         {"chatglm", import_chatglm},
      {"cohere", import_cohere},     {"deepseek_v2", import_deepseek_v2}, {"deepseek_v3", import_deepseek_v3},
      {"falcon", import_falcon},     {"gemma", import_gemma},         {"gemma2", import_gemma2},
      {"gemma3_text", import_gemma3},
      {"gpt2", import_gpt2},         {"gpt_neox", import_gpt_neox},   {"granite", import_granite},
      {"internlm2", import_internlm2}, {"mamba", import_mamba},
      {"mamba2", import_mamba2},     {"yuan", import_yuan},           {"llama", import_llama},
      {"minicpm", import_minicpm},
      {"mistral", import_mistral},   {"olmo", import_olmo},           {"olmo2", import_olmo2},
      {"openai-gpt", import_openai_gpt}, {"openelm", import_openelm}, {"phi3", import_phi3},
      {"qwen", import_qwen},         {"rwkv", import_rwkv},         {"qwen2", import_qwen2},         {"qwen3", import_qwen3},
      {"stablelm", import_stablelm}, {"starcoder2", import_starcoder2},
      // Encoder–decoders.
      {"t5", import_t5},
      // Mixtures of experts.
      {"grok", import_grok},         {"granitemoe", import_granitemoe}, {"mixtral", import_mixtral},
      {"olmoe", import_olmoe},       {"phimoe", import_phimoe},       {"qwen2_moe", import_qwen2_moe},
      {"qwen3_moe", import_qwen3_moe}, {"llama4_text", import_llama4},
  };
  static const std::map<std::string, FamilyImporter> with_encoders = [] {
    std::map<std::string, FamilyImporter> all = table;
    all.insert(encoder_importers().begin(), encoder_importers().end());
    return all;
  }();
  return with_encoders;
}

// The llama2.c reader names its tensors as Hugging Face's Llama does.
void name_llama_tensors(Spec& s) { name_tensors(s, llama_names()); }

}  // namespace llmc::import_detail
