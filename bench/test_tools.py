#!/usr/bin/env python3
"""Checks of the bench's own tools, cheap enough for CI (ctest -R bench.tools): write_gguf.py against an
independent reading of the GGUF it writes (metadata, tensor table, data, the q/k row permutation; for DeepSeek
llama.cpp's deepseek2 keys, tensors and kv_b split) and its errors on bad input; bench.py's DeepSeek shape
(parameter and byte counts against its tensor list, its arch spec against archs/deepseek-v2-lite.yaml); bench.py's
recurrent shapes (Mamba, Mamba 2, RWKV-4: tensors against archs/, the Mamba GGUFs against llama.cpp's
loaders); bench.py's BERT shape (its tensors against its spec, the parameter count of bert-base-uncased's
BertModel, write_gguf.py's bert GGUF against convert_hf_to_gguf.py's names and keys and llama.cpp's loader, the
inputs as ids and as text of the synthetic WordPiece vocabulary); bench.py's GGUF header reader; bench.py's medians, ratios, ceiling % and target verdicts on a made-up run (rows after a depth too), and its README block
update. Stdlib only.  usage: test_tools.py [SCRATCH_DIR]"""
import contextlib
import io
import json
import math
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
    return with_values(shapes)


def tiny_deepseek(dim=10, layers=3, heads=2, kv_lora=6, nope=4, rope=2, v=3, dense_layers=1, dense_ffn=6, experts=3,
                  ffn=4, shared=1, vocab=300):
    """The tensors [(name, shape)] of a DeepSeek-V2 checkpoint as bench/gen_weights.cpp --deepseek writes it."""
    shapes = [("model.embed_tokens.weight", [vocab, dim])]
    for i in range(layers):
        p = f"model.layers.{i}."
        a = p + "self_attn."
        shapes += [(p + "input_layernorm.weight", [dim]), (a + "q_proj.weight", [heads * (nope + rope), dim]),
                   (a + "kv_a_proj_with_mqa.weight", [kv_lora + rope, dim]), (a + "kv_a_layernorm.weight", [kv_lora]),
                   (a + "kv_b_proj.weight", [heads * (nope + v), kv_lora]), (a + "o_proj.weight", [dim, heads * v]),
                   (p + "post_attention_layernorm.weight", [dim])]
        m = p + "mlp."
        if i < dense_layers:
            shapes += [(m + "gate_proj.weight", [dense_ffn, dim]), (m + "up_proj.weight", [dense_ffn, dim]),
                       (m + "down_proj.weight", [dim, dense_ffn])]
            continue
        shapes += [(m + "gate.weight", [experts, dim])]
        for e in range(experts):
            x = f"{m}experts.{e}."
            shapes += [(x + "gate_proj.weight", [ffn, dim]), (x + "up_proj.weight", [ffn, dim]),
                       (x + "down_proj.weight", [dim, ffn])]
        shapes += [(m + "shared_experts.gate_proj.weight", [shared * ffn, dim]),
                   (m + "shared_experts.up_proj.weight", [shared * ffn, dim]),
                   (m + "shared_experts.down_proj.weight", [dim, shared * ffn])]
    return shapes + [("model.norm.weight", [dim]), ("lm_head.weight", [vocab, dim])]


