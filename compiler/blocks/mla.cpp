// The multi-head latent attention block (attention.kind: mla; DeepSeek-V2/V3, modeling_deepseek.py): queries
// straight from the input (q) or low-rank (q_a → RMSNorm → q_b), heads of [nope | rope]; kv_a gives one row
// [latent | k_rope] per token, the latent RMS-normalised, k_rope rotated and shared by all heads. The state is
// that row per position (kv_lora_rank + rope values, not per-head keys and values), and attention runs over it
// in the absorbed form of llmc/mla.hpp: kv_b's key part folded into the query, its value part applied after.
#include <fmt/format.h>

#include "blocks/block.hpp"
#include "llmc/error.hpp"

namespace llmc {
namespace {

class Mla final : public Block {
 public:
  void check(const Spec& s) const override {
    const AttentionSpec& a = s.attention;
    const auto fail = [&](const std::string& field, const std::string& what) {
      throw Error(fmt::format("{}: field '{}': {}", s.file, field, what));
    };
    if (s.positions != PositionKind::rope) fail("positions.kind", "multi-head latent attention needs rope");
    if (s.rope.rotary_dim >= a.head_dim)
      fail("positions.rotary_dim", fmt::format("the rope part ({}) must be narrower than the q/k head_dim ({}): "
                                               "head_dim is nope + rope",
                                               s.rope.rotary_dim, a.head_dim));
    if (s.rope.scaling.type == "longrope") fail("positions.scaling.type", "longrope is not supported with mla");
    if (a.qkv != QkvLayout::separate || a.qk_norm != QkNorm::none || a.bias_q || a.bias_k || a.bias_v || a.bias_o ||
        a.softcap != 0.0 || a.clip_qkv != 0.0)
      fail("attention", "mla takes none of qkv, bias, qk_norm, softcap, clip_qkv");
    for (int64_t i = 0; i < s.num_layers; ++i) {
      if (a.window[i] != 0) fail("attention.window", "mla has no sliding window");
      if (a.kv_heads[i] != a.heads[i])
        fail("attention.kv_heads", "mla has no kv heads of its own: set kv_heads equal to heads");
    }
  }

  void size(const Spec& s, LayerPlan& l) const override {
    const AttentionSpec& a = s.attention;
    l.heads = a.heads[l.index];
    l.kv_heads = 1;  // one latent row shared by every head
    l.head_dim = a.head_dim;
    l.q_lora = a.mla.q_lora_rank;
    l.kv_lora = a.mla.kv_lora_rank;
    l.rope_dim = s.rope.rotary_dim;
    l.v_head_dim = a.mla.v_head_dim;
    l.q_dim = size_mul(s, l.heads, l.head_dim);
    l.kv_dim = size_add(s, l.kv_lora, l.rope_dim);  // the cached row
  }

  std::vector<RoleShape> roles(const Spec& s, const LayerPlan& l) const override {
    const int64_t H = s.hidden_size, nope = l.head_dim - l.rope_dim;
    std::vector<RoleShape> roles;
    if (l.q_lora > 0) {
      roles.push_back({Role::q_a, {l.q_lora, H}});
      roles.push_back({Role::q_a_norm, {l.q_lora}});
      roles.push_back({Role::q_b, {l.q_dim, l.q_lora}});
    } else {
      roles.push_back({Role::q, {l.q_dim, H}});
    }
    roles.push_back({Role::kv_a, {l.kv_dim, H}});
    roles.push_back({Role::kv_a_norm, {l.kv_lora}});
    if (s.attention.mla.kv_b == MlaKvB::split) {
      roles.push_back({Role::k_b, {l.heads, l.kv_lora, nope}});
      roles.push_back({Role::v_b, {l.heads, l.v_head_dim, l.kv_lora}});
    } else {
      roles.push_back({Role::kv_b, {size_mul(s, l.heads, nope + l.v_head_dim), l.kv_lora}});
    }
    roles.push_back({Role::o, {H, size_mul(s, l.heads, l.v_head_dim)}});
    return roles;
  }

