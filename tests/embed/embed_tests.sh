#!/usr/bin/env bash
# embed_tests.sh TEST LLMC REPO_DIR WORK_DIR
# One-file binaries (llmc build --embed) on stories260K, and tokenizer folders (--tokenizer DIR, or none when
# --weights is a Hugging Face folder) on the tiny golden Llama.
set -uo pipefail
test=$1 llmc=$2 repo=$3 work=$4
data=$repo/tests/data/stories260k
spec=$repo/archs/stories260k.yaml
fail() { echo "FAIL: $*"; exit 1; }
# expect_error CMD... : must exit 1 (an error, not a crash) and print a message containing $want
expect_error() {
  local out rc
  out=$("$@" 2>&1 >/dev/null); rc=$?
  [ $rc -eq 1 ] || fail "exit $rc (expected 1) from: $* -- $out"
  [[ "$out" == *"$want"* ]] || fail "message lacks '$want': $out"
}

case $test in
build)
  rm -rf "$work" && mkdir -p "$work"
  "$llmc" build "$spec" -o "$work/plain" || fail "plain build"
  "$llmc" build "$spec" -o "$work/onefile" --embed --weights "$data/stories260K.bin" --tokenizer "$data/tok512.bin" \
    || fail "embed build"
  "$llmc" build "$spec" -o "$work/onefile_q8" --dtype q8_0 --embed --weights "$data/stories260K.bin" \
    --tokenizer "$data/tok512.bin" || fail "embed build q8_0"
  "$llmc" quantize "$spec" --weights "$data/stories260K.bin" --dtype q8_0 -o "$work/q8.safetensors" || fail "quantize"
  ;;
runs_alone)
  # copied alone into an empty folder and run from there: no other file
  alone=$work/alone && rm -rf "$alone" && mkdir -p "$alone" && cp "$work/onefile" "$alone/model"
  # llama2.c's -n 64 counts the 5 prompt positions: 60 new tokens
  out=$(cd "$alone" && ./model --prompt "Once upon a time" -n 60 --temp 0 2>/dev/null) || fail "run"
  [ "$out" == "$(cat "$data/once_upon_a_time_t0_n64.txt")" ] || fail "text differs from llama2.c run.c: $out"
  # the weights are mapped from the executable itself, at the payload's 2 MB-aligned offset (not copied): a
  # chat session waits on its input with the model loaded
  rm -f "$work/fifo" && mkfifo "$work/fifo"
  "$alone/model" --chat --chat-template llama2 < "$work/fifo" >/dev/null 2>&1 &
  pid=$!
  exec 3>"$work/fifo"
  mapped=0
  for _ in $(seq 1 500); do
    while read -r _ _ offset _ _ file; do
      [ "$file" = "$alone/model" ] && (( 16#$offset >= 2097152 )) && mapped=1
    done < <(cat /proc/$pid/maps 2>/dev/null)
    [ $mapped = 1 ] && break
    sleep 0.02
  done
  maps=$(grep "$alone/model" /proc/$pid/maps 2>/dev/null)
  exec 3>&-
  wait $pid
  [ $mapped = 1 ] || fail "the weights are not mapped from the executable: $maps"
  ;;
same_as_mapped)
  # the one-file binary's logits are bitwise those of the same build reading the weights from files
  toks=1,403,407,261,378,286,261,376,298
  "$work/onefile" --tokens $toks -n 8 --temp 0 --logits "$work/a.f32" >/dev/null 2>&1 || fail "onefile run"
  "$work/plain" --weights "$data/stories260K.bin" --tokens $toks -n 8 --temp 0 --logits "$work/b.f32" >/dev/null 2>&1 \
    || fail "plain run"
  cmp -s "$work/a.f32" "$work/b.f32" || fail "f32 logits differ"
  "$work/onefile_q8" --tokens $toks -n 8 --temp 0 --logits "$work/c.f32" >/dev/null 2>&1 || fail "onefile q8 run"
  # (a binary maps a llmc quantize file's matrices whatever --dtype it was built with)
  "$work/plain" --weights "$work/q8.safetensors" --tokens $toks -n 8 --temp 0 --logits "$work/d.f32" >/dev/null 2>&1 \
    || fail "plain run on the q8_0 file"
  cmp -s "$work/c.f32" "$work/d.f32" || fail "q8_0 logits differ"
  cmp -s "$work/a.f32" "$work/c.f32" && fail "f32 and q8_0 logits are the same: the comparison cannot tell them apart"
  true
  ;;
damaged)
  size=$(stat -c %s "$work/onefile")
  damage() {  # damage NAME OFFSET_FROM_END [truncate|flip|append]
    cp "$work/onefile" "$work/$1" && python3 - "$work/$1" "$2" "$3" <<'PY'
import os, sys
path, back, how = sys.argv[1], int(sys.argv[2]), sys.argv[3]
size = os.path.getsize(path)
with open(path, "r+b") as f:
    if how == "truncate":
        f.truncate(size - back)
    elif how == "append":
        f.seek(0, 2); f.write(b"\0" * back)
    else:
        f.seek(size - back); b = f.read(1); f.seek(size - back); f.write(bytes([b[0] ^ 0x5A]))
PY
  }
  run_it() { "$work/$1" --prompt "Once upon a time" -n 4; }
  want="cut short"; damage cut1 1 truncate; expect_error run_it cut1
  damage cut_half $((size / 2)) truncate; expect_error run_it cut_half
  want="appended to"; damage appended 100 append; expect_error run_it appended
  want="trailer is damaged"; damage trailer 40 flip; expect_error run_it trailer        # the weights size
  want="checksum mismatch"; damage tokenizer 200 flip; expect_error run_it tokenizer    # in tok512.bin
  # the safetensors header: right after the 2 MB-aligned start of the weights
  off=$(python3 -c "import struct,sys; d=open(sys.argv[1],'rb').read()[-64:]; print(struct.unpack('<Q', d[8:16])[0])" "$work/onefile")
  cp "$work/onefile" "$work/header" && python3 -c "
