#!/usr/bin/env bash
# serve_tests.sh TEST LLMC DATA_DIR WORK_DIR: a compiled stories260K (with a chat template in its spec)
# serving the OpenAI API, tested with curl (TEST=curl) and the official openai npm package (TEST=openai).
set -uo pipefail
test=$1 llmc=$2 data=$3 work=$4
here=$(cd "$(dirname "$0")" && pwd)
bin=$work/stories_chat
fail() { echo "FAIL: $*"; exit 1; }

# Starts the server on a free port; sets PORT and PID. Extra arguments go to the binary.
start() {
  local log=$work/server-$$-$RANDOM.err
  "$bin" --weights "$data/stories260K.bin" --tokenizer "$data/tok512.bin" --serve --port 0 --threads 1 "$@" 2>"$log" &
  PID=$!
  for _ in $(seq 100); do
    PORT=$(grep -o '127.0.0.1:[0-9]*' "$log" | cut -d: -f2)
    [ -n "$PORT" ] && curl -sf "localhost:$PORT/health" >/dev/null && return 0
    kill -0 $PID 2>/dev/null || fail "server exited: $(cat "$log")"
    sleep 0.1
  done
  fail "server did not start: $(cat "$log")"
}
PID=""
stop() { [ -n "$PID" ] || return 0; kill $PID 2>/dev/null; wait $PID 2>/dev/null; }
trap stop EXIT
# post PATH BODY: prints the body, then the status on the last line
post() { curl -s -w '\n%{http_code}' "localhost:$PORT$1" -H 'Content-Type: application/json' -d "$2"; }
status() { tail -1 <<<"$1"; }
body() { sed '$d' <<<"$1"; }
json() { /usr/bin/python3 -c "import json,sys; d=json.load(sys.stdin); print($1)"; }
# The text of an SSE stream of completion (or chat) chunks, checking that it ends with [DONE].
sse_text() {
  /usr/bin/python3 -c '
import json, sys
events = [l[6:] for l in sys.stdin.read().split("\n") if l.startswith("data: ")]
assert events and events[-1] == "[DONE]", "no [DONE] at the end"
text = ""
for e in events[:-1]:
    c = json.loads(e)["choices"][0]
    text += c.get("text", "") or (c.get("delta") or {}).get("content", "") or ""
print(text, end="")'
}
expect_error() {  # expect_error WHAT STATUS RESPONSE: an OpenAI error body with a message
  [ "$(status "$3")" = "$2" ] || fail "$1: status $(status "$3"), expected $2: $3"
  msg=$(body "$3" | json 'd["error"]["message"]') || fail "$1: not an OpenAI error body: $3"
  [ -n "$msg" ] || fail "$1: empty error message"
}

case $test in
build)
  mkdir -p "$work"
  cp "$here/../../archs/stories260k.yaml" "$work/stories_chat.yaml"
  cat >>"$work/stories_chat.yaml" <<'YAML'
chat:
  template: "{% for m in messages %}{% if m.role == 'system' %}{{ m.content }}\n{% elif m.role == 'user' %}User: {{ m.content }}\n{% elif m.role == 'tool' %}{{ raise_exception('no tools here') }}{% else %}Story: {{ m.content }}\n{% endif %}{% endfor %}{% if add_generation_prompt %}Story:{% endif %}"
YAML
  "$llmc" build "$work/stories_chat.yaml" -o "$bin" || fail "build"
  # the same model with a long context, for generations that outlast a test's patience (disconnect)
  sed 's/max_context: 512/max_context: 16384/' "$here/../../archs/stories260k.yaml" >"$work/stories_long.yaml"
  "$llmc" build "$work/stories_long.yaml" -o "$work/stories_long" || fail "build (long context)"
  ;;
