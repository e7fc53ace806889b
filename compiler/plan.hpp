// The plan: a spec resolved to concrete per-layer shapes, tensors, buffers and per-sequence state.
// The emitter prints the plan; it computes nothing the plan did not resolve.
#pragma once
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "roles.hpp"
#include "spec.hpp"

namespace llmc {

// One checkpoint tensor the model reads.
struct TensorPlan {
  Role role;
  std::string name;    // checkpoint name, layer index substituted
  std::vector<int64_t> shape;  // as stored in the checkpoint
  bool transpose = false;      // stored [in, out] (Conv1D): transposed at load
  bool normalize_rows = false; // L2-normalise rows at load (NormHead)
  std::vector<std::string> parts;  // stacked from these tensors of shape[1:] each ("{h}" patterns), else empty
  int64_t bytes() const {
    int64_t n = 4;
    for (int64_t d : shape) n *= d;
    return n;
  }
};

struct LayerPlan {
  int64_t index = 0;  // in the plan: an encoder–decoder's decoder layers come first, then its encoder layers
  // Encoder–decoders (T5): an encoder layer (bidirectional attention over the source, no state), or a decoder
  // layer with a cross-attention branch (blocks/cross_attention.cpp) whose keys and values start cross_state_offset
  // elements into each state row. stack_index: the layer's index in its own stack (the {i} of its tensor names).
  bool encoder = false, cross_attention = false;
  int64_t stack_index = 0, cross_state_offset = 0;
  // Attention (blocks/attention.cpp).
  int64_t heads = 0, kv_heads = 0, head_dim = 0;
  int64_t q_dim = 0, kv_dim = 0, qkv_dim = 0;  // qkv_dim: q + 2·kv rows of the projection
  int64_t window = 0;                          // 0: global attention
  int64_t chunk = 0;                           // 0: none; else attention within chunks of this many positions
  bool nope = false;                           // rotates nothing, though the model uses RoPE (Llama 4)
  // Multi-head latent attention (blocks/mla.cpp): head_dim is the q/k head width, rope_dim its rotated part.
  int64_t q_lora = 0, kv_lora = 0, rope_dim = 0, v_head_dim = 0;
  bool local_rope = false;                     // rotates with positions.local (a sliding-window layer)
  int64_t lf_hidden = 0;                       // localized filtering (Yuan 2): the width it filters, else 0
  // Recurrent mixers (blocks/rwkv.cpp, blocks/mamba.cpp): mixer.size, the hidden size a token shift keeps, and
  // Mamba's state size, convolution width and dt rank.
  int64_t mixer_size = 0, hidden = 0, ssm_state = 0, conv_kernel = 0, dt_rank = 0;
  int64_t ssm_heads = 0, ssm_groups = 0;  // Mamba 2 (blocks/mamba2.cpp): scan heads, groups sharing B and C
  // Dense MLP (blocks/dense_mlp.cpp).
  int64_t ffn = 0;
  // Skeleton (blocks/layer.cpp).
  bool separate_ffn_norm = true;               // parallel blocks: false when both branches share one norm
  // Where this layer's part of a sequence's state starts: elements into each state row (attention: its keys,
  // values follow), bytes into the fixed part.
  int64_t state_offset = 0, state_fixed_offset = 0;
  std::vector<TensorPlan> tensors;             // in binding order
  bool has(Role role) const;
  const TensorPlan& tensor(Role role) const;
};

// A buffer of a step: kChunk rows of row_floats each.
struct BufferPlan {
  std::string name;  // the generated Model's member
  int64_t row_floats = 0;
};

struct Plan {
  const Spec* spec = nullptr;
  std::vector<LayerPlan> layers;
  std::vector<TensorPlan> globals;   // embed, pos_embed, final norm, lm_head
  std::vector<Role> layer_roles;         // union of the roles layers use, for the LayerWeights struct
  std::vector<float> rope_inv_freq;      // rotary_dim/2 frequencies, scaling applied
  std::vector<float> rope_inv_freq_long; // LongRoPE: frequencies from original_max_positions on
  std::vector<float> rope_inv_freq_local; // positions.local: the sliding-window layers' frequencies
  float rope_attention_factor = 1.0f;    // multiplies cos and sin (LongRoPE)
  std::vector<float> alibi_slopes;       // per head (ALiBi models have the same heads in every layer)
  float attention_scale = 0.0f;
  int64_t chunk = 0;                     // tokens per forward pass during prefill
  int64_t max_q_dim = 0, max_kv_dim = 0, max_qkv_dim = 0, max_ffn = 0, max_heads = 0, max_head_dim = 0;
  // A sequence's state (llmc::State): a row per context position of state_row elements (KV cache elements:
  // every layer's keys, then values), and state_fixed_bytes of fixed state.
  int64_t state_row = 0, state_fixed_bytes = 0;
  int64_t prefix_lm_state_offset = 0;  // attention.prefix_lm: where its three int32 are in the fixed state
  int64_t source_length_state_offset = 0;  // encoder–decoders: where the source's length (int32) is in the fixed state
  int64_t decoder_layers() const { return spec->num_layers; }
  int64_t state_elements() const { return state_row * spec->max_context; }
  // Nothing a sequence keeps grows with its length (no KV cache, no position tables): positions are unbounded.
  bool unbounded_positions() const { return state_row == 0 && spec->positions == PositionKind::none; }
  // The buffers the generated code allocates once at start, in allocation order, and their floats in all.
  std::vector<BufferPlan> buffers;
  int64_t activation_floats = 0;
  std::string thread_scratch;  // floats of scratch per thread (a C++ constant expression), "" for none
  int64_t parameter_count = 0, weight_bytes = 0;
  int64_t active_parameter_count = 0;  // per token: every parameter but the experts a token does not visit
  int64_t decode_read_parameters = 0;  // read to decode one token: the active ones, one embedding row
  std::vector<std::string> unused_weights;
};

Plan make_plan(const Spec& spec);

// The roles of the tensors a spec's model reads, as make_plan resolves them: model-wide ("embed", "pos_embed",
// "final_norm", "final_norm_bias", "lm_head") and per layer. `llmc import` names exactly these.
struct TensorRoles {
  std::vector<std::string> global, layer;
  std::vector<std::string> encoder_layer;  // an encoder–decoder's encoder layers
};
TensorRoles tensor_roles(const Spec& spec);

// a·b and a + b for sizes computed from a spec; an Error naming the spec if they overflow 64 bits.
int64_t size_mul(const Spec& spec, int64_t a, int64_t b);
int64_t size_add(const Spec& spec, int64_t a, int64_t b);

// Whether the model binds this tensor as a Matrix kept in its grouped (or quantised) format: a matrix role,
// read as stored (not stacked from parts, transposed or row-normalised).
bool binds_as_matrix(const TensorPlan& t);

}  // namespace llmc
