// llama2.c tokenizer.bin: encode/decode must reproduce karpathy/llama2.c run.c.
#include <doctest/doctest.h>

#include <nlohmann/json.hpp>

#include "llmc/tokenizer.hpp"
#include "test_util.hpp"

using namespace tok_test;

TEST_CASE("llama2c: stories260K tok512 encodes the prompt like run.c") {
  auto tok = llmc::Tokenizer::load(data_path("llama2c/tok512.bin"));
  CHECK(tok->kind() == "llama2c");
  CHECK(tok->vocab_size() == 512);
  CHECK(tok->bos_id() == 1);
  CHECK(tok->eos_id() == 2);
  auto ids = tok->encode("Once upon a time", true);
  CHECK(show(ids) == "1 403 407 261 378");
  auto golden = ids_field(slurp(data_path("llama2c/once_upon_a_time_t0_n64.ids")), "prompt_tokens");
  CHECK(ids == golden);
  CHECK(show(tok->encode("Once upon a time", false)) == "403 407 261 378");
}

static void check_golden_text(const char* stem) {
  auto tok = llmc::Tokenizer::load(data_path("llama2c/tok512.bin"));
  std::string ids_text = slurp(data_path(std::string("llama2c/") + stem + ".ids"));
  std::string want = slurp(data_path(std::string("llama2c/") + stem + ".txt"));
  auto seq = ids_field(ids_text, "sequence");
  REQUIRE(seq.size() > 2);
  REQUIRE(seq[0] == 1);
  // run.c prints decode(prev, next) for every token after BOS, then "\n".
  for (bool push_bos : {true, false}) {
    CAPTURE(push_bos);
    llmc::TextStream ts(*tok);
    std::string got;
    for (size_t i = push_bos ? 0 : 1; i < seq.size(); ++i) got += ts.push(seq[i]);
    got += ts.flush();
    got += "\n";
    CHECK(got == want);
  }
  std::vector<int> rest(seq.begin() + 1, seq.end());
  CHECK(tok->decode(seq) + "\n" == want);
  CHECK(tok->decode(rest) + "\n" == want);
}

TEST_CASE("llama2c: stories260K golden text via TextStream (once upon a time, n64)") {
  check_golden_text("once_upon_a_time_t0_n64");
}
TEST_CASE("llama2c: stories260K golden text via TextStream (bos, n256)") { check_golden_text("bos_t0_n256"); }

TEST_CASE("llama2c: Llama 2 tokenizer.bin matches llama2.c test.c") {
  auto tok = llmc::Tokenizer::load(data_path("llama2c/tokenizer.bin"));
  CHECK(tok->vocab_size() == 32000);
  std::istringstream is(slurp(data_path("llama2c/llama2c_test_c_expected.txt")));
  std::string line, text;
  int cases = 0, passed = 0;
  while (std::getline(is, line)) {
    if (line.rfind("TEXT ", 0) == 0) text = nlohmann::json::parse(line.substr(5)).get<std::string>();
    if (line.rfind("IDS ", 0) == 0) {
      auto want = parse_ids(line.substr(4));
      auto got = tok->encode(text, true);
      CAPTURE(text);
      CHECK(show(got) == show(want));
      ++cases;
      passed += got == want;
      // decode drops the BOS and the dummy-prefix space; these texts are all in the vocabulary
      CHECK(tok->decode(got) == text);
    }
  }
  CHECK(cases == 5);
  MESSAGE("llama2c test.c cases: " << passed << "/" << cases);
}

TEST_CASE("llama2c: byte fallback and safe_printf") {
  auto tok = llmc::Tokenizer::load(data_path("llama2c/tok512.bin"));
  // tok512 has no multi-byte pieces: a CJK character falls back to its 3 bytes (byte + 3)
  auto ids = tok->encode("\xE4\xBD\xA0", false);
  REQUIRE(ids.size() >= 3);
  CHECK(ids[ids.size() - 3] == 0xE4 + 3);
  CHECK(ids[ids.size() - 2] == 0xBD + 3);
  CHECK(ids[ids.size() - 1] == 0xA0 + 3);
  // run.c's safe_printf drops single non-printable bytes (>= 0x80 included), keeps whitespace
  CHECK(tok->token_bytes(403, 0xE4 + 3).empty());
  CHECK(tok->token_bytes(403, '\n' + 3) == "\n");
  CHECK(tok->token_bytes(403, 0x07 + 3).empty());
  CHECK(tok->token_bytes(403, 'A' + 3) == "A");
  CHECK(tok->token_bytes(403, 0).size() > 0);  // <unk> is printed as is
}

TEST_CASE("llama2c: bad inputs throw llmc::Error") {
  auto tok = llmc::Tokenizer::load(data_path("llama2c/tok512.bin"));
  CHECK_THROWS_AS(tok->decode({1, 512}), llmc::Error);
  CHECK_THROWS_AS(tok->decode({-1}), llmc::Error);
  llmc::TextStream ts(*tok);
  CHECK_THROWS_AS(ts.push(100000), llmc::Error);
  std::string data = slurp(data_path("llama2c/tok512.bin"));
  for (size_t cut : {size_t(0), size_t(3), size_t(7), size_t(10), data.size() - 1}) {
    CAPTURE(cut);
    CHECK_THROWS_AS(llmc::Llama2cTokenizer(data.substr(0, cut), "truncated"), llmc::Error);
  }
  std::string bad = data;
  int32_t huge = 0x7fffffff;
  std::memcpy(bad.data() + 8, &huge, 4);  // length of token 0
  CHECK_THROWS_AS(llmc::Llama2cTokenizer(bad, "bad-length"), llmc::Error);
  CHECK_THROWS_AS(llmc::Tokenizer::load(data_path("does-not-exist.bin")), llmc::Error);
}
