// A layer is the residual skeleton (layer.hpp) around two blocks: a mixer (attention) and a feed-forward block
// (the dense MLP). Each block kind owns, in its own file, what the plan and the emitter need to know of it:
// the checks of its spec fields, its per-layer sizes, the tensors it reads, its buffers, its per-sequence state
// and the code it emits.
#pragma once
#include <string>
#include <vector>

#include "code.hpp"
#include "plan.hpp"

namespace llmc {

// A tensor a layer reads: [out, in] for matrices, [n] or [heads, n] for vectors.
struct RoleShape {
  Role role;
  std::vector<int64_t> shape;
};

class Block {
 public:
  virtual ~Block() = default;

  // Checks of the spec this block needs beyond what loading checks; throws Error naming the field.
  virtual void check(const Spec& s) const = 0;
  // Sets this block's sizes of layer l.index (heads, widths, ...) in l.
  virtual void size(const Spec& s, LayerPlan& l) const = 0;
  // The tensors one layer reads, in order of first use.
  virtual std::vector<RoleShape> roles(const Spec& s, const LayerPlan& l) const = 0;
  // The buffers of a step (kChunk rows each), wide enough for every layer of the plan.
  virtual std::vector<BufferPlan> buffers(const Plan& p) const = 0;
  // Per-sequence state of one layer: elements per position (e.g. keys and values) and fixed bytes (e.g. a
  // recurrent state).
  virtual int64_t state_row(const LayerPlan&) const { return 0; }
  virtual int64_t state_fixed_bytes(const LayerPlan&) const { return 0; }
  // Floats of scratch each thread needs (a C++ constant expression), or "" for none.
  virtual std::string thread_scratch(const Plan&) const { return ""; }

  // The heading of its part of a layer's function: "Attention".
  virtual const char* title() const = 0;
  // The layer's sizes in words, for the comment above its function: "8 query heads, 4 kv heads of 64".
  virtual std::string describe(const LayerPlan& l) const = 0;
  // The constants at the top of a layer's function.
  virtual void emit_constants(Code& c, const LayerPlan& l) const = 0;
  // Model-wide constants and Model members its layers share (emitted once however many layers use the block).
  virtual void emit_model_constants(Code&, const Plan&) const {}
  virtual void emit_members(Code&, const Plan&) const {}
  // A role this block binds in a form of its own instead of a Matrix or an fp32 array (MLA's kv_b: matrices
  // derived from it): the LayerWeights member's declaration, and the call that binds it from `ref` (its
  // TensorRef); "" for the usual binding.
  virtual std::string member(Role) const { return ""; }
  virtual std::string bind(const Plan&, Role, const std::string& /*ref*/) const { return ""; }
  // The code of one layer over the step's T rows: reads rows of `in`, writes rows of `out` (kHidden floats each).
  virtual void emit(Code& c, const Plan& p, const LayerPlan& l, const std::string& in, const std::string& out) const = 0;
};

const Block& attention_block();
const Block& mla_block();
const Block& dense_mlp_block();
const Block& moe_block();
const Block& time_mix_block();     // RWKV-4 (blocks/rwkv.cpp)
const Block& channel_mix_block();
const Block& mamba_block();        // blocks/mamba.cpp
const Block& mamba2_block();       // blocks/mamba2.cpp
const Block& no_feed_forward_block();  // mlp.kind none: the layer is its mixer alone
// The Mamba mixers' decay tensor as mixer.layout stores it (blocks/mamba.cpp): its role (a_log, or a in GGUF
// files) and the scans' template argument that says which it is.
Role ssm_decay_role(const Spec& s);
std::string ssm_decay_form(const Spec& s);
const Block& cross_attention_block();  // blocks/cross_attention.cpp: an encoder–decoder's decoder layers
// encode_source's part for decoder layer l: its cross-attention keys and values of the T source rows in `source`
// (the encoder output), into the sequence's state.
void emit_source_kv(Code& c, const LayerPlan& l, const std::string& source);

// The blocks of a spec's layers.
const Block& mixer_of(const Spec& s);
const Block& feed_forward_of(const Spec& s, int64_t layer);
// Every block kind a spec's layers use, each once, mixer first.
std::vector<const Block*> blocks_of(const Spec& s);

}  // namespace llmc
