// Multi-head latent attention (DeepSeek-V2/V3) in its absorbed form. A sequence caches one row per position:
// the normalised latent c (Latent values) and the rotated shared key k_rope (Rope values). kv_b maps the latent
// to each head's [k_nope | v] (rows of Latent values, Nope + V rows per head), so
//   q_h · k_h(s) = (kv_b_k,hᵀ q_nope,h) · c(s) + q_rope,h · k_rope(s)     and     out_h = kv_b_v,h · Σ_s p(s) c(s):
// attention runs over the cached rows themselves, as one key/value head of Latent + Rope values shared by all
// heads, and kv_b is applied to the query before and to the weighted latent after, as per-head matmuls in the
// model's matrix storage (quantised with the other matrices). No model knowledge: sizes come from the
// generated code.
#pragma once
#include <algorithm>
#include <cstddef>
#include <vector>

#include "llmc/matmul.hpp"
#include "llmc/weights.hpp"

namespace llmc {

// kv_b as the absorbed attention multiplies by it: per head, `keys` its key part transposed ([Latent][Nope]:
// query → latent) and `values` its value part ([V][Latent]), the heads' matrices one after another.
struct MlaProjections {
  Matrix keys, values;
};

// The MlaProjections of kv_b ([heads·(Nope + V)][Latent] as stored, the layer's head count given by its rows),
// kept as the model keeps its matrices. kv_b is read once for both.
template <int Nope, int V, int Latent>
inline MlaProjections mla_projections(WeightStore& store, const TensorRef& kv_b, MatrixStorage storage) {
  const int heads = static_cast<int>(kv_b.dims[0] / (Nope + V));
  const std::vector<float> x = store.values_f32(kv_b);
  auto head_row = [&](int h, int i) { return x.data() + (static_cast<size_t>(h) * (Nope + V) + i) * Latent; };
  MlaProjections p;
  p.keys = store.derived_matrices(kv_b, heads, Latent, Nope, storage, [&](int h, float* m) {
    for (int i = 0; i < Nope; ++i) {
      const float* row = head_row(h, i);
      for (int c = 0; c < Latent; ++c) m[static_cast<size_t>(c) * Nope + i] = row[c];
    }
  });
  p.values = store.derived_matrices(kv_b, heads, V, Latent, storage, [&](int h, float* m) {
    std::copy(head_row(h, Nope), head_row(h, Nope + V), m);
  });
  return p;
}

// Per-head matrices of a stored [heads][Rows][Cols] tensor (GGUF files store kv_b split into k_b, each head's
// key part already transposed, and v_b: exactly the matrices above), kept as the model keeps its matrices.
template <int Rows, int Cols>
inline Matrix head_matrices(WeightStore& store, const TensorRef& ref, MatrixStorage storage) {
  const std::vector<float> x = store.values_f32(ref);
  constexpr size_t kSize = static_cast<size_t>(Rows) * Cols;
  return store.derived_matrices(ref, static_cast<int>(ref.dims[0]), Rows, Cols, storage, [&](int h, float* m) {
    std::copy_n(x.data() + static_cast<size_t>(h) * kSize, kSize, m);
  });
}

// Floats of scratch (per row of T) the two steps below need.
template <int Heads, int Nope, int Latent>
inline constexpr int kMlaScratchFloats = Heads * std::max(Nope, Latent);

// q_latent[t][h] = [kv_b_k,hᵀ · q_nope,h | q_rope,h] (Latent + Rope values) for T rows of q (heads of
// [nope | rope]); keys: the per-head kv_b_k,hᵀ (MlaProjections::keys, or a GGUF's k_b); scratch: T ·
// kMlaScratchFloats floats.
template <int Heads, int Nope, int Rope, int Latent>
inline void mla_absorb_queries(float* q_latent, const float* q, const Matrix& keys, float* scratch, int T) {
  constexpr int kQkDim = Nope + Rope, kRow = Latent + Rope;
  for (int r = 0; r < T * Heads; ++r) {  // row r = t·Heads + h
    std::copy(q + static_cast<size_t>(r) * kQkDim, q + static_cast<size_t>(r) * kQkDim + Nope, scratch + static_cast<size_t>(r) * Nope);
    std::copy(q + static_cast<size_t>(r) * kQkDim + Nope, q + static_cast<size_t>(r + 1) * kQkDim,
              q_latent + static_cast<size_t>(r) * kRow + Latent);
  }
  head_matmuls<Latent, Nope>(q_latent, kRow, Heads * kRow, scratch, keys, Heads, T);
}

// out[t][h] = kv_b_v,h · att[t][h][0, Latent) (V values per head) for T rows of attention over the latent rows
// (heads Row apart; the last Rope values of each, the weighted k_rope, are not used); values: the per-head
// kv_b_v,h (MlaProjections::values, or a GGUF's v_b); scratch as above.
template <int Heads, int V, int Latent, int Row>
inline void mla_expand_values(float* out, const float* att, const Matrix& values, float* scratch, int T) {
  for (int r = 0; r < T * Heads; ++r)
    std::copy(att + static_cast<size_t>(r) * Row, att + static_cast<size_t>(r) * Row + Latent, scratch + static_cast<size_t>(r) * Latent);
  head_matmuls<V, Latent>(out, V, Heads * V, scratch, values, Heads, T);
}

}  // namespace llmc
