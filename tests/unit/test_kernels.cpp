// Every kernel against a plain scalar reference written from the definition.
#include <doctest/doctest.h>

#include <cmath>
#include <cstring>
#include <initializer_list>
#include <random>
#include <vector>

#include "llmc/kernels.hpp"
#include "llmc/recurrent.hpp"
#include "llmc/relative_position.hpp"

using namespace llmc;

namespace {

std::vector<float> random_vector(size_t n, uint32_t seed, float scale = 1.0f) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> d(0.0f, scale);
  std::vector<float> v(n);
  for (float& x : v) x = d(rng);
  return v;
}

// Σ(a−b)²/Σa²
double nmse(const std::vector<float>& ref, const std::vector<float>& got) {
  REQUIRE(ref.size() == got.size());
  double e = 0, n = 0;
  for (size_t i = 0; i < ref.size(); ++i) {
    e += (double(ref[i]) - got[i]) * (double(ref[i]) - got[i]);
    n += double(ref[i]) * ref[i];
  }
  return e / n;
}

// Runs `run(steps)` at 1 thread over the whole sequence of T rows in one step, then at 2 threads over each split
// of it into steps: the same bits every time. Returns the whole run's output.
template <class Run>
std::vector<float> same_bits_over_splits(const Run& run, int T, std::initializer_list<std::initializer_list<int>> splits) {
  const int saved = max_threads();
  set_threads(1);
  const std::vector<float> whole = run({T});
  set_threads(2);
  int split = 0;  // which of `splits`
  for (const auto& steps : splits) {
    CAPTURE(split++);
    CHECK(run(steps) == whole);
  }
  set_threads(saved);
  return whole;
}

// Mamba 2's step written from its definition (Mamba2Mixer's cached step), in double, over T rows of proj (rows of
// stride: [xBC | dt]) from an empty state: the causal convolution + SiLU, then the per-head scan. Returns y.
template <int Heads, int HeadDim, int S, int Groups, int K>
std::vector<double> mamba2_step_ref(const std::vector<float>& proj, int stride, int T, const std::vector<float>& w,
                                    const std::vector<float>& bias, const std::vector<float>& dt_bias,
                                    const std::vector<float>& a_log, const std::vector<float>& d, float dt_min,
                                    std::vector<double>& state) {
  constexpr int kInner = Heads * HeadDim, kConv = kInner + 2 * Groups * S;
  std::vector<double> y(size_t(T) * kInner), xbc(kConv);
  state.assign(size_t(kInner) * S, 0.0);
  for (int t = 0; t < T; ++t) {
    for (int c = 0; c < kConv; ++c) {
      double sum = bias[c];
      for (int j = 0; j < K; ++j) {
        const int u = t - (K - 1) + j;
        if (u >= 0) sum += double(w[c * K + j]) * proj[size_t(u) * stride + c];
      }
      xbc[c] = sum / (1.0 + std::exp(-sum));
    }
    for (int h = 0; h < Heads; ++h) {
      const double raw = double(proj[size_t(t) * stride + kConv + h]) + dt_bias[h];
      const double dt = std::max(raw > 20.0 ? raw : std::log1p(std::exp(raw)), double(dt_min));
      const double decay = std::exp(-std::exp(double(a_log[h])) * dt);
      const double* B = xbc.data() + kInner + (h / (Heads / Groups)) * S;
      const double* C = B + Groups * S;
      for (int p = 0; p < HeadDim; ++p) {
        const double x = xbc[h * HeadDim + p];
        double out = d[h] * x;
        for (int n = 0; n < S; ++n) {
          double& st = state[(size_t(h) * HeadDim + p) * S + n];
          st = decay * st + dt * B[n] * x;
          out += st * C[n];
        }
        y[size_t(t) * kInner + h * HeadDim + p] = out;
      }
    }
  }
  return y;
}

template <int Heads, int HeadDim, int S, int Groups, int K>
void check_mamba2_conv_scan() {
  constexpr int kInner = Heads * HeadDim, kConv = kInner + 2 * Groups * S, kStride = kConv + Heads + 3, T = 7;
  const auto proj = random_vector(size_t(T) * kStride, 11);
  const auto w = random_vector(size_t(kConv) * K, 12, 0.5f), bias = random_vector(kConv, 13);
  const auto dt_bias = random_vector(Heads, 14), a_log = random_vector(Heads, 15, 0.5f), d = random_vector(Heads, 16);
  const float dt_min = 0.05f;
  std::vector<double> state_ref;
  const std::vector<double> y_ref = mamba2_step_ref<Heads, HeadDim, S, Groups, K>(proj, kStride, T, w, bias, dt_bias,
                                                                                  a_log, d, dt_min, state_ref);
  // The rows in steps of the given sizes, from an empty state: y, then the scan state, then the window.
  auto run = [&](std::initializer_list<int> steps) {
    std::vector<float> y(size_t(T) * kInner), xbc(size_t(T) * kConv), window(size_t(K - 1) * kConv, 0.0f),
        state(size_t(kInner) * S, 0.0f);
    int t = 0;
    for (int count : steps) {
      mamba2_conv_scan<Heads, HeadDim, S, Groups, K>(y.data() + size_t(t) * kInner, xbc.data(),
                                                     proj.data() + size_t(t) * kStride,
                                                     proj.data() + size_t(t) * kStride + kConv, kStride, window.data(),
                                                     w.data(), bias.data(), dt_bias.data(), a_log.data(), d.data(),
                                                     dt_min, state.data(), count);
      t += count;
    }
    REQUIRE(t == T);
    y.insert(y.end(), state.begin(), state.end());
    y.insert(y.end(), window.begin(), window.end());
    return y;
  };
  // Steps shorter than the window, as long as it and longer; split over threads: the same bits.
  const std::vector<float> whole = same_bits_over_splits(run, T, {{1, 2, 4}, {3, 1, 3}, {T}});
  std::vector<float> y(whole.begin(), whole.begin() + T * kInner), state(whole.begin() + T * kInner,
                                                                         whole.begin() + T * kInner + kInner * S);
  CHECK(nmse(std::vector<float>(y_ref.begin(), y_ref.end()), y) < 1e-11);
  CHECK(nmse(std::vector<float>(state_ref.begin(), state_ref.end()), state) < 1e-11);
  // The window holds the last K − 1 input rows of xBC.
  for (int r = 0; r < K - 1; ++r)
    for (int c = 0; c < kConv; ++c)
      CHECK(whole[size_t(T) * kInner + size_t(kInner) * S + size_t(r) * kConv + c] ==
            proj[size_t(T - (K - 1) + r) * kStride + c]);
}

template <int Out, int In>
void check_matmul(int T, bool with_bias) {
  const auto W = random_vector(size_t(Out) * In, 1), x = random_vector(size_t(T) * In, 2), b = random_vector(Out, 3);
  std::vector<float> ref(size_t(T) * Out), got(size_t(T) * Out);
  for (int t = 0; t < T; ++t)
    for (int o = 0; o < Out; ++o) {
      double s = with_bias ? b[o] : 0.0;
      for (int i = 0; i < In; ++i) s += double(W[size_t(o) * In + i]) * x[size_t(t) * In + i];
      ref[size_t(t) * Out + o] = float(s);
    }
  matmul<Out, In>(got.data(), x.data(), W.data(), with_bias ? b.data() : nullptr, T);
  CHECK(nmse(ref, got) < 1e-12);
}


// ggml's quantize_row_q8_0_ref / quantize_row_q4_0_ref for one block, as written there: f16 d, int quants.
void gguf_block(WFormat f, const float* x, float* d_out, int* q) {
  float amax = 0.0f, max = 0.0f;
  for (int j = 0; j < 32; ++j)
    if (amax < std::fabs(x[j])) {
      amax = std::fabs(x[j]);
      max = x[j];
    }
  if (f == WFormat::q8_0) {
    const float d = amax / 127.0f, id = d ? 1.0f / d : 0.0f;
    *d_out = f16_to_f32(f32_to_f16(d));
    for (int j = 0; j < 32; ++j) q[j] = int(std::round(x[j] * id));
  } else {
    const float d = max / -8.0f, id = d ? 1.0f / d : 0.0f;
    *d_out = f16_to_f32(f32_to_f16(d));
    for (int j = 0; j < 32; ++j) {  // x·id rounded to float, then + 8.5 (volatile: never one fused FMA)
      volatile float scaled = x[j] * id;
      q[j] = std::min(15, int(int8_t(scaled + 8.5f))) - 8;
    }
  }
}