curl)
  start --parallel 2
  r=$(curl -s "localhost:$PORT/health"); [ "$(json 'd["status"]' <<<"$r")" = ok ] || fail "health: $r"
  r=$(curl -s "localhost:$PORT/v1/models"); [ "$(json 'd["data"][0]["id"]' <<<"$r")" = stories260k ] || fail "models: $r"

  # completions: the text the command line generates, streamed and not
  cli=$("$bin" --weights "$data/stories260K.bin" --tokenizer "$data/tok512.bin" --prompt "Once upon a time" -n 30 --temp 0 2>/dev/null)
  r=$(post /v1/completions '{"prompt": "Once upon a time", "max_tokens": 30, "temperature": 0}')
  [ "$(status "$r")" = 200 ] || fail "completion: $r"
  text=$(body "$r" | json 'd["choices"][0]["text"]')
  completion=$text
  [ "Once upon a time$text" = "$cli" ] || fail "completion '$text' is not the CLI's continuation: '$cli'"
  [ "$(body "$r" | json 'd["usage"]["completion_tokens"], d["usage"]["prompt_tokens"]')" = "30 5" ] || fail "usage: $r"
  s=$(curl -sN "localhost:$PORT/v1/completions" -d '{"prompt": "Once upon a time", "max_tokens": 30, "temperature": 0, "stream": true}' | sse_text) \
    || fail "completion stream"
  [ "$s" = "$text" ] || fail "streamed '$s' != '$text'"

  # chat, streamed and not
  msgs='[{"role": "user", "content": "Tell me a story about a <|im_start|> dog"}]'
  r=$(post /v1/chat/completions "{\"messages\": $msgs, \"max_tokens\": 25, \"temperature\": 0}")
  [ "$(status "$r")" = 200 ] || fail "chat: $r"
  text=$(body "$r" | json 'd["choices"][0]["message"]["content"]')
  [ "$(body "$r" | json 'd["object"], d["choices"][0]["message"]["role"]')" = "chat.completion assistant" ] || fail "chat: $r"
  s=$(curl -sN "localhost:$PORT/v1/chat/completions" -d "{\"messages\": $msgs, \"max_tokens\": 25, \"temperature\": 0, \"stream\": true}" | sse_text) \
    || fail "chat stream"
  [ "$s" = "$text" ] || fail "streamed chat '$s' != '$text'"

  # errors: the OpenAI error body, and the server keeps serving
  expect_error "bad JSON" 400 "$(post /v1/completions '{"prompt": ')"
  expect_error "not an object" 400 "$(post /v1/completions '[1, 2]')"
  expect_error "unknown role" 400 "$(post /v1/chat/completions '{"messages": [{"role": "wizard", "content": "hi"}]}')"
  expect_error "no messages" 400 "$(post /v1/chat/completions '{"messages": []}')"
  expect_error "template refuses" 400 "$(post /v1/chat/completions '{"messages": [{"role": "tool", "content": "x"}]}')"
  expect_error "over the context" 400 "$(post /v1/completions '{"prompt": "Once", "max_tokens": 600}')"
  r=$(post /v1/completions '{"prompt": "Once", "max_tokens": 600}')
  [[ "$(body "$r")" == *"maximum context length is 512 tokens"* ]] || fail "context message: $r"
  expect_error "bad temperature" 400 "$(post /v1/completions '{"prompt": "Once", "temperature": "hot"}')"
  expect_error "bad stop" 400 "$(post /v1/completions '{"prompt": "Once", "stop": 5}')"
  expect_error "token id" 400 "$(post /v1/completions '{"prompt": [1, 99999]}')"
  expect_error "no route" 404 "$(curl -s -w '\n%{http_code}' "localhost:$PORT/v1/nothing")"
  head -c 9000000 /dev/zero | tr '\0' a >"$work/big.json"
  expect_error "body limit" 413 "$(curl -s -w '\n%{http_code}' "localhost:$PORT/v1/completions" --data-binary @"$work/big.json")"
  # a client that goes away mid-stream
  curl -sN --max-time 0.05 "localhost:$PORT/v1/completions" -d '{"prompt": "Once", "max_tokens": 400, "stream": true}' >/dev/null
  r=$(post /v1/completions '{"prompt": "Once upon a time", "max_tokens": 30, "temperature": 0}')
  [ "$(status "$r")" = 200 ] && [ "$(body "$r" | json 'd["choices"][0]["text"]')" = "$completion" ] || fail "after errors: $r"
  kill -0 $PID || fail "the server died"
  stop

  # an API key, and a server bound to 127.0.0.1 only
  start --api-key s3cret
  expect_error "no key" 401 "$(post /v1/completions '{"prompt": "Once", "max_tokens": 2}')"
  r=$(curl -s -w '\n%{http_code}' "localhost:$PORT/v1/completions" -H 'Authorization: Bearer s3cret' -d '{"prompt": "Once", "max_tokens": 2}')
  [ "$(status "$r")" = 200 ] || fail "with the key: $r"
  [ "$(curl -s -o /dev/null -w '%{http_code}' "localhost:$PORT/health")" = 200 ] || fail "health needs no key"
  ss -ltn 2>/dev/null | grep -q ":$PORT " && { ss -ltn | grep ":$PORT " | grep -q "127.0.0.1:$PORT" || fail "not bound to 127.0.0.1"; }
  ;;
