#!/usr/bin/env python3
"""Writes the small seed corpora of the fuzz targets into fuzz/corpus/<target>/ (run from anywhere).

Seeds are tiny, valid examples of each format (plus a few from tests/data), so that the fuzzers start
from inputs that get past the first checks. Re-running overwrites the generated seeds only."""
import json, os, struct, shutil

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
C = os.path.join(HERE, "corpus")


def put(target, name, data):
    d = os.path.join(C, target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data.encode() if isinstance(data, str) else data)


# ---------------------------------------------------------------- spec: the shipped arch + small variants
stories = open(os.path.join(ROOT, "archs", "stories260k.yaml")).read()
put("spec", "stories260k.yaml", stories)
put("spec", "flow.yaml", """llmc: 1
name: t
family: llama
model: {vocab_size: 16, hidden_size: 8, num_layers: 2, max_context: 8, tied_embeddings: false}
norm: {kind: layernorm, weight: offset_one, eps: 1.0e-6, bias: true}
attention: {heads: [2, 4], kv_heads: [1, 2], head_dim: 4, qkv: fused, window: [0, 4], softcap: 50.0}
positions: {kind: alibi}
mlp: {kind: plain, activation: gelu_tanh, intermediate_size: [8, 16], bias: true}
tokens: {bos: 0, eos: 1}
weights:
  embed: e
  final_norm: n
  lm_head: h
  layer: {attn_norm: 'l.{i}.a', qkv: 'l.{i}.qkv', o: 'l.{i}.o', ffn_norm: 'l.{i}.f', up: 'l.{i}.u', down: 'l.{i}.d'}
  unused: ['x.*']
""")
put("spec", "bad_heads.yaml", stories.replace("heads: 8", "heads: 7"))
put("spec", "unknown_key.yaml", stories.replace("family: llama", "family: llama\nfoo: 1"))
put("spec", "rope_scaling.yaml", stories.replace("rotary_dim: 8", "rotary_dim: 8\n  scaling: {type: llama3, factor: 8.0, "
    "low_freq_factor: 1.0, high_freq_factor: 4.0, original_max_positions: 256}"))
# multi-head latent attention, YaRN and DeepSeek's group-limited routings
for arch in ("deepseek-v2", "deepseek-v3"):
    put("spec", arch + ".yaml", open(os.path.join(ROOT, "archs", arch + ".yaml")).read())
# Mamba 2's multi-head scan, Yuan 2's localized filtering, ChatGLM-6B's prefix-LM and 2D RoPE
for arch in ("mamba2-130m", "yuan2-2b", "chatglm-6b"):
    put("spec", arch + ".yaml", open(os.path.join(ROOT, "archs", arch + ".yaml")).read())

# ---------------------------------------------------------------- safetensors
def safetensors(tensors, meta=None, pad=0):
    header, blob = {}, b""
    if meta is not None:
        header["__metadata__"] = meta
    for name, dtype, shape, raw in tensors:
        header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [len(blob), len(blob) + len(raw)]}
        blob += raw
    h = json.dumps(header).encode() + b" " * pad
    return struct.pack("<Q", len(h)) + h + blob

f32 = lambda n: struct.pack("<%df" % n, *[0.25 * i - 1 for i in range(n)])
u16 = lambda n: struct.pack("<%dH" % n, *[0x3c00 + i for i in range(n)])
put("safetensors", "three.safetensors", safetensors(
    [("a", "F32", [2, 3], f32(6)), ("b", "F16", [4], u16(4)), ("c", "BF16", [2, 2], u16(4))], {"format": "pt"}, pad=3))
put("safetensors", "scalar.safetensors", safetensors([("s", "F32", [], f32(1)), ("z", "F32", [0, 5], b"")]))
put("safetensors", "empty.safetensors", safetensors([]))
put("safetensors", "bad_dtype.safetensors", safetensors([("i", "I8", [4], b"\0" * 4)]))

