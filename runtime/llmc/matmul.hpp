// Matrix-vector and matrix-matrix products for generated models: y[t] = W·x[t] over T tokens, with W in
// f32, f16, bf16 (converted in registers; activations fp32) or block-quantised q8_0 / q4_0 (GGUF numerics,
// llmc/weights.hpp). For q8_0 / q4_0 the activations are quantised per token as GGUF's q8_0 does (blocks of
// 32, d = amax/127), each block's dot product is exact integer arithmetic (AVX-512 VNNI / AVX-VNNI
// vpdpbusd, else vpmaddubsw), scaled by d_w·d_x into fp32 accumulators.
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
#include <memory>
#include <new>
#include <vector>

#include "llmc/threads.hpp"
#include "llmc/weights.hpp"

namespace llmc {
namespace mm {

// Bytes of one weight row of `in` values.
inline size_t row_bytes(WFormat f, int in) {
  switch (f) {
    case WFormat::f32: return static_cast<size_t>(in) * 4;
    case WFormat::f16:
    case WFormat::bf16: return static_cast<size_t>(in) * 2;
    case WFormat::q8_0:
    case WFormat::q4_0: return quant_row_bytes(f, static_cast<size_t>(in));
  }
  return 0;
}

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
inline V vload_f16(const uint16_t* p) { return _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p))); }
inline V vload_f16_tail(const uint16_t* p, int n) {
  return _mm512_cvtph_ps(_mm256_maskz_loadu_epi16(static_cast<__mmask16>((1u << n) - 1), p));
}
inline V bf16_widen(__m256i h) { return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(h), 16)); }
inline V vload_bf16(const uint16_t* p) { return bf16_widen(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p))); }
inline V vload_bf16_tail(const uint16_t* p, int n) {
  return bf16_widen(_mm256_maskz_loadu_epi16(static_cast<__mmask16>((1u << n) - 1), p));
}
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
inline V vload_f16(const uint16_t* p) { return _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p))); }
inline V vload_f16_tail(const uint16_t* p, int n) {
  alignas(16) uint16_t b[8] = {};
  std::memcpy(b, p, static_cast<size_t>(n) * 2);
  return vload_f16(b);
}
inline V bf16_widen(__m128i h) { return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(h), 16)); }
inline V vload_bf16(const uint16_t* p) { return bf16_widen(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p))); }
inline V vload_bf16_tail(const uint16_t* p, int n) {
  alignas(16) uint16_t b[8] = {};
  std::memcpy(b, p, static_cast<size_t>(n) * 2);
  return vload_bf16(b);
}
inline V vset1(float v) { return _mm256_set1_ps(v); }
#endif

#if defined(LLMC_MM_AVX512) || defined(LLMC_MM_AVX2)
// Loads of a full vector and of a partial tail (zero-filled) for the unquantised formats.
template <WFormat F>
inline V wload(const void* row, int i) {
  if constexpr (F == WFormat::f32) return vload(static_cast<const float*>(row) + i);
  else if constexpr (F == WFormat::f16) return vload_f16(static_cast<const uint16_t*>(row) + i);
  else return vload_bf16(static_cast<const uint16_t*>(row) + i);
}
template <WFormat F>
inline V wload_tail(const void* row, int i, int n) {
  if constexpr (F == WFormat::f32) return vload_tail(static_cast<const float*>(row) + i, n);
  else if constexpr (F == WFormat::f16) return vload_f16_tail(static_cast<const uint16_t*>(row) + i, n);
  else return vload_bf16_tail(static_cast<const uint16_t*>(row) + i, n);
}
#endif

template <WFormat F>
inline constexpr bool kQuantised = F == WFormat::q8_0 || F == WFormat::q4_0;

// Activations of a quantised matmul, one record per token: In int8 quants, In/32 fp32 scales, In/32 int32
// offsets (−o·Σq of the block, o the weights' zero point: 128 for q8_0 stored as q + 128, 8 for q4_0), padded
// to 64 bytes.
template <int In>
inline constexpr size_t kQActBytes = (static_cast<size_t>(In) + In / 32 * 8 + 63) / 64 * 64;

