// Compute kernels for generated models: fp32, xsimd, sizes as template parameters.
// Activations are row-major [T][N]: T tokens of N values each. Weights are [out][in] (nn.Linear).
#pragma once
#include <immintrin.h>
#include <xsimd/xsimd.hpp>

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <type_traits>

#include "llmc/matmul.hpp"
#include "llmc/moe.hpp"
#include "llmc/threads.hpp"

namespace llmc {

using Batch = xsimd::batch<float>;
inline constexpr int kLanes = static_cast<int>(Batch::size);
// Attention scores use at most 256-bit batches: xsimd 8's haddp (the transposing sum of many batches)
// returns its AVX-512 lanes out of order.
#if XSIMD_WITH_AVX2
using KeyBatch = xsimd::batch<float, xsimd::avx2>;
#else
using KeyBatch = Batch;
#endif
inline constexpr int kKeyLanes = static_cast<int>(KeyBatch::size);

enum class Weighting { plain, offset_one, none };  // x̂·w, x̂·(1+w), x̂
enum class Pairing { half, interleaved };           // rope pairs (i, i+d/2) or (2i, 2i+1)
enum class Act { silu, gelu, gelu_tanh, relu };

template <int N>
inline float dot(const float* a, const float* b) {
  constexpr int kVec = N / kLanes * kLanes;
  Batch acc0(0.0f), acc1(0.0f);
  int i = 0;
  for (; i + 2 * kLanes <= kVec; i += 2 * kLanes) {
    acc0 = xsimd::fma(Batch::load_unaligned(a + i), Batch::load_unaligned(b + i), acc0);
    acc1 = xsimd::fma(Batch::load_unaligned(a + i + kLanes), Batch::load_unaligned(b + i + kLanes), acc1);
  }
  for (; i < kVec; i += kLanes) acc0 = xsimd::fma(Batch::load_unaligned(a + i), Batch::load_unaligned(b + i), acc0);
  float sum = xsimd::hadd(acc0 + acc1);
  for (; i < N; ++i) sum += a[i] * b[i];
  return sum;
}

// Four rows of W against one x: the x loads are shared.
template <int N>
inline void dot4(const float* w0, const float* w1, const float* w2, const float* w3, const float* x, float* out) {
  constexpr int kVec = N / kLanes * kLanes;
  Batch a0(0.0f), a1(0.0f), a2(0.0f), a3(0.0f);
  int i = 0;
  for (; i < kVec; i += kLanes) {
    const Batch xv = Batch::load_unaligned(x + i);
    a0 = xsimd::fma(Batch::load_unaligned(w0 + i), xv, a0);
    a1 = xsimd::fma(Batch::load_unaligned(w1 + i), xv, a1);
    a2 = xsimd::fma(Batch::load_unaligned(w2 + i), xv, a2);
    a3 = xsimd::fma(Batch::load_unaligned(w3 + i), xv, a3);
  }
  float s0 = xsimd::hadd(a0), s1 = xsimd::hadd(a1), s2 = xsimd::hadd(a2), s3 = xsimd::hadd(a3);
  for (; i < N; ++i) {
    s0 += w0[i] * x[i];
    s1 += w1[i] * x[i];
    s2 += w2[i] * x[i];
    s3 += w3[i] * x[i];
  }
  out[0] = s0;
  out[1] = s1;
  out[2] = s2;
  out[3] = s3;
}

// y[t][o] = sum_i W[o][i]·x[t][i] (+ bias[o]), for t < T. y rows are y_stride apart, x rows In apart.
// W in any format of WeightStore::get_matrix (llmc/matmul.hpp).
template <int Out, int In>
inline void matmul(float* y, int y_stride, const float* x, const Matrix& W, const float* bias, int T) {
  matmul_any<Out, In>(y, y_stride, x, W, bias, T);
}

template <int Out, int In>
inline void matmul(float* y, const float* x, const Matrix& W, const float* bias, int T) {
  matmul<Out, In>(y, Out, x, W, bias, T);
}

template <int Out, int In>
inline void matmul(float* y, const float* x, const float* W, const float* bias, int T) {
  matmul<Out, In>(y, Out, x, Matrix{WFormat::f32, W}, bias, T);
}

// x[t] = row tokens[t] of the embedding table E [Vocab][N], as fp32.
template <int Vocab, int N>
inline void embed_rows(float* x, const Matrix& E, const int* tokens, int T) {
  const auto* data = static_cast<const uint8_t*>(E.data);
  for (int t = 0; t < T; ++t)
    for (int i = 0; i < N; ++i)
      x[static_cast<size_t>(t) * N + i] = matrix_value(E.format, data, Vocab, N, static_cast<size_t>(tokens[t]), i);
}

template <int N, Weighting Wt>
inline void rms_norm(float* y, const float* x, const float* w, float eps, int T) {
  for (int t = 0; t < T; ++t) {
    const float* xt = x + static_cast<size_t>(t) * N;
    float* yt = y + static_cast<size_t>(t) * N;
    const float inv = 1.0f / std::sqrt(dot<N>(xt, xt) / N + eps);
    for (int i = 0; i < N; ++i) {
      if constexpr (Wt == Weighting::plain) yt[i] = xt[i] * inv * w[i];
      else if constexpr (Wt == Weighting::offset_one) yt[i] = xt[i] * inv * (1.0f + w[i]);
      else yt[i] = xt[i] * inv;
    }
  }
}

template <int N, Weighting Wt>
inline void layer_norm(float* y, const float* x, const float* w, const float* b, float eps, int T) {
  for (int t = 0; t < T; ++t) {
    const float* xt = x + static_cast<size_t>(t) * N;
    float* yt = y + static_cast<size_t>(t) * N;
    float mean = 0.0f;
    for (int i = 0; i < N; ++i) mean += xt[i];
    mean /= N;
    float var = 0.0f;
    for (int i = 0; i < N; ++i) var += (xt[i] - mean) * (xt[i] - mean);
    const float inv = 1.0f / std::sqrt(var / N + eps);
    for (int i = 0; i < N; ++i) {
      float v = (xt[i] - mean) * inv;
      if constexpr (Wt == Weighting::plain) v *= w[i];
      else if constexpr (Wt == Weighting::offset_one) v *= 1.0f + w[i];
      if (b) v += b[i];
      yt[i] = v;
    }
  }
}

// Norms each head of T rows [Heads][HeadDim] in place, head h with its own weights w[h] (and bias b[h]).
template <int Heads, int HeadDim, Weighting Wt>
inline void rms_norm_heads(float* x, const float* w, float eps, int T) {
  for (int r = 0; r < T * Heads; ++r) {
    float* row = x + static_cast<size_t>(r) * HeadDim;
    rms_norm<HeadDim, Wt>(row, row, w ? w + (r % Heads) * HeadDim : nullptr, eps, 1);
  }
}

template <int Heads, int HeadDim, Weighting Wt>
inline void layer_norm_heads(float* x, const float* w, const float* b, float eps, int T) {
  for (int r = 0; r < T * Heads; ++r) {
    float* row = x + static_cast<size_t>(r) * HeadDim;
    const int h = r % Heads;
    layer_norm<HeadDim, Wt>(row, row, w ? w + h * HeadDim : nullptr, b ? b + h * HeadDim : nullptr, eps, 1);
  }
}

// Divides each of `rows` rows of `cols` by its L2 norm (at least 1e-12), as torch F.normalize. Returns w.
inline float* normalize_rows(float* w, int64_t rows, int64_t cols) {
  for (int64_t r = 0; r < rows; ++r) {
    float* row = w + r * cols;
    double sum = 0.0;
    for (int64_t c = 0; c < cols; ++c) sum += static_cast<double>(row[c]) * row[c];
    const float norm = std::max(static_cast<float>(std::sqrt(sum)), 1e-12f);
    for (int64_t c = 0; c < cols; ++c) row[c] /= norm;
  }
  return w;
}

// Attention temperature tuning (Llama 4's NoPE layers, arXiv 2501.19399): row t of T (rows `stride` apart, N values
// each), at position pos + t, × (log(⌊(pos + t + 1) / floor_scale⌋ + 1) · scale + 1), in fp32 as the reference.
template <int N>
inline void temperature_tune(float* v, int stride, int T, int pos, float floor_scale, float scale) {
  for (int t = 0; t < T; ++t) {
    const float f = std::log(std::floor((static_cast<float>(pos + t) + 1.0f) / floor_scale) + 1.0f) * scale + 1.0f;
    float* row = v + static_cast<size_t>(t) * stride;
    for (int i = 0; i < N; ++i) row[i] *= f;
  }
}

// Rotates the first RotaryDim values of each head. v rows are Stride apart; heads HeadDim apart.
// cos/sin tables are [position][RotaryDim/2].
template <int Heads, int HeadDim, int RotaryDim, Pairing P>
inline void rope(float* v, int stride, int T, int pos, const float* cos_table, const float* sin_table) {
  constexpr int kHalf = RotaryDim / 2;
  for (int t = 0; t < T; ++t) {
    const float* c = cos_table + static_cast<size_t>(pos + t) * kHalf;
    const float* s = sin_table + static_cast<size_t>(pos + t) * kHalf;
    for (int h = 0; h < Heads; ++h) {
      float* head = v + static_cast<size_t>(t) * stride + h * HeadDim;
      for (int i = 0; i < kHalf; ++i) {
        const int a = P == Pairing::half ? i : 2 * i;
        const int b = P == Pairing::half ? i + kHalf : 2 * i + 1;
        const float x0 = head[a], x1 = head[b];
        head[a] = x0 * c[i] - x1 * s[i];
        head[b] = x0 * s[i] + x1 * c[i];
      }
    }
  }
}

struct AttentionParams {
  float scale;          // multiplies q·k
  float softcap;        // 0: off; else cap·tanh(s/cap)
  int window;           // 0: global; else key kept iff q_pos − k_pos < window
  const float* alibi;   // per-head slopes, or null
  int chunk = 0;        // 0: off; else key kept iff it is in q_pos's chunk: ⌊k_pos / chunk⌋ = ⌊q_pos / chunk⌋
  int prefix = 0;       // prefix-LM (GLM): the queries before position `prefix` see every key before it
  int keys = 0;         // > 0: every query sees exactly the keys 0..keys-1 (T5's encoder and cross-attention)
  // Per head, a row of 2·Context − 1 biases indexed by key − query + Context − 1, added to the scores (T5's
  // relative position buckets, see relative_position.hpp), or null.
  const float* relative_bias = nullptr;
};

// The first key position a query at q_pos sees.
inline int first_key(const AttentionParams& p, int q_pos) {
  if (p.chunk > 0) return q_pos / p.chunk * p.chunk;
  return p.window > 0 ? std::max(0, q_pos - p.window + 1) : 0;
}

// The last key position a query at q_pos sees: itself, or in a prefix-LM's prefix, the prefix's last.
inline int last_key(const AttentionParams& p, int q_pos) {
  return p.keys > 0 ? p.keys - 1 : std::max(q_pos, p.prefix - 1);
}

// Cached key/value rows are KvStride apart (other heads' and layers' between them), so one head's rows are
// in different pages, which the hardware prefetchers do not follow: rows kAhead ahead are prefetched by hand
// (prefetching past the end is harmless).
inline constexpr int kAhead = 8;
template <int N, typename T>
inline void prefetch_row(const T* p) {
  for (int i = 0; i < N; i += 64 / static_cast<int>(sizeof(T))) __builtin_prefetch(p + i);
}

// KV cache elements: fp32, or IEEE f16 kept as uint16_t (llmc build --kv-cache f16), widened on load.
inline float kv_value(float v) { return v; }
inline float kv_value(uint16_t h) { return f16_to_f32(h); }
template <typename B>
inline B load_kv(const float* p) {
  return B::load_unaligned(p);
}
template <typename B>
inline B load_kv(const uint16_t* p) {
#if defined(__AVX512F__)
  if constexpr (B::size == 16) return B(_mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p))));