def with_values(shapes):
    """Every value says where it is: tensor number * 1e4 + index."""
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
        return self.take({4: "<I", 5: "<i", 6: "<f", 7: "<?"}[t])[0]

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
        # bench.py's own header reader (the K-quant rows' bytes per token) sees the same tensors and sizes
        sizes = bench.gguf_tensor_bytes(out)
        self.assertEqual(sizes, {name: 4 * math.prod(dims) for name, (dims, _, _) in g.tensors.items()})
        per_token, total = bench.gguf_weight_bytes(out, 300)
        self.assertEqual((total, total - per_token), (sum(sizes.values()), 299 * 8 * 4))  # one embedding row
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

    def test_deepseek(self):
        """As convert_hf_to_gguf.py's DeepseekV2Model writes a V2-Lite-like checkpoint (llama.cpp 1fd6dfe9f), checked
        against llama-model.cpp's deepseek2 tensor list and shapes."""
        model = with_values(tiny_deepseek())
        src, out = os.path.join(self.dir, "m.safetensors"), os.path.join(self.dir, "m.gguf")
        write_safetensors(src, model)
        r = self.run_tool(src, out, "--heads", "2", "--experts-per-token", "2", "--context", "163840",
                          "--rms-eps", "1e-6", "--yarn", "40", "4096", "0.707")
        self.assertEqual(r.returncode, 0, r.stderr)
        g = GGUFReader(out)
        kv = {k[len("deepseek2."):]: v for k, v in g.kv.items() if k.startswith("deepseek2.")}
        self.assertEqual(g.kv["general.architecture"], "deepseek2")
        want = {"block_count": 3, "context_length": 163840, "embedding_length": 10, "feed_forward_length": 6,
                "attention.head_count": 2, "attention.head_count_kv": 1, "attention.q_lora_rank": 0,
                "attention.kv_lora_rank": 6, "attention.key_length": 8, "attention.value_length": 6,
                "attention.key_length_mla": 6, "attention.value_length_mla": 3, "leading_dense_block_count": 1,
                "expert_count": 3, "expert_used_count": 2, "expert_shared_count": 1, "expert_feed_forward_length": 4,
                "expert_group_count": 1, "expert_group_used_count": 1, "expert_gating_func": 1,
                "rope.dimension_count": 2, "rope.scaling.type": "yarn", "rope.scaling.factor": 40.0,
                "rope.scaling.original_context_length": 4096, "vocab_size": 300, "expert_weights_scale": 1.0}
        self.assertEqual({k: kv.get(k) for k in want}, want)
        self.assertAlmostEqual(kv["rope.scaling.yarn_log_multiplier"], 0.0707, places=6)
        self.assertAlmostEqual(kv["attention.layer_norm_rms_epsilon"], 1e-6, places=12)
        self.assertNotIn("expert_weights_norm", kv)  # norm_topk_prob false: not written
        names = {"token_embd.weight", "output_norm.weight", "output.weight"}
        for i in range(3):
            names |= {f"blk.{i}.{t}.weight" for t in ("attn_norm", "attn_q", "attn_kv_a_mqa", "attn_kv_a_norm",
                                                        "attn_k_b", "attn_v_b", "attn_output", "ffn_norm")}
            names |= {f"blk.{i}.{t}.weight" for t in (("ffn_gate", "ffn_up", "ffn_down") if i == 0 else (
                "ffn_gate_inp", "ffn_gate_exps", "ffn_down_exps", "ffn_up_exps", "ffn_gate_shexp", "ffn_down_shexp",
                "ffn_up_shexp"))}
        self.assertEqual(set(g.tensors), names)
        # llama-model.cpp's create_tensor shapes (fastest dimension first)
        dims = {"attn_q": [10, 12], "attn_kv_a_mqa": [10, 8], "attn_kv_a_norm": [6], "attn_k_b": [4, 6, 2],
                "attn_v_b": [6, 3, 2], "attn_output": [6, 10], "ffn_gate_inp": [10, 3], "ffn_gate_exps": [10, 4, 3],
                "ffn_down_exps": [4, 10, 3], "ffn_up_exps": [10, 4, 3], "ffn_gate_shexp": [10, 4],
                "ffn_down_shexp": [4, 10], "ffn_up_shexp": [10, 4]}
        for t, d in dims.items():
            self.assertEqual(g.tensors[f"blk.1.{t}.weight"][0], d, t)
        self.assertEqual(g.tensors["blk.0.ffn_gate.weight"][0], [10, 6])
        by_name = {n: v for n, _, v in model}
        a = "model.layers.1.self_attn."
        self.assertEqual(g.floats("blk.1.attn_q.weight"), by_name[a + "q_proj.weight"])  # not permuted
        self.assertEqual(g.floats("blk.1.attn_kv_a_mqa.weight"), by_name[a + "kv_a_proj_with_mqa.weight"])
        kv_b = by_name[a + "kv_b_proj.weight"]  # [heads * (nope 4 + v 3)][kv_lora 6]
        k_b = [kv_b[(h * 7 + i) * 6 + j] for h in range(2) for j in range(6) for i in range(4)]  # [h][j][i]
        v_b = [kv_b[(h * 7 + 4 + r) * 6 + j] for h in range(2) for r in range(3) for j in range(6)]  # [h][r][j]
        self.assertEqual(g.floats("blk.1.attn_k_b.weight"), k_b)
        self.assertEqual(g.floats("blk.1.attn_v_b.weight"), v_b)
        m = "model.layers.2.mlp."
        self.assertEqual(g.floats("blk.2.ffn_down_exps.weight"),
                         [x for e in range(3) for x in by_name[f"{m}experts.{e}.down_proj.weight"]])
        self.assertEqual(g.floats("blk.2.ffn_up_shexp.weight"), by_name[m + "shared_experts.up_proj.weight"])
        self.assertEqual(g.floats("blk.2.ffn_gate_inp.weight"), by_name[m + "gate.weight"])
        self.assertEqual(g.floats("blk.0.ffn_down.weight"), by_name["model.layers.0.mlp.down_proj.weight"])
        self.check_error(src, ["--heads 5", "q_proj"], "--heads", "5")
        write_safetensors(src, [t if t[0] != a + "kv_b_proj.weight" else (t[0], [2 * 8, 6], [0.0] * 96)
                                for t in model])
        self.check_error(src, ["model.layers.1.self_attn.kv_b_proj.weight", "shape [16, 6]", "expected [14, 6]"])

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


