// Bad inputs must throw llmc::Error (never crash or over-allocate); streaming and random round trips.
#include <doctest/doctest.h>

#include <cstdio>
#include <random>

#include "llmc/tokenizer.hpp"
#include "test_util.hpp"

using namespace tok_test;

namespace {

struct TempFile {
  std::string path;
  TempFile(const std::string& name, const std::string& data) {
    path = "/tmp/llmc_tok_test_" + std::to_string(::getpid()) + "_" + name;
    std::FILE* f = std::fopen(path.c_str(), "wb");
    REQUIRE(f);
    if (!data.empty()) std::fwrite(data.data(), 1, data.size(), f);
    std::fclose(f);
  }
  ~TempFile() { std::remove(path.c_str()); }
};

void expect_load_error(const std::string& name, const std::string& data) {
  TempFile t(name, data);
  CAPTURE(name);
  CHECK_THROWS_AS(llmc::Tokenizer::load(t.path), llmc::Error);
}

// The error must name the file it is about.
void expect_named_error(const std::string& name, const std::string& data) {
  TempFile t(name, data);
  CAPTURE(name);
  try {
    auto tok = llmc::Tokenizer::load(t.path);
    (void)tok->encode("Hello world", false);
    FAIL("loaded and encoded without an error");
  } catch (const llmc::Error& e) {
    CAPTURE(std::string(e.what()));
    CHECK(std::string(e.what()).find(t.path) != std::string::npos);
  }
}

std::string random_text(std::mt19937& rng, bool valid_utf8) {
  static const char* pieces[] = {"a", "b", "the", " ", "  ", "\n", "\t", "Hello", "'s", "'LL", "123", "4567", "!",
                                 "...", "é", "ü", "ß", "Ж", "ж", "中", "文", "日本", "한", "🦙", "😀", "\xE2\x80\x8D",
                                 "\xC2\xA0", "(", ")", "<", ">", "__", "<s>", "<|endoftext|>", "\r\n", "ﬀ", "Ⅻ"};
  std::string s;
  int n = std::uniform_int_distribution<int>(0, 12)(rng);
  for (int i = 0; i < n; ++i) {
    if (!valid_utf8 && std::uniform_int_distribution<int>(0, 5)(rng) == 0)
      s += static_cast<char>(std::uniform_int_distribution<int>(0x80, 0xBF)(rng));  // stray continuation byte
    else
      s += pieces[std::uniform_int_distribution<size_t>(0, std::size(pieces) - 1)(rng)];
  }
  return s;
}

}  // namespace

TEST_CASE("errors: truncated and corrupt GGUF files") {
  for (const char* name : {"gguf/ggml-vocab-llama-spm.gguf", "gguf/ggml-vocab-gpt-2.gguf"}) {
    std::string data = slurp(data_path(name));
    CAPTURE(std::string(name));
    // every cut in the header region, then a spread of cuts through the metadata
    std::vector<size_t> cuts;
    for (size_t k = 0; k < 200; ++k) cuts.push_back(k);
    for (size_t k = 200; k < data.size(); k += data.size() / 97) cuts.push_back(k);
    cuts.push_back(data.size() - 1);
    for (size_t cut : cuts) expect_load_error("cut" + std::to_string(cut) + ".gguf", data.substr(0, cut));
    // a metadata count far beyond the file
    std::string bad = data;
    uint64_t huge = 0x0FFFFFFFFFFFFFFFull;
    std::memcpy(bad.data() + 16, &huge, 8);
    expect_load_error("hugekv.gguf", bad);
    // the tokens array claims 2^60 strings
    size_t at = data.find("tokenizer.ggml.tokens");
    REQUIRE(at != std::string::npos);
    bad = data;
    std::memcpy(bad.data() + at + 21 + 4 + 4, &huge, 8);  // key, u32 type (9), u32 item type (8), u64 count
    expect_load_error("hugearray.gguf", bad);
    // a string that claims to be longer than the file
    bad = data;
    std::memcpy(bad.data() + 24, &huge, 8);  // length of the first key
    expect_load_error("hugekey.gguf", bad);
    // wrong version
    bad = data;
    bad[4] = 7;
    expect_load_error("version.gguf", bad);
  }
  // an unsupported tokenizer model
  std::string data = slurp(data_path("gguf/ggml-vocab-gpt-2.gguf"));
  size_t at = data.find("tokenizer.ggml.model");
  REQUIRE(at != std::string::npos);
  at += std::strlen("tokenizer.ggml.model") + 4 + 8;  // key, u32 type, u64 string length
  REQUIRE(data.compare(at, 4, "gpt2") == 0);
  data.replace(at, 4, "rwkv");
  expect_load_error("rwkv.gguf", data);
}

