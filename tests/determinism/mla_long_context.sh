#!/usr/bin/env bash
# usage: mla_long_context.sh LLMC SOURCE_DIR WORK_DIR
# Multi-head latent attention decoding deep into the context, where its attention (one shared latent row: one
# row block of 16 heads per token) splits the keys into segments of kKeySegment (512) positions, one job each,
# combined in order (kernels.hpp, attention_blocked). A random-weight DeepSeek-V2 (bench/gen_weights.cpp): 2
# layers, 16 heads over a cached row of latent 256 + rope 32 (18 vectors of 16: the wide value passes), a
# 1300-token prompt, then 12 greedy steps at positions 1300-1311 (3 segments), with an f32 and an f16 KV cache.
# Checks, for each cache:
# - logits bitwise identical with 1, 2 and 3 threads (the segments' combination does not depend on threads);
# - the greedy steps' logits (decode: split keys) within NMSE 1e-9 of those of the same positions fed as one
#   prompt (prompt + the greedy tokens, teacher-forced: the prompt kernel's row blocks, no split), and not
#   bitwise equal to them (the two paths really differ).
set -euo pipefail
llmc="$1" src="$2" work="$3"
mkdir -p "$work"
cd "$work"
c++ -std=c++17 -O2 -march=native "$src/bench/gen_weights.cpp" -o gen_weights
# DIM LAYERS HEADS KV_HEADS FFN VOCAB SEED EXPERTS --deepseek KV_LORA NOPE ROPE V_HEAD SHARED DENSE_LAYERS DENSE_FFN
./gen_weights mla.safetensors F32 256 2 16 16 128 512 5 0 --deepseek 256 32 32 32 0 2 512
cat > mla.yaml <<'YAML'
llmc: 1
name: mla_long_context
family: deepseek_v2
model: {vocab_size: 512, hidden_size: 256, num_layers: 2, max_context: 1536, tied_embeddings: false}
norm: {kind: rmsnorm, weight: plain, bias: false, eps: 1.0e-6}
attention:
  kind: mla
  mla: {kv_lora_rank: 256, v_head_dim: 32, norm_eps: 1.0e-6}
  heads: 16
  kv_heads: 16
  head_dim: 64
  qkv: separate
  bias: {q: false, k: false, v: false, o: false}
positions: {kind: rope, theta: 10000.0, pairing: interleaved, rotary_dim: 32}
mlp: {kind: gated, activation: silu, intermediate_size: 512, bias: false}
tokens: {bos: 1, eos: 2, add_bos: true}
weights:
  embed: model.embed_tokens.weight
  final_norm: model.norm.weight
  lm_head: lm_head.weight
  layer:
    attn_norm: model.layers.{i}.input_layernorm.weight
    q: model.layers.{i}.self_attn.q_proj.weight
    kv_a: model.layers.{i}.self_attn.kv_a_proj_with_mqa.weight
    kv_a_norm: model.layers.{i}.self_attn.kv_a_layernorm.weight
    kv_b: model.layers.{i}.self_attn.kv_b_proj.weight
    o: model.layers.{i}.self_attn.o_proj.weight
    ffn_norm: model.layers.{i}.post_attention_layernorm.weight
    gate: model.layers.{i}.mlp.gate_proj.weight
    up: model.layers.{i}.mlp.up_proj.weight
    down: model.layers.{i}.mlp.down_proj.weight
YAML
prompt=$(python3 -c "print(','.join(str(3 + (i * 37) % 509) for i in range(1300)))")
status=0
for kv in f32 f16; do
  "$llmc" build mla.yaml -o "mla-$kv" --kv-cache "$kv" 2>/dev/null
  for threads in 1 2 3; do
    "./mla-$kv" --weights mla.safetensors --tokens "$prompt" -n 12 --temp 0 --ignore-eos --ids --threads "$threads" \
      --logits "$kv-t$threads.bin" >"$kv-t$threads.ids" 2>/dev/null
  done
  if [ -s "$kv-t1.bin" ] && cmp -s "$kv-t1.bin" "$kv-t2.bin" && cmp -s "$kv-t1.bin" "$kv-t3.bin"; then
    echo "ok: $kv cache: logits bitwise identical with 1, 2 and 3 threads"
  else
    echo "FAIL: $kv cache: logits differ between 1, 2 and 3 threads (or none written)"
    status=1
  fi
  greedy=$(tr -d '\n' <"$kv-t1.ids")
  "./mla-$kv" --weights mla.safetensors --tokens "$prompt,$greedy" -n 0 --logits "$kv-forced.bin" >/dev/null 2>&1
  python3 - "$kv" "$greedy" <<'PY' || status=1
import struct, sys
kv, vocab = sys.argv[1], 512
steps = len(sys.argv[2].split(",")) - 1  # greedy tokens fed back (the last one is only sampled)
def rows(path):
    b = open(path, "rb").read()
    v = struct.unpack(f"{len(b) // 4}f", b)
    return [v[i:i + vocab] for i in range(0, len(v), vocab)]
decoded, forced = rows(f"{kv}-t1.bin"), rows(f"{kv}-forced.bin")
prompt = len(decoded) - steps  # the prompt's rows (with BOS if the driver adds it)
if steps != 11 or prompt < 1300 or len(forced) != len(decoded) + 1:
    sys.exit(f"FAIL: {kv} cache: {len(decoded)} rows decoded ({steps} greedy steps), {len(forced)} forced")
a = [x for r in decoded[prompt:] for x in r]
b = [x for r in forced[prompt:len(decoded)] for x in r]
nmse = sum((x - y) ** 2 for x, y in zip(a, b)) / sum(y * y for y in b)
ok = 0 < nmse < 1e-9
print(f"{'ok' if ok else 'FAIL'}: {kv} cache: {steps} decode steps at positions {prompt}-{prompt + steps - 1} vs the "
      f"same positions as a prompt: NMSE {nmse:.3g} (must be in (0, 1e-9))")
sys.exit(0 if ok else 1)
PY
done
exit $status