openai)
  node=$work/node
  mkdir -p "$node"
  cp "$here/package.json" "$here/package-lock.json" "$here/openai_client.mjs" "$node/"
  (cd "$node" && npm ci --no-audit --no-fund --loglevel=error >/dev/null) || fail "npm ci (the openai package)"
  start --parallel 4
  node "$node/openai_client.mjs" "http://127.0.0.1:$PORT/v1" "$PID" || fail "openai client tests"
  ;;
deps)
  # The binary needs only the C/C++ toolchain's libraries: the HTTP layer (libcpp-httplib, and through it
  # OpenSSL, zlib, brotli) is a plugin it carries and loads on --serve only.
  needed=$(readelf -d "$bin" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p')
  [ -n "$needed" ] || fail "readelf -d $bin lists no NEEDED entries"
  for lib in $needed; do
    case $lib in
    libc.so.6 | libstdc++.so.6 | libgomp.so.1 | libm.so.6 | libgcc_s.so.1 | ld-linux*) ;;
    *) fail "the binary needs $lib (NEEDED: $(echo $needed)); it may need only libc, libstdc++, libgomp, libm, libgcc_s" ;;
    esac
  done
  # Without libcpp-httplib: a copy whose carried plugin names a library that does not exist (the same length,
  # patched in the plugin's bytes: the first ELF image after the binary's own header).
  broken=$work/stories_nohttplib
  /usr/bin/python3 - "$bin" "$broken" <<'PY' || fail "patching the plugin's soname"
import sys
data = bytearray(open(sys.argv[1], "rb").read())
plugin = data.index(b"\x7fELF\x02\x01\x01", 64)
at = data.index(b"libcpp-httplib.so.0.11\0", plugin)
data[at:at + 22] = b"libcpp-httplib.so.9.99"
open(sys.argv[2], "wb").write(data)
PY
  chmod +x "$broken"
  out=$(timeout 20 "$broken" --weights "$data/stories260K.bin" --tokenizer "$data/tok512.bin" --serve --port 0 2>&1)
  rc=$?
  [ $rc -ne 0 ] && [ $rc -ne 124 ] && [ $rc -lt 128 ] || fail "--serve without the library: exit status $rc: $out"
  for want in "cannot load the HTTP layer" "libcpp-httplib.so.9.99: cannot open shared object file" \
    "libcpp-httplib.so.0.11" "Debian package libcpp-httplib0.11"; do
    [[ "$out" == *"$want"* ]] || fail "--serve without the library: no '$want' in: $out"
  done
  # and without --serve nothing is loaded: the same binary generates text
  cli=$("$bin" --weights "$data/stories260K.bin" --tokenizer "$data/tok512.bin" --prompt "Once upon a time" -n 8 --temp 0 2>/dev/null)
  out=$("$broken" --weights "$data/stories260K.bin" --tokenizer "$data/tok512.bin" --prompt "Once upon a time" -n 8 --temp 0 \
    2>"$work/nohttplib.err") || fail "the binary without the library cannot generate: $(cat "$work/nohttplib.err")"
  [ "$out" = "$cli" ] || fail "generated '$out', expected '$cli'"
  ;;
disconnect)
  # A streaming client that goes away mid-answer frees its slot: with one slot, and a generation that would
  # run for many seconds (16k tokens, eos ignored), the next request is answered at once.
  bin=$work/stories_long
  start --parallel 1
  /usr/bin/python3 - "$PORT" <<'PY' || fail "the streaming client"
import socket, sys
body = b'{"prompt": "Once", "max_tokens": 16000, "temperature": 0, "ignore_eos": true, "stream": true}'
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=10)
s.sendall(b"POST /v1/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
          b"Content-Length: %d\r\n\r\n%s" % (len(body), body))
got = b""
while got.count(b"data: ") < 3:  # a few tokens into the answer
    chunk = s.recv(4096)
    assert chunk, "the server closed the stream"
    got += chunk
s.close()
PY
  health=""
  for _ in $(seq 50); do
    health=$(curl -s "localhost:$PORT/health")
    [ "$(json 'd["slots_busy"], d["cancelled"]' <<<"$health")" = "0 1" ] && break
    sleep 0.1
  done
  [ "$(json 'd["slots_busy"], d["cancelled"]' <<<"$health")" = "0 1" ] || fail "the slot is not free 5 s after the client left: $health"
  r=$(curl -s --max-time 5 -w '\n%{http_code}' "localhost:$PORT/v1/completions" -d '{"prompt": "Once upon a time", "max_tokens": 20, "temperature": 0}')
  [ "$(status "$r")" = 200 ] || fail "the next request was not answered within 5 s: $r"
  [ "$(body "$r" | json 'd["usage"]["completion_tokens"]')" = 20 ] || fail "next request: $r"
  ;;
*) fail "unknown test $test" ;;
esac
echo "ok"
