// Golden tokenizer vectors (llama.cpp tests/test-tokenizer-0 format): every string of the .inp file must
// encode (no BOS) to the ids on its line of the .out file, and decode(encode(s)) must give s back.
#include <doctest/doctest.h>

#include <filesystem>
#include <fstream>

#include <nlohmann/json.hpp>

#include "llmc/tokenizer.hpp"
#include "test_util.hpp"

#include <unistd.h>

using namespace tok_test;

namespace {

std::vector<std::string> split_inputs(const std::string& s) {
  const std::string sep = "\n__ggml_vocab_test__\n";
  std::vector<std::string> out;
  size_t pos = 0;
  for (;;) {
    size_t k = s.find(sep, pos);
    if (k == std::string::npos) break;
    out.push_back(s.substr(pos, k - pos));
    pos = k + sep.size();
  }
  return out;  // the file ends with a separator
}

std::vector<std::vector<int>> read_outputs(const std::string& s) {
  std::vector<std::vector<int>> out;
  size_t pos = 0;
  while (pos < s.size()) {
    size_t e = s.find('\n', pos);
    if (e == std::string::npos) e = s.size();
    out.push_back(parse_ids(s.substr(pos, e - pos)));
    pos = e + 1;
  }
  return out;
}

std::string escaped(const std::string& s) {
  std::string r;
  for (unsigned char c : s) {
    if (c == '\n') r += "\\n";
    else if (c == '\t') r += "\\t";
    else if (c < 0x20) r += "\\x" + std::to_string(c);
    else r += static_cast<char>(c);
  }
  return r;
}

// Runs the vectors; returns (encode passes, round-trip passes, cases).
void run_vectors(const char* name, const std::string& tokenizer, const std::string& vectors, const char* expect_kind,
                 bool roundtrip = true) {
  auto tok = llmc::Tokenizer::load(tokenizer[0] == '/' ? tokenizer : data_path(tokenizer));
  CHECK(tok->kind() == expect_kind);
  auto inputs = split_inputs(slurp(data_path(vectors + ".inp")));
  auto outputs = read_outputs(slurp(data_path(vectors + ".out")));
  REQUIRE(inputs.size() == 46);  // 46 strings, each followed by the separator
  REQUIRE(outputs.size() == inputs.size());
  int enc_ok = 0, rt_ok = 0, stream_ok = 0;
  for (size_t i = 0; i < inputs.size(); ++i) {
    CAPTURE(i);
    CAPTURE(escaped(inputs[i]));
    auto ids = tok->encode(inputs[i], false);
    CHECK(show(ids) == show(outputs[i]));
    enc_ok += ids == outputs[i];
    std::string back = tok->decode(outputs[i]);
    if (roundtrip) CHECK(escaped(back) == escaped(inputs[i]));
    rt_ok += back == inputs[i];
    // streaming gives the same bytes, and never a broken UTF-8 sequence in the middle
    llmc::TextStream ts(*tok);
    std::string streamed;
    bool whole_chars = true;
    for (int id : outputs[i]) {
      std::string part = ts.push(id);
      if (llmc::tok_detail::utf8_incomplete_tail(part) != 0) whole_chars = false;
      streamed += part;
    }
    streamed += ts.flush();
    CHECK(streamed == back);
    CHECK(whole_chars);
    stream_ok += streamed == back && whole_chars;
  }
  MESSAGE(std::string(name) << ": encode " << enc_ok << "/" << inputs.size() << ", decode round-trip " << rt_ok << "/"
               << inputs.size() << ", stream " << stream_ok << "/" << inputs.size());
}

}  // namespace

TEST_CASE("vocab: llama-spm (GGUF)") {
  run_vectors("llama-spm", "gguf/ggml-vocab-llama-spm.gguf", "gguf/ggml-vocab-llama-spm.gguf", "spm");
}
TEST_CASE("vocab: llama-spm (tokenizer.model)") {
  run_vectors("llama-spm/tokenizer.model", "llama2c/tokenizer.model", "gguf/ggml-vocab-llama-spm.gguf", "spm");
}
TEST_CASE("vocab: phi-3 (GGUF)") {
  run_vectors("phi-3", "gguf/ggml-vocab-phi-3.gguf", "gguf/ggml-vocab-phi-3.gguf", "spm");
}
TEST_CASE("vocab: gpt-2 (GGUF)") {
  run_vectors("gpt-2", "gguf/ggml-vocab-gpt-2.gguf", "gguf/ggml-vocab-gpt-2.gguf", "bpe");
}
TEST_CASE("vocab: gpt-2 (encoder.json + vocab.bpe)") {
  run_vectors("gpt-2/encoder.json", "hf/gpt2/encoder.json", "gguf/ggml-vocab-gpt-2.gguf", "bpe");
}
TEST_CASE("vocab: mpt (GGUF)") {
  run_vectors("mpt", "gguf/ggml-vocab-mpt.gguf", "gguf/ggml-vocab-mpt.gguf", "bpe");
}
TEST_CASE("vocab: gpt-neox (GGUF; MPT vectors = same tokenizer)") {
  run_vectors("gpt-neox", "gguf/ggml-vocab-gpt-neox.gguf", "gguf/ggml-vocab-mpt.gguf", "bpe");
}
TEST_CASE("vocab: falcon (GGUF)") {
  run_vectors("falcon", "gguf/ggml-vocab-falcon.gguf", "gguf/ggml-vocab-falcon.gguf", "bpe");
}
TEST_CASE("vocab: deepseek-coder (GGUF)") {
  run_vectors("deepseek-coder", "gguf/ggml-vocab-deepseek-coder.gguf", "gguf/ggml-vocab-deepseek-coder.gguf", "bpe");
}
TEST_CASE("vocab: deepseek-llm (GGUF)") {
  run_vectors("deepseek-llm", "gguf/ggml-vocab-deepseek-llm.gguf", "gguf/ggml-vocab-deepseek-llm.gguf", "bpe");
}
TEST_CASE("vocab: starcoder (GGUF)") {
  run_vectors("starcoder", "gguf/ggml-vocab-starcoder.gguf", "gguf/ggml-vocab-starcoder.gguf", "bpe");
}
TEST_CASE("vocab: refact (GGUF)") {
  run_vectors("refact", "gguf/ggml-vocab-refact.gguf", "gguf/ggml-vocab-refact.gguf", "bpe");
}
TEST_CASE("vocab: llama-bpe (Llama 3 tokenizer.json)") {
  run_vectors("llama-bpe", "hf/llama3/tokenizer.json", "gguf/ggml-vocab-llama-bpe.gguf", "bpe");
}
TEST_CASE("vocab: qwen2 (Qwen3 tokenizer.json)") {
  run_vectors("qwen2", "hf/qwen3/tokenizer.json", "gguf/ggml-vocab-qwen2.gguf", "bpe");
}

