#!/usr/bin/env python3
"""Writes a llama.cpp GGUF (F32) from the bench's random-weight checkpoint, so llama.cpp runs the very weights
llmc runs. Stdlib only (no numpy, no gguf-py).

  write_gguf.py IN.safetensors OUT.gguf [--heads N] [--context N] [--rope-theta X] [--rms-eps X]
               [--experts-per-token K] [--yarn FACTOR ORIGINAL_CONTEXT MSCALE_ALL_DIM] [--ssm-groups G]
               [--layer-norm-eps X] [--pooling mean|cls|none]

IN is an F32 .safetensors as bench/gen_weights.cpp writes it (untied lm_head), with Hugging Face Llama tensor
names, Mixtral names (a router and experts per layer) or DeepSeek-V2 names (multi-head latent attention; leading
dense layers, then routed and shared experts). The model's sizes are read from its tensor shapes; --heads gives
the attention heads (the head size is not in the shapes).
- Llama / Mixtral: architecture "llama" (with llama.expert_count for Mixtral, its experts stacked into one tensor
  per layer and projection), the KV heads following from k_proj. As convert_hf_to_gguf.py does for Llama, the
  rows of q_proj and k_proj are permuted from the half-split rotary layout of Hugging Face to llama.cpp's
  interleaved one.
- DeepSeek-V2: architecture "deepseek2", as convert_hf_to_gguf.py (DeepseekV2Model, llama.cpp 1fd6dfe9f) writes
  DeepseekV2ForCausalLM with DeepSeek-V2-Lite's settings (see deepseek2_keys): no row permutation, experts
  stacked, kv_b_proj split into attn_k_b (transposed) and attn_v_b.
- Mamba / Mamba 2 (Hugging Face's backbone.* names): architecture "mamba" / "mamba2" as convert_hf_to_gguf.py
  writes them (see mamba_tensors); --heads is not needed, --ssm-groups gives Mamba 2's n_groups.
- BERT (BertModel's names: embeddings.*, encoder.layer.N.*): architecture "bert" as convert_hf_to_gguf.py
  (BertModel) writes it (see bert_tensors, bert_keys), with a synthetic WordPiece vocabulary (see
  wordpiece_vocabulary); --heads gives the attention heads, --layer-norm-eps and --pooling the config's.
The Llama vocabulary is synthetic, the size of the embedding: <unk> <s> </s>, the 256 byte tokens <0x00>..<0xFF>
(llama.cpp looks up <0x0A> for its newline token), then tokens "tok<i>". Other types (F16, BF16, Q8_0, Q4_0)
are made from this file with `llama-quantize --pure` (see bench/engines/README.md).
OUT is written to OUT.tmp and renamed when complete; bad input ends with a message and exit code 1."""
import argparse
import array
import json
import math
import mmap
import os
import struct
import sys

ALIGNMENT = 32  # GGUF's default general.alignment
GGUF_F32 = 0  # ggml_type of every tensor written
FILE_TYPE_ALL_F32 = 0  # llama_ftype
# GGUF metadata value types
U32, I32, F32_VALUE, BOOL, STRING, ARRAY = 4, 5, 6, 7, 8, 9
TOKEN_NORMAL, TOKEN_UNKNOWN, TOKEN_CONTROL, TOKEN_BYTE = 1, 2, 3, 6
EXPERT_GATING_SOFTMAX = 1  # llama.cpp's LLAMA_EXPERT_GATING_FUNC_TYPE_SOFTMAX
POOLING_TYPES = {"none": 0, "mean": 1, "cls": 2}  # gguf-py's PoolingType
# BERT's special tokens at bert-base-uncased's ids (llama.cpp's defaults for a "bert" vocabulary too)
BERT_SPECIAL = {"[PAD]": 0, "[UNK]": 100, "[CLS]": 101, "[SEP]": 102, "[MASK]": 103}


class InputError(Exception):
    pass


def read_safetensors(path):
    """(mapped bytes, {name: (shape, begin, end)}) of an F32 safetensors file, validated."""
    try:
        f = open(path, "rb")
    except OSError as e:
        raise InputError(f"{path}: cannot open: {e.strerror}")
    with f:
        size = os.fstat(f.fileno()).st_size
        if size < 8:
            raise InputError(f"{path}: {size} bytes, too short for a safetensors header")
        data = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
    (header_len,) = struct.unpack_from("<Q", data, 0)
    if header_len > size - 8:
        raise InputError(f"{path}: header length {header_len} is past the end of the file ({size} bytes)")
    try:
        header = json.loads(bytes(data[8:8 + header_len]))
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise InputError(f"{path}: header is not JSON: {e}")
    if not isinstance(header, dict):
        raise InputError(f"{path}: header is not a JSON object")
    base = 8 + header_len
    tensors = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        if not isinstance(info, dict):
            raise InputError(f"{path}: tensor {name}: entry is not an object")
        dtype, shape, offsets = info.get("dtype"), info.get("shape"), info.get("data_offsets")
        if dtype != "F32":
            raise InputError(f"{path}: tensor {name}: dtype {dtype}, expected F32 (write the checkpoint with "
                             "gen_weights ... F32)")
        if (not isinstance(shape, list) or not all(isinstance(d, int) and d > 0 for d in shape)
                or not isinstance(offsets, list) or len(offsets) != 2
                or not all(isinstance(o, int) and o >= 0 for o in offsets)):
            raise InputError(f"{path}: tensor {name}: shape {shape} / data_offsets {offsets} are not valid")
        count = 1
        for d in shape:
            count *= d
        begin, end = base + offsets[0], base + offsets[1]
        if end - begin != 4 * count or end > size:
            raise InputError(f"{path}: tensor {name}: data_offsets {offsets} hold {offsets[1] - offsets[0]} bytes "
                             f"(file data {size - base}), shape {shape} needs {4 * count}")
        tensors[name] = (shape, begin, end)
    return data, tensors


