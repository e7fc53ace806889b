#include "roles.hpp"

#include <array>
#include <utility>

namespace llmc {
namespace {

constexpr std::array kNames = {
    std::pair{Role::attn_norm, "attn_norm"},
    std::pair{Role::attn_norm_bias, "attn_norm_bias"},
    std::pair{Role::post_attn_norm, "post_attn_norm"},
    std::pair{Role::post_attn_norm_bias, "post_attn_norm_bias"},
    std::pair{Role::ffn_norm, "ffn_norm"},
    std::pair{Role::ffn_norm_bias, "ffn_norm_bias"},
    std::pair{Role::post_ffn_norm, "post_ffn_norm"},
    std::pair{Role::post_ffn_norm_bias, "post_ffn_norm_bias"},
    std::pair{Role::q, "q"},
    std::pair{Role::k, "k"},
    std::pair{Role::v, "v"},
    std::pair{Role::qkv, "qkv"},
    std::pair{Role::q_bias, "q_bias"},
    std::pair{Role::k_bias, "k_bias"},
    std::pair{Role::v_bias, "v_bias"},
    std::pair{Role::qkv_bias, "qkv_bias"},
    std::pair{Role::q_norm, "q_norm"},
    std::pair{Role::q_norm_bias, "q_norm_bias"},
    std::pair{Role::k_norm, "k_norm"},
    std::pair{Role::k_norm_bias, "k_norm_bias"},
    std::pair{Role::o, "o"},
    std::pair{Role::o_bias, "o_bias"},
    std::pair{Role::q_a, "q_a"},
    std::pair{Role::q_a_norm, "q_a_norm"},
    std::pair{Role::q_b, "q_b"},
    std::pair{Role::kv_a, "kv_a"},
    std::pair{Role::kv_a_norm, "kv_a_norm"},
    std::pair{Role::kv_b, "kv_b"},
    std::pair{Role::k_b, "k_b"},
    std::pair{Role::v_b, "v_b"},
    std::pair{Role::gate, "gate"},
    std::pair{Role::up, "up"},
    std::pair{Role::gate_up, "gate_up"},
    std::pair{Role::gate_bias, "gate_bias"},
    std::pair{Role::up_bias, "up_bias"},
    std::pair{Role::gate_up_bias, "gate_up_bias"},
    std::pair{Role::down, "down"},
    std::pair{Role::down_bias, "down_bias"},
    std::pair{Role::receptance, "receptance"},
    std::pair{Role::time_mix_k, "time_mix_k"},
    std::pair{Role::time_mix_v, "time_mix_v"},
    std::pair{Role::time_mix_r, "time_mix_r"},
    std::pair{Role::time_decay, "time_decay"},
    std::pair{Role::time_first, "time_first"},
    std::pair{Role::ffn_receptance, "ffn_receptance"},
    std::pair{Role::ffn_time_mix_k, "ffn_time_mix_k"},
    std::pair{Role::ffn_time_mix_r, "ffn_time_mix_r"},
    std::pair{Role::in_proj, "in_proj"},
    std::pair{Role::conv, "conv"},
    std::pair{Role::conv_bias, "conv_bias"},
    std::pair{Role::x_proj, "x_proj"},
    std::pair{Role::dt_proj, "dt_proj"},
    std::pair{Role::dt_bias, "dt_bias"},
    std::pair{Role::a_log, "a_log"},
    std::pair{Role::a, "a"},
    std::pair{Role::d_skip, "d_skip"},
    std::pair{Role::ssm_norm, "ssm_norm"},
    std::pair{Role::lf_conv1, "lf_conv1"},
    std::pair{Role::lf_conv1_bias, "lf_conv1_bias"},
    std::pair{Role::lf_conv2, "lf_conv2"},
    std::pair{Role::lf_conv2_bias, "lf_conv2_bias"},
    std::pair{Role::lf_norm, "lf_norm"},
    std::pair{Role::cross_norm, "cross_norm"},
    std::pair{Role::cross_q, "cross_q"},
    std::pair{Role::cross_k, "cross_k"},
    std::pair{Role::cross_v, "cross_v"},
    std::pair{Role::cross_o, "cross_o"},
    std::pair{Role::relative_bias, "relative_bias"},
    std::pair{Role::encoder_relative_bias, "encoder_relative_bias"},
    std::pair{Role::encoder_final_norm, "encoder_final_norm"},
    std::pair{Role::embed, "embed"},
    std::pair{Role::embed_norm, "embed_norm"},
    std::pair{Role::embed_norm_bias, "embed_norm_bias"},
    std::pair{Role::pos_embed, "pos_embed"},
    std::pair{Role::final_norm, "final_norm"},
    std::pair{Role::final_norm_bias, "final_norm_bias"},
    std::pair{Role::lm_head, "lm_head"},
    std::pair{Role::lm_head_bias, "lm_head_bias"},
    std::pair{Role::token_types, "token_types"},
    std::pair{Role::head_transform, "head_transform"},
    std::pair{Role::head_transform_bias, "head_transform_bias"},
    std::pair{Role::head_norm, "head_norm"},
    std::pair{Role::head_norm_bias, "head_norm_bias"},
    std::pair{Role::pooler, "pooler"},
    std::pair{Role::pooler_bias, "pooler_bias"},
    std::pair{Role::router, "router"},
    std::pair{Role::router_bias, "router_bias"},
    std::pair{Role::expert_gate, "expert_gate"},
    std::pair{Role::expert_up, "expert_up"},
    std::pair{Role::expert_gate_up, "expert_gate_up"},
    std::pair{Role::expert_down, "expert_down"},
    std::pair{Role::shared_gate, "shared_gate"},
    std::pair{Role::shared_up, "shared_up"},
    std::pair{Role::shared_down, "shared_down"},
    std::pair{Role::shared_expert_gate, "shared_expert_gate"},
};

}  // namespace

const char* role_name(Role role) {
  for (const auto& [r, name] : kNames)
    if (r == role) return name;
  return "?";
}

std::optional<Role> role_from_name(std::string_view name) {
  for (const auto& [r, n] : kNames)
    if (name == n) return r;
  return std::nullopt;
}

std::optional<Role> bias_role(Role weight) {
  switch (weight) {
    case Role::attn_norm: return Role::attn_norm_bias;
    case Role::post_attn_norm: return Role::post_attn_norm_bias;
    case Role::ffn_norm: return Role::ffn_norm_bias;
    case Role::post_ffn_norm: return Role::post_ffn_norm_bias;
    case Role::q: return Role::q_bias;
    case Role::k: return Role::k_bias;
    case Role::v: return Role::v_bias;
    case Role::qkv: return Role::qkv_bias;
    case Role::q_norm: return Role::q_norm_bias;
    case Role::k_norm: return Role::k_norm_bias;
    case Role::o: return Role::o_bias;
    case Role::gate: return Role::gate_bias;
    case Role::up: return Role::up_bias;
    case Role::gate_up: return Role::gate_up_bias;
    case Role::down: return Role::down_bias;
    case Role::final_norm: return Role::final_norm_bias;
    case Role::embed_norm: return Role::embed_norm_bias;
    case Role::head_transform: return Role::head_transform_bias;
    case Role::head_norm: return Role::head_norm_bias;
    case Role::pooler: return Role::pooler_bias;
    default: return std::nullopt;
  }
}

bool is_matrix_role(Role role) {
  switch (role) {
    case Role::q: case Role::k: case Role::v: case Role::o: case Role::qkv: case Role::gate: case Role::up:
    case Role::gate_up: case Role::down: case Role::embed: case Role::lm_head: case Role::expert_gate:
    case Role::expert_up: case Role::expert_gate_up: case Role::expert_down: case Role::shared_gate:
    case Role::shared_up: case Role::shared_down: case Role::q_a: case Role::q_b: case Role::kv_a:
    case Role::receptance: case Role::ffn_receptance: case Role::in_proj: case Role::x_proj:
    case Role::cross_q: case Role::cross_k: case Role::cross_v: case Role::cross_o:
    case Role::head_transform: case Role::pooler:
      return true;
    default:
      return false;
  }
}

bool is_expert_role(Role role) {
  return role == Role::expert_gate || role == Role::expert_up || role == Role::expert_gate_up ||
         role == Role::expert_down;
}

}  // namespace llmc