// The x-side quantisation of one token, GGUF's quantize_row_q8_0 with round-to-nearest-even and an fp32 d.
template <WFormat F, int In>
inline void quantize_acts_ref(const float* x, uint8_t* out) {
  constexpr int kOffset = F == WFormat::q8_0 ? 128 : 8;
  int8_t* q = reinterpret_cast<int8_t*>(out);
  float* d = reinterpret_cast<float*>(out + In);
  int32_t* k = reinterpret_cast<int32_t*>(out + In + In / 32 * 4);
  for (int b = 0; b < In / 32; ++b) {
    float amax = 0.0f;
    for (int j = 0; j < 32; ++j) amax = std::max(amax, std::fabs(x[b * 32 + j]));
    d[b] = amax / 127.0f;
    const float id = d[b] != 0.0f ? 1.0f / d[b] : 0.0f;
    int32_t sum = 0;
    for (int j = 0; j < 32; ++j) {
      q[b * 32 + j] = static_cast<int8_t>(std::nearbyint(x[b * 32 + j] * id));
      sum += q[b * 32 + j];
    }
    k[b] = -kOffset * sum;
  }
}

#if defined(LLMC_MM_AVX512) || defined(LLMC_MM_AVX2)
#define LLMC_MM_SIMD 1

// quantize_acts_ref, vectorised (same results bit for bit).
template <WFormat F, int In>
inline void quantize_acts(const float* x, uint8_t* out) {
  constexpr int kOffset = F == WFormat::q8_0 ? 128 : 8;
  float* d = reinterpret_cast<float*>(out + In);
  int32_t* k = reinterpret_cast<int32_t*>(out + In + In / 32 * 4);
  const __m256 sign = _mm256_set1_ps(-0.0f);
  for (int b = 0; b < In / 32; ++b) {
    __m256 v[4];
    for (int j = 0; j < 4; ++j) v[j] = _mm256_loadu_ps(x + b * 32 + j * 8);
    __m256 m = _mm256_max_ps(_mm256_max_ps(_mm256_andnot_ps(sign, v[0]), _mm256_andnot_ps(sign, v[1])),
                             _mm256_max_ps(_mm256_andnot_ps(sign, v[2]), _mm256_andnot_ps(sign, v[3])));
    __m128 h = _mm_max_ps(_mm256_castps256_ps128(m), _mm256_extractf128_ps(m, 1));
    h = _mm_max_ps(h, _mm_movehl_ps(h, h));
    h = _mm_max_ss(h, _mm_movehdup_ps(h));
    d[b] = _mm_cvtss_f32(h) / 127.0f;
    const __m256 id = _mm256_set1_ps(d[b] != 0.0f ? 1.0f / d[b] : 0.0f);
    __m256i i[4];
    for (int j = 0; j < 4; ++j) i[j] = _mm256_cvtps_epi32(_mm256_mul_ps(v[j], id));  // nearest even
    const __m256i sum32 = _mm256_add_epi32(_mm256_add_epi32(i[0], i[1]), _mm256_add_epi32(i[2], i[3]));
    __m128i s = _mm_add_epi32(_mm256_castsi256_si128(sum32), _mm256_extracti128_si256(sum32, 1));
    s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0x4e));
    s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0xb1));
    k[b] = -kOffset * _mm_cvtsi128_si32(s);
    // int32 → int8 (values are within ±127): pack with saturation, then undo the lane interleave.
    const __m256i p16a = _mm256_packs_epi32(i[0], i[1]), p16b = _mm256_packs_epi32(i[2], i[3]);
    const __m256i p8 = _mm256_packs_epi16(p16a, p16b);
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(out + b * 32),
                        _mm256_permutevar8x32_epi32(p8, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7)));
  }
}

// The 32 weights of block b of a quantised row as unsigned bytes (q8_0: q + 128; q4_0: q in 0..15).
template <WFormat F, int In>
inline __m256i qweights(const uint8_t* row, int b) {
  const uint8_t* qs = row + In / 32 * sizeof(float);
  if constexpr (F == WFormat::q8_0) {
    return _mm256_loadu_si256(reinterpret_cast<const __m256i*>(qs + b * 32));
  } else {
    const __m256i both = _mm256_broadcastsi128_si256(_mm_loadu_si128(reinterpret_cast<const __m128i*>(qs + b * 16)));
    return _mm256_and_si256(_mm256_srlv_epi64(both, _mm256_setr_epi64x(0, 0, 4, 4)), _mm256_set1_epi8(0x0f));
  }
}

