// The attention block: multi-head attention with grouped KV heads, fused or separate q/k/v projections, q/k
// norms, RoPE or ALiBi, sliding windows. Its per-sequence state is a KV cache row per position.
#include <fmt/format.h>

#include <tuple>

#include "blocks/block.hpp"
#include "llmc/error.hpp"

namespace llmc {
namespace {

class Attention final : public Block {
 public:
  void check(const Spec& s) const override {
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
    if (s.positions == PositionKind::relative)
      for (int64_t i = 0; i < s.num_layers; ++i)
        if (a.heads[i] != a.heads[0])
          throw Error(where("attention.heads") + ": relative positions (one bias table) need the same heads in every layer");
    if (a.localized_filtering) check_localized_filtering(s);
    if (a.mask == AttentionMask::prefix && s.bos < 0)
      throw Error(where("attention.prefix_lm") + ": a prefix-LM's context ends at BOS: tokens.bos must be set");
  }

  void size(const Spec& s, LayerPlan& l) const override {
    const AttentionSpec& a = s.attention;
    l.heads = a.heads[l.index];
    l.kv_heads = a.kv_heads[l.index];
    l.head_dim = a.head_dim;
    l.q_dim = size_mul(s, l.heads, l.head_dim);
    l.kv_dim = size_mul(s, l.kv_heads, l.head_dim);
    l.qkv_dim = size_add(s, l.q_dim, size_mul(s, 2, l.kv_dim));
    l.window = a.window[l.index];
    l.chunk = l.index < static_cast<int64_t>(a.chunk.size()) ? a.chunk[l.index] : 0;  // importers may leave it empty
    l.nope = s.positions == PositionKind::rope && !s.rope.rotates(l.index);
    l.local_rope = s.local_rope && l.window > 0;
    l.lf_hidden = a.localized_filtering ? s.hidden_size : 0;
  }

  std::vector<RoleShape> roles(const Spec& s, const LayerPlan& l) const override {
    std::vector<RoleShape> roles;
    const AttentionSpec& a = s.attention;
    const int64_t H = s.hidden_size;
    if (a.qkv == QkvLayout::separate) {
      roles.push_back({Role::q, {l.q_dim, H}});
      roles.push_back({Role::k, {l.kv_dim, H}});
      roles.push_back({Role::v, {l.kv_dim, H}});
      if (a.bias_q) roles.push_back({Role::q_bias, {l.q_dim}});
      if (a.bias_k) roles.push_back({Role::k_bias, {l.kv_dim}});
      if (a.bias_v) roles.push_back({Role::v_bias, {l.kv_dim}});
    } else {
      roles.push_back({Role::qkv, {l.qkv_dim, H}});
      if (a.bias_q) roles.push_back({Role::qkv_bias, {l.qkv_dim}});
    }
    if (a.qk_norm != QkNorm::none) {
      const NormSpec& n = *a.qk_norm_spec;
      const bool own = a.qk_norm_weights == QkNormWeights::per_head;
      for (auto [role, heads, width] : {std::tuple{Role::q_norm, l.heads, l.q_dim}, std::tuple{Role::k_norm, l.kv_heads, l.kv_dim}}) {
        const std::vector<int64_t> shape = a.qk_norm == QkNorm::projection ? std::vector<int64_t>{width}
                                           : own ? std::vector<int64_t>{heads, l.head_dim}
                                                 : std::vector<int64_t>{l.head_dim};
        if (n.weight != NormWeight::none) roles.push_back({role, shape});
        if (n.bias) roles.push_back({*bias_role(role), shape});
      }
    }
    roles.push_back({Role::o, {H, l.q_dim}});
    if (a.bias_o) roles.push_back({Role::o_bias, {H}});
    if (a.localized_filtering) {
      roles.insert(roles.begin(), {{Role::lf_conv1, {H / 2, H, 2, 1}}, {Role::lf_conv1_bias, {H / 2}},
                                   {Role::lf_conv2, {H, H / 2, 2, 1}}, {Role::lf_conv2_bias, {H}},
                                   {Role::lf_norm, {H}}});
    }
    return roles;
  }