#endif
#if defined(__F16C__)
  if constexpr (B::size == 8) return B(_mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p))));
  if constexpr (B::size == 4) return B(_mm_cvtph_ps(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(p))));
#endif
  alignas(64) float v[B::size];
  for (size_t i = 0; i < B::size; ++i) v[i] = f16_to_f32(p[i]);
  return B::load_aligned(v);
}
// n fp32 values into an f16 cache, rounded to nearest even.
inline void store_f16(uint16_t* cache, const float* x, size_t n) {
  for (size_t i = 0; i < n; ++i) cache[i] = f32_to_f16(x[i]);
}
// This step's T rows of N keys (or values), fp32 and contiguous, into the cache rows of positions pos..,
// Stride elements apart (rounded, for an f16 cache).
template <int N, int Stride, typename Kv>
inline void store_kv(Kv* cache, int pos, const float* x, int T) {
  for (int t = 0; t < T; ++t) {
    Kv* row = cache + static_cast<size_t>(pos + t) * Stride;
    if constexpr (std::is_same_v<Kv, float>) std::copy_n(x + static_cast<size_t>(t) * N, N, row);
    else store_f16(row, x + static_cast<size_t>(t) * N, N);
  }
}
template <int N, typename Kv>
inline float dot_kv(const float* a, const Kv* b) {
  if constexpr (std::is_same_v<Kv, float>) {
    return dot<N>(a, b);
  } else {
    alignas(64) float f[N];
    for (int i = 0; i < N; ++i) f[i] = kv_value(b[i]);
    return dot<N>(a, f);
  }
}

