// Matmul with grouped weights (layouts in llmc/weights.hpp): one SIMD lane per weight row, 16 rows per
// group, so no horizontal sums. f32_g16 / f16_g16: per column, one vector of 16 rows times a broadcast
// activation, an fp32 FMA chain per output over the columns in order.
// bf16_g16: the activations are rounded to bf16 per call (as llama.cpp does for bf16 weights), and each
// pair of columns is one vdpbf16ps of 16 rows against a broadcast activation pair; targets without
// AVX512_BF16 compute the same with two fp32 FMAs (see bf16_dot_ref).
// q8_0 / q4_0: the activations are quantised per token
// like GGUF's q8_0 (blocks of 32, d = amax/127), each block's dot product is exact integer arithmetic,
// and d_w·d_x scales it into an fp32 accumulator, blocks in order. One SIMD lane per weight row: a group
// of 16 rows is one 512-bit register (two 256-bit halves without AVX-512), 4 values of a row per byte
// quadruple, so vpdpbusd (VNNI; else vpmaddubsw + vpmaddwd) sums a slice of the block for 16 rows at
// once against 4 broadcast activation bytes.
// q4_k / q5_k / q6_k: the activations are quantised per token like GGUF's q8_K (super-blocks of 256, d =
// max/−127 as an fp32, int8 quants, sums of the quants per sub-block). Per super-block and row, the exact
// integer Σ_sub scale·Σ q·x: q4_k and q5_k with VNNI sum a sub-block's slices with vpdpbusd (as q4_0) and
// multiply by the scale once (vpmulld); otherwise (and q6_k) vpmaddubsw of a slice (unsigned quants ×
// signed activations: pair sums, no saturation for quants < 64), summed over slices in int16 while that
// cannot overflow, then vpdpwssd (else vpmaddwd + add) with the sub-block's scale in both halves of the
// lane. The q6_k offset −32 and the q4_k / q5_k mins are one vpdpwssd per pair of sub-blocks against the
// activation sums. Then, as ggml, fp32: acc = fma(isum, d_w·d_x, acc) (with mins: and fma(msum, −dmin·d_x, ·)),
// super-blocks in order. Every output row is the same chain of fp32 operations
// whatever the tile, token count or thread count: results are bitwise identical across them.
#pragma once
#include <immintrin.h>

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <vector>

#include "llmc/threads.hpp"
#include "llmc/weights.hpp"

namespace llmc {
namespace mm {

// One token's quantised activations: In int8 quants, In/32 fp32 scales, In/32 int32 offsets (−o·Σq of the
// block, o the weights' zero point: 128 for q8_0 stored as q + 128, 8 for q4_0), padded to 64 bytes.
template <int In>
inline constexpr size_t kQActBytes = (static_cast<size_t>(In) + In / 32 * 8 + 63) / 64 * 64;

// GGUF's quantize_row_q8_0 for one token, with round-to-nearest-even and an fp32 d.
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

// The matmul's arithmetic for one output, in scalar code: Σ over blocks, in order, of
// fma(dot_b, d_w·d_x, ·) with dot_b the exact integer dot product of block b.
template <WFormat F, int In>
inline float quant_dot_ref(const uint8_t* W, int rows, int row, const uint8_t* xq) {
  const int8_t* q = reinterpret_cast<const int8_t*>(xq);
  const float* dx = reinterpret_cast<const float*>(xq + In);
  float s = 0.0f;
  for (int b = 0; b < In / 32; ++b) {
    int32_t dot = 0;
    for (int j = 0; j < 32; ++j) dot += quant_int(F, W, rows, In, row, b * 32 + j) * q[b * 32 + j];
    s = std::fma(static_cast<float>(dot), quant_scale(F, W, rows, In, row, b * 32) * dx[b], s);
  }
  return s;
}

// One token's q8_K activations for q4_k / q5_k / q6_k: In int8 quants, In/256 fp32 d, then the int16 sums
// of the quants per sub-block of the weights (q4_k, q5_k: 32 values, q6_k: 16), padded to 64 bytes.
template <WFormat F>
inline constexpr int kKSub = has_kmins(F) ? 32 : 16;  // values per sub-block
template <WFormat F, int In>
inline constexpr size_t kKActBytes = (static_cast<size_t>(In) + In / 256 * 4 + In / kKSub<F> * 2 + 63) / 64 * 64;

// GGUF's quantize_row_q8_K_ref for one token: per super-block, max the first value of greatest magnitude,
// q = min(127, nearest_int(x·(−127/max))), d = 1/(−127/max); all zero for a block of zeros.
template <WFormat F, int In>
inline void quantize_acts_k_ref(const float* x, uint8_t* out) {
  int8_t* q = reinterpret_cast<int8_t*>(out);
  float* d = reinterpret_cast<float*>(out + In);
  int16_t* bsum = reinterpret_cast<int16_t*>(out + In + In / 256 * 4);
  for (int b = 0; b < In / 256; ++b) {
    float amax = 0.0f, max = 0.0f;
    for (int j = 0; j < 256; ++j)
      if (std::fabs(x[b * 256 + j]) > amax) {
        amax = std::fabs(x[b * 256 + j]);
        max = x[b * 256 + j];
      }
    const float iscale = amax != 0.0f ? -127.0f / max : 0.0f;
    d[b] = amax != 0.0f ? 1.0f / iscale : 0.0f;
    for (int j = 0; j < 256; ++j)
      q[b * 256 + j] = static_cast<int8_t>(std::min(127, ggml_detail::nearest_int(iscale * x[b * 256 + j])));
  }
  for (int s = 0; s < In / kKSub<F>; ++s) {
    int sum = 0;
    for (int j = 0; j < kKSub<F>; ++j) sum += q[s * kKSub<F> + j];
    bsum[s] = static_cast<int16_t>(sum);
  }
}

// The q4_k / q5_k / q6_k matmul's arithmetic for one output, in scalar code (see the top of this file).
template <WFormat F, int In>
inline float kquant_dot_ref(const uint8_t* W, int row, const uint8_t* xq) {
  const int8_t* q = reinterpret_cast<const int8_t*>(xq);
  const float* dx = reinterpret_cast<const float*>(xq + In);
  const int16_t* bsum = reinterpret_cast<const int16_t*>(xq + In + In / 256 * 4);
  constexpr int kSub = kKSub<F>, kOffset = F == WFormat::q6_k ? 32 : 0;
  float s = 0.0f;
  for (int b = 0; b < In / 256; ++b) {
    int32_t isum = 0, msum = 0;
    for (int sub = 0; sub < 256 / kSub; ++sub) {
      int32_t dot = 0;
      for (int j = 0; j < kSub; ++j) {
        const int i = b * 256 + sub * kSub + j;
        dot += (kquant_q(F, W, In, row, i) - kOffset) * q[i];
      }
      isum += kquant_scale(F, W, In, row, b * 256, sub) * dot;
      if constexpr (has_kmins(F)) msum += kquant_min(F, W, In, row, b * 256, sub) * bsum[b * 256 / kSub + sub];
    }
    s = std::fma(static_cast<float>(isum), kquant_d(F, W, In, row, b * 256) * dx[b], s);
    if constexpr (has_kmins(F))
      s = std::fma(static_cast<float>(msum), -(kquant_d(F, W, In, row, b * 256, true) * dx[b]), s);
  }
  return s;
}

// bf16_g16 activations of one token: In values rounded to bf16, in column pairs as the weights (an odd
// In padded with a zero), padded to 64 bytes.
template <int In>
inline constexpr size_t kBActBytes = (static_cast<size_t>(In + 1) / 2 * 4 + 63) / 64 * 64;

// vdpbf16ps reads denormal inputs as zero and flushes denormal results to zero (DAZ, FTZ).
inline float flush_denormal(float v) { return std::fpclassify(v) == FP_SUBNORMAL ? std::copysign(0.0f, v) : v; }

// fp32 → bf16 as vcvtneps2bf16: round to nearest even, denormals to zero (signed), NaN kept quiet.
inline uint16_t bf16_round(float v) {
  uint32_t b;
  std::memcpy(&b, &v, 4);
  if (std::isnan(v)) return static_cast<uint16_t>((b >> 16) | 0x40);
  if (std::fpclassify(v) == FP_SUBNORMAL) return static_cast<uint16_t>((b >> 16) & 0x8000);
  return static_cast<uint16_t>((b + 0x7fff + ((b >> 16) & 1)) >> 16);
}

template <int In>
inline void round_acts_bf16_ref(const float* x, uint8_t* out) {
  std::memset(out, 0, kBActBytes<In>);
  for (int i = 0; i < In; ++i) {
    const uint16_t h = bf16_round(x[i]);
    std::memcpy(out + 2 * i, &h, 2);
  }
}

// The bf16_g16 matmul's arithmetic for one output, in scalar code: vdpbf16ps as Intel defines it, which
// AMD Zen 5 (EPYC, CPU family 26) was measured to match bit for bit. Per column pair, s += w·x of the odd
// column, then of the even one, each step one fp32 FMA (a bf16 product is exact) with DAZ and FTZ.
template <int In>
inline float bf16_dot_ref(const uint8_t* W, int row, const uint8_t* xb) {
  const uint8_t* w = W + row / 16 * group_bytes(WFormat::bf16_g16, In) + row % 16 * 4;
  float s = 0.0f;
  for (int p = 0; p < (In + 1) / 2; ++p)
    for (int k : {1, 0}) {
      uint16_t wh, xh;
      std::memcpy(&wh, w + p * 64 + 2 * k, 2);
      std::memcpy(&xh, xb + p * 4 + 2 * k, 2);
      s = flush_denormal(std::fma(flush_denormal(bf16_to_f32(wh)), flush_denormal(bf16_to_f32(xh)), s));
    }
  return s;
}

// The quantised (or bf16) activations of the current call (grown once; matmul is not called concurrently).
inline uint8_t* qact_buffer(size_t bytes) {
  static thread_local AlignedBytes buf;
  static thread_local size_t size = 0;
  if (bytes > size) {
    buf = aligned_bytes(bytes);
    size = bytes;
  }
  return buf.get();
}

#if defined(__AVX2__) && defined(__FMA__) && defined(__F16C__)
#define LLMC_MMQ_SIMD 1

#if defined(__AVX512F__) && defined(__AVX512BW__) && defined(__AVX512VL__)
// A group of 16 rows in one register.
struct QVec {
  static constexpr int kHalves = 1;
  using I = __m512i;
  using F = __m512;
  static I load(const uint8_t* p) { return _mm512_loadu_si512(p); }
  static I bcast(const uint8_t* p) {
    int32_t v;
    std::memcpy(&v, p, 4);
    return _mm512_set1_epi32(v);
  }
  static I set1(int32_t v) { return _mm512_set1_epi32(v); }
  static I low_nibbles(I v) { return _mm512_and_si512(v, _mm512_set1_epi8(0x0f)); }
  static I high_nibbles(I v) { return _mm512_and_si512(_mm512_srli_epi16(v, 4), _mm512_set1_epi8(0x0f)); }
  static I high_nibbles_x16(I v) { return _mm512_and_si512(v, _mm512_set1_epi8(static_cast<char>(0xf0))); }
  static I add(I a, I b) { return _mm512_add_epi32(a, b); }
  static I sub(I a, I b) { return _mm512_sub_epi32(a, b); }
  static I shr4(I a) { return _mm512_srai_epi32(a, 4); }
  // K-quants: bytes masked, 16-bit shifts (callers mask what crosses bytes), or.
  static I mask8(I v, int m) { return _mm512_and_si512(v, _mm512_set1_epi8(static_cast<char>(m))); }
  static I or_(I a, I b) { return _mm512_or_si512(a, b); }
  template <int N>
  static I shl16(I v) { return _mm512_slli_epi16(v, N); }
  template <int N>
  static I shr16(I v) { return _mm512_srli_epi16(v, N); }
  // 16-bit lanes shifted left by n (right by −n); n is a constant once the caller's loop is unrolled.
  static I shift16(I v, int n) {
    return n >= 0 ? _mm512_sll_epi16(v, _mm_cvtsi32_si128(n)) : _mm512_srl_epi16(v, _mm_cvtsi32_si128(-n));
  }
#ifdef __GFNI__
  // q5_k: each byte's bit k at bit 4, the others clear; each byte's high nibble as its value. One
  // vgf2p8affineqb each (a bit matrix per byte: output bit i is the parity of input & row 7 − i). TinyLlama's
  // q5_k matrices from DRAM at 1 thread: 22-24 GB/s, against 18-19 with shifts and masks (bench/kernels,
  // KERNELS_CPU_TIME=1, alternated).
  static I bit_to4(I v, int k) { return _mm512_gf2p8affine_epi64_epi8(v, _mm512_set1_epi64((1ll << k) << 24), 0); }
  static I high4(I v) { return _mm512_gf2p8affine_epi64_epi8(v, _mm512_set1_epi64(0x1020408000000000ll), 0); }
  // q6_k: each byte's bits k, k + 1 at bits 4, 5, the others clear.
  static I bits_to45(I v, int k) {
    return _mm512_gf2p8affine_epi64_epi8(v, _mm512_set1_epi64((1ll << k) << 24 | (2ll << k) << 16), 0);
  }
#else
  static I bit_to4(I v, int k) { return mask8(shift16(v, 4 - k), 0x10); }
  static I high4(I v) { return high_nibbles(v); }
  static I bits_to45(I v, int k) { return mask8(shift16(v, 4 - k), 0x30); }
#endif
  // Each lane's first (second) int16 as int32.
  static I half16(I v, bool second) { return _mm512_srai_epi32(second ? v : _mm512_slli_epi32(v, 16), 16); }
  template <int N>
  static I shl32(I v) { return _mm512_slli_epi32(v, N); }
  // Unsigned bytes w times signed bytes x, adjacent pairs summed to int16 (vpmaddubsw).
  static I maddubs(I w, I x) { return _mm512_maddubs_epi16(w, x); }
  static I add16(I a, I b) { return _mm512_add_epi16(a, b); }
  static I mullo32(I a, I b) { return _mm512_mullo_epi32(a, b); }
  // 16 rows × 2 bytes → each lane the pair as uint16 (the first byte in the low 8 bits).
  static I pairs32(const uint8_t* p) {
    return _mm512_cvtepu16_epi32(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p)));
  }
  static I and32(I v, int32_t m) { return _mm512_and_si512(v, _mm512_set1_epi32(m)); }
  template <int N>
  static I shr32(I v) { return _mm512_srli_epi32(v, N); }
  // acc + Σ over each lane's two int16 of a·b (vpdpwssd).
  static I dot16(I acc, I a, I b) {
#ifdef __AVX512VNNI__
    return _mm512_dpwssd_epi32(acc, a, b);
#else
    return _mm512_add_epi32(acc, _mm512_madd_epi16(a, b));
#endif
  }
  // 16 rows × 2 int8 (a pair of sub-block scales) → each lane the two as int16.
  static I pairs16(const uint8_t* p) {
    return _mm512_cvtepi8_epi16(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p)));
  }
  // Each lane's first (second) int16 in both halves of the lane.
  static I dup16(I v, bool second) {
    const __m128i lo = _mm_setr_epi8(0, 1, 0, 1, 4, 5, 4, 5, 8, 9, 8, 9, 12, 13, 12, 13);
    const __m128i hi = _mm_setr_epi8(2, 3, 2, 3, 6, 7, 6, 7, 10, 11, 10, 11, 14, 15, 14, 15);
    return _mm512_shuffle_epi8(v, _mm512_broadcast_i32x4(second ? hi : lo));
  }
  static F fnma(F a, F b, F c) { return _mm512_fnmadd_ps(a, b, c); }
  // acc + Σ over each 4-byte quadruple of w (unsigned) · x (signed).
  template <WFormat Fm>
  static I dot(I acc, I w, I x) {
#ifdef __AVX512VNNI__
    return _mm512_dpbusd_epi32(acc, w, x);
#else
    const I ones = _mm512_set1_epi16(1);
    if constexpr (Fm == WFormat::q4_0) return _mm512_add_epi32(acc, _mm512_madd_epi16(_mm512_maddubs_epi16(w, x), ones));
    // q + 128 would saturate vpmaddubsw: |q| against x with q's sign (acc then starts at 0, see kUsesOffset).
    const I q = _mm512_xor_si512(w, _mm512_set1_epi8(static_cast<char>(0x80)));
    const I sx = _mm512_mask_sub_epi8(x, _mm512_movepi8_mask(q), _mm512_setzero_si512(), x);
    return _mm512_add_epi32(acc, _mm512_madd_epi16(_mm512_maddubs_epi16(_mm512_abs_epi8(q), sx), ones));
#endif
  }
  static F scales(const uint8_t* p) { return _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p))); }
  // One column of the group (this half's rows) as fp32, from f32 / f16.
  static F col_f32(const uint8_t* p) { return _mm512_loadu_ps(reinterpret_cast<const float*>(p)); }
  static F col_f16(const uint8_t* p) { return scales(p); }
