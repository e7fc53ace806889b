// Writes random blocks of each GGUF quant type llmc reads and ggml's dequantize_row_* of them (see README.md):
// per type: u32 type id, u32 block count, blocks, then floats. Linked against llama.cpp's ggml-quants.c.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <stdint.h>
#include "ggml.h"
#include "ggml-quants.h"
static uint32_t s = 12345;
static uint32_t rnd(void) { s ^= s << 13; s ^= s >> 17; s ^= s << 5; return s; }
static uint16_t rnd_half(void) {  // finite, normal, moderate: sign, exponent 5..20, any mantissa
  return (uint16_t)(((rnd() & 1) << 15) | ((5 + rnd() % 16) << 10) | (rnd() & 0x3ff));
}
typedef void (*deq)(const void*, float*, int64_t);
int main(int argc, char** argv) {
  struct { int type; int qk; int bytes; deq f; int half_at[2]; } T[] = {
    {GGML_TYPE_Q4_0, 32, 18, (deq)dequantize_row_q4_0, {0, -1}},
    {GGML_TYPE_Q4_1, 32, 20, (deq)dequantize_row_q4_1, {0, 2}},
    {GGML_TYPE_Q5_0, 32, 22, (deq)dequantize_row_q5_0, {0, -1}},
    {GGML_TYPE_Q5_1, 32, 24, (deq)dequantize_row_q5_1, {0, 2}},
    {GGML_TYPE_Q8_0, 32, 34, (deq)dequantize_row_q8_0, {0, -1}},
    {GGML_TYPE_Q2_K, 256, 84, (deq)dequantize_row_q2_K, {80, 82}},
    {GGML_TYPE_Q3_K, 256, 110, (deq)dequantize_row_q3_K, {108, -1}},
    {GGML_TYPE_Q4_K, 256, 144, (deq)dequantize_row_q4_K, {0, 2}},
    {GGML_TYPE_Q5_K, 256, 176, (deq)dequantize_row_q5_K, {0, 2}},
    {GGML_TYPE_Q6_K, 256, 210, (deq)dequantize_row_q6_K, {208, -1}},
    {GGML_TYPE_IQ4_NL, 32, 18, (deq)dequantize_row_iq4_nl, {0, -1}},
  };
  FILE* out = fopen(argv[1], "wb");
  for (size_t t = 0; t < sizeof T / sizeof T[0]; ++t) {
    const uint32_t nblocks = T[t].qk == 32 ? 16 : 4;
    uint8_t* b = malloc(nblocks * T[t].bytes);
    float* y = malloc(nblocks * T[t].qk * sizeof(float));
    for (uint32_t i = 0; i < nblocks * T[t].bytes; ++i) b[i] = (uint8_t)rnd();
    for (uint32_t k = 0; k < nblocks; ++k)
      for (int h = 0; h < 2; ++h)
        if (T[t].half_at[h] >= 0) { uint16_t v = rnd_half(); memcpy(b + k * T[t].bytes + T[t].half_at[h], &v, 2); }
    T[t].f(b, y, nblocks * T[t].qk);
    uint32_t id = T[t].type;
    fwrite(&id, 4, 1, out); fwrite(&nblocks, 4, 1, out);
    fwrite(b, T[t].bytes, nblocks, out); fwrite(y, sizeof(float), nblocks * T[t].qk, out);
    free(b); free(y);
  }
  fclose(out);
  return 0;
}