// Split keys (flash-decoding): when the blocked kernel has fewer than kSplitBelowJobs jobs (row blocks × KV
// heads: decode with one KV head, as multi-query attention and MLA's shared latent row), one job per block
// would leave the other threads idle over a long context. Its keys are then cut into segments of
// kKeySegment positions (fixed multiples of it, whatever the thread count), each segment a job of its own
// that leaves its running max, sum and weighted values in scratch; the segments are then combined in order.
inline constexpr int kSplitBelowJobs = 4;
inline constexpr int kKeySegment = 512;
// A segment's partial result: per lane (of at most kLanes) head_dim weighted values, then the max and the sum.
inline constexpr size_t attention_partial_floats(size_t head_dim) { return kLanes * (head_dim + 2); }

// Per thread, attention_per_query keeps a row of scores for each head, a cache line more than the context
// apart (rows a multiple of 4 KB apart would share L1 sets), then each head's output as it accumulates.
// attention_blocked's split keys keep their partial results at the start of the whole scratch (at most
// kSplitBelowJobs − 1 jobs of a segment per kKeySegment positions of the context, and one more); a thread's
// share is the larger of the two, so a scratch of max_threads() shares holds either.
inline constexpr size_t kScoresPad = 16;
inline constexpr size_t attention_scratch_floats(size_t heads, size_t head_dim, size_t context) {
  return std::max(heads * (context + kScoresPad + head_dim),
                  (kSplitBelowJobs - 1) * (context / kKeySegment + 2) * attention_partial_floats(head_dim));
}

