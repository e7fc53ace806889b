#!/usr/bin/env bash
# usage: quantised_nmse.sh LLMC SOURCE_DIR WORK_DIR
# The real stories260K model built as stored (f32) and quantised (q8_0, q4_0), all fed the same 200 tokens
# (prompt + the f32 build's greedy continuation, teacher-forced): NMSE of the quantised logits vs the f32
# ones and top-1 agreement, printed and bounded (q8_0: NMSE < 1e-3; q4_0: NMSE < 5e-2). The same for an f32
# build with an f16 KV cache (--kv-cache f16: NMSE < 1e-6), and for the as-stored build reading the checkpoint
# converted to f16 and to bf16 safetensors (f16: NMSE < 1e-6, measured 1.1e-7; bf16: NMSE < 1e-4, measured
# 1.0e-5: a bf16-precise path reading f16 weights would fail the f16 bound).
# The f16 KV cache build is also run with 1, 2 and 3 threads: its logits must be bitwise identical.
# Also: the files `llmc quantize` writes (mapped without conversion) give bitwise the logits of quantising at
# load, whatever --dtype the binary that reads them was built with, and so does such a file whose data a
# foreign writer left unaligned (copied at load).
set -euo pipefail
llmc="$1" src="$2" work="$3"
data="$src/tests/data/stories260k"
mkdir -p "$work"
cd "$work"
for q in as-stored q8_0 q4_0; do "$llmc" build "$src/archs/stories260k.yaml" -o "m-$q" --dtype "$q" 2>/dev/null; done
"$llmc" build "$src/archs/stories260k.yaml" -o m-kv-f16 --kv-cache f16 2>/dev/null
prompt=$("$llmc" tokenize --tokenizer "$data/tok512.bin" --bos "Once upon a time" | tr ' ' ',')
continuation=$(./m-as-stored --weights "$data/stories260K.bin" --tokens "$prompt" -n 195 --temp 0 --ids 2>/dev/null)
for q in as-stored q8_0 q4_0 kv-f16; do
  ./m-$q --weights "$data/stories260K.bin" --tokens "$prompt,$continuation" -n 0 --logits "tf-$q.bin" >/dev/null 2>&1
done
for dtype in F16 BF16; do
  python3 "$src/tests/determinism/llama2c_to_safetensors.py" "$data/stories260K.bin" "stories260K-$dtype.safetensors" "$dtype"
  ./m-as-stored --weights "stories260K-$dtype.safetensors" --tokens "$prompt,$continuation" -n 0 \
    --logits "tf-$dtype.bin" >/dev/null 2>&1
done
for threads in 1 2 3; do
  ./m-kv-f16 --weights "$data/stories260K.bin" --tokens "$prompt" -n 60 --temp 0 --ignore-eos --threads "$threads" \
    --logits "kv-f16-t$threads.bin" >/dev/null 2>&1
done
[ -s kv-f16-t1.bin ] && cmp kv-f16-t1.bin kv-f16-t2.bin && cmp kv-f16-t1.bin kv-f16-t3.bin \
  || { echo "FAIL: stories260K with an f16 KV cache: logits differ between 1, 2 and 3 threads"; exit 1; }
echo "ok: stories260K with an f16 KV cache: logits bitwise identical with 1, 2 and 3 threads"
for q in as-stored q8_0 q4_0; do
  "$llmc" quantize "$src/archs/stories260k.yaml" --weights "$data/stories260K.bin" --dtype "$q" -o "pre-$q.safetensors"
  ./m-as-stored --weights "pre-$q.safetensors" --tokens "$prompt,$continuation" -n 0 --logits "pre-$q.bin" >/dev/null 2>&1
  cmp "tf-$q.bin" "pre-$q.bin" || { echo "FAIL: llmc quantize --dtype $q: logits differ from quantising at load"; exit 1; }
  echo "ok: llmc quantize --dtype $q: logits bitwise equal to quantising at load"
done
python3 - <<'PY'
import json, struct
d = open("pre-q4_0.safetensors", "rb").read()
n = struct.unpack("<Q", d[:8])[0]
h = json.dumps(json.loads(d[8:8 + n])).encode()
h += b" " * (1 + (-(8 + len(h)) % 64))  # the data one byte past a 64-byte boundary
open("unaligned-q4_0.safetensors", "wb").write(struct.pack("<Q", len(h)) + h + d[8 + n:])
PY
./m-q8_0 --weights unaligned-q4_0.safetensors --tokens "$prompt,$continuation" -n 0 --logits unaligned.bin >/dev/null 2>&1
cmp tf-q4_0.bin unaligned.bin || { echo "FAIL: unaligned llmc quantize file: logits differ"; exit 1; }
echo "ok: unaligned q4_0 file read by a q8_0 binary: logits bitwise equal"
python3 - <<'PY'
import struct, sys
def read(p):
    b = open(p, "rb").read()
    return struct.unpack(f"{len(b) // 4}f", b)
vocab = 512
ref = read("tf-as-stored.bin")
rows = len(ref) // vocab
status = 0
for name, bound in (("q8_0", 1e-3), ("q4_0", 5e-2), ("kv-f16", 1e-6), ("F16", 1e-6), ("BF16", 1e-4)):
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
