#!/usr/bin/python3
"""Makes the Unigram tokenizer test data in tests/data/tokenizers/unigram/ with the sentencepiece library
(Debian python3-sentencepiece; run with /usr/bin/python3 from anywhere):

  corpus.txt        training text: README.md of llmc at the time (English, code, numbers) and a few hand-written
                    lines in other scripts, with full-width / compatibility characters so NFKC has work to do
  nfkc.model        unigram, 700 pieces, nmt_nfkc normaliser (the default), byte fallback, one user-defined
                    symbol "<sep>", character_coverage 0.995 (rare characters must fall back to bytes)
  plain.model       unigram, 300 pieces, identity normaliser, no dummy prefix, extra whitespace kept, no byte
                    fallback (unknown characters -> <unk>), character_coverage 0.98
  <model>.json      per model: test strings, the ids sentencepiece encodes them to, and its decode of those ids
  <model>.tokenizer.json, <model>.gguf
                    the same model converted as HF's T5 converter lays out a tokenizer.json (Precompiled
                    normaliser, WhitespaceSplit + Metaspace) and as llama.cpp writes a T5 GGUF vocabulary
                    (tokenizer.ggml.model = "t5"); converted here, by reading the .model protobuf, since
                    neither library is installed. They are tested against the same expected ids.

The C++ test (tests/tokenizer/test_unigram.cpp) reads the .json files: no python at test time. Re-running
retrains (sentencepiece training is deterministic for a fixed corpus and settings on one thread).
"""
import base64, json, os, random, struct
import sentencepiece as spm

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
OUT = os.path.join(ROOT, "tests", "data", "tokenizers", "unigram")

EXTRA = """Über den Wolken muss die Freiheit wohl grenzenlos sein. Größe, Maße, Straße, Äpfel, Öl.
Le cœur a ses raisons que la raison ne connaît point. Élève, été, façade, naïve, Noël.
Съешь же ещё этих мягких французских булок, да выпей чаю. Быстрая коричневая лиса.
Η γρήγορη καφέ αλεπού πηδάει πάνω από τον τεμπέλη σκύλο. ΟΔΟΣ, Σοφία.
ＦＵＬＬＷＩＤＴＨ ｔｅｘｔ １２３４５ and ﬁne ligatures ﬂow; ① ② ③ ™ ½ ㎏ ℃ Ⅻ.
東京は日本の首都です。 私は学生です。 カタカナ ﾊﾝｶｸ.
한국어 텍스트 예제입니다. 안녕하세요.
Café naïve résumé coöperate — “quotes” ‘single’ … ellipsis.
"""


def corpus():
    readme = open(os.path.join(ROOT, "README.md"), encoding="utf-8").read()
    return readme + "\n" + EXTRA * 5


