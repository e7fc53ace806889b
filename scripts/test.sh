#!/usr/bin/env bash
# The whole test suite: unit, tokenizer, golden (llama2.c and Hugging Face references) and error tests.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/build.sh
cd build
# Tests run in parallel on few cores: OpenMP threads that sleep instead of spinning keep oversubscribed
# generated binaries from crawling. (Speed is measured by bench/, never by tests.)
export OMP_WAIT_POLICY=PASSIVE
ctest --output-on-failure -j"$(nproc)"
