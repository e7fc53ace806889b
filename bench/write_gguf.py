#!/usr/bin/env python3
"""Writes a llama.cpp GGUF (F32, architecture "llama") from the bench's random-weight checkpoint, so llama.cpp
runs the very weights llmc runs. Stdlib only (no numpy, no gguf-py).

  write_gguf.py IN.safetensors OUT.gguf --heads N [--context N] [--rope-theta X] [--rms-eps X]
               [--experts-per-token K]

IN is an F32 .safetensors with Hugging Face Llama tensor names, as bench/gen_weights.cpp writes it (untied
lm_head), or Mixtral names (a router and experts per layer): its experts are stacked into one tensor per layer
and projection as llama.cpp's Mixtral files hold them (architecture "llama" with llama.expert_count). The model's sizes are read from its tensor shapes; --heads gives the attention heads (the head size
is not in the shapes), the KV heads follow from k_proj. As convert_hf_to_gguf.py does for Llama, the rows of
q_proj and k_proj are permuted from the half-split rotary layout of Hugging Face to llama.cpp's interleaved one.
The vocabulary is synthetic, the size of the embedding: <unk> <s> </s>, the 256 byte tokens <0x00>..<0xFF>
(llama.cpp looks up <0x0A> for its newline token), then tokens "tok<i>". Other types (F16, BF16, Q8_0, Q4_0)
are made from this file with `llama-quantize --pure` (see bench/engines/README.md).
OUT is written to OUT.tmp and renamed when complete; bad input ends with a message and exit code 1."""
import argparse
import json
import mmap
import os
import struct
import sys

ALIGNMENT = 32  # GGUF's default general.alignment
GGUF_F32 = 0  # ggml_type of every tensor written
FILE_TYPE_ALL_F32 = 0  # llama_ftype
# GGUF metadata value types
U32, I32, F32_VALUE, STRING, ARRAY = 4, 5, 6, 8, 9
TOKEN_NORMAL, TOKEN_UNKNOWN, TOKEN_CONTROL, TOKEN_BYTE = 1, 2, 3, 6


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


