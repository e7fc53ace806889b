// SentencePiece Unigram against the sentencepiece library: tests/data/tokenizers/unigram/<model>.json holds
// strings, the ids sentencepiece encodes them to and its decode of those ids (made by
// tests/tokenizer/gen_unigram_vectors.py, which also trained the two .model files).
#include <doctest/doctest.h>

#include <nlohmann/json.hpp>

#include "llmc/tokenizer.hpp"
#include "test_util.hpp"

using namespace tok_test;

namespace {

struct Counts {
  int cases = 0, encoded = 0, decoded = 0, streamed = 0;
  int normalised = 0;    // cases whose text the normaliser changes other than in whitespace
  int byte_tokens = 0;   // <0xXX> tokens in the expected ids
  int unk_tokens = 0;    // <unk> tokens in the expected ids
  int user_defined = 0;  // user-defined pieces in the expected ids
};

std::string strip_spaces(const std::string& s) {
  std::string r;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == ' ' || s[i] == '\t' || s[i] == '\n' || s[i] == '\r') continue;
    if (s.compare(i, 3, "\xE2\x96\x81") == 0) {
      i += 2;
      continue;
    }
    r += s[i];
  }
  return r;
}

// skip_control_text: a tokenizer.json matches "<s>" / "</s>" in the text as tokens (HF does), SentencePiece
// does not; those strings are left out there (checked separately).
Counts run_cases(const llmc::Tokenizer& tok, const nlohmann::json& cases, bool skip_control_text) {
  Counts c;
  const auto* unigram = dynamic_cast<const llmc::UnigramTokenizer*>(&tok);
  for (const auto& k : cases) {
    const std::string text = k.at("text").get<std::string>();
    if (skip_control_text && (text.find("<s>") != std::string::npos || text.find("</s>") != std::string::npos)) continue;
    const auto expect = k.at("ids").get<std::vector<int>>();
    const std::string decoded = k.at("decoded").get<std::string>();
    CAPTURE(nlohmann::json(text).dump());
    ++c.cases;
    auto ids = tok.encode(text, false);
    CHECK(show(ids) == show(expect));
    c.encoded += ids == expect;
    std::string back = tok.decode(expect);
    CHECK(back == decoded);
    c.decoded += back == decoded;
    llmc::TextStream ts(tok);
    std::string streamed;
    for (int id : expect) streamed += ts.push(id);
    streamed += ts.flush();
    CHECK(streamed == back);
    c.streamed += streamed == back;
    if (unigram && strip_spaces(unigram->normalize(text)) != strip_spaces(text)) ++c.normalised;
    for (int id : expect) {
      std::string p = tok.piece(id);
      c.byte_tokens += llmc::tok_detail::parse_byte_piece(p) >= 0;
      c.unk_tokens += p == "<unk>";
      c.user_defined += p == "<sep>";
    }
  }
  return c;
}

Counts run_model(const std::string& name, const std::string& tokenizer_file) {
  auto tok = llmc::Tokenizer::load(data_path("unigram/" + tokenizer_file));
  CHECK(tok->kind() == "unigram");
  auto j = nlohmann::json::parse(slurp(data_path("unigram/" + name + ".json")));
  const bool is_json = tokenizer_file.find(".json") != std::string::npos;
  Counts c = run_cases(*tok, j.at("cases"), is_json);
  MESSAGE(tokenizer_file << ": encode " << c.encoded << "/" << c.cases << ", decode " << c.decoded << "/" << c.cases
                         << ", stream " << c.streamed << "/" << c.cases << "; " << c.normalised
                         << " cases changed by the normaliser, " << c.byte_tokens << " byte tokens, " << c.unk_tokens
                         << " <unk>, " << c.user_defined << " user-defined");
  CHECK(c.cases >= 520);
  return c;
}

}  // namespace

TEST_CASE("unigram: nmt_nfkc, byte fallback, user-defined symbol (spiece .model)") {
  Counts c = run_model("nfkc", "nfkc.model");
  // the strings must exercise what they claim to
  CHECK(c.normalised >= 100);
  CHECK(c.byte_tokens >= 100);
  CHECK(c.user_defined >= 5);
}

TEST_CASE("unigram: identity normaliser, no dummy prefix, <unk> (spiece .model)") {
  Counts c = run_model("plain", "plain.model");
  CHECK(c.normalised == 0);
  CHECK(c.unk_tokens >= 100);
}

// The same models as llama.cpp (GGUF "t5") and HF's converter (tokenizer.json "Unigram") store them.
TEST_CASE("unigram: nmt_nfkc model as GGUF t5") { run_model("nfkc", "nfkc.gguf"); }
TEST_CASE("unigram: plain model as GGUF t5") { run_model("plain", "plain.gguf"); }
TEST_CASE("unigram: nmt_nfkc model as tokenizer.json") {
  run_model("nfkc", "nfkc.tokenizer.json");
  auto tok = llmc::Tokenizer::load(data_path("unigram/nfkc.tokenizer.json"));
  CHECK(tok->eos_id() == 2);
  CHECK(show(tok->encode("</s>", false)) == "2");
}
TEST_CASE("unigram: plain model as tokenizer.json") { run_model("plain", "plain.tokenizer.json"); }

TEST_CASE("unigram: details") {
  auto tok = llmc::Tokenizer::load(data_path("unigram/nfkc.model"));
  const auto& u = dynamic_cast<const llmc::UnigramTokenizer&>(*tok);
  // NFKC from the model's charsmap, whitespace collapsed, dummy prefix, spaces escaped
  CHECK(u.normalize("  ＡＢＣ  ﬁ ① \t x  ") == "\xE2\x96\x81" "ABC\xE2\x96\x81" "fi\xE2\x96\x81" "1\xE2\x96\x81x");
  CHECK(u.normalize("   ").empty());
  CHECK(tok->encode("", false).empty());
  // BOS only when asked; control pieces in the text are text (as SentencePiece)
  CHECK(tok->bos_id() == 1);
  CHECK(tok->eos_id() == 2);
  auto ids = tok->encode("x", true);
  REQUIRE(!ids.empty());
  CHECK(ids[0] == 1);
  CHECK(tok->decode(ids) == "x");
  CHECK(tok->encode("</s>", false) != std::vector<int>{2});
  // invalid UTF-8 is normalised to U+FFFD, which is not in the vocabulary: its bytes
  auto bad = tok->encode("a\xFF" "b", false);
  CHECK(tok->decode(bad) == "a\xEF\xBF\xBD" "b");
}