def rendered(run):
    """The results file bench.render writes for run (no README block)."""
    with tempfile.TemporaryDirectory(dir=SCRATCH) as d:
        args = type("A", (), {"out": os.path.join(d, "results.md"), "readme": "", "note": "", "engines": ""})
        with contextlib.redirect_stdout(io.StringIO()):
            bench.render(args, run)
        with open(args.out) as f:
            return f.read()


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


class DeepSeekShape(unittest.TestCase):
    """bench.py's counts for a DeepSeek shape against the tensors gen_weights --deepseek writes, and its arch spec
    against archs/deepseek-v2-lite.yaml (`llmc import` of the published config)."""

    @staticmethod
    def sizes(shape, top_k=None):
        """Values in all (or read by one decode step: top_k of the routed experts, one embedding row), and of those
        the ones llmc keeps fp32 (norms, routers)."""
        d = shape.deepseek
        tensors = tiny_deepseek(shape.dim, shape.layers, shape.heads, d.kv_lora, d.nope, d.rope, d.v_head,
                                d.dense_layers, d.dense_ffn, shape.experts, shape.ffn, d.shared, shape.vocab)
        total = fp32 = 0
        for name, dims in tensors:
            n = 1
            for x in dims:
                n *= x
            if top_k is not None and ".experts." in name and int(name.split(".experts.")[1].split(".")[0]) >= top_k:
                continue
            if top_k is not None and name == "model.embed_tokens.weight":
                n = shape.dim
            total += n
            if len(dims) == 1 or name.endswith("mlp.gate.weight") or \
                    (top_k is not None and name == "model.embed_tokens.weight"):
                fp32 += n
        return total, fp32

    def test_counts(self):
        tiny = bench.Shape(10, 3, 2, 2, 4, 300, 64, 3, 2, bench.DeepSeek(6, 4, 2, 3, 1, 1, 6, (40.0, 4096, 0.707), 64))
        for shape in (tiny, bench.SHAPES["dsv2lite4L"]):
            c = bench.parameter_counts(shape)
            total, fp32 = self.sizes(shape)
            self.assertEqual((c["matrices"] + c["fp32"], c["fp32"]), (total, fp32))
            self.assertEqual(bench.params(shape), total)
            total, fp32 = self.sizes(shape, top_k=shape.top_k)
            self.assertEqual((c["matrices_per_token"] + c["fp32_per_token"], c["fp32_per_token"]), (total, fp32))
        shape = bench.SHAPES["dsv2lite4L"]
        self.assertEqual(bench.params(shape), 2254983168)
        # With all 27 layers: the parameters `llmc import` counted for DeepSeek-V2-Lite (archs/, first line), and
        # its active ones (llmc counts the whole embedding, the bench one row of it).
        with open(os.path.join(os.path.dirname(HERE), "archs", "deepseek-v2-lite.yaml")) as f:
            counted = [int(w) for w in f.readline().replace(",", " ").split() if w.isdigit()]
        full = bench.parameter_counts(shape._replace(layers=27))
        self.assertEqual(counted, [full["matrices"] + full["fp32"],
                                   full["matrices_per_token"] + full["fp32_per_token"] + (shape.vocab - 1) * shape.dim])
        # kv_b (4 layers of 16 heads × 256 rows × 512) counted with the matrices, in the type
        self.assertEqual(bench.weight_bytes_per_token(shape, "q8_0"), 539623424 * 34 / 32 + 415744 * 4)
        # the compressed MLA cache: per layer and position the latent (512) and k_rope (64), f16
        self.assertEqual(bench.kv_cache_bytes(shape, "f16"), 4 * 4096 * 576 * 2)
        self.assertEqual(bench.kv_cache_bytes(shape, "f16", 4000), 4 * 4000 * 576 * 2)

    def test_arch_spec_is_v2_lite(self):
        def significant(text):  # without comments, the name, the layer count and the special tokens
            return [line for line in text.split("\n") if line and not line.startswith(("#", "name:", "tokens:"))
                    and not line.startswith("  num_layers:")]
        with open(os.path.join(os.path.dirname(HERE), "archs", "deepseek-v2-lite.yaml")) as f:
            published = f.read()
        ours = bench.arch_yaml("dsv2lite4L", bench.SHAPES["dsv2lite4L"])
        self.assertEqual(significant(ours), significant(published))
        self.assertIn("  num_layers: 4\n", ours)
        names = {n for n, _ in tiny_deepseek()}  # every tensor the spec names is one gen_weights writes
        for line in ours.split("\n"):
            if '"model.' in line:
                pattern = line.split('"')[1]
                dense = pattern.endswith(("mlp.gate_proj.weight", "mlp.up_proj.weight", "mlp.down_proj.weight"))
                layer = 0 if dense else 1
                self.assertIn(pattern.format(i=layer, e=0), names)


