#!/usr/bin/env bash
# usage: run.sh LLMC SOURCE_DIR WORK_DIR
set -euo pipefail
llmc="$1" src="$2" work="$3"
mkdir -p "$work"
cd "$work"
c++ -std=c++17 -O2 -march=native "$src/bench/gen_weights.cpp" -o gen_weights
# dim 256, 2 layers, 4 heads (2 kv), ffn 704, vocab 1000: every decode matmul is above the threading threshold.
./gen_weights f32.safetensors F32 256 2 4 2 704 1000 7
./gen_weights f16.safetensors F16 256 2 4 2 704 1000 7
cat > arch.yaml <<'YAML'
llmc: 1
name: determinism
family: llama
model: {vocab_size: 1000, hidden_size: 256, num_layers: 2, max_context: 128, tied_embeddings: false}
norm: {kind: rmsnorm, weight: plain, eps: 1.0e-5}
attention:
  heads: 4
  kv_heads: 2
  head_dim: 64
  qkv: separate
  bias: {q: false, k: false, v: false, o: false}
positions: {kind: rope, theta: 10000.0, pairing: half, rotary_dim: 64}
mlp: {kind: gated, activation: silu, intermediate_size: 704, bias: false}
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
tokens=$(python3 -c "print(','.join(str(3 + (i * 37) % 997) for i in range(70)))")
status=0
run_set() {  # name binary weights
  local name="$1" bin="$2" weights="$3"
  for threads in 1 2; do
    for rep in 1 2 3; do
      "$bin" --weights "$weights" --tokens "$tokens" -n 12 --temp 0 --ignore-eos --ids --threads "$threads" \
        --logits "$name.t$threads.r$rep.bin" > "$name.t$threads.r$rep.ids" 2>/dev/null
      if ! cmp -s "$name.t$threads.r1.bin" "$name.t$threads.r$rep.bin"; then
        echo "FAIL: $name: logits differ between runs with $threads threads"
        status=1
      fi
    done
  done
  if cmp -s "$name.t1.r1.bin" "$name.t2.r1.bin"; then
    echo "ok: $name: logits bitwise identical across runs and across 1 and 2 threads"
  else
    echo "FAIL: $name: logits differ between 1 and 2 threads"
    status=1
  fi
}
"$llmc" build arch.yaml -o model 2>/dev/null
run_set f32 ./model f32.safetensors
run_set f16 ./model f16.safetensors
for q in q8_0 q4_0; do
  "$llmc" build arch.yaml -o "model_$q" --dtype "$q" 2>/dev/null
  run_set "$q" "./model_$q" f32.safetensors
done
"$llmc" build arch.yaml -o model_kv_f16 --kv-cache f16 2>/dev/null
run_set kv_f16 ./model_kv_f16 f32.safetensors
python3 - <<'PY'
import struct
def read(p):
    b = open(p, "rb").read()
    return struct.unpack(f"{len(b) // 4}f", b)
ref = read("f32.t1.r1.bin")
for name in ("f16", "q8_0", "q4_0", "kv_f16"):
    got = read(f"{name}.t1.r1.bin")
    num = sum((a - b) ** 2 for a, b in zip(ref, got))
    den = sum(a * a for a in ref)
    print(f"{name}: NMSE vs f32 logits {num / den:.3g} over {len(ref) // 1000} positions")
PY
exit $status
