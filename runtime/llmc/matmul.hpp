// Matrix-vector and matrix-matrix products for generated models: y[t] = W·x[t] over T tokens. Row-major f32
// weights here (the plain arrays a model passes itself, e.g. routers; activations fp32, fp32 accumulators);
// grouped weights (what get_matrix binds: f32_g16, f16_g16, bf16_g16, q8_0, q4_0, q4_k, q5_k, q6_k) in
// llmc/matmul_grouped.hpp. Every stored 16-bit matrix is grouped at load, so no kernel reads row-major f16 /
// bf16: matmul_any instantiates one kernel per format a matrix can have.
//
// Register tiles of R weight rows × C tokens, each accumulator a SIMD vector along the input dimension,
// reduced at the end. Every output element is computed by the same instruction sequence whatever the tile,
// the token count or the thread count, so results are bitwise identical across thread counts and between
// prefill and decode.
#pragma once
#include <immintrin.h>

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <type_traits>

#include "llmc/matmul_grouped.hpp"
#include "llmc/threads.hpp"
#include "llmc/weights.hpp"

namespace llmc {
namespace mm {

#if defined(__AVX512F__) && defined(__AVX512BW__) && defined(__AVX512VL__)
#define LLMC_MM_AVX512 1
using V = __m512;
inline constexpr int kV = 16;
inline V vzero() { return _mm512_setzero_ps(); }
inline V vfma(V a, V b, V c) { return _mm512_fmadd_ps(a, b, c); }
inline float vsum(V v) {
  // Fixed pairwise order: 16 → 8 → 4 → 2 → 1.
  const __m256 h = _mm256_add_ps(_mm512_castps512_ps256(v), _mm512_extractf32x8_ps(v, 1));
  const __m128 q = _mm_add_ps(_mm256_castps256_ps128(h), _mm256_extractf128_ps(h, 1));
  const __m128 p = _mm_add_ps(q, _mm_movehl_ps(q, q));
  return _mm_cvtss_f32(_mm_add_ss(p, _mm_movehdup_ps(p)));
}
inline V vload(const float* p) { return _mm512_loadu_ps(p); }
inline V vload_tail(const float* p, int n) { return _mm512_maskz_loadu_ps(static_cast<__mmask16>((1u << n) - 1), p); }
inline V vset1(float v) { return _mm512_set1_ps(v); }
#elif defined(__AVX2__) && defined(__FMA__) && defined(__F16C__)
#define LLMC_MM_AVX2 1
using V = __m256;
inline constexpr int kV = 8;
inline V vzero() { return _mm256_setzero_ps(); }
inline V vfma(V a, V b, V c) { return _mm256_fmadd_ps(a, b, c); }
inline float vsum(V v) {
  const __m128 q = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  const __m128 p = _mm_add_ps(q, _mm_movehl_ps(q, q));
  return _mm_cvtss_f32(_mm_add_ss(p, _mm_movehdup_ps(p)));
}
inline V vload(const float* p) { return _mm256_loadu_ps(p); }
inline V vload_tail(const float* p, int n) {
  alignas(32) float b[8] = {};
  std::memcpy(b, p, static_cast<size_t>(n) * 4);
  return _mm256_load_ps(b);
}
inline V vset1(float v) { return _mm256_set1_ps(v); }
#endif

#if defined(LLMC_MM_AVX512) || defined(LLMC_MM_AVX2)
#define LLMC_MM_SIMD 1

// acc[r][c] over the whole input: R rows of W (row r at w + r·wb bytes) × C tokens (token c at x + c·xs
// bytes). Writes y[c·ys + r] = Σ + bias[r].
template <int In, int R, int C>
inline void tile(const uint8_t* w, size_t wb, const uint8_t* x, size_t xs, float* y, int ys, const float* bias) {
  V acc[R][C];
  for (int r = 0; r < R; ++r)
    for (int c = 0; c < C; ++c) acc[r][c] = vzero();
  constexpr int kFull = In / kV * kV;
  for (int i = 0; i < kFull; i += kV) {
    V wv[R];
#pragma GCC unroll 8
    for (int r = 0; r < R; ++r) wv[r] = vload(reinterpret_cast<const float*>(w + r * wb) + i);
#pragma GCC unroll 8
    for (int c = 0; c < C; ++c) {
      const V xv = vload(reinterpret_cast<const float*>(x + c * xs) + i);
#pragma GCC unroll 8
      for (int r = 0; r < R; ++r) acc[r][c] = vfma(wv[r], xv, acc[r][c]);
    }
  }
  if constexpr (kFull < In) {
    constexpr int n = In - kFull;
    V wv[R];
    for (int r = 0; r < R; ++r) wv[r] = vload_tail(reinterpret_cast<const float*>(w + r * wb) + kFull, n);
    for (int c = 0; c < C; ++c) {
      const V xv = vload_tail(reinterpret_cast<const float*>(x + c * xs) + kFull, n);
      for (int r = 0; r < R; ++r) acc[r][c] = vfma(wv[r], xv, acc[r][c]);
    }
  }
  for (int c = 0; c < C; ++c)
    for (int r = 0; r < R; ++r) y[static_cast<size_t>(c) * ys + r] = vsum(acc[r][c]) + (bias ? bias[r] : 0.0f);
}

// The last `left` (< C) tokens of a row block, with a tile of exactly that width.
template <int In, int R, int C>
inline void tail_tile(const uint8_t* w, size_t wb, const uint8_t* x, size_t xs, float* y, int ys, const float* b, int left) {
  if constexpr (C > 1) {
    if (left == C - 1) tile<In, R, C - 1>(w, wb, x, xs, y, ys, b);
    else tail_tile<In, R, C - 1>(w, wb, x, xs, y, ys, b, left);
  }
}

// Rows [r0, r0 + R) against all T tokens, C tokens at a time, the rest with one narrower tile.
template <int In, int R, int C>
inline void row_block(const uint8_t* W, size_t wb, int r0, float* y, int ys, const uint8_t* x, size_t xs,
                      const float* bias, int T) {
  const uint8_t* w = W + static_cast<size_t>(r0) * wb;
  const float* b = bias ? bias + r0 : nullptr;
  int t = 0;
  for (; t + C <= T; t += C) tile<In, R, C>(w, wb, x + t * xs, xs, y + static_cast<size_t>(t) * ys + r0, ys, b);
  if (t < T) tail_tile<In, R, C>(w, wb, x + t * xs, xs, y + static_cast<size_t>(t) * ys + r0, ys, b, T - t);
}

// Tile shapes: rows × tokens for prefill, rows for decode (one token). The accumulators must fit the
// register file: 32 vector registers with AVX-512, 16 without.
#ifdef LLMC_MM_AVX512
inline constexpr int kPrefillRows = 4, kPrefillTokens = 6, kDecodeRows = 8;
#else
inline constexpr int kPrefillRows = 3, kPrefillTokens = 4, kDecodeRows = 4;
#endif

template <int Out, int In>
inline void matmul_simd(float* y, int ys, const float* xf, const void* Wv, const float* bias, int T) {
  const uint8_t* W = static_cast<const uint8_t*>(Wv);
  const size_t wb = static_cast<size_t>(In) * sizeof(float), xs = static_cast<size_t>(In) * sizeof(float);
  const uint8_t* x = reinterpret_cast<const uint8_t*>(xf);
  if (T == 1) {
    constexpr int R = kDecodeRows, kBlocks = Out / R;
    parallel_for(kBlocks + (Out % R ? 1 : 0), static_cast<int64_t>(Out) * In, [&](int begin, int end) {
      for (int blk = begin; blk < end; ++blk) {
        const int r0 = blk * R;
        if (blk < kBlocks) {
          tile<In, R, 1>(W + r0 * wb, wb, x, xs, y + r0, ys, bias ? bias + r0 : nullptr);
        } else {
          for (int r = r0; r < Out; ++r) tile<In, 1, 1>(W + r * wb, wb, x, xs, y + r, ys, bias ? bias + r : nullptr);
        }
      }
    });
    return;
  }
  constexpr int R = kPrefillRows, C = kPrefillTokens, kBlocks = Out / R;
  parallel_for(kBlocks + (Out % R ? 1 : 0), static_cast<int64_t>(Out) * In * T, [&](int begin, int end) {
    for (int blk = begin; blk < end; ++blk) {
      if (blk < kBlocks) {
        row_block<In, R, C>(W, wb, blk * R, y, ys, x, xs, bias, T);
      } else {
        for (int r = blk * R; r < Out; ++r) row_block<In, 1, C>(W, wb, r, y, ys, x, xs, bias, T);
      }
    }
  });
}
#endif  // SIMD

// Scalar reference for builds without AVX2.
template <int Out, int In>
inline void matmul_scalar(float* y, int ys, const float* x, const void* Wv, const float* bias, int T) {
  const float* W = static_cast<const float*>(Wv);
  parallel_for(Out, static_cast<int64_t>(Out) * In * T, [&](int begin, int end) {
    for (int o = begin; o < end; ++o)
      for (int t = 0; t < T; ++t) {
        float s = 0.0f;
        for (int i = 0; i < In; ++i) s += W[static_cast<size_t>(o) * In + i] * x[static_cast<size_t>(t) * In + i];
        y[static_cast<size_t>(t) * ys + o] = s + (bias ? bias[o] : 0.0f);
      }
  });
}

template <WFormat F, int Out, int In>
inline void matmul_typed(float* y, int ys, const float* x, const void* W, const float* bias, int T) {
  if constexpr (is_grouped(F)) {
    matmul_grouped<F, Out, In>(y, ys, x, W, bias, T);
  } else {
    static_assert(F == WFormat::f32, "row-major matrices are f32 (16-bit ones are grouped at load)");
#ifdef LLMC_MM_SIMD
    matmul_simd<Out, In>(y, ys, x, W, bias, T);
#else
    matmul_scalar<Out, In>(y, ys, x, W, bias, T);
#endif
  }
}

// Calls run(std::integral_constant<WFormat, F>{}) with F = f if f is a grouped format with kernels for rows of
// In values (q8_0 / q4_0: whole blocks of 32; K-quants: of 256) in this binary (kKernelFormats), and says
// whether it did.
template <int In, class Run>
inline bool with_grouped_kernel(WFormat f, Run&& run) {
  auto call = [&](auto format) {
    constexpr WFormat F = decltype(format)::value;
    constexpr int kBlock = is_quantised(F) ? 32 : is_kquant(F) ? 256 : 1;
    if constexpr (In % kBlock == 0 && has_kernels(kKernelFormats, F)) return run(format), true;
    else return false;
  };
  using enum WFormat;
  switch (f) {
    case q8_0: return call(std::integral_constant<WFormat, q8_0>{});
    case q4_0: return call(std::integral_constant<WFormat, q4_0>{});
    case q4_k: return call(std::integral_constant<WFormat, q4_k>{});
    case q6_k: return call(std::integral_constant<WFormat, q6_k>{});
    case q5_k: return call(std::integral_constant<WFormat, q5_k>{});
    case f32_g16: return call(std::integral_constant<WFormat, f32_g16>{});
    case f16_g16: return call(std::integral_constant<WFormat, f16_g16>{});
    case bf16_g16: return call(std::integral_constant<WFormat, bf16_g16>{});
    default: return false;
  }
}
}  // namespace mm

// y[t][o] = Σ_i W[o][i]·x[t][i] (+ bias[o]) for t < T, W in any format of WeightStore::get_matrix.
template <int Out, int In>
inline void matmul_any(float* y, int y_stride, const float* x, const Matrix& ref, const float* bias, int T) {
  switch (ref.format) {
    case WFormat::f32: return mm::matmul_typed<WFormat::f32, Out, In>(y, y_stride, x, ref.data, bias, T);
    default: break;
  }
  const bool done = mm::with_grouped_kernel<In>(ref.format, [&](auto F) {
    mm::matmul_typed<decltype(F)::value, Out, In>(y, y_stride, x, ref.data, bias, T);
  });
  if (!done) throw Error("internal error: weight format has no kernel for this shape");
}

// Per-head products (mm::head_products): y[t·ys + h·y_head + o] = W_h[o]·x[t·heads + h], W holding `heads`
// grouped matrices of Out × In one after another, matrix_stride apart (WeightStore::derived_matrices), x
// [T][heads][In].
template <int Out, int In>
inline void head_matmuls(float* y, int y_head, int ys, const float* x, const Matrix& W, int heads, int T) {
  const bool done = mm::with_grouped_kernel<In>(W.format, [&](auto F) {
    mm::head_products<decltype(F)::value, Out, In>(y, y_head, ys, x, static_cast<const uint8_t*>(W.data), heads, T);
  });
  if (!done) throw Error("internal error: per-head matrices in a format with no kernel for this shape");
}

// One product of matmuls: y (rows of Out values, Out its template argument) = W·x (+ bias).
struct MatmulTarget {
  float* y;
  Matrix W;
  const float* bias;
};

namespace mm {
// grouped_products for format f, if f is grouped and has a kernel for In.
template <int In>
inline bool grouped_products_any(WFormat f, const float* x, int T, const GroupedProduct* m, int n) {
  return with_grouped_kernel<In>(f, [&](auto F) { grouped_products<decltype(F)::value, In>(x, T, m, n); });
}
}  // namespace mm

// Several matrices times the same input (q, k and v; gate and up): target[i].y[t] = W_i·x[t] (+ bias_i),
// t < T, x rows In apart. When all are grouped in one format they run as one parallel step (one wake-up
// of the threads, activations quantised once), else as one matmul each; the results are the same bits.
template <int In, int... Outs>
inline void matmuls(const float* x, int T, const MatmulTarget (&target)[sizeof...(Outs)]) {
  constexpr int n = sizeof...(Outs), outs[] = {Outs...};
  static_assert(n <= mm::kMaxGroupedProducts, "matmuls: at most kMaxGroupedProducts matrices");
  bool same = true;
  for (const MatmulTarget& t : target) same = same && t.W.format == target[0].W.format;
  if (same) {
    mm::GroupedProduct m[n];
    for (int i = 0; i < n; ++i)
      m[i] = {target[i].y, outs[i], static_cast<const uint8_t*>(target[i].W.data), target[i].bias, outs[i]};
    if (mm::grouped_products_any<In>(target[0].W.format, x, T, m, n)) return;
  }
  int i = 0;
  ((matmul_any<Outs, In>(target[i].y, Outs, x, target[i].W, target[i].bias, T), ++i), ...);
}

}  // namespace llmc

