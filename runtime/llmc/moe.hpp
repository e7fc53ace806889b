// Mixture-of-experts routing: which experts each token visits and with what weight, and the bookkeeping that
// lets every expert run once over all of its tokens. No model knowledge: the generated code passes the
// routing rule and sizes; the experts' matmuls are the ordinary kernels.
#pragma once
#include <algorithm>
#include <cmath>
#include <cstddef>
#include <limits>

namespace llmc {

// How router logits become expert weights. Each names the reference it follows.
enum class Routing {
  softmax_topk,   // softmax over all experts, then the top k (Mixtral, Qwen-MoE, OLMoE, Grok-1)
  topk_softmax,   // the top k logits, then softmax over those k (GraniteMoE, JetMoE)
  topk_sigmoid,   // the top k logits, each through a sigmoid (Llama 4)
  sparsemixer,    // PhiMoE's eval-mode sparsemixer (top 2, each a softmax over the logits near the best left)
  // DeepSeek: experts in `groups` equal groups; only the best top_groups groups are open, then the top k of
  // the open experts (closed ones count as score 0, as the reference masks them).
  group_limited_greedy,  // softmax scores; a group's score is its best (DeepSeek-V2)
  noaux_tc,              // sigmoid scores; choice by score + bias, a group's score the sum of its best two;
                         // weights the unbiased scores (DeepSeek-V3)
};

struct RoutingParams {
  Routing rule = Routing::softmax_topk;
  bool renormalize = false;  // divide the k weights by their sum (Mixtral; norm_topk_prob)
  float scale = 1.0f;        // every weight × this (routed_scaling_factor)
  float jitter_eps = 0.0f;   // sparsemixer: the relative distance from the best logit that still counts
  int groups = 1, top_groups = 1;  // group_limited_greedy, noaux_tc
};

namespace moe_detail {

// Indices of the k largest of v[0..n), largest first; ties to the lower index (as a stable sort would).
template <int N, int K>
inline void top_k(const float* v, int* ids) {
  bool taken[N] = {};
  for (int j = 0; j < K; ++j) {
    int best = -1;
    for (int e = 0; e < N; ++e)
      if (!taken[e] && (best < 0 || v[e] > v[best])) best = e;
    taken[best] = true;
    ids[j] = best;
  }
}

// softmax of v[0..n) in place, in fp32 as PyTorch computes it: exp(x − max) / Σ.
inline void softmax(float* v, int n) {
  float max = -std::numeric_limits<float>::infinity();
  for (int i = 0; i < n; ++i) max = std::max(max, v[i]);
  float sum = 0.0f;
  for (int i = 0; i < n; ++i) sum += v[i] = std::exp(v[i] - max);
  for (int i = 0; i < n; ++i) v[i] /= sum;
}

// One sparsemixer pick over scores (already-picked experts at −inf in `open`): the best open expert, and its
// softmax weight among the open experts whose logit is within 2·eps (relative) of the best. The relative
// distance divides by max(|score|, best), with the unmasked scores, as the reference does.
template <int E>
inline int sparsemixer_pick(const float* scores, const float* open, float eps, float* weight) {
  int best = 0;
  for (int e = 1; e < E; ++e)
    if (open[e] > open[best]) best = e;
  const float threshold = open[best];
  float masked[E];
  for (int e = 0; e < E; ++e) {
    const float factor = std::max(std::fabs(scores[e]), threshold);
    masked[e] = (threshold - scores[e]) / factor > 2.0f * eps ? -std::numeric_limits<float>::infinity() : open[e];
  }
  softmax(masked, E);
  *weight = masked[best];
  return best;
}

// Indices of the k largest of v[0..n) (n at run time), largest first; ties to the lower index.
inline void top_k_of(const float* v, int n, int k, int* ids) {
  for (int j = 0; j < k; ++j) {
    int best = -1;
    for (int e = 0; e < n; ++e) {
      bool taken = false;
      for (int i = 0; i < j; ++i) taken = taken || ids[i] == e;
      if (!taken && (best < 0 || v[e] > v[best])) best = e;
    }
    ids[j] = best;
  }
}

// DeepSeek's group-limited choice over E experts in p.groups groups: a group's score is its best choice score
// (or the sum of its best two: noaux_tc); the choice scores outside the best p.top_groups groups become 0; ids
// are the top K of what remains.
template <int E, int K>
inline void group_limited_top_k(const float* choice, const RoutingParams& p, int* ids) {
  const int per_group = E / p.groups;
  float group_score[E];
  for (int g = 0; g < p.groups; ++g) {
    const float* c = choice + g * per_group;
    int best[2];
    const int n = p.rule == Routing::noaux_tc ? 2 : 1;
    top_k_of(c, per_group, n, best);
    group_score[g] = n == 2 ? c[best[0]] + c[best[1]] : c[best[0]];
  }
  int open_groups[E];
  top_k_of(group_score, p.groups, p.top_groups, open_groups);
  float masked[E] = {};
  for (int i = 0; i < p.top_groups; ++i)
    std::copy_n(choice + open_groups[i] * per_group, per_group, masked + open_groups[i] * per_group);
  top_k<E, K>(masked, ids);
}

}  // namespace moe_detail

// For each of T tokens, the K experts it visits (ids[t·K + j], best first) and their weights, from router
// logits [T][E] (fp32). bias: noaux_tc's per-expert selection bias [E].
template <int E, int K>
inline void route(const float* logits, int T, const RoutingParams& p, int* ids, float* weights,
                  const float* bias = nullptr) {
  static_assert(K >= 1 && K <= E, "top-k needs 1 ≤ k ≤ experts");
  for (int t = 0; t < T; ++t) {
    const float* l = logits + static_cast<size_t>(t) * E;
    int* id = ids + static_cast<size_t>(t) * K;
    float* w = weights + static_cast<size_t>(t) * K;
    if (p.rule == Routing::sparsemixer) {
      float open[E];
      std::copy(l, l + E, open);
      for (int j = 0; j < K; ++j) {
        id[j] = moe_detail::sparsemixer_pick<E>(l, open, p.jitter_eps, &w[j]);
        open[id[j]] = -std::numeric_limits<float>::infinity();
      }
    } else if (p.rule == Routing::group_limited_greedy || p.rule == Routing::noaux_tc) {
      float scores[E], choice[E];
      std::copy(l, l + E, scores);
      if (p.rule == Routing::noaux_tc) {
        for (int e = 0; e < E; ++e) scores[e] = 1.0f / (1.0f + std::exp(-scores[e]));
      } else {
        moe_detail::softmax(scores, E);
      }
      for (int e = 0; e < E; ++e) choice[e] = bias ? scores[e] + bias[e] : scores[e];
      moe_detail::group_limited_top_k<E, K>(choice, p, id);
      for (int j = 0; j < K; ++j) w[j] = scores[id[j]];
    } else if (p.rule == Routing::softmax_topk) {
      float probs[E];
      std::copy(l, l + E, probs);
      moe_detail::softmax(probs, E);
      moe_detail::top_k<E, K>(probs, id);
      for (int j = 0; j < K; ++j) w[j] = probs[id[j]];
    } else {
      moe_detail::top_k<E, K>(l, id);
      for (int j = 0; j < K; ++j) w[j] = l[id[j]];
      if (p.rule == Routing::topk_softmax) moe_detail::softmax(w, K);
      if (p.rule == Routing::topk_sigmoid)
        for (int j = 0; j < K; ++j) w[j] = 1.0f / (1.0f + std::exp(-w[j]));
    }
    if (p.renormalize) {
      float sum = 0.0f;
      for (int j = 0; j < K; ++j) sum += w[j];
      for (int j = 0; j < K; ++j) w[j] /= sum;
    }
    if (p.scale != 1.0f)
      for (int j = 0; j < K; ++j) w[j] *= p.scale;
  }
}

// Tokens grouped by expert, so each expert's weights are read once per chunk: expert e's visits are
// visit[begin[e] .. begin[e + 1]), in token order; a visit is t·K + j (token t's j-th choice). Up to Rows tokens.
template <int E, int K, int Rows = 64>
struct ExpertVisits {
  int begin[E + 1];
  int visit[Rows * K];

