#!/usr/bin/env python3
"""Copies a GGUF (v3) adding tokenizer.ggml.model = "none" and <arch>.vocab_size, so llama.cpp loads it
without a vocabulary. usage: add_novocab.py IN OUT VOCAB"""
import struct, sys
src, dst, vocab = sys.argv[1], sys.argv[2], int(sys.argv[3])
b = open(src, 'rb').read()
magic, ver, nt, nkv = struct.unpack_from('<4sIQQ', b, 0)
assert magic == b'GGUF' and ver == 3
o = 24
SIZES = {0: 1, 1: 1, 2: 2, 3: 2, 4: 4, 5: 4, 6: 4, 7: 1, 10: 8, 11: 8, 12: 8}
def skip_value(t, o):
    if t in SIZES: return o + SIZES[t]
    if t == 8:
        n, = struct.unpack_from('<Q', b, o); return o + 8 + n
    if t == 9:
        et, n = struct.unpack_from('<IQ', b, o); o += 12
        for _ in range(n): o = skip_value(et, o)
        return o
    raise ValueError(t)
arch = None
for _ in range(nkv):
    n, = struct.unpack_from('<Q', b, o); key = b[o+8:o+8+n].decode(); o += 8 + n
    t, = struct.unpack_from('<I', b, o); o += 4
    if key == 'general.architecture':
        m, = struct.unpack_from('<Q', b, o); arch = b[o+8:o+8+m].decode()
    o = skip_value(t, o)
kv_end = o
for _ in range(nt):
    n, = struct.unpack_from('<Q', b, o); o += 8 + n
    nd, = struct.unpack_from('<I', b, o); o += 4 + 8 * nd + 4 + 8
infos_end = o
data_start = (infos_end + 31) // 32 * 32
def s(x): x = x.encode(); return struct.pack('<Q', len(x)) + x
extra = s('tokenizer.ggml.model') + struct.pack('<I', 8) + s('none') + s(arch + '.vocab_size') + struct.pack('<II', 4, vocab)
head = struct.pack('<4sIQQ', magic, ver, nt, nkv + 2) + b[24:kv_end] + extra + b[kv_end:infos_end]
head += b'\0' * ((-len(head)) % 32)
open(dst, 'wb').write(head + b[data_start:])