// Attention one query row at a time (decode, and prompts of few query rows per KV head): keys in lanes for
// the scores, a two-pass softmax, then the value rows weighted in key order. A job is a run of consecutive
// heads of one token, taken position by position: each cached key (value) row is read once, as one
// contiguous stretch of those heads, in row order, where head by head read each row once per head. The
// scores and outputs of the run's heads accumulate in scratch (attention_scratch_floats per thread; in
// `out`, neighbouring heads of two threads could share a cache line); every output is the same chain of
// operations as head by head. Arguments as attention's.
template <int Heads, int KvHeads, int HeadDim, int Context, int KvStride, typename Kv>
inline void attention_per_query(float* out, const float* q, int q_stride, const Kv* k_cache, const Kv* v_cache,
                                int T, int pos, const AttentionParams& p, float* scratch) {
  constexpr int kGroup = Heads / KvHeads;
  constexpr int kValueBlock = 16;  // value rows per pass over the run's outputs
  // Heads [h0, h1) of token t.
  auto run = [&](int t, int h0, int h1, float* scores) {
    const int q_pos = pos + t;
    const int first = first_key(p, q_pos), last = last_key(p, q_pos);
    auto head_scores = [&](int h) { return scores + static_cast<size_t>(h - h0) * (Context + kScoresPad); };
    auto head_query = [&](int h) { return q + static_cast<size_t>(t) * q_stride + h * HeadDim; };
    auto kv_offset = [&](int h) { return (h / kGroup) * HeadDim; };
    int j = first;
    if constexpr (HeadDim % kKeyLanes == 0) {  // kKeyLanes keys at a time, summed by one transposing reduction
      for (; j + kKeyLanes <= last + 1; j += kKeyLanes) {
        for (int h = h0; h < h1; ++h) {
          const float* qh = head_query(h);
          KeyBatch qv[HeadDim / kKeyLanes];
          for (int d = 0; d < HeadDim / kKeyLanes; ++d) qv[d] = KeyBatch::load_unaligned(qh + d * kKeyLanes);
          KeyBatch acc[kKeyLanes];
          for (int n = 0; n < kKeyLanes; ++n) {
            const Kv* kj = k_cache + static_cast<size_t>(j + n) * KvStride + kv_offset(h);
            prefetch_row<HeadDim>(kj + kAhead * KvStride);
            KeyBatch a = load_kv<KeyBatch>(kj) * qv[0];
            for (int d = 1; d < HeadDim / kKeyLanes; ++d) a = xsimd::fma(load_kv<KeyBatch>(kj + d * kKeyLanes), qv[d], a);
            acc[n] = a;
          }
          (xsimd::haddp(acc) * KeyBatch(p.scale)).store_unaligned(head_scores(h) + j);
        }
      }
    }
    for (; j <= last; ++j)
      for (int h = h0; h < h1; ++h)
        head_scores(h)[j] =
            dot_kv<HeadDim>(head_query(h), k_cache + static_cast<size_t>(j) * KvStride + kv_offset(h)) * p.scale;
    float inv[Heads];
    for (int h = h0; h < h1; ++h) {
      float* s = head_scores(h);
      float max_score = -INFINITY;
      for (j = first; j <= last; ++j) {
        float v = s[j];
        if (p.softcap > 0.0f) v = p.softcap * std::tanh(v / p.softcap);
        if (p.alibi) v += p.alibi[h] * static_cast<float>(j - q_pos);
        if (p.relative_bias) v += p.relative_bias[static_cast<size_t>(h) * (2 * Context - 1) + (j - q_pos + Context - 1)];
        s[j] = v;
        max_score = std::max(max_score, v);
      }
      float sum = 0.0f;
      j = first;
      for (; j + kLanes <= last + 1; j += kLanes) {
        const Batch e = xsimd::exp(Batch::load_unaligned(s + j) - Batch(max_score));
        e.store_unaligned(s + j);
        sum += xsimd::hadd(e);
      }
      for (; j <= last; ++j) {
        s[j] = std::exp(s[j] - max_score);
        sum += s[j];
      }
      inv[h] = 1.0f / sum;
    }
    auto head_out = [&](int h) { return out + static_cast<size_t>(t) * Heads * HeadDim + h * HeadDim; };
    if constexpr (HeadDim % kLanes == 0) {
      float* const outputs = scores + static_cast<size_t>(Heads) * (Context + kScoresPad);
      auto head_acc = [&](int h) { return outputs + (h - h0) * HeadDim; };
      std::fill_n(outputs, (h1 - h0) * HeadDim, 0.0f);
      for (int j0 = first; j0 <= last; j0 += kValueBlock) {
        const int j1 = std::min(last + 1, j0 + kValueBlock);
        for (int h = h0; h < h1; ++h) {
          const float* s = head_scores(h);
          float* o = head_acc(h);
          Batch acc[HeadDim / kLanes];
          for (int d = 0; d < HeadDim / kLanes; ++d) acc[d] = Batch::load_unaligned(o + d * kLanes);
          for (int jj = j0; jj < j1; ++jj) {
            const Batch a(s[jj] * inv[h]);
            const Kv* vj = v_cache + static_cast<size_t>(jj) * KvStride + kv_offset(h);
            prefetch_row<HeadDim>(vj + kAhead * KvStride);
            for (int d = 0; d < HeadDim / kLanes; ++d) acc[d] = xsimd::fma(a, load_kv<Batch>(vj + d * kLanes), acc[d]);
          }
          for (int d = 0; d < HeadDim / kLanes; ++d) acc[d].store_unaligned(o + d * kLanes);
        }
      }
      std::copy_n(outputs, (h1 - h0) * HeadDim, head_out(h0));
    } else {
      for (int h = h0; h < h1; ++h) {
        float acc[HeadDim] = {};
        for (int jj = first; jj <= last; ++jj) {
          const float a = head_scores(h)[jj] * inv[h];
          const Kv* vj = v_cache + static_cast<size_t>(jj) * KvStride + kv_offset(h);
          for (int d = 0; d < HeadDim; ++d) acc[d] += a * kv_value(vj[d]);
        }
        std::copy_n(acc, HeadDim, head_out(h));
      }
    }
  };
  parallel_for(Heads * T, static_cast<int64_t>(Heads) * T * (pos + T) * HeadDim * 2, [&](int begin, int end) {
    float* scores = scratch + static_cast<size_t>(thread_index()) * attention_scratch_floats(Heads, HeadDim, Context);
    for (int job = begin; job < end;) {  // jobs are (token, head), heads fastest
      const int t = job / Heads, h0 = job % Heads, h1 = std::min(Heads, h0 + (end - job));
      run(t, h0, h1, scores);
      job += h1 - h0;
    }
  });
}

// attention_blocked's split keys: each row's output from its segments' partial results (kPartial floats per
// block job and segment, segments fastest), in segment order whatever the thread count: with M the largest of
// the segments' maxima, out = Σ_s e^(max_s − M)·acc_s / Σ_s e^(max_s − M)·sum_s. A segment none of whose keys a
// row sees has max −∞ and weight 0. block_of(j, g, r0, n) gives block job j's KV head and rows.
template <int Heads, int KvHeads, int HeadDim, typename B, typename BlockOf>
inline void combine_segments(float* out, const float* partials, int block_jobs, int segments, const BlockOf& block_of) {
  constexpr int kWidth = static_cast<int>(B::size), kGroup = Heads / KvHeads, kVecs = HeadDim / kWidth;
  constexpr size_t kPartial = static_cast<size_t>(kWidth) * (HeadDim + 2);
  parallel_for(block_jobs * kWidth, int64_t{block_jobs} * kWidth * segments * HeadDim, [&](int begin, int end) {
    for (int row_job = begin; row_job < end; ++row_job) {
      int g, r0, n;
      block_of(row_job / kWidth, g, r0, n);
      const int l = row_job % kWidth;
      if (l >= n) continue;
      const float* first = partials + static_cast<size_t>(row_job / kWidth) * segments * kPartial;
      auto max_of = [&](int s) { return first[s * kPartial + kWidth * HeadDim + l]; };
      auto sum_of = [&](int s) { return first[s * kPartial + kWidth * HeadDim + kWidth + l]; };
      float most = -INFINITY;
      for (int s = 0; s < segments; ++s) most = std::max(most, max_of(s));
      B o[kVecs];
      for (auto& v : o) v = B(0.0f);
      float sum = 0.0f;
      for (int s = 0; s < segments; ++s) {
        if (max_of(s) == -INFINITY) continue;
        const float w = std::exp(max_of(s) - most);
        sum += w * sum_of(s);
        const float* acc = first + s * kPartial + l * HeadDim;
        for (int v = 0; v < kVecs; ++v) o[v] = xsimd::fma(B(w), B::load_unaligned(acc + v * kWidth), o[v]);
      }
      const int r = r0 + l, token = r / kGroup, head = g * kGroup + r % kGroup;
      float* dst = out + static_cast<size_t>(token) * Heads * HeadDim + head * HeadDim;
      for (int v = 0; v < kVecs; ++v) (o[v] * B(1.0f / sum)).store_unaligned(dst + v * kWidth);
    }
  });
}

