// Writes a Spec back as an arch YAML (used by `llmc import`). parse_spec(spec_to_yaml(s)) gives s back.
#include <fmt/format.h>
#include <fmt/ranges.h>

#include "import.hpp"

namespace llmc {
namespace {

std::string num(double v) {
  std::string s = fmt::format("{}", v);  // shortest text that reads back as v
  if (s.find_first_of(".en") == std::string::npos) s += ".0";
  return s;
}

std::string per_layer(const std::vector<int64_t>& v) {
  bool same = true;
  for (int64_t x : v) same = same && x == v.front();
  return same ? std::to_string(v.front()) : fmt::format("[{}]", fmt::join(v, ", "));
}

// A YAML double-quoted scalar: control characters escaped (a raw newline would fold into a space).
std::string quoted(const std::string& s) {
  std::string out = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') out += '\\';
    if (c == '\n') out += "\\n";
    else if (c == '\t') out += "\\t";
    else if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) out += fmt::format("\\x{:02x}", static_cast<unsigned char>(c));
    else out += c;
  }
  return out + "\"";
}

std::string norm(const NormSpec& n) {
  const char* weight = n.weight == NormWeight::plain ? "plain" : n.weight == NormWeight::offset_one ? "offset_one" : "none";
  return fmt::format("{{kind: {}, weight: {}, bias: {}, eps: {}}}", to_string(n.kind), weight, n.bias, num(n.eps));
}

// A RoPE scaling as a YAML flow mapping.
std::string rope_scaling(const RopeScaling& x) {
  if (x.type == "linear") return fmt::format("{{type: linear, factor: {}}}", num(x.factor));
  if (x.type == "llama3")
    return fmt::format("{{type: llama3, factor: {}, low_freq_factor: {}, high_freq_factor: {}, original_max_positions: {}}}",
                       num(x.factor), num(x.low_freq_factor), num(x.high_freq_factor), x.original_max_positions);
  if (x.type == "yarn")
    return fmt::format("{{type: yarn, factor: {}, original_max_positions: {}, beta_fast: {}, beta_slow: {}, mscale: {}, "
                       "mscale_all_dim: {}}}",
                       num(x.factor), x.original_max_positions, num(x.beta_fast), num(x.beta_slow), num(x.mscale),
                       num(x.mscale_all_dim));
  return fmt::format("{{type: longrope, original_max_positions: {}, max_positions: {}{}, short_factor: [{}], "
                     "long_factor: [{}]}}",
                     x.original_max_positions, x.max_positions,
                     x.attention_factor ? ", attention_factor: " + num(*x.attention_factor) : "",
                     fmt::join(x.short_factor, ", "), fmt::join(x.long_factor, ", "));
}

}  // namespace

