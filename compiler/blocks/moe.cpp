// The mixture-of-experts feed-forward block: a router picks top_k experts per token (mlp.experts), plus an optional
// shared expert every token runs. Its spec fields, tensor roles and buffers are here; generating its code is not
// done yet (issue 21, part 2): the emitter refuses such a spec with a message (emit.cpp).
#include <fmt/format.h>

#include <algorithm>

#include "blocks/block.hpp"
#include "llmc/error.hpp"

namespace llmc {
namespace {

class Moe final : public Block {
 public:
  void check(const Spec&) const override {}  // loading checks every field (spec.cpp)

  void size(const Spec& s, LayerPlan& l) const override { l.ffn = s.mlp.intermediate[l.index]; }

  std::vector<RoleShape> roles(const Spec& s, const LayerPlan& l) const override {
    const MoeSpec& m = s.mlp.moe;
    const int64_t E = m.experts, F = l.ffn, S = m.shared_intermediate, H = s.hidden_size;
    std::vector<RoleShape> roles = {{Role::router, {E, H}}};
    if (s.mlp.fused_gate_up) {
      roles.push_back({Role::expert_gate_up, {E, 2 * F, H}});
    } else {
      roles.push_back({Role::expert_gate, {E, F, H}});
      roles.push_back({Role::expert_up, {E, F, H}});
    }
    roles.push_back({Role::expert_down, {E, H, F}});
    if (S > 0) {
      roles.push_back({Role::shared_gate, {S, H}});
      roles.push_back({Role::shared_up, {S, H}});
      roles.push_back({Role::shared_down, {H, S}});
      if (m.shared_gate) roles.push_back({Role::shared_expert_gate, {1, H}});
    }
    return roles;
  }

  // router_logits: [experts]; expert_in / expert_out: one expert's packed rows (a token visits an expert at most
  // once, so a step's rows suffice); expert_rows: every visit's output (top_k per row); h, gate_up: as the dense
  // MLP's, for the widest expert or shared expert.
  std::vector<BufferPlan> buffers(const Plan& p) const override {
    const MoeSpec& m = p.spec->mlp.moe;
    const int64_t H = p.spec->hidden_size, width = std::max(p.max_ffn, m.shared_intermediate);
    return {{"router_logits_", m.experts}, {"expert_in_", H}, {"expert_out_", H}, {"expert_rows_", m.top_k * H},
            {"h_", width}, {"gate_up_", 2 * width}};
  }

  const char* title() const override { return "Feed-forward: mixture of experts"; }

  std::string describe(const LayerPlan& l) const override { return fmt::format("experts of FFN {}", l.ffn); }

  void emit_constants(Code& c, const LayerPlan& l) const override { c.line("constexpr int kFfn = {};", l.ffn); }

  void emit(Code&, const Plan& p, const LayerPlan&, const std::string&, const std::string&) const override {
    throw Error(fmt::format("{}: mlp.kind: moe: generating a mixture of experts is not implemented yet", p.spec->file));
  }
};

}  // namespace

const Block& moe_block() {
  static const Moe block;
  return block;
}

}  // namespace llmc