#ifdef __AVX512BF16__
  // Pairs of bf16 per lane: acc + hi·hi, then + lo·lo (vdpbf16ps).
  static constexpr bool kNativeBf16 = true;
  using BPair = I;
  static BPair bf16_pair(I v) { return v; }
  static BPair bf16_acts(const uint8_t* x, int p) { return bcast(x + 4 * p); }  // pair p, packed
  static F dot_bf16(F acc, BPair w, BPair x) { return _mm512_dpbf16_ps(acc, (__m512bh)w, (__m512bh)x); }
#else
  // The same as two fp32 FMAs (denormals handled by MXCSR, see btile).
  static constexpr bool kNativeBf16 = false;
  struct BPair {
    F hi, lo;
  };
  static BPair bf16_pair(I v) {
    return {_mm512_castsi512_ps(_mm512_and_si512(v, _mm512_set1_epi32(static_cast<int32_t>(0xffff0000u)))),
            _mm512_castsi512_ps(_mm512_slli_epi32(v, 16))};
  }
  static BPair bf16_acts(const uint8_t* x, int p) {  // pair p, as fp32
    const float* f = reinterpret_cast<const float*>(x) + 2 * p;
    return {_mm512_set1_ps(f[1]), _mm512_set1_ps(f[0])};
  }
  static F dot_bf16(F acc, BPair w, BPair x) { return fma(w.lo, x.lo, fma(w.hi, x.hi, acc)); }
#endif
  static F fbcast(const float* p) { return _mm512_set1_ps(*p); }
  static F to_float(I v) { return _mm512_cvtepi32_ps(v); }
  static F fset1(float v) { return _mm512_set1_ps(v); }
  static F fzero() { return _mm512_setzero_ps(); }
  static F mul(F a, F b) { return _mm512_mul_ps(a, b); }
  static F fma(F a, F b, F c) { return _mm512_fmadd_ps(a, b, c); }
  // Stores the first n (≤ 16) lanes, plus bias.
  static void store(float* y, F v, const float* bias, int n) {
    const __mmask16 m = n >= 16 ? __mmask16(0xffff) : static_cast<__mmask16>((1u << n) - 1);
    if (bias) v = _mm512_add_ps(v, _mm512_maskz_loadu_ps(m, bias));
    _mm512_mask_storeu_ps(y, m, v);
  }
#ifdef __AVX512VNNI__
  static constexpr bool kVnni = true;
#else
  static constexpr bool kVnni = false;
