// Writes inputs and ggml's quantize_row_q4_K_ref / quantize_row_q6_K_ref / quantize_row_q8_K_ref of them
// (see README.md): u32 row count, u32 values per row, the fp32 rows, then per type (Q4_K, Q6_K, Q8_K) the
// blocks of every row. Linked against llama.cpp's ggml-quants.c.
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <stdint.h>
#include "ggml.h"
#include "ggml-quants.h"
#include "ggml-common.h"
static uint32_t s = 4242;
static uint32_t rnd(void) { s ^= s << 13; s ^= s >> 17; s ^= s << 5; return s; }
static float uniform(void) { return (float)((rnd() >> 8) + 0.5) / 16777216.0f; }
static float gauss(void) { return sqrtf(-2.0f * logf(uniform())) * cosf(6.2831853f * uniform()); }
enum { kRows = 24, kCols = 512 };
int main(int argc, char** argv) {
  static float x[kRows][kCols];
  for (int r = 0; r < kRows; ++r)
    for (int i = 0; i < kCols; ++i) {
      float v = gauss() * (r % 4 == 0 ? 0.02f : r % 4 == 1 ? 1.0f : r % 4 == 2 ? 300.0f : 1e-6f);
      if (r % 6 == 5 && rnd() % 50 == 0) v *= 40.0f;          // outliers
      if (r % 8 == 3) v = fabsf(v);                           // all positive: q4_K's min is 0
      if (r % 8 == 7) v = -fabsf(v) - 0.5f;                   // all negative, offset
      if (r == 9 && i < 256) v = 0.0f;                        // an all-zero super-block
      if (r == 10 && i % 32 < 16) v = 0.0f;                   // zero halves of sub-blocks
      if (r == 11) v = (float)((int)(rnd() % 31) - 15) * 0.25f;  // values on a grid: ties
      x[r][i] = v;
    }
  FILE* out = fopen(argv[1], "wb");
  uint32_t rows = kRows, cols = kCols;
  fwrite(&rows, 4, 1, out); fwrite(&cols, 4, 1, out);
  fwrite(x, sizeof x, 1, out);
  for (int r = 0; r < kRows; ++r) { block_q4_K b[kCols / 256]; quantize_row_q4_K_ref(x[r], b, kCols); fwrite(b, sizeof b, 1, out); }
  for (int r = 0; r < kRows; ++r) { block_q6_K b[kCols / 256]; quantize_row_q6_K_ref(x[r], b, kCols); fwrite(b, sizeof b, 1, out); }
  // An all-zero block leaves its sums unwritten in ggml: zeroed here.
  for (int r = 0; r < kRows; ++r) { block_q8_K b[kCols / 256]; memset(b, 0, sizeof b); quantize_row_q8_K_ref(x[r], b, kCols); fwrite(b, sizeof b, 1, out); }
  fclose(out);
  return 0;
}
