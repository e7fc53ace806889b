#!/usr/bin/env python3
"""Collects engine numbers measured on the bench machine into the JSON file bench.py --engines reads.

  engines_json.py OUT.json --shape stories110M --note "llama.cpp 34af94c, llama2.c 350e04f, 2026-11-23" \\
      --llama-bench f32 llama-bench-F32.json --llama-bench q4_0 llama-bench-Q4_0_pure.json ... \\
      --llama2c llama2c.tsv

--llama-bench TYPE FILE: `llama-bench -o json` output (decode = n_gen runs, prefill = n_prompt runs, per
thread count; the best sample is kept, as bench.py keeps llmc's best run). --llama2c FILE: lines
"run|runq<TAB>threads<TAB>tok/s" (run.c counts as f32, runq.c as q8_0; best per thread count). OUT.json is
created or extended (one shape at a time). Stdlib only."""
import argparse
import json
import os


def best(values):
    return max(values) if values else None


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("out")
    ap.add_argument("--shape", required=True)
    ap.add_argument("--note", default="")
    ap.add_argument("--llama-bench", nargs=2, action="append", default=[], metavar=("TYPE", "FILE"))
    ap.add_argument("--llama2c", default="")
    a = ap.parse_args()
    data = {"note": a.note, "shapes": {}}
    if os.path.exists(a.out):
        with open(a.out) as f:
            data = json.load(f)
        if a.note:
            data["note"] = a.note
    shape = data["shapes"].setdefault(a.shape, {})
    for typ, path in a.llama_bench:
        with open(path) as f:
            runs = json.load(f)
        entry = {"engine": f"llama.cpp {runs[0]['build_commit']} ({os.path.basename(path)})"}
        for r in runs:
            kind = "decode" if r["n_gen"] > 0 else "prefill"
            samples = r.get("samples_ts") or [r["avg_ts"]]
            key = f"{kind}{r['n_threads']}"
            entry[key] = max(entry.get(key, 0), best(samples))
        shape[typ] = [e for e in shape.get(typ, []) if not e["engine"].startswith("llama.cpp")] + [entry]
    if a.llama2c:
        found = {}
        with open(a.llama2c) as f:
            for line in f:
                if line.strip():
                    eng, threads, rate = line.split()
                    found.setdefault(eng, {}).setdefault(int(threads), []).append(float(rate))
        for eng, typ in (("run", "f32"), ("runq", "q8_0")):
            if eng in found:
                entry = {"engine": f"llama2.c {eng}.c"}
                for t, rates in found[eng].items():
                    entry[f"decode{t}"] = best(rates)
                shape[typ] = [e for e in shape.get(typ, []) if e["engine"] != entry["engine"]] + [entry]
    with open(a.out, "w") as f:
        json.dump(data, f, indent=1)
        f.write("\n")


if __name__ == "__main__":
    main()
