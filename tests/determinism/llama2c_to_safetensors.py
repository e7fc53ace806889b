#!/usr/bin/env python3
"""Writes a llama2.c checkpoint (shared classifier) as .safetensors under the Hugging Face Llama names that llmc
exposes llama2.c files under, with the matrices and norms stored as F32, F16 or BF16 (rounded to nearest even).

    llama2c_to_safetensors.py IN.bin OUT.safetensors F32|F16|BF16

Plain python (no numpy), so that the tests need nothing beyond python3."""
import array
import json
import struct
import sys


def tensors(raw):
    dim, hidden, layers, heads, kv_heads, vocab, seq = struct.unpack("<7i", raw[:28])
    if vocab < 0:
        sys.exit("%s: only checkpoints with a shared classifier are supported" % sys.argv[1])
    head = dim // heads
    kv_dim = kv_heads * head
    order = [("model.embed_tokens.weight", [vocab, dim], False), ("input_layernorm.weight", [dim], True),
             ("self_attn.q_proj.weight", [dim, dim], True), ("self_attn.k_proj.weight", [kv_dim, dim], True),
             ("self_attn.v_proj.weight", [kv_dim, dim], True), ("self_attn.o_proj.weight", [dim, dim], True),
             ("post_attention_layernorm.weight", [dim], True), ("mlp.gate_proj.weight", [hidden, dim], True),
             ("mlp.down_proj.weight", [dim, hidden], True), ("mlp.up_proj.weight", [hidden, dim], True),
             ("model.norm.weight", [dim], False)]
    offset, out = 28, []
    for name, shape, per_layer in order:
        count = 1
        for n in shape:
            count *= n
        for i in range(layers) if per_layer else [None]:
            values = array.array("f", raw[offset:offset + 4 * count])
            if len(values) != count:
                sys.exit("%s: truncated at %s" % (sys.argv[1], name))
            out.append((name if i is None else "model.layers.%d.%s" % (i, name), shape, values))
            offset += 4 * count
    return out


def encode(values, dtype):
    if dtype == "F32":
        return values.tobytes()
    if dtype == "F16":
        return struct.pack("<%de" % len(values), *values)
    bits = array.array("I", values.tobytes())  # BF16: the top 16 bits, rounded to nearest even
    return array.array("H", (((b + 0x7FFF + ((b >> 16) & 1)) >> 16) & 0xFFFF for b in bits)).tobytes()


def main():
    src, dst, dtype = sys.argv[1:4]
    if dtype not in ("F32", "F16", "BF16"):
        sys.exit("dtype must be F32, F16 or BF16, not %s" % dtype)
    with open(src, "rb") as f:
        raw = f.read()
    header, blobs, offset = {}, [], 0
    for name, shape, values in tensors(raw):
        data = encode(values, dtype)
        header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [offset, offset + len(data)]}
        blobs.append(data)
        offset += len(data)
    text = json.dumps(header).encode()
    text += b" " * (-(8 + len(text)) % 64)
    with open(dst, "wb") as f:
        f.write(struct.pack("<Q", len(text)) + text + b"".join(blobs))


if __name__ == "__main__":
    main()