class RecurrentShapes(unittest.TestCase):
    """bench.py's Mamba, Mamba 2 and RWKV-4 shapes: their tensors against archs/ (every tensor the spec names is
    written, the counts its first line states), and write_gguf.py's Mamba / Mamba 2 GGUFs against what
    convert_hf_to_gguf.py (MambaModel, Mamba2Model) and llama.cpp's mamba / mamba2 loaders expect (1fd6dfe9f)."""

    def setUp(self):
        self.dir = tempfile.mkdtemp(dir=SCRATCH)

    def tearDown(self):
        shutil.rmtree(self.dir)

    def test_tensors_are_the_published_specs(self):
        for name in ("mamba130M", "mamba2_130M", "rwkv169M"):
            shape = bench.SHAPES[name]
            spec = bench.arch_yaml(name, shape)
            tensors = {t for t, _, _ in bench.recurrent_tensors(shape)}
            for line in spec.split("\n"):
                if ': "' in line and "{i}" in line or line.strip().startswith(("embed:", "final_norm:")):
                    pattern = line.split('"')[1]
                    self.assertIn(pattern.format(i=shape.layers - 1), tensors, name)
            self.assertIn("tokens: {bos: 1, eos: 2, add_bos: false}", spec)
            counted = int(spec.split("parameters")[0].split()[-1].strip(";"))
            self.assertEqual(bench.params(shape), counted, name)

    def mamba_model(self, kind):
        if kind == "mamba":
            shape = bench.Shape(8, 2, 1, 1, 0, 300, 64, recurrent=bench.Recurrent("mamba", "mamba-130m", 16, 4, 3, 2))
        else:
            shape = bench.Shape(8, 2, 1, 1, 0, 300, 64,
                                recurrent=bench.Recurrent("mamba2", "mamba2-130m", 16, 4, 3, 2, 1))
        model = with_values([(n, dims) for n, _, dims in bench.recurrent_tensors(shape)])
        # A_log small enough for exp: 0.001 × index
        model = [(n, d, [0.001 * i for i in range(len(v))] if n.endswith("A_log") else v) for n, d, v in model]
        src, out = os.path.join(self.dir, "m.safetensors"), os.path.join(self.dir, "m.gguf")
        write_safetensors(src, model)
        r = subprocess.run([sys.executable, os.path.join(HERE, "write_gguf.py"), src, out, "--context", "64"],
                           text=True, capture_output=True)
        self.assertEqual(r.returncode, 0, r.stderr)
        return GGUFReader(out), {n: v for n, _, v in model}

    def test_mamba(self):
        g, by_name = self.mamba_model("mamba")
        self.assertEqual(g.kv["general.architecture"], "mamba")
        kv = {k[len("mamba."):]: v for k, v in g.kv.items() if k.startswith("mamba.")}
        want = {"context_length": 64, "embedding_length": 8, "feed_forward_length": 0, "attention.head_count": 0,
                "block_count": 2, "ssm.conv_kernel": 3, "ssm.inner_size": 16, "ssm.state_size": 4,
                "ssm.time_step_rank": 2}
        self.assertEqual({k: kv.get(k) for k in want}, want)
        # llama.cpp's create_tensor shapes (fastest dimension first); no output.weight: tied
        dims = {"ssm_in.weight": [8, 32], "ssm_conv1d.weight": [3, 16], "ssm_conv1d.bias": [16],
                "ssm_x.weight": [16, 10], "ssm_dt.weight": [2, 16], "ssm_dt.bias": [16], "ssm_a": [4, 16],
                "ssm_d": [16], "ssm_out.weight": [16, 8], "attn_norm.weight": [8]}
        self.assertEqual({t: g.tensors[f"blk.1.{t}"][0] for t in dims}, dims)
        self.assertEqual(set(g.tensors), {f"blk.{i}.{t}" for i in range(2) for t in dims} |
                         {"token_embd.weight", "output_norm.weight"})
        m = "backbone.layers.1.mixer."
        self.assertEqual(g.floats("blk.1.ssm_conv1d.weight"), by_name[m + "conv1d.weight"])
        a = g.floats("blk.1.ssm_a")
        self.assertEqual(len(a), 64)
        for got, a_log in zip(a, by_name[m + "A_log"]):
            self.assertAlmostEqual(got, -math.exp(a_log), places=6)

    def test_mamba2(self):
        g, by_name = self.mamba_model("mamba2")
        self.assertEqual(g.kv["general.architecture"], "mamba2")
        kv = {k[len("mamba2."):]: v for k, v in g.kv.items() if k.startswith("mamba2.")}
        want = {"ssm.conv_kernel": 3, "ssm.inner_size": 16, "ssm.state_size": 4, "ssm.time_step_rank": 2,
                "ssm.group_count": 1, "block_count": 2, "attention.head_count": 2}
        self.assertEqual({k: kv.get(k) for k in want}, want)
        # d_in_proj = 2 d_inner + 2 groups state + heads = 42; conv over x, B, C = 24 channels
        dims = {"ssm_in.weight": [8, 42], "ssm_conv1d.weight": [3, 24], "ssm_conv1d.bias": [24],
                "ssm_dt.bias": [2], "ssm_a": [1, 2], "ssm_d": [1, 2], "ssm_norm.weight": [16, 1],
                "ssm_out.weight": [16, 8], "attn_norm.weight": [8]}
        self.assertEqual({t: g.tensors[f"blk.0.{t}"][0] for t in dims}, dims)
        m = "backbone.layers.0.mixer."
        self.assertEqual(g.floats("blk.0.ssm_dt.bias"), by_name[m + "dt_bias"])
        for got, a_log in zip(g.floats("blk.0.ssm_a"), by_name[m + "A_log"]):
            self.assertAlmostEqual(got, -math.exp(a_log), places=6)