  std::vector<BufferPlan> buffers(const Plan& p) const override {
    std::vector<BufferPlan> buffers = {{"qkv_", p.max_qkv_dim}, {"q_", p.max_q_dim}, {"att_", p.max_q_dim},
                                       {"kv_staging_", 2 * p.max_kv_dim}};  // this step's keys, then values (fp32)
    // Localized filtering: rows paired with their predecessors (a width-2 convolution's input), the first
    // convolution's output, the filtered rows q and k are projected from.
    const int64_t H = p.spec->hidden_size;
    if (p.spec->attention.localized_filtering)
      buffers.insert(buffers.end(), {{"lf_pairs_", 2 * H}, {"lf_mid_", H / 2}, {"lf_", H}});
    return buffers;
  }

  int64_t state_row(const LayerPlan& l) const override { return 2 * l.kv_dim; }  // keys, then values
  // Localized filtering keeps the previous position's input row and first convolution's row (hidden + hidden/2).
  int64_t state_fixed_bytes(const LayerPlan& l) const override { return 4 * (l.lf_hidden + l.lf_hidden / 2); }

  std::string thread_scratch(const Plan& p) const override {
    return fmt::format("llmc::attention_scratch_floats({}, {}, kContext)", p.max_heads, p.max_head_dim);
  }

  const char* title() const override { return "Attention"; }

  std::string describe(const LayerPlan& l) const override {
    std::string extra = l.window ? fmt::format(", sliding window {}", l.window) : "";
    if (l.chunk) extra += fmt::format(", attention within chunks of {}", l.chunk);
    if (l.nope) extra += ", no RoPE";
    return fmt::format("{} query heads, {} kv heads of {}{}", l.heads, l.kv_heads, l.head_dim, extra);
  }

  void emit_model_constants(Code& c, const Plan& p) const override {
    if (p.spec->attention.localized_filtering)
      c.line("constexpr float kLfNormEps = 1e-6f;  // the filter's RMSNorm: LlamaRMSNorm's default, not norm.eps");
    const auto& t = p.spec->attention.temperature_tuning;
    if (!t) return;
    c.line("// Attention temperature tuning of the layers without RoPE: q × (log(⌊(pos + 1) / floor_scale⌋ + 1) · scale + 1).");
    c.line("constexpr float kTemperatureFloorScale = {}, kTemperatureScale = {};", flt(t->floor_scale), flt(t->scale));
  }

  void emit_constants(Code& c, const LayerPlan& l) const override {
    c.line("constexpr int kHeads = {}, kKvHeads = {}, kHeadDim = {};", l.heads, l.kv_heads, l.head_dim);
    c.line("constexpr int kQDim = kHeads * kHeadDim, kKvDim = kKvHeads * kHeadDim;");
  }

