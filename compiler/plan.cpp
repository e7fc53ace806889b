#include "plan.hpp"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <cmath>
#include <set>

#include "llmc/error.hpp"

namespace llmc {

bool is_matrix_role(const std::string& role) {
  static const std::set<std::string> roles = {"q",  "k",    "v",     "o",     "qkv",    "gate",
                                              "up", "gate_up", "down", "embed", "lm_head"};
  return roles.count(role) > 0;
}

bool binds_as_matrix(const TensorPlan& t) {
  return is_matrix_role(t.role) && t.parts.empty() && !t.transpose && !t.normalize_rows;
}

bool LayerPlan::has(const std::string& role) const {
  for (const auto& t : tensors)
    if (t.role == role) return true;
  return false;
}

const TensorPlan& LayerPlan::tensor(const std::string& role) const {
  for (const auto& t : tensors)
    if (t.role == role) return t;
  throw Error(fmt::format("internal error: layer {} has no tensor '{}'", index, role));
}

namespace {

std::string substitute_layer(const std::string& pattern, int64_t layer) {
  std::string out = pattern;
  const std::string key = "{i}";
  for (size_t at = out.find(key); at != std::string::npos; at = out.find(key, at))
    out.replace(at, key.size(), std::to_string(layer));
  return out;
}

// The roles each layer reads, with their shapes as [out, in] (matrices) or [n] (vectors).
std::vector<std::pair<std::string, std::vector<int64_t>>> layer_roles(const Spec& s, const LayerPlan& l) {
  std::vector<std::pair<std::string, std::vector<int64_t>>> roles;
  const int64_t H = s.hidden_size;
  auto norm = [&](const std::string& role, const NormSpec& n, int64_t size) {
    if (n.weight != NormWeight::none) roles.push_back({role, {size}});
    if (n.bias) roles.push_back({role + "_bias", {size}});
  };
  const AttentionSpec& a = s.attention;
  if (s.pre_norms) norm("attn_norm", s.norm, H);
  if (a.qkv == QkvLayout::separate) {
    roles.push_back({"q", {l.q_dim, H}});
    roles.push_back({"k", {l.kv_dim, H}});
    roles.push_back({"v", {l.kv_dim, H}});
    if (a.bias_q) roles.push_back({"q_bias", {l.q_dim}});
    if (a.bias_k) roles.push_back({"k_bias", {l.kv_dim}});
    if (a.bias_v) roles.push_back({"v_bias", {l.kv_dim}});
  } else {
    roles.push_back({"qkv", {l.qkv_dim, H}});
    if (a.bias_q) roles.push_back({"qkv_bias", {l.qkv_dim}});
  }
  if (a.qk_norm == QkNorm::whole) {
    norm("q_norm", *a.qk_norm_spec, l.q_dim);
    norm("k_norm", *a.qk_norm_spec, l.kv_dim);
  } else if (a.qk_norm == QkNorm::per_head) {
    const bool own = a.qk_norm_weights == QkNormWeights::per_head;
    const NormSpec& n = *a.qk_norm_spec;
    for (auto [role, heads] : {std::pair{std::string("q_norm"), l.heads}, std::pair{std::string("k_norm"), l.kv_heads}}) {
      const std::vector<int64_t> shape = own ? std::vector<int64_t>{heads, l.head_dim} : std::vector<int64_t>{l.head_dim};
      if (n.weight != NormWeight::none) roles.push_back({role, shape});
      if (n.bias) roles.push_back({role + "_bias", shape});
    }
  }
  roles.push_back({"o", {H, l.q_dim}});
  if (a.bias_o) roles.push_back({"o_bias", {H}});
  if (s.post_norms) norm("post_attn_norm", s.norm, H);
  if (s.pre_norms && l.separate_ffn_norm) norm("ffn_norm", s.norm, H);
  const MlpSpec& m = s.mlp;
  if (m.kind == MlpKind::moe && !m.moe.is_dense(l.index)) {
    // Expert tensors are [experts, out, in]: stored so, or one per expert ("{e}" in the name).
    const int64_t E = m.moe.experts, F = l.ffn, S = m.moe.shared_intermediate;
    roles.push_back({"router", {E, H}});
    if (m.fused_gate_up) {
      roles.push_back({"expert_gate_up", {E, 2 * F, H}});
    } else {
      roles.push_back({"expert_gate", {E, F, H}});
      roles.push_back({"expert_up", {E, F, H}});
    }
    roles.push_back({"expert_down", {E, H, F}});
    if (S > 0) {
      roles.push_back({"shared_gate", {S, H}});
      roles.push_back({"shared_up", {S, H}});
      roles.push_back({"shared_down", {H, S}});
      if (m.moe.shared_gate) roles.push_back({"shared_expert_gate", {1, H}});
    }
  } else if (m.kind == MlpKind::moe) {  // a dense layer of a mixture-of-experts model
    roles.push_back({"gate", {l.ffn, H}});
    roles.push_back({"up", {l.ffn, H}});
    roles.push_back({"down", {H, l.ffn}});
  } else if (m.kind == MlpKind::gated && m.fused_gate_up) {
    roles.push_back({"gate_up", {2 * l.ffn, H}});
    if (m.bias) roles.push_back({"gate_up_bias", {2 * l.ffn}});
  } else {
    if (m.kind == MlpKind::gated) roles.push_back({"gate", {l.ffn, H}});
    roles.push_back({"up", {l.ffn, H}});
    if (m.bias && m.kind == MlpKind::gated) roles.push_back({"gate_bias", {l.ffn}});
    if (m.bias) roles.push_back({"up_bias", {l.ffn}});
  }
  if (m.kind != MlpKind::moe) roles.push_back({"down", {H, l.ffn}});
  if (m.bias) roles.push_back({"down_bias", {H}});
  if (s.post_norms) norm("post_ffn_norm", s.norm, H);
  return roles;
}

// The model-wide tensors, with their shapes.
std::vector<std::pair<std::string, std::vector<int64_t>>> global_roles(const Spec& s) {
  const int64_t H = s.hidden_size;
  std::vector<std::pair<std::string, std::vector<int64_t>>> roles = {{"embed", {s.vocab_size, H}}};
  if (s.positions == PositionKind::learned) roles.push_back({"pos_embed", {s.max_positions, H}});
  const bool final_norm = s.residual != Residual::post_ln;  // post-LN blocks end normalised
  if (final_norm && s.norm.weight != NormWeight::none) roles.push_back({"final_norm", {H}});
  if (final_norm && s.norm.bias) roles.push_back({"final_norm_bias", {H}});
  if (!s.tied_embeddings) roles.push_back({"lm_head", {s.vocab_size, H}});
  if (s.logit_bias) roles.push_back({"lm_head_bias", {s.vocab_size}});
  return roles;
}

// A layer with the flags layer_roles reads; sizes are filled in by make_plan.
LayerPlan layer_skeleton(const Spec& s, int64_t index) {
  LayerPlan l;
  l.index = index;
  l.separate_ffn_norm = s.residual != Residual::parallel || s.weights.layer.count("ffn_norm") > 0;
  return l;
}

// Slopes of ALiBi as Press et al. and BLOOM: a geometric series from 2^(−8/n) for the nearest power of two n
// below the head count, then every other slope of the series for 2n.
std::vector<float> alibi_slopes(int64_t heads) {
  int64_t n = 1;
  while (2 * n <= heads) n *= 2;
  std::vector<float> slopes;
  const double base = std::pow(2.0, -8.0 / static_cast<double>(n));
  for (int64_t i = 1; i <= n; ++i) slopes.push_back(static_cast<float>(std::pow(base, static_cast<double>(i))));
  const double extra = std::pow(2.0, -4.0 / static_cast<double>(n));
  for (int64_t i = 1; static_cast<int64_t>(slopes.size()) < heads; i += 2)
    slopes.push_back(static_cast<float>(std::pow(extra, static_cast<double>(i))));
  return slopes;
}

// LongRoPE frequencies as Hugging Face computes them in fp32: 1 / (factor · theta^(2i/d)).
std::vector<float> longrope_frequencies(const RopeSpec& r, const std::vector<double>& factors) {
  std::vector<float> inv;
  for (int64_t i = 0; i < r.rotary_dim / 2; ++i) {
    const float exponent = static_cast<float>(2 * i) / static_cast<float>(r.rotary_dim);
    const float power = static_cast<float>(std::pow(r.theta, static_cast<double>(exponent)));
    inv.push_back(1.0f / (static_cast<float>(factors[static_cast<size_t>(i)]) * power));
  }
  return inv;
}

std::vector<float> rope_frequencies(const Spec& s) {
  const RopeSpec& r = s.rope;
  if (r.scaling.type == "longrope") return longrope_frequencies(r, r.scaling.short_factor);
  const int64_t half = r.rotary_dim / 2;
  std::vector<float> inv(static_cast<size_t>(half));
  for (int64_t i = 0; i < half; ++i) {
    // As Hugging Face: exponent 2i/d in fp32, then base ** exponent.
    const float exponent = static_cast<float>(2 * i) / static_cast<float>(r.rotary_dim);
    double f = 1.0 / std::pow(r.theta, static_cast<double>(exponent));
    const RopeScaling& x = r.scaling;
    if (x.type == "linear") {
      f /= x.factor;
    } else if (x.type == "llama3") {
      const double old_len = static_cast<double>(x.original_max_positions);
      const double low_wavelen = old_len / x.low_freq_factor, high_wavelen = old_len / x.high_freq_factor;
      const double wavelen = 2.0 * M_PI / f;
      if (wavelen > low_wavelen) {
        f /= x.factor;
      } else if (wavelen >= high_wavelen) {
        const double smooth = (old_len / wavelen - x.low_freq_factor) / (x.high_freq_factor - x.low_freq_factor);
        f = (1.0 - smooth) * f / x.factor + smooth * f;
      }
    }
    inv[static_cast<size_t>(i)] = static_cast<float>(f);
  }
  return inv;
}

}  // namespace

// Sizes computed from a spec, or an error if they do not fit 64 bits (a spec with absurd sizes).
[[noreturn]] int64_t size_overflow(const Spec& s) {
  throw Error(fmt::format("{}: the model's sizes are too large (a buffer or parameter count overflows 64 bits)", s.file));
}

Plan make_plan(const Spec& s) {
  auto size_mul = [&](int64_t a, int64_t b) {
    int64_t r;
    return __builtin_mul_overflow(a, b, &r) ? size_overflow(s) : r;
  };
  auto size_add = [&](int64_t a, int64_t b) {
    int64_t r;
    return __builtin_add_overflow(a, b, &r) ? size_overflow(s) : r;
  };
  Plan p;
  p.spec = &s;
  const AttentionSpec& a = s.attention;
  const auto where = [&](const std::string& field) { return fmt::format("{}: field '{}'", s.file, field); };
  if (a.qkv != QkvLayout::separate && !(a.bias_q == a.bias_k && a.bias_k == a.bias_v))
    throw Error(where("attention.bias") + ": a fused qkv projection has a bias on all of q, k, v or on none");
  if (a.qkv == QkvLayout::fused_per_head)
    for (int64_t i = 0; i < s.num_layers; ++i)
      if (a.heads[i] != a.kv_heads[i])
        throw Error(where("attention.qkv") + ": fused_per_head needs as many kv heads as query heads");
  if (s.positions == PositionKind::alibi)
    for (int64_t i = 0; i < s.num_layers; ++i)
      if (a.heads[i] != a.heads[0])
        throw Error(where("attention.heads") + ": ALiBi needs the same number of heads in every layer");
  if (s.norm_head && s.tied_embeddings)
    throw Error(where("logits.norm_head") + ": the normalised classifier must be its own tensor, not the embedding");

  std::set<std::string> roles_union;
  for (int64_t i = 0; i < s.num_layers; ++i) {
    LayerPlan l = layer_skeleton(s, i);
    l.heads = a.heads[i];
    l.kv_heads = a.kv_heads[i];
    l.head_dim = a.head_dim;
    l.q_dim = size_mul(l.heads, l.head_dim);
    l.kv_dim = size_mul(l.kv_heads, l.head_dim);
    l.qkv_dim = size_add(l.q_dim, size_mul(2, l.kv_dim));
    const MoeSpec& moe = s.mlp.moe;
    l.ffn = s.mlp.kind == MlpKind::moe && moe.is_dense(i) ? moe.dense_intermediate : s.mlp.intermediate[i];
    l.window = a.window[i];
    for (auto& [role, shape] : layer_roles(s, l)) {
      auto it = s.weights.layer.find(role);
      if (it == s.weights.layer.end())
        throw Error(fmt::format("{}: field 'weights.layer.{}': missing; this spec's layers need a '{}' tensor", s.file,
                                role, role));
      TensorPlan t;
      t.role = role;
      t.name = substitute_layer(it->second, i);
      if (t.name.find("{e}") != std::string::npos) {
        // One tensor per expert, of shape[1:] each.
        if (shape.size() != 3 || role.compare(0, 7, "expert_") != 0)
          throw Error(fmt::format("{}: field 'weights.layer.{}': '{{e}}' (one tensor per expert) is only allowed for "
                                  "expert tensors",
                                  s.file, role));
        for (int64_t e = 0; e < shape[0]; ++e) {
          std::string part = t.name;
          part.replace(part.find("{e}"), 3, std::to_string(e));
          t.parts.push_back(part);
        }
        t.shape = shape;
        roles_union.insert(role);
        l.tensors.push_back(std::move(t));
        continue;
      }
      if (t.name.find("{h}") != std::string::npos) {
        // One tensor per head, stacked: only per-head norm weights are stored like that (StableLM).
        if (shape.size() != 2 || role.compare(1, 5, "_norm") != 0)
          throw Error(fmt::format("{}: field 'weights.layer.{}': '{{h}}' (one tensor per head) is only allowed for "
                                  "per-head q/k norm weights (attention.qk_norm.weights: per_head)",
                                  s.file, role));
        for (int64_t h = 0; h < shape[0]; ++h) {
          std::string part = t.name;
          part.replace(part.find("{h}"), 3, std::to_string(h));
          t.parts.push_back(part);
        }
        t.shape = shape;
        roles_union.insert(role);
        l.tensors.push_back(std::move(t));
        continue;
      }
      t.transpose = shape.size() == 2 && s.weights.layout == TensorLayout::in_out;
      t.shape = t.transpose ? std::vector<int64_t>{shape[1], shape[0]} : shape;
      roles_union.insert(role);
      l.tensors.push_back(std::move(t));
    }
    p.max_q_dim = std::max(p.max_q_dim, l.q_dim);
    p.max_kv_dim = std::max(p.max_kv_dim, l.kv_dim);
    p.max_qkv_dim = std::max(p.max_qkv_dim, l.qkv_dim);
    p.max_ffn = std::max(p.max_ffn, l.ffn);
    p.max_heads = std::max(p.max_heads, l.heads);
    p.max_head_dim = std::max(p.max_head_dim, l.head_dim);
    l.kv_offset = p.kv_row;
    p.kv_row = size_add(p.kv_row, size_mul(2, l.kv_dim));
    p.layers.push_back(std::move(l));
  }
  p.kv_cache_floats = size_mul(p.kv_row, s.max_context);
  for (const auto& [role, pattern] : s.weights.layer)
    if (!roles_union.count(role))
      throw Error(fmt::format("{}: field 'weights.layer.{}': this spec has no use for a '{}' tensor "
                              "(list checkpoint tensors to ignore under weights.unused)",
                              s.file, role, role));
  // Keep the struct's member order the order of first use.
  for (const auto& l : p.layers)
    for (const auto& t : l.tensors)
      if (std::find(p.layer_roles.begin(), p.layer_roles.end(), t.role) == p.layer_roles.end())
        p.layer_roles.push_back(t.role);

  for (auto& [role, shape] : global_roles(s)) {
    const std::string& name = s.weights.global(role);
    const std::string field = role == "pos_embed" ? "weights.positions" : "weights." + role;  // its YAML key
    if (name.empty()) throw Error(where(field) + ": missing (required)");
    TensorPlan t{role, name, shape};
    t.normalize_rows = role == "lm_head" && s.norm_head;
    p.globals.push_back(t);
  }

  if (s.positions == PositionKind::rope) p.rope_inv_freq = rope_frequencies(s);
  if (s.positions == PositionKind::rope && s.rope.scaling.type == "longrope") {
    const RopeScaling& x = s.rope.scaling;
    p.rope_inv_freq_long = longrope_frequencies(s.rope, x.long_factor);
    // Hugging Face: sqrt(1 + ln(max/original) / ln(original)) when the context was extended.
    const double ratio = static_cast<double>(x.max_positions) / static_cast<double>(x.original_max_positions);
    const double factor = x.attention_factor ? *x.attention_factor
                          : ratio <= 1.0     ? 1.0
                                             : std::sqrt(1.0 + std::log(ratio) /
                                                                   std::log(static_cast<double>(x.original_max_positions)));
    p.rope_attention_factor = static_cast<float>(factor);
  }
  p.attention_scale = static_cast<float>(a.scale ? *a.scale : 1.0 / std::sqrt(static_cast<double>(a.head_dim)));
  if (s.positions == PositionKind::alibi) {
    p.alibi_slopes = alibi_slopes(a.heads[0]);
    for (float& m : p.alibi_slopes) m = static_cast<float>(m * s.alibi_slope_scale);
  }
  p.chunk = std::min<int64_t>(64, s.max_context);
  // Per prefill row: x, xn, branch, ffn_out (hidden each), qkv, q, att, h (ffn) and gate_up (2 ffn).
  p.activation_floats = size_mul(p.chunk, size_add(size_add(size_mul(4, s.hidden_size), p.max_qkv_dim),
                                                    size_add(size_mul(2, p.max_q_dim), size_mul(3, p.max_ffn))));
  // A token runs top_k of the experts; the embedding table gives it one row (unless it is also the classifier).
  const MoeSpec& moe = s.mlp.moe;
  auto count = [&](const TensorPlan& t) {
    int64_t n = 1;
    for (int64_t d : t.shape) n = size_mul(n, d);
    p.parameter_count = size_add(p.parameter_count, n);
    const int64_t active = t.role.compare(0, 7, "expert_") == 0 ? n / moe.experts * moe.top_k : n;
    p.active_parameter_count = size_add(p.active_parameter_count, active);
    const bool row_only = t.role == "embed" && !s.tied_embeddings;
    p.decode_read_parameters = size_add(p.decode_read_parameters, row_only ? s.hidden_size : active);
  };
  for (const auto& t : p.globals) count(t);
  for (const auto& l : p.layers)
    for (const auto& t : l.tensors) count(t);
  p.weight_bytes = size_mul(p.parameter_count, 4);
  p.unused_weights = s.weights.unused;
  return p;
}

TensorRoles tensor_roles(const Spec& s) {
  TensorRoles r;
  for (const auto& [role, shape] : global_roles(s)) r.global.push_back(role);
  for (int64_t i = 0; i < s.num_layers; ++i)
    for (const auto& [role, shape] : layer_roles(s, layer_skeleton(s, i)))
      if (std::find(r.layer.begin(), r.layer.end(), role) == r.layer.end()) r.layer.push_back(role);
  return r;
}

}  // namespace llmc