  void group(const int* ids, int T) {
    std::fill(begin, begin + E + 1, 0);
    for (int i = 0; i < T * K; ++i) ++begin[ids[i] + 1];
    for (int e = 0; e < E; ++e) begin[e + 1] += begin[e];
    int next[E];
    std::copy(begin, begin + E, next);
    for (int i = 0; i < T * K; ++i) visit[next[ids[i]]++] = i;
  }
  int count(int e) const { return begin[e + 1] - begin[e]; }
};

// The input rows of expert e's visits, packed: out[i] = x[token of visit i] (× the visit's weight when
// weights is given: Llama 4 weights the expert's input, not its output). x rows are N apart.
template <int N, int E, int K, int Rows>
inline void gather_visits(float* out, const float* x, const ExpertVisits<E, K, Rows>& v, int e, const float* weights) {
  for (int i = v.begin[e]; i < v.begin[e + 1]; ++i) {
    const int visit = v.visit[i];
    const float* row = x + static_cast<size_t>(visit / K) * N;
    float* o = out + static_cast<size_t>(i - v.begin[e]) * N;
    if (weights) {
      for (int c = 0; c < N; ++c) o[c] = row[c] * weights[visit];
    } else {
      std::copy(row, row + N, o);
    }
  }
}

// Expert e's packed output rows back to their visits' slots: rows[visit] = y[i].
template <int N, int E, int K, int Rows>
inline void scatter_visits(float* rows, const float* y, const ExpertVisits<E, K, Rows>& v, int e) {
  for (int i = v.begin[e]; i < v.begin[e + 1]; ++i) {
    const float* src = y + static_cast<size_t>(i - v.begin[e]) * N;
    std::copy(src, src + N, rows + static_cast<size_t>(v.visit[i]) * N);
  }
}

// out[t] = Σ_j weights[t·K + j] · rows[t·K + j] over each token's K visits, added in ascending expert order
// (as the references accumulate experts one after the other), so the sum does not depend on the routing
// order or on threads. rows: one N-wide output row per visit. weights null: rows are added unscaled (the
// weight was applied to the expert's input, as Llama 4 does).
template <int N, int K>
inline void combine_experts(float* out, const float* rows, const int* ids, const float* weights, int T) {
  for (int t = 0; t < T; ++t) {
    int order[K];
    for (int j = 0; j < K; ++j) order[j] = j;
    const int* id = ids + static_cast<size_t>(t) * K;
    std::sort(order, order + K, [&](int a, int b) { return id[a] < id[b]; });
    float* o = out + static_cast<size_t>(t) * N;
    std::fill(o, o + N, 0.0f);
    for (int j : order) {
      const size_t v = static_cast<size_t>(t) * K + j;
      const float w = weights ? weights[v] : 1.0f;
      const float* r = rows + v * N;
      for (int i = 0; i < N; ++i) o[i] += w * r[i];
    }
  }
}

// A step's routing: each row's experts and weights, and the rows grouped by expert.
template <int E, int K, int Rows>
struct Routes {
  int ids[Rows * K];
  float weights[Rows * K];
  ExpertVisits<E, K, Rows> visits;
};

// out[t] += sigmoid(gate[t]) · y[t] over T rows of N (Qwen2-MoE's gated shared expert).
template <int N>
inline void add_sigmoid_gated(float* out, const float* y, const float* gate, int T) {
  for (int t = 0; t < T; ++t) {
    const float g = 1.0f / (1.0f + std::exp(-gate[t]));
    for (int i = 0; i < N; ++i) out[static_cast<size_t>(t) * N + i] += g * y[static_cast<size_t>(t) * N + i];
  }
}

}  // namespace llmc