  void emit(Code& c, const Plan& p, const LayerPlan& l, const std::string& in, const std::string& out) const override {
    const Spec& s = *p.spec;
    const AttentionSpec& a = s.attention;
    if (l.encoder) return emit_encoder(c, a, l, in, out);
    c.line("// This step's keys and values in fp32, before they are stored into each sequence's state.");
    c.line("float* const k_new = kv_staging_;");
    c.line("float* const v_new = kv_staging_ + kChunk * kKvDim;");
    if (a.localized_filtering) emit_localized_filtering(c, l, in);
    emit_projections(c, a, l, in);
    if (!a.qk_norm_after_rope) emit_qk_norms(c, a);
    c.line("for (const Sequence& s : sequences) {{");
    c.line("  // Its rows of this step, and this layer's keys and values in each row of its state (kKvRow apart).");
    c.line("  float* const q = q_ + static_cast<size_t>(s.first) * kQDim;");
    c.line("  float* const k = k_new + static_cast<size_t>(s.first) * kKvDim;");
    c.line("  const float* const v = v_new + static_cast<size_t>(s.first) * kKvDim;");
    c.line("  KvElement* const k_cache = reinterpret_cast<KvElement*>(s.state->rows()) + {};", l.state_offset);
    c.line("  KvElement* const v_cache = k_cache + kKvDim;");
    if (a.mask == AttentionMask::prefix)
      c.line("  const int32_t* const prefix_lm = reinterpret_cast<const int32_t*>(s.state->fixed() + kPrefixLmState);");
    if (s.positions == PositionKind::rope && s.rope.two_d) {  // GLM: position and block position halves
      for (auto [heads, v, dim] : {std::tuple{"kHeads", "q", "kQDim"}, std::tuple{"kKvHeads", "k", "kKvDim"}})
        c.line("  llmc::rope_2d<{}, kHeadDim>({}, {}, s.count, s.pos, prefix_lm, rope_cos_.get(), rope_sin_.get());", heads,
               v, dim);
    } else if (s.positions == PositionKind::rope && !l.nope) {
      const char* pairing = s.rope.pairing == RopePairing::half ? "llmc::Pairing::half" : "llmc::Pairing::interleaved";
      const char* table = l.local_rope ? "rope_local_" : "rope_";  // positions.local in sliding-window layers
      c.line("  llmc::rope<kHeads, kHeadDim, kRotaryDim, {}>(q, kQDim, s.count, s.pos, {}cos_.get(), {}sin_.get());",
             pairing, table, table);
      c.line("  llmc::rope<kKvHeads, kHeadDim, kRotaryDim, {}>(k, kKvDim, s.count, s.pos, {}cos_.get(), {}sin_.get());",
             pairing, table, table);
      if (a.qk_norm_after_rope) {
        c.line("  {}", norm_call(*a.qk_norm_spec, "q", "q", "w", Role::q_norm, "kHeadDim", "kQkNormEps", "s.count * kHeads"));
        c.line("  {}", norm_call(*a.qk_norm_spec, "k", "k", "w", Role::k_norm, "kHeadDim", "kQkNormEps", "s.count * kKvHeads"));
      }
    }
    if (a.temperature_tuning && (s.positions != PositionKind::rope || l.nope))
      c.line("  llmc::temperature_tune<kQDim>(q, kQDim, s.count, s.pos, kTemperatureFloorScale, kTemperatureScale);");
    c.line("  llmc::store_kv<kKvDim, kKvRow>(k_cache, s.pos, k, s.count);");
    c.line("  llmc::store_kv<kKvDim, kKvRow>(v_cache, s.pos, v, s.count);");
    c.line("  llmc::attention<kHeads, kKvHeads, kHeadDim, kContext, kKvRow>(att_ + static_cast<size_t>(s.first) * kQDim, q,");
    // The keys every query sees (AttentionParams::prefix): a prefix-LM's context; an encoder's whole input, which
    // is this step's rows of the sequence. Relative positions (T5's decoder): keys 0 (as the mask says), the bias.
    const std::string prefix = a.mask == AttentionMask::prefix          ? "llmc::prefix_length(prefix_lm)"
                               : a.mask == AttentionMask::bidirectional ? "s.pos + s.count"
                                                                        : "0";
    const std::string chunk_and_prefix =
        s.positions == PositionKind::relative ? fmt::format(", {}, {}, 0, relative_bias_.get()", l.chunk, prefix)
        : prefix != "0"                       ? fmt::format(", {}, {}", l.chunk, prefix)
        : l.chunk                             ? fmt::format(", {}", l.chunk)
                                              : "";
    c.line("      kQDim, k_cache, v_cache, s.count, s.pos, {{kAttentionScale, {}, {}, {}{}}}, scratch_.get());",
           a.softcap != 0.0 ? "kAttentionSoftcap" : "0.0f", l.window,
           s.positions == PositionKind::alibi ? "kAlibiSlopes" : "nullptr", chunk_and_prefix);
    c.line("}}");
    c.line("llmc::matmul<kHidden, kQDim>({}, att_, w.o, {}, T);", out, bias_of(l, Role::o));
  }

