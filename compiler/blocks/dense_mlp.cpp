// The dense MLP block: down(act(gate(x)) · up(x)) (gated) or down(act(up(x))) (plain), with optional biases
// and a fused [gate; up] projection. No per-sequence state.
#include <fmt/format.h>

#include "blocks/block.hpp"

namespace llmc {
namespace {

// A mixture-of-experts model's dense layers are gated; its fused_gate_up is its experts'.
bool gated(const MlpSpec& m) { return m.kind != MlpKind::plain; }
bool fused(const MlpSpec& m) { return m.kind == MlpKind::gated && m.fused_gate_up; }

class DenseMlp final : public Block {
 public:
  void check(const Spec&) const override {}  // loading checks every field (spec.cpp)

  void size(const Spec& s, LayerPlan& l) const override {
    l.ffn = s.mlp.kind == MlpKind::moe ? s.mlp.moe.dense_intermediate : s.mlp.intermediate[l.index];
  }

  std::vector<RoleShape> roles(const Spec& s, const LayerPlan& l) const override {
    std::vector<RoleShape> roles;
    const MlpSpec& m = s.mlp;
    const int64_t H = s.hidden_size;
    if (fused(m)) {
      roles.push_back({Role::gate_up, {2 * l.ffn, H}});
      if (m.bias) roles.push_back({Role::gate_up_bias, {2 * l.ffn}});
    } else {
      if (gated(m)) roles.push_back({Role::gate, {l.ffn, H}});
      roles.push_back({Role::up, {l.ffn, H}});
      if (m.bias && gated(m)) roles.push_back({Role::gate_bias, {l.ffn}});
      if (m.bias) roles.push_back({Role::up_bias, {l.ffn}});
    }
    roles.push_back({Role::down, {H, l.ffn}});
    if (m.bias) roles.push_back({Role::down_bias, {H}});
    return roles;
  }

  // h: the activation (ffn wide); gate_up: the up projection, or both halves when fused (2 ffn wide).
  std::vector<BufferPlan> buffers(const Plan& p) const override { return {{"h_", p.max_ffn}, {"gate_up_", 2 * p.max_ffn}}; }

  const char* title() const override { return "Feed-forward"; }

  std::string describe(const LayerPlan& l) const override { return fmt::format("FFN {}", l.ffn); }

  void emit_constants(Code& c, const LayerPlan& l) const override { c.line("constexpr int kFfn = {};", l.ffn); }

  void emit(Code& c, const Plan& p, const LayerPlan& l, const std::string& in, const std::string& out) const override {
    const MlpSpec& m = p.spec->mlp;
    if (fused(m)) {
      c.line("llmc::matmul<2 * kFfn, kHidden>(gate_up_, {}, w.gate_up, {}, T);", in, bias_of(l, Role::gate_up));
      c.line("llmc::gated_activation<kFfn, {}>(h_, gate_up_, 2 * kFfn, gate_up_ + kFfn, 2 * kFfn, T);",
             act_name(m.activation));
    } else if (gated(m)) {
      c.line("llmc::matmuls<kHidden, kFfn, kFfn>({}, T, {{{{h_, w.gate, {}}}, {{gate_up_, w.up, {}}}}});", in,
             bias_of(l, Role::gate), bias_of(l, Role::up));
      c.line("llmc::gated_activation<kFfn, {}>(h_, h_, kFfn, gate_up_, kFfn, T);", act_name(m.activation));
    } else {
      c.line("llmc::matmul<kFfn, kHidden>(h_, {}, w.up, {}, T);", in, bias_of(l, Role::up));
      c.line("llmc::activation<kFfn, {}>(h_, T);", act_name(m.activation));
    }
    c.line("llmc::matmul<kHidden, kFfn>({}, h_, w.down, {}, T);", out, bias_of(l, Role::down));
  }
};

}  // namespace

const Block& dense_mlp_block() {
  static const DenseMlp block;
  return block;
}

// A mixture-of-experts model's dense layers are gated MLPs of their own width (moe.dense_intermediate).
const Block& feed_forward_of(const Spec& s, int64_t layer) {
  if (s.mlp.kind == MlpKind::channel_mix) return channel_mix_block();
  if (s.mlp.kind == MlpKind::none) return no_feed_forward_block();
  const bool sparse = s.mlp.kind == MlpKind::moe && !s.mlp.moe.is_dense(layer);
  return sparse ? moe_block() : dense_mlp_block();
}

}  // namespace llmc
