#!/usr/bin/env bash
# usage: quantised_nmse.sh LLMC SOURCE_DIR WORK_DIR
# The real stories260K model built as stored (f32) and quantised (q8_0, q4_0), all fed the same 200 tokens
# (prompt + the f32 build's greedy continuation, teacher-forced): NMSE of the quantised logits vs the f32
# ones and top-1 agreement, printed and bounded (q8_0: NMSE < 1e-3; q4_0: NMSE < 5e-2).
set -euo pipefail
llmc="$1" src="$2" work="$3"
data="$src/tests/data/stories260k"
mkdir -p "$work"
cd "$work"
for q in as-stored q8_0 q4_0; do "$llmc" build "$src/archs/stories260k.yaml" -o "m-$q" --dtype "$q" 2>/dev/null; done
prompt=$("$llmc" tokenize --tokenizer "$data/tok512.bin" --bos "Once upon a time" | tr ' ' ',')
continuation=$(./m-as-stored --weights "$data/stories260K.bin" --tokens "$prompt" -n 195 --temp 0 --ids 2>/dev/null)
for q in as-stored q8_0 q4_0; do
  ./m-$q --weights "$data/stories260K.bin" --tokens "$prompt,$continuation" -n 0 --logits "tf-$q.bin" >/dev/null 2>&1
done
python3 - <<'PY'
import struct, sys
def read(p):
    b = open(p, "rb").read()
    return struct.unpack(f"{len(b) // 4}f", b)
vocab = 512
ref = read("tf-as-stored.bin")
rows = len(ref) // vocab
status = 0
for name, bound in (("q8_0", 1e-3), ("q4_0", 5e-2)):
    got = read(f"tf-{name}.bin")
    if len(got) != len(ref):
        print(f"FAIL: {name}: {len(got) // vocab} rows of logits, expected {rows}")
        status = 1
        continue
    nmse = sum((a - b) ** 2 for a, b in zip(ref, got)) / sum(a * a for a in ref)
    top1 = sum(1 for r in range(rows)
               if max(range(vocab), key=lambda i: ref[r * vocab + i]) == max(range(vocab), key=lambda i: got[r * vocab + i]))
    ok = nmse < bound
    print(f"{'ok' if ok else 'FAIL'}: {name}: NMSE vs f32 logits {nmse:.3g} (bound {bound:g}), "
          f"top-1 agreement {top1}/{rows} positions")
    status |= 0 if ok else 1
sys.exit(status)
PY
