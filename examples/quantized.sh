#!/usr/bin/env bash
# Quantise once, ahead of time: `llmc quantize` writes the checkpoint with its matrices already in the
# layout the binary computes with (here q8_0), so the binary maps them instead of converting at load.
set -euo pipefail
mkdir -p out
build/llmc import tests/data/stories260k/stories260K.bin -o out/stories260k.yaml
build/llmc build out/stories260k.yaml -o out/stories260k-q8_0 --dtype q8_0
build/llmc quantize out/stories260k.yaml --weights tests/data/stories260k/stories260K.bin --dtype q8_0 \
  -o out/stories260k-q8_0.safetensors
out/stories260k-q8_0 --weights out/stories260k-q8_0.safetensors --tokenizer tests/data/stories260k/tok512.bin \
  --prompt "Lily and Ben went to the park" -n 120 --temp 0.7 --seed 7
