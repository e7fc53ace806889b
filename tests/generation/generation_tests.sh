#!/usr/bin/env bash
# generation_tests.sh TEST LLMC DATA_DIR WORK_DIR
set -uo pipefail
test=$1 llmc=$2 data=$3 work=$4
bin=$work/stories
small=$work/stories_ctx16
story_end=$work/stories_story_end
run() { "$bin" --weights "$data/stories260K.bin" --tokenizer "$data/tok512.bin" "$@"; }
fail() { echo "FAIL: $*"; exit 1; }

case $test in
build)
  mkdir -p "$work"
  "$llmc" build "$(dirname "$0")/../../archs/stories260k.yaml" -o "$bin" || fail "build"
  "$llmc" import "$data/stories260K.bin" --max-context 16 -o "$work/ctx16.yaml" || fail "import"
  grep -q "max_context: 16" "$work/ctx16.yaml" || fail "import --max-context"
  "$llmc" build "$work/ctx16.yaml" -o "$small" || fail "build ctx16"
  # The model source again, linked with a check of Model::decode() instead of the driver.
  "$llmc" compile "$(dirname "$0")/../../archs/stories260k.yaml" -o "$work/stories.cpp" || fail "compile"
  runtime=$(cd "$(dirname "$0")/../../runtime" && pwd)
  ${CXX:-c++} -std=c++20 -O2 -march=native -fopenmp -I"$runtime" "$work/stories.cpp" "$(dirname "$0")/decode_check.cpp" \
    -o "$work/decode_check" || fail "build decode_check"
  # stories260K does not emit its tokenizer's EOS (2; none in 400 greedy steps from BOS, nor in 200 from BOS + any
  # one token): llama2.c's TinyStories pretokenisation starts each story with BOS (1) and adds no EOS, and run.c
  # ends a story when the model emits BOS. A spec declaring that (eos: 1) gives the eos test an input known to
  # reach the end token.
  sed 's/^tokens: {bos: 1, eos: 2, add_bos: true}$/tokens: {bos: 1, eos: 1, add_bos: true}/' \
    "$(dirname "$0")/../../archs/stories260k.yaml" > "$work/story_end.yaml"
  grep -q "eos: 1," "$work/story_end.yaml" || fail "story_end.yaml: could not set eos: 1"
  "$llmc" build "$work/story_end.yaml" -o "$story_end" || fail "build story_end"
  ;;
decode)
  "$work/decode_check" "$data/stories260K.bin" || fail "decode_check"
  ;;
stop_string)
  full=$(run --prompt "Once upon a time" -n 60 --temp 0 2>/dev/null)
  cut=$(run --prompt "Once upon a time" -n 60 --temp 0 --stop "red ball" 2>/dev/null)
  [[ "$cut" == *"red ball" ]] || fail "output does not end at the stop string: $cut"
  [[ "$full" == "$cut"* ]] || fail "stopped text is not a prefix of the full text"
  [ ${#cut} -lt ${#full} ] || fail "stop string did not shorten the output"
  ;;
eos)
  # Greedy from "Once upon a time" ends its story after 342 tokens: token 342 is the end token (1 in the
  # story_end build). The run must stop there, with exactly those 342 ids; with --ignore-eos it goes on to 400.
  end_run() { "$story_end" --weights "$data/stories260K.bin" --tokenizer "$data/tok512.bin" \
    --prompt "Once upon a time" -n 400 --temp 0 --ids --threads 2 "$@" 2>/dev/null | tr ',' '\n'; }
  end_run --ignore-eos > "$work/ignored.ids" || fail "run with --ignore-eos"
  end_run > "$work/stopped.ids" || fail "run"
  [ "$(wc -l < "$work/ignored.ids")" = 400 ] || fail "--ignore-eos made $(wc -l < "$work/ignored.ids") tokens, expected 400"
  first_end=$(grep -n -x 1 "$work/ignored.ids" | head -1 | cut -d: -f1)
  [ "$first_end" = 342 ] || fail "the end token comes at step ${first_end:-never}, expected 342 (model or sampler changed?)"
  head -342 "$work/ignored.ids" | cmp -s - "$work/stopped.ids" \
    || fail "expected the run to stop after the end token at step 342, got $(wc -l < "$work/stopped.ids") tokens ending in $(tail -1 "$work/stopped.ids")"
  ;;
context_full)
  err=$("$small" --weights "$data/stories260K.bin" --tokens 1,403,407,261,378 -n 100 --temp 0 --ids 2>&1 >"$work/ctx.ids") \
    || fail "exit status"
  echo "$err" | grep -q "context of 16 tokens is full" || fail "no context-full message: $err"
  n=$(tr ',' '\n' < "$work/ctx.ids" | wc -l)
  [ "$n" = 12 ] || fail "expected 12 new tokens (16 positions - 5 prompt + 1), got $n"
  "$small" --weights "$data/stories260K.bin" --tokens 1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17 -n 1 2>"$work/long.err" \
    && fail "a prompt longer than the context was accepted"
  grep -q "more than the model's context of 16" "$work/long.err" || fail "unclear error: $(cat "$work/long.err")"
  ;;
