// GGUF tensor types (ggml's type ids) and their block layouts: names, values and bytes per block, and the
// dequantisation of each type llmc reads, value for value as ggml's reference dequantize_row_* computes it
// (the same fp32 operations in the same order, each product and sum rounded to fp32: no fused multiply-add).
// Written from the GGUF format description and ggml-quants.c's numerics; no model knowledge.
#pragma once
#include <cstddef>
#include <cstdint>
#include <algorithm>
#include <cmath>
#include <cstring>

#include "llmc/half.hpp"

namespace llmc {

// ggml_type ids as GGUF files store them.
enum class GgmlType : uint32_t {
  f32 = 0, f16 = 1, q4_0 = 2, q4_1 = 3, q5_0 = 6, q5_1 = 7, q8_0 = 8, q8_1 = 9, q2_k = 10, q3_k = 11,
  q4_k = 12, q5_k = 13, q6_k = 14, q8_k = 15, iq2_xxs = 16, iq2_xs = 17, iq3_xxs = 18, iq1_s = 19,
  iq4_nl = 20, iq3_s = 21, iq2_s = 22, iq4_xs = 23, i8 = 24, i16 = 25, i32 = 26, i64 = 27, f64 = 28,
  iq1_m = 29, bf16 = 30, tq1_0 = 34, tq2_0 = 35, mxfp4 = 39, nvfp4 = 40, q1_0 = 41,
};

struct GgmlTypeInfo {
  const char* name;      // as ggml names it (error messages)
  uint32_t block_values;  // values per block (1 for plain types)
  uint32_t block_bytes;   // bytes per block
  bool readable;          // llmc dequantises it
};

// The type with id t, or nullptr for an id ggml does not define. Types llmc cannot read are listed only to
// be named in errors (no sizes).
inline const GgmlTypeInfo* ggml_type_info(uint32_t t) {
  static const GgmlTypeInfo kTypes[] = {
      {"F32", 1, 4, true},       {"F16", 1, 2, true},         {"Q4_0", 32, 18, true},   {"Q4_1", 32, 20, true},
      {nullptr, 0, 0, false},    {nullptr, 0, 0, false},      {"Q5_0", 32, 22, true},   {"Q5_1", 32, 24, true},
      {"Q8_0", 32, 34, true},    {"Q8_1", 0, 0, false},     {"Q2_K", 256, 84, true},  {"Q3_K", 256, 110, true},
      {"Q4_K", 256, 144, true},  {"Q5_K", 256, 176, true},    {"Q6_K", 256, 210, true}, {"Q8_K", 0, 0, false},
      {"IQ2_XXS", 0, 0, false}, {"IQ2_XS", 0, 0, false}, {"IQ3_XXS", 0, 0, false},
      {"IQ1_S", 0, 0, false}, {"IQ4_NL", 32, 18, true},    {"IQ3_S", 0, 0, false}, {"IQ2_S", 0, 0, false},
      {"IQ4_XS", 0, 0, false}, {"I8", 0, 0, false},       {"I16", 0, 0, false},     {"I32", 0, 0, false},
      {"I64", 0, 0, false},      {"F64", 0, 0, false},        {"IQ1_M", 0, 0, false}, {"BF16", 1, 2, true},
      {nullptr, 0, 0, false},    {nullptr, 0, 0, false},      {nullptr, 0, 0, false},   {"TQ1_0", 0, 0, false},
      {"TQ2_0", 0, 0, false}, {nullptr, 0, 0, false},      {nullptr, 0, 0, false},   {nullptr, 0, 0, false},
      {"MXFP4", 0, 0, false},  {"NVFP4", 0, 0, false},    {"Q1_0", 0, 0, false},
  };
  if (t >= sizeof kTypes / sizeof kTypes[0] || !kTypes[t].name) return nullptr;
  return &kTypes[t];
}

namespace ggml_detail {

// v rounded to fp32 where it stands: keeps the compiler from fusing it with a following add or subtract
// into one FMA (C++ allows contraction; ggml's reference rounds the product).
inline float rounded(float v) {
#if defined(__x86_64__) || defined(__i386__)
  __asm__("" : "+x"(v));
  return v;
#else
  volatile float r = v;
  return r;
#endif
}

inline float half(const uint8_t* p) {
  uint16_t h;
  std::memcpy(&h, p, 2);
  return f16_to_f32(h);
}

// The 6-bit scale and min of sub-block j (0..7) packed in the 12 scale bytes of Q4_K / Q5_K.
inline void k4_scale_min(int j, const uint8_t* s, int& scale, int& min) {
  if (j < 4) {
    scale = s[j] & 63;
    min = s[j + 4] & 63;
  } else {
    scale = (s[j + 4] & 0x0f) | ((s[j - 4] >> 6) << 4);
    min = (s[j + 4] >> 4) | ((s[j] >> 6) << 4);
  }
}

// The 16 signed 6-bit scales of a Q3_K block from its 12 packed bytes: low 4 bits of scale i in byte i % 8
// (low nibble for i < 8, high nibble after), high 2 bits in byte 8 + i % 4 at bit 2·(i / 4).
inline void q3k_scales(const uint8_t* s, int* out) {
  for (int i = 0; i < 16; ++i) {
    const int low = i < 8 ? s[i] & 0x0f : s[i - 8] >> 4;
    const int high = (s[8 + i % 4] >> (2 * (i / 4))) & 3;
    out[i] = (low | (high << 4)) - 32;
  }
}

inline constexpr int8_t kIq4nlValues[16] = {-127, -104, -83, -65, -49, -35, -22, -10, 1, 13, 25, 38, 53, 69, 89, 113};

// One block of each type → its block_values floats.
inline void q4_0(const uint8_t* b, float* y) {
  const float d = half(b);
  for (int j = 0; j < 16; ++j) {
    y[j] = static_cast<float>((b[2 + j] & 0x0f) - 8) * d;
    y[j + 16] = static_cast<float>((b[2 + j] >> 4) - 8) * d;
  }
}
inline void q4_1(const uint8_t* b, float* y) {
  const float d = half(b), m = half(b + 2);
  for (int j = 0; j < 16; ++j) {
    y[j] = rounded(static_cast<float>(b[4 + j] & 0x0f) * d) + m;
    y[j + 16] = rounded(static_cast<float>(b[4 + j] >> 4) * d) + m;
  }
}
// Q5_0 / Q5_1: the fifth bit of value j in bit j of the 32-bit qh.
inline void q5_0(const uint8_t* b, float* y) {
  const float d = half(b);
  uint32_t qh;
  std::memcpy(&qh, b + 2, 4);
  for (int j = 0; j < 16; ++j) {
    const int lo = (b[6 + j] & 0x0f) | (((qh >> j) & 1) << 4), hi = (b[6 + j] >> 4) | (((qh >> (j + 16)) & 1) << 4);
    y[j] = static_cast<float>(lo - 16) * d;
    y[j + 16] = static_cast<float>(hi - 16) * d;
  }
}
inline void q5_1(const uint8_t* b, float* y) {
  const float d = half(b), m = half(b + 2);
  uint32_t qh;
  std::memcpy(&qh, b + 4, 4);
  for (int j = 0; j < 16; ++j) {
    const int lo = (b[8 + j] & 0x0f) | (((qh >> j) & 1) << 4), hi = (b[8 + j] >> 4) | (((qh >> (j + 16)) & 1) << 4);
    y[j] = rounded(static_cast<float>(lo) * d) + m;
    y[j + 16] = rounded(static_cast<float>(hi) * d) + m;
  }
}
inline void q8_0(const uint8_t* b, float* y) {
  const float d = half(b);
  for (int j = 0; j < 32; ++j) y[j] = static_cast<float>(static_cast<int8_t>(b[2 + j])) * d;
}
inline void iq4_nl(const uint8_t* b, float* y) {
  const float d = half(b);
  for (int j = 0; j < 16; ++j) {
    y[j] = d * static_cast<float>(kIq4nlValues[b[2 + j] & 0x0f]);
    y[j + 16] = d * static_cast<float>(kIq4nlValues[b[2 + j] >> 4]);
  }
}
// Q2_K: scales[16] (low nibble scale, high nibble min), qs[64] (2 bits each), d, dmin. Values in two
// halves of 128; within a half, bit pair s of qs[32h + l] (l < 32) is value 32s + l.
inline void q2_k(const uint8_t* b, float* y) {
  const uint8_t* scales = b;
  const uint8_t* qs = b + 16;
  const float d = half(b + 80), dmin = half(b + 82);
  for (int v = 0; v < 256; ++v) {
    const int h = v / 128, s = v % 128 / 32, l = v % 32, sub = v / 16;
    const float dl = d * static_cast<float>(scales[sub] & 0x0f), ml = dmin * static_cast<float>(scales[sub] >> 4);
    const int q = (qs[32 * h + l] >> (2 * s)) & 3;
    y[v] = rounded(dl * static_cast<float>(q)) - ml;
  }
}
// Q3_K: hmask[32], qs[64], scales[12], d. Low 2 bits as Q2_K's; the third bit of value v in hmask[v % 32]
// at bit v / 32, a clear bit subtracting 4.
inline void q3_k(const uint8_t* b, float* y) {
  const uint8_t* hmask = b;
  const uint8_t* qs = b + 32;
  int scales[16];
  q3k_scales(b + 96, scales);
  const float d = half(b + 108);
  for (int v = 0; v < 256; ++v) {
    const int h = v / 128, s = v % 128 / 32, l = v % 32;
    const float dl = d * static_cast<float>(scales[v / 16]);
    const int q = ((qs[32 * h + l] >> (2 * s)) & 3) - ((hmask[l] >> (v / 32)) & 1 ? 0 : 4);
    y[v] = dl * static_cast<float>(q);
  }
}
// Q4_K: d, dmin, scales[12] (8 sub-blocks of 32: 6-bit scale and min), qs[128]. Values in four chunks of 64:
// chunk c's value l (< 32) in the low nibble of qs[32c + l], value 32 + l in its high nibble.
inline void q4_k(const uint8_t* b, float* y) {
  const float d = half(b), dmin = half(b + 2);
  const uint8_t* qs = b + 16;
  for (int sub = 0; sub < 8; ++sub) {
    int sc, m;
    k4_scale_min(sub, b + 4, sc, m);
    const float d1 = d * static_cast<float>(sc), m1 = dmin * static_cast<float>(m);
    const uint8_t* q = qs + 32 * (sub / 2);
    for (int l = 0; l < 32; ++l) {
      const int v = sub % 2 ? q[l] >> 4 : q[l] & 0x0f;
      y[32 * sub + l] = rounded(d1 * static_cast<float>(v)) - m1;
    }
  }
}
// Q5_K: Q4_K's layout with qh[32] before qs: the fifth bit of sub-block sub's value l in qh[l] at bit sub.
inline void q5_k(const uint8_t* b, float* y) {
  const float d = half(b), dmin = half(b + 2);
  const uint8_t* qh = b + 16;
  const uint8_t* qs = b + 48;
  for (int sub = 0; sub < 8; ++sub) {
    int sc, m;
    k4_scale_min(sub, b + 4, sc, m);
    const float d1 = d * static_cast<float>(sc), m1 = dmin * static_cast<float>(m);
    const uint8_t* q = qs + 32 * (sub / 2);
    for (int l = 0; l < 32; ++l) {
      const int v = (sub % 2 ? q[l] >> 4 : q[l] & 0x0f) | (((qh[l] >> sub) & 1) << 4);
      y[32 * sub + l] = rounded(d1 * static_cast<float>(v)) - m1;
    }
  }
}
// Q6_K: ql[128] (low 4 bits), qh[64] (high 2 bits), scales[16] int8, d. In each half of 128 (ql + 64h,
// qh + 32h): value 32s + l (s < 4, l < 32) has low bits in ql[l + 32·(s % 2)] (nibble s / 2) and high
// bits in qh[l] at bit 2s; its scale is scales[8h + 2s + l / 16].
inline void q6_k(const uint8_t* b, float* y) {
  const uint8_t* ql = b;
  const uint8_t* qh = b + 128;
  const int8_t* scales = reinterpret_cast<const int8_t*>(b + 192);
  const float d = half(b + 208);
  for (int v = 0; v < 256; ++v) {
    const int h = v / 128, s = v % 128 / 32, l = v % 32;
    const int lo = (ql[64 * h + l + 32 * (s % 2)] >> (4 * (s / 2))) & 0x0f;
    const int hi = (qh[32 * h + l] >> (2 * s)) & 3;
    const float ds = d * static_cast<float>(scales[8 * h + 2 * s + l / 16]);
    y[v] = ds * static_cast<float>((lo | (hi << 4)) - 32);
  }
}

}  // namespace ggml_detail

// n values (whole blocks) of a tensor of GGUF type t (readable) at src → fp32, as ggml's dequantize_row_*.
inline void ggml_dequantize(GgmlType t, const uint8_t* src, size_t n, float* y) {
  namespace g = ggml_detail;
  if (t == GgmlType::f32) return static_cast<void>(n ? std::memcpy(y, src, 4 * n) : nullptr);
  if (t == GgmlType::f16 || t == GgmlType::bf16) {
    for (size_t i = 0; i < n; ++i) {
      if (t == GgmlType::f16) {
        y[i] = g::half(src + 2 * i);
      } else {
        const uint32_t bits = static_cast<uint32_t>(src[2 * i] | (src[2 * i + 1] << 8)) << 16;
        std::memcpy(&y[i], &bits, 4);
      }
    }
    return;
  }
  void (*block)(const uint8_t*, float*) = nullptr;
  switch (t) {
    case GgmlType::q4_0: block = g::q4_0; break;
    case GgmlType::q4_1: block = g::q4_1; break;
    case GgmlType::q5_0: block = g::q5_0; break;
    case GgmlType::q5_1: block = g::q5_1; break;
    case GgmlType::q8_0: block = g::q8_0; break;
    case GgmlType::iq4_nl: block = g::iq4_nl; break;
    case GgmlType::q2_k: block = g::q2_k; break;
    case GgmlType::q3_k: block = g::q3_k; break;
    case GgmlType::q4_k: block = g::q4_k; break;
    case GgmlType::q5_k: block = g::q5_k; break;
    case GgmlType::q6_k: block = g::q6_k; break;
    default: return;  // callers check ggml_type_info(t)->readable first
  }
  const GgmlTypeInfo& info = *ggml_type_info(static_cast<uint32_t>(t));
  for (size_t b = 0; b < n / info.block_values; ++b) block(src + b * info.block_bytes, y + b * info.block_values);
}

// ggml's reference K-quantisers (quantize_row_q4_K_ref / quantize_row_q6_K_ref, which llama-quantize runs
// without an importance matrix), one super-block of 256 values at a time, written from their numerics: the
// same fp32 operations in the same order, every product rounded before it is added (no fused multiply-add,
// as the C source reads; `rounded`), so that `llmc quantize` and a binary quantising at load agree.
namespace ggml_detail {

inline constexpr float kGroupMaxEps = 1e-15f;

// Round to nearest even by adding 1.5·2^23 (|v| < 2^22), as ggml's nearest_int.
inline int nearest_int(float v) {
  const float f = rounded(v) + 12582912.0f;
  int32_t i;
  std::memcpy(&i, &f, 4);
  return (i & 0x007fffff) - 0x00400000;
}

// make_qkx2_quants: scale and (negated) min of n values for quants 0..nmax, weighted least squares over
// nstep + 1 candidate scales.
inline float make_qkx2_quants(int n, int nmax, const float* x, const float* w, uint8_t* L, float* the_min,
                              uint8_t* Laux, float rmin, float rdelta, int nstep) {
  float min = x[0], max = x[0], sum_w = w[0], sum_x = rounded(w[0] * x[0]);
  for (int i = 1; i < n; ++i) {
    if (x[i] < min) min = x[i];
    if (x[i] > max) max = x[i];
    sum_w += w[i];
    sum_x += rounded(w[i] * x[i]);
  }
  if (min > 0) min = 0;
  if (max == min) {
    for (int i = 0; i < n; ++i) L[i] = 0;
    *the_min = -min;
    return 0.0f;
  }
  float iscale = static_cast<float>(nmax) / (max - min), scale = 1.0f / iscale, best_error = 0.0f;
  for (int i = 0; i < n; ++i) {
    L[i] = static_cast<uint8_t>(std::max(0, std::min(nmax, nearest_int(iscale * (x[i] - min)))));
    float diff = rounded(scale * static_cast<float>(L[i])) + min - x[i];
    diff = diff * diff;
    best_error += rounded(w[i] * diff);
  }
  for (int is = 0; is <= nstep; ++is) {
    iscale = (rmin + rounded(rdelta * static_cast<float>(is)) + static_cast<float>(nmax)) / (max - min);
    float sum_l = 0.0f, sum_l2 = 0.0f, sum_xl = 0.0f;
    for (int i = 0; i < n; ++i) {
      const int l = std::max(0, std::min(nmax, nearest_int(iscale * (x[i] - min))));
      Laux[i] = static_cast<uint8_t>(l);
      const float wl = rounded(w[i] * static_cast<float>(l));
      sum_l += wl;
      sum_l2 += rounded(wl * static_cast<float>(l));
      sum_xl += rounded(wl * x[i]);
    }
    const float D = rounded(sum_w * sum_l2) - rounded(sum_l * sum_l);
    if (D > 0) {
      float this_scale = (rounded(sum_w * sum_xl) - rounded(sum_x * sum_l)) / D;
      float this_min = (rounded(sum_l2 * sum_x) - rounded(sum_l * sum_xl)) / D;
      if (this_min > 0) {
        this_min = 0;
        this_scale = sum_xl / sum_l2;
      }
      float cur_error = 0.0f;
      for (int i = 0; i < n; ++i) {
        float diff = rounded(this_scale * static_cast<float>(Laux[i])) + this_min - x[i];
        diff = diff * diff;
        cur_error += rounded(w[i] * diff);
      }
      if (cur_error < best_error) {
        for (int i = 0; i < n; ++i) L[i] = Laux[i];
        best_error = cur_error;
        scale = this_scale;
        min = this_min;
      }
    }
  }
  *the_min = -min;
  return scale;
}

// make_qx_quants with rmse_type 1 (weights x²) and no importance: the scale of n values for quants
// −nmax..nmax−1, stored as L = q + nmax; 19 candidate scales around nmax / max.
inline float make_qx_quants(int n, int nmax, const float* x, int8_t* L) {
  float max = 0.0f, amax = 0.0f;
  for (int i = 0; i < n; ++i)
    if (std::fabs(x[i]) > amax) {
      amax = std::fabs(x[i]);
      max = x[i];
    }
  if (amax < kGroupMaxEps) {
    for (int i = 0; i < n; ++i) L[i] = 0;
    return 0.0f;
  }
  const auto quant = [&](float iscale, int i) { return std::max(-nmax, std::min(nmax - 1, nearest_int(iscale * x[i]))); };
  const auto sums = [&](float iscale, float& sumlx, float& suml2) {
    sumlx = suml2 = 0.0f;
    for (int i = 0; i < n; ++i) {
      const float l = static_cast<float>(quant(iscale, i)), w = x[i] * x[i];
      sumlx += rounded(rounded(w * x[i]) * l);
      suml2 += rounded(rounded(w * l) * l);
    }
  };
  float iscale = static_cast<float>(-nmax) / max, sumlx, suml2;
  sums(iscale, sumlx, suml2);
  for (int i = 0; i < n; ++i) L[i] = static_cast<int8_t>(quant(iscale, i) + nmax);
  float scale = suml2 != 0.0f ? sumlx / suml2 : 0.0f, best = scale * sumlx;
  for (int is = -9; is <= 9; ++is) {
    if (is == 0) continue;
    iscale = -(static_cast<float>(nmax) + rounded(0.1f * static_cast<float>(is))) / max;
    sums(iscale, sumlx, suml2);
    if (suml2 > 0 && sumlx * sumlx > best * suml2) {
      for (int i = 0; i < n; ++i) L[i] = static_cast<int8_t>(quant(iscale, i) + nmax);
      scale = sumlx / suml2;
      best = scale * sumlx;
    }
  }
  return scale;
}

}  // namespace ggml_detail

namespace ggml_detail {
// What quantize_row_q4_K_ref and quantize_row_q5_K_ref share: per sub-block of 32 a scale and min
// (make_qkx2_quants for quants 0..nmax), both 6-bit against the block's f16 d and dmin, then the quants
// against those. Writes d, dmin and the 12 packed scale bytes to head[0..16) and the quants to L.
inline void k_scale_min_quants(const float* x, int nmax, float rmin, int nstep, uint8_t* head, uint8_t* L) {
  uint8_t Laux[32], packed[12] = {};
  float weights[32], mins[8], scales[8], max_scale = 0.0f, max_min = 0.0f;
  for (int j = 0; j < 8; ++j) {
    const float* xj = x + 32 * j;
    float sum_x2 = 0.0f;
    for (int l = 0; l < 32; ++l) sum_x2 += rounded(xj[l] * xj[l]);
    const float av_x = std::sqrt(sum_x2 / 32.0f);
    for (int l = 0; l < 32; ++l) weights[l] = av_x + std::fabs(xj[l]);
    scales[j] = make_qkx2_quants(32, nmax, xj, weights, L + 32 * j, &mins[j], Laux, rmin, 0.1f, nstep);
    if (scales[j] > max_scale) max_scale = scales[j];
    if (mins[j] > max_min) max_min = mins[j];
  }
  const float inv_scale = max_scale > 0 ? 63.0f / max_scale : 0.0f, inv_min = max_min > 0 ? 63.0f / max_min : 0.0f;
  for (int j = 0; j < 8; ++j) {
    const uint8_t ls = std::min<uint8_t>(63, static_cast<uint8_t>(nearest_int(inv_scale * scales[j])));
    const uint8_t lm = std::min<uint8_t>(63, static_cast<uint8_t>(nearest_int(inv_min * mins[j])));
    if (j < 4) {
      packed[j] = ls;
      packed[j + 4] = lm;
    } else {
      packed[j + 4] = static_cast<uint8_t>((ls & 0x0f) | ((lm & 0x0f) << 4));
      packed[j - 4] |= static_cast<uint8_t>((ls >> 4) << 6);
      packed[j] |= static_cast<uint8_t>((lm >> 4) << 6);
    }
  }
  const uint16_t d = f32_to_f16(max_scale / 63.0f), dmin = f32_to_f16(max_min / 63.0f);
  std::memcpy(head, &d, 2);
  std::memcpy(head + 2, &dmin, 2);
  std::memcpy(head + 4, packed, 12);
  for (int j = 0; j < 8; ++j) {
    int sc, m;
    k4_scale_min(j, packed, sc, m);
    const float dj = half(head) * static_cast<float>(sc);
    if (dj == 0.0f) continue;
    const float dm = half(head + 2) * static_cast<float>(m);
    for (int i = 0; i < 32; ++i)
      L[32 * j + i] = static_cast<uint8_t>(std::max(0, std::min(nmax, nearest_int((x[32 * j + i] + dm) / dj))));
  }
}
}  // namespace ggml_detail

// 256 values → one GGUF Q4_K block (144 bytes), as quantize_row_q4_K_ref.
inline void ggml_quantize_q4_k(const float* x, uint8_t* out) {
  uint8_t L[256];
  ggml_detail::k_scale_min_quants(x, 15, -1.0f, 20, out, L);
  for (int c = 0; c < 4; ++c)
    for (int l = 0; l < 32; ++l) out[16 + 32 * c + l] = static_cast<uint8_t>(L[64 * c + l] | (L[64 * c + 32 + l] << 4));
}

// 256 values → one GGUF Q5_K block (176 bytes), as quantize_row_q5_K_ref: Q4_K's with quants 0..31, the
// fifth bit of value 64c + l (l < 64) in qh[l % 32] at bit 2c + l / 32.
inline void ggml_quantize_q5_k(const float* x, uint8_t* out) {
  uint8_t L[256];
  ggml_detail::k_scale_min_quants(x, 31, -0.5f, 15, out, L);
  uint8_t* qh = out + 16;
  std::memset(qh, 0, 32);
  for (int c = 0; c < 4; ++c)
    for (int l = 0; l < 32; ++l) {
      const int lo = L[64 * c + l], hi = L[64 * c + 32 + l];
      qh[l] |= static_cast<uint8_t>((lo >> 4) << (2 * c) | (hi >> 4) << (2 * c + 1));
      out[48 + 32 * c + l] = static_cast<uint8_t>((lo & 0x0f) | ((hi & 0x0f) << 4));
    }
}

// 256 values → one GGUF Q6_K block (210 bytes), as quantize_row_q6_K_ref.
inline void ggml_quantize_q6_k(const float* x, uint8_t* out) {
  namespace g = ggml_detail;
  int8_t L[256];
  float scales[16], max_scale = 0.0f, max_abs_scale = 0.0f;
  for (int ib = 0; ib < 16; ++ib) {
    scales[ib] = g::make_qx_quants(16, 32, x + 16 * ib, L + 16 * ib);
    if (std::fabs(scales[ib]) > max_abs_scale) {
      max_abs_scale = std::fabs(scales[ib]);
      max_scale = scales[ib];
    }
  }
  std::memset(out, 0, 210);
  if (max_abs_scale < g::kGroupMaxEps) return;
  const float iscale = -128.0f / max_scale;
  const uint16_t d = f32_to_f16(1.0f / iscale);
  std::memcpy(out + 208, &d, 2);
  int8_t* sc = reinterpret_cast<int8_t*>(out + 192);
  for (int ib = 0; ib < 16; ++ib) sc[ib] = static_cast<int8_t>(std::min(127, g::nearest_int(iscale * scales[ib])));
  for (int j = 0; j < 16; ++j) {
    const float dj = g::half(out + 208) * static_cast<float>(sc[j]);
    if (dj == 0.0f) continue;
    for (int i = 0; i < 16; ++i)
      L[16 * j + i] = static_cast<int8_t>(std::max(-32, std::min(31, g::nearest_int(x[16 * j + i] / dj))) + 32);
  }
  for (int h = 0; h < 2; ++h)
    for (int l = 0; l < 32; ++l) {
      const int q1 = L[128 * h + l], q2 = L[128 * h + l + 32], q3 = L[128 * h + l + 64], q4 = L[128 * h + l + 96];
      out[64 * h + l] = static_cast<uint8_t>((q1 & 0x0f) | ((q3 & 0x0f) << 4));
      out[64 * h + l + 32] = static_cast<uint8_t>((q2 & 0x0f) | ((q4 & 0x0f) << 4));
      out[128 + 32 * h + l] = static_cast<uint8_t>((q1 >> 4) | ((q2 >> 4) << 2) | ((q3 >> 4) << 4) | ((q4 >> 4) << 6));
    }
}

}  // namespace llmc