def shape_checker(tensors, path):
    """shape_of(name, expected): the shape of a tensor of the checkpoint, checked against `expected` (or None)."""
    def shape_of(name, expected):
        if name not in tensors:
            raise InputError(f"{path}: tensor {name} is missing")
        shape = tensors[name][0]
        if expected is not None and shape != expected:
            raise InputError(f"{path}: tensor {name}: shape {shape}, expected {expected}")
        return shape
    return shape_of


def model_tensors(tensors, path, heads, groups=1):
    """The GGUF tensors in file order, (gguf name, the safetensors tensors it is made of (stacked in order), its
    shape (outermost first), layout or None), and the model's hyperparameters from the shapes. Layouts:
    ("rope", heads) rows permuted for rope; ("k_b" | "v_b", heads, nope, v) a part of DeepSeek's kv_b."""
    shape_of = shape_checker(tensors, path)
    if "backbone.layers.0.mixer.A_log" in tensors:
        return mamba_tensors(shape_of, tensors, path, groups)
    if "embeddings.word_embeddings.weight" in tensors:
        return bert_tensors(shape_of, tensors, path, heads)
    embed = shape_of("model.embed_tokens.weight", None)
    if len(embed) != 2:
        raise InputError(f"{path}: tensor model.embed_tokens.weight: shape {embed}, expected [vocab, dim]")
    layers = 0
    while f"model.layers.{layers}.input_layernorm.weight" in tensors:
        layers += 1
    if layers == 0:
        raise InputError(f"{path}: tensor model.layers.0.input_layernorm.weight is missing")
    if "model.layers.0.self_attn.kv_a_proj_with_mqa.weight" in tensors:
        order, hp = deepseek_tensors(shape_of, tensors, path, heads, layers, *embed)
    else:
        order, hp = llama_tensors(shape_of, tensors, path, heads, layers, *embed)
    order += [("output_norm.weight", ["model.norm.weight"], [hp["dim"]], None),
              ("output.weight", ["lm_head.weight"], [hp["vocab"], hp["dim"]], None)]
    for gguf_name, names, expected, layout in order:
        for name in names:  # each part's own shape: a stacked tensor's without the stacking
            if layout is None or layout[0] == "rope":
                shape_of(name, expected[1:] if gguf_name.endswith("_exps.weight") else expected)
    return order, hp


