#!/usr/bin/python3
"""Writes the Llama 2 tokenizer.json (SentencePiece-style, "legacy" layout) from tokenizer.model.

The layout is the one Hugging Face's LlamaTokenizerFast files have (the Mistral-7B tokenizer.json in
tests/data/tokenizers/hf/mistral is a real one): the vocabulary is the pieces by id; the merges are, for every
piece, each split of it into two pieces that are both in the vocabulary (ordered by the ids of the halves),
all ordered by the score of the merged piece, highest first (a stable sort, so pieces of equal score keep
their id order); <unk>, <s>, </s> are special added tokens; Prepend("▁") + Replace(" " -> "▁") normalise;
Replace / ByteFallback / Fuse / Strip decode. Whether the result behaves as Llama 2's tokenizer is checked by
the Hugging Face tokenizers library itself (make_vectors.js: the llama-spm vectors, 46/46).

Usage: /usr/bin/python3 make_llama2_json.py tokenizer.model > tokenizer.json   (needs python3-sentencepiece)
"""
import json
import sys

import sentencepiece as spm

sp = spm.SentencePieceProcessor(model_file=sys.argv[1])
n = sp.get_piece_size()
pieces = [sp.id_to_piece(i) for i in range(n)]
vocab = {p: i for i, p in enumerate(pieces)}
merges = []
for i, piece in enumerate(pieces):
    local = [(piece[:k], piece[k:]) for k in range(1, len(piece)) if piece[:k] in vocab and piece[k:] in vocab]
    local.sort(key=lambda lr: (vocab[lr[0]], vocab[lr[1]]))
    merges.extend((sp.get_score(i), lr) for lr in local)
merges.sort(key=lambda m: m[0], reverse=True)

special = lambda i: {"id": i, "content": pieces[i], "single_word": False, "lstrip": False, "rstrip": False,
                     "normalized": False, "special": True}
tok = {
    "version": "1.0", "truncation": None, "padding": None,
    "added_tokens": [special(0), special(1), special(2)],
    "normalizer": {"type": "Sequence", "normalizers": [{"type": "Prepend", "prepend": "▁"},
                                                        {"type": "Replace", "pattern": {"String": " "}, "content": "▁"}]},
    "pre_tokenizer": None,
    "post_processor": {"type": "TemplateProcessing",
                       "single": [{"SpecialToken": {"id": "<s>", "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}}],
                       "pair": [{"SpecialToken": {"id": "<s>", "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}},
                                {"SpecialToken": {"id": "<s>", "type_id": 1}}, {"Sequence": {"id": "B", "type_id": 1}}],
                       "special_tokens": {"<s>": {"id": "<s>", "ids": [1], "tokens": ["<s>"]}}},
    "decoder": {"type": "Sequence", "decoders": [{"type": "Replace", "pattern": {"String": "▁"}, "content": " "},
                                                 {"type": "ByteFallback"}, {"type": "Fuse"},
                                                 {"type": "Strip", "content": " ", "start": 1, "stop": 0}]},
    "model": {"type": "BPE", "dropout": None, "unk_token": "<unk>", "continuing_subword_prefix": None,
              "end_of_word_suffix": None, "fuse_unk": True, "byte_fallback": True, "ignore_merges": False,
              "vocab": vocab, "merges": [f"{l} {r}" for _, (l, r) in merges]},
}
json.dump(tok, sys.stdout, ensure_ascii=False, indent=1)
sys.stdout.write("\n")