// Eight int32 lanes summing to Σ w·x over one block, w the weight values (zero point removed via k).
template <WFormat F>
inline __m256i qdot(__m256i k, __m256i w, __m256i x) {
#if defined(__AVX512VNNI__) && defined(__AVX512VL__)
  return _mm256_dpbusd_epi32(k, w, x);
#elif defined(__AVXVNNI__)
  return _mm256_dpbusd_avx_epi32(k, w, x);
#else
  const __m256i ones = _mm256_set1_epi16(1);
  if constexpr (F == WFormat::q4_0) {
    return _mm256_add_epi32(k, _mm256_madd_epi16(_mm256_maddubs_epi16(w, x), ones));  // ≤ 2·15·127: no saturation
  } else {
    // q + 128 would saturate vpmaddubsw: use |q| and x with q's sign instead (k not needed).
    const __m256i q = _mm256_xor_si256(w, _mm256_set1_epi8(static_cast<char>(0x80)));
    return _mm256_madd_epi16(_mm256_maddubs_epi16(_mm256_abs_epi8(q), _mm256_sign_epi8(x, q)), ones);
  }
#endif
}

inline float hsum8(__m256 v) {
  const __m128 q = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  const __m128 p = _mm_add_ps(q, _mm_movehl_ps(q, q));
  return _mm_cvtss_f32(_mm_add_ss(p, _mm_movehdup_ps(p)));
}

// acc[r][c] over the whole input: R rows of W (row r at w + r·wb bytes) × C tokens (token c at x + c·xs
// bytes: fp32 values, or a kQActBytes record for quantised W). Writes y[c·ys + r] = Σ + bias[r].
template <WFormat F, int In, int R, int C>
inline void tile(const uint8_t* w, size_t wb, const uint8_t* x, size_t xs, float* y, int ys, const float* bias) {
  if constexpr (kQuantised<F>) {
    static_assert(In % 32 == 0, "q8_0 / q4_0 rows must be whole blocks of 32");
    constexpr int kBlocks = In / 32;
    __m256 acc[R][C];
    for (int r = 0; r < R; ++r)
      for (int c = 0; c < C; ++c) acc[r][c] = _mm256_setzero_ps();
    for (int b = 0; b < kBlocks; ++b) {
      __m256i wq[R];
      __m256 dw[R];
#pragma GCC unroll 8
      for (int r = 0; r < R; ++r) {
        dw[r] = _mm256_broadcast_ss(reinterpret_cast<const float*>(w + r * wb) + b);
        wq[r] = qweights<F, In>(w + r * wb, b);
      }
#pragma GCC unroll 8
      for (int c = 0; c < C; ++c) {
        const uint8_t* xc = x + c * xs;
        const __m256i xq = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(xc + b * 32));
        const __m256 dx = _mm256_broadcast_ss(reinterpret_cast<const float*>(xc + In) + b);
        const __m256i k = _mm256_zextsi128_si256(_mm_cvtsi32_si128(reinterpret_cast<const int32_t*>(xc + In + kBlocks * 4)[b]));
#pragma GCC unroll 8
        for (int r = 0; r < R; ++r)
          acc[r][c] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(qdot<F>(k, wq[r], xq)), _mm256_mul_ps(dw[r], dx), acc[r][c]);
      }
    }
    for (int c = 0; c < C; ++c)
      for (int r = 0; r < R; ++r) y[static_cast<size_t>(c) * ys + r] = hsum8(acc[r][c]) + (bias ? bias[r] : 0.0f);
  } else {
    V acc[R][C];
    for (int r = 0; r < R; ++r)
      for (int c = 0; c < C; ++c) acc[r][c] = vzero();
    constexpr int kFull = In / kV * kV;
    for (int i = 0; i < kFull; i += kV) {
      V wv[R];
#pragma GCC unroll 8
      for (int r = 0; r < R; ++r) wv[r] = wload<F>(w + r * wb, i);
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
      for (int r = 0; r < R; ++r) wv[r] = wload_tail<F>(w + r * wb, kFull, n);
      for (int c = 0; c < C; ++c) {
        const V xv = vload_tail(reinterpret_cast<const float*>(x + c * xs) + kFull, n);
        for (int r = 0; r < R; ++r) acc[r][c] = vfma(wv[r], xv, acc[r][c]);
      }
    }
    for (int c = 0; c < C; ++c)
      for (int r = 0; r < R; ++r) y[static_cast<size_t>(c) * ys + r] = vsum(acc[r][c]) + (bias ? bias[r] : 0.0f);
  }
}

