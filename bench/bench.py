#!/usr/bin/env python3
"""llmc speed bench: random-weight Llama models (stories110M shape, optionally TinyLlama-1.1B shape, a mixture of
experts moe1.9B, and dsv2lite4L: DeepSeek-V2-Lite's layers, MLA and DeepSeekMoE, 4 of them),
prefill (64-token prompt) and decode tok/s with 1 and 2 threads (the encoder shape bertbase: embeddings per second
of 32 inputs of 128 tokens, against llama.cpp's llama-embedding, in a table of its own), peak RSS, start-up time, and the
machine's read-bandwidth ceiling (bench/bandwidth.cpp) with the bandwidth limit (ceiling / weight bytes per
token). Stdlib only.

With --llama-cpp BUILD_DIR it runs llama.cpp side by side on the same weights (GGUF files written from the
bench's checkpoints by bench/write_gguf.py, other types by `llama-quantize --pure`), interleaved: in each of
--passes windows, for each shape and type, llama-bench right before and right after llmc's runs, with
`-mmp 0,1` (its better mode counts); llmc then measures what llama-bench measures (f16 KV cache, decode from
an empty context). Within a window each engine's number is the median of its runs; the table shows the
median over the windows of those numbers and of the per-window ratios, and the targets are judged on those
medians. --drop-caches (root) drops the page cache and compacts memory before every run. --depths 0,4000 adds
rows of decode after 4000 positions (llama-bench -p 0 -d 4000; llmc a 4000-token prompt in each run).

Writes the table to bench/results.md (or --out), every sample to the run's .json beside it, and with
--readme FILE the same table and verdicts into FILE between the markers <!-- bench:begin --> and
<!-- bench:end -->. --render RUN.json redraws them from a run's .json without measuring.
Without --llama-cpp, decode follows the prompt (in the same run) over llmc's default fp32 KV cache unless
--kv-cache f16 --decode-prompt 1 is given, and --engines FILE.json (bench/engines/README.md) supplies other
engines' numbers measured earlier."""
import argparse
import datetime
import json
import math
import os
import re
import shlex
import statistics
import struct
import subprocess
import sys
import time
from typing import NamedTuple, Optional

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, HERE)
import write_gguf  # noqa: E402  (the synthetic vocabularies' special ids)

class DeepSeek(NamedTuple):
    """A DeepSeek-V2 shape's sizes beyond a Llama's (family deepseek_v2): multi-head latent attention (q_proj
    straight, no q_lora), DeepSeekMoE (leading dense layers, routed and shared experts), YaRN."""
    kv_lora: int  # the cached latent
    nope: int  # q/k head values without rope
    rope: int  # q/k head values with rope (the shared k_rope)
    v_head: int
    shared: int  # shared experts, each of the expert width
    dense_layers: int  # leading layers with a dense MLP
    dense_ffn: int
    yarn: tuple  # rope_scaling: factor, original_max_position_embeddings, mscale (= mscale_all_dim)
    gguf_context: int  # config.json's max_position_embeddings, the GGUF's context_length


class Recurrent(NamedTuple):
    """A recurrent shape's mixer (issue 24): no attention and no KV cache; llmc's spec is its published model's in
    archs/ (the bench's name and the synthetic vocabulary's special tokens put in)."""
    kind: str  # "mamba", "mamba2" or "rwkv" (RWKV-4)
    arch: str  # archs/<arch>.yaml
    inner: int  # Mamba's d_inner, RWKV's attention_hidden_size
    state: int = 0  # d_state
    conv: int = 0  # conv_kernel
    dt_rank: int = 0  # Mamba: dt_rank; Mamba 2: heads
    groups: int = 0  # Mamba 2: n_groups


class Encoder(NamedTuple):
    """An encoder shape's run (issue 23, BERT): embeddings of `inputs` inputs of `tokens` tokens each ([CLS] ... [SEP])
    per run, pooled by `pooling` and L2-normalised, as llama.cpp's llama-embedding gives them."""
    token_types: int
    inputs: int = 32
    tokens: int = 128
    pooling: str = "mean"


class Shape(NamedTuple):
    dim: int
    layers: int
    heads: int
    kv_heads: int
    ffn: int  # the MLP width; of a mixture of experts, each expert's
    vocab: int
    context: int  # llmc's max_context
    experts: int = 0
    top_k: int = 0
    deepseek: Optional[DeepSeek] = None
    recurrent: Optional[Recurrent] = None
    encoder: Optional[Encoder] = None


SHAPES = {
    "stories110M": Shape(768, 12, 12, 12, 2048, 32000, 1024),
    "tinyllama1.1B": Shape(2048, 22, 32, 4, 5632, 32000, 2048),
    # OLMoE-1B-7B's layer shape (64 experts of width 1024, 8 per token), 4 of its 16 layers: 1.88B parameters,
    # 0.32B active. Mixtral's routing (llama.cpp runs Mixtral-style "llama" GGUFs with experts).
    "moe1.9B": Shape(2048, 4, 16, 16, 1024, 50304, 4096, 64, 8),
    # DeepSeek-V2-Lite's layer shape (issue 22), 4 of its 27 layers: hidden 2048, 16 heads of MLA (latent 512,
    # nope 128, rope 64, v 128), layer 0 dense (10944), then 64 routed experts of 1408 (top 6, softmax, not
    # renormalised) + 2 shared; vocabulary 102400, YaRN as its config (factor 40 over 4096). 2.25B parameters,
    # 0.54B read per token. llmc's context 4096 (decode after 4000 positions fits).
    "dsv2lite4L": Shape(2048, 4, 16, 16, 1408, 102400, 4096, 64, 6,
                        DeepSeek(512, 128, 64, 128, 2, 1, 10944, (40.0, 4096, 0.707), 163840)),
    # Recurrent models (issue 24), their published shapes: state-spaces/mamba-130m-hf, state-spaces/mamba2-130m
    # (d_state 128, 24 heads of 64, 1 group) and RWKV/rwkv-4-169m-pile (llmc only: llama.cpp has no RWKV-4).
    "mamba130M": Shape(768, 24, 1, 1, 0, 50280, 2048, recurrent=Recurrent("mamba", "mamba-130m", 1536, 16, 4, 48)),
    "mamba2_130M": Shape(768, 24, 1, 1, 0, 50288, 2048,
                         recurrent=Recurrent("mamba2", "mamba2-130m", 1536, 128, 4, 24, 1)),
    "rwkv169M": Shape(768, 12, 1, 1, 3072, 50277, 1024, recurrent=Recurrent("rwkv", "rwkv-4-169m-pile", 768)),
    # An encoder (issue 23): bert-base-uncased's shape as a BertModel (no MLM head, no pooler: what llama.cpp's
    # converter keeps), 512 positions, 2 token types; embeddings of 32 inputs of 128 tokens per run.
    "bertbase": Shape(768, 12, 12, 12, 3072, 30522, 512, encoder=Encoder(2)),
}
# Types measured by default for a shape (the MoE targets are at q8_0 and q4_0).
DEFAULT_TYPES = {"moe1.9B": ["q8_0", "q4_0"], "dsv2lite4L": ["q8_0", "q4_0"], "mamba130M": ["f32", "q8_0"],
                 "mamba2_130M": ["f32", "q8_0"], "rwkv169M": ["f32", "q8_0"], "bertbase": ["f32", "f16", "q8_0"]}


def llama_cpp_runs(shape):
    """Whether llama.cpp runs the shape's family (it has no RWKV-4: RWKV rows are judged against the ceiling)."""
    return not (shape.recurrent and shape.recurrent.kind == "rwkv")


def experts_of(shape):
    """(experts, experts per token), (0, 0) for a dense shape."""
    return shape.experts, shape.top_k


# Fallback when neither --llama-cpp nor --engines is given: the engine numbers quoted in issue 6 (measured on
# another 2-core machine without AVX-512). Ratios against them are indicative only.
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
GGUF_TYPE = {"f32": "F32", "f16": "F16", "bf16": "BF16", "q8_0": "Q8_0", "q4_0": "Q4_0"}
# llama.cpp's own K-quant mixes (issue 25): llama-quantize's default recipes for these file types (Q4_K_M: Q4_K
# with Q6_K for some matrices). llmc runs the very GGUF (its spec from `llmc import`, the matrices as stored);
# bytes per token are counted from the file's tensors.
GGUF_MIXES = {"q4_k_m": "Q4_K_M", "q5_k_m": "Q5_K_M", "q6_k": "Q6_K"}
# Their decode target (issue 25): at least this ratio to llama.cpp at 1 and 2 threads, no ceiling alternative.
KQUANT_DECODE_RATIO = 1.3
# ggml_type -> (values per block, bytes per block), the types such files hold.
GGML_BLOCKS = {0: (1, 4), 1: (1, 2), 30: (1, 2), 2: (32, 18), 3: (32, 20), 6: (32, 22), 7: (32, 24), 8: (32, 34),
               10: (256, 84), 11: (256, 110), 12: (256, 144), 13: (256, 176), 14: (256, 210)}
# The targets (issue 27): every cell at least this ratio to llama.cpp, or decode at this share of the ceiling.
TARGET_RATIO, TARGET_CEILING = 1.2, 0.90
# A mixture of experts (issue 21): decode at least 1.3× llama.cpp AND at 70% of the bandwidth limit of the
# bytes of the experts it reads; prefill at least 1.2×.
MOE_DECODE_RATIO, MOE_CEILING = 1.3, 0.70
# An encoder (issue 23): embeddings per second at least this ratio to llama.cpp's llama-embedding, 1 and 2 threads.
ENCODER_RATIO = 1.3
# DeepSeek-V2-Lite's layers (issue 22): decode at least 1.3× llama.cpp, after an empty context and after 4,000
# positions (prefill is shown, not a target).
DEEPSEEK_DECODE_RATIO = 1.3
MARK_BEGIN, MARK_END = "<!-- bench:begin -->", "<!-- bench:end -->"


def sh(cmd, **kw):
    return subprocess.run(cmd, check=True, text=True, capture_output=True, **kw)


def log(msg):
    print(msg, file=sys.stderr, flush=True)


def now():
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")


def load_average(which=0):
    """The 1-minute (which=0) or 5-minute (1) load average."""
    with open("/proc/loadavg") as f:
        return float(f.read().split()[which])


def wait_for_quiet(limit):
    """Waits until the 5-minute load average is under `limit` (other work on the machine done)."""
    while load_average(1) >= limit:
        log(f"waiting: 5-minute load average {load_average(1):.2f} >= {limit} (--wait-load)")
        time.sleep(60)


