// SentencePiece-style tokenizer.json (Llama 2, Mistral, TinyLlama: Prepend/Replace normalizers or a
// Metaspace pre-tokenizer, BPE with byte fallback): every layout in hf/spm-json/variants.json must encode
// and decode as the Hugging Face tokenizers library does (NAME.expected.json, written by
// tests/tokenizer/spm_json/make_vectors.js), on the llama-spm test strings and a few with special tokens.
#include <doctest/doctest.h>

#include <nlohmann/json.hpp>

#include "llmc/tokenizer.hpp"
#include "test_util.hpp"

using namespace tok_test;
using nlohmann::json;

namespace {

json variant(const std::string& name) {
  const json all = json::parse(slurp(data_path("hf/spm-json/variants.json")));
  for (const auto& v : all["variants"])
    if (v["name"] == name) return v;
  throw std::runtime_error("no variant " + name);
}

// The variant's tokenizer.json, loaded from memory (the path an embedded binary takes).
std::unique_ptr<llmc::Tokenizer> load_variant(const json& v) {
  json j = json::parse(slurp(data_path("hf/" + v["base"].get<std::string>())));
  for (const auto& [key, value] : v["replace"].items()) j[key] = value;
  return llmc::Tokenizer::load(llmc::Tokenizer::Files{"tokenizer.json", {{"tokenizer.json", j.dump()}}});
}

void check_variant(const std::string& name) {
  const json v = variant(name);
  const json expected = json::parse(slurp(data_path("hf/spm-json/" + name + ".expected.json")));
  auto tok = load_variant(v);
  CHECK(tok->kind() == "bpe");
  const auto& inputs = expected["inputs"];
  REQUIRE(inputs.size() == 46 + 12);
  int enc = 0, enc_bos = 0, dec = 0, dec_cases = 0;
  for (size_t i = 0; i < inputs.size(); ++i) {
    const std::string text = inputs[i].get<std::string>();
    CAPTURE(i);
    CAPTURE(text);
    const auto want = expected["ids"][i].get<std::vector<int>>();
    const auto ids = tok->encode(text, false);
    CHECK(show(ids) == show(want));
    enc += ids == want;
    const auto want_bos = expected["ids_bos"][i].get<std::vector<int>>();
    const auto ids_bos = tok->encode(text, true);
    CHECK(show(ids_bos) == show(want_bos));
    enc_bos += ids_bos == want_bos;
    // HF decodes with the special tokens skipped, so the text after one is "at the start" there; llmc
    // streams text after BOS only as the start. Compared where the two agree: no special tokens in the ids.
    if (std::find_if(want.begin(), want.end(), [](int id) { return id <= 2; }) != want.end()) continue;
    ++dec_cases;
    const std::string back = tok->decode(want);
    CHECK(back == expected["decoded"][i].get<std::string>());
    dec += back == expected["decoded"][i].get<std::string>();
  }
  MESSAGE(name << ": encode " << enc << "/" << inputs.size() << ", with BOS " << enc_bos << "/" << inputs.size()
               << ", decode " << dec << "/" << dec_cases);
}

}  // namespace

TEST_CASE("spm-json: llama2 legacy (Prepend + Replace) passes the llama-spm vectors") { check_variant("llama2-legacy"); }
TEST_CASE("spm-json: mistral legacy (the real Mistral-7B file)") { check_variant("mistral-legacy"); }
TEST_CASE("spm-json: Metaspace prepend_scheme first, no split") { check_variant("llama2-metaspace-first"); }
TEST_CASE("spm-json: Metaspace always, split (old add_prefix_space form)") { check_variant("llama2-metaspace-always-split"); }
TEST_CASE("spm-json: Metaspace never") { check_variant("llama2-metaspace-never"); }
TEST_CASE("spm-json: Replace normalizer only (no dummy prefix)") { check_variant("llama2-replace-only"); }

TEST_CASE("spm-json: the llama2 file, from its folder, equals tokenizer.model on the llama-spm vectors") {
  auto from_json = llmc::Tokenizer::load(data_path("hf/llama2-spm"));  // a folder: its tokenizer.json
  auto from_model = llmc::Tokenizer::load(data_path("llama2c/tokenizer.model"));
  CHECK(from_json->bos_id() == 1);
  CHECK(from_json->eos_id() == 2);
  CHECK(from_json->add_bos_default());
  const json expected = json::parse(slurp(data_path("hf/spm-json/llama2-legacy.expected.json")));
  for (size_t i = 0; i < 46; ++i) {
    const std::string text = expected["inputs"][i].get<std::string>();
    CAPTURE(text);
    CHECK(show(from_json->encode(text, true)) == show(from_model->encode(text, true)));
  }
  // the streamed text of a prompt after BOS has no dummy-prefix space, as with tokenizer.model
  const auto ids = from_json->encode("Hello world", true);
  CHECK(from_json->decode(ids) == "Hello world");
}

TEST_CASE("spm-json: a folder picks tokenizer.json, then tokenizer.model") {
  CHECK(llmc::Tokenizer::resolve(data_path("hf/mistral")) == data_path("hf/mistral") + "/tokenizer.json");
  CHECK(llmc::Tokenizer::resolve(data_path("llama2c")) == data_path("llama2c") + "/tokenizer.model");
  CHECK_THROWS_WITH(llmc::Tokenizer::resolve(data_path("gguf")),
                    doctest::Contains("has neither tokenizer.json nor tokenizer.model"));
  // the Mistral folder's tokenizer_config.json is read: it is among the files an embedded binary carries
  const auto files = llmc::Tokenizer::collect_files(data_path("hf/mistral"));
  CHECK(files.main == "tokenizer.json");
  CHECK(files.files.size() == 2);
  CHECK(files.files.count("tokenizer_config.json") == 1);
  auto tok = llmc::Tokenizer::load(files);
  CHECK(tok->bos_id() == 1);
  CHECK(show(tok->encode("Hello world", true)) == "1 22557 1526");
}