 private:
  // An encoder layer (T5): the whole source is one step and attends bidirectionally to itself, so its keys and
  // values are read from this step's buffers and nothing is kept.
  static void emit_encoder(Code& c, const AttentionSpec& a, const LayerPlan& l, const std::string& in,
                           const std::string& out) {
    c.line("float* const k_new = kv_staging_;");
    c.line("float* const v_new = kv_staging_ + kChunk * kKvDim;");
    emit_projections(c, a, l, in);
    emit_qk_norms(c, a);
    c.line("// Every source position sees every other (keys 0..T-1), with the encoder's relative position bias.");
    c.line("llmc::attention<kHeads, kKvHeads, kHeadDim, kContext>(att_, q_, kQDim, k_new, v_new, T, 0,");
    c.line("    {{.scale = kAttentionScale, .softcap = {}, .window = 0, .alibi = nullptr, .keys = T,",
           a.softcap != 0.0 ? "kAttentionSoftcap" : "0.0f");
    c.line("     .relative_bias = encoder_relative_bias_.get()}}, scratch_.get());");
    c.line("llmc::matmul<kHidden, kQDim>({}, att_, w.o, {}, T);", out, bias_of(l, Role::o));
  }

  // q, k_new and v_new for the step's T rows of `in`.
  static void emit_projections(Code& c, const AttentionSpec& a, const LayerPlan& l, const std::string& in) {
    if (a.localized_filtering) {  // q and k from the filtered rows, v from the layer's input
      c.line("llmc::matmuls<kHidden, kQDim, kKvDim>(lf_, T, {{{{q_, w.q, {}}}, {{k_new, w.k, {}}}}});",
             bias_of(l, Role::q), bias_of(l, Role::k));
      c.line("llmc::matmul<kKvDim, kHidden>(v_new, {}, w.v, {}, T);", in, bias_of(l, Role::v));
      c.line("llmc::pair_qk_heads<kHeads, kHeadDim>(q_, k_new, T);  // heads i: the halves of block i of [q | k]");
    } else if (a.qkv == QkvLayout::separate) {
      c.line("llmc::matmuls<kHidden, kQDim, kKvDim, kKvDim>({}, T, {{{{q_, w.q, {}}}, {{k_new, w.k, {}}}, {{v_new, w.v, {}}}}});",
             in, bias_of(l, Role::q), bias_of(l, Role::k), bias_of(l, Role::v));
    } else {
      const char* layout = a.qkv == QkvLayout::fused            ? "llmc::QkvLayout::fused"
                           : a.qkv == QkvLayout::fused_per_head ? "llmc::QkvLayout::per_head"
                                                                : "llmc::QkvLayout::per_kv_group";
      c.line("llmc::matmul<kQDim + 2 * kKvDim, kHidden>(qkv_, {}, w.qkv, {}, T);", in, bias_of(l, Role::qkv));
      c.line("llmc::split_qkv<kHeads, kKvHeads, kHeadDim, {}>(q_, k_new, v_new, qkv_, T);", layout);
    }
    if (a.clip_qkv != 0.0) {
      c.line("llmc::clamp(q_, static_cast<size_t>(T) * kQDim, kClipQkv);");
      c.line("llmc::clamp(k_new, static_cast<size_t>(T) * kKvDim, kClipQkv);");
      c.line("llmc::clamp(v_new, static_cast<size_t>(T) * kKvDim, kClipQkv);");
    }
  }

