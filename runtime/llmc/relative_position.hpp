// Relative position buckets (Raffel et al., T5): a learned bias per head and bucket of the distance key − query,
// added to the attention scores. Nearby distances get a bucket each, farther ones share logarithmically wider
// buckets up to max_distance. The runtime turns a [buckets][heads] table into per-head rows over every distance
// the context allows, which attention() reads (AttentionParams::relative_bias).
#pragma once
#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdlib>

namespace llmc {

// The bucket of distance `relative` (key position − query position), as Hugging Face's
// T5Attention._relative_position_bucket computes it (its float32 arithmetic included). Bidirectional: half the
// buckets are for keys after the query. Causal: keys after the query all fall in bucket 0.
inline int relative_position_bucket(int relative, bool bidirectional, int buckets, int max_distance) {
  int bucket = 0;
  if (bidirectional) {
    buckets /= 2;
    if (relative > 0) bucket += buckets;
    relative = std::abs(relative);
  } else {
    relative = -std::min(relative, 0);
  }
  const int max_exact = buckets / 2;
  if (relative < max_exact) return bucket + relative;
  const float log_ratio = std::log(static_cast<float>(relative) / static_cast<float>(max_exact)) /
                          static_cast<float>(std::log(static_cast<double>(max_distance) / max_exact));
  const int large = max_exact + static_cast<int>(log_ratio * static_cast<float>(buckets - max_exact));
  return bucket + std::min(large, buckets - 1);
}

// out[h][d + context − 1] = table[bucket(d)][h] for every distance d in −(context − 1)..context − 1: the rows
// attention() adds per head (2·context − 1 floats each).
inline void relative_position_bias(float* out, const float* table, int heads, int context, int buckets,
                                   int max_distance, bool bidirectional) {
  const size_t row = 2 * static_cast<size_t>(context) - 1;
  for (int d = -(context - 1); d <= context - 1; ++d) {
    const int b = relative_position_bucket(d, bidirectional, buckets, max_distance);
    for (int h = 0; h < heads; ++h) out[h * row + static_cast<size_t>(d + context - 1)] = table[b * heads + h];
  }
}

}  // namespace llmc
