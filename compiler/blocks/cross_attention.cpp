// The cross-attention block of an encoder–decoder's decoder layers (T5's EncDecAttention): queries from the
// decoder rows, keys and values from the encoder output. Those keys and values depend on the source only, so
// encode_source computes them once (emit_source_kv) into the sequence's state: per position of the source, after
// the layer's own keys and values in each state row. Every decoder position sees every source position.
#include <fmt/format.h>

#include "blocks/block.hpp"

namespace llmc {
namespace {

class CrossAttention final : public Block {
 public:
  void check(const Spec&) const override {}  // spec.cpp checks what an encoder–decoder needs
  void size(const Spec&, LayerPlan&) const override {}  // the sizes of the layer's self-attention

  std::vector<RoleShape> roles(const Spec& s, const LayerPlan& l) const override {
    const int64_t H = s.hidden_size;
    return {{Role::cross_q, {l.q_dim, H}}, {Role::cross_k, {l.kv_dim, H}}, {Role::cross_v, {l.kv_dim, H}},
            {Role::cross_o, {H, l.q_dim}}};
  }

  // It reuses the self-attention's buffers (q_, att_ and, in encode_source, kv_staging_).
  std::vector<BufferPlan> buffers(const Plan&) const override { return {}; }

  int64_t state_row(const LayerPlan& l) const override { return 2 * l.kv_dim; }  // the source's keys, then values

  const char* title() const override { return "Cross-attention over the encoder output"; }
  std::string describe(const LayerPlan&) const override { return "cross-attention"; }
  void emit_constants(Code&, const LayerPlan&) const override {}  // the self-attention's kHeads, kQDim, ... serve

  void emit_model_constants(Code& c, const Plan& p) const override {
    c.line("constexpr int kDecoderStart = {};  // the first decoder token", p.spec->encoder->decoder_start);
    c.line("constexpr size_t kSourceLengthState = {};  // where the source's length (int32) is in the fixed state",
           p.source_length_state_offset);
  }

  void emit(Code& c, const Plan&, const LayerPlan& l, const std::string& in, const std::string& out) const override {
    c.line("llmc::matmul<kQDim, kHidden>(q_, {}, w.cross_q, nullptr, T);", in);
    c.line("for (const Sequence& s : sequences) {{");
    c.line("  // The source's keys and values, stored by encode_source (kKvRow apart).");
    c.line("  const KvElement* const k_source = reinterpret_cast<const KvElement*>(s.state->rows()) + {};",
           l.cross_state_offset);
    c.line("  const KvElement* const v_source = k_source + kKvDim;");
    c.line("  const int source = source_length(*s.state);");
    c.line("  const size_t row = static_cast<size_t>(s.first) * kQDim;");
    c.line("  llmc::attention<kHeads, kKvHeads, kHeadDim, kContext, kKvRow>(att_ + row, q_ + row, kQDim, k_source, v_source,");
    c.line("      s.count, s.pos, {{.scale = kAttentionScale, .softcap = 0.0f, .window = 0, .alibi = nullptr, .keys = source}},");
    c.line("      scratch_.get());");
    c.line("}}");
    c.line("llmc::matmul<kHidden, kQDim>({}, att_, w.cross_o, nullptr, T);", out);
  }
};

}  // namespace

const Block& cross_attention_block() {
  static const CrossAttention block;
  return block;
}

void emit_source_kv(Code& c, const LayerPlan& l, const std::string& source) {
  c.line("{{  // decoder layer {}", l.stack_index);
  c.line("  constexpr int kKvDim = {};", l.kv_dim);
  c.line("  float* const k_new = kv_staging_;");
  c.line("  float* const v_new = kv_staging_ + kChunk * kKvDim;");
  c.line("  const LayerWeights& w = w_.layer[{}];", l.index);
  c.line("  llmc::matmuls<kHidden, kKvDim, kKvDim>({}, T, {{{{k_new, w.cross_k, nullptr}}, {{v_new, w.cross_v, nullptr}}}});",
         source);
  c.line("  KvElement* const k_cache = reinterpret_cast<KvElement*>(state.rows()) + {};", l.cross_state_offset);
  c.line("  llmc::store_kv<kKvDim, kKvRow>(k_cache, 0, k_new, T);");
  c.line("  llmc::store_kv<kKvDim, kKvRow>(k_cache + kKvDim, 0, v_new, T);");
  c.line("}}");
}

}  // namespace llmc
