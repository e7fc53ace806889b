#!/usr/bin/env python3
"""llmc's --serve against llama.cpp's llama-server: the same random-weight Llama shapes and types as bench.py
(its weights, GGUF files and helpers), each engine serving with N slots, C concurrent streaming clients of
/v1/completions. Stdlib only.

For each shape and type, both engines are started in turn on the same weights and type (llmc: the binary
built with --kv-cache f16, `--serve --parallel N --threads T`; llama.cpp: `llama-server -m GGUF -np N
-c N*CONTEXT --threads T --cache-ram 0 --threads-http N+2`: every slot the shape's context, the KV cache f16 by default), and for each client count C (--clients) C clients
each send --requests streamed requests one after another. Every request is the same work on both engines:
a prompt of --prompt-tokens token ids (fixed; its second token is the request's number, so that no engine can
reuse another request's prompt: llama-server is asked for cache_prompt false, llmc's longest-prefix reuse
finds nothing past the BOS), temperature 0, max_tokens --max-tokens with ignore_eos (so every answer is that
long). Measured per engine and C: aggregate generated tok/s (all completion tokens / wall time from the first
request sent to the last answer done) and the median time to first token (request sent -> first streamed
token). Windows (--windows) repeat everything, the engines' order alternating; the table shows the median over
the windows of each engine's number and of the per-window ratios (llmc / llama.cpp; for time to first token
llama.cpp / llmc, so that > 1 is llmc ahead in both).

Writes bench/results-serve.md (or --out), every sample to the .json beside it, and with --readme FILE the table
between <!-- serve-bench:begin --> and <!-- serve-bench:end --> in FILE. --render RUN.json redraws from a run's
.json. Building llama-server: bench/engines/README.md."""
import argparse
import http.client
import json
import os
import socket
import statistics
import subprocess
import sys
import threading
import time
import types

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import bench  # noqa: E402  (the shapes, weights, GGUF files and README helpers)

MARK_BEGIN, MARK_END = "<!-- serve-bench:begin -->", "<!-- serve-bench:end -->"
ENGINES = ("llmc", "llama.cpp")


# ---------------------------------------------------------------------------------------------- pure parts


def prompt_ids(request_number, n, vocab):
    """The prompt of one request: BOS, the request's own token, then a fixed sequence (bench.tokens_for's)."""
    if n < 2:
        raise ValueError("a prompt needs at least 2 tokens (BOS and the request's own token)")
    fixed = [int(t) for t in bench.tokens_for((0, 0, 0, 0, 0, vocab), n - 2).split(",")] if n > 2 else []
    return [1, 3 + request_number % (vocab - 3)] + fixed


def request_body(engine, ids, max_tokens):
    body = {"prompt": ids, "max_tokens": max_tokens, "temperature": 0, "ignore_eos": True, "stream": True,
            "stream_options": {"include_usage": True}}
    if engine == "llama.cpp":
        body["cache_prompt"] = False
        # Never the byte tokens <0x00>..<0xFF> (ids 3-258 of the synthetic vocabulary): random weights pick them,
        # and llama-server 1fd6dfe9f ends a stream whose text holds an invalid UTF-8 byte with "Failed to parse
        # input" (llmc streams it as U+FFFD). A bias list costs nothing measurable per step.
        body["logit_bias"] = [[i, False] for i in range(3, 259)]
    return body


def sse_events(lines):
    """The JSON payloads of server-sent events from an iterable of text lines, up to "data: [DONE]"."""
    for line in lines:
        line = line.strip()
        if not line.startswith("data:"):
            continue
        data = line[5:].strip()
        if data == "[DONE]":
            return
        yield json.loads(data)


def event_text(event):
    """The text a completion chunk carries ("" for none)."""
    choices = event.get("choices") or []
    return "".join(c.get("text") or "" for c in choices)


def summarize(requests, wall_seconds):
    """Aggregate tok/s and median time to first token (ms) of one run of C clients: requests are
    {"tokens": completion tokens, "ttft_ms": ...}."""
    tokens = sum(r["tokens"] for r in requests)
    return {"tok_s": tokens / wall_seconds if wall_seconds > 0 else None,
            "ttft_ms": statistics.median(r["ttft_ms"] for r in requests) if requests else None,
            "tokens": tokens, "requests": len(requests), "wall_s": wall_seconds}


def ratio(numerator, denominator):
    return numerator / denominator if numerator and denominator else None


def window_ratios(window):
    """Per-window ratios of one case and C: tok/s llmc / llama.cpp, ttft llama.cpp / llmc (> 1: llmc ahead)."""
    l, r = window.get("llmc"), window.get("llama.cpp")
    if not l or not r:
        return {"tok_s": None, "ttft": None}
    return {"tok_s": ratio(l["tok_s"], r["tok_s"]), "ttft": ratio(r["ttft_ms"], l["ttft_ms"])}