// vcvtneps2bf16 and vdpbf16ps as Intel's SDM defines them, which bf16_g16 matmuls compute on every target:
// inputs and results with denormals flushed to zero (DAZ, FTZ), rounding to nearest even.
float flush(float v) { return std::fpclassify(v) == FP_SUBNORMAL ? std::copysign(0.0f, v) : v; }
float round_bf16(float v) {
  uint32_t bits;
  v = flush(v);
  std::memcpy(&bits, &v, 4);
  bits = (bits + 0x7fff + ((bits >> 16) & 1)) & 0xffff0000u;
  std::memcpy(&v, &bits, 4);
  return v;
}
// Σ w[i]·x[i] (bf16 values) as a chain of vdpbf16ps steps: per pair of elements the odd one first, one fp32
// FMA each (the products are exact); an odd count padded with a zero pair element.
float dpbf16_chain(const float* w, const float* x, int n) {
  float s = 0.0f;
  for (int i = 0; i < n; i += 2) {
    s = i + 1 < n ? flush(std::fma(flush(w[i + 1]), flush(x[i + 1]), s)) : flush(std::fma(0.0f, 0.0f, s));
    s = flush(std::fma(flush(w[i]), flush(x[i]), s));
  }
  return s;
}

// A matrix stored as `f`, and the same values as fp32 (what the kernel must multiply with).
struct TypedMatrix {
  std::vector<uint8_t> bytes;
  std::vector<float> values;
};
TypedMatrix make_typed(WFormat f, const std::vector<float>& w, int out, int in) {
  TypedMatrix m;
  m.values = w;
  // Round to the stored type first (f16 / bf16 values; grouped formats are made from those).
  const bool half = f == WFormat::f16_g16, brain = f == WFormat::bf16_g16;
  for (float& v : m.values) {
    uint32_t bits;
    std::memcpy(&bits, &v, 4);
    if (half) v = f16_to_f32(f32_to_f16(v));
    if (brain) v = bf16_to_f32(uint16_t(bits >> 16));
  }
  if (f == WFormat::f32) {  // row-major
    m.bytes.resize(w.size() * 4);
    std::memcpy(m.bytes.data(), w.data(), m.bytes.size());
  } else {
    m.bytes.resize(grouped_matrix_bytes(f, out, in));
    write_matrix(f, m.values.data(), out, in, m.bytes.data());
    for (int o = 0; o < out; ++o)
      for (int i = 0; i < in; ++i) m.values[size_t(o) * in + i] = matrix_value(f, m.bytes.data(), out, in, o, i);
  }
  return m;
}

// Matmul with weights stored as f against double sums of what the kernel is defined to compute: the
// converted weights times fp32 x, or (quantised) Σ_b d_w·d_x·(integer dot of block b) with x quantised per
// token by quantize_acts_ref; grouped and quantised formats also bit for bit against their scalar chain.
template <int Out, int In>
void check_typed_matmul(WFormat f, int T) {
  const auto w = random_vector(size_t(Out) * In, 11, 0.05f), x = random_vector(size_t(T) * In, 12),
             b = random_vector(Out, 13);
  const TypedMatrix m = make_typed(f, w, Out, In);
  const bool quant = f == WFormat::q8_0 || f == WFormat::q4_0, brain = f == WFormat::bf16_g16;
  std::vector<float> xr = x;  // the activations the kernel multiplies with: bf16_g16 rounds them to bf16
  if (brain)
    for (float& v : xr) v = round_bf16(v);
  std::vector<float> ref(size_t(T) * Out), exact(size_t(T) * Out), got(size_t(T) * Out), bitwise(size_t(T) * Out);
  std::vector<uint8_t> xq(mm::kQActBytes<In>);
  for (int t = 0; t < T; ++t) {
    if (quant) {
      if (f == WFormat::q8_0) mm::quantize_acts_ref<WFormat::q8_0, In>(&x[size_t(t) * In], xq.data());
      else mm::quantize_acts_ref<WFormat::q4_0, In>(&x[size_t(t) * In], xq.data());
    }
    const auto* q = reinterpret_cast<const int8_t*>(xq.data());
    const auto* dx = reinterpret_cast<const float*>(xq.data() + In);
    for (int o = 0; o < Out; ++o) {
      double s = b[o], e = b[o];
      for (int i = 0; i < In; ++i) e += double(w[size_t(o) * In + i]) * x[size_t(t) * In + i];
      if (quant) {
        for (int blk = 0; blk < In / 32; ++blk) {
          int64_t dot = 0;
          for (int j = 0; j < 32; ++j) dot += quant_int(f, m.bytes.data(), Out, In, o, blk * 32 + j) * q[blk * 32 + j];
          s += double(quant_scale(f, m.bytes.data(), Out, In, o, blk * 32)) * dx[blk] * double(dot);
        }
        // The kernel's own arithmetic, in scalar code: must match bit for bit.
        const float scalar = f == WFormat::q8_0 ? mm::quant_dot_ref<WFormat::q8_0, In>(m.bytes.data(), Out, o, xq.data())
                                                : mm::quant_dot_ref<WFormat::q4_0, In>(m.bytes.data(), Out, o, xq.data());
        bitwise[size_t(t) * Out + o] = scalar + b[o];
      } else {
        float chain = 0.0f;  // grouped formats: one fp32 FMA chain over the columns in order (bf16: in pairs)
        for (int i = 0; i < In; ++i) {
          s += double(m.values[size_t(o) * In + i]) * xr[size_t(t) * In + i];
          chain = std::fma(m.values[size_t(o) * In + i], x[size_t(t) * In + i], chain);
        }
        if (brain) chain = dpbf16_chain(&m.values[size_t(o) * In], &xr[size_t(t) * In], In);
        bitwise[size_t(t) * Out + o] = chain + b[o];
      }
      ref[size_t(t) * Out + o] = float(s);
      exact[size_t(t) * Out + o] = float(e);
    }
  }
  matmul<Out, In>(got.data(), Out, x.data(), Matrix{f, m.bytes.data()}, b.data(), T);
  INFO("format " << int(f) << ", " << Out << "x" << In << ", T " << T);
  CHECK(nmse(ref, got) < 1e-11);
  if (quant || is_grouped_float(f)) CHECK(std::memcmp(got.data(), bitwise.data(), got.size() * sizeof(float)) == 0);
  // And how far the format is from fp32 weights and activations (GGUF: q8_0 ~1e-4, q4_0 ~1e-2).
  const double limit = f == WFormat::q4_0 ? 3e-2 : f == WFormat::q8_0 ? 1e-3 : 1e-4;
  CHECK(nmse(exact, got) < limit);
}

// The q8_K activations of one token for format f, as the reference makes them.
template <int In>
void quantize_acts_k_ref_any(WFormat f, const float* x, uint8_t* out) {
  if (f == WFormat::q4_k) mm::quantize_acts_k_ref<WFormat::q4_k, In>(x, out);
  else if (f == WFormat::q5_k) mm::quantize_acts_k_ref<WFormat::q5_k, In>(x, out);
  else mm::quantize_acts_k_ref<WFormat::q6_k, In>(x, out);
}
template <int In>
float kquant_dot_ref_any(WFormat f, const uint8_t* W, int row, const uint8_t* xq) {
  if (f == WFormat::q4_k) return mm::kquant_dot_ref<WFormat::q4_k, In>(W, row, xq);
  if (f == WFormat::q5_k) return mm::kquant_dot_ref<WFormat::q5_k, In>(W, row, xq);
  return mm::kquant_dot_ref<WFormat::q6_k, In>(W, row, xq);
}