  // Yuan 2's localized filtering of the step's rows of `in` into lf_: per sequence, each row paired with the one
  // before it (from the state for its first row), the two width-2 convolutions as matmuls over those pairs (their
  // weights [out][in][2] are row-major [out][in·2]), then RMSNorm(in + conv2).
  static void emit_localized_filtering(Code& c, const LayerPlan& l, const std::string& in) {
    c.line("// Localized filtering: lf_ = RMSNorm(x + conv2(conv1(x))), causal width-2 convolutions over positions.");
    c.line("// A sequence's state keeps its previous position's input row, then that row's first convolution.");
    c.line("for (const Sequence& s : sequences) {{");
    c.line("  float* const previous = reinterpret_cast<float*>(s.state->fixed() + {});", l.state_fixed_offset);
    c.line("  const size_t row = static_cast<size_t>(s.first);");
    c.line("  llmc::pair_with_previous<kHidden>(lf_pairs_ + row * 2 * kHidden, {} + row * kHidden, previous,", in);
    c.line("                                    s.count);");
    c.line("}}");
    c.line("llmc::matmul<kHidden / 2, 2 * kHidden>(lf_mid_, lf_pairs_, w.lf_conv1, w.lf_conv1_bias, T);");
    c.line("for (const Sequence& s : sequences) {{");
    c.line("  float* const previous = reinterpret_cast<float*>(s.state->fixed() + {}) + kHidden;",
           l.state_fixed_offset);
    c.line("  const size_t row = static_cast<size_t>(s.first);");
    c.line("  llmc::pair_with_previous<kHidden / 2>(lf_pairs_ + row * kHidden, lf_mid_ + row * (kHidden / 2),");
    c.line("                                        previous, s.count);");
    c.line("}}");
    c.line("llmc::matmul<kHidden, kHidden>(lf_, lf_pairs_, w.lf_conv2, w.lf_conv2_bias, T);");
    c.line("llmc::add_scaled<kHidden>(lf_, {}, 1.0f, T);", in);
    c.line("llmc::rms_norm<kHidden, llmc::Weighting::plain>(lf_, lf_, w.lf_norm, kLfNormEps, T);");
  }

  // Localized filtering pairs q and k heads as its reference does (q/k of one width, as many kv heads as heads).
  static void check_localized_filtering(const Spec& s) {
    const AttentionSpec& a = s.attention;
    for (int64_t i = 0; i < s.num_layers; ++i)
      if (a.qkv != QkvLayout::separate || a.heads[i] != a.kv_heads[i] || a.heads[i] * a.head_dim != s.hidden_size ||
          s.hidden_size % 2 != 0)
        throw Error(fmt::format("{}: field 'attention.localized_filtering': needs separate q, k, v projections and "
                                "as many kv heads as heads, heads x head_dim = hidden_size (even); layer {} has {} "
                                "heads, {} kv heads of {}, hidden_size {}",
                                s.file, i, a.heads[i], a.kv_heads[i], a.head_dim, s.hidden_size));
  }

  static void emit_qk_norms(Code& c, const AttentionSpec& a) {
    if (a.qk_norm == QkNorm::head && a.qk_norm_weights == QkNormWeights::per_head) {
      c.line("{}", per_head_norm_call(*a.qk_norm_spec, "q_", Role::q_norm, "kHeads"));
      c.line("{}", per_head_norm_call(*a.qk_norm_spec, "k_new", Role::k_norm, "kKvHeads"));
    } else if (a.qk_norm == QkNorm::head) {
      c.line("{}", norm_call(*a.qk_norm_spec, "q_", "q_", "w", Role::q_norm, "kHeadDim", "kQkNormEps", "T * kHeads"));
      c.line("{}", norm_call(*a.qk_norm_spec, "k_new", "k_new", "w", Role::k_norm, "kHeadDim", "kQkNormEps", "T * kKvHeads"));
    } else if (a.qk_norm == QkNorm::projection) {
      c.line("{}", norm_call(*a.qk_norm_spec, "q_", "q_", "w", Role::q_norm, "kQDim", "kQkNormEps", "T"));
      c.line("{}", norm_call(*a.qk_norm_spec, "k_new", "k_new", "w", Role::k_norm, "kKvDim", "kQkNormEps", "T"));
    }
  }
};

}  // namespace

const Block& attention_block() {
  static const Attention block;
  return block;
}

const Block& mixer_of(const Spec& s) {
  switch (s.mixer) {
    case MixerKind::rwkv4: return time_mix_block();
    case MixerKind::mamba: return mamba_block();
    case MixerKind::mamba2: return mamba2_block();
    case MixerKind::attention: break;
  }
  return s.attention.kind == AttentionKind::mla ? mla_block() : attention_block();
}

}  // namespace llmc
