// The Mamba mixer (Hugging Face modeling_mamba.py, MambaMixer): in_proj to [x | z], a causal depthwise
// convolution of x with SiLU, x_proj to [dt | B | C], dt_proj and softplus, the selective scan with A = −exp(A_log),
// the D skip, the SiLU(z) gate and out_proj. A sequence's state per layer is fixed: the convolution's last
// conv_kernel − 1 inputs and the scan state [size][state_size]. Also the empty feed-forward block of layers that
// are their mixer alone (mlp.kind none).
#include <fmt/format.h>

#include "blocks/block.hpp"
#include "llmc/error.hpp"

namespace llmc {
namespace {

class Mamba final : public Block {
 public:
  void check(const Spec& s) const override {
    if (s.mlp.kind != MlpKind::none)
      throw Error(fmt::format("{}: field 'mlp.kind': a mamba layer is its mixer alone: expected none", s.file));
  }

  void size(const Spec& s, LayerPlan& l) const override {
    l.mixer_size = s.mixer_size;
    l.ssm_state = s.ssm_state;
    l.conv_kernel = s.conv_kernel;
    l.dt_rank = s.dt_rank;
  }

  std::vector<RoleShape> roles(const Spec& s, const LayerPlan& l) const override {
    const int64_t H = s.hidden_size, I = l.mixer_size;
    const bool gguf = s.ssm_layout == SsmLayout::gguf;
    return {{Role::in_proj, {2 * I, H}},
            {Role::conv, gguf ? std::vector<int64_t>{I, l.conv_kernel} : std::vector<int64_t>{I, 1, l.conv_kernel}},
            {Role::conv_bias, {I}},
            {Role::x_proj, {l.dt_rank + 2 * l.ssm_state, I}},
            {Role::dt_proj, {I, l.dt_rank}},
            {Role::dt_bias, {I}},
            {ssm_decay_role(s), {I, l.ssm_state}},
            {Role::d_skip, {I}},
            {Role::o, {H, I}}};
  }

  // in_proj's [x | z], the convolved x, x_proj's [dt | B | C], the scan's output.
  std::vector<BufferPlan> buffers(const Plan& p) const override {
    const Spec& s = *p.spec;
    return {{"xz_", 2 * s.mixer_size}, {"conv_out_", s.mixer_size}, {"ssm_proj_", s.dt_rank + 2 * s.ssm_state},
            {"scan_out_", s.mixer_size}};
  }

  int64_t state_fixed_bytes(const LayerPlan& l) const override {
    return 4 * (l.mixer_size * (l.conv_kernel - 1) + l.mixer_size * l.ssm_state);
  }

  const char* title() const override { return "Mamba"; }
  std::string describe(const LayerPlan& l) const override {
    return fmt::format("Mamba of {}, state {}, convolution {}", l.mixer_size, l.ssm_state, l.conv_kernel);
  }
  void emit_constants(Code& c, const LayerPlan& l) const override {
    c.line("constexpr int kInner = {}, kSsmState = {}, kConvKernel = {}, kDtRank = {};", l.mixer_size, l.ssm_state,
           l.conv_kernel, l.dt_rank);
  }

  void emit(Code& c, const Plan& p, const LayerPlan& l, const std::string& in, const std::string& out) const override {
    c.line("llmc::matmul<2 * kInner, kHidden>(xz_, {}, w.in_proj, nullptr, T);", in);
    c.line("for (const Sequence& s : sequences) {{");
    c.line("  // This layer's state: the convolution's last kConvKernel - 1 inputs, then the scan state.");
    c.line("  float* const window = reinterpret_cast<float*>(s.state->fixed() + {});", l.state_fixed_offset);
    c.line("  const size_t row = static_cast<size_t>(s.first);");
    c.line("  llmc::causal_conv_silu<kInner, kConvKernel>(conv_out_ + row * kInner, xz_ + row * 2 * kInner, 2 * kInner,");
    c.line("                                             window, w.conv, w.conv_bias, s.count);");
    c.line("}}");
    c.line("llmc::matmul<kDtRank + 2 * kSsmState, kInner>(ssm_proj_, conv_out_, w.x_proj, nullptr, T);");
    c.line("for (const Sequence& s : sequences) {{");
    c.line("  float* const ssm = reinterpret_cast<float*>(s.state->fixed() + {}) + (kConvKernel - 1) * kInner;",
           l.state_fixed_offset);
    c.line("  const size_t row = static_cast<size_t>(s.first);");
    c.line("  llmc::mamba_scan<kInner, kSsmState, kDtRank, {}>(scan_out_ + row * kInner, conv_out_ + row * kInner,",
           ssm_decay_form(*p.spec));
    c.line("      xz_ + row * 2 * kInner + kInner, 2 * kInner, ssm_proj_ + row * (kDtRank + 2 * kSsmState), w.dt_proj,");
    c.line("      w.dt_bias, w.{}, w.d_skip, ssm, s.count);", role_name(ssm_decay_role(*p.spec)));
    c.line("}}");
    c.line("llmc::matmul<kHidden, kInner>({}, scan_out_, w.o, nullptr, T);", out);
  }
};

// mlp.kind none: no tensors, no code; the skeleton leaves out the feed-forward branch.
class NoFeedForward final : public Block {
 public:
  void check(const Spec& s) const override {
    if (s.residual != Residual::sequential || s.post_norms)
      throw Error(fmt::format("{}: field 'mlp.kind': none needs block.residual sequential and no post_norms", s.file));
  }
  void size(const Spec&, LayerPlan&) const override {}
  std::vector<RoleShape> roles(const Spec&, const LayerPlan&) const override { return {}; }
  std::vector<BufferPlan> buffers(const Plan&) const override { return {}; }
  const char* title() const override { return "No feed-forward"; }
  std::string describe(const LayerPlan&) const override { return "no feed-forward"; }
  void emit_constants(Code&, const LayerPlan&) const override {}
  void emit(Code&, const Plan&, const LayerPlan&, const std::string&, const std::string&) const override {}
};

}  // namespace

Role ssm_decay_role(const Spec& s) { return s.ssm_layout == SsmLayout::gguf ? Role::a : Role::a_log; }
std::string ssm_decay_form(const Spec& s) {
  return s.ssm_layout == SsmLayout::gguf ? "llmc::SsmA::a" : "llmc::SsmA::a_log";
}

const Block& mamba_block() {
  static const Mamba block;
  return block;
}

const Block& no_feed_forward_block() {
  static const NoFeedForward block;
  return block;
}

}  // namespace llmc
