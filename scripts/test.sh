#!/usr/bin/env bash
# The whole test suite: unit, tokenizer, golden (llama2.c and Hugging Face references) and error tests.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/build.sh
cd build
ctest --output-on-failure -j"$(nproc)"