#endif
};
#else
// A group of 16 rows in two 256-bit halves.
struct QVec {
  static constexpr int kHalves = 2;
  using I = __m256i;
  using F = __m256;
  static I load(const uint8_t* p) { return _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p)); }
  static I bcast(const uint8_t* p) {
    int32_t v;
    std::memcpy(&v, p, 4);
    return _mm256_set1_epi32(v);
  }
  static I set1(int32_t v) { return _mm256_set1_epi32(v); }
  static I low_nibbles(I v) { return _mm256_and_si256(v, _mm256_set1_epi8(0x0f)); }
  static I high_nibbles(I v) { return _mm256_and_si256(_mm256_srli_epi16(v, 4), _mm256_set1_epi8(0x0f)); }
  static I high_nibbles_x16(I v) { return _mm256_and_si256(v, _mm256_set1_epi8(static_cast<char>(0xf0))); }
  static I add(I a, I b) { return _mm256_add_epi32(a, b); }
  static I sub(I a, I b) { return _mm256_sub_epi32(a, b); }
  static I shr4(I a) { return _mm256_srai_epi32(a, 4); }
  static I mask8(I v, int m) { return _mm256_and_si256(v, _mm256_set1_epi8(static_cast<char>(m))); }
  static I or_(I a, I b) { return _mm256_or_si256(a, b); }
  template <int N>
  static I shl16(I v) { return _mm256_slli_epi16(v, N); }
  template <int N>
  static I shr16(I v) { return _mm256_srli_epi16(v, N); }
  static I shift16(I v, int n) {
    return n >= 0 ? _mm256_sll_epi16(v, _mm_cvtsi32_si128(n)) : _mm256_srl_epi16(v, _mm_cvtsi32_si128(-n));
  }
  static I bit_to4(I v, int k) { return mask8(shift16(v, 4 - k), 0x10); }
  static I high4(I v) { return high_nibbles(v); }
  static I bits_to45(I v, int k) { return mask8(shift16(v, 4 - k), 0x30); }
  static I half16(I v, bool second) { return _mm256_srai_epi32(second ? v : _mm256_slli_epi32(v, 16), 16); }
  template <int N>
  static I shl32(I v) { return _mm256_slli_epi32(v, N); }
  static I maddubs(I w, I x) { return _mm256_maddubs_epi16(w, x); }
  static I add16(I a, I b) { return _mm256_add_epi16(a, b); }
  static I mullo32(I a, I b) { return _mm256_mullo_epi32(a, b); }
  static I pairs32(const uint8_t* p) {
    return _mm256_cvtepu16_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)));
  }
  static I and32(I v, int32_t m) { return _mm256_and_si256(v, _mm256_set1_epi32(m)); }
  template <int N>
  static I shr32(I v) { return _mm256_srli_epi32(v, N); }
  static I dot16(I acc, I a, I b) {
#if defined(__AVX512VNNI__) && defined(__AVX512VL__)
    return _mm256_dpwssd_epi32(acc, a, b);
#elif defined(__AVXVNNI__)
    return _mm256_dpwssd_avx_epi32(acc, a, b);
#else
    return _mm256_add_epi32(acc, _mm256_madd_epi16(a, b));
#endif
  }
  static I pairs16(const uint8_t* p) {
    return _mm256_cvtepi8_epi16(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)));
  }
  static I dup16(I v, bool second) {
    const __m128i lo = _mm_setr_epi8(0, 1, 0, 1, 4, 5, 4, 5, 8, 9, 8, 9, 12, 13, 12, 13);
    const __m128i hi = _mm_setr_epi8(2, 3, 2, 3, 6, 7, 6, 7, 10, 11, 10, 11, 14, 15, 14, 15);
    return _mm256_shuffle_epi8(v, _mm256_broadcastsi128_si256(second ? hi : lo));
  }
  static F fnma(F a, F b, F c) { return _mm256_fnmadd_ps(a, b, c); }
  template <WFormat Fm>
  static I dot(I acc, I w, I x) {
#if defined(__AVX512VNNI__) && defined(__AVX512VL__)
    return _mm256_dpbusd_epi32(acc, w, x);
#elif defined(__AVXVNNI__)
    return _mm256_dpbusd_avx_epi32(acc, w, x);
#else
    const I ones = _mm256_set1_epi16(1);
    if constexpr (Fm == WFormat::q4_0) return _mm256_add_epi32(acc, _mm256_madd_epi16(_mm256_maddubs_epi16(w, x), ones));
    const I q = _mm256_xor_si256(w, _mm256_set1_epi8(static_cast<char>(0x80)));
    return _mm256_add_epi32(acc, _mm256_madd_epi16(_mm256_maddubs_epi16(_mm256_abs_epi8(q), _mm256_sign_epi8(x, q)), ones));
#endif
  }
  static F scales(const uint8_t* p) { return _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p))); }
  static F col_f32(const uint8_t* p) { return _mm256_loadu_ps(reinterpret_cast<const float*>(p)); }
  static F col_f16(const uint8_t* p) { return scales(p); }
  // Pairs of bf16 per lane: acc + hi·hi, then + lo·lo, as two fp32 FMAs (denormals: see btile).
  static constexpr bool kNativeBf16 = false;
  struct BPair {
    F hi, lo;
  };
  static BPair bf16_pair(I v) {
    return {_mm256_castsi256_ps(_mm256_and_si256(v, _mm256_set1_epi32(static_cast<int32_t>(0xffff0000u)))),
            _mm256_castsi256_ps(_mm256_slli_epi32(v, 16))};
  }
  static BPair bf16_acts(const uint8_t* x, int p) {  // pair p, as fp32
    const float* f = reinterpret_cast<const float*>(x) + 2 * p;
    return {_mm256_set1_ps(f[1]), _mm256_set1_ps(f[0])};
  }
  static F dot_bf16(F acc, BPair w, BPair x) { return fma(w.lo, x.lo, fma(w.hi, x.hi, acc)); }
  static F fbcast(const float* p) { return _mm256_set1_ps(*p); }
  static F to_float(I v) { return _mm256_cvtepi32_ps(v); }
  static F fset1(float v) { return _mm256_set1_ps(v); }
  static F fzero() { return _mm256_setzero_ps(); }
  static F mul(F a, F b) { return _mm256_mul_ps(a, b); }
  static F fma(F a, F b, F c) { return _mm256_fmadd_ps(a, b, c); }
  static void store(float* y, F v, const float* bias, int n) {
    alignas(32) float lanes[8];
    _mm256_store_ps(lanes, v);
    for (int i = 0; i < n && i < 8; ++i) y[i] = bias ? lanes[i] + bias[i] : lanes[i];  // keeps −0 without bias
  }
#if (defined(__AVX512VNNI__) && defined(__AVX512VL__)) || defined(__AVXVNNI__)
  static constexpr bool kVnni = true;
#else
  static constexpr bool kVnni = false;
#endif
};
#endif

// Whether a block's integer accumulator starts at the activation offset k (zero point of the stored
// weights) or at 0 (the q8_0 fallback multiplies signed values directly).
template <WFormat F>
inline constexpr bool kUsesOffset = QVec::kVnni || F == WFormat::q4_0;

// A tile can prefetch the next tile's bytes (`bytes` at `next`), a share per step of its own loop (bf16
// prefill does: see ggroups). Prefetches never fault, so the last tile's, past the matrix, are harmless.
inline void prefetch_share(const uint8_t* next, size_t bytes, int steps, int step) {
  const size_t share = bytes / static_cast<size_t>(steps);
  for (size_t o = step * share; o < (step + 1) * share; o += 64) _mm_prefetch(reinterpret_cast<const char*>(next + o), _MM_HINT_T0);
}

// Blocks ahead that a prefill tile's first pass prefetches its groups' bytes (see qtile).
inline constexpr int kQuantPrefetchBlocks = 8;

