// Prefix-LM bookkeeping (GLM's blank infilling layout, ChatGLM-6B): a prompt is a context that ends with a mask
// token ([gMASK], or [MASK]) followed by BOS. The context attends bidirectionally; BOS and what follows are
// causal. Positions are two-dimensional: a position (the context's own, then the mask token's for BOS and every
// later token) and a block position (0 in the context, then 1, 2, ... from BOS on). What a sequence has seen of
// this layout is kept in its state, three int32: context length + 1 (0: the context has not ended), and the first
// positions + 1 of the two mask tokens (0: not seen).
#pragma once
#include <cstdint>
#include <string>

#include "llmc/error.hpp"

namespace llmc {

struct PrefixLmTokens {
  int gmask, mask, bos;  // [gMASK] is used where present, else [MASK]
};

// Reads one sequence's `count` tokens at positions pos.. into its prefix-LM state `seen` (see above). Throws if
// the context ends (BOS) with no mask token before it, or if the step ends with the context still open: a prompt
// must hold its whole context, up to BOS, in its first step.
inline void prefix_lm_scan(int32_t* seen, const int* tokens, int count, int pos, const PrefixLmTokens& ids) {
  for (int t = 0; t < count && seen[0] == 0; ++t) {
    const int token = tokens[t], at = pos + t;
    if (token == ids.gmask && seen[1] == 0) seen[1] = at + 1;
    if (token == ids.mask && seen[2] == 0) seen[2] = at + 1;
    if (token != ids.bos) continue;
    if (seen[1] == 0 && seen[2] == 0)
      throw Error("prefix-LM prompt: BOS (" + std::to_string(ids.bos) + ") at position " + std::to_string(at) +
                  " has no [gMASK] (" + std::to_string(ids.gmask) + ") or [MASK] (" + std::to_string(ids.mask) +
                  ") before it; a GLM prompt is its text, then [gMASK], then BOS");
    seen[0] = at + 1;
  }
  if (seen[0] == 0)
    throw Error("prefix-LM prompt: no BOS (" + std::to_string(ids.bos) + ") in the prompt's " +
                std::to_string(pos + count) + " tokens; a GLM prompt is its text, then [gMASK] (" +
                std::to_string(ids.gmask) + "), then BOS");
}

// The context length (the prefix every context query sees whole).
inline int prefix_length(const int32_t* seen) { return seen[0] - 1; }

// GLM's 2D RoPE of one sequence's `count` rows at positions pos..: each head's first half rotated by the position,
// its second half by the block position (see above), each half rotate_half-paired (i, i + HeadDim/4). cos/sin
// tables are [position][HeadDim / 4].
template <int Heads, int HeadDim>
inline void rope_2d(float* v, int stride, int count, int pos, const int32_t* seen, const float* cos_table,
                    const float* sin_table) {
  constexpr int kQuarter = HeadDim / 4;
  const int context = seen[0] - 1, mask_at = (seen[1] ? seen[1] : seen[2]) - 1;
  for (int t = 0; t < count; ++t) {
    const int p = pos + t;
    const int positions[2] = {p < context ? p : mask_at, p < context ? 0 : p - context + 1};
    for (int h = 0; h < Heads; ++h)
      for (int half = 0; half < 2; ++half) {
        float* x = v + static_cast<size_t>(t) * stride + h * HeadDim + half * 2 * kQuarter;
        const float* c = cos_table + static_cast<size_t>(positions[half]) * kQuarter;
        const float* s = sin_table + static_cast<size_t>(positions[half]) * kQuarter;
        for (int i = 0; i < kQuarter; ++i) {
          const float x0 = x[i], x1 = x[i + kQuarter];
          x[i] = x0 * c[i] - x1 * s[i];
          x[i + kQuarter] = x0 * s[i] + x1 * c[i];
        }
      }
  }
}

}  // namespace llmc
