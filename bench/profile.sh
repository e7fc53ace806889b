#!/usr/bin/env bash
# Where decode (or prefill) time goes: perf samples (cpu-clock, so it works in VMs without hardware counters)
# of the model built for TYPE, grouped by symbol. Run bench/run.sh first (it writes the random weights).
#   bench/profile.sh SHAPE TYPE [decode|prefill] [THREADS]     e.g. bench/profile.sh stories110M q4_0 decode 1
# The weights are first rewritten by `llmc quantize` for this type, so that loading (mapping, no conversion)
# does not show in the profile. Env: LLMC_BENCH_WORK (default bench/work), LLMC (default build-perf/llmc),
# PROMPT (prefill tokens, default 512).
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
WORK="${LLMC_BENCH_WORK:-$HERE/work}"
shape="${1:?usage: profile.sh SHAPE TYPE [decode|prefill] [THREADS]}" type="${2:?type}" phase="${3:-decode}"
threads="${4:-1}"
case "$type" in f16) file=F16 ;; bf16) file=BF16 ;; *) file=F32 ;; esac
weights="$WORK/$shape-$file.safetensors"
[ -e "$weights" ] || { echo "profile: run bench/run.sh first (it writes $weights)" >&2; exit 2; }
command -v perf >/dev/null || { echo "profile: perf is not installed (apt-get install -y linux-perf)" >&2; exit 2; }
if [ "$phase" = decode ]; then args=(--tokens 1 -n 200 --ignore-eos)
else args=(--tokens "$(python3 -c "print(','.join(str(100 + i) for i in range(${PROMPT:-512})))")" -n 0); fi
llmc="${LLMC:-$(dirname "$HERE")/build-perf/llmc}"
out="$(mktemp -d)"
trap 'rm -rf "$out"' EXIT
case "$type" in f16|bf16) dtype=as-stored ;; *) dtype="$type" ;; esac
bin="$out/model"
"$llmc" build "$WORK/$shape.yaml" -o "$bin" --dtype "$dtype" 2>/dev/null
"$llmc" quantize "$WORK/$shape.yaml" --weights "$weights" --dtype "$dtype" -o "$out/weights.safetensors" 2>/dev/null
weights="$out/weights.safetensors"
perf record -q -e cpu-clock -F 4000 -o "$out/perf.data" -- "$bin" --weights "$weights" --threads "$threads" --temp 0 \
  "${args[@]}" >/dev/null 2>"$out/stderr"
tail -1 "$out/stderr"
perf report -q -i "$out/perf.data" --no-children --sort dso,symbol --stdio 2>/dev/null | grep -v '^$' |
  sed -E 's/ +$//; s/\(float\*, .*//' | cut -c1-150 | head -25