class BertShape(unittest.TestCase):
    """bench.py's encoder shape (issue 23): a BertModel checkpoint, its llmc spec, its GGUF (convert_hf_to_gguf.py's
    BertModel and llama.cpp 1fd6dfe9f's bert loader) and the row's inputs."""

    def setUp(self):
        self.dir = tempfile.mkdtemp(dir=SCRATCH)

    def tearDown(self):
        shutil.rmtree(self.dir)

    def test_spec_names_the_checkpoint(self):
        shape = bench.SHAPES["bertbase"]
        spec = bench.arch_yaml("bertbase", shape)
        tensors = {t for t, _, _ in bench.bert_tensors(shape)}
        named = [line.split('"')[1].format(i=shape.layers - 1) for line in spec.split("\n") if ': "' in line]
        self.assertEqual(len(named), 5 + 16)  # embeddings (word, positions, types, LayerNorm) and 16 per layer
        self.assertEqual(set(named) - tensors, set())
        self.assertEqual(len(tensors), 5 + 16 * shape.layers)  # nothing the spec does not read
        self.assertIn("kind: encoder", spec)
        self.assertIn("classifier: false", spec)
        # bert-base-uncased's BertModel (archs/bert-base-uncased.yaml: 109482240) without its pooler
        self.assertEqual(bench.params(shape), 109482240 - (768 * 768 + 768))

    def tiny_gguf(self):
        shape = bench.Shape(8, 2, 2, 2, 12, 200, 16, encoder=bench.Encoder(2))
        model = with_values([(n, dims) for n, _, dims in bench.bert_tensors(shape)])
        src, out = os.path.join(self.dir, "m.safetensors"), os.path.join(self.dir, "m.gguf")
        write_safetensors(src, model)
        r = subprocess.run([sys.executable, os.path.join(HERE, "write_gguf.py"), src, out, "--heads", "2",
                            "--pooling", "cls"], text=True, capture_output=True)
        self.assertEqual(r.returncode, 0, r.stderr)
        return GGUFReader(out), {n: v for n, _, v in model}

    def test_gguf(self):
        g, by_name = self.tiny_gguf()
        self.assertEqual(g.kv["general.architecture"], "bert")
        kv = {k[len("bert."):]: v for k, v in g.kv.items() if k.startswith("bert.")}
        self.assertEqual(kv["attention.causal"], False)
        self.assertAlmostEqual(kv.pop("attention.layer_norm_epsilon"), 1e-12, places=15)
        self.assertEqual(kv, {"context_length": 16, "embedding_length": 8, "feed_forward_length": 12,
                              "block_count": 2, "attention.head_count": 2, "attention.causal": False,
                              "pooling_type": 2})
        self.assertEqual(g.kv["tokenizer.ggml.model"], "bert")
        self.assertEqual(g.kv["tokenizer.ggml.token_type_count"], 2)  # where llama.cpp's vocabulary reads it
        tokens, types = g.kv["tokenizer.ggml.tokens"], g.kv["tokenizer.ggml.token_type"]
        self.assertEqual(len(tokens), 200)
        self.assertEqual([tokens[i] for i in (0, 100, 101, 102, 103)], ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"])
        self.assertEqual([types[i] for i in (0, 101, 104)], [3, 3, 1])
        self.assertEqual(tokens[104], "\u2581w104")  # phantom space: a word-initial piece
        self.assertEqual((g.kv["tokenizer.ggml.cls_token_id"], g.kv["tokenizer.ggml.seperator_token_id"]), (101, 102))
        # llama.cpp's create_tensor shapes for bert (fastest dimension first)
        dims = {"attn_q.weight": [8, 8], "attn_q.bias": [8], "attn_output.weight": [8, 8], "attn_output_norm.bias": [8],
                "ffn_up.weight": [8, 12], "ffn_up.bias": [12], "ffn_down.weight": [12, 8],
                "layer_output_norm.weight": [8]}
        self.assertEqual({t: g.tensors[f"blk.1.{t}"][0] for t in dims}, dims)
        globals_ = {"token_embd.weight": [8, 200], "token_types.weight": [8, 2], "position_embd.weight": [8, 16],
                    "token_embd_norm.weight": [8], "token_embd_norm.bias": [8]}
        self.assertEqual({t: g.tensors[t][0] for t in globals_}, globals_)
        self.assertEqual(len(g.tensors), 5 + 2 * 16)
        self.assertEqual(g.floats("blk.1.ffn_down.weight"), by_name["encoder.layer.1.output.dense.weight"])
        self.assertEqual(g.floats("blk.0.attn_output_norm.bias"),
                         by_name["encoder.layer.0.attention.output.LayerNorm.bias"])

    def test_gguf_errors(self):
        shape = bench.Shape(8, 1, 2, 2, 12, 200, 16, encoder=bench.Encoder(2))
        model = with_values([(n, d) for n, _, d in bench.bert_tensors(shape) if "intermediate" not in n])
        src, out = os.path.join(self.dir, "m.safetensors"), os.path.join(self.dir, "m.gguf")
        write_safetensors(src, model)
        r = subprocess.run([sys.executable, os.path.join(HERE, "write_gguf.py"), src, out, "--heads", "3"],
                           text=True, capture_output=True)
        self.assertEqual(r.returncode, 1)
        self.assertIn("--heads 3 does not split the model's width 8", r.stderr)
        r = subprocess.run([sys.executable, os.path.join(HERE, "write_gguf.py"), src, out, "--heads", "2"],
                           text=True, capture_output=True)
        self.assertEqual(r.returncode, 1)
        self.assertIn("tensor encoder.layer.0.intermediate.dense.weight is missing", r.stderr)
        self.assertFalse(os.path.exists(out))

    def test_printed_rows(self):
        """llama-embedding's printed rows, which its log thread can cut or garble: only well-formed ones count."""
        self.assertEqual(bench.parse_row("0.5,-1e-3,2", 3), [0.5, -0.001, 2.0])
        self.assertIsNone(bench.parse_row("0.5,-0.0308339-0.0308339", 3))
        self.assertIsNone(bench.parse_row("0.5,1", 3))

    def test_batch_rate(self):
        """llama-embedding's rate from its batch_decode stamps: every batch but the last, over first to last line."""
        log = ("0.00.160.001 I common_init_from_params: warming up the model with an empty run\n"
               "0.00.185.765 I batch_decode: n_tokens = 2048, n_seq = 16\n"
               "0.07.132.430 I batch_decode: n_tokens = 2048, n_seq = 16\n"
               "0.14.200.208 I llama_perf_context_print: prompt eval time =    7063.09 ms /  4096 tokens\n")
        self.assertAlmostEqual(bench.batch_rate(log, "x"), 16 / (7.132430 - 0.185765))
        minutes = "0.59.500.000 I batch_decode: n_tokens = 512, n_seq = 4\n1.00.500.000 I batch_decode: n_tokens = 512, n_seq = 4\n"
        self.assertAlmostEqual(bench.batch_rate(minutes, "x"), 4.0)
        with self.assertRaisesRegex(RuntimeError, "1 timed batch_decode line"):
            bench.batch_rate(log.split("\n")[1], "x")
        with self.assertRaisesRegex(RuntimeError, "do not advance"):
            bench.batch_rate(log.split("\n")[1] + "\n" + log.split("\n")[1], "x")

    def test_inputs(self):
        a = type("A", (), {"work": self.dir})
        tokens_file, text_file, ids = bench.encoder_inputs(a, "bertbase")
        e = bench.SHAPES["bertbase"].encoder
        self.assertEqual(len(ids), e.inputs)
        with open(tokens_file) as f:
            self.assertEqual([list(map(int, line.split(","))) for line in f.read().split()], ids)
        with open(text_file) as f:
            lines = f.read().split("\n")
        self.assertEqual(len(lines), e.inputs)
        for line, x in zip(lines, ids):
            self.assertEqual(len(x), e.tokens)
            self.assertEqual((x[0], x[-1]), (101, 102))
            self.assertTrue(all(104 <= t < 30522 for t in x[1:-1]))
            self.assertEqual(line, " ".join(f"w{t}" for t in x[1:-1]))
        self.assertEqual(len({tuple(x) for x in ids}), e.inputs)


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

    def test_deepseek_depth_rows(self):
        """A DeepSeek row after 4000 positions: its own type cell, the cache read in the ceiling %, no prefill, the
        issue-22 verdict (decode ≥ 1.3×, prefill not judged) and the compressed cache in the memory bound."""
        run = made_up_run()
        shape = bench.SHAPES["dsv2lite4L"]
        empty = dict(run["rows"][0], shape="dsv2lite4L", depth=0)
        deep = json.loads(json.dumps(dict(run["rows"][0], shape="dsv2lite4L", depth=4000)))
        deep.pop("mapped")
        for w in deep["windows"]:
            for r in w["llmc"].values():
                r["prefill"] = []
            for mode in w["llama"].values():
                for t in (1, 2):
                    mode.pop(f"prefill{t}")
        # 2t against llama.cpp's better mode (100 in both passes): 0.6 and 1.0
        deep["windows"][0]["llmc"]["2"]["decode"] = [60.0] * 3
        deep["windows"][1]["llmc"]["2"]["decode"] = [100.0] * 3
        run["rows"] = [empty, deep]
        run["header"]["depths"] = [0, 4000]
        text = rendered(run)
        rows = {}  # the main table's rows (the table of each pass's ratios follows it)
        for line in text.split("\n"):
            if line.startswith("| dsv2lite4L |"):
                rows.setdefault(line.split(" | ")[1], line)
        self.assertEqual(set(rows), {"q4_0", "q4_0 @ d4000"})
        self.assertIn("| met |", rows["q4_0"])  # prefill 1t at 1.11× is not judged for DeepSeek
        self.assertIn("not met: decode 2t (0.80×)", rows["q4_0 @ d4000"])
        pct1 = 200 * (bench.weight_bytes_per_token(shape, "q4_0") + bench.kv_cache_bytes(shape, "f16", 4000)) / 12e9
        self.assertIn(f"| {pct1:.0%} / ", rows["q4_0 @ d4000"])
        self.assertIn("| - / - | - / - | - / - |", rows["q4_0 @ d4000"])  # no prefill at a depth
        bound = bench.weight_bytes(shape, "q4_0") / 1e6 + 4 * 4096 * 576 * 2 / 1e6 + 5
        self.assertIn(f"| 80 ({bound:.0f}) |", rows["q4_0"])
        self.assertIn("rows marked @ dN", text)
        # 2t at 0.80×: llama.cpp read at pct2 / 0.8 of the ceiling, so 1.3× needs 1.3 / 0.8 × llmc's share
        pct2 = 80 * (bench.weight_bytes_per_token(shape, "q4_0") + bench.kv_cache_bytes(shape, "f16", 4000)) / 20e9
        self.assertIn(f"dsv2lite4L q4_0 @ d4000 2t {pct2 / 0.8 * 1.3:.0%}", text)
        self.assertNotIn("dsv2lite4L q4_0 1t", text)

    def test_ceiling_needed(self):
        self.assertAlmostEqual(bench.ceiling_needed(1.1, 0.8, 1.3), 0.8 / 1.1 * 1.3)
        self.assertIsNone(bench.ceiling_needed(1.3, 0.8, 1.3))  # met
        self.assertIsNone(bench.ceiling_needed(1.0, 0.8, None))  # no ratio-only target
        self.assertIsNone(bench.ceiling_needed(None, None, 1.3))

    def test_encoder_row(self):
        """An encoder row: its own table, llama.cpp's best batch size per pass, the 1.3× verdict, the agreement."""
        run = made_up_run()

        def window(llmc1, llama512, llama2048):
            llmc = {t: {"embed": [llmc1 * t] * 3, "load_ms": [400.0] * 3, "rss_mb": [600.0] * 3} for t in (1, 2)}
            llama = {"batch512": {"embed1": [llama512] * 6, "embed2": [2 * llama512] * 6},
                     "batch2048": {"embed1": [llama2048] * 6, "embed2": [2 * llama2048] * 6}}
            return {"start": "2026-12-06 04:00 UTC", "load": [0.5], "llmc": llmc, "llama": llama}
        # 1t: pass 1 6 / max(4, 3) = 1.5, pass 2 6 / max(4, 5) = 1.2 -> median 1.35; 2t: 12 / 8 and 12 / 10;
        # llama.cpp's number the median of its passes' best: 4.5 and 9
        run["rows"] = [{"shape": "bertbase", "type": "f32", "depth": 0,
                        "agreement": {"cosine_min": 0.9999991, "centred_cosine_min": 0.99992, "cosine_cross_max": 0.61},
                        "windows": [window(6.0, 4.0, 3.0), window(6.0, 4.0, 5.0)]}]
        run["header"]["llama_embed_batches"] = [512, 2048]
        s = bench.encoder_summary(run["rows"][0], [1, 2])
        self.assertEqual(s[1]["ratios"], [1.5, 1.2])
        self.assertAlmostEqual(s[1]["ratio"], 1.35)
        self.assertEqual(s[1]["batches"], ["batch512", "batch2048"])
        self.assertEqual(s[2]["ratios"], [1.5, 1.2])
        text = rendered(run)
        row = [line for line in text.split("\n") if line.startswith("| bertbase |")]
        self.assertEqual(len(row), 1)
        self.assertIn("| 6.00 / 12.00 | 4.50 / 9.00 | 1.35× / 1.35× | 1.50, 1.20 / 1.50, 1.20 | 512,2048 / 512,2048 "
                      "| met | 0.9999991 (0.99992; 0.610) | 600 | 400 |", row[0])
        self.assertNotIn("decode tok/s", text)  # no decoder rows: no decode table
        self.assertIn("met in every cell for 1 of 1 rows", text)
        run["rows"][0]["windows"][1]["llmc"][2]["embed"] = [9.0] * 3  # 2t: 1.5 and 0.9 -> 1.2
        self.assertIn("| not met: 2t (1.20×) |", rendered(json.loads(json.dumps(run))))


if __name__ == "__main__":
    unittest.main(argv=sys.argv[:1], verbosity=1)