TEST_CASE("errors: corrupt tokenizer.model, tokenizer.bin and JSON") {
  std::string model = slurp(data_path("llama2c/tokenizer.model"));
  for (size_t cut : {size_t(1), size_t(2), size_t(5), size_t(100), size_t(1001), model.size() / 2, model.size() - 3})
    expect_load_error("cut" + std::to_string(cut) + ".model", model.substr(0, cut));
  std::string bin = slurp(data_path("llama2c/tok512.bin"));
  expect_load_error("short.bin", bin.substr(0, bin.size() - 2));
  expect_load_error("empty.bin", "");
  expect_load_error("bad.json", "{\"model\": {\"type\": \"BPE\", \"vocab\": ");
  expect_load_error("nomerges.json", R"({"model": {"type": "BPE", "vocab": {"a": 0}}, "decoder": {"type": "ByteLevel"}})");
  expect_load_error("unigram.json", R"({"model": {"type": "Unigram", "vocab": []}})");
  expect_load_error("badregex.json",
                    R"({"model": {"type": "BPE", "vocab": {"a": 0}, "merges": []},
                        "pre_tokenizer": {"type": "Split", "pattern": {"Regex": "(unclosed"}, "behavior": "Isolated"},
                        "decoder": {"type": "ByteLevel"}})");
  expect_load_error("array.json", "[1, 2, 3]");
  expect_load_error("encoder.json", R"({"a": 0, "b": 1})");  // no vocab.bpe beside it in /tmp
  CHECK_THROWS_AS(llmc::Tokenizer::load("/nonexistent/tokenizer.json"), llmc::Error);
}

TEST_CASE("errors: unknown token ids") {
  for (const char* name : {"gguf/ggml-vocab-llama-spm.gguf", "gguf/ggml-vocab-gpt-2.gguf", "hf/qwen3/tokenizer.json",
                           "llama2c/tokenizer.model"}) {
    CAPTURE(std::string(name));
    auto tok = llmc::Tokenizer::load(data_path(name));
    CHECK_THROWS_AS(tok->decode({tok->vocab_size()}), llmc::Error);
    CHECK_THROWS_AS(tok->decode({-5}), llmc::Error);
    llmc::TextStream ts(*tok);
    CHECK_THROWS_AS(ts.push(1 << 30), llmc::Error);
  }
}

TEST_CASE("stream: multi-byte characters are held back until complete") {
  auto spm = llmc::Tokenizer::load(data_path("gguf/ggml-vocab-llama-spm.gguf"));
  // "🦙" has no piece in Llama 2: 4 byte-fallback tokens after the "▁" piece
  auto ids = spm->encode("\xF0\x9F\xA6\x99", false);
  REQUIRE(show(ids) == "29871 243 162 169 156");
  llmc::TextStream ts(*spm);
  CHECK(ts.push(ids[0]) == "");  // the dummy-prefix space at the start is dropped
  CHECK(ts.push(ids[1]) == "");
  CHECK(ts.push(ids[2]) == "");
  CHECK(ts.push(ids[3]) == "");
  CHECK(ts.push(ids[4]) == "\xF0\x9F\xA6\x99");
  CHECK(ts.flush() == "");
  // an unfinished character comes out on flush
  llmc::TextStream ts2(*spm);
  CHECK(ts2.push(243) == "");
  CHECK(ts2.push(162) == "");
  CHECK(ts2.flush() == "\xF0\x9F");

  auto bpe = llmc::Tokenizer::load(data_path("gguf/ggml-vocab-gpt-2.gguf"));
  std::string text = "\xE6\x88\x91\xE6\x83\xB3 llamas \xF0\x9F\xA6\x99!";
  auto bids = bpe->encode(text, false);
  llmc::TextStream ts3(*bpe);
  std::string got;
  for (int id : bids) {
    std::string part = ts3.push(id);
    CHECK(llmc::tok_detail::utf8_incomplete_tail(part) == 0);
    got += part;
  }
  got += ts3.flush();
  CHECK(got == text);
}