// Attention in blocks of query rows, kWidth (B's lanes) per job: the rows are the heads of one KV group ×
// consecutive tokens, one SIMD lane per row, so each cached key and value element is loaded once (as a
// broadcast) for all kWidth rows instead of once per row, and no horizontal sums are needed. Keys are
// taken kChunk at a time with an online softmax (running max and sum per row; earlier sums and outputs
// rescaled when the max grows). Chunks start at fixed multiples of kChunk, and every output is the same
// chain of operations whatever the thread count. Keys past a row's own position (or before its window) get
// probability 0. Key and value rows are prefetched ahead, as in attention_per_query. With few blocks and a
// long context the keys are split into segments (kSplitBelowJobs), their partial results kept in scratch.
template <int Heads, int KvHeads, int HeadDim, int Context, int KvStride, typename B, typename Kv>
inline void attention_blocked(float* out, const float* q, int q_stride, const Kv* k_cache, const Kv* v_cache, int T,
                              int pos, const AttentionParams& p, float* scratch) {
  constexpr int kWidth = static_cast<int>(B::size);
  static_assert(HeadDim % kWidth == 0);
  constexpr int kGroup = Heads / KvHeads;
  constexpr int kChunk = 256, kKeyTile = 8, kVecs = HeadDim / kWidth;
  // Key tile rows: read in place (fp32), or widened first into a small buffer (f16).
  constexpr bool kWiden = !std::is_same_v<Kv, float>;
  constexpr int kKeyStride = kWiden ? HeadDim : KvStride, kWidenedFloats = kWiden ? kKeyTile * HeadDim : 1;
  // Values are weighted in full-width vectors (VB) even where the rows take narrower ones (B = KeyBatch, as
  // in TinyLlama's decode: 8 heads per KV head), with rows per pass × value vectors within the accumulator
  // registers. Each pass reads the chunk's value rows again, and rows KvStride apart (a multiple of 4 KB)
  // share L1 sets, so those reads come from L2. Fewer, wider passes: TinyLlama's decode attention per layer
  // (caches evicted), 1 thread, 1000 positions 215 → 147 µs, 2000: 469 → 289; 2 threads 140 → 90, 263 → 181.
  // The arithmetic per output element is the same.
  using VB = std::conditional_t<HeadDim % kLanes == 0, Batch, B>;
  constexpr int kVWidth = static_cast<int>(VB::size), kVVecs = HeadDim / kVWidth;
  // A divisor of kWidth (the last tile's lanes past n copy a real row), e.g. 2 for head_dim 80 (5 vectors).
  // Rows of more than 16 vectors (MLA's latent + rope, 36) would not fit the registers whole: a pass then
  // takes one vector of every row of the block instead (`bench/kernels.sh mla 1 4000`, MLA's decode attention
  // over f16 rows of 576, CPU time per layer, interleaved runs: 2.92 → 2.12 ms; 8 rows × 2 vectors 2.22,
  // 4 × 4 2.18, 1 × 12 2.73).
  constexpr bool kWideRows = kVVecs > 16;
  constexpr int kRowTile = [] {
    if (kWideRows) return kWidth;
    int r = std::clamp((kVWidth >= 16 ? 16 : 8) / kVVecs, 1, 4);
    while (kWidth % r != 0) --r;
    return r;
  }();
  constexpr int kVecTile = kWideRows ? 1 : kVVecs;  // value vectors per pass
  // A key tile's cache lines, and how many dimensions of the scores go with the prefetch of one of them.
  constexpr int kLinesPerRow = static_cast<int>((HeadDim * sizeof(Kv) + 63) / 64), kTileLines = kKeyTile * kLinesPerRow;
  constexpr int kSpread = HeadDim >= kTileLines ? HeadDim / kTileLines : 1;
  static_assert(kKeySegment % kChunk == 0);  // a segment's chunks are the unsplit kernel's
  const int rows = kGroup * T, blocks = (rows + kWidth - 1) / kWidth, block_jobs = KvHeads * blocks;
  // Segments [s·kKeySegment, (s + 1)·kKeySegment) of the keys any row uses, from segment `first_segment` on.
  const int first_segment = first_key(p, pos) / kKeySegment;
  const int segments = last_key(p, pos + T - 1) / kKeySegment - first_segment + 1;
  const bool split = block_jobs < kSplitBelowJobs && segments > 1;
  constexpr size_t kPartial = static_cast<size_t>(kWidth) * (HeadDim + 2);  // acc, then max and sum per lane
  // Block job j: KV head j % KvHeads, row block taken from both ends in turn (light causal blocks next to
  // heavy ones, for balance). Jobs of one head in a row were 20-30% slower at 1 thread.
  auto block_of = [&](int j, int& g, int& r0, int& n) {
    g = j % KvHeads;
    const int turn = j / KvHeads;
    r0 = (turn % 2 == 0 ? turn / 2 : blocks - 1 - turn / 2) * kWidth;
    n = std::min(kWidth, rows - r0);
  };
  const int jobs = split ? block_jobs * segments : block_jobs;  // split: block job × segment, segments fastest
  parallel_for(jobs, static_cast<int64_t>(Heads) * T * (pos + T) * HeadDim * 2, [&](int begin, int end) {
    alignas(64) float qt[HeadDim * kWidth];     // qt[d][lane]: the rows' queries, transposed
    alignas(64) float probs[kChunk * kWidth];   // probs[key][lane] of the current chunk
    alignas(64) float acc[kWidth * HeadDim];    // acc[lane][d]: Σ probs · values so far
    alignas(64) float rescale[kWidth];
    alignas(64) float widened[kWidenedFloats];  // f16 cache: the key tile as fp32
    for (int job = begin; job < end; ++job) {
      const int block_job = split ? job / segments : job, segment = split ? job % segments : 0;
      int g, r0, n;
      block_of(block_job, g, r0, n);
      alignas(64) float lane_pos[kWidth], lane_first[kWidth], lane_last[kWidth], lane_slope[kWidth];
      int heads[kWidth], tokens[kWidth];
      for (int l = 0; l < kWidth; ++l) {
        const int r = r0 + std::min(l, n - 1);  // lanes past n repeat the last row; their results are dropped
        tokens[l] = r / kGroup;
        heads[l] = g * kGroup + r % kGroup;
        const int q_pos = pos + tokens[l];
        lane_pos[l] = static_cast<float>(q_pos);
        lane_first[l] = static_cast<float>(first_key(p, q_pos));
        lane_last[l] = static_cast<float>(last_key(p, q_pos));
        lane_slope[l] = p.alibi ? p.alibi[heads[l]] : 0.0f;
        const float* qr = q + static_cast<size_t>(tokens[l]) * q_stride + heads[l] * HeadDim;
        for (int d = 0; d < HeadDim; ++d) qt[d * kWidth + l] = qr[d];
      }
      const B q_pos_v = B::load_aligned(lane_pos), first_v = B::load_aligned(lane_first),
              last_v = B::load_aligned(lane_last), slope_v = B::load_aligned(lane_slope);
      int lo = static_cast<int>(lane_first[0]), hi = last_key(p, pos + tokens[kWidth - 1]);  // keys any row uses
      if (split) {  // those of the segment (none if the block's rows all end before it or start after it)
        lo = std::max(lo, (first_segment + segment) * kKeySegment);
        hi = std::min(hi, (first_segment + segment + 1) * kKeySegment - 1);
      }
      const Kv* k_head = k_cache + g * HeadDim;
      const Kv* v_head = v_cache + g * HeadDim;
      std::fill(acc, acc + kWidth * HeadDim, 0.0f);
      B max_v(-INFINITY), sum_v(0.0f);
      for (int c0 = lo / kChunk * kChunk; c0 <= hi; c0 += kChunk) {
        const int k0 = std::max(c0, lo), k1 = std::min(c0 + kChunk, hi + 1);
        // Scores: per key, an FMA chain over d of broadcast k[d] · q[d] of every row.
        B chunk_max(-INFINITY);
        for (int k = k0; k < k1; k += kKeyTile) {
          const int keys = std::min(kKeyTile, k1 - k);
          B s[kKeyTile];
          for (auto& v : s) v = B(0.0f);
          const Kv* kr_cache = k_head + static_cast<size_t>(k) * KvStride;
          const float* kr;
          if constexpr (kWiden) {
            for (int i = 0; i < keys; ++i)
              for (int v = 0; v < kVecs; ++v)
                load_kv<B>(kr_cache + i * KvStride + v * kWidth).store_aligned(widened + i * HeadDim + v * kWidth);
            kr = widened;
          } else {
            kr = kr_cache;
          }
          if (keys == kKeyTile) {
            auto score_dims = [&](int d0, int d1) {
              for (int d = d0; d < d1; ++d) {
                const B qd = B::load_aligned(qt + d * kWidth);
#pragma GCC unroll 8
                for (int i = 0; i < kKeyTile; ++i) s[i] = xsimd::fma(B(kr[i * kKeyStride + d]), qd, s[i]);
              }
            };
            // The next tile's rows, a cache line every kSpread dimensions: prefetched all at once they filled
            // the L1 miss buffers, and the tile's own loads waited (`bench/kernels.sh mla 1 4000`: 2.12 → 1.72
            // ms per layer; TinyLlama's decode attention at 1000 positions, `attention 1 1000`, 252 → 235 µs).
            const Kv* next = kr_cache + kKeyTile * KvStride;
            for (int i = 0; i < kKeyTile; ++i)
              for (int j = 0; j < kLinesPerRow; ++j) {
                __builtin_prefetch(next + i * KvStride + j * (64 / static_cast<int>(sizeof(Kv))));
                const int d0 = std::min(HeadDim, (i * kLinesPerRow + j) * kSpread);
                score_dims(d0, std::min(HeadDim, d0 + kSpread));
              }
            score_dims(std::min(HeadDim, kTileLines * kSpread), HeadDim);
          } else {
            for (int d = 0; d < HeadDim; ++d) {
              const B qd = B::load_aligned(qt + d * kWidth);
              for (int i = 0; i < keys; ++i) s[i] = xsimd::fma(B(kr[i * kKeyStride + d]), qd, s[i]);
            }
          }
          for (int i = 0; i < keys; ++i) {
            B v = s[i] * B(p.scale);
            if (p.softcap > 0.0f) v = B(p.softcap) * xsimd::tanh(v / B(p.softcap));
            const B key(static_cast<float>(k + i));
            if (p.alibi) v += slope_v * (key - q_pos_v);
            if (p.relative_bias) {  // a gather: each lane has its own head and query position
              alignas(64) float bias[kWidth];
              for (int l = 0; l < kWidth; ++l)
                bias[l] = p.relative_bias[static_cast<size_t>(heads[l]) * (2 * Context - 1) +
                                          (k + i - static_cast<int>(lane_pos[l]) + Context - 1)];
              v += B::load_aligned(bias);
            }
            v = xsimd::select((key >= first_v) & (key <= last_v), v, B(-INFINITY));
            chunk_max = xsimd::max(chunk_max, v);
            v.store_aligned(probs + (k + i - c0) * kWidth);
          }
        }
        // Online softmax: rows whose max grew rescale their sum and outputs by exp(old max − new max).
        const B new_max = xsimd::max(max_v, chunk_max);
        const B base = xsimd::select(new_max == B(-INFINITY), B(0.0f), new_max);  // all masked so far
        const B scale_old = xsimd::exp(max_v - base);
        max_v = new_max;
        sum_v *= scale_old;
        scale_old.store_aligned(rescale);
        for (int k = k0; k < k1; ++k) {
          const B e = xsimd::exp(B::load_aligned(probs + (k - c0) * kWidth) - base);
          e.store_aligned(probs + (k - c0) * kWidth);
          sum_v += e;
        }
        // Outputs: per row, Σ over the chunk's keys in order of prob · value row (all rows of the last
        // row tile: lanes past n hold a copy of a real row).
        for (int r = 0; r < n; r += kRowTile) {
          for (int v0 = 0; v0 < kVVecs; v0 += kVecTile) {
            VB o[kRowTile][kVecTile];
#pragma GCC unroll 16
            for (int i = 0; i < kRowTile; ++i)
#pragma GCC unroll 16
              for (int v = 0; v < kVecTile; ++v)
                o[i][v] = VB::load_aligned(acc + (r + i) * HeadDim + (v0 + v) * kVWidth) * VB(rescale[r + i]);
            for (int k = k0; k < k1; ++k) {
              const Kv* vr = v_head + static_cast<size_t>(k) * KvStride + v0 * kVWidth;
              if (r == 0 && v0 == 0) prefetch_row<HeadDim>(vr + kAhead * KvStride);
              const float* pk = probs + (k - c0) * kWidth + r;
#pragma GCC unroll 16
              for (int v = 0; v < kVecTile; ++v) {
                const VB vv = load_kv<VB>(vr + v * kVWidth);
#pragma GCC unroll 16
                for (int i = 0; i < kRowTile; ++i) o[i][v] = xsimd::fma(VB(pk[i]), vv, o[i][v]);
              }
            }
#pragma GCC unroll 16
            for (int i = 0; i < kRowTile; ++i)
#pragma GCC unroll 16
              for (int v = 0; v < kVecTile; ++v)
                o[i][v].store_aligned(acc + (r + i) * HeadDim + (v0 + v) * kVWidth);
          }
        }
      }
      if (split) {
        float* partial = scratch + static_cast<size_t>(job) * kPartial;
        std::copy_n(acc, kWidth * HeadDim, partial);
        max_v.store_unaligned(partial + kWidth * HeadDim);
        sum_v.store_unaligned(partial + kWidth * HeadDim + kWidth);
        continue;
      }
      alignas(64) float sums[kWidth];
      (B(1.0f) / sum_v).store_aligned(sums);
      for (int l = 0; l < n; ++l) {
        float* o = out + static_cast<size_t>(tokens[l]) * Heads * HeadDim + heads[l] * HeadDim;
        for (int v = 0; v < kVecs; ++v) (B::load_aligned(acc + l * HeadDim + v * kWidth) * B(sums[l])).store_unaligned(o + v * kWidth);
      }
    }
  });
  if (split) combine_segments<Heads, KvHeads, HeadDim, B>(out, scratch, block_jobs, segments, block_of);
}

