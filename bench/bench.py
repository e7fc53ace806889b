#!/usr/bin/env python3
"""llmc speed bench: random-weight Llama models (stories110M shape, optionally TinyLlama-1.1B shape),
prefill (64-token prompt) and decode tok/s with 1 and 2 threads, peak RSS, start-up time, and the
machine's measured read bandwidth with the bandwidth limit (bandwidth / weight bytes per token).
Prints a markdown table and writes it to bench/results.md (or --out). Stdlib only.
By default decode follows the prompt (in the same run) over an fp32 KV cache, llmc's default. To run what
llama.cpp's `llama-bench -p 64 -n 64` runs, use --kv-cache f16 --decode-prompt 1: its default f16 cache,
and decode from an empty context (a 1-token prompt), each rep then one run for prefill and one for decode."""
import argparse
import datetime
import json
import os
import re
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)

SHAPES = {
    # name: dim, layers, heads, kv_heads, ffn, vocab, context
    "stories110M": (768, 12, 12, 12, 2048, 32000, 1024),
    "tinyllama1.1B": (2048, 22, 32, 4, 5632, 32000, 2048),
}
# Fallback when no --engines file is given: the engine numbers quoted in issue 6 (measured on another
# 2-core machine without AVX-512). Ratios against them are indicative only; pass --engines with numbers
# measured side by side on the bench machine (format: bench/engines/README.md).
ISSUE_ENGINES = {
    "stories110M": {
        "f32": [{"engine": "llama.cpp (issue 6)", "decode1": 51, "decode2": 82, "prefill2": 517},
                {"engine": "llama2.c run.c (issue 6)", "decode1": 60, "decode2": 108}],
        "f16": [{"engine": "llama.cpp (issue 6)", "decode1": 105, "decode2": 135, "prefill2": 736}],
        "bf16": [{"engine": "llama.cpp (issue 6)", "decode1": 93, "decode2": 129, "prefill2": 586}],
        "q8_0": [{"engine": "llama.cpp (issue 6)", "decode1": 132, "decode2": 166, "prefill2": 610},
                 {"engine": "llama2.c runq.c (issue 6)", "decode1": 72, "decode2": 134}],
        "q4_0": [{"engine": "llama.cpp (issue 6)", "decode1": 192, "decode2": 293, "prefill2": 693}],
    },
}
# Weight bytes per value as stored for each type (q8_0: 32 int8 + f16 scale per block; q4_0: 16 bytes + scale).
BYTES = {"f32": 4.0, "f16": 2.0, "bf16": 2.0, "q8_0": 34 / 32, "q4_0": 18 / 32}
FILE_DTYPE = {"f32": "F32", "f16": "F16", "bf16": "BF16", "q8_0": "F32", "q4_0": "F32"}


def sh(cmd, **kw):
    return subprocess.run(cmd, check=True, text=True, capture_output=True, **kw)


def log(msg):
    print(msg, file=sys.stderr, flush=True)


def arch_yaml(name, shape):
    dim, layers, heads, kv, ffn, vocab, ctx = shape
    return f"""# Random-weight Llama of the {name} shape, written by bench/bench.py.
llmc: 1
name: bench_{name.replace('.', '_')}
family: llama
model:
  vocab_size: {vocab}
  hidden_size: {dim}
  num_layers: {layers}
  max_context: {ctx}
  tied_embeddings: false
norm: {{kind: rmsnorm, weight: plain, eps: 1.0e-5}}
attention:
  heads: {heads}
  kv_heads: {kv}
  head_dim: {dim // heads}
  qkv: separate
  bias: {{q: false, k: false, v: false, o: false}}
positions:
  kind: rope
  theta: 10000.0
  pairing: half
  rotary_dim: {dim // heads}
mlp:
  kind: gated
  activation: silu
  intermediate_size: {ffn}
  bias: false
tokens: {{bos: 1, eos: 2, add_bos: true}}
weights:
  embed: model.embed_tokens.weight
  final_norm: model.norm.weight
  lm_head: lm_head.weight
  layer:
    attn_norm: model.layers.{{i}}.input_layernorm.weight
    q: model.layers.{{i}}.self_attn.q_proj.weight
    k: model.layers.{{i}}.self_attn.k_proj.weight
    v: model.layers.{{i}}.self_attn.v_proj.weight
    o: model.layers.{{i}}.self_attn.o_proj.weight
    ffn_norm: model.layers.{{i}}.post_attention_layernorm.weight
    gate: model.layers.{{i}}.mlp.gate_proj.weight
    up: model.layers.{{i}}.mlp.up_proj.weight
    down: model.layers.{{i}}.mlp.down_proj.weight
"""