def test_strings(seed):
    """Hand-written edge cases, corpus lines, and random mixes of characters from many blocks."""
    s = [
        "", " ", "  ", "\t", "\n", "a", "Hello world", " Hello world", "Hello  world", "  leading", "trailing  ",
        "tab\tseparated\tvalues", "new\nline", "mixed \t\n whitespace", "multiple     spaces     here",
        "ＦＵＬＬＷＩＤＴＨ １２３", "ﬁne ﬂow ﬀ", "① ② ⑩", "™ ℃ ㎏ ½ ¼", "Ⅻ ⅻ", "ｶﾀｶﾅ ﾊﾝｶｸ", "e\u0301 cafe\u0301",
        "\u00e9 vs e\u0301", "A\u030a", "\u1100\u1161\u11a8", "한국어", "東京", "zero\u200bwidth", "soft\u00adhyphen",
        "nbsp\u00a0space", "ideographic\u3000space", "en\u2002space", "ctrl\x01char", "bell\x07", "del\x7f",
        "<sep>", "a<sep>b", " <sep> ", "<sep><sep>", "x <sep>y", "<unk>", "<s>", "</s>", "emoji 🦙🚀", "🦙",
        "Ω Ωmega ω", "ΟΔΟΣ", "straße STRASSE", "İstanbul", "ǅ ǆ Ǆ", "ﬃ", "…", "——", "“”", "¼½¾", "x²³", "H₂O",
        "\u2028line\u2029para", "٣٤٥ العربية", "עברית", "ไทย", "हिन्दी", "1234567890", "3.14159", "a-b_c.d/e\\f",
        "llmc compiles a model", "The quick brown fox jumps over the lazy dog.", "ＡＢＣ ａｂｃ", "\ufeffbom",
        "\u00a0\u00a0", " \u3000 ", "x\u0000y", "\u200d", "👨\u200d👩\u200d👧", "☃☃☃", "abc☃def", "𝔘𝔫𝔦𝔠𝔬𝔡𝔢", "𝟏𝟐𝟑",
    ]
    lines = [l.strip() for l in corpus().splitlines() if 10 < len(l.strip()) < 200]
    rng = random.Random(seed)
    s += rng.sample(lines, 150)
    blocks = [(0x20, 0x7E), (0xA0, 0x17F), (0x300, 0x36F), (0x370, 0x3FF), (0x400, 0x4FF), (0x2000, 0x206F),
              (0x2100, 0x218F), (0x2460, 0x24FF), (0x3000, 0x30FF), (0x4E00, 0x4E80), (0xAC00, 0xAC40),
              (0xFB00, 0xFB06), (0xFF01, 0xFF9F), (0x1F300, 0x1F320), (0x9, 0xD)]
    for _ in range(200):
        n = rng.randint(1, 24)
        t = ""
        for _ in range(n):
            lo, hi = rng.choice(blocks)
            t += chr(rng.randint(lo, hi))
        s.append(t)
    # words glued together at random, with random spacing
    words = " ".join(lines).split()
    for _ in range(100):
        t = ""
        for _ in range(rng.randint(1, 8)):
            t += rng.choice(words) + rng.choice(["", " ", "  ", "\t", "\n", "ｰ", "、"])
        s.append(t)
    # no surrogates (not encodable as UTF-8)
    return [x for x in s if not any(0xD800 <= ord(c) <= 0xDFFF for c in x)]


MODELS = {
    "nfkc": dict(vocab_size=700, model_type="unigram", normalization_rule_name="nmt_nfkc", byte_fallback=True,
                 user_defined_symbols=["<sep>"], character_coverage=0.995),
    "plain": dict(vocab_size=300, model_type="unigram", normalization_rule_name="identity", add_dummy_prefix=False,
                  remove_extra_whitespaces=False, byte_fallback=False, character_coverage=0.98),
}


def read_model(path):
    """The fields of a SentencePiece ModelProto the converters need (protobuf parsed by hand)."""
    def varint(b, i):
        v = shift = 0
        while True:
            c = b[i]; i += 1
            v |= (c & 0x7F) << shift; shift += 7
            if not c & 0x80:
                return v, i

    def fields(b):
        i = 0
        while i < len(b):
            key, i = varint(b, i)
            f, w = key >> 3, key & 7
            if w == 0:
                v, i = varint(b, i)
            elif w == 2:
                n, i = varint(b, i); v = b[i:i + n]; i += n
            elif w == 5:
                v = b[i:i + 4]; i += 4
            elif w == 1:
                v = b[i:i + 8]; i += 8
            yield f, w, v

    data = open(path, "rb").read()
    pieces, norm = [], {"charsmap": b"", "add_dummy_prefix": 1, "remove_extra_whitespaces": 1}
    for f, w, v in fields(data):
        if f == 1:
            p = {"piece": "", "score": 0.0, "type": 1}
            for g, _, x in fields(v):
                if g == 1: p["piece"] = x.decode()
                elif g == 2: p["score"] = struct.unpack("<f", x)[0]
                elif g == 3: p["type"] = x
            pieces.append(p)
        elif f == 3:
            for g, _, x in fields(v):
                if g == 2: norm["charsmap"] = x
                elif g == 3: norm["add_dummy_prefix"] = x
                elif g == 4: norm["remove_extra_whitespaces"] = x
    return pieces, norm