// Causal attention of T new queries at positions pos..pos+T-1 over the cached keys/values 0..pos+T-1.
// q rows are q_stride apart; a position's KvHeads·HeadDim keys (values) start KvStride elements after the
// previous position's; out rows are Heads·HeadDim apart.
// scratch holds max_threads() × attention_scratch_floats(Heads, HeadDim, Context). When each KV head has at
// least a vector of query rows (prompts; decode with 8 or more heads per KV head), the blocked kernel, else
// one query at a time.
// TinyLlama's decode (8 heads per KV head) at an 1800-token context: attention 10.6-14 → 5.9 ms per token.
template <int Heads, int KvHeads, int HeadDim, int Context, int KvStride = KvHeads * HeadDim, typename Kv>
inline void attention(float* out, const float* q, int q_stride, const Kv* k_cache, const Kv* v_cache, int T, int pos,
                      const AttentionParams& p, float* scratch) {
  constexpr int kGroup = Heads / KvHeads;
  if constexpr (HeadDim % kLanes == 0) {
    if (kGroup * T >= kLanes) {
      attention_blocked<Heads, KvHeads, HeadDim, Context, KvStride, Batch, Kv>(out, q, q_stride, k_cache, v_cache, T,
                                                                             pos, p, scratch);
      return;
    }
  }
  if constexpr (kKeyLanes < kLanes && HeadDim % kKeyLanes == 0) {  // e.g. decode of 8 heads per KV head
    if (kGroup * T >= kKeyLanes) {
      attention_blocked<Heads, KvHeads, HeadDim, Context, KvStride, KeyBatch, Kv>(out, q, q_stride, k_cache, v_cache,
                                                                                T, pos, p, scratch);
      return;
    }
  }
  attention_per_query<Heads, KvHeads, HeadDim, Context, KvStride, Kv>(out, q, q_stride, k_cache, v_cache, T, pos, p,
                                                                      scratch);
}

