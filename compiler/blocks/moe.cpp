// The mixture-of-experts feed-forward block: a router (fp32) picks top_k experts per token (mlp.experts), plus an
// optional shared expert every token runs. Each expert runs once per step over the rows that visit it, so its
// weights are read once per chunk; the rows' expert outputs are summed in ascending expert order (llmc/moe.hpp).
#include <fmt/format.h>

#include <algorithm>

#include "blocks/block.hpp"
#include "llmc/error.hpp"

namespace llmc {
namespace {

// out = down(act(gate(x)) · up(x)) over `rows` rows of x; gate and up from one [gate; up] matrix when fused.
// w: the expressions of the matrices ("w.expert_gate[e]"); width: the C++ constant of the hidden width.
struct GatedFfn {
  std::string gate, up, gate_up, down, width;
};

// pad: extra indent of the lines.
void emit_gated_ffn(Code& c, const std::string& pad, const GatedFfn& f, bool fused, const char* act,
                    const std::string& x, const std::string& rows, const std::string& out) {
  const std::string& F = f.width;
  if (fused) {
    c.line("{}llmc::matmul<2 * {}, kHidden>(gate_up_, {}, {}, nullptr, {});", pad, F, x, f.gate_up, rows);
    c.line("{}llmc::gated_activation<{}, {}>(h_, gate_up_, 2 * {}, gate_up_ + {}, 2 * {}, {});", pad, F, act, F, F, F,
           rows);
  } else {
    c.line("{}llmc::matmuls<kHidden, {}, {}>({}, {}, {{{{h_, {}, nullptr}}, {{gate_up_, {}, nullptr}}}});", pad, F,
           F, x, rows, f.gate, f.up);
    c.line("{}llmc::gated_activation<{}, {}>(h_, h_, {}, gate_up_, {}, {});", pad, F, act, F, F, rows);
  }
  c.line("{}llmc::matmul<kHidden, {}>({}, h_, {}, nullptr, {});", pad, F, out, f.down, rows);
}

class Moe final : public Block {
 public:
  void check(const Spec&) const override {}  // loading checks every field (spec.cpp)

  void size(const Spec& s, LayerPlan& l) const override { l.ffn = s.mlp.intermediate[l.index]; }

  std::vector<RoleShape> roles(const Spec& s, const LayerPlan& l) const override {
    const MoeSpec& m = s.mlp.moe;
    const int64_t E = m.experts, F = l.ffn, S = m.shared_intermediate, H = s.hidden_size;
    std::vector<RoleShape> roles = {{Role::router, {E, H}}};
    if (m.routing == Routing::noaux_tc) roles.push_back({Role::router_bias, {E}});
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
  // MLP's, for the widest expert or shared expert; shared_gate_logit: the shared expert's gate before the sigmoid.
  std::vector<BufferPlan> buffers(const Plan& p) const override {
    const MoeSpec& m = p.spec->mlp.moe;
    const int64_t H = p.spec->hidden_size, width = std::max(p.max_ffn, m.shared_intermediate);
    std::vector<BufferPlan> buffers = {{"router_logits_", m.experts}, {"expert_in_", H}, {"expert_out_", H},
                                       {"expert_rows_", m.top_k * H}, {"h_", width}, {"gate_up_", 2 * width}};
    if (m.shared_gate) buffers.push_back({"shared_gate_logit_", 1});
    return buffers;
  }

  const char* title() const override { return "Feed-forward: mixture of experts"; }

  std::string describe(const LayerPlan& l) const override { return fmt::format("experts of FFN {}", l.ffn); }

  void emit_constants(Code& c, const LayerPlan& l) const override { c.line("constexpr int kFfn = {};", l.ffn); }

  void emit_model_constants(Code& c, const Plan& p) const override {
    const MoeSpec& m = p.spec->mlp.moe;
    c.line("// Mixture of experts: {} experts, {} per token ({}{}{}{}){}.", m.experts, m.top_k, to_string(m.routing),
           m.groups > 1 ? fmt::format(" in the best {} of {} groups", m.top_groups, m.groups) : "",
           m.renormalize ? ", renormalised" : "", m.scale != 1.0 ? fmt::format(", × {}", m.scale) : "",
           m.weighted_input ? "; the weight scales the expert's input" : "");
    c.line("constexpr int kExperts = {};", m.experts);
    c.line("constexpr int kTopK = {};", m.top_k);
    c.line("constexpr llmc::RoutingParams kRouting{{llmc::Routing::{}, {}, {}, {}, {}, {}}};", to_string(m.routing),
           m.renormalize ? "true" : "false", flt(m.scale), flt(m.jitter_eps), m.groups, m.top_groups);
    if (m.shared_intermediate > 0) c.line("constexpr int kSharedFfn = {};", m.shared_intermediate);
  }

  void emit_members(Code& c, const Plan&) const override {
    c.line("// The step's routing: each row's experts and weights, and the rows grouped by expert.");
    c.line("llmc::Routes<kExperts, kTopK, kChunk> routes_;");
  }

  void emit(Code& c, const Plan& p, const LayerPlan&, const std::string& in, const std::string& out) const override {
    const MlpSpec& mlp = p.spec->mlp;
    const MoeSpec& m = mlp.moe;
    const char* act = act_name(mlp.activation);
    c.line("llmc::matmul<kExperts, kHidden>(router_logits_, {}, w.router, nullptr, T);", in);
    c.line("llmc::route<kExperts, kTopK>(router_logits_, T, kRouting, routes_.ids, routes_.weights{});",
           m.routing == Routing::noaux_tc ? ", w.router_bias" : "");
    c.line("routes_.visits.group(routes_.ids, T);");
    c.line("for (int e = 0; e < kExperts; ++e) {{  // each expert once, over the rows that visit it");
    c.line("  const int n = routes_.visits.count(e);");
    c.line("  if (n == 0) continue;");
    c.line("  llmc::gather_visits<kHidden>(expert_in_, {}, routes_.visits, e, {});", in,
           m.weighted_input ? "routes_.weights" : "nullptr");
    emit_gated_ffn(c, "  ", {"w.expert_gate[e]", "w.expert_up[e]", "w.expert_gate_up[e]", "w.expert_down[e]", "kFfn"},
                   mlp.fused_gate_up, act, "expert_in_", "n", "expert_out_");
    c.line("  llmc::scatter_visits<kHidden>(expert_rows_, expert_out_, routes_.visits, e);");
    c.line("}}");
    c.line("llmc::combine_experts<kHidden, kTopK>({}, expert_rows_, routes_.ids, {}, T);", out,
           m.weighted_input ? "nullptr" : "routes_.weights");
    if (m.shared_intermediate == 0) return;
    c.line("// The shared expert, which every row runs.");
    emit_gated_ffn(c, "", {"w.shared_gate", "w.shared_up", "", "w.shared_down", "kSharedFfn"}, false, act, in, "T",
                   "expert_out_");
    if (m.shared_gate) {
      c.line("llmc::matmul<1, kHidden>(shared_gate_logit_, {}, w.shared_expert_gate, nullptr, T);", in);
      c.line("llmc::add_sigmoid_gated<kHidden>({}, expert_out_, shared_gate_logit_, T);", out);
    } else {
      c.line("llmc::add_scaled<kHidden>({}, expert_out_, 1.0f, T);", out);
    }
  }
};

}  // namespace

const Block& moe_block() {
  static const Moe block;
  return block;
}

}  // namespace llmc
