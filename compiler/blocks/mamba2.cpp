// The Mamba 2 mixer (Hugging Face modeling_mamba2.py, Mamba2Mixer.torch_forward): in_proj to [z | xBC | dt], a
// causal depthwise convolution of xBC with SiLU, split into x [heads][head_dim], B and C [groups][state_size];
// per head a scalar decay exp(dt·A), A = −exp(A_log), dt = softplus(dt + dt_bias) (at least dt_min); the D skip;
// the gated RMSNorm norm(y · silu(z)) over the whole inner width, then out_proj. A sequence's state per layer is
// fixed: the convolution's last conv_kernel − 1 inputs and the scan state [heads][head_dim][state_size].
#include <fmt/format.h>

#include "blocks/block.hpp"
#include "llmc/error.hpp"

namespace llmc {
namespace {

// Widths of one layer: the convolved [x | B | C] and the whole projection [z | xBC | dt].
int64_t conv_dim(const LayerPlan& l) { return l.mixer_size + 2 * l.ssm_groups * l.ssm_state; }
int64_t in_proj_dim(const LayerPlan& l) { return l.mixer_size + conv_dim(l) + l.ssm_heads; }

class Mamba2 final : public Block {
 public:
  void check(const Spec& s) const override {
    if (s.mlp.kind != MlpKind::none)
      throw Error(fmt::format("{}: field 'mlp.kind': a mamba2 layer is its mixer alone: expected none", s.file));
    if (s.norm.kind != NormKind::rms)
      throw Error(fmt::format("{}: field 'norm.kind': mamba2's gated norm is an RMSNorm: expected rmsnorm", s.file));
  }

  void size(const Spec& s, LayerPlan& l) const override {
    l.mixer_size = s.mixer_size;
    l.ssm_state = s.ssm_state;
    l.conv_kernel = s.conv_kernel;
    l.ssm_heads = s.ssm_heads;
    l.ssm_groups = s.ssm_groups;
  }

  std::vector<RoleShape> roles(const Spec& s, const LayerPlan& l) const override {
    const int64_t H = s.hidden_size, I = l.mixer_size, heads = l.ssm_heads, groups = l.ssm_groups;
    using Shape = std::vector<int64_t>;
    const bool gguf = s.ssm_layout == SsmLayout::gguf;  // A and D [heads, 1], the norm [groups, I / groups]
    return {{Role::in_proj, {in_proj_dim(l), H}},
            {Role::conv, gguf ? Shape{conv_dim(l), l.conv_kernel} : Shape{conv_dim(l), 1, l.conv_kernel}},
            {Role::conv_bias, {conv_dim(l)}},
            {Role::dt_bias, {heads}},
            {ssm_decay_role(s), gguf ? Shape{heads, 1} : Shape{heads}},
            {Role::d_skip, gguf ? Shape{heads, 1} : Shape{heads}},
            {Role::ssm_norm, gguf ? Shape{groups, I / groups} : Shape{I}},
            {Role::o, {H, I}}};
  }

  // in_proj's [z | xBC | dt], the convolved xBC, the scan's output (normed in place).
  std::vector<BufferPlan> buffers(const Plan& p) const override {
    const LayerPlan& l = p.layers.front();
    return {{"zxbcdt_", in_proj_dim(l)}, {"xbc_", conv_dim(l)}, {"scan_out_", l.mixer_size}};
  }

  int64_t state_fixed_bytes(const LayerPlan& l) const override {
    return 4 * (conv_dim(l) * (l.conv_kernel - 1) + l.mixer_size * l.ssm_state);
  }

  const char* title() const override { return "Mamba 2"; }
  std::string describe(const LayerPlan& l) const override {
    return fmt::format("Mamba 2 of {} heads of {}, {} group{}, state {}, convolution {}", l.ssm_heads,
                       l.mixer_size / l.ssm_heads, l.ssm_groups, l.ssm_groups == 1 ? "" : "s", l.ssm_state,
                       l.conv_kernel);
  }
  void emit_constants(Code& c, const LayerPlan& l) const override {
    c.line("constexpr int kInner = {}, kSsmState = {}, kConvKernel = {}, kSsmHeads = {}, kSsmGroups = {};",
           l.mixer_size, l.ssm_state, l.conv_kernel, l.ssm_heads, l.ssm_groups);
    c.line("constexpr int kConvDim = kInner + 2 * kSsmGroups * kSsmState;  // the convolved [x | B | C]");
    c.line("constexpr int kInProj = kInner + kConvDim + kSsmHeads;         // [z | xBC | dt]");
  }
  void emit_model_constants(Code& c, const Plan& p) const override {
    c.line("constexpr float kDtMin = {};  // dt's floor (mixer.dt_min)", flt(p.spec->dt_min));
  }

  void emit(Code& c, const Plan& p, const LayerPlan& l, const std::string& in, const std::string& out) const override {
    c.line("llmc::matmul<kInProj, kHidden>(zxbcdt_, {}, w.in_proj, nullptr, T);", in);
    c.line("for (const Sequence& s : sequences) {{");
    c.line("  // This layer's state: the convolution's last kConvKernel - 1 inputs, then the scan state.");
    c.line("  float* const window = reinterpret_cast<float*>(s.state->fixed() + {});", l.state_fixed_offset);
    c.line("  float* const ssm = window + (kConvKernel - 1) * kConvDim;");
    c.line("  const size_t row = static_cast<size_t>(s.first);");
    c.line("  const float* const proj = zxbcdt_ + row * kInProj;");
    c.line("  llmc::mamba2_conv_scan<kSsmHeads, kInner / kSsmHeads, kSsmState, kSsmGroups, kConvKernel, {}>(",
           ssm_decay_form(*p.spec));
    c.line("      scan_out_ + row * kInner, xbc_ + row * kConvDim, proj + kInner, proj + kInner + kConvDim, kInProj,");
    c.line("      window, w.conv, w.conv_bias, w.dt_bias, w.{}, w.d_skip, kDtMin, ssm, s.count);",
           role_name(ssm_decay_role(*p.spec)));
    c.line("}}");
    c.line("llmc::gated_rms_norm<kInner>(scan_out_, zxbcdt_, kInProj, w.ssm_norm, kNormEps, T);");
    c.line("llmc::matmul<kHidden, kInner>({}, scan_out_, w.o, nullptr, T);", out);
  }
};

}  // namespace

const Block& mamba2_block() {
  static const Mamba2 block;
  return block;
}

}  // namespace llmc