inline float activate(Act a, float x) {
  switch (a) {
    case Act::silu: return x / (1.0f + std::exp(-x));
    case Act::gelu: return 0.5f * x * (1.0f + std::erf(x * 0.70710678118654752f));
    case Act::gelu_tanh: return 0.5f * x * (1.0f + std::tanh(0.79788456080286536f * (x + 0.044715f * x * x * x)));
    case Act::relu: return x > 0.0f ? x : 0.0f;
  }
  return x;
}

template <Act A>
inline Batch activate(Batch x) {
  if constexpr (A == Act::silu) return x / (Batch(1.0f) + xsimd::exp(-x));
  if constexpr (A == Act::gelu) return Batch(0.5f) * x * (Batch(1.0f) + xsimd::erf(x * Batch(0.70710678118654752f)));
  if constexpr (A == Act::gelu_tanh)
    return Batch(0.5f) * x * (Batch(1.0f) + xsimd::tanh(Batch(0.79788456080286536f) * (x + Batch(0.044715f) * x * x * x)));
  if constexpr (A == Act::relu) return xsimd::select(x > Batch(0.0f), x, Batch(0.0f));
  return x;
}

// out[t][i] = act(gate[t][i]) · up[t][i] (up null: act(gate[t][i])); out rows are N apart (out may be gate
// when gate_stride is N). Vectorised, tokens in parallel.
template <int N, Act A>
inline void gated_activation(float* out, const float* gate, int gate_stride, const float* up, int up_stride, int T) {
  constexpr int kVec = N / kLanes * kLanes;
  parallel_for(T, static_cast<int64_t>(N) * T * 16, [&](int begin, int end) {
    for (int t = begin; t < end; ++t) {
      const float* g = gate + static_cast<size_t>(t) * gate_stride;
      const float* u = up ? up + static_cast<size_t>(t) * up_stride : nullptr;
      float* o = out + static_cast<size_t>(t) * N;
      for (int i = 0; i < kVec; i += kLanes) {
        const Batch a = activate<A>(Batch::load_unaligned(g + i));
        (u ? a * Batch::load_unaligned(u + i) : a).store_unaligned(o + i);
      }
      for (int i = kVec; i < N; ++i) o[i] = u ? activate(A, g[i]) * u[i] : activate(A, g[i]);
    }
  });
}

