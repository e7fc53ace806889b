#!/usr/bin/env bash
# llama2.c checkpoint -> arch spec -> binary -> text.
set -euo pipefail
mkdir -p out
build/llmc import tests/data/stories260k/stories260K.bin -o out/stories260k.yaml
build/llmc build out/stories260k.yaml -o out/stories260k
out/stories260k --weights tests/data/stories260k/stories260K.bin --tokenizer tests/data/stories260k/tok512.bin \
  --prompt "Lily and Ben went to the park" -n 120 --temp 0.7 --seed 7