  // q: queries [heads][nope | rope]; q_lora: the low-rank query; latent_new: this step's [latent | k_rope] rows;
  // q_latent: the absorbed queries and att_latent attention's output, [heads][latent | rope] each; att: per
  // head values, the o projection's input.
  std::vector<BufferPlan> buffers(const Plan& p) const override {
    const MlaSpec& m = p.spec->attention.mla;
    const int64_t row = m.kv_lora_rank + p.spec->rope.rotary_dim;
    std::vector<BufferPlan> buffers = {{"q_", p.max_q_dim},
                                       {"latent_new_", row},
                                       {"q_latent_", p.max_heads * row},
                                       {"att_latent_", p.max_heads * row},
                                       {"att_", p.max_heads * m.v_head_dim}};
    if (m.q_lora_rank > 0) buffers.push_back({"q_lora_", m.q_lora_rank});
    const int64_t nope = p.spec->attention.head_dim - p.spec->rope.rotary_dim;
    buffers.push_back({"mla_scratch_", p.max_heads * std::max<int64_t>(nope, m.kv_lora_rank)});  // kMlaScratchFloats
    return buffers;
  }

  // kv_b (or k_b and v_b) is bound as the per-head matrices the absorbed attention multiplies by
  // (llmc::MlaProjections, or one llmc::Matrix each), in the model's matrix storage, so that a quantised model
  // reads them quantised.
  std::string member(Role role) const override {
    if (role == Role::kv_b) return "llmc::MlaProjections kv_b;";
    if (role == Role::k_b || role == Role::v_b) return fmt::format("llmc::Matrix {};", role_name(role));
    return "";
  }

  std::string bind(const Plan& p, Role role, const std::string& ref) const override {
    const AttentionSpec& a = p.spec->attention;
    const int64_t nope = a.head_dim - p.spec->rope.rotary_dim;
    if (role == Role::kv_b)
      return fmt::format("llmc::mla_projections<{}, {}, {}>(store, {}, kMatrixStorage)", nope, a.mla.v_head_dim,
                         a.mla.kv_lora_rank, ref);
    if (role == Role::k_b) return fmt::format("llmc::head_matrices<{}, {}>(store, {}, kMatrixStorage)",
                                              a.mla.kv_lora_rank, nope, ref);
    if (role == Role::v_b) return fmt::format("llmc::head_matrices<{}, {}>(store, {}, kMatrixStorage)",
                                              a.mla.v_head_dim, a.mla.kv_lora_rank, ref);
    return "";
  }

  int64_t state_row(const LayerPlan& l) const override { return l.kv_dim; }  // normalised latent, rotated k_rope

  std::string thread_scratch(const Plan& p) const override {
    const int64_t row = p.spec->attention.mla.kv_lora_rank + p.spec->rope.rotary_dim;
    return fmt::format("llmc::attention_scratch_floats({}, {}, kContext)", p.max_heads, row);
  }

  const char* title() const override { return "Multi-head latent attention (absorbed)"; }

  std::string describe(const LayerPlan& l) const override {
    return fmt::format("{} heads of q/k {} (rope {}) and v {} over a cached latent of {}{}", l.heads, l.head_dim,
                       l.rope_dim, l.v_head_dim, l.kv_lora,
                       l.q_lora > 0 ? fmt::format(", queries of rank {}", l.q_lora) : "");
  }

  void emit_constants(Code& c, const LayerPlan& l) const override {
    c.line("constexpr int kHeads = {}, kNope = {}, kVDim = {};", l.heads, l.head_dim - l.rope_dim, l.v_head_dim);
    c.line("constexpr int kQkDim = kNope + kRotaryDim, kQDim = kHeads * kQkDim;");
    c.line("constexpr int kLatent = {};  // a cached row: latent, then k_rope", l.kv_lora);
    c.line("constexpr int kLatentRow = kLatent + kRotaryDim;");
    if (l.q_lora > 0) c.line("constexpr int kQLora = {};", l.q_lora);
  }

  void emit_model_constants(Code& c, const Plan& p) const override {
    c.line("constexpr float kLatentNormEps = {};  // q_a_norm, kv_a_norm", flt(p.spec->attention.mla.norm_eps));
  }