def to_tokenizer_json(pieces, norm, byte_fallback):
    added = [{"id": i, "content": p["piece"], "single_word": False, "lstrip": False, "rstrip": False,
              "normalized": False, "special": p["type"] == 3} for i, p in enumerate(pieces) if p["type"] in (2, 3, 4)]
    normalizer = None
    if norm["charsmap"]:
        normalizer = {"type": "Precompiled", "precompiled_charsmap": base64.b64encode(norm["charsmap"]).decode()}
    meta = {"type": "Metaspace", "replacement": "\u2581", "add_prefix_space": bool(norm["add_dummy_prefix"])}
    pre = {"type": "Sequence", "pretokenizers": [{"type": "WhitespaceSplit"}, meta]} if norm["remove_extra_whitespaces"] else meta
    unk = next(i for i, p in enumerate(pieces) if p["type"] == 2)
    return {"version": "1.0", "truncation": None, "padding": None, "added_tokens": added, "normalizer": normalizer,
            "pre_tokenizer": pre, "post_processor": None, "decoder": dict(meta),
            "model": {"type": "Unigram", "unk_id": unk, "vocab": [[p["piece"], p["score"]] for p in pieces],
                      "byte_fallback": byte_fallback}}


def to_gguf(pieces, norm):
    def s(x):
        b = x.encode()
        return struct.pack("<Q", len(b)) + b

    def kv(key, typ, payload):
        return s(key) + struct.pack("<I", typ) + payload

    def arr(typ, items):
        return struct.pack("<IQ", typ, len(items)) + b"".join(items)

    kvs = [kv("tokenizer.ggml.model", 8, s("t5")),
           kv("tokenizer.ggml.tokens", 9, arr(8, [s(p["piece"]) for p in pieces])),
           kv("tokenizer.ggml.scores", 9, arr(6, [struct.pack("<f", p["score"]) for p in pieces])),
           kv("tokenizer.ggml.token_type", 9, arr(5, [struct.pack("<i", p["type"]) for p in pieces])),
           kv("tokenizer.ggml.add_space_prefix", 7, bytes([norm["add_dummy_prefix"]])),
           kv("tokenizer.ggml.remove_extra_whitespaces", 7, bytes([norm["remove_extra_whitespaces"]])),
           kv("tokenizer.ggml.unknown_token_id", 4, struct.pack("<I", 0)),
           kv("tokenizer.ggml.eos_token_id", 4, struct.pack("<I", 2)),
           kv("tokenizer.ggml.add_bos_token", 7, b"\x00")]
    if norm["charsmap"]:
        kvs.append(kv("tokenizer.ggml.precompiled_charsmap", 9, arr(0, [bytes([c]) for c in norm["charsmap"]])))
    return b"GGUF" + struct.pack("<IQQ", 3, 0, len(kvs)) + b"".join(kvs)


def main():
    os.makedirs(OUT, exist_ok=True)
    corpus_path = os.path.join(OUT, "corpus.txt")
    with open(corpus_path, "w", encoding="utf-8") as f:
        f.write(corpus())
    for i, (name, opts) in enumerate(sorted(MODELS.items())):
        spm.SentencePieceTrainer.train(input=corpus_path, model_prefix=os.path.join(OUT, name), num_threads=1,
                                       minloglevel=2, **opts)
        os.remove(os.path.join(OUT, name + ".vocab"))
        sp = spm.SentencePieceProcessor(model_file=os.path.join(OUT, name + ".model"))
        cases = []
        for t in test_strings(1000 + i):
            ids = sp.encode(t)
            cases.append({"text": t, "ids": ids, "decoded": sp.decode(ids)})
        with open(os.path.join(OUT, name + ".json"), "w", encoding="utf-8") as f:
            json.dump({"model": name + ".model", "settings": opts, "sentencepiece": spm.__version__, "cases": cases},
                      f, ensure_ascii=False, indent=0)
        pieces, norm = read_model(os.path.join(OUT, name + ".model"))
        with open(os.path.join(OUT, name + ".tokenizer.json"), "w", encoding="utf-8") as f:
            json.dump(to_tokenizer_json(pieces, norm, opts["byte_fallback"]), f, ensure_ascii=False)
        with open(os.path.join(OUT, name + ".gguf"), "wb") as f:
            f.write(to_gguf(pieces, norm))
        print(name, len(cases), "cases,", sp.get_piece_size(), "pieces")


if __name__ == "__main__":
    main()