TEST_CASE("stream: random texts round-trip through every format") {
  const char* names[] = {"gguf/ggml-vocab-llama-spm.gguf", "llama2c/tokenizer.model", "gguf/ggml-vocab-phi-3.gguf",
                         "gguf/ggml-vocab-baichuan.gguf", "gguf/ggml-vocab-gpt-2.gguf", "gguf/ggml-vocab-falcon.gguf",
                         "gguf/ggml-vocab-deepseek-llm.gguf", "gguf/ggml-vocab-deepseek-coder.gguf",
                         "gguf/ggml-vocab-starcoder.gguf", "hf/llama3/tokenizer.json", "hf/qwen3/tokenizer.json",
                         "hf/gpt2/encoder.json"};
  for (const char* name : names) {
    CAPTURE(std::string(name));
    auto tok = llmc::Tokenizer::load(data_path(name));
    std::mt19937 rng(1234);
    bool byte_level = tok->kind() == "bpe";
    int ok = 0, total = 0;
    for (int k = 0; k < 300; ++k) {
      // byte-level BPE is lossless for any bytes; SentencePiece for valid UTF-8 without special-token text
      std::string s = random_text(rng, !byte_level || k % 2 == 0);
      // literal special-token text becomes a control token, which decodes to nothing
      if (s.find("<s>") != std::string::npos || s.find("<|endoftext|>") != std::string::npos) continue;
      auto ids = tok->encode(s, false);
      std::string back = tok->decode(ids);
      llmc::TextStream ts(*tok);
      std::string streamed;
      for (int id : ids) streamed += ts.push(id);
      streamed += ts.flush();
      CAPTURE(s);
      CHECK(back == s);
      CHECK(streamed == back);
      ++total;
      ok += back == s && streamed == back;
    }
    MESSAGE(std::string(name) << ": random round-trip " << ok << "/" << total);
  }
}

TEST_CASE("vocab: baichuan (GGUF; no reference vectors: round-trip only)") {
  auto tok = llmc::Tokenizer::load(data_path("gguf/ggml-vocab-baichuan.gguf"));
  CHECK(tok->kind() == "spm");
  CHECK(tok->vocab_size() == 64000);
  CHECK(tok->bos_id() == 1);
  CHECK(tok->eos_id() == 2);
  std::string inp = slurp(data_path("gguf/ggml-vocab-llama-spm.gguf.inp"));
  const std::string sep = "\n__ggml_vocab_test__\n";
  int ok = 0, total = 0;
  for (size_t pos = 0, k; (k = inp.find(sep, pos)) != std::string::npos; pos = k + sep.size()) {
    std::string s = inp.substr(pos, k - pos);
    auto ids = tok->encode(s, false);
    CAPTURE(s);
    CHECK(tok->decode(ids) == s);
    ++total;
    ok += tok->decode(ids) == s;
  }
  MESSAGE("baichuan: decode round-trip " << ok << "/" << total);
  // a plain word is one piece with the dummy-prefix space
  auto ids = tok->encode("Hello", false);
  REQUIRE(ids.size() >= 1);
  CHECK(tok->piece(ids[0]).rfind("\xE2\x96\x81", 0) == 0);
}