def arch_yaml(name, shape):
    if shape.encoder:
        return bert_yaml(name, shape)
    if shape.deepseek:
        return deepseek_yaml(name, shape)
    if shape.recurrent:
        return recurrent_yaml(name, shape)
    dim, layers, heads, kv, ffn, vocab, ctx = shape[:7]
    experts, top_k = experts_of(shape)
    if experts:
        mlp = f"""mlp:
  kind: moe
  activation: silu
  intermediate_size: {ffn}
  bias: false
  experts: {{count: {experts}, top_k: {top_k}, routing: softmax_topk, renormalize: true}}"""
        ffn_tensors = """    router: model.layers.{i}.block_sparse_moe.gate.weight
    expert_gate: model.layers.{i}.block_sparse_moe.experts.{e}.w1.weight
    expert_up: model.layers.{i}.block_sparse_moe.experts.{e}.w3.weight
    expert_down: model.layers.{i}.block_sparse_moe.experts.{e}.w2.weight"""
    else:
        mlp = f"""mlp:
  kind: gated
  activation: silu
  intermediate_size: {ffn}
  bias: false"""
        ffn_tensors = """    gate: model.layers.{i}.mlp.gate_proj.weight
    up: model.layers.{i}.mlp.up_proj.weight
    down: model.layers.{i}.mlp.down_proj.weight"""
    return f"""# Random-weight Llama{' MoE' if experts else ''} of the {name} shape, written by bench/bench.py.
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
{mlp}
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
{ffn_tensors}
"""


def deepseek_yaml(name, shape):
    """As `llmc import` makes archs/deepseek-v2-lite.yaml from DeepSeek-V2-Lite's config.json, with this shape's
    sizes and the synthetic vocabulary's special tokens."""
    d = shape.deepseek
    factor, original, mscale = d.yarn
    return f"""# Random-weight DeepSeek-V2 of the {name} shape (DeepSeek-V2-Lite's layers), written by bench/bench.py.
llmc: 1
name: bench_{name.replace('.', '_')}
family: "deepseek_v2"
model:
  vocab_size: {shape.vocab}
  hidden_size: {shape.dim}
  num_layers: {shape.layers}
  max_context: {shape.context}
  tied_embeddings: false
norm: {{kind: rmsnorm, weight: plain, bias: false, eps: 1e-06}}
attention:
  kind: mla
  mla: {{kv_lora_rank: {d.kv_lora}, v_head_dim: {d.v_head}, norm_eps: 1e-06}}
  heads: {shape.heads}
  kv_heads: {shape.heads}
  head_dim: {d.nope + d.rope}
  qkv: separate
  bias: {{q: false, k: false, v: false, o: false}}
positions:
  kind: rope
  theta: 10000.0
  pairing: interleaved
  rotary_dim: {d.rope}
  scaling: {{type: yarn, factor: {factor}, original_max_positions: {original}, beta_fast: 32.0, beta_slow: 1.0, mscale: {mscale}, mscale_all_dim: {mscale}}}
mlp:
  kind: moe
  activation: silu
  intermediate_size: {shape.ffn}
  bias: false
  experts: {{count: {shape.experts}, top_k: {shape.top_k}, routing: softmax_topk, renormalize: false}}
  shared_expert: {{intermediate_size: {d.shared * shape.ffn}, gate: false}}
  dense_layers: {{layers: [{', '.join(str(i) for i in range(d.dense_layers))}], intermediate_size: {d.dense_ffn}}}
tokens: {{bos: 1, eos: 2, add_bos: true}}
weights:
  embed: "model.embed_tokens.weight"
  final_norm: "model.norm.weight"
  lm_head: "lm_head.weight"
  layer:
    attn_norm: "model.layers.{{i}}.input_layernorm.weight"
    down: "model.layers.{{i}}.mlp.down_proj.weight"
    expert_down: "model.layers.{{i}}.mlp.experts.{{e}}.down_proj.weight"
    expert_gate: "model.layers.{{i}}.mlp.experts.{{e}}.gate_proj.weight"
    expert_up: "model.layers.{{i}}.mlp.experts.{{e}}.up_proj.weight"
    ffn_norm: "model.layers.{{i}}.post_attention_layernorm.weight"
    gate: "model.layers.{{i}}.mlp.gate_proj.weight"
    kv_a: "model.layers.{{i}}.self_attn.kv_a_proj_with_mqa.weight"
    kv_a_norm: "model.layers.{{i}}.self_attn.kv_a_layernorm.weight"
    kv_b: "model.layers.{{i}}.self_attn.kv_b_proj.weight"
    o: "model.layers.{{i}}.self_attn.o_proj.weight"
    q: "model.layers.{{i}}.self_attn.q_proj.weight"
    router: "model.layers.{{i}}.mlp.gate.weight"
    shared_down: "model.layers.{{i}}.mlp.shared_experts.down_proj.weight"
    shared_gate: "model.layers.{{i}}.mlp.shared_experts.gate_proj.weight"
    shared_up: "model.layers.{{i}}.mlp.shared_experts.up_proj.weight"
    up: "model.layers.{{i}}.mlp.up_proj.weight"
"""


def recurrent_yaml(name, shape):
    """The published model's spec from archs/, renamed, with the synthetic vocabulary's BOS and EOS."""
    path = os.path.join(ROOT, "archs", shape.recurrent.arch + ".yaml")
    with open(path) as f:
        text = f.read()
    text, renamed = re.subn(r'(?m)^name: .*$', f"name: bench_{name.replace('.', '_')}", text)
    text, retokened = re.subn(r'(?m)^tokens: .*$', "tokens: {bos: 1, eos: 2, add_bos: false}", text)
    if renamed != 1 or retokened != 1:
        raise SystemExit(f"bench: {path}: expected one 'name:' and one 'tokens:' line")
    return f"# Random-weight {shape.recurrent.kind} of the {name} shape: {path}, written by bench/bench.py.\n" + text


def bert_yaml(name, shape):
    """A BertModel checkpoint's spec, as `llmc import` makes it from its config.json (no "bert." prefix, no MLM
    head: `logits: {classifier: false}`), with the shape's sizes and without the pooler (llama.cpp's converter drops
    it, so the GGUF has none)."""
    p = "encoder.layer.{i}."
    roles = {"q": "attention.self.query", "k": "attention.self.key", "v": "attention.self.value",
             "o": "attention.output.dense", "attn_norm": "attention.output.LayerNorm", "up": "intermediate.dense",
             "down": "output.dense", "ffn_norm": "output.LayerNorm"}
    layer = "".join(f'    {role}: "{p}{hf}.weight"\n    {role}_bias: "{p}{hf}.bias"\n' for role, hf in roles.items())
    return f"""# Random-weight BERT encoder (a BertModel) of the {name} shape, written by bench/bench.py.
llmc: 1
name: bench_{name.replace('.', '_')}
family: bert
model:
  kind: encoder
  vocab_size: {shape.vocab}
  hidden_size: {shape.dim}
  num_layers: {shape.layers}
  max_context: {shape.context}
  tied_embeddings: true
  embedding_norm: true
  token_types: {shape.encoder.token_types}
norm: {{kind: layernorm, weight: plain, bias: true, eps: 1e-12}}
block:
  residual: post_ln
attention:
  heads: {shape.heads}
  kv_heads: {shape.heads}
  head_dim: {shape.dim // shape.heads}
  qkv: separate
  bias: {{q: true, k: true, v: true, o: true}}
  mask: bidirectional
positions:
  kind: learned
  max_positions: {shape.context}
mlp:
  kind: plain
  activation: gelu
  intermediate_size: {shape.ffn}
  bias: true
logits:
  classifier: false
tokens: {{bos: 101, eos: 102, add_bos: true}}
weights:
  embed: "embeddings.word_embeddings.weight"
  embed_norm: "embeddings.LayerNorm.weight"
  embed_norm_bias: "embeddings.LayerNorm.bias"
  positions: "embeddings.position_embeddings.weight"
  lm_head: tied
  token_types: "embeddings.token_type_embeddings.weight"
  layer:
{layer}"""


def bert_tensors(shape):
    """[(name, init, shape)] of a BertModel checkpoint (gen_weights --list): matrices and biases uniform in
    ±1.7/sqrt(fan_in) (a bias's fan_in its length), LayerNorm weights 1 ± 0.1."""
    dim, ffn = shape.dim, shape.ffn
    ts = [("embeddings.word_embeddings.weight", "matrix", [shape.vocab, dim]),
          ("embeddings.position_embeddings.weight", "matrix", [shape.context, dim]),
          ("embeddings.token_type_embeddings.weight", "matrix", [shape.encoder.token_types, dim]),
          ("embeddings.LayerNorm.weight", "norm", [dim]), ("embeddings.LayerNorm.bias", "matrix", [dim])]
    linear = [("attention.self.query", dim, dim), ("attention.self.key", dim, dim), ("attention.self.value", dim, dim),
              ("attention.output.dense", dim, dim), ("intermediate.dense", ffn, dim), ("output.dense", dim, ffn)]
    for i in range(shape.layers):
        p = f"encoder.layer.{i}."
        for name, rows, cols in linear:
            ts += [(p + name + ".weight", "matrix", [rows, cols]), (p + name + ".bias", "matrix", [rows])]
            if name in ("attention.output.dense", "output.dense"):  # each residual sum's LayerNorm follows
                ln = p + name.replace("dense", "LayerNorm")
                ts += [(ln + ".weight", "norm", [dim]), (ln + ".bias", "matrix", [dim])]
    return ts


def conv_channels(r):
    """Channels of a Mamba layer's causal convolution: x, and for Mamba 2 also B and C of every group."""
    return r.inner + (2 * r.groups * r.state if r.kind == "mamba2" else 0)


def recurrent_tensors(shape):
    """[(name, init, shape)] of a recurrent shape's checkpoint, Hugging Face's names as archs/ maps them; init is
    gen_weights' (--list): matrix, norm, a_log, dt_bias or mix."""
    r, dim, vocab = shape.recurrent, shape.dim, shape.vocab
    if r.kind == "rwkv":
        ts = [("rwkv.embeddings.weight", "matrix", [vocab, dim]), ("rwkv.blocks.0.pre_ln.weight", "norm", [dim]),
              ("rwkv.blocks.0.pre_ln.bias", "matrix", [dim])]
        for i in range(shape.layers):
            p = f"rwkv.blocks.{i}."
            ts += [(p + f"{ln}.{w}", "norm" if w == "weight" else "matrix", [dim])
                   for ln in ("ln1", "ln2") for w in ("weight", "bias")]
            ts += [(p + f"attention.{m}.weight", "matrix", [r.inner, dim]) for m in ("key", "value", "receptance")]
            ts += [(p + "attention.output.weight", "matrix", [dim, r.inner]),
                   (p + "attention.time_decay", "matrix", [r.inner]), (p + "attention.time_first", "norm", [r.inner])]
            ts += [(p + f"attention.time_mix_{m}", "mix", [1, 1, dim]) for m in ("key", "value", "receptance")]
            ts += [(p + "feed_forward.key.weight", "matrix", [shape.ffn, dim]),
                   (p + "feed_forward.value.weight", "matrix", [dim, shape.ffn]),
                   (p + "feed_forward.receptance.weight", "matrix", [dim, dim])]
            ts += [(p + f"feed_forward.time_mix_{m}", "mix", [1, 1, dim]) for m in ("key", "receptance")]
        return ts + [("rwkv.ln_out.weight", "norm", [dim]), ("rwkv.ln_out.bias", "matrix", [dim]),
                     ("head.weight", "matrix", [vocab, dim])]
    ts = [("backbone.embeddings.weight", "matrix", [vocab, dim])]
    conv_width = conv_channels(r)
    for i in range(shape.layers):
        p = f"backbone.layers.{i}."
        m = p + "mixer."
        ts += [(p + "norm.weight", "norm", [dim]), (m + "conv1d.weight", "matrix", [conv_width, 1, r.conv]),
               (m + "conv1d.bias", "matrix", [conv_width]), (m + "out_proj.weight", "matrix", [dim, r.inner])]
        if r.kind == "mamba":
            ts += [(m + "in_proj.weight", "matrix", [2 * r.inner, dim]), (m + "A_log", "a_log", [r.inner, r.state]),
                   (m + "D", "norm", [r.inner]), (m + "x_proj.weight", "matrix", [r.dt_rank + 2 * r.state, r.inner]),
                   (m + "dt_proj.weight", "matrix", [r.inner, r.dt_rank]), (m + "dt_proj.bias", "dt_bias", [r.inner])]
        else:
            heads = r.dt_rank
            ts += [(m + "in_proj.weight", "matrix", [2 * r.inner + 2 * r.groups * r.state + heads, dim]),
                   (m + "A_log", "a_log", [heads]), (m + "D", "norm", [heads]), (m + "dt_bias", "dt_bias", [heads]),
                   (m + "norm.weight", "norm", [r.inner])]
    return ts + [("backbone.norm_f.weight", "norm", [dim])]