// BERT (WordPiece): lower-cased and accent-stripped, so decode cannot give the input back; what it gives is
// checked below instead.
TEST_CASE("vocab: bert-bge (GGUF)") {
  run_vectors("bert-bge", "gguf/ggml-vocab-bert-bge.gguf", "gguf/ggml-vocab-bert-bge.gguf", "wordpiece", false);
  auto tok = llmc::Tokenizer::load(data_path("gguf/ggml-vocab-bert-bge.gguf"));
  CHECK(tok->decode(tok->encode(" Hello, world!", false)) == "hello, world!");
  CHECK(tok->decode(tok->encode("Cửa Việt", false)) == "cua viet");
  CHECK(tok->decode(tok->encode("w048 7tuijk dsdfhu", false)) == "w048 7tuijk dsdfhu");
  // [CLS] text [SEP] with add_bos; the special tokens decode to nothing
  auto ids = tok->encode("Hello world", true);
  CHECK(show(ids) == "101 7592 2088 102");
  CHECK(tok->bos_id() == 101);
  CHECK(tok->eos_id() == 102);
  CHECK(tok->decode(ids) == "hello world");
  // special tokens written in the text are recognised
  CHECK(show(tok->encode("a [SEP] b", false)) == "1037 102 1038");
}

// The same BERT vocabulary as vocab.txt and as a tokenizer.json (WordPiece, BertNormalizer,
// BertPreTokenizer), written from the GGUF's tokens the way HF stores them ("##" continuations).
TEST_CASE("vocab: bert-bge (vocab.txt, tokenizer.json)") {
  auto gguf = llmc::Tokenizer::load(data_path("gguf/ggml-vocab-bert-bge.gguf"));
  namespace fs = std::filesystem;
  const fs::path dir = fs::temp_directory_path() / ("llmc_wordpiece_" + std::to_string(::getpid()));
  fs::create_directories(dir);
  std::string txt;
  nlohmann::json vocab = nlohmann::json::object();
  for (int i = 0; i < gguf->vocab_size(); ++i) {
    txt += gguf->piece(i) + "\n";
    vocab[gguf->piece(i)] = i;
  }
  std::ofstream(dir / "vocab.txt") << txt;
  nlohmann::json added = nlohmann::json::array();
  for (const char* s : {"[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"})
    added.push_back({{"id", vocab[s]}, {"content", s}, {"special", true}});
  nlohmann::json j = {
      {"version", "1.0"},
      {"added_tokens", added},
      {"normalizer", {{"type", "BertNormalizer"}, {"clean_text", true}, {"handle_chinese_chars", true},
                      {"strip_accents", nullptr}, {"lowercase", true}}},
      {"pre_tokenizer", {{"type", "BertPreTokenizer"}}},
      {"post_processor", {{"type", "BertProcessing"}, {"sep", {"[SEP]", 102}}, {"cls", {"[CLS]", 101}}}},
      {"decoder", {{"type", "WordPiece"}, {"prefix", "##"}, {"cleanup", true}}},
      {"model", {{"type", "WordPiece"}, {"unk_token", "[UNK]"}, {"continuing_subword_prefix", "##"},
                 {"max_input_chars_per_word", 100}, {"vocab", vocab}}}};
  std::ofstream(dir / "tokenizer.json") << j.dump();
  run_vectors("bert-bge/vocab.txt", (dir / "vocab.txt").string(), "gguf/ggml-vocab-bert-bge.gguf", "wordpiece", false);
  run_vectors("bert-bge/tokenizer.json", (dir / "tokenizer.json").string(), "gguf/ggml-vocab-bert-bge.gguf", "wordpiece",
              false);
  auto from_json = llmc::Tokenizer::load((dir / "tokenizer.json").string());
  CHECK(show(from_json->encode("Hello world", true)) == "101 7592 2088 102");
  // a cased model (tokenizer_config.json do_lower_case = false) keeps "Hello", which this uncased
  // vocabulary does not have: [UNK]
  std::ofstream(dir / "tokenizer_config.json") << R"({"do_lower_case": false})";
  auto cased = llmc::Tokenizer::load((dir / "vocab.txt").string());
  CHECK(show(cased->encode("Hello world", false)) == "100 2088");
  fs::remove_all(dir);
}