def llama_tensors(shape_of, tensors, path, heads, layers, vocab, dim):
    """A Llama or a Mixtral (experts stacked into one tensor per layer and projection)."""
    if heads <= 0 or dim % heads or (dim // heads) % 2:
        raise InputError(f"--heads {heads} does not split the model's width {dim} into heads of an even size")
    head_dim = dim // heads
    kv_dim = shape_of("model.layers.0.self_attn.k_proj.weight", None)[0]
    if kv_dim % head_dim:
        raise InputError(f"{path}: tensor model.layers.0.self_attn.k_proj.weight has {kv_dim} rows, not a multiple "
                         f"of the head size {head_dim}")
    moe = "model.layers.0.block_sparse_moe.gate.weight" in tensors
    experts = shape_of("model.layers.0.block_sparse_moe.gate.weight", None)[0] if moe else 0
    expert = "model.layers.0.block_sparse_moe.experts.0."
    ffn = shape_of(expert + "w1.weight" if moe else "model.layers.0.mlp.gate_proj.weight", None)[0]
    kv_heads = kv_dim // head_dim
    order = [("token_embd.weight", ["model.embed_tokens.weight"], [vocab, dim], None)]
    for i in range(layers):
        p = f"model.layers.{i}."
        order += [
            (f"blk.{i}.attn_norm.weight", [p + "input_layernorm.weight"], [dim], None),
            (f"blk.{i}.attn_q.weight", [p + "self_attn.q_proj.weight"], [dim, dim], ("rope", heads)),
            (f"blk.{i}.attn_k.weight", [p + "self_attn.k_proj.weight"], [kv_dim, dim], ("rope", kv_heads)),
            (f"blk.{i}.attn_v.weight", [p + "self_attn.v_proj.weight"], [kv_dim, dim], None),
            (f"blk.{i}.attn_output.weight", [p + "self_attn.o_proj.weight"], [dim, dim], None),
            (f"blk.{i}.ffn_norm.weight", [p + "post_attention_layernorm.weight"], [dim], None),
        ]
        if moe:
            order += [(f"blk.{i}.ffn_gate_inp.weight", [p + "block_sparse_moe.gate.weight"], [experts, dim], None)]
            order += stacked_experts(i, [f"{p}block_sparse_moe.experts.{e}." for e in range(experts)],
                                     {"gate": "w1", "down": "w2", "up": "w3"}, dim, ffn)
        else:
            order += dense_mlp(i, p, dim, ffn)
    hparams = {"arch": "llama", "vocab": vocab, "dim": dim, "layers": layers, "heads": heads, "kv_heads": kv_heads,
               "ffn": ffn, "head_dim": head_dim, "experts": experts}
    return order, hparams


def dense_mlp(i, p, dim, ffn):
    return [(f"blk.{i}.ffn_gate.weight", [p + "mlp.gate_proj.weight"], [ffn, dim], None),
            (f"blk.{i}.ffn_up.weight", [p + "mlp.up_proj.weight"], [ffn, dim], None),
            (f"blk.{i}.ffn_down.weight", [p + "mlp.down_proj.weight"], [dim, ffn], None)]


def stacked_experts(i, prefixes, names, dim, ffn):
    """ffn_{gate,down,up}_exps: the experts' matrices stacked, [experts, out, in]; names: gguf part -> HF name."""
    return [(f"blk.{i}.ffn_{part}_exps.weight", [x + names[part] + ".weight" for x in prefixes],
             [len(prefixes)] + ([dim, ffn] if part == "down" else [ffn, dim]), None) for part in ("gate", "down", "up")]


def deepseek_tensors(shape_of, tensors, path, heads, layers, vocab, dim):
    """DeepSeek-V2 as convert_hf_to_gguf.py writes it (DeepseekV2Model, architecture deepseek2): the names mapped,
    no rope permutation (modeling_deepseek.py's rope pairs adjacent values, as llama.cpp's does), the experts
    stacked, and kv_b_proj split per head into attn_k_b (its k_nope rows, transposed: [heads, kv_lora, nope]) and
    attn_v_b (its v rows: [heads, v, kv_lora]), the form llama.cpp's absorbed MLA multiplies with."""
    p0 = "model.layers.0.self_attn."
    kv_lora = shape_of(p0 + "kv_a_layernorm.weight", None)[0]
    rope = shape_of(p0 + "kv_a_proj_with_mqa.weight", None)[0] - kv_lora
    q_rows = shape_of(p0 + "q_proj.weight", None)[0]
    kv_b_rows = shape_of(p0 + "kv_b_proj.weight", None)[0]
    o_cols = shape_of(p0 + "o_proj.weight", None)[1]
    if heads <= 0 or q_rows % heads or kv_b_rows % heads or o_cols % heads:
        raise InputError(f"--heads {heads} does not divide q_proj's {q_rows} rows, kv_b_proj's {kv_b_rows} rows and "
                         f"o_proj's {o_cols} columns into heads")
    v = o_cols // heads
    nope = q_rows // heads - rope
    if rope <= 0 or nope <= 0 or kv_b_rows // heads != nope + v:
        raise InputError(f"{path}: MLA sizes do not fit: kv_a_proj_with_mqa gives rope {rope}, q_proj heads of "
                         f"{q_rows // heads} (nope {nope}), kv_b_proj heads of {kv_b_rows // heads}, expected nope + v "
                         f"= {nope + v}")
    dense = 0
    while dense < layers and f"model.layers.{dense}.mlp.gate_proj.weight" in tensors:
        dense += 1
    dense_ffn = shape_of("model.layers.0.mlp.gate_proj.weight", None)[0] if dense else 0
    experts = ffn = shared = 0
    if dense < layers:
        moe = f"model.layers.{dense}.mlp."
        experts = shape_of(moe + "gate.weight", None)[0]
        ffn = shape_of(moe + "experts.0.gate_proj.weight", None)[0]
        shared = shape_of(moe + "shared_experts.gate_proj.weight", None)[0] // ffn
    order = [("token_embd.weight", ["model.embed_tokens.weight"], [vocab, dim], None)]
    for i in range(layers):
        p = f"model.layers.{i}."
        a = p + "self_attn."
        order += [
            (f"blk.{i}.attn_norm.weight", [p + "input_layernorm.weight"], [dim], None),
            (f"blk.{i}.attn_q.weight", [a + "q_proj.weight"], [heads * (nope + rope), dim], None),
            (f"blk.{i}.attn_kv_a_mqa.weight", [a + "kv_a_proj_with_mqa.weight"], [kv_lora + rope, dim], None),
            (f"blk.{i}.attn_kv_a_norm.weight", [a + "kv_a_layernorm.weight"], [kv_lora], None),
            (f"blk.{i}.attn_k_b.weight", [a + "kv_b_proj.weight"], [heads, kv_lora, nope], ("k_b", heads, nope, v)),
            (f"blk.{i}.attn_v_b.weight", [a + "kv_b_proj.weight"], [heads, v, kv_lora], ("v_b", heads, nope, v)),
            (f"blk.{i}.attn_output.weight", [a + "o_proj.weight"], [dim, heads * v], None),
            (f"blk.{i}.ffn_norm.weight", [p + "post_attention_layernorm.weight"], [dim], None),
        ]
        shape_of(a + "kv_b_proj.weight", [heads * (nope + v), kv_lora])
        if i < dense:
            order += dense_mlp(i, p, dim, dense_ffn)
            continue
        m = p + "mlp."
        order += [(f"blk.{i}.ffn_gate_inp.weight", [m + "gate.weight"], [experts, dim], None)]
        order += stacked_experts(i, [f"{m}experts.{e}." for e in range(experts)],
                                 {"gate": "gate_proj", "down": "down_proj", "up": "up_proj"}, dim, ffn)
        width = shared * ffn  # the shared experts as one MLP
        order += [(f"blk.{i}.ffn_gate_shexp.weight", [m + "shared_experts.gate_proj.weight"], [width, dim], None),
                  (f"blk.{i}.ffn_down_shexp.weight", [m + "shared_experts.down_proj.weight"], [dim, width], None),
                  (f"blk.{i}.ffn_up_shexp.weight", [m + "shared_experts.up_proj.weight"], [width, dim], None)]
    hparams = {"arch": "deepseek2", "vocab": vocab, "dim": dim, "layers": layers, "heads": heads, "kv_lora": kv_lora,
               "nope": nope, "rope": rope, "v": v, "dense": dense, "dense_ffn": dense_ffn, "experts": experts,
               "ffn": ffn, "shared": shared}
    return order, hparams


def mamba_tensors(shape_of, tensors, path, groups):
    """Mamba or Mamba 2 (A_log of [d_inner, d_state] or of [heads]) as convert_hf_to_gguf.py (MambaModel,
    Mamba2Model, llama.cpp 1fd6dfe9f) writes them: A = -exp(A_log), conv1d's [channels, 1, kernel] squeezed, Mamba 2's
    A and D as [heads, 1], its dt_bias as ssm_dt.bias and its gated norm as [groups, d_inner / groups]; the
    classifier tied to the embedding (no output.weight)."""
    vocab, dim = shape_of("backbone.embeddings.weight", None)
    layers = 0
    while f"backbone.layers.{layers}.mixer.A_log" in tensors:
        layers += 1
    m0 = "backbone.layers.0.mixer."
    a_log = shape_of(m0 + "A_log", None)
    inner = shape_of(m0 + "out_proj.weight", None)[1]
    conv_width, _, kernel = shape_of(m0 + "conv1d.weight", None)
    mamba2 = len(a_log) == 1
    if mamba2:  # the shapes give groups × state only: the groups come from --ssm-groups
        heads = a_log[0]
        if groups <= 0 or (conv_width - inner) % (2 * groups):
            raise InputError(f"{path}: conv1d's {conv_width} channels minus d_inner {inner} is not 2 × {groups} "
                             "groups × a state size (--ssm-groups)")
        state = (conv_width - inner) // (2 * groups)
        hp = {"arch": "mamba2", "groups": groups, "dt_rank": heads}
    else:
        state = a_log[1]
        hp = {"arch": "mamba", "dt_rank": shape_of(m0 + "dt_proj.weight", None)[1]}
    hp.update({"vocab": vocab, "dim": dim, "layers": layers, "inner": inner, "state": state, "conv": kernel,
               "heads": 0, "ffn": 0, "experts": 0})
    order = [("token_embd.weight", ["backbone.embeddings.weight"], [vocab, dim], None)]
    for i in range(layers):
        p = f"backbone.layers.{i}."
        m = p + "mixer."
        order += [(f"blk.{i}.attn_norm.weight", [p + "norm.weight"], [dim], None),
                  (f"blk.{i}.ssm_in.weight", [m + "in_proj.weight"], shape_of(m + "in_proj.weight", None), None),
                  (f"blk.{i}.ssm_conv1d.weight", [m + "conv1d.weight"], [conv_width, kernel], None),
                  (f"blk.{i}.ssm_conv1d.bias", [m + "conv1d.bias"], [conv_width], None)]
        if mamba2:
            order += [(f"blk.{i}.ssm_dt.bias", [m + "dt_bias"], [heads], None),
                      (f"blk.{i}.ssm_a", [m + "A_log"], [heads, 1], ("neg_exp",)),
                      (f"blk.{i}.ssm_d", [m + "D"], [heads, 1], None),
                      (f"blk.{i}.ssm_norm.weight", [m + "norm.weight"], [hp["groups"], inner // hp["groups"]], None)]
        else:
            order += [(f"blk.{i}.ssm_x.weight", [m + "x_proj.weight"], shape_of(m + "x_proj.weight", None), None),
                      (f"blk.{i}.ssm_dt.weight", [m + "dt_proj.weight"], [inner, hp["dt_rank"]], None),
                      (f"blk.{i}.ssm_dt.bias", [m + "dt_proj.bias"], [inner], None),
                      (f"blk.{i}.ssm_a", [m + "A_log"], [inner, state], ("neg_exp",)),
                      (f"blk.{i}.ssm_d", [m + "D"], [inner], None)]
        order += [(f"blk.{i}.ssm_out.weight", [m + "out_proj.weight"], [dim, inner], None)]
    order += [("output_norm.weight", ["backbone.norm_f.weight"], [dim], None)]
    for _, names, expected, _ in order:  # every part's values count (a squeeze or reshape keeps them)
        for name in names:
            if math.prod(shape_of(name, None)) != math.prod(expected):
                raise InputError(f"{path}: tensor {name}: shape {shape_of(name, None)} does not hold the "
                                 f"{math.prod(expected)} values of {expected}")
    return order, hp


def bert_tensors(shape_of, tensors, path, heads):
    """BertModel (no "bert." prefix, no pooler, no MLM head: what convert_hf_to_gguf.py keeps of a BERT) as
    BertModel.filter_tensors and gguf-py's tensor map name it, every tensor as stored (biases of [n])."""
    vocab, dim = shape_of("embeddings.word_embeddings.weight", None)
    context = shape_of("embeddings.position_embeddings.weight", None)[0]
    types = shape_of("embeddings.token_type_embeddings.weight", None)[0]
    layers = 0
    while f"encoder.layer.{layers}.attention.self.query.weight" in tensors:
        layers += 1
    if layers == 0:
        raise InputError(f"{path}: tensor encoder.layer.0.attention.self.query.weight is missing")
    if heads <= 0 or dim % heads:
        raise InputError(f"--heads {heads} does not split the model's width {dim} into heads")
    ffn = shape_of("encoder.layer.0.intermediate.dense.weight", None)[0]
    order = [("token_embd.weight", ["embeddings.word_embeddings.weight"], [vocab, dim], None),
             ("token_types.weight", ["embeddings.token_type_embeddings.weight"], [types, dim], None),
             ("position_embd.weight", ["embeddings.position_embeddings.weight"], [context, dim], None),
             ("token_embd_norm.weight", ["embeddings.LayerNorm.weight"], [dim], None),
             ("token_embd_norm.bias", ["embeddings.LayerNorm.bias"], [dim], None)]
    parts = [("attn_q", "attention.self.query", [dim, dim]), ("attn_k", "attention.self.key", [dim, dim]),
             ("attn_v", "attention.self.value", [dim, dim]), ("attn_output", "attention.output.dense", [dim, dim]),
             ("attn_output_norm", "attention.output.LayerNorm", [dim]), ("ffn_up", "intermediate.dense", [ffn, dim]),
             ("ffn_down", "output.dense", [dim, ffn]), ("layer_output_norm", "output.LayerNorm", [dim])]
    for i in range(layers):
        for gguf_part, hf_part, dims in parts:
            hf = f"encoder.layer.{i}.{hf_part}."
            order += [(f"blk.{i}.{gguf_part}.weight", [hf + "weight"], dims, None),
                      (f"blk.{i}.{gguf_part}.bias", [hf + "bias"], dims[:1], None)]
    for _, names, expected, _ in order:
        shape_of(names[0], expected)
    hp = {"arch": "bert", "vocab": vocab, "dim": dim, "layers": layers, "heads": heads, "ffn": ffn,
          "context": context, "token_types": types, "experts": 0}
    return order, hp


def rope_row_order(rows, heads):
    """Source row of each output row: convert_hf_to_gguf.py's permute, w.reshape(heads, 2, rows / heads / 2, ...)
    .swapaxes(1, 2): within a head, output row 2j + p comes from input row p * half + j."""
    head = rows // heads
    half = head // 2
    return [h * head + p * half + j for h in range(heads) for j in range(half) for p in range(2)]


def gguf_string(s):
    b = s.encode()
    return struct.pack("<Q", len(b)) + b


def gguf_kv(key, vtype, value):
    out = gguf_string(key) + struct.pack("<I", vtype)
    if vtype == STRING:
        return out + gguf_string(value)
    if vtype == BOOL:
        return out + struct.pack("<?", value)
    if vtype == ARRAY:
        etype, items = value
        out += struct.pack("<IQ", etype, len(items))
        if etype == STRING:
            return out + b"".join(gguf_string(s) for s in items)
        return out + struct.pack("<%d%s" % (len(items), {I32: "i", F32_VALUE: "f", U32: "I"}[etype]), *items)
    return out + struct.pack({U32: "<I", I32: "<i", F32_VALUE: "<f"}[vtype], value)


def vocabulary(size):
    if size < 259:
        raise InputError(f"vocabulary of {size} tokens: a Llama vocabulary needs at least 259 (3 special, 256 bytes)")
    tokens = ["<unk>", "<s>", "</s>"] + [f"<0x{b:02X}>" for b in range(256)]
    types = [TOKEN_UNKNOWN, TOKEN_CONTROL, TOKEN_CONTROL] + [TOKEN_BYTE] * 256
    tokens += [f"tok{i}" for i in range(len(tokens), size)]
    types += [TOKEN_NORMAL] * (size - len(types))
    return tokens, [-float(i) for i in range(size)], types


def wordpiece_vocabulary(size):
    """A BERT vocabulary as convert_hf_to_gguf.py (BertModel.set_vocab) writes one: [PAD], [unused0..98], [UNK],
    [CLS], [SEP], [MASK] at bert-base-uncased's ids (control tokens, as they are), then the filler words "w<id>" in
    the phantom-space form of word-initial pieces ("\u2581w<id>"), so the text "w104 w105" is the ids 104, 105."""
    if size <= max(BERT_SPECIAL.values()):
        raise InputError(f"vocabulary of {size} tokens: a BERT vocabulary needs more than {max(BERT_SPECIAL.values())}")
    special = {i: t for t, i in BERT_SPECIAL.items()}
    tokens, types = [], []
    for i in range(size):
        if i in special:
            tokens.append(special[i])
            types.append(TOKEN_CONTROL)
        else:
            tokens.append("\u2581" + (f"[unused{i - 1}]" if i < 100 else f"w{i}"))
            types.append(TOKEN_NORMAL)
    return tokens, types


def wordpiece_metadata(hp):
    tokens, types = wordpiece_vocabulary(hp["vocab"])
    return [
        ("tokenizer.ggml.token_type_count", U32, hp["token_types"]),
        ("tokenizer.ggml.model", STRING, "bert"),
        ("tokenizer.ggml.pre", STRING, "default"),
        ("tokenizer.ggml.tokens", ARRAY, (STRING, tokens)),
        ("tokenizer.ggml.token_type", ARRAY, (I32, types)),
        ("tokenizer.ggml.unknown_token_id", U32, BERT_SPECIAL["[UNK]"]),
        ("tokenizer.ggml.seperator_token_id", U32, BERT_SPECIAL["[SEP]"]),  # gguf-py's spelling
        ("tokenizer.ggml.padding_token_id", U32, BERT_SPECIAL["[PAD]"]),
        ("tokenizer.ggml.cls_token_id", U32, BERT_SPECIAL["[CLS]"]),
        ("tokenizer.ggml.mask_token_id", U32, BERT_SPECIAL["[MASK]"]),
    ]


def metadata(hp, a, name):
    """The GGUF's key-value pairs: the architecture's, then the synthetic vocabulary."""
    arch = hp["arch"]
    kvs = [
        ("general.architecture", STRING, arch),
        ("general.name", STRING, name),
        ("general.file_type", U32, FILE_TYPE_ALL_F32),
    ]
    arch_keys = {"llama": llama_keys, "deepseek2": deepseek2_keys, "mamba": mamba_keys, "mamba2": mamba_keys,
                 "bert": bert_keys}[arch]
    kvs += [(f"{arch}.{key}", vtype, value) for key, vtype, value in arch_keys(hp, a)]
    if arch == "bert":
        return kvs + wordpiece_metadata(hp)
    tokens, scores, types = vocabulary(hp["vocab"])
    kvs += [
        ("tokenizer.ggml.model", STRING, "llama"),
        ("tokenizer.ggml.tokens", ARRAY, (STRING, tokens)),
        ("tokenizer.ggml.scores", ARRAY, (F32_VALUE, scores)),
        ("tokenizer.ggml.token_type", ARRAY, (I32, types)),
        ("tokenizer.ggml.bos_token_id", U32, 1),
        ("tokenizer.ggml.eos_token_id", U32, 2),
        ("tokenizer.ggml.unknown_token_id", U32, 0),
    ]
    return kvs


def llama_keys(hp, a):
    keys = [
        ("vocab_size", U32, hp["vocab"]),
        ("context_length", U32, a.context),
        ("embedding_length", U32, hp["dim"]),
        ("block_count", U32, hp["layers"]),
        ("feed_forward_length", U32, hp["ffn"]),
        ("attention.head_count", U32, hp["heads"]),
        ("attention.head_count_kv", U32, hp["kv_heads"]),
        ("rope.dimension_count", U32, hp["head_dim"]),
        ("rope.freq_base", F32_VALUE, a.rope_theta),
        ("attention.layer_norm_rms_epsilon", F32_VALUE, a.rms_eps),
    ]
    if hp["experts"]:  # Mixtral's routing: softmax over the experts, the top 2 (here top_k) renormalised
        keys += [("expert_count", U32, hp["experts"]), ("expert_used_count", U32, a.experts_per_token)]
    return keys


def bert_keys(hp, a):
    """TextModel.set_gguf_parameters for a BERT config.json (no head_count_kv: it has no num_key_value_heads), then
    BertModel's: attention not causal, the pooling of a sentence-transformers Pooling module (--pooling)."""
    return [
        ("context_length", U32, hp["context"]),
        ("embedding_length", U32, hp["dim"]),
        ("feed_forward_length", U32, hp["ffn"]),
        ("block_count", U32, hp["layers"]),
        ("attention.head_count", U32, hp["heads"]),
        ("attention.layer_norm_epsilon", F32_VALUE, a.layer_norm_eps),
        ("attention.causal", BOOL, False),
        ("pooling_type", U32, POOLING_TYPES[a.pooling]),
    ]


def mamba_keys(hp, a):
    """MambaModel / Mamba2Model.set_gguf_parameters: no attention and no MLP (their sizes 0), the state-space sizes;
    Mamba 2's time_step_rank is its head count. One difference: Mamba 2's attention.head_count is its head count,
    not the converter's 0: llama.cpp 1fd6dfe9f's mamba2 loader sizes ssm_in, ssm_a, ssm_d and ssm_dt.bias by it
    and rejects the file otherwise ("blk.0.ssm_in.weight has wrong shape")."""
    keys = [
        ("context_length", U32, a.context),
        ("embedding_length", U32, hp["dim"]),
        ("feed_forward_length", U32, 0),
        ("attention.head_count", U32, hp["dt_rank"] if hp["arch"] == "mamba2" else 0),
        ("block_count", U32, hp["layers"]),
        ("ssm.conv_kernel", U32, hp["conv"]),
        ("ssm.inner_size", U32, hp["inner"]),
        ("ssm.state_size", U32, hp["state"]),
        ("ssm.time_step_rank", U32, hp["dt_rank"]),
    ]
    if hp["arch"] == "mamba2":
        keys += [("ssm.group_count", U32, hp["groups"])]
    return keys + [("attention.layer_norm_rms_epsilon", F32_VALUE, a.rms_eps)]


def deepseek2_keys(hp, a):
    """DeepseekV2Model.set_gguf_parameters for DeepSeek-V2-Lite's config.json with these sizes: MLA as MQA with one
    KV head of kv_lora + rope values, softmax routing over one group, top-k weights not renormalised, scaled by
    1.0; with --yarn, YaRN as the config's rope_scaling gives it (llama.cpp reads mscale_all_dim back from
    yarn_log_multiplier / 0.1 and takes mscale equal to it)."""
    keys = [
        ("block_count", U32, hp["layers"]),
        ("context_length", U32, a.context),
        ("embedding_length", U32, hp["dim"]),
        ("feed_forward_length", U32, hp["dense_ffn"] or hp["ffn"]),
        ("attention.head_count", U32, hp["heads"]),
        ("attention.head_count_kv", U32, 1),
    ]
    if a.yarn:
        factor, original, mscale_all_dim = a.yarn
        keys += [("rope.scaling.type", STRING, "yarn"), ("rope.scaling.factor", F32_VALUE, factor),
                 ("rope.scaling.original_context_length", U32, int(original)),
                 ("rope.scaling.yarn_beta_fast", F32_VALUE, 32.0), ("rope.scaling.yarn_beta_slow", F32_VALUE, 1.0)]
    keys += [
        ("rope.freq_base", F32_VALUE, a.rope_theta),
        ("attention.layer_norm_rms_epsilon", F32_VALUE, a.rms_eps),
        ("expert_used_count", U32, a.experts_per_token),
        ("expert_group_count", U32, 1),
        ("expert_group_used_count", U32, 1),
        ("expert_gating_func", U32, EXPERT_GATING_SOFTMAX),
        ("leading_dense_block_count", U32, hp["dense"]),
        ("vocab_size", U32, hp["vocab"]),
        # Not written by the converter for a model without q_lora (V2-Lite), but llama.cpp 1fd6dfe9f requires the
        # key unless the layer count is one of the known Lite models' (27, 26): 0 = queries straight from q_proj.
        ("attention.q_lora_rank", U32, 0),
        ("attention.kv_lora_rank", U32, hp["kv_lora"]),
        ("attention.key_length", U32, hp["kv_lora"] + hp["rope"]),
        ("attention.value_length", U32, hp["kv_lora"]),
        ("attention.key_length_mla", U32, hp["nope"] + hp["rope"]),
        ("attention.value_length_mla", U32, hp["v"]),
        ("expert_feed_forward_length", U32, hp["ffn"]),
        ("expert_count", U32, hp["experts"]),
        ("expert_shared_count", U32, hp["shared"]),
        ("expert_weights_scale", F32_VALUE, 1.0),
        ("rope.dimension_count", U32, hp["rope"]),
    ]
    if a.yarn:  # the converter's legacy factor 0.1 (llama.cpp divides it out again)
        keys += [("rope.scaling.yarn_log_multiplier", F32_VALUE, 0.1 * a.yarn[2])]
    return keys


def pad(n):
    return (ALIGNMENT - n % ALIGNMENT) % ALIGNMENT


def tensor_chunks(data, tensors, st_name, layout):
    """The bytes of one safetensors tensor as the GGUF holds it, in pieces."""
    shape, begin, end = tensors[st_name]
    if layout is None:
        yield data[begin:end]
        return
    if layout[0] == "neg_exp":  # Mamba's A from A_log
        values = array.array("f")
        values.frombytes(data[begin:end])
        if sys.byteorder != "little":
            values.byteswap()
        values = array.array("f", (-math.exp(v) for v in values))
        if sys.byteorder != "little":
            values.byteswap()
        yield values.tobytes()
        return
    row = 4 * shape[1]
    if layout[0] == "rope":
        for r in rope_row_order(shape[0], layout[1]):
            yield data[begin + r * row:begin + (r + 1) * row]
        return
    _, heads, nope, v = layout
    latent = shape[1]
    for h in range(heads):
        first = begin + h * (nope + v) * row  # the head's rows: nope k rows, then v rows
        if layout[0] == "v_b":
            yield data[first + nope * row:first + (nope + v) * row]
            continue
        k = array.array("f")
        k.frombytes(data[first:first + nope * row])
        if sys.byteorder != "little":
            k.byteswap()
        t = array.array("f")
        for j in range(latent):  # k_b[h][j][i] = kv_b[h (nope + v) + i][j]
            t.extend(k[j::latent])
        if sys.byteorder != "little":
            t.byteswap()
        yield t.tobytes()


def write_gguf(src, out, a):
    data, tensors = read_safetensors(src)
    order, hp = model_tensors(tensors, src, a.heads, a.ssm_groups)
    if hp["experts"] and not 1 <= a.experts_per_token <= hp["experts"]:
        raise InputError(f"--experts-per-token {a.experts_per_token}: the model has {hp['experts']} experts per "
                         "layer")
    kvs = metadata(hp, a, os.path.splitext(os.path.basename(src))[0])
    head = b"GGUF" + struct.pack("<IQQ", 3, len(order), len(kvs)) + b"".join(gguf_kv(*kv) for kv in kvs)
    offset = 0
    for gguf_name, _, shape, _ in order:
        head += gguf_string(gguf_name) + struct.pack("<I", len(shape))
        head += b"".join(struct.pack("<Q", d) for d in reversed(shape))  # GGUF lists the fastest dimension first
        head += struct.pack("<IQ", GGUF_F32, offset)
        offset += 4 * math.prod(shape)
        offset += pad(offset)
    tmp = out + ".tmp"
    try:
        with open(tmp, "wb") as f:
            f.write(head + b"\0" * pad(len(head)))
            for _, names, shape, layout in order:
                for st_name in names:
                    for chunk in tensor_chunks(data, tensors, st_name, layout):
                        f.write(chunk)
                f.write(b"\0" * pad(4 * math.prod(shape)))
        os.replace(tmp, out)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise
    return hp


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("src", metavar="IN.safetensors")
    ap.add_argument("out", metavar="OUT.gguf")
    ap.add_argument("--heads", type=int, default=0, help="attention heads (Llama, DeepSeek)")
    ap.add_argument("--ssm-groups", type=int, default=1, help="Mamba 2: n_groups (default 1)")
    ap.add_argument("--context", type=int, default=2048, help="llama.context_length (default 2048)")
    ap.add_argument("--rope-theta", type=float, default=10000.0)
    ap.add_argument("--rms-eps", type=float, default=1e-5)
    ap.add_argument("--experts-per-token", type=int, default=2, help="experts per token of a mixture (default 2)")
    ap.add_argument("--layer-norm-eps", type=float, default=1e-12, help="BERT: layer_norm_eps (default 1e-12)")
    ap.add_argument("--pooling", choices=sorted(POOLING_TYPES), default="mean",
                    help="BERT: the pooling llama.cpp applies unless told otherwise (default mean)")
    ap.add_argument("--yarn", type=float, nargs=3, metavar=("FACTOR", "ORIGINAL_CONTEXT", "MSCALE_ALL_DIM"),
                    help="DeepSeek: YaRN rope scaling as config.json's rope_scaling (V2-Lite: 40 4096 0.707)")
    a = ap.parse_args()
    try:
        hp = write_gguf(a.src, a.out, a)
    except InputError as e:
        print(f"write_gguf: {e}", file=sys.stderr)
        return 1
    except OSError as e:
        print(f"write_gguf: {a.out}: {e.strerror or e}", file=sys.stderr)
        return 1
    if hp["arch"] == "bert":
        print(f"write_gguf: {a.out}: bert, {hp['layers']} layers, width {hp['dim']}, {hp['heads']} heads, FFN "
              f"{hp['ffn']}, {hp['context']} positions, {hp['token_types']} token types, WordPiece vocabulary "
              f"{hp['vocab']}", file=sys.stderr)
        return 0
    if hp["arch"].startswith("mamba"):
        print(f"write_gguf: {a.out}: {hp['arch']}, {hp['layers']} layers, width {hp['dim']}, inner {hp['inner']}, "
              f"state {hp['state']}, vocabulary {hp['vocab']}", file=sys.stderr)
        return 0
    attention = (f"({hp['kv_heads']} KV)" if hp["arch"] == "llama" else
                 f"of MLA (latent {hp['kv_lora']}, nope {hp['nope']}, rope {hp['rope']}, v {hp['v']})")
    print(f"write_gguf: {a.out}: {hp['arch']}, {hp['layers']} layers, width {hp['dim']}, {hp['heads']} heads "
          f"{attention}, FFN {hp['ffn']}, {hp['experts']} experts, vocabulary {hp['vocab']}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
