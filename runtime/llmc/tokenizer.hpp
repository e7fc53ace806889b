// llmc tokenizers: text in, token ids out, and back.
//
// Include this header only (the tokenizer_*.hpp files are its parts). Formats, detected from the file:
//   - llama2.c tokenizer.bin         (Llama2cTokenizer: encode/decode exactly as llama2.c run.c)
//   - SentencePiece tokenizer.model  (SpmTokenizer: BPE with byte fallback, protobuf parsed by hand)
//   - GGUF vocab metadata            (tokenizer.ggml.model = llama -> SpmTokenizer, gpt2 -> BpeTokenizer)
//   - HF tokenizer.json              (BpeTokenizer: byte-level BPE, pre-tokenizer regexes run by PCRE2)
//   - GPT-2 encoder.json + vocab.bpe (BpeTokenizer)
//   - BERT vocab.txt, tokenizer.json WordPiece, GGUF bert (WordPieceTokenizer)
//   - SentencePiece unigram .model, tokenizer.json Unigram, GGUF t5 (UnigramTokenizer)
// Every bad input throws llmc::Error naming the file and what was wrong.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "llmc/error.hpp"

namespace llmc {

class Tokenizer {
 public:
  virtual ~Tokenizer() = default;
  // Detects the format from the file (llama2.c tokenizer.bin, HF tokenizer.json, GGUF vocab,
  // SentencePiece tokenizer.model, GPT-2 encoder.json (vocab.bpe beside it), BERT vocab.txt (by its name)).
  // A folder: its tokenizer.json, else its tokenizer.model.
  static std::unique_ptr<Tokenizer> load(const std::string& path);
  // The tokenizer file `path` names (a folder: its tokenizer.json, else tokenizer.model); Error if none.
  static std::string resolve(const std::string& path);

  // A tokenizer's files held in memory by file name (what a one-file binary embeds): `main` is the one
  // load() reads first, the others are what it reads beside it (tokenizer_config.json, vocab.bpe).
  struct Files {
    std::string main;
    std::map<std::string, std::string> files;
  };
  // Loads `path` (checking it) and returns every file the loading read.
  static Files collect_files(const std::string& path);
  // Loads a tokenizer from files in memory; nothing is read from the file system.
  static std::unique_ptr<Tokenizer> load(const Files& files);
  // Special/added tokens written literally in the text (e.g. "<|im_start|>") are recognised.
  virtual std::vector<int> encode(std::string_view text, bool add_bos) const = 0;
  // As encode, but special tokens are read only from bytes whose from_data flag (one per byte of text)
  // is 0: text a chat template wrote. Request text (flag 1) is always plain text. Tokenizers that
  // never read special tokens from text keep this default.
  virtual std::vector<int> encode_marked(std::string_view text, std::string_view from_data, bool add_bos) const {
    (void)from_data;
    return encode(text, add_bos);
  }
  // The whole text: the concatenation of token_bytes over the ids.
  std::string decode(const std::vector<int>& ids) const {
    std::string out;
    int prev = -1;
    for (int id : ids) {
      out += token_bytes(prev, id);
      prev = id;
    }
    return out;
  }
  virtual int vocab_size() const = 0;
  virtual int bos_id() const = 0;  // -1 if none
  virtual int eos_id() const = 0;  // -1 if none

  // The bytes token `id` adds to the text when it follows token `prev` (prev = -1: start of the text).
  // decode(ids) is the concatenation of these (that is what TextStream relies on).
  // Throws llmc::Error for an id outside [0, vocab_size()).
  virtual std::string token_bytes(int prev, int id) const = 0;
  // The stored piece of a token (for diagnostics), e.g. "▁the" or "Ġthe".
  virtual std::string piece(int id) const = 0;
  // Name of the detected format ("llama2c", "spm", "bpe", "wordpiece", "unigram").
  virtual std::string kind() const = 0;
  // Whether the model expects a BOS at the start of a prompt (GGUF tokenizer.ggml.add_bos_token,
  // tokenizer_config.json add_bos_token / bos_token; llama2.c and SentencePiece: yes).
  virtual bool add_bos_default() const { return bos_id() >= 0; }
};

// Streaming: feed ids one by one, get the bytes that are now complete UTF-8 (never a broken multi-byte char).
class TextStream {
 public:
  explicit TextStream(const Tokenizer& tok) : tok_(tok) {}
  std::string push(int id);  // text newly completed by this token
  std::string flush();       // whatever is left at the end
  // The text continues one that ended with token `id` (a prompt): spacing is decided as after it.
  void continue_after(int id) { prev_ = id; }

 private:
  const Tokenizer& tok_;
  int prev_ = -1;
  std::string pending_;
};

}  // namespace llmc

#define LLMC_TOKENIZER_INTERNAL 1
#include "llmc/tokenizer_util.hpp"
#include "llmc/tokenizer_llama2c.hpp"
#include "llmc/tokenizer_spm.hpp"
#include "llmc/tokenizer_bpe.hpp"
#include "llmc/tokenizer_gguf.hpp"
#include "llmc/tokenizer_wordpiece.hpp"
#include "llmc/tokenizer_unigram.hpp"
#include "llmc/tokenizer_load.hpp"
#undef LLMC_TOKENIZER_INTERNAL