// G groups of 16 rows of one tile (at q, see QuantGroups) × C tokens (token c's activations at x + c·xs),
// whole input. Writes y[c·ys + row] (+ bias[row]) for the first `rows` rows of the tile. A decode tile of a
// whole tile's 8 groups reads its bytes in order, one stream (see the layout in llmc/weights.hpp). A
// prefill tile's groups are a strided part of their tile (G of 8 slices in a row), which the hardware
// prefetchers do not follow: the first of a job's token tiles (`prefetch`) fetches its groups' bytes
// kQuantPrefetchBlocks blocks ahead into L2, where the job's other token tiles find them. Without it,
// DeepSeek-V2-Lite-shaped q8_0 prefill lost 15% to the interleaved tiles.
template <WFormat F, int In, int G, int C>
inline void qtile(const QuantGroups& q, const uint8_t* x, size_t xs, float* y, int ys, const float* bias, int rows,
                  bool prefetch = false) {
  using V = QVec;
  constexpr int H = V::kHalves, kBlocks = In / 32;
  constexpr size_t kHalfBytes = 64 / H;
  typename V::F acc[G][H][C];
#pragma GCC unroll 16
  for (int g = 0; g < G; ++g)
#pragma GCC unroll 16
    for (int h = 0; h < H; ++h)
#pragma GCC unroll 16
      for (int c = 0; c < C; ++c) acc[g][h][c] = V::fzero();
  constexpr int kSlices = static_cast<int>(quant_block_bytes(F) / kQuantSlice);
  for (int b = 0; b < kBlocks; ++b) {
    const uint8_t* wb = q.w + b * q.block;
    if (prefetch) {
      const uint8_t* ahead = wb + kQuantPrefetchBlocks * q.block;
      for (int s = 0; s < kSlices; ++s)
        for (int g = 0; g < G; ++g) _mm_prefetch(reinterpret_cast<const char*>(ahead + s * q.slice + g * 64), _MM_HINT_T1);
      _mm_prefetch(reinterpret_cast<const char*>(q.scales + (b + kQuantPrefetchBlocks) * q.block), _MM_HINT_T1);
    }
    typename V::I sum[G][H][C];
#pragma GCC unroll 16
    for (int c = 0; c < C; ++c) {
      const int32_t k = kUsesOffset<F> ? reinterpret_cast<const int32_t*>(x + c * xs + In + kBlocks * 4)[b] : 0;
#pragma GCC unroll 16
      for (int g = 0; g < G; ++g)
#pragma GCC unroll 16
        for (int h = 0; h < H; ++h) sum[g][h][c] = V::set1(k);
    }
    if constexpr (F == WFormat::q8_0) {
#pragma GCC unroll 16
      for (int s = 0; s < 8; ++s) {
        typename V::I w[G][H];
#pragma GCC unroll 16
        for (int g = 0; g < G; ++g)
#pragma GCC unroll 16
          for (int h = 0; h < H; ++h) w[g][h] = V::load(wb + s * q.slice + g * 64 + h * kHalfBytes);
#pragma GCC unroll 16
        for (int c = 0; c < C; ++c) {
          const typename V::I xb = V::bcast(x + c * xs + b * 32 + s * 4);
#pragma GCC unroll 16
          for (int g = 0; g < G; ++g)
#pragma GCC unroll 16
            for (int h = 0; h < H; ++h) sum[g][h][c] = V::template dot<F>(sum[g][h][c], w[g][h], xb);
        }
      }
    } else if constexpr (G > 1 && C == 1 && V::kVnni) {
      // Decode of several q4_0 groups: the high nibbles stay in place (16·q, one AND, no shift) and sum apart;
      // their sum, exactly 16 times the block's, is shifted back once per block (vpdpbusd does not saturate).
      // TinyLlama q4_0 decode at 1 thread, alternated, medians: 40.1 -> 41.3, 33.2 -> 37.6, 36.7 -> 39.4
      // tok/s (2 threads about even); with one group (stories110M) it was 10% slower.
      typename V::I sumh[G][H];
#pragma GCC unroll 16
      for (int g = 0; g < G; ++g)
#pragma GCC unroll 16
        for (int h = 0; h < H; ++h) sumh[g][h] = V::set1(0);
#pragma GCC unroll 16
      for (int s = 0; s < 4; ++s) {
        const typename V::I xlo = V::bcast(x + b * 32 + s * 4), xhi = V::bcast(x + b * 32 + 16 + s * 4);
#pragma GCC unroll 16
        for (int g = 0; g < G; ++g)
#pragma GCC unroll 16
          for (int h = 0; h < H; ++h) {
            const typename V::I v = V::load(wb + s * q.slice + g * 64 + h * kHalfBytes);
            sum[g][h][0] = V::template dot<F>(sum[g][h][0], V::low_nibbles(v), xlo);
            sumh[g][h] = V::template dot<F>(sumh[g][h], V::high_nibbles_x16(v), xhi);
          }
      }
#pragma GCC unroll 16
      for (int g = 0; g < G; ++g)
#pragma GCC unroll 16
        for (int h = 0; h < H; ++h) sum[g][h][0] = V::add(sum[g][h][0], V::shr4(sumh[g][h]));
    } else {
#pragma GCC unroll 16
      for (int s = 0; s < 4; ++s) {
        typename V::I lo[G][H], hi[G][H];
#pragma GCC unroll 16
        for (int g = 0; g < G; ++g)
#pragma GCC unroll 16
          for (int h = 0; h < H; ++h) {
            const typename V::I v = V::load(wb + s * q.slice + g * 64 + h * kHalfBytes);
            lo[g][h] = V::low_nibbles(v);
            hi[g][h] = V::high_nibbles(v);
          }
#pragma GCC unroll 16
        for (int c = 0; c < C; ++c) {
          const typename V::I xlo = V::bcast(x + c * xs + b * 32 + s * 4);
          const typename V::I xhi = V::bcast(x + c * xs + b * 32 + 16 + s * 4);
#pragma GCC unroll 16
          for (int g = 0; g < G; ++g)
#pragma GCC unroll 16
            for (int h = 0; h < H; ++h) {
              sum[g][h][c] = V::template dot<F>(sum[g][h][c], lo[g][h], xlo);
              sum[g][h][c] = V::template dot<F>(sum[g][h][c], hi[g][h], xhi);
            }
        }
      }
    }
    typename V::F dw[G][H];
#pragma GCC unroll 16
    for (int g = 0; g < G; ++g)
#pragma GCC unroll 16
      for (int h = 0; h < H; ++h) dw[g][h] = V::scales(q.scales + b * q.block + g * 32 + h * (32 / H));
#pragma GCC unroll 16
    for (int c = 0; c < C; ++c) {
      const typename V::F dx = V::fset1(reinterpret_cast<const float*>(x + c * xs + In)[b]);
#pragma GCC unroll 16
      for (int g = 0; g < G; ++g)
#pragma GCC unroll 16
        for (int h = 0; h < H; ++h) acc[g][h][c] = V::fma(V::to_float(sum[g][h][c]), V::mul(dw[g][h], dx), acc[g][h][c]);
    }
  }
  constexpr int kLanes = 16 / H;
#pragma GCC unroll 16
  for (int c = 0; c < C; ++c)
#pragma GCC unroll 16
    for (int g = 0; g < G; ++g)
#pragma GCC unroll 16
      for (int h = 0; h < H; ++h) {
        const int r = g * 16 + h * kLanes;
        if (r < rows) V::store(y + static_cast<size_t>(c) * ys + r, acc[g][h][c], bias ? bias + r : nullptr, rows - r);
      }
}

// The integer sums of one super-block of q4_k or q5_k weights (w: the super-block of one group, this half's
// rows at byte h·kHalf of each slice) against C tokens' q8_K activations (token c's super-block at xb[c]):
// isum = Σ_sub scale·Σ q·x, msum = Σ_sub min·Σ x. q5_k's quants are q4_k's with the fifth bit of each (bit
// 2c of a qh slice byte for the low nibbles of chunk c, bit 2c + 1 for the high ones) moved to bit 4 and
// or-ed in (vgf2p8affineqb with GFNI, else shifts and masks), so a slice is two bytes of quants per lane.
// VNNI: vpdpbusd sums each slice's 4 products per row into int32 (a row's 4 bytes are in one sub-block), as
// q4_0's kernel does, then one vpmulld by the sub-block's scale. q4_k keeps its high nibbles in place (16·q:
// one AND, no shift) and shifts their sums back once per sub-block. Per 64 bytes of q4_k: a load, two ANDs,
// two vpdpbusd (q4_0's work), where vpmaddubsw + vpaddw took six operations.
// Without VNNI: the vpmaddubsw pair sums are summed over a run of slices in int16 while that cannot
// overflow (q4_k: 8 slices, at most 8·2·15·127 = 30480; q5_k: 4, 4·2·31·127 = 31496; q8_K quants are within
// ±127), then scaled once (vpdpwssd): few multiplies of 16-bit sums and short dependency chains (vpaddw: 1
// cycle). The same integers as summing every product scaled.
template <WFormat F, int H, int C>
inline void q45k_block_sums(const uint8_t* w, int h, const uint8_t* const* xb, const int16_t* const* bsum,
                            typename QVec::I* isum, typename QVec::I* msum) {
  using V = QVec;
  constexpr bool kFifthBit = F == WFormat::q5_k;
  constexpr bool kHighInPlace = !kFifthBit && V::kVnni;  // q4_k's high nibbles as 16·q
  constexpr size_t kHalf = 64 / H, kPairs = 32 / H, kScales = kquant_scales_at(F), kMins = kquant_mins_at(F);
#pragma GCC unroll 16
  for (int c = 0; c < C; ++c) isum[c] = msum[c] = V::set1(0);
#pragma GCC unroll 4
  for (int chunk = 0; chunk < 4; ++chunk) {
    // The quants of slice s: sub-block 2·chunk in lo, 2·chunk + 1 in hi.
    auto quants = [&](int s, typename V::I& lo, typename V::I& hi) {
      const typename V::I v = V::load(w + (chunk * 8 + s) * 64 + h * kHalf);
      if constexpr (kFifthBit) {
        const typename V::I qh = V::load(w + kQ5kQh + s * 64 + h * kHalf);
        lo = V::or_(V::mask8(v, 0x0f), V::bit_to4(qh, 2 * chunk));
        hi = V::or_(V::high4(v), V::bit_to4(qh, 2 * chunk + 1));
      } else {
        lo = V::mask8(v, 0x0f);
        hi = kHighInPlace ? V::mask8(v, 0xf0) : V::mask8(V::template shr16<4>(v), 0x0f);
      }
    };
    if constexpr (V::kVnni) {
      typename V::I sum_lo[C], sum_hi[C];  // int32 sums of sub-blocks 2·chunk and 2·chunk + 1
#pragma GCC unroll 16
      for (int c = 0; c < C; ++c) sum_lo[c] = sum_hi[c] = V::set1(0);
#pragma GCC unroll 8
      for (int s = 0; s < 8; ++s) {
        typename V::I lo, hi;
        quants(s, lo, hi);
#pragma GCC unroll 16
        for (int c = 0; c < C; ++c) {
          const uint8_t* x = xb[c] + chunk * 64 + s * 4;
          sum_lo[c] = V::template dot<WFormat::q4_0>(sum_lo[c], lo, V::bcast(x));
          sum_hi[c] = V::template dot<WFormat::q4_0>(sum_hi[c], hi, V::bcast(x + 32));
        }
      }
      const typename V::I pair = V::pairs32(w + kScales + chunk * 32 + h * kPairs);
      const typename V::I scale_lo = V::and32(pair, 0xff), scale_hi = V::template shr32<8>(pair);
#pragma GCC unroll 16
      for (int c = 0; c < C; ++c) {
        const typename V::I hi = kHighInPlace ? V::shr4(sum_hi[c]) : sum_hi[c];
        isum[c] = V::add(isum[c], V::add(V::mullo32(sum_lo[c], scale_lo), V::mullo32(hi, scale_hi)));
      }
    } else {
      constexpr int kRun = kFifthBit ? 4 : 8;  // slices summed in int16 before scaling (see above)
      const typename V::I pair = V::pairs16(w + kScales + chunk * 32 + h * kPairs);
      const typename V::I scale_lo = V::dup16(pair, false), scale_hi = V::dup16(pair, true);
#pragma GCC unroll 2
      for (int run = 0; run < 8 / kRun; ++run) {
        typename V::I sum_lo[C], sum_hi[C];  // int16 sums over the run's slices
#pragma GCC unroll 8
        for (int s = run * kRun; s < run * kRun + kRun; ++s) {
          typename V::I lo, hi;
          quants(s, lo, hi);
#pragma GCC unroll 16
          for (int c = 0; c < C; ++c) {
            const uint8_t* x = xb[c] + chunk * 64 + s * 4;
            const typename V::I plo = V::maddubs(lo, V::bcast(x)), phi = V::maddubs(hi, V::bcast(x + 32));
            sum_lo[c] = s == run * kRun ? plo : V::add16(sum_lo[c], plo);
            sum_hi[c] = s == run * kRun ? phi : V::add16(sum_hi[c], phi);
          }
        }
#pragma GCC unroll 16
        for (int c = 0; c < C; ++c) isum[c] = V::dot16(V::dot16(isum[c], sum_lo[c], scale_lo), sum_hi[c], scale_hi);
      }
    }
  }
#pragma GCC unroll 4
  for (int k = 0; k < 4; ++k) {
    const typename V::I mins = V::pairs16(w + kMins + k * 32 + h * kPairs);
#pragma GCC unroll 16
    for (int c = 0; c < C; ++c)
      msum[c] = V::dot16(msum[c], mins, V::bcast(reinterpret_cast<const uint8_t*>(bsum[c] + 2 * k)));
  }
}