TEST_CASE("stream: special tokens in text, BOS/EOS and add_bos") {
  auto qwen = llmc::Tokenizer::load(data_path("hf/qwen3/tokenizer.json"));
  auto ids = qwen->encode("<|im_start|>user\nHi<|im_end|>", true);
  REQUIRE(ids.size() >= 4);
  CHECK(ids.front() == 151644);  // no BOS for Qwen (tokenizer_config bos_token = null)
  CHECK(ids.back() == 151645);
  CHECK(qwen->bos_id() == -1);
  CHECK(qwen->eos_id() == 151645);
  CHECK_FALSE(qwen->add_bos_default());
  CHECK(qwen->decode(ids) == "user\nHi");  // control tokens print nothing
  auto think = qwen->encode("<think>", false);  // an added token that is not special: printed as text
  REQUIRE(think.size() == 1);
  CHECK(qwen->decode(think) == "<think>");

  auto llama3 = llmc::Tokenizer::load(data_path("hf/llama3/tokenizer.json"));
  CHECK(llama3->bos_id() == 128000);
  CHECK(llama3->eos_id() == 128001);
  CHECK(llama3->add_bos_default());
  CHECK(show(llama3->encode("Hello", true)) == "128000 9906");

  auto spm = llmc::Tokenizer::load(data_path("gguf/ggml-vocab-llama-spm.gguf"));
  CHECK(show(spm->encode("Hello", true)) == "1 15043");
  CHECK(show(spm->encode("<s>Hello", false)) == "1 15043");  // literal control token
  CHECK(spm->decode({1, 15043, 3186, 2}) == "Hello world");

  auto model = llmc::Tokenizer::load(data_path("llama2c/tokenizer.model"));
  auto bin = llmc::Tokenizer::load(data_path("llama2c/tokenizer.bin"));
  REQUIRE(model->vocab_size() == bin->vocab_size());
  CHECK(model->bos_id() == 1);
  CHECK(model->eos_id() == 2);
  for (const char* s : {"I believe the meaning of life is", "Simply put, the theory of relativity states that "})
    CHECK(show(model->encode(s, true)) == show(bin->encode(s, true)));
}

TEST_CASE("errors: WordPiece and Unigram files") {
  // SentencePiece unigram .model cut inside a piece, the trainer spec or the charsmap
  for (const char* name : {"unigram/nfkc.model", "unigram/plain.model"}) {
    std::string model = slurp(data_path(name));
    CAPTURE(std::string(name));
    for (size_t cut : {size_t(1), size_t(2), size_t(5), size_t(9), model.size() - 1, model.size() - 3, model.size() - 700})
      expect_named_error("cut" + std::to_string(cut) + ".model", model.substr(0, cut));
  }
  // GGUF t5 / bert vocabularies cut anywhere
  for (const char* name : {"unigram/nfkc.gguf", "unigram/plain.gguf", "gguf/ggml-vocab-bert-bge.gguf"}) {
    std::string data = slurp(data_path(name));
    CAPTURE(std::string(name));
    for (size_t k = 0; k < 60; ++k) expect_named_error("cut" + std::to_string(k) + ".gguf", data.substr(0, k));
    for (size_t k = 60; k < data.size(); k += data.size() / 37 + 1)
      expect_named_error("cut" + std::to_string(k) + ".gguf", data.substr(0, k));
  }
  // a precompiled_charsmap whose trie size does not fit; one that is not base64
  std::string js = slurp(data_path("unigram/nfkc.tokenizer.json"));
  const std::string key = "\"precompiled_charsmap\": \"";
  size_t at = js.find(key);
  REQUIRE(at != std::string::npos);
  at += key.size();
  std::string bad = js;
  bad.replace(at, 8, "/////w==");  // trie size 0xFFFFFFFF
  expect_named_error("bigtrie.json", bad);
  bad = js;
  bad[at + 3] = '*';
  expect_named_error("base64.json", bad);
  // random damage in the charsmap's trie: load and encode either work or throw llmc::Error
  std::mt19937 rng(7);
  int threw = 0;
  for (int k = 0; k < 100; ++k) {
    bad = js;
    for (int m = 0; m < 4; ++m) {
      size_t pos = at + 8 + std::uniform_int_distribution<size_t>(0, 4000)(rng);
      bad[pos] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"[rng() % 64];
    }
    TempFile t("damaged.json", bad);
    try {
      auto tok = llmc::Tokenizer::load(t.path);
      for (const char* s : {"Hello world", "\xEF\xBC\xA1\xEF\xAC\x81 \xE2\x91\xA0", "caf\xC3\xA9 \xE3\x82\xAB"})
        (void)tok->decode(tok->encode(s, false));
    } catch (const llmc::Error& e) {
      ++threw;
      CHECK(std::string(e.what()).find(t.path) != std::string::npos);
    }
  }
  MESSAGE("damaged charsmaps: " << threw << "/100 rejected, the others loaded and encoded");
  expect_named_error("nounk.json", R"({"model": {"type": "Unigram", "vocab": [["a", -1.0]]}})");
  expect_named_error("badunk.json", R"({"model": {"type": "Unigram", "unk_id": 5, "vocab": [["a", -1.0]]}})");
  expect_named_error("badentry.json", R"({"model": {"type": "Unigram", "unk_id": 0, "vocab": [["a"]]}})");
  expect_named_error("twice.json", R"({"model": {"type": "Unigram", "unk_id": 0, "vocab": [["<unk>", 0], ["a", -1], ["a", -2]]}})");
  expect_named_error("nfkc.json", R"({"normalizer": {"type": "NFKC"},
                                      "model": {"type": "Unigram", "unk_id": 0, "vocab": [["<unk>", 0], ["a", -1]]}})");
  // WordPiece
  expect_named_error("nounk_vocab.txt", "[PAD]\n[CLS]\n[SEP]\nhello\n##s\n");
  expect_named_error("nul_vocab.txt", std::string("[UNK]\nhel\0lo\n", 13));
  const std::string pre = R"("pre_tokenizer": {"type": "BertPreTokenizer"}, )";
  expect_named_error("wp_ids.json", "{" + pre + R"("model": {"type": "WordPiece", "vocab": {"[UNK]": 0, "a": 7}}})");
  expect_named_error("wp_dup.json", "{" + pre + R"("model": {"type": "WordPiece", "vocab": {"[UNK]": 0, "a": 0}}})");
  expect_named_error("wp_nounk.json", "{" + pre + R"("model": {"type": "WordPiece", "vocab": {"b": 0, "a": 1}}})");
  expect_named_error("wp_norm.json", "{" + pre + R"("normalizer": {"type": "NFKD"},
                                                    "model": {"type": "WordPiece", "vocab": {"[UNK]": 0, "a": 1}}})");
  expect_named_error("wp_pre.json", R"({"pre_tokenizer": {"type": "ByteLevel"},
                                        "model": {"type": "WordPiece", "vocab": {"[UNK]": 0, "a": 1}}})");
  // unknown ids
  for (const char* name : {"unigram/nfkc.model", "gguf/ggml-vocab-bert-bge.gguf"}) {
    auto tok = llmc::Tokenizer::load(data_path(name));
    CHECK_THROWS_AS(tok->decode({tok->vocab_size()}), llmc::Error);
    CHECK_THROWS_AS(tok->decode({-1}), llmc::Error);
  }
}