// The last `left` (< C) tokens of a row block, with a tile of exactly that width.
template <WFormat F, int In, int R, int C>
inline void tail_tile(const uint8_t* w, size_t wb, const uint8_t* x, size_t xs, float* y, int ys, const float* b, int left) {
  if constexpr (C > 1) {
    if (left == C - 1) tile<F, In, R, C - 1>(w, wb, x, xs, y, ys, b);
    else tail_tile<F, In, R, C - 1>(w, wb, x, xs, y, ys, b, left);
  }
}

// Rows [r0, r0 + R) against all T tokens, C tokens at a time, the rest with one narrower tile.
template <WFormat F, int In, int R, int C>
inline void row_block(const uint8_t* W, size_t wb, int r0, float* y, int ys, const uint8_t* x, size_t xs,
                      const float* bias, int T) {
  const uint8_t* w = W + static_cast<size_t>(r0) * wb;
  const float* b = bias ? bias + r0 : nullptr;
  int t = 0;
  for (; t + C <= T; t += C) tile<F, In, R, C>(w, wb, x + t * xs, xs, y + static_cast<size_t>(t) * ys + r0, ys, b);
  if (t < T) tail_tile<F, In, R, C>(w, wb, x + t * xs, xs, y + static_cast<size_t>(t) * ys + r0, ys, b, T - t);
}

// Tile shapes: rows × tokens for prefill, rows for decode (one token). fp32 accumulators must fit the
// register file: 32 vector registers with AVX-512, 16 without.
template <WFormat F>
struct Tiles {
#ifdef LLMC_MM_AVX512
#ifndef LLMC_DR
#define LLMC_DR 8
#endif
  static constexpr int prefill_rows = 4, prefill_tokens = kQuantised<F> ? 4 : 6, decode_rows = LLMC_DR;
#else
  static constexpr int prefill_rows = kQuantised<F> ? 2 : 3, prefill_tokens = 4, decode_rows = 4;
#endif
};

// The quantised activations of the current call (grown once; matmul is not called concurrently).
inline uint8_t* qact_buffer(size_t bytes) {
  static thread_local std::unique_ptr<uint8_t[]> buf;
  static thread_local size_t size = 0;
  if (bytes > size) {
    buf.reset(new (std::align_val_t{64}) uint8_t[bytes]);
    size = bytes;
  }
  return buf.get();
}

template <WFormat F, int Out, int In>
inline void matmul_simd(float* y, int ys, const float* xf, const void* Wv, const float* bias, int T) {
  const uint8_t* W = static_cast<const uint8_t*>(Wv);
  const size_t wb = row_bytes(F, In);
  const uint8_t* x = reinterpret_cast<const uint8_t*>(xf);
  size_t xs = static_cast<size_t>(In) * sizeof(float);
  if constexpr (kQuantised<F>) {
    xs = kQActBytes<In>;
    uint8_t* q = qact_buffer(xs * static_cast<size_t>(T));
    for (int t = 0; t < T; ++t) quantize_acts<F, In>(xf + static_cast<size_t>(t) * In, q + t * xs);
    x = q;
  }
  if (T == 1) {
    constexpr int R = Tiles<F>::decode_rows, kBlocks = Out / R;
    parallel_for(kBlocks + (Out % R ? 1 : 0), static_cast<int64_t>(Out) * In, [&](int begin, int end) {
      for (int blk = begin; blk < end; ++blk) {
        const int r0 = blk * R;
        if (blk < kBlocks) {
          tile<F, In, R, 1>(W + r0 * wb, wb, x, xs, y + r0, ys, bias ? bias + r0 : nullptr);
        } else {
          for (int r = r0; r < Out; ++r) tile<F, In, 1, 1>(W + r * wb, wb, x, xs, y + r, ys, bias ? bias + r : nullptr);
        }
      }
    });
    return;
  }
  constexpr int R = Tiles<F>::prefill_rows, C = Tiles<F>::prefill_tokens, kBlocks = Out / R;
  parallel_for(kBlocks + (Out % R ? 1 : 0), static_cast<int64_t>(Out) * In * T, [&](int begin, int end) {
    for (int blk = begin; blk < end; ++blk) {
      if (blk < kBlocks) {
        row_block<F, In, R, C>(W, wb, blk * R, y, ys, x, xs, bias, T);
      } else {
        for (int r = blk * R; r < Out; ++r) row_block<F, In, 1, C>(W, wb, r, y, ys, x, xs, bias, T);
      }
    }
  });
}
#endif  // SIMD