def median_of(values):
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def case_rows(case):
    """One table row per client count: medians over the windows."""
    rows = []
    for c in case["clients"]:
        windows = [w[str(c)] for w in case["windows"] if str(c) in w]
        row = {"clients": c}
        for e in ENGINES:
            row[e] = {k: median_of([w[e][k] for w in windows if w.get(e)]) for k in ("tok_s", "ttft_ms")}
        rs = [window_ratios(w) for w in windows]
        row["ratio_tok_s"] = median_of([r["tok_s"] for r in rs])
        row["ratio_ttft"] = median_of([r["ttft"] for r in rs])
        rows.append(row)
    return rows


def fmt(v, digits=1):
    return "–" if v is None else f"{v:.{digits}f}"


def render_table(run):
    out = [f"Served (bench/serve_bench.py, {run['stamp']}; {run['cpu']}): {run['llama_name']} vs llmc, "
           f"--parallel / -np {run['parallel']}, {run['threads']} threads, prompts of {run['prompt_tokens']} tokens, "
           f"{run['max_tokens']} generated per request (ignore_eos, temperature 0), {run['requests']} streamed "
           f"requests per client, medians over {run['windows']} window(s).", "",
           "| shape | type | clients | llmc tok/s | llama.cpp tok/s | ratio | llmc first token ms | "
           "llama.cpp first token ms | ratio |",
           "|---|---|--:|--:|--:|--:|--:|--:|--:|"]
    for case in run["cases"]:
        for row in case_rows(case):
            out.append(f"| {case['shape']} | {case['type']} | {row['clients']} | {fmt(row['llmc']['tok_s'])} | "
                       f"{fmt(row['llama.cpp']['tok_s'])} | {fmt(row['ratio_tok_s'], 2)} | "
                       f"{fmt(row['llmc']['ttft_ms'], 0)} | {fmt(row['llama.cpp']['ttft_ms'], 0)} | "
                       f"{fmt(row['ratio_ttft'], 2)} |")
    out += ["", "tok/s: all completion tokens of the run / its wall time; first token: median over the run's "
            "requests, from sending the request to the first streamed token. Ratios: medians of the windows' "
            "ratios, llmc / llama.cpp for tok/s and llama.cpp / llmc for the first token (> 1: llmc ahead)."]
    if run.get("note"):
        out += ["", run["note"]]
    return "\n".join(out)


def replace_block(text, block, path):
    begin, end = text.find(MARK_BEGIN), text.find(MARK_END)
    if begin < 0 or end < begin:
        raise SystemExit(f"serve_bench: --readme {path} has no {MARK_BEGIN} ... {MARK_END} block to replace")
    return text[:begin + len(MARK_BEGIN)] + "\n" + block + "\n" + text[end:]


# ---------------------------------------------------------------------------------------------- engines


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Engine:
    """One server process: started, waited for (GET /health answers 200), stopped."""

    def __init__(self, name, command, port, log_path):
        self.name, self.command, self.port, self.log_path = name, command, port, log_path
        self.proc = None

    def __enter__(self):
        bench.log(f"  starting {self.name}: {' '.join(self.command)}")
        self.log = open(self.log_path, "w")
        self.proc = subprocess.Popen(self.command, stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.time() + 600
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.name} exited ({self.proc.returncode}); its log: {self.log_path}")
            try:
                c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=2)
                c.request("GET", "/health")
                if c.getresponse().status == 200:
                    return self
            except OSError:
                pass
            time.sleep(0.2)
        raise RuntimeError(f"{self.name} did not answer /health within 10 minutes; its log: {self.log_path}")

    def __exit__(self, *exc):
        self.proc.terminate()
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.log.close()


