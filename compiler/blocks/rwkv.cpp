// RWKV-4's two blocks (Hugging Face modeling_rwkv.py): time mixing, the mixer, and channel mixing, the
// feed-forward block. Both mix each row with the row before it (token shift); time mixing then runs the WKV
// recurrence. A sequence's state is fixed-size per layer (the shifted rows and the WKV numerator, denominator and
// exponent offset per channel): nothing grows with its length.
#include <fmt/format.h>

#include "blocks/block.hpp"
#include "llmc/error.hpp"

namespace llmc {
namespace {

// Where a layer's fixed state starts, as a float* over the sequence `s` of the emitted loop.
std::string fixed_state(int64_t byte_offset) {
  return fmt::format("reinterpret_cast<float*>(s.state->fixed() + {})", byte_offset);
}

class TimeMix final : public Block {
 public:
  void check(const Spec& s) const override {
    if (s.mlp.kind != MlpKind::channel_mix)
      throw Error(fmt::format("{}: field 'mlp.kind': mixer.kind rwkv4 goes with mlp.kind channel_mix", s.file));
  }

  void size(const Spec& s, LayerPlan& l) const override {
    l.mixer_size = s.mixer_size;
    l.hidden = s.hidden_size;
  }

  std::vector<RoleShape> roles(const Spec& s, const LayerPlan& l) const override {
    const int64_t H = s.hidden_size, A = l.mixer_size;
    return {{Role::time_mix_k, {1, 1, H}}, {Role::time_mix_v, {1, 1, H}}, {Role::time_mix_r, {1, 1, H}},
            {Role::k, {A, H}},           {Role::v, {A, H}},           {Role::receptance, {A, H}},
            {Role::time_decay, {A}},     {Role::time_first, {A}},     {Role::o, {H, A}}};
  }

  // The token-shifted inputs of key, value and receptance; their projections; the WKV output.
  std::vector<BufferPlan> buffers(const Plan& p) const override {
    const int64_t H = p.spec->hidden_size, A = p.spec->mixer_size;
    return {{"mix_k_", H}, {"mix_v_", H}, {"mix_r_", H}, {"key_", A}, {"value_", A}, {"receptance_", A}, {"wkv_", A}};
  }

  // The previous row (hidden), then the WKV numerator, denominator and exponent offset (time_mix each).
  int64_t state_fixed_bytes(const LayerPlan& l) const override { return 4 * (l.hidden + 3 * l.mixer_size); }

  const char* title() const override { return "Time mixing (RWKV-4)"; }
  std::string describe(const LayerPlan& l) const override { return fmt::format("RWKV-4 time mixing of {}", l.mixer_size); }
  void emit_constants(Code& c, const LayerPlan& l) const override { c.line("constexpr int kTimeMix = {};", l.mixer_size); }

  void emit(Code& c, const Plan&, const LayerPlan& l, const std::string& in, const std::string& out) const override {
    c.line("for (const Sequence& s : sequences) {{");
    c.line("  // This layer's state: the sequence's last input row, then the WKV numerator, denominator and offset.");
    c.line("  float* const shift = {};", fixed_state(l.state_fixed_offset));
    c.line("  float* const wkv_state = shift + kHidden;");
    c.line("  const size_t row = static_cast<size_t>(s.first);");
    c.line("  const float* const x = {} + row * kHidden;", in);
    for (const char* part : {"k", "v", "r"})
      c.line("  llmc::token_shift_mix<kHidden>(mix_{}_ + row * kHidden, x, shift, w.time_mix_{}, s.count);", part, part);
    c.line("  llmc::save_last_row<kHidden>(shift, x, s.count);");
    c.line("}}");
    c.line("llmc::matmul<kTimeMix, kHidden>(key_, mix_k_, w.k, nullptr, T);");
    c.line("llmc::matmul<kTimeMix, kHidden>(value_, mix_v_, w.v, nullptr, T);");
    c.line("llmc::matmul<kTimeMix, kHidden>(receptance_, mix_r_, w.receptance, nullptr, T);");
    c.line("for (const Sequence& s : sequences) {{");
    c.line("  const size_t row = static_cast<size_t>(s.first) * kTimeMix;");
    c.line("  llmc::rwkv4_wkv<kTimeMix>(wkv_ + row, key_ + row, value_ + row, w.time_decay, w.time_first,");
    c.line("                            {} + kHidden, s.count);", fixed_state(l.state_fixed_offset));
    c.line("}}");
    c.line("llmc::sigmoid_gate<kTimeMix>(wkv_, receptance_, T);");
    c.line("llmc::matmul<kHidden, kTimeMix>({}, wkv_, w.o, nullptr, T);", out);
  }
};

class ChannelMix final : public Block {
 public:
  void check(const Spec& s) const override {
    if (s.mixer != MixerKind::rwkv4)
      throw Error(fmt::format("{}: field 'mlp.kind': channel_mix goes with mixer.kind rwkv4", s.file));
  }