// Scalar reference for builds without AVX2: converts one row at a time.
template <WFormat F, int In>
inline float row_value(const void* row, int i) {
  if constexpr (F == WFormat::f32) return static_cast<const float*>(row)[i];
  else if constexpr (F == WFormat::f16) return f16_to_f32(static_cast<const uint16_t*>(row)[i]);
  else if constexpr (F == WFormat::bf16) return bf16_to_f32(static_cast<const uint16_t*>(row)[i]);
  else return quant_value(F, static_cast<const uint8_t*>(row), In, i);
}

// Σ over blocks of d_w·d_x·(integer dot of the block), blocks in order: the quantised matmul's arithmetic.
template <WFormat F, int In>
inline float quant_row_dot(const uint8_t* row, const uint8_t* xq) {
  const int8_t* q = reinterpret_cast<const int8_t*>(xq);
  const float* dx = reinterpret_cast<const float*>(xq + In);
  const float* dw = reinterpret_cast<const float*>(row);
  float s = 0.0f;
  for (int b = 0; b < In / 32; ++b) {
    int32_t dot = 0;
    for (int j = 0; j < 32; ++j) dot += quant_int(F, row, In, b * 32 + j) * q[b * 32 + j];
    s += dw[b] * dx[b] * static_cast<float>(dot);
  }
  return s;
}

template <WFormat F, int Out, int In>
inline void matmul_scalar(float* y, int ys, const float* x, const void* Wv, const float* bias, int T) {
  const uint8_t* W = static_cast<const uint8_t*>(Wv);
  const size_t wb = row_bytes(F, In);
  std::vector<uint8_t> xq;
  if constexpr (kQuantised<F>) {
    xq.resize(kQActBytes<In> * static_cast<size_t>(T));
    for (int t = 0; t < T; ++t) quantize_acts_ref<F, In>(x + static_cast<size_t>(t) * In, xq.data() + t * kQActBytes<In>);
  }
  parallel_for(Out, static_cast<int64_t>(Out) * In * T, [&](int begin, int end) {
    for (int o = begin; o < end; ++o)
      for (int t = 0; t < T; ++t) {
        float s = 0.0f;
        if constexpr (kQuantised<F>) {
          s = quant_row_dot<F, In>(W + o * wb, xq.data() + t * kQActBytes<In>);
        } else {
          for (int i = 0; i < In; ++i) s += row_value<F, In>(W + o * wb, i) * x[static_cast<size_t>(t) * In + i];
        }
        y[static_cast<size_t>(t) * ys + o] = s + (bias ? bias[o] : 0.0f);
      }
  });
}

template <WFormat F, int Out, int In>
inline void matmul_typed(float* y, int ys, const float* x, const void* W, const float* bias, int T) {
#ifdef LLMC_MM_SIMD
  matmul_simd<F, Out, In>(y, ys, x, W, bias, T);
#else
  matmul_scalar<F, Out, In>(y, ys, x, W, bias, T);
#endif
}

}  // namespace mm

// y[t][o] = Σ_i W[o][i]·x[t][i] (+ bias[o]) for t < T, W in any format of WeightStore::get_matrix.
template <int Out, int In>
inline void matmul_any(float* y, int y_stride, const float* x, const Matrix& ref, const float* bias, int T) {
  switch (ref.format) {
    case WFormat::f32: return mm::matmul_typed<WFormat::f32, Out, In>(y, y_stride, x, ref.data, bias, T);
    case WFormat::f16: return mm::matmul_typed<WFormat::f16, Out, In>(y, y_stride, x, ref.data, bias, T);
    case WFormat::bf16: return mm::matmul_typed<WFormat::bf16, Out, In>(y, y_stride, x, ref.data, bias, T);
    case WFormat::q8_0:
      if constexpr (In % 32 == 0) return mm::matmul_typed<WFormat::q8_0, Out, In>(y, y_stride, x, ref.data, bias, T);
      break;
    case WFormat::q4_0:
      if constexpr (In % 32 == 0) return mm::matmul_typed<WFormat::q4_0, Out, In>(y, y_stride, x, ref.data, bias, T);
      break;
  }
  throw Error("internal error: weight format has no kernel for this shape");
}

}  // namespace llmc