def model_tensors(tensors, path, heads):
    """The GGUF tensors in file order: (gguf name, safetensors name, rows permuted for heads or None), and the
    model's hyperparameters from the shapes."""
    def shape_of(name, expected):
        if name not in tensors:
            raise InputError(f"{path}: tensor {name} is missing")
        shape = tensors[name][0]
        if expected is not None and shape != expected:
            raise InputError(f"{path}: tensor {name}: shape {shape}, expected {expected}")
        return shape

    embed = shape_of("model.embed_tokens.weight", None)
    if len(embed) != 2:
        raise InputError(f"{path}: tensor model.embed_tokens.weight: shape {embed}, expected [vocab, dim]")
    vocab, dim = embed
    if heads <= 0 or dim % heads or (dim // heads) % 2:
        raise InputError(f"--heads {heads} does not split the model's width {dim} into heads of an even size")
    head_dim = dim // heads
    layers = 0
    while f"model.layers.{layers}.input_layernorm.weight" in tensors:
        layers += 1
    if layers == 0:
        raise InputError(f"{path}: tensor model.layers.0.input_layernorm.weight is missing")
    kv_dim = shape_of("model.layers.0.self_attn.k_proj.weight", None)[0]
    if kv_dim % head_dim:
        raise InputError(f"{path}: tensor model.layers.0.self_attn.k_proj.weight has {kv_dim} rows, not a multiple "
                         f"of the head size {head_dim}")
    moe = "model.layers.0.block_sparse_moe.gate.weight" in tensors
    experts = shape_of("model.layers.0.block_sparse_moe.gate.weight", None)[0] if moe else 0
    expert = "model.layers.0.block_sparse_moe.experts.0."
    ffn = shape_of(expert + "w1.weight" if moe else "model.layers.0.mlp.gate_proj.weight", None)[0]
    kv_heads = kv_dim // head_dim
    # (gguf name, the safetensors tensors it is made of (stacked in order), expected shape of each, rows
    # permuted for this many heads or None)
    order = [("token_embd.weight", ["model.embed_tokens.weight"], [vocab, dim], None)]
    for i in range(layers):
        p = f"model.layers.{i}."
        order += [
            (f"blk.{i}.attn_norm.weight", [p + "input_layernorm.weight"], [dim], None),
            (f"blk.{i}.attn_q.weight", [p + "self_attn.q_proj.weight"], [dim, dim], heads),
            (f"blk.{i}.attn_k.weight", [p + "self_attn.k_proj.weight"], [kv_dim, dim], kv_heads),
            (f"blk.{i}.attn_v.weight", [p + "self_attn.v_proj.weight"], [kv_dim, dim], None),
            (f"blk.{i}.attn_output.weight", [p + "self_attn.o_proj.weight"], [dim, dim], None),
            (f"blk.{i}.ffn_norm.weight", [p + "post_attention_layernorm.weight"], [dim], None),
        ]
        if moe:
            each = [f"{p}block_sparse_moe.experts.{e}." for e in range(experts)]
            order += [
                (f"blk.{i}.ffn_gate_inp.weight", [p + "block_sparse_moe.gate.weight"], [experts, dim], None),
                (f"blk.{i}.ffn_gate_exps.weight", [x + "w1.weight" for x in each], [ffn, dim], None),
                (f"blk.{i}.ffn_down_exps.weight", [x + "w2.weight" for x in each], [dim, ffn], None),
                (f"blk.{i}.ffn_up_exps.weight", [x + "w3.weight" for x in each], [ffn, dim], None),
            ]
        else:
            order += [
                (f"blk.{i}.ffn_gate.weight", [p + "mlp.gate_proj.weight"], [ffn, dim], None),
                (f"blk.{i}.ffn_up.weight", [p + "mlp.up_proj.weight"], [ffn, dim], None),
                (f"blk.{i}.ffn_down.weight", [p + "mlp.down_proj.weight"], [dim, ffn], None),
            ]
    order += [("output_norm.weight", ["model.norm.weight"], [dim], None),
              ("output.weight", ["lm_head.weight"], [vocab, dim], None)]
    for _, names, expected, _ in order:
        for name in names:
            shape_of(name, expected)
    hparams = {"vocab": vocab, "dim": dim, "layers": layers, "heads": heads, "kv_heads": kv_heads, "ffn": ffn,
               "head_dim": head_dim, "experts": experts}
    return [(g, names, ([len(names)] if len(names) > 1 else []) + expected, h) for g, names, expected, h in order], hparams


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


def metadata(hp, context, rope_theta, rms_eps, name):
    tokens, scores, types = vocabulary(hp["vocab"])
    kvs = [
        ("general.architecture", STRING, "llama"),
        ("general.name", STRING, name),
        ("general.file_type", U32, FILE_TYPE_ALL_F32),
        ("llama.vocab_size", U32, hp["vocab"]),
        ("llama.context_length", U32, context),
        ("llama.embedding_length", U32, hp["dim"]),
        ("llama.block_count", U32, hp["layers"]),
        ("llama.feed_forward_length", U32, hp["ffn"]),
        ("llama.attention.head_count", U32, hp["heads"]),
        ("llama.attention.head_count_kv", U32, hp["kv_heads"]),
        ("llama.rope.dimension_count", U32, hp["head_dim"]),
        ("llama.rope.freq_base", F32_VALUE, rope_theta),
        ("llama.attention.layer_norm_rms_epsilon", F32_VALUE, rms_eps),
    ]
    if hp["experts"]:  # Mixtral's routing: softmax over the experts, the top 2 (here top_k) renormalised
        kvs += [("llama.expert_count", U32, hp["experts"]), ("llama.expert_used_count", U32, hp["top_k"])]
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


def pad(n):
    return (ALIGNMENT - n % ALIGNMENT) % ALIGNMENT


def write_gguf(src, out, heads, context, rope_theta, rms_eps, top_k):
    data, tensors = read_safetensors(src)
    order, hp = model_tensors(tensors, src, heads)
    if hp["experts"] and not 1 <= top_k <= hp["experts"]:
        raise InputError(f"--experts-per-token {top_k}: the model has {hp['experts']} experts per layer")
    hp["top_k"] = top_k
    kvs = metadata(hp, context, rope_theta, rms_eps, os.path.splitext(os.path.basename(src))[0])
    head = b"GGUF" + struct.pack("<IQQ", 3, len(order), len(kvs)) + b"".join(gguf_kv(*kv) for kv in kvs)
    offset = 0
    for gguf_name, names, shape, _ in order:
        head += gguf_string(gguf_name) + struct.pack("<I", len(shape))
        head += b"".join(struct.pack("<Q", d) for d in reversed(shape))  # GGUF lists the fastest dimension first
        head += struct.pack("<IQ", GGUF_F32, offset)
        offset += sum(tensors[n][2] - tensors[n][1] for n in names)
        offset += pad(offset)
    tmp = out + ".tmp"
    try:
        with open(tmp, "wb") as f:
            f.write(head + b"\0" * pad(len(head)))
            for _, names, _, permute_heads in order:
                size = 0
                for st_name in names:
                    shape, begin, end = tensors[st_name]
                    size += end - begin
                    if permute_heads is None:
                        f.write(data[begin:end])
                    else:
                        row = 4 * shape[1]
                        for r in rope_row_order(shape[0], permute_heads):
                            f.write(data[begin + r * row:begin + (r + 1) * row])
                f.write(b"\0" * pad(size))
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
    ap.add_argument("--heads", type=int, required=True, help="attention heads")
    ap.add_argument("--context", type=int, default=2048, help="llama.context_length (default 2048)")
    ap.add_argument("--rope-theta", type=float, default=10000.0)
    ap.add_argument("--rms-eps", type=float, default=1e-5)
    ap.add_argument("--experts-per-token", type=int, default=2, help="llama.expert_used_count of a Mixtral (default 2)")
    a = ap.parse_args()
    try:
        hp = write_gguf(a.src, a.out, a.heads, a.context, a.rope_theta, a.rms_eps, a.experts_per_token)
    except InputError as e:
        print(f"write_gguf: {e}", file=sys.stderr)
        return 1
    except OSError as e:
        print(f"write_gguf: {a.out}: {e.strerror or e}", file=sys.stderr)
        return 1
    print(f"write_gguf: {a.out}: {hp['layers']} layers, width {hp['dim']}, {hp['heads']} heads "
          f"({hp['kv_heads']} KV), FFN {hp['ffn']}, vocabulary {hp['vocab']}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