seed)
  # --threads 2 explicitly: the default thread count is the machine's, which may be 1.
  a=$(run --prompt "Once" -n 40 --temp 1 --seed 5 --threads 2 2>/dev/null)
  b=$(run --prompt "Once" -n 40 --temp 1 --seed 5 --threads 2 2>/dev/null)
  c=$(run --prompt "Once" -n 40 --temp 1 --seed 6 --threads 2 2>/dev/null)
  t1=$(run --prompt "Once" -n 40 --temp 1 --seed 5 --threads 1 2>/dev/null)
  [ -n "$a" ] || fail "no text"
  [ "$a" = "$b" ] || fail "same seed, different text"
  [ "$a" != "$c" ] || fail "different seeds, same text"
  [ "$a" = "$t1" ] || fail "1 and 2 threads sample different text"
  ;;
chat)
  out=$(printf 'Hello\nTell me about a dog\n' | run --chat --chat-template llama2 -n 20 --temp 0 2>/dev/null) || fail "chat exit status"
  [ "$(echo "$out" | wc -l)" -ge 2 ] || fail "expected a reply per line: $out"
  err=$(printf 'Hi\n' | run --chat --chat-template nope -n 5 2>&1) && fail "unknown template accepted"
  [[ "$err" == *"is not one of"* ]] || fail "unclear error: $err"
  ;;
recurrent)
  # A recurrent model (RWKV-4, the tiny golden case: spec context 128) keeps a fixed-size state per sequence, so
  # the binary generates past its spec's context, in constant memory. A KV cache of this model's shape would
  # grow by 1 KB per position: 9 MB between the two runs, far above the 1 MB allowed.
  rwkv=$(dirname "$0")/../data/golden/rwkv
  mkdir -p "$work"
  "$llmc" import "$rwkv" -o "$work/rwkv.yaml" >/dev/null || fail "import rwkv"
  grep -q "max_context: 128" "$work/rwkv.yaml" || fail "expected the golden rwkv spec's context of 128"
  "$llmc" build "$work/rwkv.yaml" -o "$work/rwkv" >/dev/null || fail "build rwkv"
  peak_rss_kb() {  # peak RSS of a run generating $1 tokens; its ids go to $work/rwkv_$1.ids
    python3 -c 'import resource, subprocess, sys
with open(sys.argv[2], "w") as out:
    code = subprocess.run(sys.argv[3:], stdout=out, stderr=subprocess.DEVNULL).returncode
print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss if code == 0 else -1)' "$1" "$work/rwkv_$1.ids" \
      "$work/rwkv" --weights "$rwkv/model.safetensors" --tokens 17,203,45 -n "$1" --ignore-eos --ids --threads 2
  }
  short=$(peak_rss_kb 1000) long=$(peak_rss_kb 10000)
  [ "$short" -gt 0 ] && [ "$long" -gt 0 ] || fail "generation failed"
  n=$(tr ',' '\n' < "$work/rwkv_10000.ids" | grep -c .)
  [ "$n" = 10000 ] || fail "expected 10000 tokens past a spec context of 128, got $n"
  [ "$long" -le $((short + 1024)) ] || fail "peak RSS grew from $short KB (1000 tokens) to $long KB (10000 tokens)"
  echo "peak RSS: $short KB for 1000 tokens, $long KB for 10000"
  ;;
*) fail "unknown test $test" ;;
esac
echo "ok $test"