template <int N, Act A>
inline void activation(float* x, int T) {
  gated_activation<N, A>(x, x, N, nullptr, 0, T);
}

// x += scale·y over T rows of N (x + scale·y rounded twice, as a scalar loop). In batches written out: at -O2
// the compiler leaves the loop scalar (x may alias y), which read 4 MB at 6 GB/s where this reads at memory speed.
template <int N>
inline void add_scaled(float* x, const float* y, float scale, int T) {
  const size_t n = static_cast<size_t>(N) * T;
  const Batch s(scale);
  size_t i = 0;
  for (; i + kLanes <= n; i += kLanes)
    (Batch::load_unaligned(x + i) + s * Batch::load_unaligned(y + i)).store_unaligned(x + i);
  for (; i < n; ++i) x[i] += scale * y[i];
}

template <int N>
inline void scale(float* x, float s, int T) {
  for (size_t i = 0; i < static_cast<size_t>(N) * T; ++i) x[i] *= s;
}

// Copies `rows` of N floats from a strided source to a strided destination.
template <int N>
inline void copy_rows(float* dst, int dst_stride, const float* src, int src_stride, int rows) {
  for (int r = 0; r < rows; ++r)
    std::copy(src + static_cast<size_t>(r) * src_stride, src + static_cast<size_t>(r) * src_stride + N,
              dst + static_cast<size_t>(r) * dst_stride);
}

inline void clamp(float* x, size_t n, float limit) {
  for (size_t i = 0; i < n; ++i) x[i] = std::clamp(x[i], -limit, limit);
}

enum class QkvLayout { fused, per_head, per_kv_group };

// Splits the rows of a fused projection into q [T][Heads·HeadDim] and k, v [T][KvHeads·HeadDim].
// fused: [q | k | v]; per_head: per head [q_h | k_h | v_h]; per_kv_group: per kv head [q… of the group | k | v].
template <int Heads, int KvHeads, int HeadDim, QkvLayout L>
inline void split_qkv(float* q, float* k, float* v, const float* qkv, int T) {
  constexpr int kQDim = Heads * HeadDim, kKvDim = KvHeads * HeadDim, kRow = kQDim + 2 * kKvDim;
  constexpr int kGroup = Heads / KvHeads;
  for (int t = 0; t < T; ++t) {
    const float* src = qkv + static_cast<size_t>(t) * kRow;
    float* qt = q + static_cast<size_t>(t) * kQDim;
    float* kt = k + static_cast<size_t>(t) * kKvDim;
    float* vt = v + static_cast<size_t>(t) * kKvDim;
    if constexpr (L == QkvLayout::fused) {
      std::copy(src, src + kQDim, qt);
      std::copy(src + kQDim, src + kQDim + kKvDim, kt);
      std::copy(src + kQDim + kKvDim, src + kRow, vt);
    } else {
      // per_head is per_kv_group with groups of one query head.
      for (int g = 0; g < KvHeads; ++g) {
        const float* group = src + static_cast<size_t>(g) * (kGroup + 2) * HeadDim;
        std::copy(group, group + kGroup * HeadDim, qt + g * kGroup * HeadDim);
        std::copy(group + kGroup * HeadDim, group + (kGroup + 1) * HeadDim, kt + g * HeadDim);
        std::copy(group + (kGroup + 1) * HeadDim, group + (kGroup + 2) * HeadDim, vt + g * HeadDim);
      }
    }
  }
}

inline void softcap(float* x, size_t n, float cap) {
  for (size_t i = 0; i < n; ++i) x[i] = cap * std::tanh(x[i] / cap);
}

}  // namespace llmc
