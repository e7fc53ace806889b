#include "plan.hpp"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <cmath>
#include <set>
#include <tuple>

#include "blocks/layer.hpp"
#include "llmc/error.hpp"

namespace llmc {

bool binds_as_matrix(const TensorPlan& t) {
  return is_matrix_role(t.role) && t.parts.empty() && !t.transpose && !t.normalize_rows;
}

bool LayerPlan::has(Role role) const {
  for (const auto& t : tensors)
    if (t.role == role) return true;
  return false;
}

const TensorPlan& LayerPlan::tensor(Role role) const {
  for (const auto& t : tensors)
    if (t.role == role) return t;
  throw Error(fmt::format("internal error: layer {} has no tensor '{}'", index, role_name(role)));
}

namespace {

// pattern with every `key` ("{i}", "{e}", "{h}") replaced by value.
std::string substitute(std::string pattern, const std::string& key, int64_t value) {
  for (size_t at = pattern.find(key); at != std::string::npos; at = pattern.find(key, at))
    pattern.replace(at, key.size(), std::to_string(value));
  return pattern;
}

// The names of the tensors one stacked tensor is made of: `key` replaced by 0 .. count-1.
std::vector<std::string> part_names(const std::string& name, const std::string& key, int64_t count) {
  std::vector<std::string> parts;
  for (int64_t i = 0; i < count; ++i) parts.push_back(substitute(name, key, i));
  return parts;
}

// The tensor of `role` in layer `layer`, named by the spec's pattern, shape [out, in] or [n] as the model reads it.
TensorPlan tensor_plan(const Spec& s, Role role, const std::string& pattern, const std::vector<int64_t>& shape,
                       int64_t layer) {
  TensorPlan t;
  t.role = role;
  t.name = substitute(pattern, "{i}", layer);
  if (t.name.find("{e}") != std::string::npos) {
    // One tensor per expert, of shape[1:] each.
    if (shape.size() != 3 || !is_expert_role(role))
      throw Error(fmt::format("{}: field 'weights.layer.{}': '{{e}}' (one tensor per expert) is only allowed for "
                              "expert tensors",
                              s.file, role_name(role)));
    if (s.weights.expert_layout == TensorLayout::conv1d)
      throw Error(fmt::format("{}: field 'weights.expert_layout': conv1d ([count, in, out]) needs the experts stacked "
                              "in one tensor, but weights.layer.{} names one per expert",
                              s.file, role_name(role)));
    t.parts = part_names(t.name, "{e}", shape[0]);
    t.shape = shape;
    return t;
  }
  if (t.name.find("{h}") != std::string::npos) {
    // One tensor per head, stacked: only per-head norm weights are stored like that (StableLM).
    if (shape.size() != 2 || !(role == Role::q_norm || role == Role::k_norm || role == Role::q_norm_bias ||
                               role == Role::k_norm_bias))
      throw Error(fmt::format("{}: field 'weights.layer.{}': '{{h}}' (one tensor per head) is only allowed for "
                              "per-head q/k norm weights (attention.qk_norm.weights: per_head)",
                              s.file, role_name(role)));
    t.parts = part_names(t.name, "{h}", shape[0]);
    t.shape = shape;
    return t;
  }
  if (shape.size() == 3) {  // stacked experts, [count, out, in] or transposed per expert
    t.transpose = s.weights.expert_layout == TensorLayout::conv1d;
    t.shape = t.transpose ? std::vector<int64_t>{shape[0], shape[2], shape[1]} : shape;
    return t;
  }
  t.transpose = shape.size() == 2 && s.weights.layout == TensorLayout::conv1d;
  t.shape = t.transpose ? std::vector<int64_t>{shape[1], shape[0]} : shape;
  return t;
}

// The model-wide tensors, with their shapes.
std::vector<RoleShape> global_roles(const Spec& s) {
  const int64_t H = s.hidden_size;
  std::vector<RoleShape> roles = {{Role::embed, {s.vocab_size, H}}};
  if (s.embedding_norm && s.norm.weight != NormWeight::none) roles.push_back({Role::embed_norm, {H}});
  if (s.embedding_norm && s.norm.bias) roles.push_back({Role::embed_norm_bias, {H}});
  if (s.positions == PositionKind::learned) roles.push_back({Role::pos_embed, {s.max_positions, H}});
  if (s.token_types > 0) roles.push_back({Role::token_types, {s.token_types, H}});
  const bool final_norm = s.residual != Residual::post_ln;  // post-LN blocks end normalised
  if (final_norm && s.norm.weight != NormWeight::none) roles.push_back({Role::final_norm, {H}});
  if (final_norm && s.norm.bias) roles.push_back({Role::final_norm_bias, {H}});
  if (s.classifier && s.logit_transform) {  // dense (with bias) -> activation -> norm of kind `norm`
    roles.push_back({Role::head_transform, {H, H}});
    roles.push_back({Role::head_transform_bias, {H}});
    if (s.norm.weight != NormWeight::none) roles.push_back({Role::head_norm, {H}});
    if (s.norm.bias) roles.push_back({Role::head_norm_bias, {H}});
  }
  if (s.classifier && !s.tied_embeddings) roles.push_back({Role::lm_head, {s.vocab_size, H}});
  if (s.classifier && s.logit_bias) roles.push_back({Role::lm_head_bias, {s.vocab_size}});
  if (s.pooler) {
    roles.push_back({Role::pooler, {H, H}});
    roles.push_back({Role::pooler_bias, {H}});
  }
  // Relative position tables [buckets, heads]: the decoder's (or the only stack's), the encoder's, and the
  // encoder's final norm.
  const int64_t heads = s.mixer == MixerKind::attention ? s.attention.heads.front() : 0;
  if (s.positions == PositionKind::relative) roles.push_back({Role::relative_bias, {s.relative.buckets, heads}});
  if (s.encoder) roles.push_back({Role::encoder_relative_bias, {s.relative.buckets, heads}});
  if (s.encoder && s.norm.weight != NormWeight::none) roles.push_back({Role::encoder_final_norm, {H}});
  return roles;
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

// YaRN's m(x) = 0.1·x·ln(factor) + 1 (1 when the context is not extended).
double yarn_mscale(double factor, double x) { return factor <= 1.0 ? 1.0 : 0.1 * x * std::log(factor) + 1.0; }

// YaRN frequencies as DeepSeek's remote code and Hugging Face compute them (fp32 tensors, the correction range in
// double): each frequency blends theta^(-2i/d) (extrapolated) and that / factor (interpolated) by a linear ramp
// over i between the dims that turn beta_fast and beta_slow times in original_max_positions.
std::vector<float> yarn_frequencies(const RopeSpec& r) {
  const RopeScaling& x = r.scaling;
  const double dim = static_cast<double>(r.rotary_dim);
  const double old_len = static_cast<double>(x.original_max_positions);
  auto correction_dim = [&](double rotations) {
    return dim * std::log(old_len / (rotations * 2.0 * M_PI)) / (2.0 * std::log(r.theta));
  };
  const double low = std::max(std::floor(correction_dim(x.beta_fast)), 0.0);
  const double high = std::min(std::ceil(correction_dim(x.beta_slow)), dim - 1.0);
  const float span = static_cast<float>(low == high ? high + 0.001 - low : high - low);
  std::vector<float> inv;
  for (int64_t i = 0; i < r.rotary_dim / 2; ++i) {
    const float exponent = static_cast<float>(2 * i) / static_cast<float>(r.rotary_dim);
    const float power = static_cast<float>(std::pow(r.theta, static_cast<double>(exponent)));
    const float extrapolated = 1.0f / power, interpolated = 1.0f / (static_cast<float>(x.factor) * power);
    const float ramp = std::clamp((static_cast<float>(i) - static_cast<float>(low)) / span, 0.0f, 1.0f);
    const float keep = 1.0f - ramp;  // the share of the extrapolated frequency
    inv.push_back(interpolated * (1.0f - keep) + extrapolated * keep);
  }
  return inv;
}

std::vector<float> rope_frequencies(const RopeSpec& r) {
  if (r.scaling.type == "longrope") return longrope_frequencies(r, r.scaling.short_factor);
  if (r.scaling.type == "yarn") return yarn_frequencies(r);
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

// x rounded to the nearest IEEE half (ties to even), for x in the half's normal range.
float round_to_half(float x) {
  int e = 0;
  const double m = std::frexp(static_cast<double>(x), &e);  // x = m·2^e, 0.5 <= |m| < 1: 11 significant bits kept
  return static_cast<float>(std::ldexp(std::nearbyint(m * 2048.0) / 2048.0, e));
}

}  // namespace

// Sizes computed from a spec, or an error if they do not fit 64 bits (a spec with absurd sizes).
[[noreturn]] int64_t size_overflow(const Spec& s) {
  throw Error(fmt::format("{}: the model's sizes are too large (a buffer or parameter count overflows 64 bits)", s.file));
}

int64_t size_mul(const Spec& s, int64_t a, int64_t b) {
  int64_t r;
  return __builtin_mul_overflow(a, b, &r) ? size_overflow(s) : r;
}

int64_t size_add(const Spec& s, int64_t a, int64_t b) {
  int64_t r;
  return __builtin_add_overflow(a, b, &r) ? size_overflow(s) : r;
}

Plan make_plan(const Spec& s) {
  auto size_mul = [&](int64_t a, int64_t b) { return llmc::size_mul(s, a, b); };
  auto size_add = [&](int64_t a, int64_t b) { return llmc::size_add(s, a, b); };
  Plan p;
  p.spec = &s;
  const AttentionSpec& a = s.attention;
  const auto where = [&](const std::string& field) { return fmt::format("{}: field '{}'", s.file, field); };
  check_layers(s);
  if (s.norm_head && s.tied_embeddings)
    throw Error(where("logits.norm_head") + ": the normalised classifier must be its own tensor, not the embedding");

  std::set<std::string> used_roles, used_encoder_roles;  // the weights.layer (encoder_layer) keys some layer reads
  const int64_t encoder_layers = s.encoder ? s.encoder->num_layers : 0;
  for (int64_t i = 0; i < s.num_layers + encoder_layers; ++i) {
    LayerPlan l;
    const bool encoder = i >= s.num_layers;
    l.index = encoder ? 0 : i;  // an encoder layer takes the sizes of the (alike) decoder layers
    size_layer(s, l);
    l.index = i;
    l.encoder = encoder;
    l.cross_attention = s.encoder && !encoder;
    l.stack_index = encoder ? i - s.num_layers : i;
    const auto& patterns = encoder ? s.weights.encoder_layer : s.weights.layer;
    const char* section = encoder ? "weights.encoder_layer" : "weights.layer";
    for (auto& [role, shape] : layer_roles(s, l)) {
      const std::string key = role_name(role);
      auto it = patterns.find(key);
      if (it == patterns.end())
        throw Error(fmt::format("{}: field '{}.{}': missing; this spec's {}layers need a '{}' tensor", s.file, section,
                                key, encoder ? "encoder " : "", key));
      (encoder ? used_encoder_roles : used_roles).insert(key);
      l.tensors.push_back(tensor_plan(s, role, it->second, shape, l.stack_index));
    }
    p.max_q_dim = std::max(p.max_q_dim, l.q_dim);
    p.max_kv_dim = std::max(p.max_kv_dim, l.kv_dim);
    p.max_qkv_dim = std::max(p.max_qkv_dim, l.qkv_dim);
    p.max_ffn = std::max(p.max_ffn, l.ffn);
    p.max_heads = std::max(p.max_heads, l.heads);
    p.max_head_dim = std::max(p.max_head_dim, l.head_dim);
    l.state_offset = p.state_row;
    l.cross_state_offset = l.state_offset + mixer_of(s).state_row(l);  // after its own keys and values
    p.state_row = size_add(p.state_row, layer_state_row(s, l));
    l.state_fixed_offset = p.state_fixed_bytes;
    p.state_fixed_bytes = size_add(p.state_fixed_bytes, layer_state_fixed_bytes(s, l));
    p.layers.push_back(std::move(l));
  }
  size_mul(p.state_row, s.max_context);  // the whole state's size must fit too
  for (const auto& [patterns, used, section] :
       {std::tuple{&s.weights.layer, &used_roles, "weights.layer"},
        std::tuple{&s.weights.encoder_layer, &used_encoder_roles, "weights.encoder_layer"}})
    for (const auto& [role, pattern] : *patterns)
      if (!used->count(role))
        throw Error(fmt::format("{}: field '{}.{}': this spec has no use for a '{}' tensor "
                                "(list checkpoint tensors to ignore under weights.unused)",
                                s.file, section, role, role));
  // Keep the struct's member order the order of first use.
  for (const auto& l : p.layers)
    for (const auto& t : l.tensors)
      if (std::find(p.layer_roles.begin(), p.layer_roles.end(), t.role) == p.layer_roles.end())
        p.layer_roles.push_back(t.role);

  for (const auto& [role, shape] : global_roles(s)) {
    const std::string& name = s.weights.global(role_name(role));
    const std::string field = role == Role::pos_embed ? "weights.positions" : std::string("weights.") + role_name(role);
    if (name.empty()) throw Error(where(field) + ": missing (required)");
    TensorPlan t{role, name, shape};
    t.normalize_rows = role == Role::lm_head && s.norm_head;
    p.globals.push_back(t);
  }
  for (const char* role : {"token_types", "head_transform", "head_transform_bias", "head_norm", "head_norm_bias",
                           "pooler", "pooler_bias"}) {
    const bool used = std::any_of(p.globals.begin(), p.globals.end(),
                                  [&](const TensorPlan& t) { return role_name(t.role) == std::string(role); });
    if (!used && !s.weights.global(role).empty())
      throw Error(where(std::string("weights.") + role) + ": this spec has no use for it (model.token_types, "
                  "logits.transform and model.pooler say which of these a model reads)");
  }

  if (s.positions == PositionKind::rope) p.rope_inv_freq = rope_frequencies(s.rope);
  if (s.positions == PositionKind::rope && s.rope.f16_frequencies)
    for (float& f : p.rope_inv_freq) f = round_to_half(f);
  if (s.positions == PositionKind::rope && s.local_rope) p.rope_inv_freq_local = rope_frequencies(*s.local_rope);
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
  if (s.mixer == MixerKind::attention) {
    double attention_scale = a.scale ? *a.scale : 1.0 / std::sqrt(static_cast<double>(a.head_dim));
    if (s.positions == PositionKind::rope && s.rope.scaling.type == "yarn") {
      // As DeepSeek's attention: cos and sin × m(mscale) / m(mscale_all_dim), the softmax scale × m(mscale_all_dim)²
      // when mscale_all_dim is set.
      const RopeScaling& x = s.rope.scaling;
      const double all_dims = yarn_mscale(x.factor, x.mscale_all_dim);
      p.rope_attention_factor = static_cast<float>(yarn_mscale(x.factor, x.mscale) / all_dims);
      if (x.mscale_all_dim != 0.0) attention_scale *= all_dims * all_dims;
    }
    p.attention_scale = static_cast<float>(attention_scale);
  }
  if (s.positions == PositionKind::alibi) {
    p.alibi_slopes = alibi_slopes(a.heads[0]);
    for (float& m : p.alibi_slopes) m = static_cast<float>(m * s.alibi_slope_scale);
  }
  // A prefix-LM's context attends to keys after it up to BOS, an encoder's every position to every other (also an
  // encoder–decoder's encoder stack): the whole prompt (input) is one step.
  p.chunk = a.mask != AttentionMask::causal || s.encoder ? s.max_context : std::min<int64_t>(64, s.max_context);
  if (s.encoder) {  // the source's length, once encode_source has run (0 before)
    p.source_length_state_offset = p.state_fixed_bytes;
    p.state_fixed_bytes = size_add(p.state_fixed_bytes, 4);
  }
  if (a.mask == AttentionMask::prefix) {  // what a sequence has seen of the prefix-LM layout (llmc/prefix_lm.hpp), after the layers'
    p.prefix_lm_state_offset = p.state_fixed_bytes;
    p.state_fixed_bytes = size_add(p.state_fixed_bytes, 3 * 4);
  }
  p.buffers = layer_buffers(p);
  int64_t row_floats = 0;
  for (const BufferPlan& b : p.buffers) row_floats = size_add(row_floats, b.row_floats);
  p.activation_floats = size_mul(p.chunk, row_floats);
  p.thread_scratch = mixer_of(s).thread_scratch(p);
  // A token runs top_k of the experts; the embedding table gives it one row (unless it is also the classifier).
  const MoeSpec& moe = s.mlp.moe;
  auto count = [&](const TensorPlan& t) {
    int64_t n = 1;
    for (int64_t d : t.shape) n = size_mul(n, d);
    p.parameter_count = size_add(p.parameter_count, n);
    const int64_t active = is_expert_role(t.role) ? n / moe.experts * moe.top_k : n;
    p.active_parameter_count = size_add(p.active_parameter_count, active);
    const bool row_only = t.role == Role::embed && !s.tied_embeddings;
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
  for (const auto& [role, shape] : global_roles(s)) r.global.push_back(role_name(role));
  const int64_t encoder_layers = s.encoder ? s.encoder->num_layers : 0;
  for (int64_t i = 0; i < s.num_layers + encoder_layers; ++i) {
    const bool encoder = i >= s.num_layers;
    LayerPlan l;
    l.index = encoder ? 0 : i;
    size_layer(s, l);
    l.encoder = encoder;
    l.cross_attention = s.encoder && !encoder;
    std::vector<std::string>& names = encoder ? r.encoder_layer : r.layer;
    for (const auto& [role, shape] : layer_roles(s, l))
      if (std::find(names.begin(), names.end(), role_name(role)) == names.end()) names.push_back(role_name(role));
  }
  return r;
}

}  // namespace llmc
