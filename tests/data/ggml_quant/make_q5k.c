// Writes ggml's quantize_row_q5_K_ref of the rows of kquants.bin (made by make_kquants.c) and
// dequantize_row_q5_K of those blocks (see README.md): u32 row count, u32 values per row, the Q5_K blocks
// of every row, then the fp32 values they dequantise to. Linked against llama.cpp's ggml-quants.c.
#include <stdio.h>
#include <stdlib.h>
#include <stdint.h>
#include "ggml.h"
#include "ggml-quants.h"
#include "ggml-common.h"
int main(int argc, char** argv) {
  FILE* in = fopen(argv[1], "rb");
  uint32_t rows, cols;
  if (!in || fread(&rows, 4, 1, in) != 1 || fread(&cols, 4, 1, in) != 1) return 1;
  float* x = malloc(sizeof(float) * rows * cols);
  if (fread(x, sizeof(float), (size_t)rows * cols, in) != (size_t)rows * cols) return 1;
  fclose(in);
  const size_t blocks = (size_t)rows * cols / 256;
  block_q5_K* b = malloc(sizeof(block_q5_K) * blocks);
  float* y = malloc(sizeof(float) * rows * cols);
  for (uint32_t r = 0; r < rows; ++r) quantize_row_q5_K_ref(x + (size_t)r * cols, b + (size_t)r * cols / 256, cols);
  dequantize_row_q5_K(b, y, (int64_t)rows * cols);
  FILE* out = fopen(argv[2], "wb");
  fwrite(&rows, 4, 1, out); fwrite(&cols, 4, 1, out);
  fwrite(b, sizeof(block_q5_K), blocks, out);
  fwrite(y, sizeof(float), (size_t)rows * cols, out);
  fclose(out);
  return 0;
}