// The same for q6_k: isum = Σ_sub scale·Σ (q − 32)·x, as Σ_sub scale·Σ q·x − 32·Σ_sub scale·Σ x.
// With VNNI, vpdpbusd sums a sub-block (16 values: 4 slices of each quarter p of the half) in int32 and
// one vpmulld scales it; with GFNI, a quant's high bits are moved into place by one vgf2p8affineqb. On
// TinyLlama's matrices from DRAM at 1 thread: 27-31 GB/s against 22-29 for the vpmaddubsw path below
// (bench/kernels matmul q6_k, KERNELS_CPU_TIME=1, alternated, a busy machine). Without VNNI: products
// summed in int16 over two slices (at most 2·2·63·127 = 32004) before scaling, in four chains (one per
// quarter p of the half), as q45k_block_sums does.
template <int H, int C>
inline void q6k_block_sums(const uint8_t* w, int h, const uint8_t* const* xb, const int16_t* const* bsum,
                           typename QVec::I* isum) {
  using V = QVec;
  constexpr size_t kHalf = 64 / H, kPairs = 32 / H;
  typename V::I offset[C], part[C][4];
#pragma GCC unroll 16
  for (int c = 0; c < C; ++c) {
    offset[c] = V::set1(0);
#pragma GCC unroll 4
    for (int p = 0; p < 4; ++p) part[c][p] = V::set1(0);
  }
  if constexpr (V::kVnni) {
#pragma GCC unroll 2
    for (int half = 0; half < 2; ++half)
#pragma GCC unroll 2
      for (int second = 0; second < 2; ++second) {  // slices 0-3: the first scale of each pair, 4-7 the second
        typename V::I sum[C][4];
#pragma GCC unroll 16
        for (int c = 0; c < C; ++c)
#pragma GCC unroll 4
          for (int p = 0; p < 4; ++p) sum[c][p] = V::set1(0);
#pragma GCC unroll 4
        for (int s = 4 * second; s < 4 * second + 4; ++s) {
          const uint8_t* slice = w + (half * 8 + s) * 192 + h * kHalf;
          const typename V::I a = V::load(slice), b = V::load(slice + 64), hb = V::load(slice + 128);
          const typename V::I q[4] = {V::or_(V::mask8(a, 0x0f), V::bits_to45(hb, 0)),
                                      V::or_(V::mask8(b, 0x0f), V::bits_to45(hb, 2)),
                                      V::or_(V::high4(a), V::mask8(hb, 0x30)),
                                      V::or_(V::high4(b), V::bits_to45(hb, 6))};
#pragma GCC unroll 16
          for (int c = 0; c < C; ++c) {
            const uint8_t* x = xb[c] + half * 128 + s * 4;
#pragma GCC unroll 4
            for (int p = 0; p < 4; ++p) sum[c][p] = V::template dot<WFormat::q4_0>(sum[c][p], q[p], V::bcast(x + 32 * p));
          }
        }
#pragma GCC unroll 4
        for (int p = 0; p < 4; ++p) {
          const typename V::I scale = V::half16(V::pairs16(w + kQ6kScales + (4 * half + p) * 32 + h * kPairs), second);
#pragma GCC unroll 16
          for (int c = 0; c < C; ++c) part[c][p] = V::add(part[c][p], V::mullo32(sum[c][p], scale));
        }
      }
  } else
#pragma GCC unroll 2
  for (int half = 0; half < 2; ++half)
#pragma GCC unroll 2
    for (int second = 0; second < 2; ++second) {  // slices 0-3 take the first scale of each pair, 4-7 the second
      typename V::I scale[4];
#pragma GCC unroll 4
      for (int p = 0; p < 4; ++p)
        scale[p] = V::dup16(V::pairs16(w + kQ6kScales + (4 * half + p) * 32 + h * kPairs), second);
#pragma GCC unroll 2
      for (int s = 4 * second; s < 4 * second + 4; s += 2) {
        typename V::I sum[C][4];
#pragma GCC unroll 2
        for (int k = 0; k < 2; ++k) {
          const uint8_t* slice = w + (half * 8 + s + k) * 192 + h * kHalf;
          const typename V::I a = V::load(slice), b = V::load(slice + 64), hb = V::load(slice + 128);
          const typename V::I q[4] = {
              V::or_(V::mask8(a, 0x0f), V::mask8(V::template shl16<4>(hb), 0x30)),
              V::or_(V::mask8(b, 0x0f), V::mask8(V::template shl16<2>(hb), 0x30)),
              V::or_(V::mask8(V::template shr16<4>(a), 0x0f), V::mask8(hb, 0x30)),
              V::or_(V::mask8(V::template shr16<4>(b), 0x0f), V::mask8(V::template shr16<2>(hb), 0x30))};
#pragma GCC unroll 16
          for (int c = 0; c < C; ++c) {
            const uint8_t* x = xb[c] + half * 128 + (s + k) * 4;
#pragma GCC unroll 4
            for (int p = 0; p < 4; ++p) {
              const typename V::I prod = V::maddubs(q[p], V::bcast(x + 32 * p));
              sum[c][p] = k == 0 ? prod : V::add16(sum[c][p], prod);
            }
          }
        }
#pragma GCC unroll 16
        for (int c = 0; c < C; ++c)
#pragma GCC unroll 4
          for (int p = 0; p < 4; ++p) part[c][p] = V::dot16(part[c][p], sum[c][p], scale[p]);
      }
    }
#pragma GCC unroll 8
  for (int k = 0; k < 8; ++k) {
    const typename V::I scales = V::pairs16(w + kQ6kScales + k * 32 + h * kPairs);
#pragma GCC unroll 16
    for (int c = 0; c < C; ++c)
      offset[c] = V::dot16(offset[c], scales, V::bcast(reinterpret_cast<const uint8_t*>(bsum[c] + 2 * k)));
  }
#pragma GCC unroll 16
  for (int c = 0; c < C; ++c)
    isum[c] = V::sub(V::add(V::add(part[c][0], part[c][1]), V::add(part[c][2], part[c][3])), V::template shl32<5>(offset[c]));
}

// One super-block b of one group's half h (w: the group) against C tokens, into acc[c] as kquant_dot_ref:
// fma(isum, d·dx, acc) (q4_k, q5_k: then fnma(msum, dmin·dx, acc)).
template <WFormat F, int In, int H, int C>
inline void kblock(const uint8_t* w, int h, const uint8_t* x, size_t xs, int b, typename QVec::F* acc) {
  using V = QVec;
  constexpr int kBlocks = In / 256, kSub = kKSub<F>;
  const uint8_t* xb[C];
  const int16_t* bsum[C];
  float dx[C];
#pragma GCC unroll 16
  for (int c = 0; c < C; ++c) {
    const uint8_t* xt = x + c * xs;
    xb[c] = xt + b * 256;
    dx[c] = reinterpret_cast<const float*>(xt + In)[b];
    bsum[c] = reinterpret_cast<const int16_t*>(xt + In + kBlocks * 4) + b * (256 / kSub);
  }
  typename V::I isum[C], msum[C];
  if constexpr (has_kmins(F)) q45k_block_sums<F, H, C>(w, h, xb, bsum, isum, msum);
  else q6k_block_sums<H, C>(w, h, xb, bsum, isum);
  const typename V::F d = V::scales(w + kquant_d_at(F) + h * (32 / H));
#pragma GCC unroll 16
  for (int c = 0; c < C; ++c) {
    const typename V::F dxc = V::fset1(dx[c]);
    acc[c] = V::fma(V::to_float(isum[c]), V::mul(d, dxc), acc[c]);
    if constexpr (has_kmins(F)) {
      const typename V::F dmin = V::scales(w + kquant_dmin_at(F) + h * (32 / H));
      acc[c] = V::fnma(V::to_float(msum[c]), V::mul(dmin, dxc), acc[c]);
    }
  }
}

