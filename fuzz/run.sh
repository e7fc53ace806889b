#!/usr/bin/env bash
# Builds the libFuzzer targets (clang-19, ASan + UBSan) and runs each for SECONDS, one after the other.
#   fuzz/run.sh SECONDS [TARGET...]      TARGET: spec safetensors llama2c gguf gguf_import tokenizer_load tokenizer_encode
#                                        jinja embedded
# New inputs go to $BUILD/corpus/<target> (the seeds in fuzz/corpus/<target> are only read); crashes go to
# $BUILD/artifacts/<target>/. Prints the executions of each target; exits non-zero on any finding.
# Env: LLMC_FUZZ_BUILD (build dir, default <repo>/build-fuzzers), LLMC_FUZZ_JOBS (build -j, default 2),
#      LLMC_FUZZ_MERGE=1 (merge new coverage-increasing inputs into fuzz/corpus afterwards).
set -uo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(dirname "$HERE")"
SECONDS_PER_TARGET="${1:?usage: fuzz/run.sh SECONDS [TARGET...]}"
shift
TARGETS=("$@")
[ ${#TARGETS[@]} -gt 0 ] || TARGETS=(spec safetensors llama2c gguf gguf_import tokenizer_load tokenizer_encode jinja embedded)
BUILD="${LLMC_FUZZ_BUILD:-$ROOT/build-fuzzers}"
CXX_BIN="${LLMC_FUZZ_CXX:-clang++-19}"

if [ ! -f "$BUILD/CMakeCache.txt" ]; then
  CXX="$CXX_BIN" cmake -S "$HERE" -B "$BUILD" -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null || exit 2
fi
cmake --build "$BUILD" -j"${LLMC_FUZZ_JOBS:-2}" >/dev/null || { echo "fuzz: build failed" >&2; exit 2; }

max_len() {
  case "$1" in
    spec) echo 8192 ;; safetensors) echo 4096 ;; llama2c) echo 4096 ;; gguf | gguf_import) echo 8192 ;;
    tokenizer_load) echo 8192 ;;
    tokenizer_encode) echo 512 ;; embedded) echo 8192 ;; *) echo 4096 ;;
  esac
}

export ASAN_OPTIONS="${ASAN_OPTIONS:-abort_on_error=1:detect_leaks=1:allocator_may_return_null=0:malloc_context_size=1}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"
status=0
printf '%-18s %12s %8s  %s\n' target executions exec/s result
for t in "${TARGETS[@]}"; do
  bin="$BUILD/fuzz_$t"
  [ -x "$bin" ] || { echo "fuzz: no target $t" >&2; status=2; continue; }
  work="$BUILD/corpus/$t" art="$BUILD/artifacts/$t" log="$BUILD/fuzz_$t.log"
  mkdir -p "$work" "$art"
  dict=()
  [ -f "$HERE/dict/$t.dict" ] && dict=(-dict="$HERE/dict/$t.dict")
  nice -n 10 "$bin" "$work" "$HERE/corpus/$t" "${dict[@]}" -max_total_time="$SECONDS_PER_TARGET" \
    -max_len="$(max_len "$t")" -timeout=30 -rss_limit_mb=4096 -malloc_limit_mb=2048 -print_final_stats=1 \
    -artifact_prefix="$art/" >"$log" 2>&1
  rc=$?
  execs=$(grep -oE 'stat::number_of_executed_units: +[0-9]+' "$log" | tail -1 | awk '{print $2}')
  rate=$(grep -oE 'stat::average_exec_per_sec: +[0-9]+' "$log" | tail -1 | awk '{print $2}')
  if [ $rc -eq 0 ]; then result=ok; else result="FINDING (exit $rc): $(ls -t "$art" | head -1) - see $log"; status=1; fi
  printf '%-18s %12s %8s  %s\n' "$t" "${execs:-?}" "${rate:-?}" "$result"
  [ $rc -eq 0 ] || grep -m3 -E 'ERROR|runtime error|invariant|uncaught|deadly' "$log" | sed 's/^/    /'
  if [ "${LLMC_FUZZ_MERGE:-0}" = 1 ] && [ $rc -eq 0 ]; then
    "$bin" -merge=1 "$HERE/corpus/$t" "$work" -max_len="$(max_len "$t")" >/dev/null 2>&1
  fi
done
exit $status
