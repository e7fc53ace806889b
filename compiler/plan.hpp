// The plan: a spec resolved to concrete per-layer shapes, tensors and buffer sizes.
// The emitter prints the plan; it computes nothing the plan did not resolve.
#pragma once
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "spec.hpp"

namespace llmc {

// One checkpoint tensor the model reads.
struct TensorPlan {
  std::string role;    // e.g. "q", "attn_norm"; globals: "embed", "final_norm", ...
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
  int64_t index = 0;
  int64_t heads = 0, kv_heads = 0, head_dim = 0;
  int64_t q_dim = 0, kv_dim = 0, qkv_dim = 0;  // qkv_dim: q + 2·kv rows of the projection
  int64_t ffn = 0;
  int64_t window = 0;                          // 0: global attention
  int64_t kv_offset = 0;                       // where this layer's keys start in a KV cache row (values follow)
  bool separate_ffn_norm = true;               // parallel blocks: false when both branches share one norm
  std::vector<TensorPlan> tensors;             // in binding order
  bool has(const std::string& role) const;
  const TensorPlan& tensor(const std::string& role) const;
};

struct Plan {
  const Spec* spec = nullptr;
  std::vector<LayerPlan> layers;
  std::vector<TensorPlan> globals;   // embed, pos_embed, final norm, lm_head
  std::vector<std::string> layer_roles;  // union of the roles layers use, for the LayerWeights struct
  std::vector<float> rope_inv_freq;      // rotary_dim/2 frequencies, scaling applied
  std::vector<float> rope_inv_freq_long; // LongRoPE: frequencies from original_max_positions on
  float rope_attention_factor = 1.0f;    // multiplies cos and sin (LongRoPE)
  std::vector<float> alibi_slopes;       // per head (ALiBi models have the same heads in every layer)
  float attention_scale = 0.0f;
  int64_t chunk = 0;                     // tokens per forward pass during prefill
  int64_t max_q_dim = 0, max_kv_dim = 0, max_qkv_dim = 0, max_ffn = 0, max_heads = 0, max_head_dim = 0;
  int64_t kv_row = 0;  // floats per position in the KV cache: every layer's keys, then values
  // Sizes in floats of the buffers the generated code allocates once at start.
  int64_t kv_cache_floats = 0, activation_floats = 0;
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
};
TensorRoles tensor_roles(const Spec& spec);

// Roles only matmul (and the embedding lookup) read: the binary may keep them as stored or quantised.
bool is_matrix_role(const std::string& role);

// Whether the model binds this tensor as a Matrix kept in its grouped (or quantised) format: a matrix role,
// read as stored (not stacked from parts, transposed or row-normalised).
bool binds_as_matrix(const TensorPlan& t);

}  // namespace llmc
