// Token sampling: greedy, temperature, top-k, top-p, min-p, repetition penalty; seeded and reproducible.
#pragma once
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <numeric>
#include <vector>

#include <xsimd/xsimd.hpp>

namespace llmc {

struct SamplerConfig {
  float temperature = 0.0f;  // 0: greedy
  int top_k = 0;             // 0: off
  float top_p = 1.0f;        // 1: off
  float min_p = 0.0f;        // 0: off
  float repeat_penalty = 1.0f;  // 1: off; applied to tokens in the last repeat_window ids
  int repeat_window = 64;
  uint64_t seed = 0;
};

// xorshift64*: the same sequence on every platform for a given seed.
class Rng {
 public:
  explicit Rng(uint64_t seed) : state_(seed ? seed : 0x9e3779b97f4a7c15ull) {}
  float uniform() {  // [0, 1)
    state_ ^= state_ >> 12;
    state_ ^= state_ << 25;
    state_ ^= state_ >> 27;
    return static_cast<float>((state_ * 0x2545F4914F6CDD1Dull) >> 40) / 16777216.0f;
  }

 private:
  uint64_t state_;
};

// The first index of the largest value (NaNs never win; 0 if there is none), in two vector passes: the
// maximum, then where it first occurs. As std::max_element for NaN-free input.
inline int argmax(const float* x, int n) {
  using B = xsimd::batch<float>;
  constexpr int W = static_cast<int>(B::size);
  const int body = n / W * W;
  B lanes(-std::numeric_limits<float>::infinity());
  for (int i = 0; i < body; i += W) {
    const B v = B::load_unaligned(x + i);
    lanes = xsimd::select(v > lanes, v, lanes);
  }
  alignas(64) float part[W];
  lanes.store_aligned(part);
  float m = -std::numeric_limits<float>::infinity();
  for (int j = 0; j < W; ++j) m = part[j] > m ? part[j] : m;
  for (int i = body; i < n; ++i) m = x[i] > m ? x[i] : m;
  const B target(m);
  for (int i = 0; i < body; i += W)
    if (xsimd::any(B::load_unaligned(x + i) == target))
      for (int j = i;; ++j)
        if (x[j] == m) return j;
  for (int i = body; i < n; ++i)
    if (x[i] == m) return i;
  return 0;
}

class Sampler {
 public:
  Sampler(const SamplerConfig& config, int vocab) : config_(config), rng_(config.seed), vocab_(vocab) {}

  // Picks the next token from logits (modified in place). history: the ids so far.
  int sample(float* logits, const std::vector<int>& history) {
    if (config_.repeat_penalty != 1.0f) {
      const size_t from = history.size() > static_cast<size_t>(config_.repeat_window)
                              ? history.size() - static_cast<size_t>(config_.repeat_window) : 0;
      std::vector<bool> seen(static_cast<size_t>(vocab_), false);
      for (size_t i = from; i < history.size(); ++i) {
        const int id = history[i];
        if (id < 0 || id >= vocab_ || seen[static_cast<size_t>(id)]) continue;
        seen[static_cast<size_t>(id)] = true;
        float& l = logits[id];
        l = l > 0.0f ? l / config_.repeat_penalty : l * config_.repeat_penalty;
      }
    }
    if (config_.temperature <= 0.0f) return argmax(logits, vocab_);

    candidates_.resize(static_cast<size_t>(vocab_));
    std::iota(candidates_.begin(), candidates_.end(), 0);
    auto by_logit = [&](int a, int b) { return logits[a] > logits[b] || (logits[a] == logits[b] && a < b); };
    size_t keep = candidates_.size();
    if (config_.top_k > 0 && static_cast<size_t>(config_.top_k) < keep) {
      keep = static_cast<size_t>(config_.top_k);
      std::partial_sort(candidates_.begin(), candidates_.begin() + static_cast<long>(keep), candidates_.end(), by_logit);
    } else {
      std::sort(candidates_.begin(), candidates_.end(), by_logit);
    }
    candidates_.resize(keep);
    // Softmax with temperature over the kept candidates (sorted, highest first).
    probs_.resize(keep);
    const float top = logits[candidates_[0]];
    float sum = 0.0f;
    for (size_t i = 0; i < keep; ++i) sum += probs_[i] = std::exp((logits[candidates_[i]] - top) / config_.temperature);
    for (float& p : probs_) p /= sum;
    if (config_.min_p > 0.0f) {
      const float floor = config_.min_p * probs_[0];
      while (keep > 1 && probs_[keep - 1] < floor) --keep;
    }
    if (config_.top_p < 1.0f) {
      float cum = 0.0f;
      size_t n = 0;
      while (n < keep) {
        cum += probs_[n++];
        if (cum >= config_.top_p) break;
      }
      keep = n;
    }
    float total = 0.0f;
    for (size_t i = 0; i < keep; ++i) total += probs_[i];
    const float r = rng_.uniform() * total;
    float cum = 0.0f;
    for (size_t i = 0; i < keep; ++i) {
      cum += probs_[i];
      if (r < cum) return candidates_[i];
    }
    return candidates_[keep - 1];
  }

 private:
  SamplerConfig config_;
  Rng rng_;
  int vocab_;
  std::vector<int> candidates_;
  std::vector<float> probs_;
};

}  // namespace llmc