import sys; f=open(sys.argv[1],'r+b'); f.seek(int(sys.argv[2])+20); b=f.read(1); f.seek(int(sys.argv[2])+20); f.write(bytes([b[0]^1]))" "$work/header" "$off"
  want="checksum mismatch"; expect_error run_it header
  # a damaged one still runs on weights and a tokenizer given to it
  "$work/cut1" --weights "$data/stories260K.bin" --tokenizer "$data/tok512.bin" --prompt "Once" -n 2 >/dev/null 2>&1 \
    || fail "a damaged binary given --weights and --tokenizer"
  ;;
override)
  # --weights and --tokenizer replace the embedded ones (documented choice)
  # the f32 one-file binary given the q8_0 file computes what the q8_0 one-file binary does
  toks=1,403,407,261,378
  "$work/onefile" --weights "$work/q8.safetensors" --tokens $toks -n 4 --temp 0 --logits "$work/e.f32" >/dev/null 2>&1 \
    || fail "onefile with --weights"
  "$work/onefile_q8" --tokens $toks -n 4 --temp 0 --logits "$work/f.f32" >/dev/null 2>&1 || fail "onefile q8"
  cmp -s "$work/e.f32" "$work/f.f32" || fail "--weights did not replace the embedded weights"
  want="this binary is stories260k"; expect_error "$work/onefile" --weights "$repo/tests/data/golden/llama/model.safetensors" --tokens 1 -n 1
  want="tokens but the model's vocabulary has 512"
  expect_error "$work/onefile" --tokenizer "$repo/tests/data/tokenizers/llama2c/tokenizer.bin" --prompt "Once" -n 1
  # a binary without a payload still asks for --weights
  want="--weights is required"; expect_error "$work/plain" --tokens 1 -n 1
  ;;
build_errors)
  want="--embed needs --weights"; expect_error "$llmc" build "$spec" -o "$work/e1" --embed
  want="only for --embed"; expect_error "$llmc" build "$spec" -o "$work/e2" --weights "$data/stories260K.bin"
  want="tokens but the model's vocabulary has 512"
  expect_error "$llmc" build "$spec" -o "$work/e3" --embed --weights "$data/stories260K.bin" \
    --tokenizer "$repo/tests/data/tokenizers/llama2c/tokenizer.model"
  want="has neither tokenizer.json nor tokenizer.model"
  expect_error "$llmc" build "$spec" -o "$work/e4" --embed --weights "$data/stories260K.bin" --tokenizer "$work"
  want="tensor"; expect_error "$llmc" build "$spec" -o "$work/e5" --embed --weights "$repo/tests/data/golden/llama/model.safetensors"
  for e in e1 e2 e3 e4 e5; do [ ! -e "$work/$e" ] || fail "$e was written"; done
  ls "$work" | grep -q "tmp" && fail "temporary files left: $(ls "$work" | grep tmp)"
  true
  ;;
