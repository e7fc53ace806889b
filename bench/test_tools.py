#!/usr/bin/env python3
"""Checks of the bench's own tools, cheap enough for CI (ctest -R bench.tools): write_gguf.py against an
independent reading of the GGUF it writes (metadata, tensor table, data, the q/k row permutation) and its
errors on bad input; bench.py's medians, ratios, ceiling % and target verdicts on a made-up run, and its
README block update. Stdlib only.  usage: test_tools.py [SCRATCH_DIR]"""
import contextlib
import io
import json
import os
import shutil
import struct
import subprocess
import sys
import tempfile
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import bench  # noqa: E402
import write_gguf  # noqa: E402

SCRATCH = sys.argv[1] if len(sys.argv) > 1 else None


def write_safetensors(path, tensors, dtype="F32"):
    """tensors: [(name, shape, [floats])]."""
    header, blobs, offset = {}, [], 0
    for name, shape, values in tensors:
        blob = struct.pack(f"<{len(values)}f", *values)
        header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [offset, offset + len(blob)]}
        blobs.append(blob)
        offset += len(blob)
    h = json.dumps(header).encode()
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h + b"".join(blobs))


def tiny_model(dim=8, layers=2, heads=2, kv_heads=1, ffn=12, vocab=300, experts=0):
    """A Llama checkpoint (a Mixtral one with experts) whose every value says where it is: tensor number * 1e4 +
    index."""
    hd = dim // heads
    shapes = [("model.embed_tokens.weight", [vocab, dim])]
    for i in range(layers):
        p = f"model.layers.{i}."
        shapes += [(p + "input_layernorm.weight", [dim]), (p + "self_attn.q_proj.weight", [dim, dim]),
                   (p + "self_attn.k_proj.weight", [kv_heads * hd, dim]),
                   (p + "self_attn.v_proj.weight", [kv_heads * hd, dim]), (p + "self_attn.o_proj.weight", [dim, dim]),
                   (p + "post_attention_layernorm.weight", [dim])]
        if experts:
            shapes += [(p + "block_sparse_moe.gate.weight", [experts, dim])]
            for e in range(experts):
                x = f"{p}block_sparse_moe.experts.{e}."
                shapes += [(x + "w1.weight", [ffn, dim]), (x + "w2.weight", [dim, ffn]), (x + "w3.weight", [ffn, dim])]
        else:
            shapes += [(p + "mlp.gate_proj.weight", [ffn, dim]), (p + "mlp.up_proj.weight", [ffn, dim]),
                       (p + "mlp.down_proj.weight", [dim, ffn])]
    shapes += [("model.norm.weight", [dim]), ("lm_head.weight", [vocab, dim])]
    out = []
    for k, (name, shape) in enumerate(shapes):
        n = 1
        for d in shape:
            n *= d
        out.append((name, shape, [k * 1e4 + i for i in range(n)]))
    return out


class GGUFReader:
    """Just enough of GGUF v3 to check what write_gguf.py wrote."""

    def __init__(self, path):
        with open(path, "rb") as f:
            self.b = f.read()
        self.pos = 0
        assert self.b[:4] == b"GGUF", "magic"
        self.pos = 4
        version, n_tensors, n_kv = self.take("<IQQ")
        assert version == 3
        self.kv = {}
        for _ in range(n_kv):
            key = self.string()
            self.kv[key] = self.value(self.take("<I")[0])
        self.tensors = {}
        for _ in range(n_tensors):
            name = self.string()
            (n_dims,) = self.take("<I")
            dims = list(self.take(f"<{n_dims}Q"))
            gtype, offset = self.take("<IQ")
            self.tensors[name] = (dims, gtype, offset)
        align = self.kv.get("general.alignment", 32)
        self.data = (self.pos + align - 1) // align * align

    def take(self, fmt):
        v = struct.unpack_from(fmt, self.b, self.pos)
        self.pos += struct.calcsize(fmt)
        return v

    def string(self):
        (n,) = self.take("<Q")
        s = self.b[self.pos:self.pos + n].decode()
        self.pos += n
        return s

    def value(self, t):
        if t == 8:
            return self.string()
        if t == 9:
            et, n = self.take("<IQ")
            return [self.value(et) for _ in range(n)]
        return self.take({4: "<I", 5: "<i", 6: "<f"}[t])[0]

    def floats(self, name):
        dims, gtype, offset = self.tensors[name]
        assert gtype == 0
        n = 1
        for d in dims:
            n *= d
        return list(struct.unpack_from(f"<{n}f", self.b, self.data + offset))