std::string spec_to_yaml(const Spec& s, const std::string& comment) {
  std::string y;
  auto line = [&](const std::string& l) { y += l + "\n"; };
  if (!comment.empty()) line("# " + comment);
  line("llmc: 1");
  line("name: " + quoted(s.name));
  line("family: " + quoted(s.family));
  line("model:");
  if (s.kind != ModelKind::causal_lm) line(fmt::format("  kind: {}", to_string(s.kind)));
  line(fmt::format("  vocab_size: {}", s.vocab_size));
  line(fmt::format("  hidden_size: {}", s.hidden_size));
  line(fmt::format("  num_layers: {}", s.num_layers));
  line(fmt::format("  max_context: {}", s.max_context));
  line(fmt::format("  tied_embeddings: {}", s.tied_embeddings));
  if (s.embedding_scale != 1.0) line("  embedding_scale: " + num(s.embedding_scale));
  if (s.embedding_norm) line("  embedding_norm: true");
  if (s.token_types) line(fmt::format("  token_types: {}", s.token_types));
  if (s.pooler) line("  pooler: true");
  if (s.encoder)
    line(fmt::format("encoder: {{num_layers: {}, decoder_start: {}, add_eos: {}}}", s.encoder->num_layers,
                     s.encoder->decoder_start, s.encoder->add_eos));
  line("norm: " + norm(s.norm));
  if (s.residual != Residual::sequential || !s.pre_norms || s.post_norms || s.residual_scale != 1.0 ||
      s.residual_normed) {
    line("block:");
    line(fmt::format("  residual: {}", s.residual == Residual::sequential ? "sequential"
                                       : s.residual == Residual::parallel ? "parallel"
                                                                          : "post_ln"));
    if (!s.pre_norms) line("  pre_norms: false");
    if (s.post_norms) line("  post_norms: true");
    if (s.residual_scale != 1.0) line("  residual_scale: " + num(s.residual_scale));
    if (s.residual_normed) line("  residual_input: normed\n  residual_alpha: " + num(s.residual_alpha));
  }
  const AttentionSpec& a = s.attention;
  if (s.mixer == MixerKind::rwkv4) line(fmt::format("mixer: {{kind: rwkv4, size: {}}}", s.mixer_size));
  const std::string ssm_layout = s.ssm_layout == SsmLayout::gguf ? ", layout: gguf" : "";
  if (s.mixer == MixerKind::mamba)
    line(fmt::format("mixer: {{kind: mamba, size: {}, state_size: {}, conv_kernel: {}, dt_rank: {}{}}}", s.mixer_size,
                     s.ssm_state, s.conv_kernel, s.dt_rank, ssm_layout));
  if (s.mixer == MixerKind::mamba2)
    line(fmt::format("mixer: {{kind: mamba2, size: {}, state_size: {}, conv_kernel: {}, heads: {}, groups: {}{}{}}}",
                     s.mixer_size, s.ssm_state, s.conv_kernel, s.ssm_heads, s.ssm_groups,
                     s.dt_min != 0.0 ? ", dt_min: " + num(s.dt_min) : "", ssm_layout));
  if (s.mixer == MixerKind::attention) {
  line("attention:");
  if (a.kind == AttentionKind::mla) {
    line("  kind: mla");
    line(fmt::format("  mla: {{{}kv_lora_rank: {}, v_head_dim: {}, norm_eps: {}{}}}",
                     a.mla.q_lora_rank ? fmt::format("q_lora_rank: {}, ", a.mla.q_lora_rank) : "",
                     a.mla.kv_lora_rank, a.mla.v_head_dim, num(a.mla.norm_eps),
                     a.mla.kv_b == MlaKvB::split ? ", kv_b: split" : ""));
  }
  line("  heads: " + per_layer(a.heads));
  line("  kv_heads: " + per_layer(a.kv_heads));
  line(fmt::format("  head_dim: {}", a.head_dim));
  line(fmt::format("  qkv: {}", to_string(a.qkv)));
  line(fmt::format("  bias: {{q: {}, k: {}, v: {}, o: {}}}", a.bias_q, a.bias_k, a.bias_v, a.bias_o));
  if (a.scale) line("  scale: " + num(*a.scale));
  if (a.softcap != 0.0) line("  softcap: " + num(a.softcap));
  bool windowed = false;
  for (int64_t w : a.window) windowed = windowed || w != 0;
  if (windowed) line("  window: " + per_layer(a.window));
  bool chunked = false;
  for (int64_t c : a.chunk) chunked = chunked || c != 0;
  if (chunked) line("  chunk: " + per_layer(a.chunk));
  if (a.qk_norm != QkNorm::none)
    line(fmt::format("  qk_norm: {{over: {}, norm: {}{}{}}}", a.qk_norm == QkNorm::head ? "head" : "projection",
                     norm(*a.qk_norm_spec),
                     a.qk_norm_weights == QkNormWeights::per_head ? ", weights: per_head" : "",
                     a.qk_norm_after_rope ? ", after_rope: true" : ""));
  if (a.temperature_tuning)
    line(fmt::format("  temperature_tuning: {{floor_scale: {}, scale: {}}}", num(a.temperature_tuning->floor_scale),
                     num(a.temperature_tuning->scale)));
  if (a.clip_qkv != 0.0) line("  clip_qkv: " + num(a.clip_qkv));
  if (a.localized_filtering) line("  localized_filtering: true");
  if (a.mask == AttentionMask::bidirectional) line("  mask: bidirectional");
  if (a.prefix_lm)  // implies mask: prefix
    line(fmt::format("  prefix_lm: {{gmask: {}, mask: {}}}", a.prefix_lm->gmask, a.prefix_lm->mask));
  }
  line("positions:");
  line(fmt::format("  kind: {}", to_string(s.positions)));
  if (s.positions == PositionKind::learned) line(fmt::format("  max_positions: {}", s.max_positions));
  if (s.positions == PositionKind::relative)
    line(fmt::format("  buckets: {}\n  max_distance: {}", s.relative.buckets, s.relative.max_distance));
  if (s.position_offset) line(fmt::format("  offset: {}", s.position_offset));
  if (s.positions == PositionKind::alibi && s.alibi_slope_scale != 1.0)
    line("  slope_scale: " + num(s.alibi_slope_scale));
  if (s.positions == PositionKind::rope) {
    const RopeSpec& r = s.rope;
    line("  theta: " + num(r.theta));
    line(fmt::format("  pairing: {}", to_string(r.pairing)));
    line(fmt::format("  rotary_dim: {}", r.rotary_dim));
    if (!r.nope_layers.empty()) line(fmt::format("  nope_layers: [{}]", fmt::join(r.nope_layers, ", ")));
    if (r.two_d) line("  two_d: true");
    if (r.f16_frequencies) line("  f16_frequencies: true");
    if (r.scaling.type != "none") line("  scaling: " + rope_scaling(r.scaling));
    if (s.local_rope) {
      const RopeSpec& l = *s.local_rope;
      line(fmt::format("  local: {{theta: {}{}}}", num(l.theta),
                       l.scaling.type != "none" ? ", scaling: " + rope_scaling(l.scaling) : ""));
    }
  }
  const MlpSpec& m = s.mlp;
  if (m.kind == MlpKind::none) {
    line("mlp: {kind: none}");
  } else {
    line("mlp:");
    line(fmt::format("  kind: {}", m.kind == MlpKind::gated   ? "gated"
                                   : m.kind == MlpKind::plain ? "plain"
                                   : m.kind == MlpKind::moe   ? "moe"
                                                              : "channel_mix"));
    line(fmt::format("  activation: {}", to_string(m.activation)));
    line("  intermediate_size: " + per_layer(m.intermediate));
    line(fmt::format("  bias: {}", m.bias));
    if (m.fused_gate_up) line("  fused_gate_up: true");
    if (m.kind == MlpKind::moe) {
      const MoeSpec& e = m.moe;
      const bool grouped = e.routing == Routing::group_limited_greedy || e.routing == Routing::noaux_tc;
      line(fmt::format("  experts: {{count: {}, top_k: {}, routing: {}, renormalize: {}{}{}{}{}}}", e.experts, e.top_k,
                       to_string(e.routing), e.renormalize,
                       grouped ? fmt::format(", groups: {}, top_groups: {}", e.groups, e.top_groups) : "",
                       e.scale != 1.0 ? ", scale: " + num(e.scale) : "",
                       e.routing == Routing::sparsemixer ? ", jitter_eps: " + num(e.jitter_eps) : "",
                       e.weighted_input ? ", weighted_input: true" : ""));
      if (e.shared_intermediate)
        line(fmt::format("  shared_expert: {{intermediate_size: {}, gate: {}}}", e.shared_intermediate, e.shared_gate));
      if (!e.dense_layers.empty())
        line(fmt::format("  dense_layers: {{layers: [{}], intermediate_size: {}}}", fmt::join(e.dense_layers, ", "),
                         e.dense_intermediate));
    }
  }
  if (s.logit_scale != 1.0 || s.logit_softcap != 0.0 || s.norm_head || s.logit_bias || s.logit_transform ||
      !s.classifier) {
    line("logits:");
    if (!s.classifier) line("  classifier: false");
    if (s.logit_transform) line(fmt::format("  transform: {}", to_string(*s.logit_transform)));
    if (s.logit_scale != 1.0) line("  scale: " + num(s.logit_scale));
    if (s.logit_softcap != 0.0) line("  softcap: " + num(s.logit_softcap));
    if (s.norm_head) line("  norm_head: true");
    if (s.logit_bias) line("  bias: true");
  }
  line(fmt::format("tokens: {{bos: {}, eos: {}, add_bos: {}{}}}", s.bos, s.eos, s.add_bos,
                   s.tokenizer_kind.empty() ? "" : ", tokenizer: " + s.tokenizer_kind));
  if (!s.chat.template_text.empty()) {
    line("chat:");
    line("  template: " + quoted(s.chat.template_text));
    if (!s.chat.bos_token.empty()) line("  bos_token: " + quoted(s.chat.bos_token));
    if (!s.chat.eos_token.empty()) line("  eos_token: " + quoted(s.chat.eos_token));
  }
  const WeightNames& w = s.weights;
  line("weights:");
  if (w.layout == TensorLayout::conv1d) line("  layout: conv1d");
  if (w.expert_layout == TensorLayout::conv1d) line("  expert_layout: conv1d");
  line("  embed: " + quoted(w.embed));
  if (!w.embed_norm.empty()) line("  embed_norm: " + quoted(w.embed_norm));
  if (!w.embed_norm_bias.empty()) line("  embed_norm_bias: " + quoted(w.embed_norm_bias));
  if (!w.pos_embed.empty()) line("  positions: " + quoted(w.pos_embed));
  if (!w.final_norm.empty()) line("  final_norm: " + quoted(w.final_norm));
  if (!w.final_norm_bias.empty()) line("  final_norm_bias: " + quoted(w.final_norm_bias));
  line("  lm_head: " + (w.lm_head.empty() ? std::string("tied") : quoted(w.lm_head)));
  if (!w.lm_head_bias.empty()) line("  lm_head_bias: " + quoted(w.lm_head_bias));
  if (!w.relative_bias.empty()) line("  relative_bias: " + quoted(w.relative_bias));
  if (!w.encoder_relative_bias.empty()) line("  encoder_relative_bias: " + quoted(w.encoder_relative_bias));
  if (!w.encoder_final_norm.empty()) line("  encoder_final_norm: " + quoted(w.encoder_final_norm));
  for (const char* role : {"token_types", "head_transform", "head_transform_bias", "head_norm", "head_norm_bias",
                           "pooler", "pooler_bias"})
    if (!w.global(role).empty()) line(fmt::format("  {}: {}", role, quoted(w.global(role))));
  line("  layer:");
  for (const auto& [role, name] : w.layer) line(fmt::format("    {}: {}", role, quoted(name)));
  if (s.encoder) {
    line("  encoder_layer:");
    for (const auto& [role, name] : w.encoder_layer) line(fmt::format("    {}: {}", role, quoted(name)));
  }
  if (!w.unused.empty()) {
    line("  unused:");
    for (const auto& u : w.unused) line("    - " + quoted(u));
  }
  return y;
}

}  // namespace llmc