# ---------------------------------------------------------------- llama2.c checkpoints
def llama2c(dim, hidden, layers, heads, kv, vocab, seq, shared=True):
    head = dim // heads
    n = vocab * dim + layers * (dim + dim * dim + 2 * kv * head * dim + dim * dim + dim + 3 * hidden * dim) + dim
    n += 2 * seq * (head // 2)
    if not shared:
        n += vocab * dim
    return struct.pack("<7i", dim, hidden, layers, heads, kv, vocab if shared else -vocab, seq) + f32(n)
put("llama2c", "tiny_shared.bin", llama2c(8, 12, 1, 2, 1, 5, 4))
put("llama2c", "tiny_unshared.bin", llama2c(4, 4, 2, 1, 1, 3, 2, shared=False))
put("llama2c", "header_only.bin", struct.pack("<7i", 8, 12, 1, 2, 1, 5, 4))

# ---------------------------------------------------------------- tokenizers
# llama2.c tokenizer.bin (the 512-token one from tests/data is 6 KB)
os.makedirs(os.path.join(C, "tokenizer_load"), exist_ok=True)
shutil.copy(os.path.join(ROOT, "tests/data/tokenizers/llama2c/tok512.bin"), os.path.join(C, "tokenizer_load", "tok512.bin"))
pieces = ["<unk>", "<s>", "</s>"] + ["<0x%02X>" % b for b in range(4)] + ["\u2581", "a", "b", "\u2581a", "ab", "\u2581ab"]
tb = struct.pack("<i", 8)
for i, p in enumerate(pieces):
    e = p.encode()
    tb += struct.pack("<fi", -float(i), len(e)) + e
put("tokenizer_load", "small_tokenizer.bin", tb)

# HF tokenizer.json: byte-level BPE, Metaspace/SentencePiece style BPE, added tokens
byte_level = {
    "version": "1.0",
    "added_tokens": [{"id": 9, "content": "<|end|>", "special": True}],
    "normalizer": None,
    "pre_tokenizer": {"type": "Sequence", "pretokenizers": [
        {"type": "Split", "pattern": {"Regex": "\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+|\\s+"}, "behavior": "Isolated",
         "invert": False},
        {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True, "use_regex": False}]},
    "post_processor": {"type": "TemplateProcessing", "single": [{"SpecialToken": {"id": "<|end|>", "type_id": 0}},
                       {"Sequence": {"id": "A", "type_id": 0}}], "special_tokens": {}},
    "decoder": {"type": "ByteLevel"},
    "model": {"type": "BPE", "dropout": None, "unk_token": None, "fuse_unk": False, "byte_fallback": False,
              "vocab": {"a": 0, "b": 1, "\u0120": 2, "ab": 3, "\u0120a": 4, "\u0120ab": 5, "c": 6, "1": 7, "!": 8},
              "merges": ["a b", "\u0120 a", "\u0120a b"]}}
put("tokenizer_load", "byte_level.json", json.dumps(byte_level, indent=1))
spm_json = {
    "added_tokens": [{"id": 0, "content": "<unk>", "special": True}, {"id": 1, "content": "<s>", "special": True},
                     {"id": 2, "content": "</s>", "special": True}],
    "normalizer": {"type": "Sequence", "normalizers": [{"type": "Prepend", "prepend": "\u2581"},
                                                        {"type": "Replace", "pattern": {"String": " "}, "content": "\u2581"}]},
    "pre_tokenizer": None,
    "decoder": {"type": "Sequence", "decoders": [{"type": "Replace", "pattern": {"String": "\u2581"}, "content": " "},
                                                  {"type": "ByteFallback"}, {"type": "Fuse"}]},
    "model": {"type": "BPE", "unk_token": "<unk>", "byte_fallback": True,
              "vocab": {p: i for i, p in enumerate(pieces)}, "merges": [["a", "b"], ["\u2581", "a"], ["\u2581a", "b"]]}}
put("tokenizer_load", "spm_style.json", json.dumps(spm_json))
metaspace_json = dict(spm_json, normalizer=None,
                      pre_tokenizer={"type": "Metaspace", "replacement": "\u2581", "prepend_scheme": "first", "split": True},
                      decoder={"type": "Metaspace", "replacement": "\u2581", "prepend_scheme": "first", "split": True})
put("tokenizer_load", "metaspace.json", json.dumps(metaspace_json))
put("tokenizer_load", "encoder.json", json.dumps({"a": 0, "b": 1, "ab": 2, "\u0120": 3, "<|endoftext|>": 4}))

# GGUF v3 with only tokenizer metadata
def gstr(s):
    e = s.encode()
    return struct.pack("<Q", len(e)) + e
def gkv(key, typ, payload):
    return gstr(key) + struct.pack("<I", typ) + payload
def garr(typ, items):
    return struct.pack("<IQ", typ, len(items)) + b"".join(items)
def gguf(kvs):
    return b"GGUF" + struct.pack("<IQQ", 3, 0, len(kvs)) + b"".join(kvs)
toks = [gstr(p) for p in pieces]
put("tokenizer_load", "spm.gguf", gguf([
    gkv("general.architecture", 8, gstr("llama")),
    gkv("tokenizer.ggml.model", 8, gstr("llama")),
    gkv("tokenizer.ggml.tokens", 9, garr(8, toks)),
    gkv("tokenizer.ggml.scores", 9, garr(6, [struct.pack("<f", -float(i)) for i in range(len(pieces))])),
    gkv("tokenizer.ggml.token_type", 9, garr(5, [struct.pack("<i", 2 if i == 0 else 3 if i < 3 else 6 if i < 7 else 1)
                                                  for i in range(len(pieces))])),
    gkv("tokenizer.ggml.bos_token_id", 4, struct.pack("<I", 1)),
    gkv("tokenizer.ggml.eos_token_id", 4, struct.pack("<I", 2)),
    gkv("tokenizer.ggml.add_bos_token", 7, b"\x01")]))
bpe_toks = ["a", "b", "\u0120", "ab", "\u0120a", "\u0120ab", "c", "<|endoftext|>"]
put("tokenizer_load", "bpe.gguf", gguf([
    gkv("tokenizer.ggml.model", 8, gstr("gpt2")),
    gkv("tokenizer.ggml.pre", 8, gstr("llama-bpe")),
    gkv("tokenizer.ggml.tokens", 9, garr(8, [gstr(t) for t in bpe_toks])),
    gkv("tokenizer.ggml.token_type", 9, garr(5, [struct.pack("<i", 3 if t.startswith("<|") else 1) for t in bpe_toks])),
    gkv("tokenizer.ggml.merges", 9, garr(8, [gstr("a b"), gstr("\u0120 a"), gstr("\u0120a b")])),
    gkv("tokenizer.ggml.eos_token_id", 4, struct.pack("<I", 7))]))

# SentencePiece ModelProto: repeated SentencePiece pieces = 1 { string piece = 1; float score = 2; Type type = 3 }
def varint(n):
    out = b""
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out += bytes([b | 0x80])
        else:
            return out + bytes([b])
def ld(field, payload):
    return varint(field << 3 | 2) + varint(len(payload)) + payload
proto = b""
for i, p in enumerate(pieces):
    typ = 2 if i == 0 else 3 if i < 3 else 6 if i < 7 else 1
    msg = ld(1, p.encode()) + varint(2 << 3 | 5) + struct.pack("<f", -float(i)) + varint(3 << 3) + varint(typ)
    proto += ld(1, msg)
proto += ld(2, varint(3 << 3) + varint(2))  # trainer_spec { model_type: BPE }
put("tokenizer_load", "small.model", proto)

# ---------------------------------------------------------------- gguf: small models (tensor directory + data)
# GGUF block sizes (values, bytes) by ggml type id, for the types llmc reads.
GBLOCK = {0: (1, 4), 1: (1, 2), 30: (1, 2), 2: (32, 18), 3: (32, 20), 6: (32, 22), 7: (32, 24), 8: (32, 34),
          20: (32, 18), 10: (256, 84), 11: (256, 110), 12: (256, 144), 13: (256, 176), 14: (256, 210)}
def gguf_model(kvs, tensors, align=32):
    """tensors: (name, ne, type); data bytes patterned so that scales are finite halves."""
    infos, data = b"", b""
    for name, ne, typ in tensors:
        vals, size = GBLOCK[typ]
        n = 1
        for d in ne:
            n *= d
        data += b"\0" * (-len(data) % align)
        infos += gstr(name) + struct.pack("<I", len(ne)) + b"".join(struct.pack("<Q", d) for d in ne)
        infos += struct.pack("<IQ", typ, len(data))
        data += bytes((i * 37 + 11) % 251 & 0x3b for i in range(n // vals * size))
    head = b"GGUF" + struct.pack("<IQQ", 3, len(tensors), len(kvs)) + b"".join(kvs) + infos
    return head + b"\0" * (-len(head) % align) + data
for typ in GBLOCK:
    vals = GBLOCK[typ][0]
    put("gguf", "type%d.gguf" % typ, gguf_model([gkv("general.architecture", 8, gstr("llama"))],
                                                 [("m", [max(vals, 8), 2], typ), ("v", [vals], typ)]))
# A Q4_K_M-like llama directory: Q4_K / Q6_K matrices, F32 norms, llama.cpp's tensor names.
llama_kvs = [gkv("general.architecture", 8, gstr("llama")), gkv("general.file_type", 4, struct.pack("<I", 15)),
             gkv("llama.block_count", 4, struct.pack("<I", 1)), gkv("llama.embedding_length", 4, struct.pack("<I", 256)),
             gkv("llama.attention.head_count", 4, struct.pack("<I", 4)),
             gkv("llama.rope.freq_base", 6, struct.pack("<f", 10000.0)), gkv("general.alignment", 4, struct.pack("<I", 64))]
put("gguf", "q4_k_m.gguf", gguf_model(llama_kvs, [
    ("token_embd.weight", [256, 4], 12), ("blk.0.attn_norm.weight", [256], 0), ("blk.0.attn_q.weight", [256, 2], 12),
    ("blk.0.attn_v.weight", [256, 2], 14), ("blk.0.ffn_down.weight", [256, 2], 14), ("output_norm.weight", [256], 0),
    ("output.weight", [256, 4], 14)], align=64))
# gguf_import: small models of each architecture `llmc import` reads, with llama.cpp's tensor names (F32, 8 wide).
def u32kv(key, v):
    return gkv(key, 4, struct.pack("<I", v))
def f32kv(key, v):
    return gkv(key, 6, struct.pack("<f", v))
def import_seed(arch, layer_tensors, extra_kvs=(), extra_tensors=()):
    kvs = [gkv("general.architecture", 8, gstr(arch)), u32kv(arch + ".block_count", 1),
           u32kv(arch + ".embedding_length", 8), u32kv(arch + ".context_length", 16),
           u32kv(arch + ".attention.head_count", 2), u32kv(arch + ".feed_forward_length", 16),
           f32kv(arch + ".attention.layer_norm_rms_epsilon", 1e-5), f32kv(arch + ".attention.layer_norm_epsilon", 1e-5)]
    kvs += [gkv(arch + "." + k, 8, gstr(v)) if isinstance(v, str) else u32kv(arch + "." + k, v)
            if isinstance(v, int) else f32kv(arch + "." + k, v) for k, v in extra_kvs]
    shapes = {"norm": [8], "bias": [8], "qkv": [8, 24], "up2": [8, 32], "down": [16, 8], "exps": [8, 16, 4],
              "dexps": [16, 8, 4], "inp": [8, 4], "sh": [8], "m": [8, 8], "up": [8, 16],
              "kva": [8, 6], "latent": [4], "kb": [2, 4, 2], "vb": [4, 2, 2], "o4": [4, 8],
              "bias24": [24]}
    tensors = [("token_embd.weight", [8, 16], 0), ("output_norm.weight", [8], 0)] + list(extra_tensors)
    tensors += [("blk.0.%s.%s" % (n, "bias" if kind.startswith("bias") else "weight"), shapes[kind], 0)
                for n, kind in layer_tensors]
    return gguf_model(kvs, tensors)
llama_layer = [("attn_norm", "norm"), ("attn_q", "m"), ("attn_k", "m"), ("attn_v", "m"), ("attn_output", "m"),
               ("ffn_norm", "norm"), ("ffn_gate", "up"), ("ffn_up", "up"), ("ffn_down", "down")]
put("gguf_import", "llama.gguf", import_seed("llama", llama_layer))
put("gguf_import", "llama3.gguf", import_seed("llama", llama_layer, extra_tensors=[("rope_freqs.weight", [2], 0)]))
put("gguf_import", "gemma2.gguf", import_seed("gemma2", llama_layer + [("post_attention_norm", "norm"), ("post_ffw_norm", "norm")],
                                              [("attn_logit_softcapping", 50.0), ("attention.sliding_window", 4)]))
moe_layer = llama_layer[:6] + [("ffn_gate_inp", "inp"), ("ffn_gate_exps", "exps"), ("ffn_up_exps", "exps"),
                                ("ffn_down_exps", "dexps"), ("ffn_gate_shexp", "up"), ("ffn_up_shexp", "up"),
                                ("ffn_down_shexp", "down"), ("ffn_gate_inp_shexp", "sh")]
put("gguf_import", "qwen2moe.gguf", import_seed("qwen2moe", moe_layer + [("attn_q", "bias"), ("attn_k", "bias"), ("attn_v", "bias")], [("expert_count", 4), ("expert_used_count", 2),
                                                                        ("expert_feed_forward_length", 16),
                                                                        ("expert_shared_feed_forward_length", 16)]))
put("gguf_import", "phi3.gguf", import_seed("phi3", [("attn_norm", "norm"), ("attn_qkv", "qkv"), ("attn_output", "m"),
                                                      ("ffn_norm", "norm"), ("ffn_up", "up2"), ("ffn_down", "down")]))
# Phi-3 128k style: LongRoPE factor lists (a head of 4 rotates 2 pairs), the original context, attn_factor.
put("gguf_import", "phi3_longrope.gguf", import_seed(
    "phi3", [("attn_norm", "norm"), ("attn_qkv", "qkv"), ("attn_output", "m"), ("ffn_norm", "norm"), ("ffn_up", "up2"),
             ("ffn_down", "down")], [("rope.scaling.original_context_length", 8), ("rope.scaling.attn_factor", 1.1)],
    extra_tensors=[("rope_factors_long.weight", [2], 0), ("rope_factors_short.weight", [2], 0)]))
put("gguf_import", "falcon.gguf", import_seed("falcon", [("attn_norm", "norm"), ("attn_norm", "bias"), ("attn_norm_2", "norm"),
                                                          ("attn_norm_2", "bias"), ("attn_qkv", "qkv"), ("attn_output", "m"),
                                                          ("ffn_up", "up"), ("ffn_down", "down")],
                                              extra_tensors=[("output_norm.bias", [8], 0)]))
put("gguf_import", "gpt2.gguf", import_seed("gpt2", [("attn_norm", "norm"), ("attn_norm", "bias"), ("attn_qkv", "qkv"),
                                                      ("attn_qkv", "bias"), ("attn_output", "m"), ("attn_output", "bias"),
                                                      ("ffn_norm", "norm"), ("ffn_norm", "bias"), ("ffn_up", "up"),
                                                      ("ffn_up", "bias"), ("ffn_down", "down"), ("ffn_down", "bias")],
                                            extra_tensors=[("position_embd.weight", [8, 16], 0), ("output_norm.bias", [8], 0)]))
# DeepSeek-V3 style: multi-head latent attention with kv_b split (2 heads of nope 2 + rope 2, v 2, latent 4),
# sigmoid routing over 2 groups with a selection bias, a shared expert, yarn.
put("gguf_import", "deepseek2.gguf", import_seed(
    "deepseek2", [("attn_norm", "norm"), ("attn_q", "m"), ("attn_kv_a_mqa", "kva"), ("attn_kv_a_norm", "latent"),
                  ("attn_k_b", "kb"), ("attn_v_b", "vb"), ("attn_output", "o4")] + moe_layer[5:-1],
    [("attention.kv_lora_rank", 4), ("attention.key_length", 6), ("attention.value_length", 4),
     ("attention.key_length_mla", 4), ("attention.value_length_mla", 2), ("rope.dimension_count", 2),
     ("expert_count", 4), ("expert_used_count", 2), ("expert_feed_forward_length", 16), ("expert_shared_count", 1),
     ("expert_gating_func", 2), ("expert_group_count", 2), ("expert_group_used_count", 1),
     ("expert_weights_norm", 1), ("expert_weights_scale", 2.5), ("rope.scaling.type", "yarn"),
     ("rope.scaling.factor", 4.0), ("rope.scaling.original_context_length", 8),
     ("rope.scaling.yarn_log_multiplier", 0.1)],
    extra_tensors=[("blk.0.exp_probs_b.bias", [4], 0)]))
# StableLM 2 12B style (per-head q / k norms stacked, parallel: no ffn_norm), GPT-NeoX, BLOOM (its embedding norm),
# OLMo (no norm weights, clamp_kqv), InternLM2 (wqkv split by the converter).
neox_layer = [("attn_norm", "norm"), ("attn_norm", "bias"), ("attn_qkv", "qkv"), ("attn_qkv", "bias"),
              ("attn_output", "m"), ("attn_output", "bias"), ("ffn_norm", "norm"), ("ffn_norm", "bias"),
              ("ffn_up", "up"), ("ffn_up", "bias"), ("ffn_down", "down"), ("ffn_down", "bias")]
put("gguf_import", "stablelm.gguf", import_seed(
    "stablelm", [("attn_norm", "norm"), ("attn_norm", "bias"), ("attn_q", "m"), ("attn_k", "m"), ("attn_v", "m"),
                 ("attn_output", "m"), ("ffn_gate", "up"), ("ffn_up", "up"), ("ffn_down", "down")],
    [("rope.dimension_count", 2)],
    extra_tensors=[("output_norm.bias", [8], 0), ("output.weight", [8, 16], 0), ("blk.0.attn_q_norm.weight", [4, 2], 0),
                   ("blk.0.attn_k_norm.weight", [4, 2], 0)]))
put("gguf_import", "gptneox.gguf", import_seed("gptneox", neox_layer, [("rope.dimension_count", 2)],
                                               extra_tensors=[("output_norm.bias", [8], 0), ("output.weight", [8, 16], 0)]))
put("gguf_import", "bloom.gguf", import_seed("bloom", neox_layer, extra_tensors=[
    ("output_norm.bias", [8], 0), ("token_embd_norm.weight", [8], 0), ("token_embd_norm.bias", [8], 0)]))
put("gguf_import", "olmo.gguf", import_seed("olmo", llama_layer[1:5] + llama_layer[6:], [("attention.clamp_kqv", 8.0)],
                                            extra_tensors=[("output.weight", [8, 16], 0)]))
put("gguf_import", "internlm2.gguf", import_seed("internlm2", llama_layer))
put("gguf_import", "minicpm.gguf", import_seed("minicpm", llama_layer, [("embedding_scale", 12.0), ("residual_scale", 0.7),
                                                                      ("logit_scale", 0.25)]))
put("gguf_import", "phimoe.gguf", import_seed(  # Phi-3.5-MoE: LayerNorms with bias, attention and classifier biases
    "phimoe", llama_layer[:5] + [("attn_norm", "bias"), ("attn_q", "bias"), ("attn_k", "bias"), ("attn_v", "bias"),
                                 ("attn_output", "bias"), ("ffn_norm", "norm"), ("ffn_norm", "bias")] + moe_layer[6:10],
    [("expert_count", 4), ("expert_used_count", 2)],
    extra_tensors=[("output_norm.bias", [8], 0), ("output.weight", [8, 16], 0), ("output.bias", [16], 0)]))
put("gguf_import", "chatglm.gguf", import_seed(  # ChatGLM3: fused qkv with bias, [gate; up] as ffn_up, half rotary
    "chatglm", [("attn_norm", "norm"), ("attn_qkv", "qkv"), ("attn_qkv", "bias"), ("attn_output", "m"),
                ("ffn_norm", "norm"), ("ffn_up", "up2"), ("ffn_down", "down")], [("rope.dimension_count", 2)],
    extra_tensors=[("output.weight", [8, 16], 0)]))
# BERT as BertModel writes it: the encoder alone (no MLM head, no pooler), token types, post-LN norms.
bert_layer = [(n, kind) for t in ("attn_q", "attn_k", "attn_v", "attn_output") for n, kind in ((t, "m"), (t, "bias"))]
bert_layer += [("attn_output_norm", "norm"), ("attn_output_norm", "bias"), ("ffn_up", "up"), ("ffn_up", "bias"),
               ("ffn_down", "down"), ("ffn_down", "bias"), ("layer_output_norm", "norm"), ("layer_output_norm", "bias")]
put("gguf_import", "bert.gguf", import_seed("bert", bert_layer, extra_tensors=[
    ("token_types.weight", [8, 2], 0), ("position_embd.weight", [8, 16], 0), ("token_embd_norm.weight", [8], 0),
    ("token_embd_norm.bias", [8], 0)]))
# Mamba (hidden 8, inner 16, state 2, conv 4, dt_rank 1) and Mamba 2 (2 heads of 8, 1 group: conv width 20,
# in_proj 38) as MambaModel / Mamba2Model write them: A and D without ".weight", conv squeezed, A / D [heads, 1].
ssm_kvs = [("ssm.inner_size", 16), ("ssm.state_size", 2), ("ssm.conv_kernel", 4)]
put("gguf_import", "mamba.gguf", import_seed(
    "mamba", [("attn_norm", "norm")], ssm_kvs + [("ssm.time_step_rank", 1)],
    extra_tensors=[("blk.0.ssm_in.weight", [8, 32], 0), ("blk.0.ssm_conv1d.weight", [4, 16], 0),
                   ("blk.0.ssm_conv1d.bias", [16], 0), ("blk.0.ssm_x.weight", [16, 5], 0),
                   ("blk.0.ssm_dt.weight", [1, 16], 0), ("blk.0.ssm_dt.bias", [16], 0), ("blk.0.ssm_a", [2, 16], 0),
                   ("blk.0.ssm_d", [16], 0), ("blk.0.ssm_out.weight", [16, 8], 0)]))
put("gguf_import", "mamba2.gguf", import_seed(
    "mamba2", [("attn_norm", "norm")], ssm_kvs + [("ssm.time_step_rank", 2), ("ssm.group_count", 1)],
    extra_tensors=[("blk.0.ssm_in.weight", [8, 38], 0), ("blk.0.ssm_conv1d.weight", [4, 20], 0),
                   ("blk.0.ssm_conv1d.bias", [20], 0), ("blk.0.ssm_dt.bias", [2], 0), ("blk.0.ssm_a", [1, 2], 0),
                   ("blk.0.ssm_d", [1, 2], 0), ("blk.0.ssm_norm.weight", [16, 1], 0),
                   ("blk.0.ssm_out.weight", [16, 8], 0)]))
# Qwen 1: fused qkv with bias, half of each head rotated. OpenELM (2 layers): per-layer head counts and FFN widths
# as INT32 arrays (layer 0: 2 heads, 1 KV head; layer 1: 1 and 1), per-head q / k norms, the classifier tied.
put("gguf_import", "qwen.gguf", import_seed("qwen", [("attn_norm", "norm"), ("attn_qkv", "qkv"), ("attn_qkv", "bias24"),
    ("attn_output", "m"), ("ffn_norm", "norm"), ("ffn_gate", "m"), ("ffn_up", "m"), ("ffn_down", "m")],
    [("rope.dimension_count", 2)]))  # feed_forward_length 16: Qwen's intermediate_size, twice the MLP's 8
def i32s(values):
    return garr(5, [struct.pack("<i", v) for v in values])
openelm_tensors = [("token_embd.weight", [8, 16], 0), ("output_norm.weight", [8], 0)]
for i, (heads, width) in enumerate(((2, 16), (1, 8))):
    openelm_tensors += [("blk.%d.%s.weight" % (i, n), shape, 0) for n, shape in (
        ("attn_norm", [8]), ("attn_qkv", [8, 4 * (heads + 2)]), ("attn_q_norm", [4]), ("attn_k_norm", [4]),
        ("attn_output", [4 * heads, 8]), ("ffn_norm", [8]), ("ffn_gate", [8, width]), ("ffn_up", [8, width]),
        ("ffn_down", [width, 8]))]
put("gguf_import", "openelm.gguf", gguf_model([
    gkv("general.architecture", 8, gstr("openelm")), u32kv("openelm.block_count", 2),
    u32kv("openelm.embedding_length", 8), u32kv("openelm.context_length", 16),
    gkv("openelm.attention.head_count", 9, i32s([2, 1])), gkv("openelm.attention.head_count_kv", 9, i32s([1, 1])),
    gkv("openelm.feed_forward_length", 9, i32s([16, 8])), u32kv("openelm.attention.key_length", 4),
    u32kv("openelm.attention.value_length", 4), u32kv("openelm.rope.dimension_count", 4),
    f32kv("openelm.attention.layer_norm_rms_epsilon", 1e-6)], openelm_tensors))
# Grok-1: 4 experts, top 2; norms after the attention and after the experts; the classifier tied.
put("gguf_import", "grok.gguf", import_seed("grok", llama_layer[:5] + [
    ("attn_output_norm", "norm"), ("ffn_norm", "norm"), ("ffn_gate_inp", "inp"), ("ffn_gate_exps", "exps"),
    ("ffn_up_exps", "exps"), ("ffn_down_exps", "dexps"), ("layer_output_norm", "norm")],
    [("expert_count", 4), ("expert_used_count", 2), ("attention.output_scale", 0.5), ("embedding_scale", 2.8),
     ("logit_scale", 0.6), ("attn_logit_softcapping", 30.0)]))
# Llama 4: one MoE layer (2 experts, top 1, a shared expert as wide as them), RoPE with chunks, the classifier tied.
put("gguf_import", "llama4.gguf", import_seed("llama4", llama_layer[:6] + [
    ("ffn_gate_inp", "inp"), ("ffn_gate_exps", "exps"), ("ffn_up_exps", "exps"), ("ffn_down_exps", "dexps"),
    ("ffn_gate_shexp", "up"), ("ffn_up_shexp", "up"), ("ffn_down_shexp", "down")],
    [("expert_count", 4), ("expert_used_count", 1), ("expert_feed_forward_length", 16),
     ("interleave_moe_layer_step", 1)]))
# T5 (Flan's gated FFN): 2 encoder layers, 1 decoder layer, output.weight a byte copy of token_embd (tied).
t5_tensors = [("token_embd.weight", [8, 16], 0), ("output.weight", [8, 16], 0), ("enc.output_norm.weight", [8], 0),
              ("dec.output_norm.weight", [8], 0), ("enc.blk.0.attn_rel_b.weight", [2, 32], 0),
              ("dec.blk.0.attn_rel_b.weight", [2, 32], 0)]
t5_layer = [("attn_norm", [8]), ("attn_q", [8, 8]), ("attn_k", [8, 8]), ("attn_v", [8, 8]), ("attn_o", [8, 8]),
            ("ffn_norm", [8]), ("ffn_gate", [8, 16]), ("ffn_up", [8, 16]), ("ffn_down", [16, 8])]
t5_cross = [("cross_attn_norm", [8]), ("cross_attn_q", [8, 8]), ("cross_attn_k", [8, 8]), ("cross_attn_v", [8, 8]),
            ("cross_attn_o", [8, 8])]
t5_tensors += [("enc.blk.%d.%s.weight" % (i, n), shape, 0) for i in range(2) for n, shape in t5_layer]
t5_tensors += [("dec.blk.0.%s.weight" % n, shape, 0) for n, shape in t5_layer + t5_cross]
put("gguf_import", "t5.gguf", gguf_model([
    gkv("general.architecture", 8, gstr("t5")), u32kv("t5.block_count", 2), u32kv("t5.decoder_block_count", 1),
    u32kv("t5.embedding_length", 8), u32kv("t5.context_length", 16), u32kv("t5.attention.head_count", 2),
    u32kv("t5.attention.key_length", 4), u32kv("t5.attention.value_length", 4), u32kv("t5.feed_forward_length", 16),
    f32kv("t5.attention.layer_norm_rms_epsilon", 1e-6), u32kv("t5.attention.relative_buckets_count", 32),
    u32kv("t5.decoder_start_token_id", 0), u32kv("tokenizer.ggml.eos_token_id", 1)], t5_tensors))
# Real metadata: the scalar keys of llama.cpp's vocabulary files (arrays cut to 4 items), no tensors.
def gguf_scalar_kvs(path):
    b = open(path, "rb").read()
    n_kv = struct.unpack_from("<Q", b, 16)[0]
    at, out = 24, []
    sizes = {0: 1, 1: 1, 2: 2, 3: 2, 4: 4, 5: 4, 6: 4, 7: 1, 10: 8, 11: 8, 12: 8}
    def string(at):
        n = struct.unpack_from("<Q", b, at)[0]
        return at + 8 + n
    for _ in range(n_kv):
        k0 = at
        at = string(at)
        typ = struct.unpack_from("<I", b, at)[0]
        at += 4
        if typ == 8:
            at = string(at)
            out.append(b[k0:at])
        elif typ == 9:
            it, n = struct.unpack_from("<IQ", b, at)
            items_at = at = at + 12
            kept = None
            for i in range(n):
                at = string(at) if it == 8 else at + sizes[it]
                if i == 3:
                    kept = at
            out.append(b[k0:items_at - 8] + struct.pack("<Q", min(n, 4)) + b[items_at:kept if kept else at])
        else:
            at += sizes[typ]
            out.append(b[k0:at])
    return out
for v in ["llama-spm", "gpt-2", "phi-3", "falcon"]:
    path = os.path.join(ROOT, "tests", "data", "tokenizers", "gguf", "ggml-vocab-%s.gguf" % v)
    if os.path.exists(path):
        put("gguf", "vocab-%s.gguf" % v, gguf_model(gguf_scalar_kvs(path), [("output_norm.weight", [8], 0)]))
# WordPiece: vocab.txt (the target also loads inputs starting with '[' as a vocab.txt), tokenizer.json, GGUF bert
wp = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "a", "b", "ab", "##b", "##ab", "!", "\u00e9", "\u4e2d"]
put("tokenizer_load", "vocab.txt", "\n".join(wp) + "\n")
put("tokenizer_load", "wordpiece.json", json.dumps({
    "added_tokens": [{"id": i, "content": t, "special": True} for i, t in enumerate(wp[:5])],
    "normalizer": {"type": "BertNormalizer", "clean_text": True, "handle_chinese_chars": True, "strip_accents": None,
                   "lowercase": True},
    "pre_tokenizer": {"type": "BertPreTokenizer"},
    "post_processor": {"type": "BertProcessing", "sep": ["[SEP]", 3], "cls": ["[CLS]", 2]},
    "model": {"type": "WordPiece", "unk_token": "[UNK]", "continuing_subword_prefix": "##",
              "max_input_chars_per_word": 100, "vocab": {t: i for i, t in enumerate(wp)}}}))
put("tokenizer_load", "bert.gguf", gguf([
    gkv("tokenizer.ggml.model", 8, gstr("bert")),
    gkv("tokenizer.ggml.tokens", 9, garr(8, [gstr(t if t.startswith("[") else t[2:] if t.startswith("##") else
                                                  "\u2581" + t) for t in wp])),
    gkv("tokenizer.ggml.token_type", 9, garr(5, [struct.pack("<i", 3 if t.startswith("[") else 1) for t in wp])),
    gkv("tokenizer.ggml.unknown_token_id", 4, struct.pack("<I", 1)),
    gkv("tokenizer.ggml.cls_token_id", 4, struct.pack("<I", 2)),
    gkv("tokenizer.ggml.seperator_token_id", 4, struct.pack("<I", 3))]))
# SentencePiece Unigram: the 4 KB .model trained for the tests (no charsmap; the nmt_nfkc one is 250 KB and is
# fed by the tokenizer_encode target instead), tokenizer.json Unigram, GGUF t5
shutil.copy(os.path.join(ROOT, "tests/data/tokenizers/unigram/plain.model"), os.path.join(C, "tokenizer_load", "unigram.model"))
uni = ["<unk>", "<s>", "</s>", "<0x61>", "<0xC3>", "<0xA9>", "\u2581", "a", "b", "\u2581a", "ab", "\u2581ab", "<sep>"]
uni_type = [2, 3, 3, 6, 6, 6, 1, 1, 1, 1, 1, 1, 4]
put("tokenizer_load", "unigram.json", json.dumps({
    "added_tokens": [{"id": 0, "content": "<unk>", "special": True}, {"id": 1, "content": "<s>", "special": True},
                     {"id": 2, "content": "</s>", "special": True}, {"id": 12, "content": "<sep>", "special": False}],
    "normalizer": {"type": "Sequence", "normalizers": [{"type": "Precompiled", "precompiled_charsmap": ""},
                                                        {"type": "Replace", "pattern": {"Regex": " {2,}"}, "content": " "}]},
    "pre_tokenizer": {"type": "Metaspace", "replacement": "\u2581", "prepend_scheme": "always", "split": True},
    "model": {"type": "Unigram", "unk_id": 0, "byte_fallback": True,
              "vocab": [[p, -float(i) / 2] for i, p in enumerate(uni)]}}))
put("tokenizer_load", "t5.gguf", gguf([
    gkv("tokenizer.ggml.model", 8, gstr("t5")),
    gkv("tokenizer.ggml.tokens", 9, garr(8, [gstr(p) for p in uni])),
    gkv("tokenizer.ggml.scores", 9, garr(6, [struct.pack("<f", -float(i) / 2) for i in range(len(uni))])),
    gkv("tokenizer.ggml.token_type", 9, garr(5, [struct.pack("<i", t) for t in uni_type])),
    gkv("tokenizer.ggml.add_space_prefix", 7, b"\x01"),
    gkv("tokenizer.ggml.remove_extra_whitespaces", 7, b"\x01"),
    gkv("tokenizer.ggml.precompiled_charsmap", 9, garr(0, [])),
    gkv("tokenizer.ggml.eos_token_id", 4, struct.pack("<I", 2))]))

# ---------------------------------------------------------------- encode: [selector byte] + text
for i, text in enumerate(["Once upon a time", "Hello world! 123 ab abc", "<s>the</s> é ü 中文 🦙",
                          "  leading\tand\r\nnewlines  ", "<|endoftext|><|begin_of_text|>x"]):
    put("tokenizer_encode", "t%d" % i, bytes([i]) + text.encode())
put("tokenizer_encode", "bad_utf8", b"\x02" + b"a\xc3\x28\xa0\xa1\xe2\x28\xa1\xf0\x90\x28\xbcz")

# ---------------------------------------------------------------- embedded: a one-file binary's payload
# (llmc/embedded.hpp) with no executable before it (offset 0 is aligned): safetensors, tokenizer, trailer


def fnv1a(data, h=1469598103934665603):
    for b in data:
        h = ((h ^ b) * 1099511628211) & 0xFFFFFFFFFFFFFFFF
    return h


def payload(weights, files):
    tok = struct.pack("<I", len(files))
    for name, data in files:
        tok += struct.pack("<I", len(name)) + name.encode() + struct.pack("<Q", len(data)) + data
    header_len = struct.unpack("<Q", weights[:8])[0]
    checksum = fnv1a(tok, fnv1a(weights[:8 + header_len]))
    size = len(weights) + len(tok) + 64
    trailer = b"LLMCEMB1" + struct.pack("<6Q", 0, len(weights), len(weights), len(tok), size, checksum) + b"LLMCEND1"
    return weights + tok + trailer


st_header = json.dumps({"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}}).encode()
st = struct.pack("<Q", len(st_header)) + st_header + struct.pack("<2f", 1.0, 2.0)
put("embedded", "no_tokenizer", payload(st, []))
put("embedded", "spm_json", payload(st, [("tokenizer.json", json.dumps(spm_json).encode())]))
put("embedded", "tok512", payload(st, [("tok512.bin", open(os.path.join(C, "tokenizer_load", "tok512.bin"), "rb").read())]))
put("embedded", "encoder", payload(st, [("encoder.json", json.dumps({"a": 0, "b": 1, "ab": 2}).encode()),
                                        ("vocab.bpe", b"#version: 0.2\na b\n")]))
