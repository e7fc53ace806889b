// Multi-head latent attention (DeepSeek-V2/V3) in its absorbed form. A sequence caches one row per position:
// the normalised latent c (Latent values) and the rotated shared key k_rope (Rope values). kv_b maps the latent
// to each head's [k_nope | v] (rows of Latent values, Nope + V rows per head), so
//   q_h · k_h(s) = (kv_b_k,hᵀ q_nope,h) · c(s) + q_rope,h · k_rope(s)     and     out_h = kv_b_v,h · Σ_s p(s) c(s):
// attention runs over the cached rows themselves, as one key/value head of Latent + Rope values shared by all
// heads, and kv_b is applied to the query before and to the weighted latent after. No model knowledge: sizes
// come from the generated code.
#pragma once
#include <algorithm>
#include <cstddef>

#include "llmc/kernels.hpp"
#include "llmc/threads.hpp"

namespace llmc {

// q_latent[t][h] = [kv_b_k,hᵀ · q_nope,h | q_rope,h] (Latent + Rope values) for T rows of q (heads of
// [nope | rope]). kv_b: [Heads·(Nope + V)][Latent], fp32 row-major.
template <int Heads, int Nope, int Rope, int V, int Latent>
inline void mla_absorb_queries(float* q_latent, const float* q, const float* kv_b, int T) {
  constexpr int kQkDim = Nope + Rope, kRow = Latent + Rope;
  parallel_for(T * Heads, int64_t{T} * Heads * Nope * Latent, [&](int begin, int end) {
    for (int job = begin; job < end; ++job) {
      const int t = job / Heads, h = job % Heads;
      const float* qh = q + (static_cast<size_t>(t) * Heads + h) * kQkDim;
      float* out = q_latent + (static_cast<size_t>(t) * Heads + h) * kRow;
      std::fill(out, out + Latent, 0.0f);
      for (int i = 0; i < Nope; ++i)  // row i of the head's k part, scaled by q_nope[i]
        add_scaled<Latent>(out, kv_b + (static_cast<size_t>(h) * (Nope + V) + i) * Latent, qh[i], 1);
      std::copy(qh + Nope, qh + kQkDim, out + Latent);
    }
  });
}

// out[t][h] = kv_b_v,h · att[t][h][0, Latent) (V values per head) for T rows of attention over the latent rows
// (heads Row apart; the last Rope values of each, the weighted k_rope, are not used).
template <int Heads, int Nope, int V, int Latent, int Row>
inline void mla_expand_values(float* out, const float* att, const float* kv_b, int T) {
  parallel_for(T * Heads, int64_t{T} * Heads * V * Latent, [&](int begin, int end) {
    for (int job = begin; job < end; ++job) {
      const int t = job / Heads, h = job % Heads;
      const float* a = att + (static_cast<size_t>(t) * Heads + h) * Row;
      float* o = out + (static_cast<size_t>(t) * Heads + h) * V;
      const float* v_rows = kv_b + (static_cast<size_t>(h) * (Nope + V) + Nope) * Latent;  // the head's v part
      for (int i = 0; i < V; ++i) o[i] = dot<Latent>(v_rows + static_cast<size_t>(i) * Latent, a);
    }
  });
}

}  // namespace llmc
