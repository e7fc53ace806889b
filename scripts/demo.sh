#!/usr/bin/env bash
# The main job: build llmc, compile the real stories260K model into a binary, and generate text with it.
#   bash scripts/demo.sh ["prompt"] [new tokens]
set -euo pipefail
cd "$(dirname "$0")/.."
prompt=${1:-Once upon a time}
tokens=${2:-200}
bash scripts/build.sh
mkdir -p out
build/llmc inspect archs/stories260k.yaml
build/llmc build archs/stories260k.yaml -o out/stories260k
echo
out/stories260k --weights tests/data/stories260k/stories260K.bin --tokenizer tests/data/stories260k/tok512.bin \
  --prompt "$prompt" -n "$tokens" --temp 0.8 --top-p 0.9 --seed 42