// Matmul with q4_k / q5_k / q6_k weights (quantised by ggml's reference quantisers, values read back as ggml
// dequantises them) against double sums of those values times the q8_K activations the kernel multiplies
// (quantize_acts_k_ref, values q·d): the kernel's integer sums are exact, so only fp32 rounding differs.
// Bit for bit against kquant_dot_ref, the kernel's own arithmetic in scalar code (every token and thread
// count, so prefill equals decode), and how far the format is from fp32 weights and activations.
template <int Out, int In>
void check_kquant_matmul(WFormat f, int T) {
  const auto w = random_vector(size_t(Out) * In, 51, 0.05f), x = random_vector(size_t(T) * In, 52), b = random_vector(Out, 53);
  const TypedMatrix m = make_typed(f, w, Out, In);
  std::vector<float> ref(size_t(T) * Out), exact(ref.size()), got(ref.size()), bitwise(ref.size());
  std::vector<uint8_t> xq(mm::kKActBytes<WFormat::q6_k, In>);  // the largest
  for (int t = 0; t < T; ++t) {
    const float* xt = &x[size_t(t) * In];
    quantize_acts_k_ref_any<In>(f, xt, xq.data());
    const auto* q = reinterpret_cast<const int8_t*>(xq.data());
    const auto* dx = reinterpret_cast<const float*>(xq.data() + In);
    for (int i = 0; i < In; ++i) REQUIRE(std::abs(q[i]) <= 127);
    for (int o = 0; o < Out; ++o) {
      double s = b[o], e = b[o];
      for (int i = 0; i < In; ++i) {
        s += double(m.values[size_t(o) * In + i]) * q[i] * dx[i / 256];
        e += double(w[size_t(o) * In + i]) * xt[i];
      }
      ref[size_t(t) * Out + o] = float(s);
      exact[size_t(t) * Out + o] = float(e);
      const float scalar = kquant_dot_ref_any<In>(f, m.bytes.data(), o, xq.data());
      bitwise[size_t(t) * Out + o] = scalar + b[o];
    }
  }
  matmul<Out, In>(got.data(), Out, x.data(), Matrix{f, m.bytes.data()}, b.data(), T);
  INFO("format " << std::string(grouped_format_name(f)) << ", " << Out << "x" << In << ", T " << T);
  CHECK(nmse(ref, got) < 1e-10);
  CHECK(std::memcmp(got.data(), bitwise.data(), got.size() * sizeof(float)) == 0);
  // GGUF's Q4_K about 4.5 bits a weight, Q5_K 5.5, Q6_K 6.6, activations 8 bits: measured 3e-3..4e-3, (Q5_K)
  // and 1e-4..3e-4.
  CHECK(nmse(exact, got) < (f == WFormat::q4_k ? 1e-2 : f == WFormat::q5_k ? 3e-3 : 1e-3));
}

// The kernels sum products in int16 before scaling where that cannot overflow (without VNNI q4_k: 8
// slices, q5_k: 4; q6_k: 2): at the extremes (every quant at its maximum, every activation quant −127) the
// sums reach ±30480 / ±31496 / ±32004, and the result must still be kquant_dot_ref's, bit for bit.
template <WFormat F>
void check_kquant_extremes(int sign) {
  constexpr int In = 512;
  std::vector<uint8_t> W(group_bytes(F, In), 0xff);
  for (int b = 0; b < In / 256; ++b) {
    uint8_t* block = W.data() + b * kquant_block_bytes(F);
    const uint16_t one = 0x3c00;  // f16 1.0
    if constexpr (has_kmins(F)) {
      std::memset(block + kquant_scales_at(F), 63, 256);  // scales and mins at their 6-bit maximum
      for (int r = 0; r < 16; ++r)
        std::memcpy(block + kquant_d_at(F) + 2 * r, &one, 2), std::memcpy(block + kquant_dmin_at(F) + 2 * r, &one, 2);
    } else {
      std::memset(block + kQ6kScales, 127, 256);
      for (int r = 0; r < 16; ++r) std::memcpy(block + kQ6kD + 2 * r, &one, 2);
    }
  }
  const std::vector<float> x(In, static_cast<float>(sign));
  std::vector<uint8_t> xq(mm::kKActBytes<F, In>);
  mm::quantize_acts_k_ref<F, In>(x.data(), xq.data());
  std::vector<float> got(16);
  matmul<16, In>(got.data(), 16, x.data(), Matrix{F, W.data()}, nullptr, 1);
  for (int o = 0; o < 16; ++o) CHECK(got[o] == mm::kquant_dot_ref<F, In>(W.data(), o, xq.data()));
}

// matmuls of two matrices in format f (and a third in another format) against separate matmuls, bit for bit.
template <int In>
void check_matmuls(WFormat f, int threads) {
  const WFormat other = f == WFormat::f16_g16 ? WFormat::bf16_g16 : WFormat::f16_g16;
  const auto x = random_vector(size_t(9) * In, 21), bias = random_vector(200, 22);
  const TypedMatrix a = make_typed(f, random_vector(size_t(200) * In, 23, 0.05f), 200, In),
                    b = make_typed(f, random_vector(size_t(40) * In, 24, 0.05f), 40, In),
                    c = make_typed(other, random_vector(size_t(40) * In, 25, 0.05f), 40, In);
  for (int T : {1, 9}) {
    INFO("format " << int(f) << ", T " << T << ", threads " << threads);
    std::vector<float> ya(size_t(T) * 200), yb(size_t(T) * 40), yc(size_t(T) * 40);
    std::vector<float> ra = ya, rb = yb, rc = yc;
    const Matrix ma{f, a.bytes.data()}, mb{f, b.bytes.data()}, mc{other, c.bytes.data()};
    matmul<200, In>(ra.data(), 200, x.data(), ma, bias.data(), T);
    matmul<40, In>(rb.data(), 40, x.data(), mb, nullptr, T);
    matmul<40, In>(rc.data(), 40, x.data(), mc, nullptr, T);
    matmuls<In, 200, 40>(x.data(), T, {{ya.data(), ma, bias.data()}, {yb.data(), mb, nullptr}});
    CHECK(ya == ra);
    CHECK(yb == rb);
    std::fill(ya.begin(), ya.end(), 0.0f);
    std::fill(yb.begin(), yb.end(), 0.0f);
    // Mixed formats: one matmul each, the same results.
    matmuls<In, 200, 40, 40>(x.data(), T, {{ya.data(), ma, bias.data()}, {yb.data(), mb, nullptr}, {yc.data(), mc, nullptr}});
    CHECK(ya == ra);
    CHECK(yb == rb);
    CHECK(yc == rc);
  }
}

// head_matmuls (heads' matrices one after another, each head's input and output rows interleaved with the other
// heads', outputs with a gap between heads as MLA's [latent | rope] rows) equal one matmul per head bit for bit.
template <int Out, int In>
void check_head_matmuls(WFormat f, int T) {
  constexpr int kHeads = 3, kYHead = Out + 5;
  const auto x = random_vector(size_t(T) * kHeads * In, 61);
  std::vector<TypedMatrix> w;
  std::vector<uint8_t> all;
  for (int h = 0; h < kHeads; ++h) {
    w.push_back(make_typed(f, random_vector(size_t(Out) * In, 62 + h, 0.05f), Out, In));
    all.insert(all.end(), w.back().bytes.begin(), w.back().bytes.end());
    all.resize(size_t(h + 1) * matrix_stride(f, Out, In));
  }
  std::vector<float> y(size_t(T) * kHeads * kYHead, 0.0f);
  head_matmuls<Out, In>(y.data(), kYHead, kHeads * kYHead, x.data(), Matrix{f, all.data()}, kHeads, T);
  int mismatches = 0;
  for (int h = 0; h < kHeads; ++h) {
    std::vector<float> xh(size_t(T) * In), ref(size_t(T) * Out);
    for (int t = 0; t < T; ++t) std::copy_n(x.data() + (size_t(t) * kHeads + h) * In, In, xh.data() + size_t(t) * In);
    matmul<Out, In>(ref.data(), Out, xh.data(), Matrix{f, w[h].bytes.data()}, nullptr, T);
    for (int t = 0; t < T; ++t)
      for (int o = 0; o < Out; ++o) mismatches += y[(size_t(t) * kHeads + h) * kYHead + o] != ref[size_t(t) * Out + o];
  }
  INFO("format " << int(f) << ", " << Out << " x " << In << ", T " << T);
  CHECK(mismatches == 0);
  CHECK(y[kYHead - 1] == 0.0f);  // the gap between heads is not written
}

