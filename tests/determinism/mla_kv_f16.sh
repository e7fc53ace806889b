#!/usr/bin/env bash
# usage: mla_kv_f16.sh LLMC SOURCE_DIR WORK_DIR
# Multi-head latent attention with an f16 KV cache (llmc build --kv-cache f16, as the bench builds DeepSeek): the
# golden case deepseek_v2_lite (MLA, YaRN, DeepSeekMoE) built with an f32 and an f16 cache. The f16 cache holds
# MLA's rows (normalised latent + rotated k_rope) rounded to f16, which both the prompt's attention and each
# decode step read (the cache code is the same with low-rank queries, so deepseek_v3 would add build time, not
# coverage). Checks:
# - the golden greedy tokens (16 decode steps over the cache) from the f16 build as from the f32 one;
# - the logits of those steps and of a 120-position teacher-forced pass (prompt + 100 greedy tokens) within
#   NMSE 2e-6 of the f32 cache's (measured 4.9e-7 and 3.4e-7; deepseek_v3 3.2e-7 and 2.9e-7), and not bitwise
#   equal to them (the f16 cache is really the one read);
# - q8_0 weights (kv_b as quantised per-head matrices where its rows are whole blocks: the value parts here):
#   the teacher-forced logits within NMSE 1e-2 of the f32 build's (measured 2.3e-3; a wrong head or part gives
#   ~1).
set -euo pipefail
llmc="$1" src="$2" work="$3"
mkdir -p "$work"
cd "$work"
for case in deepseek_v2_lite; do
  data="$src/tests/data/golden/$case"
  "$llmc" import "$data" -o "$case.yaml" 2>/dev/null
  "$llmc" build "$case.yaml" -o "$case-f32" 2>/dev/null
  "$llmc" build "$case.yaml" -o "$case-f16" --kv-cache f16 2>/dev/null
  "$llmc" build "$case.yaml" -o "$case-q8_0" --dtype q8_0 2>/dev/null
  tokens=$(python3 -c "import json; print(','.join(map(str, json.load(open('$data/input.json'))['input_ids'])))")
  continuation=$(./$case-f32 --weights "$data/model.safetensors" --tokens "$tokens" -n 100 --temp 0 --ignore-eos \
    --ids 2>/dev/null)
  for kv in f32 f16; do
    ./$case-$kv --weights "$data/model.safetensors" --tokens "$tokens" -n 16 --temp 0 --ignore-eos --ids \
      --logits "$case-$kv-greedy.bin" >"$case-$kv-ids.txt" 2>/dev/null
    ./$case-$kv --weights "$data/model.safetensors" --tokens "$tokens,$continuation" -n 0 \
      --logits "$case-$kv-forced.bin" >/dev/null 2>&1
  done
  ./$case-q8_0 --weights "$data/model.safetensors" --tokens "$tokens,$continuation" -n 0 \
    --logits "$case-q8_0-forced.bin" >/dev/null 2>&1
done
python3 - "$src/tests/data/golden" <<'PY'
import json, os, struct, sys
golden = sys.argv[1]
BOUND = 2e-6
def read(p):
    b = open(p, "rb").read()
    return struct.unpack(f"{len(b) // 4}f", b)
status = 0
def check(ok, what):
    global status
    print(f"{'ok' if ok else 'FAIL'}: {what}")
    status |= 0 if ok else 1
for case in ("deepseek_v2_lite",):
    expected = json.load(open(os.path.join(golden, case, "greedy.json")))["new_tokens"]
    for kv in ("f32", "f16"):
        got = [int(x) for x in open(f"{case}-{kv}-ids.txt").read().strip().split(",") if x]
        check(got == expected, f"{case}: {kv} cache: greedy tokens {' '.join(map(str, got))}, golden "
                               f"{' '.join(map(str, expected))}")
    for run in ("greedy", "forced"):
        ref, got = read(f"{case}-f32-{run}.bin"), read(f"{case}-f16-{run}.bin")
        if not ref or len(got) != len(ref):
            check(False, f"{case}: {run}: {len(got)} logits from the f16 cache, {len(ref)} from the f32 one")
            continue
        nmse = sum((a - b) ** 2 for a, b in zip(ref, got)) / sum(a * a for a in ref)
        check(0 < nmse < BOUND, f"{case}: {run} logits ({len(ref) // 256} positions), f16 cache vs f32 cache: "
                                f"NMSE {nmse:.3g} (must be in (0, {BOUND:g}))")
    ref, got = read(f"{case}-f32-forced.bin"), read(f"{case}-q8_0-forced.bin")
    nmse = sum((a - b) ** 2 for a, b in zip(ref, got)) / sum(a * a for a in ref) if ref else 1.0
    check(len(got) == len(ref) and 0 < nmse < 1e-2,
          f"{case}: forced logits ({len(got) // 256} positions), q8_0 weights vs f32: NMSE {nmse:.3g} (must be in (0, 0.01))")
sys.exit(status)
PY
