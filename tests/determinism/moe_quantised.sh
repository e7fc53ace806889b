#!/usr/bin/env bash
# usage: moe_quantised.sh LLMC SOURCE_DIR WORK_DIR
# Mixtures of experts (the mixtral golden case, one tensor per expert, and granitemoe, experts stacked in one
# tensor, sliced at load) built at q8_0 and q4_0: the files `llmc quantize` writes give bitwise the logits of
# quantising at load; the logits of a prompt and 12 greedy steps are bitwise identical with 1, 2 and 3 threads
# (routing, grouping by expert and the ordered sum of the experts' outputs do not depend on threads); and the
# q8_0 logits stay near the reference (NMSE < 2e-2: measured 1.0e-3 and 4e-3 on these tiny random models, as
# far as the dense llama case is at q8_0).
set -euo pipefail
llmc="$1" src="$2" work="$3"
mkdir -p "$work"
cd "$work"
for case in mixtral granitemoe; do
  data="$src/tests/data/golden/$case"
  "$llmc" import "$data" -o "$case.yaml" 2>/dev/null
  tokens=$(python3 -c "import json; print(','.join(map(str, json.load(open('$data/input.json'))['input_ids'])))")
  for q in q8_0 q4_0; do
    "$llmc" build "$case.yaml" -o "$case-$q" --dtype "$q" 2>/dev/null
    ./$case-$q --weights "$data/model.safetensors" --tokens "$tokens" -n 0 --logits "$case-$q.bin" >/dev/null 2>&1
    "$llmc" quantize "$case.yaml" --weights "$data/model.safetensors" --dtype "$q" -o "$case-pre-$q.safetensors" 2>/dev/null
    ./$case-$q --weights "$case-pre-$q.safetensors" --tokens "$tokens" -n 0 --logits "$case-pre-$q.bin" >/dev/null 2>&1
    cmp "$case-$q.bin" "$case-pre-$q.bin" \
      || { echo "FAIL: $case: llmc quantize --dtype $q: logits differ from quantising at load"; exit 1; }
    echo "ok: $case: llmc quantize --dtype $q: logits bitwise equal to quantising at load"
  done
  for threads in 1 2 3; do
    ./$case-q8_0 --weights "$data/model.safetensors" --tokens "$tokens" -n 12 --temp 0 --ignore-eos \
      --threads "$threads" --logits "$case-t$threads.bin" >/dev/null 2>&1
  done
  [ -s "$case-t1.bin" ] && cmp "$case-t1.bin" "$case-t2.bin" && cmp "$case-t1.bin" "$case-t3.bin" \
    || { echo "FAIL: $case q8_0: logits differ between 1, 2 and 3 threads"; exit 1; }
  echo "ok: $case q8_0: logits bitwise identical with 1, 2 and 3 threads"
  python3 - "$case-q8_0.bin" "$data/logits.bin" "$case" <<'PY'
import struct, sys
def read(p):
    b = open(p, "rb").read()
    return struct.unpack(f"{len(b) // 4}f", b)
got, ref = read(sys.argv[1]), read(sys.argv[2])
if len(got) != len(ref):
    sys.exit(f"FAIL: {sys.argv[3]} q8_0: {len(got)} logits, the reference has {len(ref)}")
nmse = sum((a - b) ** 2 for a, b in zip(ref, got)) / sum(a * a for a in ref)
print(f"{'ok' if nmse < 2e-2 else 'FAIL'}: {sys.argv[3]} q8_0: NMSE vs the reference logits {nmse:.3g} (bound 2e-2)")
sys.exit(0 if nmse < 2e-2 else 1)
PY
done