def weight_bytes_per_token(shape, dtype):
    """Bytes of weights one decode step reads: every matrix once, one embedding row, the norms."""
    dim, layers, heads, kv, ffn, vocab, _ = shape
    kv_dim = dim // heads * kv
    matrices = layers * (2 * dim * dim + 2 * kv_dim * dim + 3 * dim * ffn) + vocab * dim
    return matrices * BYTES[dtype] + dim * 4 + (2 * layers + 1) * dim * 4


def params(shape):
    dim, layers, heads, kv, ffn, vocab, _ = shape
    kv_dim = dim // heads * kv
    return layers * (2 * dim * dim + 2 * kv_dim * dim + 3 * dim * ffn + 2 * dim) + 2 * vocab * dim + dim


def kv_cache_bytes(shape, kv_cache="f32"):
    dim, layers, heads, kv, ffn, vocab, ctx = shape
    return 2 * layers * ctx * (dim // heads * kv) * (2 if kv_cache == "f16" else 4)


def best_engine(engines, key):
    """The best value of `key` over the engines that report it, and that engine's name."""
    have = [e for e in engines if e.get(key)]
    if not have:
        return None, None
    e = max(have, key=lambda e: e[key])
    return e[key], e["engine"]


def tokens_for(shape, n):
    return ",".join(str(1 + (i * 7919) % (shape[5] - 1)) for i in range(n))


def run_once(binary, weights, tokens, new, threads):
    cmd = ["/usr/bin/time", "-f", "RSS_KB %M", binary, "--weights", weights, "--tokens", tokens, "-n", str(new),
           "--temp", "0", "--threads", str(threads), "--ignore-eos", "--ids"]
    r = subprocess.run(cmd, text=True, capture_output=True)
    if r.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed:\n{r.stderr}")
    m = re.search(r"load ([\d.]+) ms \| prompt (\d+) tokens, ([\d.]+) tok/s \| generated (\d+) tokens, ([\d.]+) tok/s"
                  r" \| first token after ([\d.]+) ms", r.stderr)
    rss = re.search(r"RSS_KB (\d+)", r.stderr)
    if not m or not rss:
        raise RuntimeError(f"cannot parse timing from:\n{r.stderr}")
    return {"load_ms": float(m.group(1)), "prefill": float(m.group(3)), "decode": float(m.group(5)),
            "first_ms": float(m.group(6)), "rss_mb": int(rss.group(1)) / 1024, "ids": r.stdout.strip()}


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--llmc", default=os.environ.get("LLMC", os.path.join(ROOT, "build-perf", "llmc")))
    ap.add_argument("--work", default=os.path.join(HERE, "work"), help="weights, binaries (not committed)")
    ap.add_argument("--types", default="f32,f16,bf16,q8_0,q4_0")
    ap.add_argument("--shapes", default="stories110M", help="comma list of: " + ", ".join(SHAPES))
    ap.add_argument("--threads", default="1,2")
    ap.add_argument("--reps", type=int, default=3, help="runs per setting; the best is reported")
    ap.add_argument("--prompt", type=int, default=64)
    ap.add_argument("--new", type=int, default=65, help="tokens generated (decode rate over n-1)")
    ap.add_argument("--kv-cache", choices=["f32", "f16"], default="f32", help="KV cache type the binaries are built "
                    "with (llmc's default f32; llama.cpp's default is f16)")
    ap.add_argument("--decode-prompt", type=int, default=0, help="measure decode in a run of its own after this many "
                    "prompt tokens (1: from an empty context, as llama-bench's tg); 0: after the prefill prompt")
    ap.add_argument("--out", default=os.path.join(HERE, "results.md"))
    ap.add_argument("--note", default="", help="extra line for the results file")
    ap.add_argument("--engines", default="", help="JSON file of engine numbers measured on this machine "
                    "(bench/engines/README.md); default: the numbers quoted in issue 6")
    ap.add_argument("--render", default="", help="no measuring: print the table of a run's .json (written next to "
                    "--out by every run) against --engines, e.g. with engine numbers measured after that run")
    a = ap.parse_args()
    if a.render:
        with open(a.render) as f:
            run = json.load(f)
        rows = [(r[0], r[1], {int(t): v for t, v in r[2].items()}, r[3]) for r in run["rows"]]
        return render(a, rows, {int(t): v for t, v in run["bw"].items()}, [int(t) for t in run["threads"]],
                      run["header"])
    os.makedirs(a.work, exist_ok=True)
    cxx = os.environ.get("CXX", "c++")

    tools = {}
    for tool, flags in (("gen_weights", ["-O2", "-march=native"]), ("bandwidth", ["-O2", "-march=native", "-fopenmp"])):
        exe = os.path.join(a.work, tool)
        src = os.path.join(HERE, tool + ".cpp")
        if not os.path.exists(exe) or os.path.getmtime(exe) < os.path.getmtime(src):
            log(f"compiling {tool}")
            sh([cxx, "-std=c++17", *flags, src, "-o", exe])
        tools[tool] = exe

    threads = [int(t) for t in a.threads.split(",")]
    log("measuring read bandwidth")
    bw = {}
    for _ in range(2):
        out = sh([tools["bandwidth"], "1024", str(max(threads))]).stdout
        for line in out.split("\n"):
            if line.strip():
                t, g = line.split()
                bw[int(t)] = max(bw.get(int(t), 0.0), float(g))

    help_text = sh([a.llmc, "build", "--help"]).stdout
    has_dtype = "--dtype" in help_text
    has_quantize = "quantize" in sh([a.llmc, "--help"]).stdout
    rows = []
    for shape_name in a.shapes.split(","):
        shape = SHAPES[shape_name]
        yaml_path = os.path.join(a.work, f"{shape_name}.yaml")
        with open(yaml_path, "w") as f:
            f.write(arch_yaml(shape_name, shape))
        tokens = tokens_for(shape, a.prompt)
        for typ in a.types.split(","):
            if typ in ("q8_0", "q4_0") and not has_dtype:
                log(f"skipping {typ}: this llmc has no build --dtype")
                continue
            fdt = FILE_DTYPE[typ]
            weights = os.path.join(a.work, f"{shape_name}-{fdt}.safetensors")
            if not os.path.exists(weights):
                log(f"generating {weights}")
                sh([tools["gen_weights"], weights + ".tmp", fdt, *map(str, shape[:6])])
                os.rename(weights + ".tmp", weights)
            binary = os.path.join(a.work, f"{shape_name}-{typ}")
            log(f"building {binary}")
            cmd = [a.llmc, "build", yaml_path, "-o", binary]
            if has_dtype:
                cmd += ["--dtype", typ if typ in ("q8_0", "q4_0") else "as-stored"]
            if a.kv_cache != "f32":
                cmd += ["--kv-cache", a.kv_cache]
            sh(cmd)
            res = {}
            for t in threads:
                best = None
                for _ in range(a.reps):
                    r = run_once(binary, weights, tokens, a.new, t)
                    if a.decode_prompt:
                        r["decode"] = run_once(binary, weights, tokens_for(shape, a.decode_prompt), a.new, t)["decode"]
                    if best is None:
                        best = r
                    else:
                        best["prefill"] = max(best["prefill"], r["prefill"])
                        best["decode"] = max(best["decode"], r["decode"])
                        best["load_ms"] = min(best["load_ms"], r["load_ms"])
                        best["first_ms"] = min(best["first_ms"], r["first_ms"])
                        best["rss_mb"] = max(best["rss_mb"], r["rss_mb"])
                        if r["ids"] != best["ids"]:
                            raise RuntimeError(f"{binary}: output differs between runs with {t} threads")
                res[t] = best
                log(f"  {typ} {t} thread(s): prefill {best['prefill']:.1f} decode {best['decode']:.1f} tok/s, "
                    f"RSS {best['rss_mb']:.0f} MB, load {best['load_ms']:.0f} ms")
            mapped = None
            if has_quantize:  # start-up from a file `llmc quantize` wrote: matrices mapped, not converted
                pre = os.path.join(a.work, f"{shape_name}-{typ}.llmc.safetensors")
                sh([a.llmc, "quantize", yaml_path, "--weights", weights, "-o", pre,
                    "--dtype", typ if typ in ("q8_0", "q4_0") else "as-stored"])
                try:
                    runs = [run_once(binary, pre, tokens, a.new, min(threads)) for _ in range(a.reps)]
                finally:
                    os.remove(pre)
                if any(r["ids"] != res[min(threads)]["ids"] for r in runs):
                    raise RuntimeError(f"{binary}: output from the llmc quantize file differs from the checkpoint's")
                mapped = {"load_ms": min(r["load_ms"] for r in runs), "first_ms": min(r["first_ms"] for r in runs),
                          "rss_mb": max(r["rss_mb"] for r in runs)}
                log(f"  {typ} from llmc quantize file: load {mapped['load_ms']:.1f} ms, first token "
                    f"{mapped['first_ms']:.0f} ms, RSS {mapped['rss_mb']:.0f} MB")
            rows.append((shape_name, typ, res, mapped))

    stamp = datetime.datetime.now().strftime("%Y-%m-%d %H:%M")
    commit = subprocess.run(["git", "-C", ROOT, "rev-parse", "--short", "HEAD"], text=True,
                            capture_output=True).stdout.strip()
    load = open("/proc/loadavg").read().split()[:3]
    header = {"stamp": stamp, "commit": commit, "load": load, "prompt": a.prompt, "new": a.new, "reps": a.reps,
              "kv_cache": a.kv_cache, "decode_prompt": a.decode_prompt}
    with open(os.path.splitext(a.out)[0] + ".json", "w") as f:
        json.dump({"rows": rows, "bw": bw, "threads": threads, "header": header}, f)
    render(a, rows, bw, threads, header)


def render(a, rows, bw, threads, header):
    engines, engines_note = ISSUE_ENGINES, "issue 6 (measured on another machine; indicative only)"
    if a.engines:
        with open(a.engines) as f:
            data = json.load(f)
        engines, engines_note = data["shapes"], data.get("note", a.engines)
    lines = [f"# llmc bench ({header['stamp']}, commit {header['commit']})", ""]
    kv_cache, decode_prompt = header.get("kv_cache", "f32"), header.get("decode_prompt", 0)
    decode_after = ("after the prompt" if not decode_prompt else "from an empty context (a 1-token prompt)"
                    if decode_prompt == 1 else f"after a {decode_prompt}-token prompt, in runs of their own")
    lines.append(f"Random-weight Llama models, {header['prompt']}-token prompt, {header['new'] - 1} decode steps "
                 f"{decode_after}, {kv_cache} KV cache, greedy; best of {header['reps']} runs. Machine: "
                 f"{os.cpu_count()} cores ({cpu_name()}), measured read bandwidth "
                 + ", ".join(f"{bw[t]:.1f} GB/s ({t} thread{'s' if t > 1 else ''})" for t in threads)
                 + f"; load average at the end {' '.join(header['load'])}.")
    if a.note:
        lines.append(a.note)
    lines.append("")
    lines.append("Limit = bandwidth / weight bytes read per decoded token (at the type's storage size). Engine "
                 f"numbers: {engines_note}. Decode ratios are against the best engine at that thread count, "
                 "prefill ratios against llama.cpp. Memory: peak RSS against weights (as stored) + the whole "
                 "KV cache + 5 MB; first token = the prompt's prefill time. Load = from the checkpoint (matrices "
                 "converted at load) / from the file `llmc quantize` wrote (matrices mapped in place; its peak RSS "
                 "in brackets).")
    lines.append("")
    hdr = ["shape", "type", "MB/token"]
    for t in threads:
        hdr += [f"prefill {t}t", f"decode {t}t", f"% limit {t}t"]
    hdr += ["best engine decode (1t / 2t)", "decode ratio (1t / 2t)", "llama.cpp prefill 2t", "prefill ratio 2t",
            "peak RSS MB", "weights + KV + 5 MB", "first token ms (1t)", "load ms (checkpoint / llmc quantize file)"]
    lines.append("| " + " | ".join(hdr) + " |")
    lines.append("|" + "---|" * len(hdr))
    for shape_name, typ, res, mapped in rows:
        shape = SHAPES[shape_name]
        wb = weight_bytes_per_token(shape, typ)
        cells = [shape_name, typ, f"{wb / 1e6:.0f}"]
        for t in threads:
            lim = bw[t] * 1e9 / wb
            cells += [f"{res[t]['prefill']:.0f}", f"{res[t]['decode']:.1f}", f"{100 * res[t]['decode'] / lim:.0f}%"]
        eng = engines.get(shape_name, {}).get(typ, [])
        e1, n1 = best_engine(eng, "decode1")
        e2, n2 = best_engine(eng, "decode2")
        p2, _ = best_engine([e for e in eng if e["engine"].startswith("llama.cpp")], "prefill2")
        if e1 and e2 and 1 in res and 2 in res:
            cells += [f"{e1:.0f} / {e2:.0f} ({n1}{'' if n1 == n2 else ' / ' + n2})",
                      f"{res[1]['decode'] / e1:.2f}× / {res[2]['decode'] / e2:.2f}×"]
        else:
            cells += ["-", "-"]
        cells += [f"{p2:.0f}", f"{res[2]['prefill'] / p2:.2f}×"] if p2 and 2 in res else ["-", "-"]
        bound = params(shape) * BYTES[typ] / 1e6 + kv_cache_bytes(shape, kv_cache) / 1e6 + 5
        rss = max(r["rss_mb"] for r in res.values())
        cells += [f"{rss:.0f}", f"{bound:.0f} ({'ok' if rss <= bound else 'OVER'})",
                  f"{res[min(res)]['first_ms']:.0f}", f"{min(r['load_ms'] for r in res.values()):.0f}"
                  + (f" / {mapped['load_ms']:.1f} ({mapped['rss_mb']:.0f} MB)" if mapped else "")]
        lines.append("| " + " | ".join(cells) + " |")
    text = "\n".join(lines) + "\n"
    print(text)
    with open(a.out, "w") as f:
        f.write(text)


def cpu_name():
    flags = open("/proc/cpuinfo").read()
    name = re.search(r"model name\s*:\s*(.*)", flags)
    isa = "AVX-512 VNNI" if "avx512_vnni" in flags else "AVX-512" if "avx512f" in flags else "AVX2" if "avx2" in flags else "SSE"
    return f"{name.group(1).strip() if name else 'unknown'}, {isa}"


if __name__ == "__main__":
    main()