// The tile of qtile for q4_k / q5_k / q6_k weights (kquant_dot_ref's arithmetic).
// Decode (C = 1) reads the tile's groups one after another, each from its first super-block to its last:
// a group holds its super-blocks (scales included) back to back and a tile's groups are adjacent, so a
// thread's reads are one sequential stream, which the hardware prefetchers follow without help. Taking
// the groups in turn within each super-block instead (G streams in 2-3 KB bursts, each prefetching its
// group's next super-block into L2) streamed TinyLlama's matrices from DRAM at 1 thread at 15-18 GB/s
// (q4_k) and 14-18 (q6_k); in order, 19-28 and 19-27 (bench/kernels matmul, KERNELS_CPU_TIME=1, the two
// builds alternated on a busy machine; q4_0 meanwhile 22-23). An L2 prefetch 4 super-blocks ahead on
// top of that was slower (15-21). So decode takes no prefetch hints. Nor do one-group tiles (stories110M's
// 7 KB groups), though q4_0's gain from prefetching the next tile: with it, stories110M's q4_k matrices
// streamed at 19-20 GB/s (768 x 768) and 19-21 (2048 x 768) against 20-25 and 26-28 without (1 thread,
// KERNELS_CPU_TIME=1, alternated, a busy machine).
// Prefill (C > 1) keeps the groups in turn within each super-block: the C tokens' activations of a
// super-block are reused by the G groups.
template <WFormat F, int In, int G, int C>
inline void ktile(const uint8_t* W, size_t gb, const uint8_t* x, size_t xs, float* y, int ys, const float* bias,
                  int rows, const uint8_t* = nullptr, size_t = 0) {
  using V = QVec;
  constexpr int H = V::kHalves, kBlocks = In / 256;
  constexpr size_t kBlockBytes = kquant_block_bytes(F);
  typename V::F acc[G][H][C];
#pragma GCC unroll 16
  for (int g = 0; g < G; ++g)
#pragma GCC unroll 16
    for (int h = 0; h < H; ++h)
#pragma GCC unroll 16
      for (int c = 0; c < C; ++c) acc[g][h][c] = V::fzero();
  if constexpr (C == 1) {
#pragma GCC unroll 1
    for (int g = 0; g < G; ++g)
#pragma GCC unroll 2
      for (int h = 0; h < H; ++h)
#pragma GCC unroll 1
        for (int b = 0; b < kBlocks; ++b) kblock<F, In, H, 1>(W + g * gb + b * kBlockBytes, h, x, xs, b, acc[g][h]);
  } else {
    for (int b = 0; b < kBlocks; ++b)
#pragma GCC unroll 16
      for (int g = 0; g < G; ++g)
#pragma GCC unroll 2
        for (int h = 0; h < H; ++h) kblock<F, In, H, C>(W + g * gb + b * kBlockBytes, h, x, xs, b, acc[g][h]);
  }
  constexpr int kLanes = 16 / H;
#pragma GCC unroll 16
  for (int c = 0; c < C; ++c)
#pragma GCC unroll 16
    for (int g = 0; g < G; ++g)
#pragma GCC unroll 16
      for (int h = 0; h < H; ++h) {
        const int r = g * 16 + h * kLanes;
        if (r < rows) V::store(y + static_cast<size_t>(c) * ys + r, acc[g][h][c], bias ? bias + r : nullptr, rows - r);
      }
}

// The same tile for f32_g16 / f16_g16 weights and fp32 activations (token c at x + c·xs bytes):
// per column, one load (and conversion) per group, one broadcast per token, an FMA per group and token.
template <WFormat F, int In, int G, int C>
inline void ftile(const uint8_t* W, size_t gb, const uint8_t* x, size_t xs, float* y, int ys, const float* bias,
                  int rows, const uint8_t* prefetch = nullptr, size_t prefetch_bytes = 0) {
  using V = QVec;
  constexpr int H = V::kHalves;
  constexpr size_t kCol = 16 * (F == WFormat::f32_g16 ? 4 : 2), kHalf = kCol / H;
  typename V::F acc[G][H][C];
#pragma GCC unroll 16
  for (int g = 0; g < G; ++g)
#pragma GCC unroll 16
    for (int h = 0; h < H; ++h)
#pragma GCC unroll 16
      for (int c = 0; c < C; ++c) acc[g][h][c] = V::fzero();
#pragma GCC unroll 2
  for (int i = 0; i < In; ++i) {
    prefetch_share(prefetch, prefetch_bytes, In, i);
    typename V::F w[G][H];
#pragma GCC unroll 16
    for (int g = 0; g < G; ++g)
#pragma GCC unroll 16
      for (int h = 0; h < H; ++h) {
        const uint8_t* p = W + g * gb + i * kCol + h * kHalf;
        if constexpr (F == WFormat::f32_g16) w[g][h] = V::col_f32(p);
        else w[g][h] = V::col_f16(p);
      }
#pragma GCC unroll 16
    for (int c = 0; c < C; ++c) {
      const typename V::F xb = V::fbcast(reinterpret_cast<const float*>(x + c * xs) + i);
#pragma GCC unroll 16
      for (int g = 0; g < G; ++g)
#pragma GCC unroll 16
        for (int h = 0; h < H; ++h) acc[g][h][c] = V::fma(w[g][h], xb, acc[g][h][c]);
    }
  }
  constexpr int kLanes = 16 / H;
  for (int c = 0; c < C; ++c)
    for (int g = 0; g < G; ++g)
      for (int h = 0; h < H; ++h) {
        const int r = g * 16 + h * kLanes;
        if (r < rows) V::store(y + static_cast<size_t>(c) * ys + r, acc[g][h][c], bias ? bias + r : nullptr, rows - r);
      }
}

// The same tile for bf16_g16 weights and bf16 activations (round_acts_bf16): per column pair, one
// load per group, one broadcast pair per token, a vdpbf16ps (or two FMAs) per group and token. Meanwhile
// it prefetches prefetch_bytes from `prefetch`, spread over the pairs (see ggroups).
template <int In, int G, int C>
inline void btile(const uint8_t* W, size_t gb, const uint8_t* x, size_t xs, float* y, int ys, const float* bias,
                  int rows, const uint8_t* prefetch = nullptr, size_t prefetch_bytes = 0) {
  using V = QVec;
  constexpr int H = V::kHalves, kPairs = (In + 1) / 2;
  constexpr size_t kHalf = 64 / H;
  typename V::F acc[G][H][C];
#pragma GCC unroll 16
  for (int g = 0; g < G; ++g)
#pragma GCC unroll 16
    for (int h = 0; h < H; ++h)
#pragma GCC unroll 16
      for (int c = 0; c < C; ++c) acc[g][h][c] = V::fzero();
  // The FMAs standing in for vdpbf16ps need its DAZ and FTZ (MXCSR bits 6 and 15), not the bias add.
  const unsigned mxcsr = V::kNativeBf16 ? 0 : _mm_getcsr();
  if constexpr (!V::kNativeBf16) _mm_setcsr(mxcsr | 0x8040);
#pragma GCC unroll 2
  for (int p = 0; p < kPairs; ++p) {
    prefetch_share(prefetch, prefetch_bytes, kPairs, p);
    typename V::BPair w[G][H];
#pragma GCC unroll 16
    for (int g = 0; g < G; ++g)
#pragma GCC unroll 16
      for (int h = 0; h < H; ++h) w[g][h] = V::bf16_pair(V::load(W + g * gb + p * 64 + h * kHalf));
#pragma GCC unroll 16
    for (int c = 0; c < C; ++c) {
      const typename V::BPair xb = V::bf16_acts(x + c * xs, p);
#pragma GCC unroll 16
      for (int g = 0; g < G; ++g)
#pragma GCC unroll 16
        for (int h = 0; h < H; ++h) acc[g][h][c] = V::dot_bf16(acc[g][h][c], w[g][h], xb);
    }
  }
  if constexpr (!V::kNativeBf16) _mm_setcsr(mxcsr);
  constexpr int kLanes = 16 / H;
  for (int c = 0; c < C; ++c)
    for (int g = 0; g < G; ++g)
      for (int h = 0; h < H; ++h) {
        const int r = g * 16 + h * kLanes;
        if (r < rows) V::store(y + static_cast<size_t>(c) * ys + r, acc[g][h][c], bias ? bias + r : nullptr, rows - r);
      }
}

// Where a tile finds its groups' bytes: for q8_0 / q4_0 those of one tile of the matrix (QuantGroups), for
// the other formats the first group and the bytes from one group to the next.
struct GroupRun {
  const uint8_t* w;
  size_t gb;
};
template <WFormat F>
using TileWeights = std::conditional_t<is_quantised(F), QuantGroups, GroupRun>;
// Group g0 on of matrix W (`groups` groups of In columns).
template <WFormat F, int In>
inline TileWeights<F> tile_weights(const uint8_t* W, int groups, int g0) {
  if constexpr (is_quantised(F)) return quant_groups(F, W, In, static_cast<size_t>(groups), static_cast<size_t>(g0));
  else return {W + static_cast<size_t>(g0) * group_bytes(F, In), group_bytes(F, In)};
}

// first: the first token tile of a job (see qtile).
template <WFormat F, int In, int G, int C>
inline void gtile(const TileWeights<F>& w, const uint8_t* x, size_t xs, float* y, int ys, const float* bias, int rows,
                  bool first = false) {
  if constexpr (is_quantised(F)) qtile<F, In, G, C>(w, x, xs, y, ys, bias, rows, first && C > 1);
  else if constexpr (is_kquant(F)) ktile<F, In, G, C>(w.w, w.gb, x, xs, y, ys, bias, rows);
  else if constexpr (F == WFormat::bf16_g16) btile<In, G, C>(w.w, w.gb, x, xs, y, ys, bias, rows);
  else ftile<F, In, G, C>(w.w, w.gb, x, xs, y, ys, bias, rows);
}

// Tile shapes (groups of 16 rows × tokens) for rows of In inputs, within the register file: 32 vector
// registers with AVX-512.
template <WFormat F, int In>
struct GroupTiles {
  static constexpr bool kInt = is_quantised(F) || is_kquant(F);  // integer kernels on quantised activations
#ifdef __AVX512F__
  // Float formats: 3 × 8 measured fastest on Zen 5 (bf16 with vdpbf16ps: 2 × 8 … 6 × 4 tried; f16 and f32:
  // 2 × 8, 2 × 12, 3 × 9, 4 × 6 tried, 3 × 8 about 4-8% ahead of 2 × 8).
  // Decode: the float formats need 4 groups, 4 FMA chains, to hide the FMA latency. f16 takes 8: its column
  // is half a cache line, and with 8 streams it has as many lines in flight as bf16 and f32 with 4 (in the
  // model, alternated: stories110M 105 -> 126 tok/s at 1 thread, TinyLlama 11.8 -> 14.9; bf16 and f32 lost
  // 2% and 7% with 8). q8_0 and q4_0 take a whole tile of 8 interleaved groups, one sequential stream (see
  // llmc/weights.hpp). K-quant groups of 12 KB or more also take 8: 8 streams long enough for the hardware
  // prefetchers; shorter ones go one group at a time.
  static constexpr bool kLongQuantGroups = kInt && group_bytes(F, In) >= 12 * 1024;
  static constexpr int decode = is_quantised(F) || kLongQuantGroups || F == WFormat::f16_g16 ? 8 : kInt ? 1 : 4;
  static constexpr int prefill = kInt ? 2 : 3, tokens = kInt ? 4 : 8;
#else
  static constexpr int decode = kInt ? 1 : 2, prefill = 1, tokens = kInt ? 2 : 4;
#endif
  static_assert(!is_quantised(F) || (kQuantTileGroups % decode == 0 && kQuantTileGroups % prefill == 0),
                "a q8_0 / q4_0 job's groups lie in one tile");
  // Groups per job of a matmul over T tokens.
  static constexpr int job_groups(int T) { return T == 1 ? decode : prefill; }
};