def one_request(engine, port, ids, max_tokens):
    """Sends one streamed completion; returns {"tokens", "ttft_ms", "text"}."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=600)
    body = json.dumps(request_body(engine, ids, max_tokens))
    start = time.perf_counter()
    conn.request("POST", "/v1/completions", body, {"Content-Type": "application/json"})
    resp = conn.getresponse()
    if resp.status != 200:
        raise RuntimeError(f"{engine}: HTTP {resp.status}: {resp.read()[:500]!r}")
    first, text, usage, finish = None, "", None, None
    for event in sse_events(line.decode("utf-8", "replace") for line in resp):
        piece = event_text(event)
        if piece and first is None:
            first = time.perf_counter()
        text += piece
        usage = event.get("usage") or usage
        for c in event.get("choices") or []:
            finish = c.get("finish_reason") or finish
    conn.close()
    tokens = usage["completion_tokens"] if usage else (max_tokens if finish == "length" else None)
    if tokens != max_tokens:
        raise RuntimeError(f"{engine}: {tokens} tokens generated, expected {max_tokens} (finish {finish})")
    return {"tokens": tokens, "ttft_ms": ((first or time.perf_counter()) - start) * 1e3, "text": text}


def run_clients(engine, port, clients, requests, prompt_tokens, max_tokens, vocab, first_number):
    """C clients, each sending `requests` requests in turn; returns (summary, [texts by request number])."""
    results, errors = {}, []

    def client(k):
        try:
            for i in range(requests):
                number = first_number + k * requests + i
                results[number] = one_request(engine, port, prompt_ids(number, prompt_tokens, vocab), max_tokens)
        except Exception as e:  # noqa: BLE001  (reported below, from the main thread)
            errors.append(e)

    threads = [threading.Thread(target=client, args=(k,)) for k in range(clients)]
    start = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - start
    if errors:
        raise errors[0]
    return summarize(list(results.values()), wall), {n: r["text"] for n, r in results.items()}


# ---------------------------------------------------------------------------------------------- the run


def llmc_binary(a, yaml_path, shape_name, typ):
    """llmc's binary for serving: f16 KV cache, as llama-server's default."""
    binary = os.path.join(a.work, f"{shape_name}-{typ}-serve")
    bench.log(f"building {binary}")
    bench.sh([a.llmc, "build", yaml_path, "-o", binary, "--dtype", bench.dtype_arg(typ), "--kv-cache", "f16"])
    return binary


def weights_file(a, shape_name, file_dtype):
    """bench.py's checkpoint of the shape; its tools are compiled only if the checkpoint is still to be made."""
    path = os.path.join(a.work, f"{shape_name}-{file_dtype}.safetensors")
    return path if os.path.exists(path) else bench.ensure_weights(a, bench.compile_tools(a), shape_name, file_dtype)


def prepare(a):
    quantize = types.SimpleNamespace(work=a.work, llama_cpp=a.llama_cpp_tools or a.llama_cpp)
    cases = []
    for shape_name in a.shapes.split(","):
        shape = bench.SHAPES[shape_name]
        yaml_path = os.path.join(a.work, f"{shape_name}.yaml")
        with open(yaml_path, "w") as f:
            f.write(bench.arch_yaml(shape_name, shape))
        f32 = weights_file(a, shape_name, "F32")
        vocab_gguf = bench.ensure_gguf(quantize, shape_name, "f32", f32)  # its vocabulary: llmc's tokenizer
        for typ in a.types.split(","):
            weights = weights_file(a, shape_name, bench.FILE_DTYPE[typ])
            cases.append({"shape": shape_name, "type": typ, "weights": weights, "vocab": shape[5],
                          "context": shape[6], "gguf": bench.ensure_gguf(quantize, shape_name, typ, f32),
                          "tokenizer": vocab_gguf, "binary": llmc_binary(a, yaml_path, shape_name, typ)})
    return cases


def engine_command(a, engine, case, port):
    if engine == "llmc":
        return [case["binary"], "--weights", case["weights"], "--tokenizer", case["tokenizer"], "--serve",
                "--port", str(port), "--parallel", str(a.parallel), "--threads", str(a.threads)]
    return [os.path.join(a.llama_cpp, "bin", "llama-server"), "-m", case["gguf"], "-np", str(a.parallel),
            "-c", str(a.parallel * case["context"]), "--threads", str(a.threads), "--threads-batch", str(a.threads),
            "--host", "127.0.0.1", "--port", str(port), "--no-webui", "--cache-ram", "0",
            # HTTP threads for every slot and the health checks: its default (one per core) queues streams and
            # drops some of them (a request cancelled mid-answer with 8 clients on 2 cores).
            "--threads-http", str(a.parallel + 2)]


def measure_engine(a, engine, case, window, numbers):
    port = free_port()
    log_path = os.path.join(a.work, f"serve-{engine}-{case['shape']}-{case['type']}.log")
    out, texts = {}, {}
    with Engine(engine, engine_command(a, engine, case, port), port, log_path):
        run_clients(engine, port, 1, 1, a.prompt_tokens, a.max_tokens, case["vocab"], 999)  # warm-up (unused number)
        for c in a.client_counts:
            s, t = run_clients(engine, port, c, a.requests, a.prompt_tokens, a.max_tokens, case["vocab"], numbers[c])
            out[str(c)] = s
            texts.update(t)
            bench.log(f"    window {window}, {engine}, {c} clients: {s['tok_s']:.1f} tok/s, first token "
                      f"{s['ttft_ms']:.0f} ms (median)")
    return out, texts