class WriteGGUF(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.mkdtemp(dir=SCRATCH)

    def tearDown(self):
        shutil.rmtree(self.dir)

    def run_tool(self, src, out, *args):
        return subprocess.run([sys.executable, os.path.join(HERE, "write_gguf.py"), src, out, *args],
                              text=True, capture_output=True)

    def test_round_trip(self):
        model = tiny_model()
        src, out = os.path.join(self.dir, "m.safetensors"), os.path.join(self.dir, "m.gguf")
        write_safetensors(src, model)
        r = self.run_tool(src, out, "--heads", "2", "--context", "128")
        self.assertEqual(r.returncode, 0, r.stderr)
        g = GGUFReader(out)
        kv = g.kv
        self.assertEqual(kv["general.architecture"], "llama")
        self.assertEqual((kv["llama.embedding_length"], kv["llama.block_count"], kv["llama.feed_forward_length"],
                          kv["llama.attention.head_count"], kv["llama.attention.head_count_kv"],
                          kv["llama.rope.dimension_count"], kv["llama.context_length"], kv["llama.vocab_size"]),
                         (8, 2, 12, 2, 1, 4, 128, 300))
        self.assertEqual(len(kv["tokenizer.ggml.tokens"]), 300)
        self.assertEqual(kv["tokenizer.ggml.tokens"][3 + 10], "<0x0A>")
        self.assertEqual(len(set(kv["tokenizer.ggml.tokens"])), 300)
        self.assertEqual(len(g.tensors), 1 + 2 * 9 + 2)
        for name, (dims, _, offset) in g.tensors.items():
            self.assertEqual(offset % 32, 0, name)
        by_name = {n: (s, v) for n, s, v in model}
        self.assertEqual(g.tensors["blk.1.ffn_down.weight"][0], [12, 8])  # fastest dimension first
        self.assertEqual(g.floats("blk.1.ffn_down.weight"), by_name["model.layers.1.mlp.down_proj.weight"][1])
        self.assertEqual(g.floats("output.weight"), by_name["lm_head.weight"][1])
        self.assertEqual(g.floats("token_embd.weight"), by_name["model.embed_tokens.weight"][1])
        # q: 2 heads of 4 rows; within a head the rows (0 1 | 2 3) of the half split become pairs (0 2 1 3).
        q = by_name["model.layers.0.self_attn.q_proj.weight"][1]
        rows = [q[r * 8:(r + 1) * 8] for r in range(8)]
        want = [x for r in (0, 2, 1, 3, 4, 6, 5, 7) for x in rows[r]]
        self.assertEqual(g.floats("blk.0.attn_q.weight"), want)
        k = by_name["model.layers.1.self_attn.k_proj.weight"][1]  # 1 KV head of 4 rows
        rows = [k[r * 8:(r + 1) * 8] for r in range(4)]
        self.assertEqual(g.floats("blk.1.attn_k.weight"), [x for r in (0, 2, 1, 3) for x in rows[r]])
        self.assertEqual(g.floats("blk.1.attn_v.weight"), by_name["model.layers.1.self_attn.v_proj.weight"][1])

    def test_experts_stacked(self):
        model = tiny_model(experts=3)
        src, out = os.path.join(self.dir, "m.safetensors"), os.path.join(self.dir, "m.gguf")
        write_safetensors(src, model)
        r = self.run_tool(src, out, "--heads", "2", "--experts-per-token", "2")
        self.assertEqual(r.returncode, 0, r.stderr)
        g = GGUFReader(out)
        self.assertEqual((g.kv["llama.expert_count"], g.kv["llama.expert_used_count"]), (3, 2))
        self.assertEqual(len(g.tensors), 1 + 2 * 10 + 2)
        by_name = {n: v for n, _, v in model}
        self.assertEqual(g.tensors["blk.1.ffn_down_exps.weight"][0], [12, 8, 3])  # [experts, out, in] reversed
        for gguf, hf in (("gate", "w1"), ("down", "w2"), ("up", "w3")):
            stacked = [x for e in range(3) for x in by_name[f"model.layers.1.block_sparse_moe.experts.{e}.{hf}.weight"]]
            self.assertEqual(g.floats(f"blk.1.ffn_{gguf}_exps.weight"), stacked)
        self.assertEqual(g.floats("blk.0.ffn_gate_inp.weight"), by_name["model.layers.0.block_sparse_moe.gate.weight"])
        self.check_error(src, ["--experts-per-token 4", "3 experts"], "--heads", "2", "--experts-per-token", "4")

    def check_error(self, src, words, *args):
        out = os.path.join(self.dir, "bad.gguf")
        r = self.run_tool(src, out, *(args or ("--heads", "2")))
        self.assertEqual(r.returncode, 1, r.stderr)
        for w in words:
            self.assertIn(w, r.stderr)
        self.assertNotIn("Traceback", r.stderr)
        self.assertFalse(os.path.exists(out) or os.path.exists(out + ".tmp"), "output left behind")

    def test_errors(self):
        src = os.path.join(self.dir, "m.safetensors")
        model = tiny_model()
        write_safetensors(src, model, dtype="F16")
        self.check_error(src, ["model.embed_tokens.weight", "F16", "expected F32"])
        write_safetensors(src, [t for t in model if t[0] != "model.layers.1.mlp.up_proj.weight"])
        self.check_error(src, ["model.layers.1.mlp.up_proj.weight", "missing"])
        write_safetensors(src, [(n, s if n != "lm_head.weight" else [400, 6], v) for n, s, v in model])
        self.check_error(src, ["lm_head.weight", "shape [400, 6]", "expected [300, 8]"])
        write_safetensors(src, model)
        self.check_error(src, ["--heads 3"], "--heads", "3")
        with open(src, "rb") as f:
            whole = f.read()
        with open(src, "wb") as f:
            f.write(whole[:len(whole) - 100])
        self.check_error(src, ["lm_head.weight", "data_offsets"])
        with open(src, "wb") as f:
            f.write(struct.pack("<Q", 1 << 40) + b"{}")
        self.check_error(src, ["header length"])
        self.check_error(os.path.join(self.dir, "absent.safetensors"), ["cannot open"])


def made_up_run():
    """Two passes of one row, with the numbers chosen so every median and ratio is known."""
    def window(llmc_dec1, llama_dec1_mmap0, llama_dec1_mmap1):
        llmc = {t: {"prefill": [100.0 * t] * 3, "decode": [llmc_dec1 * t, llmc_dec1 * t + 1, llmc_dec1 * t - 1],
                    "load_ms": [5.0] * 3, "first_ms": [30.0] * 3, "rss_mb": [80.0] * 3} for t in (1, 2)}
        llama = {"mmap0": {"decode1": [llama_dec1_mmap0] * 6, "decode2": [100.0] * 6, "prefill1": [90.0] * 6,
                           "prefill2": [150.0] * 6},
                 "mmap1": {"decode1": [llama_dec1_mmap1, 1.0, llama_dec1_mmap1], "decode2": [50.0] * 6,
                           "prefill1": [50.0] * 6, "prefill2": [200.0] * 6}}
        return {"start": "2026-12-06 04:00 UTC", "load": [0.5, 0.7], "llmc": llmc, "llama": llama}
    return {"format": 2, "threads": [1, 2],
            "header": {"commit": "abc", "prompt": 64, "new": 65, "reps": 3, "passes": 2, "kv_cache": "f16",
                       "decode_prompt": 1, "llama_cpp": "llama.cpp x", "command": "bench/run.sh", "cpu": "cpu",
                       "cores": 2, "drop_caches": True},
            "bandwidth": [{"stamp": "s", "gbs": {"1": 10.0, "2": 20.0}}, {"stamp": "s", "gbs": {"1": 12.0, "2": 18.0}}],
            # decode 1t: pass 1 llmc 200 vs the better mode 100 (2.0x), pass 2 llmc 200 vs 250 (0.8x)
            "rows": [{"shape": "stories110M", "type": "q4_0", "mapped": {"load_ms": 1.0, "first_ms": 30, "rss_mb": 80},
                      "windows": [window(200.0, 100.0, 80.0), window(200.0, 90.0, 250.0)]}]}


class Render(unittest.TestCase):
    def test_medians_and_verdicts(self):
        run = made_up_run()
        row = bench.row_summary(bench.upgrade(run)["rows"][0], [1, 2], {})
        self.assertEqual(row["decode1"]["ratios"], [2.0, 0.8])
        self.assertAlmostEqual(row["decode1"]["ratio"], 1.4)
        self.assertEqual(row["decode1"]["modes"], ["mmap0", "mmap1"])
        self.assertEqual(row["decode1"]["llmc"], 200.0)
        self.assertEqual(row["decode1"]["ref"], 175.0)
        self.assertEqual(row["decode2"]["ratios"], [4.0, 4.0])
        self.assertEqual(row["prefill2"]["ratios"], [1.0, 1.0])  # llama.cpp's mmap1 150 < 200
        with tempfile.TemporaryDirectory(dir=SCRATCH) as d:
            readme = os.path.join(d, "README.md")
            with open(readme, "w") as f:
                f.write(f"intro\n{bench.MARK_BEGIN}\nold table\n{bench.MARK_END}\noutro\n")
            args = type("A", (), {"out": os.path.join(d, "results.md"), "readme": readme, "note": "", "engines": ""})
            with contextlib.redirect_stdout(io.StringIO()):
                bench.render(args, run)
            with open(args.out) as f:
                text = f.read()
            with open(readme) as f:
                new_readme = f.read()
        # ceiling = the best reading per thread count: 12 and 20 GB/s; decode 1t 200 tok/s of q4_0 stories110M
        pct1 = 200 * bench.weight_bytes_per_token(bench.SHAPES["stories110M"], "q4_0") / 12e9
        self.assertIn(f"{pct1:.0%}", text)
        self.assertIn("prefill 1t (1.11×)", text)  # 100 / 90
        self.assertIn("prefill 2t (1.00×)", text)
        self.assertIn("12.0 GB/s (1 thread), 20.0 GB/s (2 threads)", text)
        self.assertTrue(new_readme.startswith("intro\n" + bench.MARK_BEGIN) and new_readme.endswith(bench.MARK_END +
                                                                                                    "\noutro\n"))
        self.assertNotIn("old table", new_readme)
        self.assertIn("| stories110M | q4_0 |", new_readme)


if __name__ == "__main__":
    unittest.main(argv=sys.argv[:1], verbosity=1)