tokenizer_folder)
  # an HF folder: config.json, model.safetensors and a small SentencePiece-style tokenizer.json
  hf=$work/hf && rm -rf "$hf" && mkdir -p "$hf"
  cp "$repo/tests/data/golden/llama/config.json" "$repo/tests/data/golden/llama/model.safetensors" "$hf/"
  python3 - "$hf/tokenizer.json" <<'PY'
import json, sys
pieces = ["<unk>", "<s>", "</s>", "\u2581"] + list("abcdefghijklmnopqrstuvwxyz") + ["\u2581a", "\u2581ab", "ab"]
vocab = {p: i for i, p in enumerate(pieces)}
special = lambda i: {"id": i, "content": pieces[i], "special": True, "normalized": False}
json.dump({"added_tokens": [special(0), special(1), special(2)],
           "normalizer": {"type": "Sequence", "normalizers": [{"type": "Prepend", "prepend": "\u2581"},
                          {"type": "Replace", "pattern": {"String": " "}, "content": "\u2581"}]},
           "pre_tokenizer": None,
           "post_processor": {"type": "TemplateProcessing", "single": [{"SpecialToken": {"id": "<s>", "type_id": 0}},
                              {"Sequence": {"id": "A", "type_id": 0}}]},
           "decoder": {"type": "Sequence", "decoders": [{"type": "Replace", "pattern": {"String": "\u2581"}, "content": " "},
                       {"type": "ByteFallback"}, {"type": "Fuse"}, {"type": "Strip", "content": " ", "start": 1, "stop": 0}]},
           "model": {"type": "BPE", "unk_token": "<unk>", "byte_fallback": True, "fuse_unk": True, "vocab": vocab,
                     "merges": ["\u2581 a", "\u2581a b", "a b"]}}, open(sys.argv[1], "w"))
PY
  "$llmc" import "$hf" -o "$work/llama.yaml" >/dev/null 2>&1 || fail "import"
  "$llmc" build "$work/llama.yaml" -o "$work/llama" >/dev/null 2>&1 || fail "build llama"
  [ "$("$llmc" tokenize --tokenizer "$hf" "ab ab")" = "1 31 31" ] || fail "llmc tokenize of a folder"
  a=$("$work/llama" --weights "$hf" --prompt "ab ab" -n 4 --temp 0 --ids 2>/dev/null) || fail "--weights folder, no --tokenizer"
  b=$("$work/llama" --weights "$hf/model.safetensors" --tokenizer "$hf" --prompt "ab ab" -n 4 --temp 0 --ids 2>/dev/null) \
    || fail "--tokenizer folder"
  c=$("$work/llama" --weights "$hf/model.safetensors" --tokens 1,31,31 -n 4 --temp 0 --ids 2>/dev/null) || fail "--tokens"
  [ "$a" == "$c" ] && [ "$b" == "$c" ] || fail "a folder's tokenizer gave other ids: $a / $b / $c"
  want="has neither tokenizer.json nor tokenizer.model"
  empty=$work/no_tokenizer && rm -rf "$empty" && mkdir -p "$empty"  # a folder of its own (runs_alone's may not exist yet)
  expect_error "$work/llama" --weights "$hf/model.safetensors" --tokenizer "$empty" --prompt "ab" -n 1
  # and embedded: the folder's tokenizer comes along without --tokenizer
  "$llmc" build "$work/llama.yaml" -o "$work/llama_one" --embed --weights "$hf" >/dev/null 2>&1 || fail "embed from a folder"
  d=$("$work/llama_one" --prompt "ab ab" -n 4 --temp 0 --ids 2>/dev/null) || fail "embedded folder tokenizer"
  [ "$d" == "$c" ] || fail "embedded: $d, expected $c"
  ;;
*) fail "unknown test $test" ;;
esac
echo "ok: $test"