def measure(a):
    os.makedirs(a.work, exist_ok=True)
    cases = prepare(a)
    if a.wait_load:
        bench.wait_for_quiet(a.wait_load)
    run = {"stamp": bench.now(), "cpu": bench.cpu_name(), "llama_name": a.llama_cpp_name, "parallel": a.parallel,
           "threads": a.threads, "prompt_tokens": a.prompt_tokens, "max_tokens": a.max_tokens,
           "requests": a.requests, "windows": a.windows, "note": a.note, "cases": []}
    for case in cases:
        record = {"shape": case["shape"], "type": case["type"], "clients": a.client_counts, "windows": [],
                  "same_text": []}
        for window in range(a.windows):
            # the same request numbers (prompts) for both engines in a window; the order alternates
            numbers = {c: (window * 100 + i) * 1000 for i, c in enumerate(a.client_counts)}
            per, texts = {}, {}
            for engine in (ENGINES if window % 2 == 0 else ENGINES[::-1]):
                per[engine], texts[engine] = measure_engine(a, engine, case, window, numbers)
            record["windows"].append({str(c): {e: per[e][str(c)] for e in ENGINES} for c in a.client_counts})
            same = sum(texts["llmc"][n] == texts["llama.cpp"].get(n) for n in texts["llmc"])
            record["same_text"].append([same, len(texts["llmc"])])
            bench.log(f"    window {window}: {same} of {len(texts['llmc'])} answers identical between the engines")
        run["cases"].append(record)
    return run


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--llmc", default=os.environ.get("LLMC", os.path.join(bench.ROOT, "build-perf", "llmc")))
    ap.add_argument("--work", default=os.path.join(HERE, "work"), help="weights, GGUFs, binaries (bench.py's)")
    ap.add_argument("--shapes", default="stories110M", help="comma list of: " + ", ".join(bench.SHAPES))
    ap.add_argument("--types", default="q8_0", help="comma list of: " + ", ".join(bench.GGUF_TYPE))
    ap.add_argument("--llama-cpp", default="", help="llama.cpp build folder with bin/llama-server")
    ap.add_argument("--llama-cpp-tools", default="", help="llama.cpp build folder with bin/llama-quantize, if a "
                    "GGUF file is still to be made (default: --llama-cpp)")
    ap.add_argument("--llama-cpp-name", default="llama.cpp", help="its name in the table")
    ap.add_argument("--parallel", type=int, default=8, help="slots of both servers (--parallel, -np)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--clients", default="1,4,8", help="concurrent clients, comma list")
    ap.add_argument("--requests", type=int, default=2, help="requests per client in a run, one after another")
    ap.add_argument("--prompt-tokens", type=int, default=32)
    ap.add_argument("--max-tokens", type=int, default=64)
    ap.add_argument("--windows", type=int, default=3)
    ap.add_argument("--wait-load", type=float, default=0, help="before measuring, wait until the 5-minute load "
                    "average is under this")
    ap.add_argument("--out", default=os.path.join(HERE, "results-serve.md"))
    ap.add_argument("--readme", default="", help="also write the table into this file between the serve-bench "
                    "markers")
    ap.add_argument("--note", default="", help="extra line for the results file")
    ap.add_argument("--render", default="", help="no measuring: draw the table of a run's .json")
    a = ap.parse_args()
    if a.readme:
        with open(a.readme) as f:
            replace_block(f.read(), "", a.readme)  # before measuring, not after
    if a.render:
        with open(a.render) as f:
            run = json.load(f)
    else:
        for name in a.shapes.split(","):
            if name not in bench.SHAPES:
                ap.error(f"--shapes: unknown shape {name} (known: {', '.join(bench.SHAPES)})")
        for typ in a.types.split(","):
            if typ not in bench.GGUF_TYPE:
                ap.error(f"--types: unknown type {typ} (known: {', '.join(bench.GGUF_TYPE)})")
        a.client_counts = [int(c) for c in a.clients.split(",")]
        if not a.llama_cpp or not os.access(os.path.join(a.llama_cpp, "bin", "llama-server"), os.X_OK):
            ap.error("--llama-cpp: a llama.cpp build folder with bin/llama-server (bench/engines/README.md)")
        if a.prompt_tokens < 2 or a.max_tokens < 1 or a.parallel < 1 or min(a.client_counts) < 1:
            ap.error("--prompt-tokens >= 2, --max-tokens >= 1, --parallel >= 1 and clients >= 1")
        run = measure(a)
        with open(os.path.splitext(a.out)[0] + ".json", "w") as f:
            json.dump(run, f)
            f.write("\n")
    table = render_table(run)
    with open(a.out, "w") as f:
        f.write(table + "\n")
    print(table)
    if a.readme:
        with open(a.readme) as f:
            text = replace_block(f.read(), table, a.readme)
        with open(a.readme + ".tmp", "w") as f:
            f.write(text)
        os.replace(a.readme + ".tmp", a.readme)


if __name__ == "__main__":
    main()
