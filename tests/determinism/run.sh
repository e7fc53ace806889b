#!/usr/bin/env bash
# usage: run.sh LLMC SOURCE_DIR WORK_DIR
# Determinism: random-weight Llamas built with llmc, run 3 times each with 1, 2 and 3 threads (3 threads on this
# 2-core CI machine: more threads than cores, so chunks are claimed in a different order every run). Logits must
# be bitwise identical across runs and across thread counts for
#   - the "small" model (every decode matmul below 2M multiply-adds: equal chunks) with f32, f16 and bf16
#     weights, quantised to q8_0 and q4_0, and with an f16 KV cache;
#   - the "wide" model, whose 32000-row classifier (32000 x 128 = 4.1M multiply-adds per token, above
#     threads.hpp's kSmallParallelWork of 2M) takes the guided-chunk path in decode too, f32 and q8_0.
# Accuracy, end to end: the f16 and bf16 checkpoints hold the f32 one's values rounded (gen_weights, same seed);
# their logits must stay within NMSE 1e-5 (f16; measured 1.4e-6) and 5e-4 (bf16; measured 1.3e-4) of the f32 ones.
set -euo pipefail
llmc="$1" src="$2" work="$3"
mkdir -p "$work"
cd "$work"
c++ -std=c++17 -O2 -march=native "$src/bench/gen_weights.cpp" -o gen_weights

write_arch() {  # name vocab dim layers heads kv_heads ffn
  cat > "$1.yaml" <<YAML
llmc: 1
name: $1
family: llama
model: {vocab_size: $2, hidden_size: $3, num_layers: $4, max_context: 128, tied_embeddings: false}
norm: {kind: rmsnorm, weight: plain, eps: 1.0e-5}
attention:
  heads: $5
  kv_heads: $6
  head_dim: $(($3 / $5))
  qkv: separate
  bias: {q: false, k: false, v: false, o: false}
positions: {kind: rope, theta: 10000.0, pairing: half, rotary_dim: $(($3 / $5))}
mlp: {kind: gated, activation: silu, intermediate_size: $7, bias: false}
tokens: {bos: 1, eos: 2, add_bos: true}
weights:
  embed: model.embed_tokens.weight
  final_norm: model.norm.weight
  lm_head: lm_head.weight
  layer:
    attn_norm: model.layers.{i}.input_layernorm.weight
    q: model.layers.{i}.self_attn.q_proj.weight
    k: model.layers.{i}.self_attn.k_proj.weight
    v: model.layers.{i}.self_attn.v_proj.weight
    o: model.layers.{i}.self_attn.o_proj.weight
    ffn_norm: model.layers.{i}.post_attention_layernorm.weight
    gate: model.layers.{i}.mlp.gate_proj.weight
    up: model.layers.{i}.mlp.up_proj.weight
    down: model.layers.{i}.mlp.down_proj.weight
YAML
}

# small: dim 256, 2 layers, 4 heads (2 kv), ffn 704, vocab 1000: every decode matmul is above the threading
# threshold (32K multiply-adds) and below the guided one (2M).
write_arch small 1000 256 2 4 2 704
for dtype in F32 F16 BF16; do ./gen_weights "small_$dtype.safetensors" "$dtype" 256 2 4 2 704 1000 7; done
# wide: dim 128, 1 layer, vocab 32000.
write_arch wide 32000 128 1 4 2 352
./gen_weights wide_F32.safetensors F32 128 1 4 2 352 32000 11

tokens=$(python3 -c "print(','.join(str(3 + (i * 37) % 997) for i in range(70)))")
status=0
run_set() {  # name binary weights
  local name="$1" bin="$2" weights="$3" threads rep
  for threads in 1 2 3; do
    for rep in 1 2 3; do
      "$bin" --weights "$weights" --tokens "$tokens" -n 12 --temp 0 --ignore-eos --ids --threads "$threads" \
        --logits "$name.t$threads.r$rep.bin" > "$name.t$threads.r$rep.ids" 2>/dev/null
      if ! cmp -s "$name.t$threads.r1.bin" "$name.t$threads.r$rep.bin"; then
        echo "FAIL: $name: logits differ between runs with $threads threads"
        status=1
      fi
    done
  done
  local rows=$(($(stat -c %s "$name.t1.r1.bin") / 4))
  if [ "$rows" = 0 ]; then
    echo "FAIL: $name: no logits written"
    status=1
  elif cmp -s "$name.t1.r1.bin" "$name.t2.r1.bin" && cmp -s "$name.t1.r1.bin" "$name.t3.r1.bin"; then
    echo "ok: $name: logits ($rows values) bitwise identical across 3 runs each with 1, 2 and 3 threads"
  else
    echo "FAIL: $name: logits differ between 1, 2 and 3 threads"
    status=1
  fi
}
"$llmc" build small.yaml -o small 2>/dev/null
for dtype in F32 F16 BF16; do run_set "small_$dtype" ./small "small_$dtype.safetensors"; done
for q in q8_0 q4_0; do
  "$llmc" build small.yaml -o "small_$q" --dtype "$q" 2>/dev/null
  run_set "small_$q" "./small_$q" small_F32.safetensors
done
"$llmc" build small.yaml -o small_kv_f16 --kv-cache f16 2>/dev/null
run_set small_kv_f16 ./small_kv_f16 small_F32.safetensors
"$llmc" build wide.yaml -o wide 2>/dev/null
run_set wide_F32 ./wide wide_F32.safetensors
"$llmc" build wide.yaml -o wide_q8_0 --dtype q8_0 2>/dev/null
run_set wide_q8_0 ./wide_q8_0 wide_F32.safetensors

python3 - "$status" <<'PY'
import struct, sys
def read(p):
    b = open(p, "rb").read()
    return struct.unpack(f"{len(b) // 4}f", b)
ref = read("small_F32.t1.r1.bin")
status = int(sys.argv[1])
# name: NMSE bound vs the f32 logits (None: printed only, bounded on a real model in quantised_nmse.sh)
for name, bound in (("small_F16", 1e-5), ("small_BF16", 5e-4), ("small_q8_0", None), ("small_q4_0", None),
                    ("small_kv_f16", None)):
    got = read(f"{name}.t1.r1.bin")
    if len(got) != len(ref) or not ref:
        print(f"FAIL: {name}: {len(got)} logits, expected {len(ref)}")
        status = 1
        continue
    nmse = sum((a - b) ** 2 for a, b in zip(ref, got)) / sum(a * a for a in ref)
    ok = bound is None or nmse < bound
    status |= 0 if ok else 1
    print(f"{'ok' if ok else 'FAIL'}: {name}: NMSE vs f32 logits {nmse:.3g} over {len(ref) // 1000} positions"
          + (f" (bound {bound:g})" if bound else ""))
sys.exit(status)
PY
