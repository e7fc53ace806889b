// Tensor roles: what a tensor is to the model (the keys of weights.layer in a spec, the members of the generated
// LayerWeights and Weights structs). The YAML word and the member name are the enum name.
#pragma once
#include <optional>
#include <string_view>

namespace llmc {

enum class Role {
  // The residual skeleton of a layer.
  attn_norm, attn_norm_bias, post_attn_norm, post_attn_norm_bias,
  ffn_norm, ffn_norm_bias, post_ffn_norm, post_ffn_norm_bias,
  // Attention.
  q, k, v, qkv, q_bias, k_bias, v_bias, qkv_bias, q_norm, q_norm_bias, k_norm, k_norm_bias, o, o_bias,
  // Multi-head latent attention: low-rank queries (q_a, its norm, q_b), the latent ([latent | k_rope]) and its
  // norm, and kv_b (latent → per head [k_nope | v]), or its two parts as GGUF files split it (k_b, v_b).
  q_a, q_a_norm, q_b, kv_a, kv_a_norm, kv_b, k_b, v_b,
  // Dense MLP.
  gate, up, gate_up, gate_bias, up_bias, gate_up_bias, down, down_bias,
  // Mixture of experts: the router (and its selection bias), the experts ([experts, out, in]) and the shared expert.
  router, router_bias, expert_gate, expert_up, expert_gate_up, expert_down, shared_gate, shared_up, shared_down,
  shared_expert_gate,
  // RWKV-4 time mixing (k, v, o are its key, value and output) and channel mixing (up, down are its key and value).
  receptance, time_mix_k, time_mix_v, time_mix_r, time_decay, time_first, ffn_receptance, ffn_time_mix_k,
  ffn_time_mix_r,
  // Mamba (o is its out_proj).
  in_proj, conv, conv_bias, x_proj, dt_proj, dt_bias, a_log, a, d_skip,
  // Mamba 2: the gated RMSNorm of the scan's output.
  ssm_norm,
  // Yuan 2's localized filtering: two convolutions of width 2 ([out, in, 2, 1]) and the norm after them.
  lf_conv1, lf_conv1_bias, lf_conv2, lf_conv2_bias, lf_norm,
  // Cross-attention (blocks/cross_attention.cpp, T5's decoder): its norm, queries from the decoder, keys and values
  // from the encoder output, output projection.
  cross_norm, cross_q, cross_k, cross_v, cross_o,
  // Global.
  embed, embed_norm, embed_norm_bias, pos_embed, final_norm, final_norm_bias, lm_head, lm_head_bias,
  // Encoder–decoders (T5): the relative position bias tables ([buckets, heads]) of the decoder and encoder stacks,
  // and the encoder stack's final norm.
  relative_bias, encoder_relative_bias, encoder_final_norm,
  // An encoder's (BERT): the token-type table, the MLM head's transform (dense, norm) and the pooler's dense.
  token_types, head_transform, head_transform_bias, head_norm, head_norm_bias, pooler, pooler_bias,
};

const char* role_name(Role role);
std::optional<Role> role_from_name(std::string_view name);

// The bias that goes with a projection or norm weight (q -> q_bias), if it has one.
std::optional<Role> bias_role(Role weight);

// Roles only matmul (and the embedding lookup) read: the binary may keep them as stored or quantised.
bool is_matrix_role(Role role);

// The experts' tensors: [experts, out, in], one matrix per expert.
bool is_expert_role(Role role);

}  // namespace llmc
