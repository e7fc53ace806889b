#!/usr/bin/env bash
# Hugging Face folder (config.json + model.safetensors) -> arch spec -> binary -> logits and greedy ids.
set -euo pipefail
case=${1:-tests/data/golden/qwen2}
mkdir -p out
build/llmc import "$case" -o out/hf.yaml
build/llmc inspect out/hf.yaml
build/llmc build out/hf.yaml -o out/hf_model
ids=$(python3 -c "import json,sys; print(','.join(map(str, json.load(open(sys.argv[1]))['input_ids'])))" "$case/input.json")
out/hf_model --weights "$case/model.safetensors" --tokens "$ids" -n 0 --logits out/hf_logits.bin
out/hf_model --weights "$case/model.safetensors" --tokens "$ids" -n 16 --ids --ignore-eos
