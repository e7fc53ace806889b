// Kernels of recurrent mixers: RWKV-4's token shift and WKV recurrence, Mamba's and Mamba 2's convolution and
// scans. They run over one sequence's rows of a step and carry what the next step needs in that sequence's fixed
// state, so a sequence has no per-position state and no length limit.
#pragma once
#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <type_traits>

#include <immintrin.h>
#include <xsimd/xsimd.hpp>

#include "llmc/threads.hpp"

namespace llmc {

// How a checkpoint gives a Mamba scan its decay rates: Hugging Face's A_log (A = −exp(A_log), computed here), or A
// itself, as GGUF files store it (convert_hf_to_gguf.py computes −exp(A_log) in fp32).
enum class SsmA { a_log, a };

// The exponent offset of a channel's WKV state before any token (Hugging Face's RwkvModel starts at -1e30).
inline constexpr float kWkvEmptyMax = -1e30f;

// PyTorch's softplus (beta 1, threshold 20).
inline float softplus(float x) { return x > 20.0f ? x : std::log1p(std::exp(x)); }

namespace detail {

template <int n, int lanes>
inline constexpr bool lanes_divide = n % lanes == 0 && !std::is_void_v<xsimd::make_sized_batch_t<float, lanes>>;

// The widest batch of floats the target has whose lanes divide n (16, 8 or 4), or void: loops over a state row
// of n use it, in scalars when void.
template <int n>
using row_batch_t = std::conditional_t<
    lanes_divide<n, 16>, xsimd::make_sized_batch_t<float, 16>,
    std::conditional_t<lanes_divide<n, 8>, xsimd::make_sized_batch_t<float, 8>,
                       std::conditional_t<lanes_divide<n, 4>, xsimd::make_sized_batch_t<float, 4>, void>>>;

// PyTorch's softplus (beta 1, threshold 20), per lane.
template <class B>
inline B softplus(B x) {
  return xsimd::select(x > B(20.0f), x, xsimd::log1p(xsimd::exp(x)));
}

// f applied in place to n floats, a whole batch at a time: the last, partial batch goes through a padded copy, so
// every value is computed by the same lane code wherever it falls (results do not depend on how the caller cuts
// the work).
template <class F>
inline void each_batch(float* v, int n, F&& f) {
  using B = xsimd::batch<float>;
  int i = 0;
  for (; i + static_cast<int>(B::size) <= n; i += B::size) f(B::load_unaligned(v + i)).store_unaligned(v + i);
  if (i == n) return;
  alignas(64) float tail[B::size] = {};
  std::copy(v + i, v + n, tail);
  f(B::load_aligned(tail)).store_aligned(tail);
  std::copy(tail, tail + (n - i), v + i);
}

// x · sigmoid(x), per lane.
template <class B>
inline B silu(B x) {
  return x / (B(1.0f) + xsimd::exp(-x));
}

// Σ a[i]·b[i] over n values.
template <int n>
inline float dot(const float* a, const float* b) {
  using B = row_batch_t<n>;
  if constexpr (std::is_void_v<B>) {
    float sum = 0.0f;
    for (int i = 0; i < n; ++i) sum += a[i] * b[i];
    return sum;
  } else {
    B sum(0.0f);
    for (int i = 0; i < n; i += B::size) sum = xsimd::fma(B::load_unaligned(a + i), B::load_unaligned(b + i), sum);
    return xsimd::hadd(sum);
  }
}

// One lane-width of RWKV-4 channels (V: a batch, or float for one) over `count` rows of stride N; state holds
// num, den and max, N apart.
template <class V>
inline void wkv_channels(float* out, const float* k, const float* v, const float* time_decay, const float* time_first,
                         float* state, int N, int count) {
  auto load = [](const float* p) {
    if constexpr (std::is_same_v<V, float>) {
      return *p;
    } else {
      return V::load_unaligned(p);
    }
  };
  auto store = [](float* p, V x) {
    if constexpr (std::is_same_v<V, float>) {
      *p = x;
    } else {
      x.store_unaligned(p);
    }
  };
  using std::exp, std::max, xsimd::exp, xsimd::max;
  const V w = -exp(load(time_decay)), u = load(time_first);
  // A new sequence's state is all zeros (State::reset); den is at least 1 after any token, so 0 marks it empty.
  V n = load(state), d = load(state + N), m = load(state + 2 * N);
  if constexpr (std::is_same_v<V, float>) {
    if (d == 0.0f) m = kWkvEmptyMax;
  } else {
    m = xsimd::select(d == V(0.0f), V(kWkvEmptyMax), m);
  }
  for (int t = 0; t < count; ++t) {
    const V kt = load(k + static_cast<size_t>(t) * N), vt = load(v + static_cast<size_t>(t) * N);
    const V m_out = max(m, kt + u);
    const V a = exp(m - m_out), b = exp(kt + u - m_out);
    store(out + static_cast<size_t>(t) * N, (a * n + b * vt) / (a * d + b));
    const V m_next = max(m + w, kt);
    const V c = exp(m + w - m_next), e = exp(kt - m_next);
    n = c * n + e * vt;
    d = c * d + e;
    m = m_next;
  }
  store(state, n);
  store(state + N, d);
  store(state + 2 * N, m);
}

// Mamba's scan of channel c over rows t0..t0 + rows (see mamba_scan), dt of each row given: y before the gate.
template <int N, int S, int R, SsmA Form>
inline void mamba_channel(float* y, const float* x, const float* proj, const float* a_in, const float* d,
                          float* state, int c, int t0, int rows, const float* dts) {
  using B = row_batch_t<S>;
  constexpr int kProj = R + 2 * S;
  alignas(64) float A[S];
  std::copy(a_in + static_cast<size_t>(c) * S, a_in + static_cast<size_t>(c + 1) * S, A);
  if constexpr (Form == SsmA::a_log) each_batch(A, S, [](auto v) { return -xsimd::exp(v); });
  float* const s = state + static_cast<size_t>(c) * S;
  for (int t = 0; t < rows; ++t) {
    const float* const p = proj + static_cast<size_t>(t0 + t) * kProj;
    const float dt = dts[t], xc = x[static_cast<size_t>(t0 + t) * N + c];
    float out = 0.0f;
    if constexpr (std::is_void_v<B>) {
      for (int n = 0; n < S; ++n) {
        s[n] = std::exp(A[n] * dt) * s[n] + (dt * p[R + n]) * xc;
        out += s[n] * p[R + S + n];
      }
    } else {
      B sum(0.0f);
      for (int n = 0; n < S; n += B::size) {
        const B next = xsimd::fma(xsimd::exp(B::load_aligned(A + n) * B(dt)), B::load_unaligned(s + n),
                                  B(dt) * B::load_unaligned(p + R + n) * B(xc));
        next.store_unaligned(s + n);
        sum = xsimd::fma(next, B::load_unaligned(p + R + S + n), sum);
      }
      out = xsimd::hadd(sum);
    }
    y[static_cast<size_t>(t0 + t) * N + c] = out + xc * d[c];
  }
}

// Channels [c0, c1) of causal_conv_silu (out and x have rows of N resp. `stride`), a batch of channels at a time
// along the row, then their part of the window moved on. A partial last batch goes through padded copies, so
// a channel's value is the same instruction sequence wherever the caller cuts the range.
template <int N, int K>
inline void conv_silu_channels(float* out, const float* x, int stride, float* window, const float* w,
                               const float* bias, int c0, int c1, int count) {
  using B = xsimd::batch<float>;
  constexpr int L = B::size;
  auto input = [&](int t) {  // row t of the step, t < 0 from the window
    return t >= 0 ? x + static_cast<size_t>(t) * stride : window + static_cast<size_t>(K - 1 + t) * N;
  };
  for (int c = c0; c < c1; c += L) {
    const int n = std::min(L, c1 - c);
    alignas(64) float taps[K][L] = {}, b[L] = {}, lane[L] = {};
    for (int i = 0; i < n; ++i) {
      for (int j = 0; j < K; ++j) taps[j][i] = w[static_cast<size_t>(c + i) * K + j];
      b[i] = bias ? bias[c + i] : 0.0f;
    }
    auto load = [&](const float* p) {
      if (n == L) return B::load_unaligned(p);
      std::copy(p, p + n, lane);
      return B::load_aligned(lane);
    };
    for (int t = 0; t < count; ++t) {
      B sum(0.0f);
      for (int j = 0; j < K; ++j) sum = xsimd::fma(B::load_aligned(taps[j]), load(input(t - (K - 1) + j) + c), sum);
      const B v = silu(sum + B::load_aligned(b));
      float* const o = out + static_cast<size_t>(t) * N + c;
      if (n == L) {
        v.store_unaligned(o);
      } else {
        v.store_aligned(lane);
        std::copy(lane, lane + n, o);
      }
    }
  }
  // Window row r becomes input row count − (K − 1) + r; rows still taken from the window lie below r, so going up
  // reads each before it is overwritten.
  for (int r = 0; r < K - 1; ++r) {
    const float* const src = input(count - (K - 1) + r) + c0;
    std::copy(src, src + (c1 - c0), window + static_cast<size_t>(r) * N + c0);
  }
}

// One head of Mamba 2's scan over `count` rows (see mamba2_conv_scan): state[p][n] for the head's HeadDim
// channels p and S states n, y[p] written for each row. next_state (or null): the state of the head to run next,
// prefetched a row per channel in the first row's pass. At decode the state (19 MB for Mamba2-130M) comes from
// memory every token, one sequential stream; the prefetch keeps a head's 32 KB more in flight (mamba2_130M q8_0,
// 1 thread, alternated on a busy machine, CPU ms of 256 steps, medians of 5: 2818 without, 2635 with).
template <int Heads, int HeadDim, int S, int Groups>
inline void mamba2_head(float* y, const float* xbc, const float* dt_raw, int dt_stride, float dt_bias, float a,
                        float d, float dt_min, float* state, int h, int count, const float* next_state) {
  using B = row_batch_t<S>;
  constexpr int kInner = Heads * HeadDim, kRow = kInner + 2 * Groups * S, kHeadsPerGroup = Heads / Groups;
  alignas(64) float dt_b[S];  // dt · B of the row
  for (int t = 0; t < count; ++t) {
    const float* const x = xbc + static_cast<size_t>(t) * kRow + h * HeadDim;
    const float* const Bv = xbc + static_cast<size_t>(t) * kRow + kInner + (h / kHeadsPerGroup) * S;
    const float* const C = Bv + Groups * S;
    const float dt = std::max(llmc::softplus(dt_raw[static_cast<size_t>(t) * dt_stride] + dt_bias), dt_min);
    const float decay = std::exp(dt * a);
    for (int n = 0; n < S; ++n) dt_b[n] = dt * Bv[n];
    float* const out = y + static_cast<size_t>(t) * kInner + h * HeadDim;
    if constexpr (std::is_void_v<B>) {
      for (int p = 0; p < HeadDim; ++p) {
        float* const s = state + static_cast<size_t>(p) * S;
        float sum = 0.0f;
        for (int n = 0; n < S; ++n) {
          s[n] = decay * s[n] + dt_b[n] * x[p];
          sum += s[n] * C[n];
        }
        out[p] = sum + d * x[p];
      }
    } else {
      constexpr int L = B::size;
      // One channel's new state row and Σ_n state·C as a batch of partial sums.
      auto channel = [&](int p) {
        float* const s = state + static_cast<size_t>(p) * S;
        if (next_state && t == 0)
          for (int i = 0; i < S; i += 64 / static_cast<int>(sizeof(float)))
            _mm_prefetch(reinterpret_cast<const char*>(next_state + static_cast<size_t>(p) * S + i), _MM_HINT_T0);
        const B xp(x[p]);
        B sum(0.0f);
#pragma GCC unroll 16
        for (int n = 0; n < S; n += L) {
          const B next = xsimd::fma(B(decay), B::load_unaligned(s + n), B::load_aligned(dt_b + n) * xp);
          next.store_unaligned(s + n);
          sum = xsimd::fma(next, B::load_unaligned(C + n), sum);
        }
        return sum;
      };
      for (int p = 0; p < HeadDim; ++p) out[p] = xsimd::hadd(channel(p)) + d * x[p];
    }
  }
}

}  // namespace detail

// Token shift: out[t] = x[t]·mix + x[t−1]·(1 − mix) for the `count` rows of one sequence, x[−1] being `last` (the
// sequence's last row of the previous step, zeros for a new sequence).
template <int N>
inline void token_shift_mix(float* out, const float* x, const float* last, const float* mix, int count) {
  for (int t = 0; t < count; ++t) {
    const float* cur = x + static_cast<size_t>(t) * N;
    const float* prev = t == 0 ? last : cur - N;
    float* o = out + static_cast<size_t>(t) * N;
    for (int i = 0; i < N; ++i) o[i] = cur[i] * mix[i] + prev[i] * (1.0f - mix[i]);
  }
}

// Keeps the last of a sequence's `count` rows of x as the token-shift state of its next step.
template <int N>
inline void save_last_row(float* last, const float* x, int count) {
  std::copy(x + static_cast<size_t>(count - 1) * N, x + static_cast<size_t>(count) * N, last);
}

// RWKV-4's WKV over one sequence's `count` rows, as Hugging Face's rwkv_linear_attention_cpu computes it: per
// channel, wkv_t = (Σ_{i<t} e^{w(t−1−i)+k_i} v_i + e^{u+k_t} v_t) / (same without v), w = −exp(time_decay),
// u = time_first, kept as num·e^max and den·e^max so that no exponent overflows. state: num, den, max ([N] each),
// updated to after the last row. Channels are independent: threads take ranges of batches of them.
template <int N>
inline void rwkv4_wkv(float* out, const float* k, const float* v, const float* time_decay, const float* time_first,
                      float* state, int count) {
  using B = detail::row_batch_t<N>;
  constexpr int kLanes = std::is_void_v<B> ? 1 : static_cast<int>(B::size);
  parallel_for(N / kLanes, int64_t{N} * count * 40, [&](int b0, int b1) {
    for (int i = b0 * kLanes; i < b1 * kLanes; i += kLanes) {
      if constexpr (std::is_void_v<B>) {
        detail::wkv_channels<float>(out + i, k + i, v + i, time_decay + i, time_first + i, state + i, N, count);
      } else {
        detail::wkv_channels<B>(out + i, k + i, v + i, time_decay + i, time_first + i, state + i, N, count);
      }
    }
  });
}

// y[i] = sigmoid(gate[i]) · y[i] over T rows of N.
template <int N>
inline void sigmoid_gate(float* y, const float* gate, int T) {
  alignas(64) float g[N];
  for (int t = 0; t < T; ++t) {
    std::copy(gate + static_cast<size_t>(t) * N, gate + static_cast<size_t>(t + 1) * N, g);
    detail::each_batch(g, N, [](auto x) { return 1.0f / (1.0f + xsimd::exp(-x)); });
    float* const row = y + static_cast<size_t>(t) * N;
    for (int i = 0; i < N; ++i) row[i] *= g[i];
  }
}

// x = relu(x)² over T rows of N (RWKV's channel-mix key).
template <int N>
inline void relu_squared(float* x, int T) {
  for (size_t i = 0; i < static_cast<size_t>(T) * N; ++i) {
    const float r = std::max(x[i], 0.0f);
    x[i] = r * r;
  }
}


// Mamba's causal depthwise convolution over one sequence's `count` rows of x (row stride `stride`), then SiLU:
// out[t][c] = silu(bias[c] + Σ_j w[c][j] · x[t − (K − 1) + j][c]), rows before the step read from `window` (the
// sequence's last K − 1 rows, oldest first; zeros for a new sequence), which is then moved on by `count` rows.
// Threads take ranges of channels, each moving its channels' window on.
template <int N, int K>
inline void causal_conv_silu(float* out, const float* x, int stride, float* window, const float* w, const float* bias,
                             int count) {
  constexpr int kBlock = 64;  // channels per job
  parallel_for((N + kBlock - 1) / kBlock, int64_t{N} * count * (K + 16), [&](int b0, int b1) {
    detail::conv_silu_channels<N, K>(out, x, stride, window, w, bias, b0 * kBlock, std::min(N, b1 * kBlock), count);
  });
}

// A Mamba scan takes its channels kScanChannels and its rows kScanRows at a time: the dt values of such a block
// are computed together (one vectorised softplus over all of them).
inline constexpr int kScanChannels = 16, kScanRows = 64;

// Mamba's selective scan over one sequence's `count` rows, as Hugging Face's MambaMixer.slow_forward: per row,
// dt = softplus(dt_bias + dt_proj · dt_low) per channel; state[c][n] = exp(−exp(a_log[c][n])·dt)·state[c][n] +
// (dt·B[n])·x[c]; y[c] = (Σ_n state[c][n]·C[n] + D[c]·x[c]) · silu(z[c]). proj: the x_proj rows [dt_low (R) | B (S) |
// C (S)]; x: the convolved input; z: the gate (row stride z_stride); state: [N][S], updated. a_in: A_log, or A
// itself with Form a.
// Channels are independent: threads take ranges of them, and each channel runs a block of rows before the next
// (its state row stays in L1 over a prompt).
template <int N, int S, int R, SsmA Form = SsmA::a_log>
inline void mamba_scan(float* y, const float* x, const float* z, int z_stride, const float* proj, const float* dt_proj,
                       const float* dt_bias, const float* a_in, const float* d, float* state, int count) {
  constexpr int kProj = R + 2 * S;
  parallel_for(N, int64_t{N} * count * (8 * S + 2 * R), [&](int c0, int c1) {
    alignas(64) float dts[kScanChannels * kScanRows];  // [channel of the block][row]
    for (int b0 = c0; b0 < c1; b0 += kScanChannels) {
      const int b1 = std::min(c1, b0 + kScanChannels);
      for (int t0 = 0; t0 < count; t0 += kScanRows) {
        const int rows = std::min(kScanRows, count - t0);
        for (int c = b0; c < b1; ++c)
          for (int t = 0; t < rows; ++t)
            dts[(c - b0) * rows + t] = dt_bias[c] + detail::dot<R>(dt_proj + static_cast<size_t>(c) * R,
                                                                   proj + static_cast<size_t>(t0 + t) * kProj);
        detail::each_batch(dts, (b1 - b0) * rows, [](auto v) { return detail::softplus(v); });
        for (int c = b0; c < b1; ++c)
          detail::mamba_channel<N, S, R, Form>(y, x, proj, a_in, d, state, c, t0, rows, dts + (c - b0) * rows);
      }
    }
  });
  parallel_for(count, int64_t{count} * N * 16, [&](int t0, int t1) {  // the gate: y · silu(z), rows across threads
    alignas(64) float gate[N];
    for (int t = t0; t < t1; ++t) {
      float* const row = y + static_cast<size_t>(t) * N;
      std::copy(z + static_cast<size_t>(t) * z_stride, z + static_cast<size_t>(t) * z_stride + N, gate);
      detail::each_batch(gate, N, [](auto v) { return detail::silu(v); });
      for (int c = 0; c < N; ++c) row[c] *= gate[c];
    }
  });
}

// Mamba 2's convolution and scan over one sequence's `count` rows, as Hugging Face's Mamba2Mixer step (torch_forward
// with a cache): xbc = silu(causal conv of proj_xbc) (see causal_conv_silu; window: the convolution's state), rows
// [x (Heads·HeadDim) | B (Groups·S) | C (Groups·S)]; then per head h, dt = max(softplus(dt_raw[h] + dt_bias[h]),
// dt_min), decay = exp(−exp(a_log[h])·dt); per channel p of the head and state n, state[h][p][n] =
// decay·state[h][p][n] + dt·B[n]·x[h][p]; y[h][p] = Σ_n state·C[n] + d[h]·x[h][p]. Head h reads group
// h / (Heads / Groups). proj_xbc and dt_raw rows are `stride` apart. state: [Heads][HeadDim][S], updated. a_in:
// A_log per head, or A itself with Form a.
// B and C, which every head reads, are convolved first on the calling thread; then heads are independent and
// threads take ranges of them, each convolving its heads' channels of x before scanning them: one parallel step,
// the channels' rows still in cache for the scan (a head's state, HeadDim × S floats, stays in L1/L2 over a prompt).
template <int Heads, int HeadDim, int S, int Groups, int K, SsmA Form = SsmA::a_log>
inline void mamba2_conv_scan(float* y, float* xbc, const float* proj_xbc, const float* dt_raw, int stride,
                             float* window, const float* conv_w, const float* conv_bias, const float* dt_bias,
                             const float* a_in, const float* d, float dt_min, float* state, int count) {
  constexpr int kInner = Heads * HeadDim, kConvDim = kInner + 2 * Groups * S;
  detail::conv_silu_channels<kConvDim, K>(xbc, proj_xbc, stride, window, conv_w, conv_bias, kInner, kConvDim, count);
  parallel_for(Heads, int64_t{Heads} * HeadDim * S * count * 4, [&](int h0, int h1) {
    detail::conv_silu_channels<kConvDim, K>(xbc, proj_xbc, stride, window, conv_w, conv_bias, h0 * HeadDim,
                                            h1 * HeadDim, count);
    for (int h = h0; h < h1; ++h)
      detail::mamba2_head<Heads, HeadDim, S, Groups>(y, xbc, dt_raw + h, stride, dt_bias[h],
                                                     Form == SsmA::a_log ? -std::exp(a_in[h]) : a_in[h], d[h], dt_min,
                                                     state + static_cast<size_t>(h) * HeadDim * S, h, count,
                                                     h + 1 < h1 ? state + static_cast<size_t>(h + 1) * HeadDim * S : nullptr);
  });
}

// Mamba 2's gated RMSNorm (MambaRMSNormGated, gate applied before the norm) over T rows of N, in place:
// v = y · silu(z); y = w · v / sqrt(mean(v²) + eps). z rows are z_stride apart. Threads take ranges of rows.
template <int N>
inline void gated_rms_norm(float* y, const float* z, int z_stride, const float* w, float eps, int T) {
  parallel_for(T, int64_t{T} * N * 16, [&](int t0, int t1) {
    alignas(64) float gate[N];
    for (int t = t0; t < t1; ++t) {
      float* v = y + static_cast<size_t>(t) * N;
      std::copy(z + static_cast<size_t>(t) * z_stride, z + static_cast<size_t>(t) * z_stride + N, gate);
      detail::each_batch(gate, N, [](auto g) { return detail::silu(g); });
      float squares = 0.0f;
      for (int i = 0; i < N; ++i) {
        v[i] *= gate[i];
        squares += v[i] * v[i];
      }
      const float inv = 1.0f / std::sqrt(squares / N + eps);
      for (int i = 0; i < N; ++i) v[i] = w[i] * (v[i] * inv);
    }
  });
}

// Yuan 2's localized filtering convolves over positions with width 2: out[t] = W·[x[t−1] | x[t]] interleaved as its
// weights [out][in][2] are. pairs[t][2i] = x[t−1][i], pairs[t][2i + 1] = x[t][i] for one sequence's `count` rows
// (x[−1] is `previous`: the sequence's row before this step, zeros for a new one), then `previous` = its last row.
template <int N>
inline void pair_with_previous(float* pairs, const float* x, float* previous, int count) {
  for (int t = 0; t < count; ++t) {
    const float* cur = x + static_cast<size_t>(t) * N;
    const float* prev = t == 0 ? previous : cur - N;
    float* p = pairs + static_cast<size_t>(t) * 2 * N;
    for (int i = 0; i < N; ++i) {
      p[2 * i] = prev[i];
      p[2 * i + 1] = cur[i];
    }
  }
  std::copy(x + static_cast<size_t>(count - 1) * N, x + static_cast<size_t>(count) * N, previous);
}

// Yuan 2's q/k head pairing: of the concatenated row [q | k] (Heads·HeadDim each) cut into Heads blocks of
// 2·HeadDim, query head i is the first half of block i and key head i the second, over T rows in place.
template <int Heads, int HeadDim>
inline void pair_qk_heads(float* q, float* k, int T) {
  constexpr int kDim = Heads * HeadDim;
  float row[2 * kDim];
  for (int t = 0; t < T; ++t) {
    float* qt = q + static_cast<size_t>(t) * kDim;
    float* kt = k + static_cast<size_t>(t) * kDim;
    std::copy(qt, qt + kDim, row);
    std::copy(kt, kt + kDim, row + kDim);
    for (int h = 0; h < Heads; ++h) {
      std::copy(row + 2 * h * HeadDim, row + (2 * h + 1) * HeadDim, qt + h * HeadDim);
      std::copy(row + (2 * h + 1) * HeadDim, row + (2 * h + 2) * HeadDim, kt + h * HeadDim);
    }
  }
}

}  // namespace llmc