// The last `left` (< C) tokens of a group block, with a tile of exactly that width.
template <WFormat F, int In, int G, int C>
inline void gtail(const TileWeights<F>& w, const uint8_t* x, size_t xs, float* y, int ys, const float* bias, int rows,
                  int left) {
  if constexpr (C > 1) {
    if (left == C - 1) gtile<F, In, G, C - 1>(w, x, xs, y, ys, bias, rows);
    else gtail<F, In, G, C - 1>(w, x, xs, y, ys, bias, rows, left);
  }
}

// Groups [g0, g0 + G) of matrix W against all T tokens; `rows` rows from group g0 on.
template <WFormat F, int In, int G, int C>
inline void ggroups(const uint8_t* W, int g0, const uint8_t* x, size_t xs, float* y, int ys, const float* bias, int rows,
                    int T) {
  const TileWeights<F> w = tile_weights<F, In>(W, g0 + (rows + 15) / 16, g0);
  const int r0 = g0 * 16;
  const float* b = bias ? bias + r0 : nullptr;
  int t = 0;
  if constexpr (F == WFormat::bf16_g16) {
    // vdpbf16ps outpaces memory on the first token tile: each tile also prefetches its share of the next
    // block (usually this thread's next job) while this block's weights are reused from cache.
    const int tiles = T / C;
    const bool next = tiles > 0 && (rows + 15) / 16 >= 2 * G;
    const size_t share = next ? G * w.gb / tiles : 0;
    for (int k = 0; t + C <= T; t += C, ++k)
      btile<In, G, C>(w.w, w.gb, x + t * xs, xs, y + static_cast<size_t>(t) * ys + r0, ys, b, rows,
                      next ? w.w + G * w.gb + k * share : nullptr, share);
  }
  for (; t + C <= T; t += C) gtile<F, In, G, C>(w, x + t * xs, xs, y + static_cast<size_t>(t) * ys + r0, ys, b, rows, t == 0);
  if (t < T) gtail<F, In, G, C>(w, x + t * xs, xs, y + static_cast<size_t>(t) * ys + r0, ys, b, rows, T - t);
}

// quantize_acts_ref, vectorised (the same bytes).
template <WFormat F, int In>
inline void quantize_acts(const float* x, uint8_t* out) {
  constexpr int kOffset = F == WFormat::q8_0 ? 128 : 8;
  float* d = reinterpret_cast<float*>(out + In);
  int32_t* k = reinterpret_cast<int32_t*>(out + In + In / 32 * 4);
  const __m256 sign = _mm256_set1_ps(-0.0f);
  for (int b = 0; b < In / 32; ++b) {
    __m256 v[4];
    for (int j = 0; j < 4; ++j) v[j] = _mm256_loadu_ps(x + b * 32 + j * 8);
    const __m256 m = _mm256_max_ps(_mm256_max_ps(_mm256_andnot_ps(sign, v[0]), _mm256_andnot_ps(sign, v[1])),
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
    // int32 → int8 (within ±127): pack with saturation, then undo the lane interleave of the packs.
    const __m256i p8 = _mm256_packs_epi16(_mm256_packs_epi32(i[0], i[1]), _mm256_packs_epi32(i[2], i[3]));
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(out + b * 32),
                        _mm256_permutevar8x32_epi32(p8, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7)));
  }
}

// quantize_acts_k_ref, vectorised (the same bytes). Per super-block: the greatest magnitude, then the first
// value that has it (its sign sets the scale's), then the quants as the reference rounds them: x·iscale
// rounded to nearest even (ggml's nearest_int, for |v| ≤ 127), at most 127; then the sub-block sums.
template <WFormat F, int In>
inline void quantize_acts_k(const float* x, uint8_t* out) {
  float* d = reinterpret_cast<float*>(out + In);
  int16_t* bsum = reinterpret_cast<int16_t*>(out + In + In / 256 * 4);
  const __m256 sign = _mm256_set1_ps(-0.0f);
  for (int b = 0; b < In / 256; ++b) {
    const float* xb = x + b * 256;
    __m256 m = _mm256_setzero_ps();
    for (int j = 0; j < 256; j += 8) m = _mm256_max_ps(_mm256_andnot_ps(sign, _mm256_loadu_ps(xb + j)), m);  // NaN skipped
    __m128 h = _mm_max_ps(_mm256_castps256_ps128(m), _mm256_extractf128_ps(m, 1));
    h = _mm_max_ps(h, _mm_movehl_ps(h, h));
    h = _mm_max_ss(h, _mm_movehdup_ps(h));
    const float amax = _mm_cvtss_f32(h);
    int8_t* q = reinterpret_cast<int8_t*>(out + b * 256);
    if (!(amax > 0.0f)) {  // all zero (or NaN): as the reference
      std::memset(q, 0, 256);
      d[b] = 0.0f;
      continue;
    }
    float max = 0.0f;
    const __m256 am = _mm256_set1_ps(amax);
    for (int j = 0; j < 256; j += 8) {
      const int hit = _mm256_movemask_ps(_mm256_cmp_ps(_mm256_andnot_ps(sign, _mm256_loadu_ps(xb + j)), am, _CMP_EQ_OQ));
      if (hit) {
        max = xb[j + __builtin_ctz(static_cast<unsigned>(hit))];
        break;
      }
    }
    const float iscale = -127.0f / max;
    d[b] = 1.0f / iscale;
    const __m256 is = _mm256_set1_ps(iscale);
    const __m256i top = _mm256_set1_epi32(127);
    for (int j = 0; j < 256; j += 32) {
      __m256i i[4];
      for (int k = 0; k < 4; ++k)
        i[k] = _mm256_min_epi32(top, _mm256_cvtps_epi32(_mm256_mul_ps(is, _mm256_loadu_ps(xb + j + 8 * k))));
      const __m256i p8 = _mm256_packs_epi16(_mm256_packs_epi32(i[0], i[1]), _mm256_packs_epi32(i[2], i[3]));
      _mm256_storeu_si256(reinterpret_cast<__m256i*>(q + j),
                          _mm256_permutevar8x32_epi32(p8, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7)));
    }
  }
  // Sums of kKSub<F> quants, in int16 (|sum| ≤ 32·127).
  for (int s = 0; s < In / kKSub<F>; ++s) {
    const __m256i w = _mm256_cvtepi8_epi16(_mm_loadu_si128(reinterpret_cast<const __m128i*>(out + s * kKSub<F>)));
    __m256i t = kKSub<F> == 32 ? _mm256_add_epi16(w, _mm256_cvtepi8_epi16(_mm_loadu_si128(
                                                         reinterpret_cast<const __m128i*>(out + s * kKSub<F> + 16))))
                               : w;
    __m128i u = _mm_add_epi16(_mm256_castsi256_si128(t), _mm256_extracti128_si256(t, 1));
    u = _mm_add_epi16(u, _mm_shuffle_epi32(u, 0x4e));
    u = _mm_add_epi16(u, _mm_shuffle_epi32(u, 0xb1));
    u = _mm_add_epi16(u, _mm_shufflelo_epi16(u, 0xb1));
    bsum[s] = static_cast<int16_t>(_mm_cvtsi128_si32(u));
  }
}

// What btile reads per token: round_acts_bf16_ref's bf16 pairs for vdpbf16ps, else the same values as fp32
// (broadcast straight into the FMAs), twice the bytes.
template <int In>
inline constexpr size_t kBActSimdBytes = QVec::kNativeBf16 ? kBActBytes<In> : 2 * kBActBytes<In>;

// round_acts_bf16_ref, vectorised: the same bytes, or (kBActSimdBytes) the same values as fp32.
template <int In>
inline void round_acts_bf16(const float* x, uint8_t* out) {
  const __m256i one = _mm256_set1_epi32(1), half = _mm256_set1_epi32(0x7fff), abs_mask = _mm256_set1_epi32(0x7fffffff);
  const __m256i inf = _mm256_set1_epi32(0x7f800000), min_normal = _mm256_set1_epi32(0x00800000);
  // Each lane's bf16 in its low 16 bits.
  auto round8 = [&](const float* p) {
    const __m256i b = _mm256_castps_si256(_mm256_loadu_ps(p)), a = _mm256_and_si256(b, abs_mask);
    const __m256i even = _mm256_srli_epi32(_mm256_add_epi32(b, _mm256_add_epi32(half, _mm256_and_si256(_mm256_srli_epi32(b, 16), one))), 16);
    const __m256i nan = _mm256_or_si256(_mm256_srli_epi32(b, 16), _mm256_set1_epi32(0x40));
    const __m256i zero = _mm256_srli_epi32(_mm256_andnot_si256(abs_mask, b), 16);
    const __m256i r = _mm256_blendv_epi8(even, nan, _mm256_cmpgt_epi32(a, inf));
    return _mm256_blendv_epi8(r, zero, _mm256_cmpgt_epi32(min_normal, a));
  };
  constexpr int kWhole = In / 16 * 16;
  constexpr size_t kSize = QVec::kNativeBf16 ? 2 : 4;
  for (int i = 0; i < kWhole; i += 16) {
    const __m256i a = round8(x + i), b = round8(x + i + 8);
    if constexpr (QVec::kNativeBf16) {  // pack 2 × 8 lanes to 16 bits (within 128-bit lanes), then reorder
      const __m256i p = _mm256_packus_epi32(a, b);
      _mm256_storeu_si256(reinterpret_cast<__m256i*>(out + 2 * i), _mm256_permute4x64_epi64(p, 0xd8));
    } else {
      _mm256_storeu_si256(reinterpret_cast<__m256i*>(out + 4 * i), _mm256_slli_epi32(a, 16));
      _mm256_storeu_si256(reinterpret_cast<__m256i*>(out + 4 * i + 32), _mm256_slli_epi32(b, 16));
    }
  }
  for (int i = kWhole; i < In; ++i) {
    const uint32_t h = bf16_round(x[i]);
    const uint32_t v = QVec::kNativeBf16 ? h : h << 16;
    std::memcpy(out + kSize * i, &v, kSize);  // little-endian: the low half for the packed bf16
  }
  std::memset(out + kSize * In, 0, kBActSimdBytes<In> - kSize * static_cast<size_t>(In));
}
#endif  // LLMC_MMQ_SIMD