// Attention against a double-precision softmax over the allowed keys, every variant of AttentionParams.
// Kv: the cache's element type (float, or uint16_t for an f16 cache: the reference then uses the rounded
// keys and values).
// Stride: cache elements from one position's row to the next (more than KvHeads·D where the cache interleaves
// layers; the gaps hold NaN, which must not reach the output).
template <int Heads, int KvHeads, int D, int Ctx, typename Kv = float, int Stride = KvHeads * D>
void check_attention(int pos, int T) {
  const auto q = random_vector(T * Heads * D, 10);
  auto k = random_vector(Ctx * KvHeads * D, 11), v = random_vector(Ctx * KvHeads * D, 12);
  Kv nan;
  if constexpr (std::is_same_v<Kv, float>) nan = NAN;
  else nan = 0x7e00;  // f16 NaN
  std::vector<Kv> k_cache(static_cast<size_t>(Ctx) * Stride, nan), v_cache(k_cache.size(), nan);
  for (size_t i = 0; i < k.size(); ++i) {
    const size_t at = i / (KvHeads * D) * Stride + i % (KvHeads * D);
    if constexpr (std::is_same_v<Kv, float>) {
      k_cache[at] = k[i];
      v_cache[at] = v[i];
    } else {
      k_cache[at] = f32_to_f16(k[i]);
      v_cache[at] = f32_to_f16(v[i]);
      k[i] = f16_to_f32(k_cache[at]);
      v[i] = f16_to_f32(v_cache[at]);
    }
  }
  const float slopes[Heads] = {0.5f, 0.25f, 0.125f, 0.0625f};  // the rest 0
  struct Case {
    float softcap;
    int window;
    const float* alibi;
    int chunk;
    int keys = 0;                // > 0: every query sees keys 0..keys-1 (T5's encoder and cross-attention)
    const float* relative = nullptr;  // per head, 2·Ctx − 1 biases by key − query
  };
  const auto relative = random_vector(static_cast<size_t>(Heads) * (2 * Ctx - 1), 13);
  const int all_keys = std::min(Ctx, pos + T + 3);  // past the last query's own position
  // Chunks of 7 and 256 (the blocked kernel's own key chunk): a query sees only keys of its own chunk.
  for (const Case& c : {Case{0, 0, nullptr, 0}, Case{0, 3, nullptr, 0}, Case{2.0f, 0, nullptr, 0},
                        Case{0, 0, slopes, 0}, Case{0, 0, nullptr, 7}, Case{0, 0, nullptr, 256},
                        Case{0, 0, nullptr, 0, 0, relative.data()}, Case{0, 0, nullptr, 0, all_keys, nullptr},
                        Case{0, 0, nullptr, 0, all_keys, relative.data()}}) {
    std::vector<float> ref(T * Heads * D), got(T * Heads * D), scratch(max_threads() * attention_scratch_floats(Heads, D, Ctx));
    const float scale = 0.3f;
    for (int t = 0; t < T; ++t)
      for (int h = 0; h < Heads; ++h) {
        const int qp = pos + t, g = h / (Heads / KvHeads);
        std::vector<double> s;
        std::vector<int> keys;
        for (int j = 0; j <= (c.keys ? c.keys - 1 : qp); ++j) {
          if (c.window && qp - j >= c.window) continue;
          if (c.chunk && j / c.chunk != qp / c.chunk) continue;
          double d = 0;
          for (int i = 0; i < D; ++i) d += double(q[(t * Heads + h) * D + i]) * k[(j * KvHeads + g) * D + i];
          d *= scale;
          if (c.softcap) d = c.softcap * std::tanh(d / c.softcap);
          if (c.alibi) d += c.alibi[h] * (j - qp);
          if (c.relative) d += c.relative[static_cast<size_t>(h) * (2 * Ctx - 1) + (j - qp + Ctx - 1)];
          s.push_back(d);
          keys.push_back(j);
        }
        double mx = -1e300, sum = 0;
        for (double x : s) mx = std::max(mx, x);
        for (double& x : s) sum += (x = std::exp(x - mx));
        for (int i = 0; i < D; ++i) {
          double acc = 0;
          for (size_t n = 0; n < keys.size(); ++n) acc += s[n] / sum * v[(keys[n] * KvHeads + g) * D + i];
          ref[(t * Heads + h) * D + i] = float(acc);
        }
      }
    attention<Heads, KvHeads, D, Ctx, Stride>(got.data(), q.data(), Heads * D, k_cache.data(), v_cache.data(), T, pos,
                                              {scale, c.softcap, c.window, c.alibi, c.chunk, 0, c.keys, c.relative},
                                              scratch.data());
    CHECK(nmse(ref, got) < 1e-10);
  }
}

// Attention's output at 1, 2 and 3 threads (3 on a 2-core machine: chunks claimed in a different order every
// run) must be bitwise identical, split keys included (their segments are combined in order).
template <int Heads, int KvHeads, int D, int Ctx, typename Kv = float>
void check_attention_threads(int pos, int T) {
  const auto q = random_vector(T * Heads * D, 20), kv = random_vector(static_cast<size_t>(Ctx) * KvHeads * D, 21);
  std::vector<Kv> cache(kv.size());
  for (size_t i = 0; i < kv.size(); ++i) {
    if constexpr (std::is_same_v<Kv, float>) cache[i] = kv[i];
    else cache[i] = f32_to_f16(kv[i]);
  }
  std::vector<float> first;
  const int saved = max_threads();
  for (int threads : {1, 2, 3}) {
    set_threads(threads);
    std::vector<float> out(T * Heads * D), scratch(max_threads() * attention_scratch_floats(Heads, D, Ctx));
    attention<Heads, KvHeads, D, Ctx>(out.data(), q.data(), Heads * D, cache.data(), cache.data(), T, pos,
                                      {0.3f, 0.0f, 0, nullptr}, scratch.data());
    if (first.empty()) first = out;
    CAPTURE(threads);
    CHECK(out == first);
  }
  set_threads(saved);
}

}  // namespace