TEST_CASE("stream: Unigram and WordPiece random texts") {
  // Unigram with byte fallback and no normalisation loss: valid UTF-8 in NFKC comes back after decode
  // when it has no leading/trailing/double spaces; here: the decode of the ids equals the normalised text
  auto uni = llmc::Tokenizer::load(data_path("unigram/nfkc.model"));
  const auto& u = dynamic_cast<const llmc::UnigramTokenizer&>(*uni);
  std::mt19937 rng(99);
  for (int k = 0; k < 300; ++k) {
    std::string s = random_text(rng, k % 2 == 0);
    auto ids = uni->encode(s, false);
    std::string norm = u.normalize(s);
    std::string expect;
    for (size_t i = 0; i < norm.size(); ++i) {
      if (norm.compare(i, 3, "\xE2\x96\x81") == 0) {
        if (i > 0) expect += ' ';
        i += 2;
      } else {
        expect += norm[i];
      }
    }
    llmc::TextStream ts(*uni);
    std::string streamed;
    for (int id : ids) {
      std::string part = ts.push(id);
      CHECK(llmc::tok_detail::utf8_incomplete_tail(part) == 0);
      streamed += part;
    }
    streamed += ts.flush();
    CAPTURE(s);
    CHECK(uni->decode(ids) == expect);
    CHECK(streamed == expect);
  }
  auto bert = llmc::Tokenizer::load(data_path("gguf/ggml-vocab-bert-bge.gguf"));
  for (int k = 0; k < 300; ++k) {
    std::string s = random_text(rng, k % 2 == 0);
    auto ids = bert->encode(s, true);
    REQUIRE(ids.size() >= 2);
    CHECK(ids.front() == 101);
    CHECK(ids.back() == 102);
    for (int id : ids) CHECK((id >= 0 && id < bert->vocab_size()));
    llmc::TextStream ts(*bert);
    std::string streamed;
    for (int id : ids) streamed += ts.push(id);
    streamed += ts.flush();
    CHECK(streamed == bert->decode(ids));
  }
}