def listed_tensors(shape):
    """The tensors of a shape gen_weights writes from a --list file (recurrent, encoder), else None."""
    if shape.recurrent:
        return recurrent_tensors(shape)
    if shape.encoder:
        return bert_tensors(shape)
    return None


def recurrent_parameter_counts(shape):
    """parameter_counts of a recurrent or encoder shape, from its tensors: matrices are the 2-D tensors whose rows
    are whole blocks of 32 (what llmc quantises), the rest fp32; a tied classifier reads the embedding as a matrix.
    (An encoder reads every matrix once per run, not per token: its per-token counts are not used.)"""
    matrices = fp32 = 0
    for _, _, dims in listed_tensors(shape):
        if len(dims) == 2 and dims[1] % 32 == 0 and dims[0] > 1:
            matrices += math.prod(dims)
        else:
            fp32 += math.prod(dims)
    # An untied classifier (RWKV's head) is read whole, the embedding only a row of it.
    per_token = matrices - (shape.vocab * shape.dim if shape.recurrent and shape.recurrent.kind == "rwkv" else 0)
    return {"matrices": matrices, "fp32": fp32, "matrices_per_token": per_token, "fp32_per_token": fp32 + shape.dim}


def parameter_counts(shape):
    """{"matrices", "fp32", "matrices_per_token", "fp32_per_token"}: the values of the matrices (stored in the
    type measured; MLA's kv_b too, as the per-head matrices its absorbed attention reads) and of the tensors llmc
    keeps in fp32 (norms, routers), in all and read by one decode step (of a mixture of experts: the experts a token visits and
    the shared ones; one embedding row, counted as fp32)."""
    if shape.recurrent or shape.encoder:
        return recurrent_parameter_counts(shape)
    dim, layers, heads, kv, ffn, vocab = shape[:6]
    experts, top_k = experts_of(shape)
    d = shape.deepseek
    if d:
        kv_b = heads * (d.nope + d.v_head) * d.kv_lora
        attention = heads * (d.nope + d.rope) * dim + (d.kv_lora + d.rope) * dim + dim * heads * d.v_head + kv_b
        norms = 2 * dim + d.kv_lora
        dense = d.dense_layers
        moe = layers - dense
        mlp_all = dense * 3 * dim * d.dense_ffn + moe * 3 * dim * ffn * (experts + d.shared)
        mlp_token = dense * 3 * dim * d.dense_ffn + moe * 3 * dim * ffn * (top_k + d.shared)
        fp32 = layers * norms + moe * experts * dim + dim
    else:
        kv_dim = dim // heads * kv
        attention = 2 * dim * dim + 2 * kv_dim * dim
        mlp_all = layers * 3 * dim * ffn * (experts or 1)
        mlp_token = layers * 3 * dim * ffn * (top_k or 1)
        fp32 = layers * (2 * dim + experts * dim) + dim
    return {"matrices": layers * attention + mlp_all + 2 * vocab * dim, "fp32": fp32,
            "matrices_per_token": layers * attention + mlp_token + vocab * dim, "fp32_per_token": fp32 + dim}


def weight_bytes_per_token(shape, dtype):
    """Bytes of weights one decode step reads: every matrix once (of a mixture of experts: the experts a token
    visits, and the fp32 router), one embedding row, the norms."""
    c = parameter_counts(shape)
    return c["matrices_per_token"] * BYTES[dtype] + c["fp32_per_token"] * 4


def weight_bytes(shape, dtype):
    """Bytes of the weights as llmc holds them: the matrices in the type, the rest fp32."""
    c = parameter_counts(shape)
    return c["matrices"] * BYTES[dtype] + c["fp32"] * 4


def params(shape):
    c = parameter_counts(shape)
    return c["matrices"] + c["fp32"]