TEST_SUITE("kernels") {
  // Values worked out by hand from Hugging Face's T5Attention._relative_position_bucket (32 buckets, max distance
  // 128). Bidirectional: 16 per direction, distances 0..7 exact, then 8 + ⌊ln(d/8)/ln(16)·8⌋ up to 15; keys after
  // the query add 16. Causal: keys after the query are bucket 0; distances 0..15 exact, then
  // 16 + ⌊ln(d/16)/ln(8)·16⌋ up to 31.
  TEST_CASE("relative_position_bucket: T5's buckets") {
    struct Case {
      int relative, bidirectional, causal;
    };
    for (const Case& c : {Case{0, 0, 0}, Case{-1, 1, 1}, Case{1, 17, 0}, Case{-7, 7, 7}, Case{7, 23, 0},
                          Case{-8, 8, 8}, Case{8, 24, 0}, Case{-15, 9, 15}, Case{-16, 10, 16}, Case{16, 26, 0},
                          Case{-19, 10, 17}, Case{-32, 12, 21}, Case{-40, 12, 23}, Case{40, 28, 0},
                          Case{-64, 14, 26}, Case{-100, 15, 30}, Case{-128, 15, 31}, Case{-1000, 15, 31},
                          Case{1000, 31, 0}}) {
      CAPTURE(c.relative);
      CHECK(relative_position_bucket(c.relative, true, 32, 128) == c.bidirectional);
      CHECK(relative_position_bucket(c.relative, false, 32, 128) == c.causal);
    }
  }

  TEST_CASE("relative_position_bias: a row per head over every distance of the context") {
    const int heads = 2, context = 40, buckets = 32;
    std::vector<float> table(buckets * heads);
    for (int b = 0; b < buckets; ++b)
      for (int h = 0; h < heads; ++h) table[b * heads + h] = static_cast<float>(100 * h + b);
    std::vector<float> out(heads * (2 * context - 1));
    relative_position_bias(out.data(), table.data(), heads, context, buckets, 128, true);
    const auto at = [&](int h, int d) { return out[h * (2 * context - 1) + d + context - 1]; };
    CHECK(at(0, 0) == 0.0f);
    CHECK(at(1, -39) == 100.0f + relative_position_bucket(-39, true, buckets, 128));
    CHECK(at(1, 39) == 100.0f + relative_position_bucket(39, true, buckets, 128));
    CHECK(at(0, 5) == 21.0f);
  }

  TEST_CASE("chunk_bounds: non-empty contiguous chunks covering [0, n), guided ones shrinking, within the bound") {
    std::vector<int> bounds;
    for (int threads : {2, 3, 8, 64})
      for (int64_t work : {kSmallParallelWork - 1, kSmallParallelWork, int64_t{1} << 32})
        for (int n = 1; n <= 3000; n += n < 100 ? 1 : 37) {
          bounds.assign(kMaxChunksPerThread * threads + 1, -1);
          const int chunks = chunk_bounds(n, work, threads, bounds.data());
          REQUIRE(chunks >= 1);
          REQUIRE(chunks <= kMaxChunksPerThread * threads);
          CHECK(bounds[0] == 0);
          CHECK(bounds[chunks] == n);
          for (int i = 0; i < chunks; ++i) {
            CHECK(bounds[i] < bounds[i + 1]);
            if (work >= kSmallParallelWork && i > 0 && i + 1 < chunks)
              CHECK(bounds[i + 1] - bounds[i] <= bounds[i] - bounds[i - 1]);
          }
          if (work < kSmallParallelWork) {  // 2 chunks per thread, or 1 where only that splits n evenly
            const bool one_each = n % std::min(n, 2 * threads) != 0 && n % threads == 0;
            CHECK(chunks == (one_each ? threads : std::min(n, 2 * threads)));
            const int most = (n + chunks - 1) / chunks;
            for (int i = 0; i < chunks; ++i) CHECK(bounds[i + 1] - bounds[i] >= most - 1);
          }
        }
    int b[2 * kMaxChunksPerThread + 1];
    REQUIRE(chunk_bounds(6, kSmallParallelWork - 1, 2, b) == 2);  // 3 3, not 1 2 1 2
    CHECK(b[1] == 3);
    REQUIRE(chunk_bounds(8, kSmallParallelWork - 1, 2, b) == 4);  // 2 2 2 2
    REQUIRE(chunk_bounds(7, kSmallParallelWork - 1, 2, b) == 4);
    REQUIRE(chunk_bounds(64, int64_t{1} << 30, 2, b) == 11);  // 16 12 9 7 5 4 3 2 2 2 2
    CHECK(b[1] == 16);
    CHECK(b[2] == 28);
    CHECK(b[10] == 62);
    REQUIRE(chunk_bounds(64, 16 * kMinChunkWork, 2, b) == 9);  // 16 12 9 7 5 4 4 4 3: 4 units are kMinChunkWork
    CHECK(b[6] == 53);
    CHECK(b[8] == 61);
  }

  TEST_CASE("matmul: vector widths, tails, several tokens, bias, threads") {
    for (int threads : {1, 2}) {
      set_threads(threads);
      check_matmul<4, 8>(1, false);
      check_matmul<7, 13>(3, true);       // odd rows and a scalar tail
      check_matmul<64, 172>(1, false);
      check_matmul<172, 64>(5, true);
      check_matmul<256, 256>(17, false);  // large enough to run in parallel
      check_matmul<1001, 96>(2, true);
    }
  }

  TEST_CASE("quantize_group: GGUF q8_0 / q4_0 numerics in llmc's layout, zero padding rows") {
    constexpr int In = 96, Rows = 5;
    auto x = random_vector(Rows * In, 21);
    x[5] = 0.0f;
    std::fill(x.begin() + 64, x.begin() + In, 0.0f);  // an all-zero block: d = 0
    for (WFormat f : {WFormat::q8_0, WFormat::q4_0}) {
      std::vector<uint8_t> group(quant_group_bytes(f, In));
      quantize_group(f, x.data(), Rows, In, group.data());
      for (int r = 0; r < 16; ++r)
        for (int blk = 0; blk < In / 32; ++blk) {
          float d = 0;
          int q[32] = {};
          if (r < Rows) gguf_block(f, &x[r * In + blk * 32], &d, q);
          CHECK(quant_scale(f, group.data(), Rows, In, r, blk * 32) == d);
          for (int j = 0; j < 32; ++j) CHECK(quant_int(f, group.data(), Rows, In, r, blk * 32 + j) == q[j]);
        }
    }
  }

  TEST_CASE("quantize_group: q4_0 rounds x·id to float before adding 8.5, as GGUF (no fused multiply-add)") {
    // Values v = h·d for half-integers h: v·id is then a hair off h but rounds to exactly h in float, so
    // the rounded product plus 8.5 is an integer while a fused multiply-add (which C++ lets the compiler
    // form from x * id + 8.5f) lands just below it and truncates one lower. Such ties are about 1 in 10^7
    // random weights; they made a q4_0 binary and `llmc quantize` disagree.
    constexpr int In = 32;
    std::vector<float> x(In, 0.0f);
    x[0] = -1.3f;  // the block's max: d = -1.3 / -8, id = 1 / d, not a power of two
    const float d = x[0] / -8.0f, id = 1.0f / d;
    int found = 1;
    for (int h = -15; h <= 15 && found < In; h += 2)
      for (int step = -2; step <= 2 && found < In; ++step) {
        float v = static_cast<float>(h) / 2.0f * d;
        for (int k = 0; k < std::abs(step); ++k) v = std::nextafter(v, step < 0 ? -10.0f : 10.0f);
        volatile float rounded = v * id;
        if (std::fabs(v) < 1.3f && int(int8_t(rounded + 8.5f)) != int(int8_t(std::fma(v, id, 8.5f)))) x[found++] = v;
      }
    REQUIRE(found > 1);  // at least one such value exists for this id
    std::vector<uint8_t> group(quant_group_bytes(WFormat::q4_0, In));
    quantize_group(WFormat::q4_0, x.data(), 1, In, group.data());
    float dq = 0;
    int q[32];
    gguf_block(WFormat::q4_0, x.data(), &dq, q);
    for (int j = 0; j < found; ++j) CHECK(quant_int(WFormat::q4_0, group.data(), 1, In, 0, j) == q[j]);
  }

  TEST_CASE("quantize_block (vectorised) equals quantize_block_ref on ties, zeros, signs and extremes") {
    std::vector<std::vector<float>> blocks;
    for (uint32_t seed = 1; seed <= 200; ++seed) blocks.push_back(random_vector(32, seed, seed % 7 == 0 ? 1e30f : 2.0f));
    for (int kind = 0; kind < 4; ++kind) {  // ties: v·id lands on k + 0.5 (q8_0) or a half-integer (q4_0)
      std::vector<float> b(32, 0.0f);
      b[kind] = kind % 2 ? -1.3f : 127.0f;
      const float d = kind < 2 ? std::fabs(b[kind]) / 127.0f : b[kind] / -8.0f;
      for (int j = 0; j < 32; ++j)
        if (j != kind) b[j] = (static_cast<float>(kind < 2 ? j * 4 % 121 - 60 : j % 15 - 7) + 0.5f) * d;
      blocks.push_back(b);
    }
    blocks.push_back(std::vector<float>(32, 0.0f));
    blocks.push_back(std::vector<float>(32, -0.0f));
    std::vector<float> mixed(32, 1e-42f);  // denormals, and the largest magnitude twice with both signs
    mixed[9] = -3.0f;
    mixed[20] = 3.0f;
    mixed[30] = -0.0f;
    blocks.push_back(mixed);
    std::reverse(mixed.begin(), mixed.end());
    blocks.push_back(mixed);
    for (WFormat f : {WFormat::q8_0, WFormat::q4_0})
      for (const auto& b : blocks) {
        float d_ref = 0, d = 0;
        int q_ref[32], q[32];
        quantize_block_ref(f, b.data(), &d_ref, q_ref);
        quantize_block(f, b.data(), &d, q);
        CHECK(std::memcmp(&d, &d_ref, 4) == 0);
        CHECK(std::equal(q, q + 32, q_ref));
      }
  }

  TEST_CASE("quantised activations: the SIMD path equals the reference bit for bit") {
#ifdef LLMC_MM_SIMD
    constexpr int In = 256;
    auto x = random_vector(In, 31, 3.0f);
    std::fill(x.begin(), x.begin() + 32, 0.0f);
    x[40] = 1e-30f;
    std::vector<uint8_t> ref(mm::kQActBytes<In>), got(mm::kQActBytes<In>);
    mm::quantize_acts_ref<WFormat::q8_0, In>(x.data(), ref.data());
    mm::quantize_acts<WFormat::q8_0, In>(x.data(), got.data());
    CHECK(std::memcmp(ref.data(), got.data(), In + In / 32 * 8) == 0);
    mm::quantize_acts_ref<WFormat::q4_0, In>(x.data(), ref.data());
    mm::quantize_acts<WFormat::q4_0, In>(x.data(), got.data());
    CHECK(std::memcmp(ref.data(), got.data(), In + In / 32 * 8) == 0);
#endif
  }

  TEST_CASE("q8_K activations: the SIMD path equals the reference bit for bit") {
#ifdef LLMC_MMQ_SIMD
    constexpr int In = 1024;
    auto x = random_vector(In, 33, 3.0f);
    std::fill(x.begin() + 256, x.begin() + 512, 0.0f);  // an all-zero super-block
    x[600] = -9.0f;                                      // ties of magnitude: the first one's sign counts
    x[700] = 9.0f;
    x[800] = 4.0f;
    x[900] = -4.0f;
    x[1000] = 0.5f * 4.0f / 127.0f;  // products at half-way points: rounded to even
    x[1001] = 1.5f * 4.0f / 127.0f;
    for (WFormat f : {WFormat::q4_k, WFormat::q6_k}) {  // (q5_k's are q4_k's)
      std::vector<uint8_t> ref(mm::kKActBytes<WFormat::q6_k, In>, 0xaa), got(ref.size(), 0x55);
      const size_t used = f == WFormat::q4_k ? In + In / 256 * 4 + In / 16 : In + In / 256 * 4 + In / 8;
      if (f == WFormat::q4_k) {
        mm::quantize_acts_k_ref<WFormat::q4_k, In>(x.data(), ref.data());
        mm::quantize_acts_k<WFormat::q4_k, In>(x.data(), got.data());
      } else {
        mm::quantize_acts_k_ref<WFormat::q6_k, In>(x.data(), ref.data());
        mm::quantize_acts_k<WFormat::q6_k, In>(x.data(), got.data());
      }
      CHECK(std::memcmp(ref.data(), got.data(), used) == 0);
    }
#endif
  }

  TEST_CASE("matmul with q4_k, q5_k and q6_k weights: tiles, tails, threads, bit for bit with the scalar arithmetic") {
    for (int threads : {1, 2}) {
      set_threads(threads);
      for (WFormat f : {WFormat::q4_k, WFormat::q5_k, WFormat::q6_k}) {
        check_kquant_matmul<8, 256>(f, 1);
        check_kquant_matmul<13, 512>(f, 3);    // row and token tails
        check_kquant_matmul<256, 256>(f, 1);   // decode, one group at a time, in parallel
        check_kquant_matmul<100, 512>(f, 11);  // prefill tiles and tails, in parallel
        check_kquant_matmul<200, 1536>(f, 1);  // decode with groups of 12 KB or more (tiles of 8), then single groups
        check_kquant_matmul<40, 1536>(f, 6);
      }
      for (int sign : {1, -1}) {
        check_kquant_extremes<WFormat::q4_k>(sign);
        check_kquant_extremes<WFormat::q5_k>(sign);
        check_kquant_extremes<WFormat::q6_k>(sign);
      }
    }
  }

  TEST_CASE("matmul with f32, q8_0, q4_0 and grouped f32 / f16 / bf16 weights") {
    for (int threads : {1, 2}) {
      set_threads(threads);
      for (WFormat f : {WFormat::f32, WFormat::q8_0, WFormat::q4_0, WFormat::f32_g16, WFormat::f16_g16,
                        WFormat::bf16_g16}) {
        check_typed_matmul<8, 64>(f, 1);
        check_typed_matmul<13, 96>(f, 3);     // row and token tails
        check_typed_matmul<256, 256>(f, 1);   // decode, in parallel
        check_typed_matmul<100, 320>(f, 11);  // prefill tiles and tails, in parallel
        check_typed_matmul<200, 64>(f, 1);    // decode: whole tiles of groups, then single groups
        check_typed_matmul<200, 1376>(f, 1);  // the same with q8_0 / q4_0 groups of 12 KB or more (tiles of 8)
        if (!is_quantised(f)) {
          check_typed_matmul<21, 172>(f, 2);  // columns not a multiple of the vector width
          check_typed_matmul<37, 171>(f, 2);  // an odd column count (bf16_g16: a padding column)
          check_typed_matmul<37, 171>(f, 29);  // prefill: whole token tiles and a tail
          check_typed_matmul<70, 33>(f, 1);
        }
      }
    }
  }

  TEST_CASE("matmuls (several matrices, one input, one parallel step) equal separate matmuls bit for bit") {
    for (int threads : {1, 2}) {
      set_threads(threads);
      for (WFormat f : {WFormat::q8_0, WFormat::q4_0, WFormat::f32_g16, WFormat::f16_g16, WFormat::bf16_g16})
        check_matmuls<96>(f, threads);
      for (WFormat f : {WFormat::q4_k, WFormat::q5_k, WFormat::q6_k}) check_matmuls<256>(f, threads);
    }
  }

  TEST_CASE("head_matmuls (one matrix per head, strided inputs and outputs) equal a matmul per head bit for bit") {
    for (int threads : {1, 2}) {
      set_threads(threads);
      for (WFormat f : {WFormat::q8_0, WFormat::q4_0, WFormat::f32_g16, WFormat::f16_g16, WFormat::bf16_g16})
        for (int T : {1, 7}) {
          check_head_matmuls<40, 64>(f, T);
          check_head_matmuls<130, 96>(f, T);  // a tile of 8 groups and one more
        }
      for (WFormat f : {WFormat::q4_k, WFormat::q6_k})
        for (int T : {1, 5}) check_head_matmuls<40, 256>(f, T);
    }
  }

  TEST_CASE("bf16_g16 matmul: denormal products, inputs and sums flushed as vdpbf16ps does") {
    // Products and sums around 2^-126, so that FTZ and DAZ decide many results; some denormal inputs.
    constexpr int Out = 40, In = 67, T = 3;
    auto w = random_vector(size_t(Out) * In, 41, 1e-19f), x = random_vector(size_t(T) * In, 42, 1e-19f);
    for (size_t i = 0; i < w.size(); i += 5) w[i] *= 1e-20f;
    for (size_t i = 0; i < x.size(); i += 7) x[i] *= 1e-20f;
    const TypedMatrix m = make_typed(WFormat::bf16_g16, w, Out, In);
    std::vector<float> xr = x, got(size_t(T) * Out), want(size_t(T) * Out);
    for (float& v : xr) v = round_bf16(v);
    for (int t = 0; t < T; ++t)
      for (int o = 0; o < Out; ++o) want[size_t(t) * Out + o] = dpbf16_chain(&m.values[size_t(o) * In], &xr[size_t(t) * In], In);
    for (int threads : {1, 2}) {
      set_threads(threads);
      matmul<Out, In>(got.data(), Out, x.data(), Matrix{WFormat::bf16_g16, m.bytes.data()}, nullptr, T);
      CHECK(std::memcmp(got.data(), want.data(), got.size() * sizeof(float)) == 0);
      matmul<Out, In>(got.data(), Out, x.data(), Matrix{WFormat::bf16_g16, m.bytes.data()}, nullptr, 1);
      CHECK(std::memcmp(got.data(), want.data(), Out * sizeof(float)) == 0);
    }
    int flushed = 0;
    for (float v : want) flushed += v == 0.0f;
    CHECK(flushed > 0);
  }

  TEST_CASE("bf16 activations: the SIMD rounding equals the reference bit for bit") {
#ifdef LLMC_MMQ_SIMD
    constexpr int In = 77;
    auto x = random_vector(In, 43, 3.0f);
    const uint32_t special[] = {0x3f808000, 0x3f818000, 0x3f807fff, 0x00000001, 0x807fffff, 0x00800000, 0x7f7fffff,
                                0xff7fffff, 0x7f800000, 0xff800000, 0x80000000, 0x7f7f8000};  // ties, denormals, limits
    for (size_t i = 0; i < std::size(special); ++i) std::memcpy(&x[i * 5], &special[i], 4);
    std::vector<uint8_t> ref(mm::kBActBytes<In>, 0xff), got(mm::kBActSimdBytes<In>, 0xee);
    mm::round_acts_bf16_ref<In>(x.data(), ref.data());
    mm::round_acts_bf16<In>(x.data(), got.data());
    if (got.size() == ref.size()) {  // bf16 pairs for vdpbf16ps
      CHECK(std::memcmp(ref.data(), got.data(), ref.size()) == 0);
    } else {  // the same values as fp32
      REQUIRE(got.size() == 2 * ref.size());
      for (size_t i = 0; i < ref.size() / 2; ++i) {
        uint16_t h;
        uint32_t v;
        std::memcpy(&h, &ref[2 * i], 2);
        std::memcpy(&v, &got[4 * i], 4);
        CHECK(v == uint32_t(h) << 16);
      }
    }
    for (int i = 0; i < In; ++i) {
      uint16_t h;
      std::memcpy(&h, &ref[2 * i], 2);
      const float want = round_bf16(x[i]), value = bf16_to_f32(h);
      CHECK(std::memcmp(&want, &value, 4) == 0);
    }
#endif
  }

#ifdef __AVX512BF16__
  TEST_CASE("vdpbf16ps on this CPU computes what the reference emulates") {
    // Random bf16 pairs over the whole exponent range, near the denormal boundary and with cancellation.
    std::mt19937 rng(44);
    auto bf16 = [&](int emin, int emax) {
      const uint32_t e = uint32_t(emin) + rng() % uint32_t(emax - emin + 1);
      return uint16_t((rng() & 0x8000) | (e << 7) | (rng() & 0x7f));
    };
    int mismatches = 0;
    for (int round = 0; round < 4096; ++round) {
      alignas(64) uint16_t w[32], x[32];
      alignas(64) float acc[16], got[16];
      for (int l = 0; l < 16; ++l) {
        const int kind = (round + l) % 4;
        const int lo = kind == 0 ? 0 : kind == 1 ? 55 : 100, hi = kind == 0 ? 255 : kind == 1 ? 75 : 150;
        for (int k = 0; k < 2; ++k) {
          w[2 * l + k] = bf16(lo, hi);
          x[2 * l + k] = bf16(lo, hi);
        }
        if (kind == 3) {  // w1·x1 = −w0·x0, or one ulp off
          w[2 * l + 1] = w[2 * l];
          x[2 * l + 1] = uint16_t((x[2 * l] ^ 0x8000) + (rng() & 1));
        }
        uint32_t a = (rng() & 0x807fffff) | ((rng() % 4 == 0 ? rng() % 3 : 100 + rng() % 60) << 23);
        std::memcpy(&acc[l], &a, 4);
        if (kind == 2) acc[l] = -bf16_to_f32(w[2 * l]) * bf16_to_f32(x[2 * l]);
      }
      const __m512 r = _mm512_dpbf16_ps(_mm512_load_ps(acc), (__m512bh)_mm512_load_si512(w), (__m512bh)_mm512_load_si512(x));
      _mm512_store_ps(got, r);
      for (int l = 0; l < 16; ++l) {
        const float wv[2] = {bf16_to_f32(w[2 * l]), bf16_to_f32(w[2 * l + 1])};
        const float xv[2] = {bf16_to_f32(x[2 * l]), bf16_to_f32(x[2 * l + 1])};
        float want = flush(acc[l]);
        want = flush(std::fma(flush(wv[1]), flush(xv[1]), want));
        want = flush(std::fma(flush(wv[0]), flush(xv[0]), want));
        if (std::isnan(want) ? !std::isnan(got[l]) : std::memcmp(&want, &got[l], 4) != 0) ++mismatches;
      }
    }
    CHECK(mismatches == 0);
  }
#endif

  TEST_CASE("rms_norm with plain, offset-one and no weights") {
    constexpr int N = 37;
    const auto x = random_vector(2 * N, 4), w = random_vector(N, 5);
    for (Weighting wt : {Weighting::plain, Weighting::offset_one, Weighting::none}) {
      std::vector<float> ref(2 * N), got(2 * N);
      for (int t = 0; t < 2; ++t) {
        double ss = 0;
        for (int i = 0; i < N; ++i) ss += double(x[t * N + i]) * x[t * N + i];
        const double inv = 1.0 / std::sqrt(ss / N + 1e-5);
        for (int i = 0; i < N; ++i) {
          const double scale = wt == Weighting::plain ? w[i] : wt == Weighting::offset_one ? 1.0 + w[i] : 1.0;
          ref[t * N + i] = float(x[t * N + i] * inv * scale);
        }
      }
      if (wt == Weighting::plain) rms_norm<N, Weighting::plain>(got.data(), x.data(), w.data(), 1e-5f, 2);
      if (wt == Weighting::offset_one) rms_norm<N, Weighting::offset_one>(got.data(), x.data(), w.data(), 1e-5f, 2);
      if (wt == Weighting::none) rms_norm<N, Weighting::none>(got.data(), x.data(), nullptr, 1e-5f, 2);
      CHECK(nmse(ref, got) < 1e-12);
    }
  }

  TEST_CASE("layer_norm with weight and bias") {
    constexpr int N = 24;
    const auto x = random_vector(3 * N, 6, 3.0f), w = random_vector(N, 7), b = random_vector(N, 8);
    std::vector<float> ref(3 * N), got(3 * N);
    for (int t = 0; t < 3; ++t) {
      double mean = 0, var = 0;
      for (int i = 0; i < N; ++i) mean += x[t * N + i];
      mean /= N;
      for (int i = 0; i < N; ++i) var += (x[t * N + i] - mean) * (x[t * N + i] - mean);
      var /= N;
      for (int i = 0; i < N; ++i) ref[t * N + i] = float((x[t * N + i] - mean) / std::sqrt(var + 1e-5) * w[i] + b[i]);
    }
    layer_norm<N, Weighting::plain>(got.data(), x.data(), w.data(), b.data(), 1e-5f, 3);
    CHECK(nmse(ref, got) < 1e-12);
  }

  TEST_CASE("temperature_tune: q × (log(floor((pos + 1) / floor_scale) + 1) · scale + 1) per row") {
    constexpr int N = 5, T = 12;
    std::vector<float> v(T * 8, 2.0f);
    temperature_tune<N>(v.data(), 8, T, 1, 4.0f, 0.5f);  // positions 1..12
    for (int t = 0; t < T; ++t) {
      const int pos = 1 + t;
      const double f = std::log(std::floor((pos + 1) / 4.0) + 1.0) * 0.5 + 1.0;
      for (int i = 0; i < N; ++i) CHECK(v[t * 8 + i] == doctest::Approx(2.0 * f).epsilon(1e-6));
      for (int i = N; i < 8; ++i) CHECK(v[t * 8 + i] == 2.0f);  // past N: untouched
      if (pos < 3) CHECK(v[t * 8] == 2.0f);                     // ⌊(pos + 1) / 4⌋ = 0: no change
    }
  }

  TEST_CASE("rope: half and interleaved pairing, partial rotary") {
    constexpr int Heads = 2, HeadDim = 8, Rot = 4, T = 3, pos = 5;
    const auto v = random_vector(T * Heads * HeadDim, 9);
    std::vector<float> cos_t(16 * Rot / 2), sin_t(16 * Rot / 2);
    const float inv[2] = {1.0f, 0.01f};
    for (int p = 0; p < 16; ++p)
      for (int i = 0; i < Rot / 2; ++i) {
        cos_t[p * 2 + i] = std::cos(p * inv[i]);
        sin_t[p * 2 + i] = std::sin(p * inv[i]);
      }
    for (Pairing pairing : {Pairing::half, Pairing::interleaved}) {
      std::vector<float> ref = v, got = v;
      for (int t = 0; t < T; ++t)
        for (int h = 0; h < Heads; ++h)
          for (int i = 0; i < Rot / 2; ++i) {
            float* head = ref.data() + (t * Heads + h) * HeadDim;
            const int a = pairing == Pairing::half ? i : 2 * i, b = pairing == Pairing::half ? i + Rot / 2 : 2 * i + 1;
            const double th = (pos + t) * double(inv[i]);
            const double x0 = head[a], x1 = head[b];
            head[a] = float(x0 * std::cos(th) - x1 * std::sin(th));
            head[b] = float(x0 * std::sin(th) + x1 * std::cos(th));
          }
      if (pairing == Pairing::half)
        rope<Heads, HeadDim, Rot, Pairing::half>(got.data(), Heads * HeadDim, T, pos, cos_t.data(), sin_t.data());
      else
        rope<Heads, HeadDim, Rot, Pairing::interleaved>(got.data(), Heads * HeadDim, T, pos, cos_t.data(), sin_t.data());
      CHECK(nmse(ref, got) < 1e-10);
      for (int i = Rot; i < HeadDim; ++i) CHECK(got[i] == v[i]);  // dims past rotary_dim untouched
    }
  }

  TEST_CASE("attention: GQA, causal, sliding window, chunks, soft-cap, ALiBi") {
    check_attention<4, 2, 8, 32>(6, 5);     // head_dim below the vector width
    check_attention<4, 2, 64, 96>(40, 5);   // vectorised exp and value sums, and their tails
    check_attention<4, 4, 32, 64>(0, 37);   // prefill from position 0
    for (int threads : {1, 2}) {            // blocked prompt attention: two key chunks, a part-filled row block
      set_threads(threads);
      check_attention<4, 2, 64, 640>(300, 41);
      check_attention<4, 4, 32, 640>(250, 40);  // the window crosses a chunk boundary
      // One query at a time, in runs of heads: MHA decode (runs split between threads), and a short GQA
      // prompt (runs that cross from one token to the next).
      check_attention<12, 12, 64, 512>(300, 1);
      check_attention<12, 12, 64, 512, uint16_t>(300, 1);
      check_attention<8, 4, 32, 128>(100, 3);
    }
    check_attention<16, 1, 32, 64>(20, 1);  // one decode step of MQA: a vector of heads, blocked
    check_attention<16, 2, 32, 64>(20, 1);  // 8 heads per KV head: blocked in 8 lanes
    check_attention<4, 4, 64, 96>(40, 1);   // decode, one query per KV head: one query at a time
    check_attention<4, 2, 8, 32>(6, 1);     // the same with head_dim below the vector width
    // An f16 cache (llmc build --kv-cache f16), through each kernel: 16-lane and 8-lane blocks, one query.
    check_attention<4, 2, 64, 640, uint16_t>(300, 41);
    check_attention<16, 2, 32, 64, uint16_t>(20, 1);
    check_attention<4, 4, 64, 96, uint16_t>(40, 1);
    check_attention<4, 2, 8, 32, uint16_t>(6, 1);
    // Rows of a cache that holds other layers' keys and values between them, through each kernel.
    check_attention<4, 2, 64, 640, float, 3 * 2 * 64>(300, 41);
    check_attention<16, 2, 32, 64, uint16_t, 5 * 2 * 32>(20, 1);
    check_attention<12, 12, 64, 512, float, 2 * 12 * 64 + 16>(300, 1);
    check_attention<4, 2, 8, 32, float, 3 * 2 * 8>(6, 5);
    // head_dim 80 and 96 (5 and 6 vectors of 16): value passes of 2 rows, in 16-lane and 8-lane blocks.
    check_attention<8, 1, 80, 96>(20, 3);
    check_attention<16, 2, 80, 64>(20, 1);
    check_attention<16, 2, 96, 64>(20, 1);
    check_attention<4, 2, 96, 640, uint16_t>(300, 41);
    // Split keys (fewer than kSplitBelowJobs row blocks × KV heads, keys past a kKeySegment boundary): MLA's
    // decode (16 heads over one shared row of latent 512 + rope 64, f16: wider than 16 vectors, values weighted
    // a vector of every row at a time) over 3 segments; two tokens in two row blocks, the first of which sees
    // no key of the last segment (one query row past it); 2 KV heads of 8-lane blocks.
    for (int threads : {1, 2}) {
      set_threads(threads);
      check_attention<16, 1, 576, 1536, uint16_t>(1300, 1);
      check_attention<16, 1, 64, 1536>(1023, 2);
      check_attention<16, 2, 32, 1536>(700, 1);
    }
  }

  TEST_CASE("attention: split keys give the same bits at any thread count") {
    check_attention_threads<16, 1, 576, 4096, uint16_t>(4000, 1);  // MLA's decode after 4000 positions: 8 segments
    check_attention_threads<16, 1, 64, 2048>(1500, 2);
    check_attention_threads<16, 2, 32, 2048>(1100, 1);
  }

  TEST_CASE("split_qkv layouts") {
    constexpr int H = 4, KV = 2, D = 2;  // groups of two query heads
    std::vector<float> qkv(2 * (H + 2 * KV) * D);
    for (size_t i = 0; i < qkv.size(); ++i) qkv[i] = float(i);
    std::vector<float> q(2 * H * D), k(2 * KV * D), v(2 * KV * D);
    split_qkv<H, KV, D, QkvLayout::fused>(q.data(), k.data(), v.data(), qkv.data(), 2);
    CHECK(q[0] == 0);
    CHECK(k[0] == 8);
    CHECK(v[0] == 12);
    CHECK(q[8] == 16);  // second token
    split_qkv<H, KV, D, QkvLayout::per_kv_group>(q.data(), k.data(), v.data(), qkv.data(), 1);
    // Group 0 = rows 0..7: q heads 0,1 (0..3), k (4,5), v (6,7); group 1 = rows 8..15.
    CHECK(q[2] == 2);
    CHECK(k[0] == 4);
    CHECK(v[0] == 6);
    CHECK(q[4] == 8);
    CHECK(k[2] == 12);
    CHECK(v[2] == 14);
  }

  TEST_CASE("activations") {
    CHECK(activate(Act::silu, 1.0f) == doctest::Approx(1.0 / (1.0 + std::exp(-1.0))));
    CHECK(activate(Act::gelu, 1.0f) == doctest::Approx(0.8413447));
    CHECK(activate(Act::gelu_tanh, 1.0f) == doctest::Approx(0.8411920));
    CHECK(activate(Act::relu, -2.0f) == 0.0f);
    std::vector<float> g = {1.0f, -2.0f}, u = {3.0f, 4.0f}, out(2);
    gated_activation<2, Act::silu>(out.data(), g.data(), 2, u.data(), 2, 1);
    CHECK(out[0] == doctest::Approx(activate(Act::silu, 1.0f) * 3.0f));
    CHECK(out[1] == doctest::Approx(activate(Act::silu, -2.0f) * 4.0f));
  }

  TEST_CASE("mamba2_conv_scan: the definition, any steps and threads the same bits") {
    check_mamba2_conv_scan<6, 16, 32, 2, 4>();
    check_mamba2_conv_scan<6, 20, 16, 2, 4>();  // a partial batch of conv channels
    check_mamba2_conv_scan<4, 8, 12, 1, 3>();   // state no multiple of 16
  }

  TEST_CASE("causal_conv_silu: the definition, any steps and threads the same bits") {
    constexpr int N = 37, K = 4, T = 6;
    const auto x = random_vector(size_t(T) * N * 2, 21), w = random_vector(size_t(N) * K, 22), b = random_vector(N, 23);
    auto run = [&](std::initializer_list<int> steps) {
      std::vector<float> out(size_t(T) * N), window(size_t(K - 1) * N, 0.0f);
      int t = 0;
      for (int count : steps) {
        causal_conv_silu<N, K>(out.data() + size_t(t) * N, x.data() + size_t(t) * 2 * N, 2 * N, window.data(), w.data(),
                               b.data(), count);
        t += count;
      }
      out.insert(out.end(), window.begin(), window.end());
      return out;
    };
    const std::vector<float> whole = same_bits_over_splits(run, T, {{1, 1, 4}, {2, 4}});
    for (int t = 0; t < T; ++t)
      for (int c = 0; c < N; ++c) {
        double sum = b[c];
        for (int j = 0; j < K; ++j)
          if (t - (K - 1) + j >= 0) sum += double(w[c * K + j]) * x[size_t(t - (K - 1) + j) * 2 * N + c];
        CHECK(whole[size_t(t) * N + c] == doctest::Approx(sum / (1.0 + std::exp(-sum))).epsilon(1e-5).scale(1e-6));
      }
  }

  TEST_CASE("vectorised activations agree with the scalar ones (vector body and tail, several tokens)") {
    constexpr int N = 37, T = 3;
    std::vector<float> g(N * T), u(N * T), out(N * T);
    for (int i = 0; i < N * T; ++i) {
      g[i] = (i % 2 ? -1.0f : 1.0f) * 0.37f * static_cast<float>(i % 41) - (i == 5 ? 200.0f : 0.0f);
      u[i] = 0.5f + 0.01f * static_cast<float>(i);
    }
    g[7] = 200.0f;
    auto check = [&](Act a, auto run) {
      run();
      for (int i = 0; i < N * T; ++i) {
        const float want = activate(a, g[i]) * u[i];
        CHECK(out[i] == doctest::Approx(want).epsilon(2e-6).scale(1e-30));
      }
    };
    check(Act::silu, [&] { gated_activation<N, Act::silu>(out.data(), g.data(), N, u.data(), N, T); });
    check(Act::gelu, [&] { gated_activation<N, Act::gelu>(out.data(), g.data(), N, u.data(), N, T); });
    check(Act::gelu_tanh, [&] { gated_activation<N, Act::gelu_tanh>(out.data(), g.data(), N, u.data(), N, T); });
    check(Act::relu, [&] { gated_activation<N, Act::relu>(out.data(), g.data(), N, u.data(), N, T); });
    std::vector<float> x = g;
    activation<N, Act::silu>(x.data(), T);
    for (int i = 0; i < N * T; ++i) CHECK(x[i] == doctest::Approx(activate(Act::silu, g[i])).epsilon(2e-6).scale(1e-30));
  }
}