  void size(const Spec& s, LayerPlan& l) const override {
    l.ffn = s.mlp.intermediate[l.index];
    l.hidden = s.hidden_size;
  }

  std::vector<RoleShape> roles(const Spec& s, const LayerPlan& l) const override {
    const int64_t H = s.hidden_size;
    return {{Role::ffn_time_mix_k, {1, 1, H}}, {Role::ffn_time_mix_r, {1, 1, H}}, {Role::up, {l.ffn, H}},
            {Role::down, {H, l.ffn}},          {Role::ffn_receptance, {H, H}}};
  }

  // The token-shifted inputs of key and receptance (mix_k_, mix_r_ are the time mixing's), the key, the gate.
  std::vector<BufferPlan> buffers(const Plan& p) const override {
    const int64_t H = p.spec->hidden_size;
    return {{"h_", p.max_ffn}, {"gate_", H}};
  }

  int64_t state_fixed_bytes(const LayerPlan& l) const override { return 4 * l.hidden; }  // the previous row

  const char* title() const override { return "Channel mixing (RWKV-4)"; }
  std::string describe(const LayerPlan& l) const override { return fmt::format("channel mixing of {}", l.ffn); }
  void emit_constants(Code& c, const LayerPlan& l) const override { c.line("constexpr int kFfn = {};", l.ffn); }

  void emit(Code& c, const Plan& p, const LayerPlan& l, const std::string& in, const std::string& out) const override {
    // Its state follows the time mixing's in the layer's fixed part.
    const int64_t offset = l.state_fixed_offset + mixer_of(*p.spec).state_fixed_bytes(l);
    c.line("for (const Sequence& s : sequences) {{");
    c.line("  float* const shift = {};  // the sequence's last input row", fixed_state(offset));
    c.line("  const size_t row = static_cast<size_t>(s.first) * kHidden;");
    c.line("  llmc::token_shift_mix<kHidden>(mix_k_ + row, {} + row, shift, w.ffn_time_mix_k, s.count);", in);
    c.line("  llmc::token_shift_mix<kHidden>(mix_r_ + row, {} + row, shift, w.ffn_time_mix_r, s.count);", in);
    c.line("  llmc::save_last_row<kHidden>(shift, {} + row, s.count);", in);
    c.line("}}");
    c.line("llmc::matmul<kFfn, kHidden>(h_, mix_k_, w.up, nullptr, T);");
    c.line("llmc::relu_squared<kFfn>(h_, T);");
    c.line("llmc::matmul<kHidden, kFfn>({}, h_, w.down, nullptr, T);", out);
    c.line("llmc::matmul<kHidden, kHidden>(gate_, mix_r_, w.ffn_receptance, nullptr, T);");
    c.line("llmc::sigmoid_gate<kHidden>({}, gate_, T);", out);
  }
};

}  // namespace

const Block& time_mix_block() {
  static const TimeMix block;
  return block;
}

const Block& channel_mix_block() {
  static const ChannelMix block;
  return block;
}

}  // namespace llmc