def kv_row_values(shape):
    """Values one layer caches per position: keys and values, or MLA's latent and k_rope."""
    if shape.deepseek:
        return shape.deepseek.kv_lora + shape.deepseek.rope
    if shape.recurrent or shape.encoder:
        return 0  # a fixed-size state instead; an encoder keeps none between runs
    return 2 * (shape.dim // shape.heads * shape.kv_heads)


def recurrent_state_bytes(shape):
    """A recurrent shape's per-sequence state (fp32), read and written by every step: per layer Mamba's SSM state
    (d_inner × d_state; Mamba 2's heads × head size × d_state is the same count) and convolution window (kernel - 1
    rows of its channels), RWKV-4's five rows (time-mix shift, numerator, denominator, max exponent; channel-mix
    shift)."""
    r = shape.recurrent
    if r.kind == "rwkv":
        return shape.layers * 5 * shape.dim * 4
    return shape.layers * (r.inner * r.state + conv_channels(r) * (r.conv - 1)) * 4


def kv_cache_bytes(shape, kv_cache="f32", positions=None):
    """The KV cache of the whole context (or of the first `positions`); of a recurrent shape its fixed state."""
    if shape.recurrent:
        return recurrent_state_bytes(shape)
    ctx = shape.context if positions is None else positions
    return shape.layers * ctx * kv_row_values(shape) * (2 if kv_cache == "f16" else 4)


def tokens_for(shape, n):
    return ",".join(str(1 + (i * 7919) % (shape[5] - 1)) for i in range(n))


def median(values):
    return statistics.median(values) if values else None


# ---------------------------------------------------------------------------------------------- measuring


def drop_caches():
    """Page cache dropped and memory compacted, so each run starts from the same state (needs root)."""
    os.sync()
    for path, value in (("/proc/sys/vm/drop_caches", "3"), ("/proc/sys/vm/compact_memory", "1")):
        with open(path, "w") as f:
            f.write(value)


def compile_tools(a):
    cxx = os.environ.get("CXX", "c++")
    tools = {}
    for tool, flags in (("gen_weights", ["-O2", "-march=native"]), ("bandwidth", ["-O2", "-march=native", "-fopenmp"])):
        exe = os.path.join(a.work, tool)
        src = os.path.join(HERE, tool + ".cpp")
        if not os.path.exists(exe) or os.path.getmtime(exe) < os.path.getmtime(src):
            log(f"compiling {tool}")
            sh([cxx, "-std=c++17", *flags, src, "-o", exe])
        tools[tool] = exe
    return tools


def measure_bandwidth(exe, threads):
    """One reading of the ceiling: {threads: GB/s}."""
    out = sh([exe, "1024", str(max(threads))])
    reading = {}
    for line in out.stdout.split("\n"):
        if line.strip():
            t, g = line.split()
            reading[int(t)] = float(g)
    log("  " + ", ".join(f"{g:.1f} GB/s ({t}t)" for t, g in reading.items()))
    return {"stamp": now(), "gbs": reading}


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


def measure_llmc(a, binary, weights, shape, threads, depth=0):
    """{threads: {"prefill": [...], "decode": [...], "load_ms": [...], "first_ms": [...], "rss_mb": [...]}}, one
    value per run; checks every run produced the same tokens. At a depth, each run prefills `depth` tokens and
    decodes after them (its prefill rate is kept as "depth_prefill", "prefill" left empty: llama-bench's -d runs
    measure no prefill)."""
    if depth:
        return measure_llmc_at_depth(a, binary, weights, shape, threads, depth)
    tokens = tokens_for(shape, a.prompt)
    res, ids = {}, None
    for t in threads:
        s = {k: [] for k in ("prefill", "decode", "load_ms", "first_ms", "rss_mb")}
        for _ in range(a.reps):
            if a.drop_caches:
                drop_caches()
            # With decode in runs of its own, the prefill run stops after 2 tokens (the rate needs 1 decode step).
            r = run_once(binary, weights, tokens, 2 if a.decode_prompt else a.new, t)
            if a.decode_prompt:
                d = run_once(binary, weights, tokens_for(shape, a.decode_prompt), a.new, t)
                r["decode"], r["rss_mb"], r["ids"] = d["decode"], max(r["rss_mb"], d["rss_mb"]), (r["ids"], d["ids"])
            if ids is not None and r["ids"] != ids:
                raise RuntimeError(f"{binary}: output differs between runs ({t} threads)")
            ids = r["ids"]
            for k in s:
                s[k].append(r[k])
        res[t] = s
        log(f"    llmc {t}t: prefill {median(s['prefill']):.1f} decode {median(s['decode']):.1f} tok/s (medians of "
            f"{a.reps}), RSS {max(s['rss_mb']):.0f} MB, load {min(s['load_ms']):.0f} ms")
    return res, ids


def measure_llmc_at_depth(a, binary, weights, shape, threads, depth):
    """Decode after `depth` positions: each run a `depth`-token prompt, then a.new - 1 decode steps from position
    `depth` on, as llama-bench -d depth -n (a.new - 1) decodes (--depth-reps runs: each pays the prefill)."""
    tokens = tokens_for(shape, depth)
    res, ids = {}, None
    for t in threads:
        s = {k: [] for k in ("prefill", "depth_prefill", "decode", "load_ms", "first_ms", "rss_mb")}
        for _ in range(a.depth_reps):
            if a.drop_caches:
                drop_caches()
            r = run_once(binary, weights, tokens, a.new, t)
            if ids is not None and r["ids"] != ids:
                raise RuntimeError(f"{binary}: output differs between runs ({t} threads, depth {depth})")
            ids = r["ids"]
            r["depth_prefill"] = r.pop("prefill")
            for k in s:
                if k in r:
                    s[k].append(r[k])
        res[t] = s
        log(f"    llmc {t}t after {depth} positions: decode {median(s['decode']):.1f} tok/s (median of "
            f"{a.depth_reps}); its prefill {median(s['depth_prefill']):.1f} tok/s, "
            f"{median(s['first_ms']) / 1e3:.1f} s; RSS {max(s['rss_mb']):.0f} MB")
    return res, ids


def measure_mapped(a, binary, yaml_path, weights, shape, typ, threads, ids):
    """Start-up from the file `llmc quantize` wrote (matrices mapped, not converted)."""
    pre = os.path.join(a.work, f"{os.path.basename(binary)}.llmc.safetensors")
    sh([a.llmc, "quantize", yaml_path, "--weights", weights, "-o", pre, "--dtype", dtype_arg(typ)])
    try:
        runs = [run_once(binary, pre, tokens_for(shape, a.prompt), 2 if a.decode_prompt else a.new, min(threads))
                for _ in range(a.reps)]
    finally:
        os.remove(pre)
    if any(r["ids"] != (ids[0] if a.decode_prompt else ids) for r in runs):
        raise RuntimeError(f"{binary}: output from the llmc quantize file differs from the checkpoint's")
    return {"load_ms": min(r["load_ms"] for r in runs), "first_ms": min(r["first_ms"] for r in runs),
            "rss_mb": max(r["rss_mb"] for r in runs)}


def gguf_tensor_bytes(path):
    """{tensor name: bytes of its data} of a GGUF file (v2/v3), read from its header."""
    with open(path, "rb") as f:
        data = f.read(64 << 20)  # the header of a vocabulary-sized model fits
    pos = 0

    def take(fmt):
        nonlocal pos
        v = struct.unpack_from(fmt, data, pos)
        pos += struct.calcsize(fmt)
        return v

    def skip_value(t):
        nonlocal pos
        if t == 8:
            (n,) = take("<Q")
            pos += n
        elif t == 9:
            et, n = take("<IQ")
            for _ in range(n):
                skip_value(et)
        else:
            pos += {0: 1, 1: 1, 2: 2, 3: 2, 4: 4, 5: 4, 6: 4, 7: 1, 10: 8, 11: 8, 12: 8}[t]

    if data[:4] != b"GGUF":
        raise SystemExit(f"bench: {path} is not a GGUF file")
    pos = 4
    _, n_tensors, n_kv = take("<IQQ")
    for _ in range(n_kv):
        (n,) = take("<Q")
        pos += n
        skip_value(take("<I")[0])
    sizes = {}
    for _ in range(n_tensors):
        (n,) = take("<Q")
        name = data[pos:pos + n].decode()
        pos += n
        (dims,) = take("<I")
        count = math.prod(take(f"<{dims}Q"))
        gtype, _ = take("<IQ")
        if gtype not in GGML_BLOCKS:
            raise SystemExit(f"bench: {path}: tensor {name} has ggml type {gtype}, not one bench.py knows")
        per_block, block_bytes = GGML_BLOCKS[gtype]
        sizes[name] = count // per_block * block_bytes
    return sizes


def gguf_weight_bytes(path, vocab):
    """(bytes per decoded token, bytes in all) of a GGUF's tensors: every tensor once, of the embedding one row
    (unless it is also the classifier: no output.weight)."""
    sizes = gguf_tensor_bytes(path)
    total = sum(sizes.values())
    embed = sizes.get("token_embd.weight", 0)
    per_token = total if "output.weight" not in sizes else total - embed + embed // vocab
    return per_token, total


def dtype_arg(typ):
    return typ if typ in ("q8_0", "q4_0") else "as-stored"


def llama_tool(a, name):
    exe = os.path.join(a.llama_cpp, "bin", name)
    if not os.access(exe, os.X_OK):
        raise SystemExit(f"bench: {exe} not found (build llama.cpp as bench/engines/README.md says)")
    return exe


def ensure_gguf(a, shape_name, typ, f32_weights):
    """The GGUF of the bench's weights for llama.cpp: F32 written by write_gguf.py, the rest llama-quantize --pure."""
    shape = SHAPES[shape_name]
    f32 = os.path.join(a.work, f"{shape_name}-F32.gguf")
    if not os.path.exists(f32):
        log(f"writing {f32}")
        d = shape.deepseek
        deepseek = ["--rms-eps", "1e-6", "--yarn", *map(str, d.yarn)] if d else []
        sh([sys.executable, os.path.join(HERE, "write_gguf.py"), f32_weights, f32, "--heads", str(shape.heads),
            "--context", str(d.gguf_context if d else shape.context), "--experts-per-token",
            str(experts_of(shape)[1] or 2), *deepseek])
    if typ == "f32":
        return f32
    if typ in GGUF_MIXES:
        out = os.path.join(a.work, f"{shape_name}-{GGUF_MIXES[typ]}.gguf")
        if not os.path.exists(out):
            log(f"writing {out}")
            sh([llama_tool(a, "llama-quantize"), f32, out + ".tmp", GGUF_MIXES[typ]])
            os.rename(out + ".tmp", out)
        return out
    out = os.path.join(a.work, f"{shape_name}-{GGUF_TYPE[typ]}-pure.gguf")
    if not os.path.exists(out):
        log(f"writing {out}")
        # --pure: every matrix in the type, as llmc's --dtype. Mamba's dt_proj (48 columns, not a whole block) stops
        # --pure and llama-quantize's Q8_0 / Q4_0 (no fallback type): it stays F32, as llmc keeps it (then --pure
        # cannot be given, and the default mix of a Q8_0 / Q4_0 file puts every other matrix in the type too).
        pure = ["--tensor-type", "ssm_dt=f32"] if shape.recurrent else ["--pure"]
        sh([llama_tool(a, "llama-quantize"), *pure, f32, out + ".tmp", GGUF_TYPE[typ]])
        os.rename(out + ".tmp", out)
    return out


def measure_llama(a, gguf, threads, depth=0):
    """One llama-bench run over both load modes: {"mmap0"|"mmap1": {"decode1": [samples], "prefill1": ...}}.
    At a depth, decode only (-p 0 -d depth; llama-bench prefills the depth once and restores it for each run)."""
    if a.drop_caches:
        drop_caches()
    cmd = [llama_tool(a, "llama-bench"), "-m", gguf, "-p", str(0 if depth else a.prompt), "-n", str(a.new - 1),
           "-t", ",".join(map(str, threads)), "-r", str(a.reps), "-mmp", "0,1", "-o", "json"]
    if depth:
        cmd += ["-d", str(depth)]
    r = subprocess.run(cmd, text=True, capture_output=True)
    if r.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed:\n{r.stderr[-3000:]}")
    res = {}
    for test in json.loads(r.stdout):
        kind = "decode" if test["n_gen"] > 0 else "prefill"
        mode = f"mmap{int(bool(test['use_mmap']))}"
        res.setdefault(mode, {})[f"{kind}{test['n_threads']}"] = test.get("samples_ts") or [test["avg_ts"]]
    log("    llama.cpp: " + "; ".join(f"{m} " + " ".join(f"{k} {median(v):.1f}" for k, v in sorted(d.items()))
                                     for m, d in sorted(res.items())))
    return res


def ensure_weights(a, tools, shape_name, file_dtype):
    """The bench's checkpoint of this shape and file type (gen_weights, fixed seed), written once."""
    path = os.path.join(a.work, f"{shape_name}-{file_dtype}.safetensors")
    if not os.path.exists(path):
        log(f"generating {path}")
        shape = SHAPES[shape_name]
        if listed_tensors(shape):
            listing = os.path.join(a.work, f"{shape_name}.tensors")
            with open(listing, "w") as f:
                f.writelines(f"{name} {init} {' '.join(map(str, dims))}\n" for name, init, dims in
                             listed_tensors(shape))
            sh([tools["gen_weights"], path + ".tmp", file_dtype, "--list", listing, "1"])
            os.rename(path + ".tmp", path)
            return path
        moe = ["1", str(experts_of(shape)[0])] if experts_of(shape)[0] else []  # seed 1, the experts
        d = shape.deepseek
        if d:
            moe += ["--deepseek", *map(str, (d.kv_lora, d.nope, d.rope, d.v_head, d.shared, d.dense_layers,
                                             d.dense_ffn))]
        sh([tools["gen_weights"], path + ".tmp", file_dtype, *map(str, shape[:6]), *moe])
        os.rename(path + ".tmp", path)
    return path


def build_binary(a, yaml_path, shape_name, typ):
    binary = os.path.join(a.work, f"{shape_name}-{typ}")
    log(f"building {binary}")
    cmd = [a.llmc, "build", yaml_path, "-o", binary, "--dtype", dtype_arg(typ)]
    if a.kv_cache != "f32" and not SHAPES[shape_name].encoder:  # an encoder keeps no KV cache
        cmd += ["--kv-cache", a.kv_cache]
    sh(cmd)
    return binary


def merge_llama_runs(runs):
    """llama-bench's samples of several runs, per load mode and test: {"mmap1": {"decode1": [all samples]}}."""
    merged = {}
    for run in runs:
        for mode, tests in run.items():
            for key, samples in tests.items():
                merged.setdefault(mode, {}).setdefault(key, []).extend(samples)
    return merged


def measure_window(a, shape, binary, weights, gguf, threads, depth=0):
    """One pass over one shape, type and depth: llama.cpp (if any) before and after llmc. Returns the window and
    llmc's output tokens."""
    window = {"start": now(), "load": [load_average()]}
    llama_runs = [measure_llama(a, gguf, threads, depth)] if gguf else []
    window["llmc"], ids = measure_llmc(a, binary, weights, shape, threads, depth)
    if gguf:
        llama_runs.append(measure_llama(a, gguf, threads, depth))
        window["llama"] = merge_llama_runs(llama_runs)
    window["load"].append(load_average())
    return window, ids


# ---------------------------------------------------------------------------------------------- encoder rows


def encoder_inputs(a, shape_name):
    """The encoder row's inputs, written once: (token-id file for llmc's --tokens-file, the same inputs as text for
    llama-embedding's -f, the ids). Each input is [CLS], tokens - 2 filler words, [SEP]; the text is the words
    ("w<id>", write_gguf.py's synthetic WordPiece vocabulary), which llama.cpp's tokenizer wraps in [CLS] ... [SEP]."""
    shape = SHAPES[shape_name]
    e, first = shape.encoder, write_gguf.BERT_SPECIAL["[MASK]"] + 1
    ids = [[write_gguf.BERT_SPECIAL["[CLS]"]]
           + [first + (i * 7919 + j * 104729) % (shape.vocab - first) for j in range(e.tokens - 2)]
           + [write_gguf.BERT_SPECIAL["[SEP]"]] for i in range(e.inputs)]
    tokens_file = os.path.join(a.work, f"{shape_name}-inputs.tokens")
    text_file = os.path.join(a.work, f"{shape_name}-inputs.txt")
    with open(tokens_file, "w") as f:
        f.writelines(",".join(map(str, x)) + "\n" for x in ids)
    with open(text_file, "w") as f:
        f.write("\n".join(" ".join(f"w{t}" for t in x[1:-1]) for x in ids))  # no last newline: no empty input
    return tokens_file, text_file, ids


def read_floats(path, rows, width):
    with open(path, "rb") as f:
        data = f.read()
    if len(data) != 4 * rows * width:
        raise RuntimeError(f"{path}: {len(data)} bytes, expected {rows} rows of {width} fp32 values")
    values = struct.unpack(f"<{rows * width}f", data)
    return [list(values[r * width:(r + 1) * width]) for r in range(rows)]


def run_llmc_embed(binary, weights, inputs, threads, pooling, out, text=None):
    """One llmc run: embeddings of every input (--tokens-file; with text=TOKENIZER, --prompt-file with that
    tokenizer) into `out`; {"embed": inputs/s of its encoding (its own clock: load and the file written not
    counted), "load_ms", "rss_mb"}."""
    source = ["--prompt-file", inputs, "--tokenizer", text] if text else ["--tokens-file", inputs]
    cmd = ["/usr/bin/time", "-f", "RSS_KB %M", binary, "--weights", weights, *source, "--threads", str(threads),
           "--embed", out, "--pooling", pooling, "--normalize"]
    r = subprocess.run(cmd, text=True, capture_output=True)
    if r.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed:\n{r.stderr}")
    m = re.search(r"load ([\d.]+) ms \| (\d+) inputs, (\d+) tokens, [\d.]+ tok/s, ([\d.]+) inputs/s", r.stderr)
    rss = re.search(r"RSS_KB (\d+)", r.stderr)
    if not m or not rss:
        raise RuntimeError(f"cannot parse timing from:\n{r.stderr}")
    return {"embed": float(m.group(4)), "load_ms": float(m.group(1)), "rss_mb": int(rss.group(1)) / 1024}


def run_llama_embed(a, gguf, text_file, threads, shape, batch, embeddings=False):
    """One llama-embedding run over the text inputs, `batch` tokens per llama_decode (-b = -ub: an encoder's batch
    is one ubatch; -c lowered with it below the model's context, else llama-embedding raises -b to -c): inputs/s of
    its batches, timed by its log (see batch_rate); with `embeddings`, instead, the embeddings it printed (its whole
    rows)."""
    ctx = ["-c", str(batch)] if batch < shape.context else []
    cmd = [llama_tool(a, "llama-embedding"), "-m", gguf, "-f", text_file, "-t", str(threads), "-tb", str(threads),
           "--pooling", shape.encoder.pooling, "--embd-normalize", "2", "-b", str(batch), "-ub", str(batch), *ctx,
           "--log-timestamps", "-lv", "4"]  # its INFO lines (libllama's INFO is verbosity 4 in its log), timed
    if embeddings:
        cmd += ["--embd-output-format", "array"]
    r = subprocess.run(cmd, text=True, capture_output=True)
    if r.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed:\n{r.stderr[-3000:]}")
    if embeddings:  # each value a log line of its own, which its log thread can garble
        return None, [parse_row(row, shape.dim) for row in re.findall(r"\[([^\[\]]*)\]", r.stdout)]
    return batch_rate(r.stderr, " ".join(cmd)), None


# llama-embedding logs "batch_decode: n_tokens = N, n_seq = S" right before each llama_decode, stamped
# [minutes.seconds.ms.us] when the call is made (its log thread writes later, but the stamp is the caller's).
BATCH_LINE = re.compile(r"^(\d+)\.(\d+)\.(\d+)\.(\d+) I batch_decode: n_tokens = \d+, n_seq = (\d+)", re.M)


def batch_rate(log_text, what):
    """Inputs per second of a llama-embedding run, from the stamps of its batch_decode lines: the inputs of every
    batch but the last over the time from the first line to the last (a batch's decode, pooling and normalising;
    the last batch has no line after it). Not llama_perf's "prompt eval time": that one leaves out the first
    batch's compute but counts its tokens (llama_context::decode starts its clock, then output_reserve() grows the
    output buffer for the first batch and synchronize() books the batch's tokens at about 0 ms and stops the clock),
    so at -b 2048 (two batches of 32 inputs) it reported twice the true rate."""
    stamps = [(int(m[1]) * 60 + int(m[2]) + int(m[3]) / 1e3 + int(m[4]) / 1e6, int(m[5]))
              for m in BATCH_LINE.finditer(log_text)]
    if len(stamps) < 2:
        raise RuntimeError(f"{what}: {len(stamps)} timed batch_decode line(s) in its log, 2 or more needed")
    seconds = stamps[-1][0] - stamps[0][0]
    if seconds <= 0:
        raise RuntimeError(f"{what}: its batch_decode stamps do not advance")
    return sum(n for _, n in stamps[:-1]) / seconds


def parse_row(text, width):
    """One printed embedding as floats, or None unless it is `width` well-formed values."""
    try:
        row = [float(v) for v in text.split(",")]
    except ValueError:
        return None
    return row if len(row) == width else None


def cosine(x, y):
    return sum(p * q for p, q in zip(x, y)) / math.sqrt(sum(p * p for p in x) * sum(q * q for q in y))


def centre(rows):
    """The rows less their mean."""
    mean = [sum(column) / len(rows) for column in zip(*rows)]
    return [[v - m for v, m in zip(row, mean)] for row in rows]


CHECKED = 8  # inputs whose embeddings are compared with llama.cpp's (see check_embeddings)


def check_embeddings(a, case, files, threads):
    """Before timing: llmc and llama.cpp give the same embeddings of the inputs (llama.cpp from the text, llmc
    from the ids, and from the text through its own WordPiece tokenizer on the GGUF's vocabulary). Returns the
    lowest cosine of an input's two embeddings and, for scale, the highest between two different inputs."""
    shape_name, typ, _, weights, gguf, binary = case
    shape = SHAPES[shape_name]
    tokens_file, text_file, ids = files
    out = os.path.join(a.work, f"{shape_name}-{typ}.embed")
    run_llmc_embed(binary, weights, tokens_file, max(threads), shape.encoder.pooling, out)
    mine = read_floats(out, len(ids), shape.dim)
    run_llmc_embed(binary, weights, text_file, max(threads), shape.encoder.pooling, out, text=gguf)
    from_text = read_floats(out, len(ids), shape.dim)
    os.remove(out)
    # llama-embedding prints every value as a log line of its own, and its log thread loses the tail of 32
    # inputs' 24,576 lines on a busy machine: it embeds the first CHECKED inputs here (as its own batch; an
    # encoder's inputs do not see each other), the run whose log kept the most whole rows counting.
    check_file = os.path.join(a.work, f"{shape_name}-check.txt")
    with open(text_file) as f, open(check_file, "w") as out:
        out.write("\n".join(f.read().split("\n")[:CHECKED]))
    theirs = []
    for _ in range(3):
        printed = run_llama_embed(a, gguf, check_file, max(threads), shape, a.llama_embed_batches[0], True)[1]
        theirs = max(theirs, printed, key=lambda rows: sum(r is not None for r in rows))
        if len(theirs) == CHECKED and None not in theirs:
            break
    kept = [i for i, row in enumerate(theirs[:CHECKED]) if row is not None]
    if len(kept) < CHECKED // 2:
        raise RuntimeError(f"llama-embedding printed {len(kept)} whole embeddings of {CHECKED} inputs")
    mine, from_text, theirs = [mine[i] for i in kept], [from_text[i] for i in kept], [theirs[i] for i in kept]
    same = min(cosine(x, y) for x, y in zip(mine, theirs))
    tokenizer = min(cosine(x, y) for x, y in zip(mine, from_text))
    cross = max(cosine(mine[i], mine[j]) for i in range(len(mine)) for j in range(i))
    # Pooled random-weight embeddings share a large common part (different inputs are close, see `cross`): what
    # tells inputs apart is the rest, so it is compared too.
    centred = min(cosine(x, y) for x, y in zip(centre(mine), centre(theirs)))
    log(f"    embeddings of {len(theirs)} inputs: cosine llmc / llama.cpp >= {same:.7f}, of the embeddings less their mean over the inputs >= "
        f"{centred:.6f} (llmc from the text, its own tokenizer: {tokenizer:.7f}); between different inputs <= "
        f"{cross:.4f}")
    # Quantised types: each engine quantises the F32 weights itself (llama-quantize --pure also the embedding
    # tables) and its activations per block: q8_0 measured 0.99988 and 0.991 on 2026-12-06.
    low, low_centred = (0.9999, 0.999) if typ in ("f32", "f16", "bf16") else (0.999, 0.98)
    if same < low or centred < low_centred or tokenizer < 0.99999:
        raise RuntimeError(f"{binary}: embeddings differ from llama.cpp's (cosine {same:.6f}, less the mean "
                           f"{centred:.6f}) or from its text path ({tokenizer:.6f})")
    return {"cosine_min": same, "centred_cosine_min": centred, "cosine_cross_max": cross, "compared": len(theirs)}


def measure_encoder_llmc(a, binary, weights, shape_name, tokens_file, threads):
    """{threads: {"embed": [inputs/s], "load_ms": [...], "rss_mb": [...]}}, a.reps runs per thread count."""
    out = os.path.join(a.work, f"{os.path.basename(binary)}.embed")
    res = {}
    for t in threads:
        s = {"embed": [], "load_ms": [], "rss_mb": []}
        for _ in range(a.reps):
            if a.drop_caches:
                drop_caches()
            r = run_llmc_embed(binary, weights, tokens_file, t, SHAPES[shape_name].encoder.pooling, out)
            for k in s:
                s[k].append(r[k])
        res[t] = s
        log(f"    llmc {t}t: {median(s['embed']):.2f} embeddings/s (median of {a.reps})")
    os.remove(out)
    return res


def measure_encoder_llama(a, gguf, shape_name, text_file, threads):
    """{"batch<B>": {"embed<t>": [inputs/s]}}: one llama-embedding run per batch size and thread count."""
    res = {}
    for batch in a.llama_embed_batches:
        for t in threads:
            if a.drop_caches:
                drop_caches()
            rate, _ = run_llama_embed(a, gguf, text_file, t, SHAPES[shape_name], batch)
            res.setdefault(f"batch{batch}", {}).setdefault(f"embed{t}", []).append(rate)
    log("    llama.cpp: " + "; ".join(f"{b} " + " ".join(f"{k} {median(v):.2f}" for k, v in sorted(d.items()))
                                     for b, d in sorted(res.items())))
    return res


def measure_encoder_window(a, case, files, threads):
    """One pass over an encoder row: llama-embedding (each batch size, a.reps runs) right before and right after
    llmc's runs."""
    shape_name, _, _, weights, gguf, binary = case
    window = {"start": now(), "load": [load_average()]}
    llama_runs = [measure_encoder_llama(a, gguf, shape_name, files[1], threads)
                  for _ in range(a.reps) if gguf]
    window["llmc"] = measure_encoder_llmc(a, binary, weights, shape_name, files[0], threads)
    llama_runs += [measure_encoder_llama(a, gguf, shape_name, files[1], threads) for _ in range(a.reps) if gguf]
    if gguf:
        window["llama"] = merge_llama_runs(llama_runs)
    window["load"].append(load_average())
    return window


def gguf_mix_case(a, tools, shape_name, typ):
    """A K-quant mix: llama-quantize's GGUF, which llmc runs itself (spec imported from it, matrices as stored)."""
    if not a.llama_cpp:
        raise SystemExit(f"bench: --types {typ} needs --llama-cpp (llama-quantize makes the file)")
    gguf = ensure_gguf(a, shape_name, typ, ensure_weights(a, tools, shape_name, "F32"))
    yaml_path = os.path.join(a.work, f"{shape_name}-{typ}.yaml")
    sh([a.llmc, "import", gguf, "-o", yaml_path])
    return shape_name, typ, yaml_path, gguf, gguf, build_binary(a, yaml_path, shape_name, typ)


def prepare(a, tools):
    """Everything the runs need, made before any is timed: per shape and type the checkpoint, llama.cpp's GGUF
    (with --llama-cpp) and llmc's binary. Returns [(shape name, type, yaml, weights, gguf or None, binary)]."""
    cases = []
    for shape_name in a.shapes.split(","):
        yaml_path = os.path.join(a.work, f"{shape_name}.yaml")
        with open(yaml_path, "w") as f:
            f.write(arch_yaml(shape_name, SHAPES[shape_name]))
        for typ in a.types.split(","):
            if typ not in DEFAULT_TYPES.get(shape_name, [typ]):
                continue
            if typ in GGUF_MIXES:
                cases.append(gguf_mix_case(a, tools, shape_name, typ))
                continue
            weights = ensure_weights(a, tools, shape_name, FILE_DTYPE[typ])
            gguf = (ensure_gguf(a, shape_name, typ, ensure_weights(a, tools, shape_name, "F32"))
                    if a.llama_cpp and llama_cpp_runs(SHAPES[shape_name]) else None)
            cases.append((shape_name, typ, yaml_path, weights, gguf, build_binary(a, yaml_path, shape_name, typ)))
    return cases


def measure(a):
    os.makedirs(a.work, exist_ok=True)
    tools = compile_tools(a)
    threads = [int(t) for t in a.threads.split(",")]
    cases = prepare(a, tools)
    if a.wait_load:
        wait_for_quiet(a.wait_load)
    if a.drop_caches:
        try:
            drop_caches()
        except OSError as e:
            raise SystemExit(f"bench: --drop-caches: {e} (run as root)")
    log("measuring the read-bandwidth ceiling")
    bandwidth = [measure_bandwidth(tools["bandwidth"], threads)]
    has_quantize = "quantize" in sh([a.llmc, "--help"]).stdout
    rows, encoder_files = {}, {}
    for p in range(a.passes):
        for (shape_name, typ, yaml_path, weights, gguf, binary), depth in ((c, d) for c in cases for d in a.depths):
            shape = SHAPES[shape_name]
            if shape.encoder and depth:
                continue  # an encoder has no decode to measure after a depth
            row = rows.setdefault((shape_name, typ, depth), {"shape": shape_name, "type": typ, "depth": depth,
                                                             "windows": []})
            at = f" after {depth} positions" if depth else ""
            log(f"pass {p + 1}/{a.passes}: {shape_name} {typ}{at} (load average {load_average():.2f})")
            started = time.monotonic()
            if shape.encoder:
                case = (shape_name, typ, yaml_path, weights, gguf, binary)
                files = encoder_files.setdefault(shape_name, encoder_inputs(a, shape_name))
                if p == 0 and gguf:
                    row["agreement"] = check_embeddings(a, case, files, threads)
                row["windows"].append(measure_encoder_window(a, case, files, threads))
                log(f"    window took {time.monotonic() - started:.0f} s")
                continue
            window, ids = measure_window(a, shape, binary, weights, gguf, threads, depth)
            log(f"    window took {time.monotonic() - started:.0f} s")
            if row.setdefault("ids", ids) != ids:
                raise RuntimeError(f"{binary}: output differs between passes")
            if typ in GGUF_MIXES:
                row["weight_bytes_per_token"], row["weight_bytes"] = gguf_weight_bytes(gguf, shape.vocab)
            elif p == 0 and depth == 0 and has_quantize:
                row["mapped"] = measure_mapped(a, binary, yaml_path, weights, shape, typ, threads, ids)
                log(f"    from llmc quantize file: load {row['mapped']['load_ms']:.1f} ms, RSS "
                    f"{row['mapped']['rss_mb']:.0f} MB")
            row["windows"].append(window)
    log("measuring the read-bandwidth ceiling again")
    bandwidth.append(measure_bandwidth(tools["bandwidth"], threads))
    commit = subprocess.run(["git", "-C", ROOT, "rev-parse", "--short", "HEAD"], text=True,
                            capture_output=True).stdout.strip()
    header = {"commit": commit, "prompt": a.prompt, "new": a.new, "reps": a.reps, "passes": a.passes,
              "depths": a.depths, "depth_reps": a.depth_reps,
              "kv_cache": a.kv_cache, "decode_prompt": a.decode_prompt, "llama_cpp": a.llama_cpp_name,
              "command": shlex.join(["bench/run.sh"] + sys.argv[1:]), "cpu": cpu_name(), "cores": os.cpu_count(),
              "drop_caches": a.drop_caches, "llama_embed_batches": a.llama_embed_batches}
    for row in rows.values():
        row.pop("ids", None)
    return {"format": 2, "header": header, "threads": threads, "bandwidth": bandwidth, "rows": list(rows.values())}


# ---------------------------------------------------------------------------------------------- rendering


def upgrade(run):
    """A run .json of the first format (best values only, one window) in the current form."""
    if run.get("format") == 2:
        return run
    rows = []
    for shape_name, typ, res, mapped in run["rows"]:
        llmc = {int(t): {k: [v] for k, v in r.items() if k != "ids"} for t, r in res.items()}
        rows.append({"shape": shape_name, "type": typ, "windows": [{"llmc": llmc}], "mapped": mapped})
    h = run["header"]
    header = dict(h, passes=1, command="", cpu=cpu_name(), cores=os.cpu_count(), llama_cpp="", legacy=True)
    return {"format": 2, "header": header, "threads": run["threads"],
            "bandwidth": [{"stamp": h["stamp"], "gbs": run["bw"]}], "rows": rows}


def static_references(engines, shape_name, typ, threads):
    """Per-window reference numbers from an --engines file: the best engine for decode, llama.cpp for prefill."""
    eng = engines.get(shape_name, {}).get(typ, [])
    ref = {}
    for t in threads:
        have = [e for e in eng if e.get(f"decode{t}")]
        if have:
            ref[f"decode{t}"] = max(e[f"decode{t}"] for e in have)
        pre = [e[f"prefill{t}"] for e in eng if e["engine"].startswith("llama.cpp") and e.get(f"prefill{t}")]
        if pre:
            ref[f"prefill{t}"] = max(pre)
    return ref


def window_numbers(window, threads, ref_static):
    """llmc's medians and the reference's in one window: ({key: llmc}, {key: reference}, {key: load mode})."""
    mine, ref, mode = {}, {}, {}
    for t in threads:
        for kind in ("decode", "prefill"):
            key = f"{kind}{t}"
            mine[key] = median(window["llmc"][t][kind]) if t in window["llmc"] else None
            if "llama" in window:
                best = None
                for m, d in window["llama"].items():
                    v = median(d.get(key, []))
                    if v is not None and (best is None or v > best):
                        best, mode[key] = v, m
                ref[key] = best
            else:
                ref[key] = ref_static.get(key)
    return mine, ref, mode


def row_summary(row, threads, ref_static):
    """Medians over the windows: llmc, reference, ratio (each window's ratio, then their median)."""
    per_window = [window_numbers(w, threads, ref_static) for w in row["windows"]]
    out = {}
    for t in threads:
        for kind in ("decode", "prefill"):
            key = f"{kind}{t}"
            mine = [m[key] for m, _, _ in per_window if m[key] is not None]
            ref = [r[key] for _, r, _ in per_window if r.get(key)]
            ratios = [m[key] / r[key] for m, r, _ in per_window if m[key] is not None and r.get(key)]
            modes = [md[key] for _, _, md in per_window if key in md]
            out[key] = {"llmc": median(mine), "ref": median(ref), "ratio": median(ratios), "ratios": ratios,
                        "modes": modes}
    return out


def encoder_summary(row, threads):
    """Medians over the windows of an encoder row: {t: {"llmc", "ref", "ratio", "ratios", "batches"}}, llama.cpp's
    number in a window the best of its batch sizes (their medians), "batches" the best one's name per window."""
    out = {}
    for t in threads:
        mine, ref, ratios, batches = [], [], [], []
        for w in row["windows"]:
            m = median(w["llmc"][t]["embed"]) if t in w["llmc"] else None
            best = max(((median(d[f"embed{t}"]), b) for b, d in w.get("llama", {}).items() if d.get(f"embed{t}")),
                       default=None)
            if m is not None:
                mine.append(m)
            if best:
                ref.append(best[0])
                batches.append(best[1])
                if m is not None:
                    ratios.append(m / best[0])
        out[t] = {"llmc": median(mine), "ref": median(ref), "ratio": median(ratios), "ratios": ratios,
                  "batches": batches}
    return out


def encoder_table(run, threads, ref_name, verdicts):
    """The encoder rows' own table (embeddings per second, not tokens): lines for the results, and their verdicts
    appended to `verdicts`."""
    rows = [r for r in run["rows"] if SHAPES[r["shape"]].encoder]
    if not rows:
        return []
    tt = " / ".join(f"{t}t" for t in threads)
    e = SHAPES[rows[0]["shape"]].encoder
    batches = run["header"].get("llama_embed_batches") or []
    lines = ["", f"Encoder rows (issue 23): embeddings per second of {e.inputs} inputs of {e.tokens} tokens ([CLS] "
                 f"... [SEP]) per run, {e.pooling} pooling, L2-normalised; the target is ≥ {ENCODER_RATIO}× {ref_name} "
                 "with 1 and 2 threads. Counted: each engine's own clock of the encoding, model load not counted: "
                 "llmc's (its stderr line: from the first batch to the last, the inputs batched up to its 512-token "
                 "context), llama-embedding's log (the stamps of its batch_decode lines: every batch but the last, "
                 "after its warm-up run; not its llama_perf `prompt eval time`, which leaves out the first batch's "
                 "compute), with `-b B -ub B` for B in " + ", ".join(map(str, batches)) + " (the best counts; "
                 f"one run of each per thread count, {run['header'].get('reps', 3)} time(s) right before and right after "
                 "llmc's runs). Same weights: llama.cpp's GGUF written from llmc's checkpoint by bench/write_gguf.py "
                 "(other types by llama-quantize --pure); llama.cpp reads the inputs as text, llmc as token ids.", ""]
    hdr = ["shape", "type", f"embeddings/s {tt}", f"{ref_name} embeddings/s", "ratio", "ratio per pass",
           "llama.cpp best batch", "targets", "cosine llmc / llama.cpp (less the mean; different inputs)",
           "peak RSS MB", "load ms"]
    lines += ["| " + " | ".join(hdr) + " |", "|" + "---|" * len(hdr)]
    for row in rows:
        s = encoder_summary(row, threads)
        unmet = [f"{t}t ({s[t]['ratio']:.2f}×)" for t in threads
                 if s[t]["ratio"] is not None and s[t]["ratio"] < ENCODER_RATIO]
        judged = any(s[t]["ratio"] is not None for t in threads)
        verdicts.append((row["shape"], row["type"], unmet))
        agree = row.get("agreement")
        runs = [r for w in row["windows"] for r in w["llmc"].values()]
        cells = [row["shape"], row["type"], " / ".join(fmt(s[t]["llmc"], 2) for t in threads),
                 " / ".join(fmt(s[t]["ref"], 2) for t in threads),
                 " / ".join("-" if s[t]["ratio"] is None else f"{s[t]['ratio']:.2f}×" for t in threads),
                 " / ".join(", ".join(f"{r:.2f}" for r in s[t]["ratios"]) or "-" for t in threads),
                 " / ".join(",".join(b.replace("batch", "") for b in s[t]["batches"]) or "-" for t in threads),
                 ("met" if not unmet else "not met: " + ", ".join(unmet)) if judged else "-",
                 (f"{agree['cosine_min']:.7f} ({agree['centred_cosine_min']:.5f}; {agree['cosine_cross_max']:.3f})"
                  if agree else "-"),
                 f"{max(x for r in runs for x in r['rss_mb']):.0f}", f"{min(x for r in runs for x in r['load_ms']):.0f}"]
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def decode_ratio_target(shape, typ, moe):
    """The decode ratio a row must reach with no ceiling alternative, or None (dense rows: 90% of the ceiling
    also meets; RWKV: judged by the ceiling alone)."""
    if shape.deepseek:
        return DEEPSEEK_DECODE_RATIO
    if shape.recurrent:
        return TARGET_RATIO if llama_cpp_runs(shape) else None
    if moe:
        return MOE_DECODE_RATIO
    return KQUANT_DECODE_RATIO if typ in GGUF_MIXES else None


def ceiling_needed(ratio, pct, target):
    """The share of the ceiling at which llmc's decode would be `target` times llama.cpp's (whose share is
    pct / ratio), for a cell below its target; else None."""
    if target is None or ratio is None or pct is None or ratio >= target:
        return None
    return pct / ratio * target


def fmt(v, digits=1):
    return "-" if v is None else f"{v:.{digits}f}"


def fmt_rate(v):
    return "-" if v is None else f"{v:.0f}" if v >= 100 else f"{v:.1f}"


def render(a, run):
    run = upgrade(run)
    threads = [int(t) for t in run["threads"]]
    for row in run["rows"]:
        for w in row["windows"]:
            w["llmc"] = {int(t): v for t, v in w["llmc"].items()}
    h = run["header"]
    for b in run["bandwidth"]:
        b["gbs"] = {int(t): g for t, g in b["gbs"].items()}
    ceiling = {t: max(b["gbs"][t] for b in run["bandwidth"]) for t in threads}
    measured = any("llama" in w for row in run["rows"] for w in row["windows"])
    engines, engines_note = {}, ""
    if not measured:
        engines, engines_note = ISSUE_ENGINES, "issue 6 (measured on another machine; indicative only)"
        if a.engines:
            with open(a.engines) as f:
                data = json.load(f)
            engines, engines_note = data["shapes"], data.get("note", a.engines)
    ref_name = (h.get("llama_cpp") or "llama.cpp") if measured else "best engine"
    kv_cache, decode_prompt = h.get("kv_cache", "f32"), h.get("decode_prompt", 0)
    decode_after = ("after the prompt" if not decode_prompt else "from an empty context (a 1-token prompt)"
                    if decode_prompt == 1 else f"after a {decode_prompt}-token prompt, in runs of their own")
    if any(d > 0 for d in h.get("depths", [])):
        decode_after += (f" (rows marked @ dN: after N positions, in runs of their own: llama-bench -p 0 -d N, llmc "
                         f"an N-token prompt, {h.get('depth_reps', 1)} run(s) per thread count and pass)")
    starts = [w["start"] for row in run["rows"] for w in row["windows"] if "start" in w]
    loads = [x for row in run["rows"] for w in row["windows"] for x in w.get("load", [])]
    lines = [f"# llmc bench ({min(starts) + ' - ' + max(starts) if starts else h.get('stamp', '')}, "
             f"commit {h['commit']})", ""]
    decoder_rows = [r for r in run["rows"] if not SHAPES[r["shape"]].encoder]
    runs = (f"{h['prompt']}-token prompt, {h['new'] - 1} decode steps {decode_after}, {kv_cache} KV cache, greedy"
            if decoder_rows else "encoders only (below)")
    text = (f"Random-weight models, {runs}. Machine: {h['cores']} cores ({h['cpu']}); "
            + ("measured read bandwidth (the best of the runs' readings) " if h.get("legacy") else
               "read-bandwidth ceiling (bench/bandwidth.cpp: huge pages, AVX-512 loads, 1-8 streams per thread; the "
               f"best of {len(run['bandwidth'])} readings, before and after the runs) ")
            + ", ".join(f"{ceiling[t]:.1f} GB/s ({t} thread{'s' if t > 1 else ''})" for t in threads)
            + " (readings: " + "; ".join(" / ".join(f"{b['gbs'][t]:.1f}" for t in threads)
                                         for b in run["bandwidth"]) + " GB/s)")
    if loads:
        text += f"; load average {min(loads):.2f}-{max(loads):.2f} during the runs"
    lines.append(text + ".")
    if measured and decoder_rows:
        lines.append("")
        passes = h.get("passes", 1)
        dropped = ", the page cache dropped and memory compacted before every run" if h.get("drop_caches") else ""
        lines.append(f"{ref_name} ran side by side: {passes} pass{'es' if passes > 1 else ''}; in each, for each "
                     f"shape and type, `llama-bench -p {h['prompt']} -n {h['new'] - 1} -r {h['reps']} -mmp 0,1` right "
                     f"before and right after llmc's runs ({h['reps']} per thread count){dropped}. "
                     "In a pass each engine counts the median of its runs (llama.cpp: of the better of its two load "
                     "modes, -mmp 0 or 1); the table gives the median over the passes of those numbers and of each "
                     "pass's ratio, and the targets are judged on them. Command: `" + h.get("command", "") + "`.")
    elif engines_note:
        lines += ["", f"Engine numbers: {engines_note}. Decode ratios against the best engine, prefill against "
                      "llama.cpp; each llmc number is the median of its runs."]
    if a.note:
        lines += ["", a.note]
    if decoder_rows:
        lines.append("")
        lines.append(f"% of ceiling = decode tok/s × weight bytes read per token (after N positions, plus the KV cache "
                     f"read) ÷ the ceiling. Targets: every cell ≥ {TARGET_RATIO}× {ref_name}, or decode at ≥ "
                     f"{TARGET_CEILING:.0%} of the ceiling. Memory: peak RSS against weights (as stored) + the whole KV "
                     "cache + 5 MB. Load: from the checkpoint (matrices converted) / from the file `llmc quantize` wrote "
                     "(mapped).")
        lines.append("")
    tt = " / ".join(f"{t}t" for t in threads)
    hdr = ["shape", "type", f"decode tok/s {tt}", f"{ref_name} decode", "decode ratio", "% of ceiling",
           f"prefill tok/s {tt}", f"{ref_name} prefill", "prefill ratio", "targets", "peak RSS MB (bound)",
           "first token ms", "load ms"]
    if decoder_rows:  # a run of encoder rows only has their table alone
        lines.append("| " + " | ".join(hdr) + " |")
        lines.append("|" + "---|" * len(hdr))
    verdicts, over_ceiling, needs = [], {}, []
    for row in decoder_rows:
        shape_name, typ, depth = row["shape"], row["type"], row.get("depth", 0)
        shape = SHAPES[shape_name]
        # bytes read per decode step: the weights, and after `depth` positions that much of the cache
        wb = row.get("weight_bytes_per_token") or weight_bytes_per_token(shape, typ)
        wb += kv_cache_bytes(shape, kv_cache, depth)
        ref_static = static_references(engines, shape_name, typ, threads)
        s = row_summary(row, threads, ref_static)
        pct = {t: (s[f"decode{t}"]["llmc"] * wb / (ceiling[t] * 1e9) if s[f"decode{t}"]["llmc"] else None)
               for t in threads}
        over_ceiling[id(row)] = [p for p in pct.values() if p is not None]
        unmet = []
        moe = experts_of(shape)[0] > 0
        target = decode_ratio_target(shape, typ, moe)  # None: a ceiling alternative (dense) or ceiling only (RWKV)
        for t in threads:
            d, p = s[f"decode{t}"], s[f"prefill{t}"]
            short = target is not None and d["ratio"] is not None and d["ratio"] < target
            need = ceiling_needed(d["ratio"], pct[t], target)
            if need is not None:
                needs.append(f"{shape_name} {typ}{f' @ d{depth}' if depth else ''} {t}t {need:.0%}")
            if shape.deepseek:
                if short:
                    unmet.append(f"decode {t}t ({d['ratio']:.2f}×)")
                continue
            if shape.recurrent and not llama_cpp_runs(shape):
                if pct[t] is not None and pct[t] < TARGET_CEILING:
                    unmet.append(f"decode {t}t ({pct[t]:.0%})")
            elif shape.recurrent:
                if short:
                    unmet.append(f"decode {t}t ({d['ratio']:.2f}×)")
            elif moe:
                if d["ratio"] is not None and (short or (pct[t] or 0) < MOE_CEILING):
                    unmet.append(f"decode {t}t ({d['ratio']:.2f}×, {pct[t]:.0%})")
            elif target is not None:  # K-quant mixes
                if short:
                    unmet.append(f"decode {t}t ({d['ratio']:.2f}×, {pct[t]:.0%})")
            elif d["ratio"] is not None and d["ratio"] < TARGET_RATIO and (pct[t] or 0) < TARGET_CEILING:
                unmet.append(f"decode {t}t ({d['ratio']:.2f}×, {pct[t]:.0%})")
            if p["ratio"] is not None and p["ratio"] < TARGET_RATIO:
                unmet.append(f"prefill {t}t ({p['ratio']:.2f}×)")
        target = "met" if not unmet else "not met: " + ", ".join(unmet)
        if llama_cpp_runs(shape) and all(s[f"{k}{t}"]["ratio"] is None for k in ("decode", "prefill") for t in threads):
            target = "-"
        typ_cell = f"{typ} @ d{depth}" if depth else typ
        verdicts.append((shape_name, typ_cell, unmet))

        def cell(kind, field, f):
            return " / ".join(f(s[f"{kind}{t}"][field]) for t in threads)

        first = [w["llmc"][min(threads)]["first_ms"] for w in row["windows"] if min(threads) in w["llmc"]]
        load_ms = [x for w in row["windows"] for r in w["llmc"].values() for x in r["load_ms"]]
        rss = max(x for w in row["windows"] for r in w["llmc"].values() for x in r["rss_mb"])
        bound = (row.get("weight_bytes") or weight_bytes(shape, typ)) / 1e6 + kv_cache_bytes(shape, kv_cache) / 1e6 + 5
        mapped = row.get("mapped")
        cells = [shape_name, typ_cell, cell("decode", "llmc", fmt_rate), cell("decode", "ref", fmt_rate),
                 cell("decode", "ratio", lambda v: "-" if v is None else f"{v:.2f}×"),
                 " / ".join("-" if pct[t] is None else f"{pct[t]:.0%}" for t in threads),
                 cell("prefill", "llmc", fmt_rate), cell("prefill", "ref", fmt_rate),
                 cell("prefill", "ratio", lambda v: "-" if v is None else f"{v:.2f}×"), target,
                 f"{rss:.0f} ({bound:.0f}{'' if rss <= bound else ', OVER'})",
                 f"{median([x for f in first for x in f]):.0f}",
                 f"{min(load_ms):.0f}" + (f" / {mapped['load_ms']:.1f}" if mapped else "")]
        lines.append("| " + " | ".join(cells) + " |")
    if measured and decoder_rows:
        lines += ["", "Each pass's ratios (decode, prefill) and llama.cpp's better load mode per pass (decode; "
                      "mmap1 = its default):", ""]
        hdr = ["shape", "type"] + [f"decode {t}t" for t in threads] + [f"prefill {t}t" for t in threads] + \
              [f"llama.cpp mode, decode {tt}"]
        lines.append("| " + " | ".join(hdr) + " |")
        lines.append("|" + "---|" * len(hdr))
        for row in decoder_rows:
            s = row_summary(row, threads, {})
            cells = [row["shape"], row["type"] + (f" @ d{row['depth']}" if row.get("depth") else "")]
            cells += [", ".join(f"{r:.2f}" for r in s[f"decode{t}"]["ratios"]) for t in threads]
            cells += [", ".join(f"{r:.2f}" for r in s[f"prefill{t}"]["ratios"]) for t in threads]
            cells += [" / ".join(",".join(m.replace("mmap", "") for m in s[f"decode{t}"]["modes"]) for t in threads)]
            lines.append("| " + " | ".join(cells) + " |")
    lines += encoder_table(run, threads, ref_name, verdicts)
    over = [f"{r['shape']} {r['type']}" for r in run["rows"] if any(p > 1 for p in over_ceiling.get(id(r), []))]
    if any(SHAPES[r["shape"]].deepseek for r in run["rows"]):
        lines += ["", f"DeepSeek rows (issue 22): the target is decode ≥ {DEEPSEEK_DECODE_RATIO}× {ref_name} with 1 "
                      "and 2 threads, after an empty context and after 4,000 positions; prefill is not judged. MLA's "
                      "kv_b counts as matrices in the type (llmc keeps it as the per-head matrices its absorbed "
                      "attention reads, quantised with the others); the memory bound's cache is the compressed MLA "
                      "cache (latent + k_rope per layer and position)."]
    if any(SHAPES[r["shape"]].recurrent for r in run["rows"]):
        lines += ["", f"Recurrent rows (issue 24): Mamba and Mamba 2 decode and prefill ≥ {TARGET_RATIO}× {ref_name} "
                      "with 1 and 2 threads (no ceiling alternative); RWKV-4, which llama.cpp does not run, decode at "
                      f"≥ {TARGET_CEILING:.0%} of the ceiling. Bytes per token: the 2-D matrices with rows of whole "
                      "32-value blocks in the type (a tied classifier reads the embedding), the other tensors fp32, "
                      "and the fixed-size recurrent state (fp32), also in the memory bound."]
    if any(r["type"] in GGUF_MIXES for r in run["rows"]):
        lines += ["", f"K-quant rows (issue 25: llama.cpp's own Q4_K_M / Q5_K_M / Q6_K files, run by both engines): "
                      f"decode ≥ {KQUANT_DECODE_RATIO}× {ref_name} with 1 and 2 threads (no ceiling alternative), "
                      f"prefill ≥ {TARGET_RATIO}×."]
    if needs:
        lines += ["", "Decode cells below their ratio target, and the share of the ceiling llmc would have to read at "
                      "to meet it (llama.cpp's share, llmc's ÷ the ratio, × the target; above 100%, the target is out "
                      f"of reach on this machine at this bandwidth): {'; '.join(needs)}."]
    if over:
        lines += ["", f"Decode read faster than the ceiling ({', '.join(over)}): the bandwidth test is not the "
                      "ceiling on this run; the % column is not meaningful."]
    met = [f"{sh_} {ty}" for sh_, ty, u in verdicts if not u]
    unmet = [f"{sh_} {ty}: {', '.join(u)}" for sh_, ty, u in verdicts if u]
    if measured:
        rule = (f"≥ {TARGET_RATIO}× {ref_name} or ≥ {TARGET_CEILING:.0%} of the ceiling, on the medians"
                + ("; DeepSeek rows by their rule above" if any(SHAPES[r["shape"]].deepseek for r in run["rows"])
                   else "")
                + ("; K-quant rows by theirs" if any(r["type"] in GGUF_MIXES for r in run["rows"]) else "")
                + ("; encoder rows by theirs" if any(SHAPES[r["shape"]].encoder for r in run["rows"]) else ""))
        lines += ["", f"Targets ({rule}): met in every cell for {len(met)} of {len(verdicts)} rows"
                      + (f"; not met: {'; '.join(unmet)}." if unmet else ".")]
    text = "\n".join(lines) + "\n"
    print(text)
    with open(a.out, "w") as f:
        f.write(text)
    if a.readme:
        update_readme(a.readme, "\n".join(lines[2:]))


def readme_block(path):
    """The text of the file at `path` and where its bench block begins and ends; exits if it has none."""
    try:
        with open(path) as f:
            text = f.read()
    except OSError as e:
        raise SystemExit(f"bench: --readme {path}: {e.strerror}")
    begin, end = text.find(MARK_BEGIN), text.find(MARK_END)
    if begin < 0 or end < begin:
        raise SystemExit(f"bench: --readme {path} has no {MARK_BEGIN} ... {MARK_END} block to replace")
    return text, begin, end


def update_readme(path, block):
    text, begin, end = readme_block(path)
    text = text[:begin + len(MARK_BEGIN)] + "\n" + block + "\n" + text[end:]
    with open(path + ".tmp", "w") as f:
        f.write(text)
    os.replace(path + ".tmp", path)


def cpu_name():
    flags = open("/proc/cpuinfo").read()
    name = re.search(r"model name\s*:\s*(.*)", flags)
    isa = "AVX-512 VNNI" if "avx512_vnni" in flags else "AVX-512" if "avx512f" in flags else "AVX2" if "avx2" in flags else "SSE"
    return f"{name.group(1).strip() if name else 'unknown'}, {isa}"


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--llmc", default=os.environ.get("LLMC", os.path.join(ROOT, "build-perf", "llmc")))
    ap.add_argument("--work", default=os.path.join(HERE, "work"), help="weights, binaries (not committed)")
    ap.add_argument("--types", default="f32,f16,bf16,q8_0,q4_0")
    ap.add_argument("--shapes", default="stories110M", help="comma list of: " + ", ".join(SHAPES))
    ap.add_argument("--threads", default="1,2")
    ap.add_argument("--reps", type=int, default=3, help="runs per setting and pass (llama-bench -r)")
    ap.add_argument("--passes", type=int, default=1, help="windows: every shape and type measured again")
    ap.add_argument("--prompt", type=int, default=64)
    ap.add_argument("--new", type=int, default=65, help="tokens generated (decode rate over n-1)")
    ap.add_argument("--kv-cache", choices=["f32", "f16"], default="f32", help="KV cache type the binaries are built "
                    "with (llmc's default f32; llama.cpp's default is f16)")
    ap.add_argument("--decode-prompt", type=int, default=0, help="measure decode in a run of its own after this many "
                    "prompt tokens (1: from an empty context, as llama-bench's tg); 0: after the prefill prompt")
    ap.add_argument("--depths", default="0", help="comma list of context depths to decode after: 0 as above; N > 0 "
                    "a row of its own, decode after N positions (llama-bench -p 0 -d N; llmc a prompt of N tokens in "
                    "each run), e.g. 0,4000")
    ap.add_argument("--depth-reps", type=int, default=1, help="llmc's runs per thread count and pass at a depth > 0 "
                    "(each prefills the depth; llama-bench prefills it once per invocation)")
    ap.add_argument("--llama-cpp", default="", help="llama.cpp build folder (with bin/llama-bench and "
                    "bin/llama-quantize): run it side by side (implies --kv-cache f16 --decode-prompt 1)")
    ap.add_argument("--llama-cpp-name", default="", help="its name in the table, e.g. 'llama.cpp 1fd6dfe9f'")
    ap.add_argument("--llama-embed-batches", default="512,2048", help="encoder rows: llama-embedding's batch "
                    "sizes (-b = -ub) tried in each pass, its best counts (2048 is its default; 512 batches 4 inputs "
                    "of 128 tokens as llmc does; the first also makes the embeddings checked against llmc's). Below "
                    "the model's context -c is lowered too (1fd6dfe9f: -b 128 -c 128 fails an assertion, "
                    "n_outputs_max <= cparams.n_outputs_max)")
    ap.add_argument("--drop-caches", action="store_true", help="drop the page cache and compact memory before "
                    "every run (root)")
    ap.add_argument("--wait-load", type=float, default=0, help="before measuring, wait until the 5-minute load "
                    "average is under this (e.g. 1.2 on a machine others are still building on)")
    ap.add_argument("--out", default=os.path.join(HERE, "results.md"))
    ap.add_argument("--readme", default="", help="also write the table into this file between the bench markers")
    ap.add_argument("--note", default="", help="extra line for the results file")
    ap.add_argument("--engines", default="", help="without --llama-cpp: JSON file of engine numbers measured "
                    "earlier on this machine (bench/engines/README.md); default: the numbers quoted in issue 6")
    ap.add_argument("--render", default="", help="no measuring: draw the table of a run's .json (written next to "
                    "--out by every run)")
    a = ap.parse_args()
    for name in a.shapes.split(","):
        if name not in SHAPES:
            ap.error(f"--shapes: unknown shape {name} (known: {', '.join(SHAPES)})")
    for typ in a.types.split(","):
        if typ not in BYTES and typ not in GGUF_MIXES:
            ap.error(f"--types: unknown type {typ} (known: {', '.join([*BYTES, *GGUF_MIXES])})")
    try:
        a.depths = [int(d) for d in a.depths.split(",")]
    except ValueError:
        ap.error(f"--depths: expected a comma list of numbers, found {a.depths}")
    try:
        a.llama_embed_batches = [int(b) for b in a.llama_embed_batches.split(",")]
    except ValueError:
        ap.error(f"--llama-embed-batches: expected a comma list of numbers, found {a.llama_embed_batches}")
    for name in a.shapes.split(","):
        too_deep = [d for d in a.depths if d < 0 or d + a.new > SHAPES[name].context]
        if too_deep:
            ap.error(f"--depths {too_deep[0]}: with --new {a.new} past {name}'s context of {SHAPES[name].context}")
    os.makedirs(os.path.dirname(os.path.abspath(a.out)), exist_ok=True)
    if a.readme:
        readme_block(a.readme)  # before hours of measuring, not after
    if a.render:
        with open(a.render) as f:
            return render(a, json.load(f))
    if a.llama_cpp:
        a.kv_cache, a.decode_prompt = "f16", 1
        a.llama_cpp_name = a.llama_cpp_name or "llama.cpp"
    run = measure(a)
    with open(os.path.splitext(a.out)[0] + ".json", "w") as f:
        json.dump(run, f, indent=None)
        f.write("\n")
    render(a, run)


if __name__ == "__main__":
    main()