// The activations as format F's kernels read them: fp32 as given, or quantised (q8_0 / q4_0; q8_K for
// q4_k / q6_k) or rounded (bf16) per token into the call's buffer. Sets xs, the bytes per token.
template <WFormat F, int In>
inline const uint8_t* prepare_acts(const float* xf, int T, size_t& xs) {
  xs = static_cast<size_t>(In) * sizeof(float);
  if constexpr (is_quantised(F)) {
    static_assert(In % 32 == 0, "q8_0 / q4_0 rows must be whole blocks of 32");
    xs = kQActBytes<In>;
    uint8_t* q = qact_buffer(xs * static_cast<size_t>(T));
    for (int t = 0; t < T; ++t) {
#ifdef LLMC_MMQ_SIMD
      quantize_acts<F, In>(xf + static_cast<size_t>(t) * In, q + t * xs);
#else
      quantize_acts_ref<F, In>(xf + static_cast<size_t>(t) * In, q + t * xs);
#endif
    }
    return q;
  } else if constexpr (is_kquant(F)) {
    static_assert(In % 256 == 0, "q4_k / q5_k / q6_k rows must be whole super-blocks of 256");
    xs = kKActBytes<F, In>;
    uint8_t* q = qact_buffer(xs * static_cast<size_t>(T));
    parallel_for(T, static_cast<int64_t>(T) * In * 4, [&](int begin, int end) {  // a prompt's tokens in parallel
      for (int t = begin; t < end; ++t) {
#ifdef LLMC_MMQ_SIMD
        quantize_acts_k<F, In>(xf + static_cast<size_t>(t) * In, q + t * xs);
#else
        quantize_acts_k_ref<F, In>(xf + static_cast<size_t>(t) * In, q + t * xs);
#endif
      }
    });
    return q;
  } else if constexpr (F == WFormat::bf16_g16) {
#ifdef LLMC_MMQ_SIMD
    xs = kBActSimdBytes<In>;
#else
    xs = kBActBytes<In>;
#endif
    uint8_t* b = qact_buffer(xs * static_cast<size_t>(T));
    parallel_for(T, static_cast<int64_t>(T) * In, [&](int begin, int end) {  // a prompt's tokens in parallel
      for (int t = begin; t < end; ++t) {
#ifdef LLMC_MMQ_SIMD
        round_acts_bf16<In>(xf + static_cast<size_t>(t) * In, b + t * xs);
#else
        round_acts_bf16_ref<In>(xf + static_cast<size_t>(t) * In, b + t * xs);
#endif
      }
    });
    return b;
  }
  return reinterpret_cast<const uint8_t*>(xf);
}

// One matrix of a matmul step: y[t·ys + o] = W[o]·x[t] (+ bias[o]) for o < rows, W grouped in format F.
struct GroupedProduct {
  float* y;
  int ys;
  const uint8_t* W;
  const float* bias;
  int rows;
};

#ifndef LLMC_MMQ_SIMD
// One product in scalar code, the arithmetic of the SIMD kernels (x, xs: prepare_acts' activations).
template <WFormat F, int In>
inline void scalar_product(const GroupedProduct& p, const uint8_t* x, size_t xs, int T) {
  parallel_for(p.rows, static_cast<int64_t>(p.rows) * In * T, [&](int begin, int end) {
    for (int o = begin; o < end; ++o)
      for (int t = 0; t < T; ++t) {
        const uint8_t* xt = x + t * xs;
        float s;
        if constexpr (is_quantised(F)) {
          s = quant_dot_ref<F, In>(p.W, p.rows, o, xt);
        } else if constexpr (is_kquant(F)) {
          s = kquant_dot_ref<F, In>(p.W, o, xt);
        } else if constexpr (F == WFormat::bf16_g16) {
          s = bf16_dot_ref<In>(p.W, o, xt);
        } else {
          s = 0.0f;
          const float* xv = reinterpret_cast<const float*>(xt);
          for (int i = 0; i < In; ++i) s = std::fma(matrix_value(F, p.W, p.rows, In, o, i), xv[i], s);
        }
        p.y[static_cast<size_t>(t) * p.ys + o] = p.bias ? s + p.bias[o] : s;  // keeps −0 without bias, as SIMD
      }
  });
}
#endif

#ifdef LLMC_MMQ_SIMD
// A product's work is cut in jobs of G groups of 16 rows (G per GroupTiles).
template <WFormat F, int In>
inline int grouped_jobs(int rows, int T) {
  const int G = GroupTiles<F, In>::job_groups(T);
  return ((rows + 15) / 16 + G - 1) / G;
}

template <WFormat F, int In>
inline void grouped_job(const GroupedProduct& m, int job, const uint8_t* x, size_t xs, int T) {
  using Tiles = GroupTiles<F, In>;
  const int groups = (m.rows + 15) / 16, g0 = job * Tiles::job_groups(T), rows = m.rows - g0 * 16;
  if (T == 1 && g0 + Tiles::decode <= groups) {
    gtile<F, In, Tiles::decode, 1>(tile_weights<F, In>(m.W, groups, g0), x, xs, m.y + g0 * 16, m.ys,
                                   m.bias ? m.bias + g0 * 16 : nullptr, rows);
  } else if (T > 1 && g0 + Tiles::prefill <= groups) {
    ggroups<F, In, Tiles::prefill, Tiles::tokens>(m.W, g0, x, xs, m.y, m.ys, m.bias, rows, T);
  } else {
    for (int g = g0; g < groups; ++g) ggroups<F, In, 1, Tiles::tokens>(m.W, g, x, xs, m.y, m.ys, m.bias, m.rows - g * 16, T);
  }
}
#endif

// The most matrices grouped_products takes at once.
inline constexpr int kMaxGroupedProducts = 4;

// The products of n (≤ kMaxGroupedProducts) matrices with the same input x (q, k and v; gate and up) in
// one parallel step: the activations are prepared once and the threads share out the jobs of all n. Each
// output is computed as by a matmul of its own.
template <WFormat F, int In>
inline void grouped_products(const float* xf, int T, const GroupedProduct* m, int n) {
  size_t xs = 0;
  const uint8_t* x = prepare_acts<F, In>(xf, T, xs);
#ifdef LLMC_MMQ_SIMD
  int64_t work = 0;
  int first[kMaxGroupedProducts + 1] = {0};  // product i's jobs are [first[i], first[i + 1])
  for (int i = 0; i < n; ++i) {
    work += static_cast<int64_t>(m[i].rows) * In * T;
    first[i + 1] = first[i] + grouped_jobs<F, In>(m[i].rows, T);
  }
  parallel_for(first[n], work, [&](int begin, int end) {
    int i = 0;
    for (int job = begin; job < end; ++job) {
      while (job >= first[i + 1]) ++i;
      grouped_job<F, In>(m[i], job - first[i], x, xs, T);
    }
  });
#else
  for (int k = 0; k < n; ++k) scalar_product<F, In>(m[k], x, xs, T);
#endif
}

// Per-head products, Heads matrices of Out × In each with an input of its own: y[t·ys + h·y_head + o] =
// W_h[o]·x[t·Heads + h] for t < T, W holding the heads' matrices one after another (matrix_stride(F, Out, In)
// bytes apart), x [T][Heads][In]. One parallel step for all heads.
template <WFormat F, int Out, int In>
inline void head_products(float* y, int y_head, int ys, const float* xf, const uint8_t* W, int heads, int T) {
  size_t xs = 0;
  const uint8_t* x = prepare_acts<F, In>(xf, T * heads, xs);
  const size_t head_bytes = matrix_stride(F, Out, In);
  auto product = [&](int h) { return GroupedProduct{y + static_cast<size_t>(h) * y_head, ys, W + h * head_bytes, nullptr, Out}; };
#ifdef LLMC_MMQ_SIMD
  const int jobs = grouped_jobs<F, In>(Out, T);
  parallel_for(heads * jobs, static_cast<int64_t>(heads) * Out * In * T, [&](int begin, int end) {
    for (int job = begin; job < end; ++job)
      grouped_job<F, In>(product(job / jobs), job % jobs, x + (job / jobs) * xs, xs * heads, T);
  });
#else
  for (int h = 0; h < heads; ++h) scalar_product<F, In>(product(h), x + h * xs, xs * heads, T);
#endif
}

// y[t][o] = W·x[t] (+ bias) with W grouped (quantised or not, llmc/weights.hpp).
template <WFormat F, int Out, int In>
inline void matmul_grouped(float* y, int ys, const float* xf, const void* W, const float* bias, int T) {
  const GroupedProduct m{y, ys, static_cast<const uint8_t*>(W), bias, Out};
  grouped_products<F, In>(xf, T, &m, 1);
}

}  // namespace mm
}  // namespace llmc