  void emit(Code& c, const Plan& p, const LayerPlan& l, const std::string& in, const std::string& out) const override {
    const Spec& s = *p.spec;
    const char* pairing = s.rope.pairing == RopePairing::half ? "llmc::Pairing::half" : "llmc::Pairing::interleaved";
    if (l.q_lora > 0) {
      c.line("llmc::matmuls<kHidden, kQLora, kLatentRow>({}, T,", in);
      c.line("    {{{{q_lora_, w.q_a, nullptr}}, {{latent_new_, w.kv_a, nullptr}}}});");
      c.line("llmc::rms_norm<kQLora, llmc::Weighting::plain>(q_lora_, q_lora_, w.q_a_norm, kLatentNormEps, T);");
      c.line("llmc::matmul<kQDim, kQLora>(q_, q_lora_, w.q_b, nullptr, T);");
    } else {
      c.line("llmc::matmuls<kHidden, kQDim, kLatentRow>({}, T,", in);
      c.line("    {{{{q_, w.q, nullptr}}, {{latent_new_, w.kv_a, nullptr}}}});");
    }
    c.line("for (int t = 0; t < T; ++t) {{  // normalise the latent part of each row");
    c.line("  float* const row = latent_new_ + static_cast<size_t>(t) * kLatentRow;");
    c.line("  llmc::rms_norm<kLatent, llmc::Weighting::plain>(row, row, w.kv_a_norm, kLatentNormEps, 1);");
    c.line("}}");
    c.line("for (const Sequence& s : sequences) {{");
    c.line("  // Rotate its rows' query rope parts and shared k_rope, then store the rows [latent | k_rope].");
    c.line("  float* const q_rope = q_ + static_cast<size_t>(s.first) * kQDim + kNope;");
    c.line("  float* const latent = latent_new_ + static_cast<size_t>(s.first) * kLatentRow;");
    c.line("  llmc::rope<kHeads, kQkDim, kRotaryDim, {}>(q_rope, kQDim, s.count, s.pos, rope_cos_.get(),", pairing);
    c.line("      rope_sin_.get());");
    c.line("  llmc::rope<1, kLatentRow, kRotaryDim, {}>(latent + kLatent, kLatentRow, s.count, s.pos,", pairing);
    c.line("      rope_cos_.get(), rope_sin_.get());");
    c.line("  KvElement* const cache = reinterpret_cast<KvElement*>(s.state->rows()) + {};", l.state_offset);
    c.line("  llmc::store_kv<kLatentRow, kKvRow>(cache, s.pos, latent, s.count);");
    c.line("}}");
    const bool split = s.attention.mla.kv_b == MlaKvB::split;
    c.line("llmc::mla_absorb_queries<kHeads, kNope, kRotaryDim, kLatent>(q_latent_, q_, {}, mla_scratch_, T);",
           split ? "w.k_b" : "w.kv_b.keys");
    c.line("for (const Sequence& s : sequences) {{  // one key/value head: the cached rows, keys and values alike");
    c.line("  const KvElement* const cache =");
    c.line("      reinterpret_cast<const KvElement*>(s.state->rows()) + {};", l.state_offset);
    c.line("  const size_t first = static_cast<size_t>(s.first) * kHeads * kLatentRow;");
    c.line("  llmc::attention<kHeads, 1, kLatentRow, kContext, kKvRow>(att_latent_ + first, q_latent_ + first,");
    c.line("      kHeads * kLatentRow, cache, cache, s.count, s.pos, {{kAttentionScale, 0.0f, 0, nullptr}},");
    c.line("      scratch_.get());");
    c.line("}}");
    c.line("llmc::mla_expand_values<kHeads, kVDim, kLatent, kLatentRow>(att_, att_latent_, {}, mla_scratch_, T);",
           split ? "w.v_b" : "w.kv_b.values");
    c.line("llmc::matmul<kHidden, kHeads * kVDim>({}, att_, w.o, nullptr, T);", out);
  }
};

}  // namespace

const Block& mla_block() {
  static const Mla block;
  return block;
}

}  // namespace llmc
