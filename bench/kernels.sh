#!/usr/bin/env bash
# Builds bench/kernels.cpp (kernel microbenchmarks on the runtime headers, -march=native) and runs it:
# decode matmul GB/s per weight format and decode attention time (Llama and MLA), each with 1 and 2 threads.
#   bench/kernels.sh                 everything
#   bench/kernels.sh matmul q4_0 1   one case (arguments as bench/kernels.cpp's)
#   bench/kernels.sh peak            one core's fp32 FMA and vdpbf16ps peak (GFLOP/s)
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
mkdir -p "$here/work"
exe="$here/work/kernels"
${CXX:-c++} -std=c++20 -O2 -march=native -fopenmp -DNDEBUG -I"$here/../runtime" "$here/kernels.cpp" -o "$exe"
if [ $# -gt 0 ]; then exec "$exe" "$@"; fi
for threads in 1 2; do
  for format in f32_g16 f16_g16 bf16_g16 q8_0 q4_0 q4_k q5_k q6_k; do "$exe" matmul "$format" "$threads"; done
  for pos in 96 1000; do "$exe" attention "$threads" "$pos"; done
  for pos in 1000 4000; do "$exe" mla "$threads" "$pos"; done
done
