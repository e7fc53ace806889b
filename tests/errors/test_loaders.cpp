// Unit-level error tests of the checkpoint loaders (WeightStore on bytes in memory and on files):
// every bad input throws llmc::Error with a message naming the file, the tensor and the problem.
// Also replays the fuzz corpora (fuzz/corpus) through the loaders. Built with sanitizers by
// scripts/sanitize.sh.
#include "../common/doctest_main.hpp"

#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <nlohmann/json.hpp>

#include "llmc/tokenizer.hpp"
#include "llmc/weights_loader.hpp"

namespace {

using llmc::WeightStore;
using Tensors = std::vector<std::tuple<std::string, std::string, std::vector<int64_t>>>;  // name, dtype, shape

std::string slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  REQUIRE(in);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

size_t dsize(const std::string& dt) { return dt == "F32" ? 4 : 2; }

// A safetensors file; edit(header) may break the header before it is written.
std::string safetensors(const Tensors& ts, const std::function<void(nlohmann::json&)>& edit = {}) {
  nlohmann::json h = nlohmann::json::object();
  size_t off = 0;
  for (const auto& [name, dt, shape] : ts) {
    size_t n = dsize(dt);
    for (int64_t d : shape) n *= static_cast<size_t>(d);
    h[name] = {{"dtype", dt}, {"shape", shape}, {"data_offsets", {off, off + n}}};
    off += n;
  }
  if (edit) edit(h);
  const std::string header = h.dump();
  std::string out(8, '\0');
  const uint64_t len = header.size();
  std::memcpy(out.data(), &len, 8);
  out += header;
  out.append(off, '\x3c');
  return out;
}

const Tensors kTwo = {{"a", "F32", {2, 3}}, {"b", "BF16", {4}}};

std::string error_of(const std::string& name, const std::string& bytes) {
  try {
    WeightStore s = WeightStore::from_bytes(name, bytes);
    s.finish({"*"});
  } catch (const llmc::Error& e) {
    return e.what();
  }
  return "";
}

void expect_error(const std::string& name, const std::string& bytes, std::initializer_list<const char*> needles) {
  const std::string msg = error_of(name, bytes);
  CAPTURE(msg);
  REQUIRE(!msg.empty());
  CHECK(msg.find(name) != std::string::npos);
  for (const char* n : needles) CHECK_MESSAGE(msg.find(n) != std::string::npos, "missing '" << n << "'");
}

std::string llama2c(std::vector<int32_t> h, size_t floats) {
  std::string out(28, '\0');
  std::memcpy(out.data(), h.data(), 28);
  out.append(floats * 4, '\0');
  return out;
}
// dim 8, hidden 12, 1 layer, 2 heads, 1 kv head, vocab 5 (shared), seq 4
size_t tiny_floats() { return 5 * 8 + (8 + 64 + 2 * 4 * 8 + 64 + 8 + 3 * 12 * 8) + 8 + 2 * 4 * 2; }
const std::vector<int32_t> kTinyHeader = {8, 12, 1, 2, 1, 5, 4};

}  // namespace

TEST_CASE("safetensors: a good file loads; tensors read back as fp32 and transposed") {
  WeightStore s = WeightStore::from_bytes("ok.safetensors", safetensors(kTwo));
  CHECK(s.tensor_count() == 2);
  const float* a = s.get("a", {2, 3}, true);
  CHECK(a[0] == doctest::Approx(*reinterpret_cast<const float*>("\x3c\x3c\x3c\x3c")));
  CHECK_THROWS_WITH_AS(s.finish({}), doctest::Contains("b [4]"), llmc::Error);
  s.get("b", {4});
  s.finish({});
}

TEST_CASE("safetensors: truncated files and lying headers") {
  const std::string good = safetensors(kTwo);
  for (size_t cut : {size_t{0}, size_t{7}, size_t{8}, size_t{20}, good.size() - 1}) {
    CAPTURE(cut);
    expect_error("cut.safetensors", good.substr(0, cut), {});
  }
  std::string longer = good;
  const uint64_t claim = good.size();
  std::memcpy(longer.data(), &claim, 8);
  expect_error("long.safetensors", longer, {"header claims"});
  const uint64_t huge = uint64_t{1} << 62;
  std::memcpy(longer.data(), &huge, 8);
  expect_error("huge.safetensors", longer, {"header claims"});
  expect_error("json.safetensors", std::string("\x02\0\0\0\0\0\0\0{x", 10), {"not valid JSON"});
  expect_error("array.safetensors", std::string("\x02\0\0\0\0\0\0\0[]", 10), {"not a JSON object"});
}

TEST_CASE("safetensors: bad offsets, dtypes, shapes and entries") {
  using J = nlohmann::json;
  expect_error("overlap.safetensors", safetensors(kTwo, [](J& h) { h["b"]["data_offsets"] = {16, 24}; }),
               {"overlap"});
  expect_error("range.safetensors", safetensors(kTwo, [](J& h) { h["b"]["data_offsets"] = {24, 1 << 20}; }),
               {"'b'", "outside"});
  expect_error("reversed.safetensors", safetensors(kTwo, [](J& h) { h["b"]["data_offsets"] = {32, 24}; }), {"'b'"});
  expect_error("neg.safetensors", safetensors(kTwo, [](J& h) { h["b"]["data_offsets"] = {-8, 0}; }),
               {"'b'", "data_offsets"});
  expect_error("float.safetensors", safetensors(kTwo, [](J& h) { h["b"]["data_offsets"] = {24.0, 32.5}; }),
               {"'b'", "data_offsets"});
  expect_error("size.safetensors", safetensors(kTwo, [](J& h) { h["a"]["shape"] = {2, 2}; }), {"'a'", "needs"});
  expect_error("dtype.safetensors", safetensors(kTwo, [](J& h) { h["a"]["dtype"] = "I32"; }), {"'a'", "I32"});
  expect_error("dtype2.safetensors", safetensors(kTwo, [](J& h) { h["a"]["dtype"] = nullptr; }), {"'a'", "dtype"});
  expect_error("shape.safetensors", safetensors(kTwo, [](J& h) { h["a"]["shape"] = {2, -3}; }), {"'a'", "shape"});
  expect_error("shape2.safetensors", safetensors(kTwo, [](J& h) { h["a"]["shape"] = "2x3"; }), {"'a'", "shape"});
  expect_error("shape3.safetensors",
               safetensors(kTwo, [](J& h) { h["a"]["shape"] = {uint64_t{1} << 40, uint64_t{1} << 40}; }),
               {"'a'", "too large"});
  expect_error("shape4.safetensors",
               safetensors(kTwo, [](J& h) { h["a"]["shape"] = {0, uint64_t{1} << 63}; }), {"'a'", "too large"});
  expect_error("entry.safetensors", safetensors(kTwo, [](J& h) { h["a"] = {{"dtype", "F32"}}; }),
               {"'a'", "data_offsets"});
  expect_error("entry2.safetensors", safetensors(kTwo, [](J& h) { h["a"] = 5; }), {"'a'"});
}

TEST_CASE("safetensors: wrong shape, missing and extra tensors are named") {
  WeightStore s = WeightStore::from_bytes("m.safetensors", safetensors(kTwo));
  CHECK_THROWS_WITH_AS(s.get("a", {3, 2}), "m.safetensors: tensor 'a' has shape [2, 3], expected [3, 2]", llmc::Error);
  CHECK_THROWS_WITH_AS(s.get("c", {1}), doctest::Contains("tensor 'c' is missing"), llmc::Error);
  CHECK_THROWS_WITH_AS(s.get("b", {4}, true), doctest::Contains("2-D"), llmc::Error);
  s.get("a", {2, 3});
  CHECK_THROWS_WITH_AS(s.finish({}), doctest::Contains("b [4]"), llmc::Error);
  CHECK_NOTHROW(s.finish({"b"}));
}

TEST_CASE("llama2.c: good, truncated, extra bytes and bad header fields") {
  const std::string good = llama2c(kTinyHeader, tiny_floats());
  WeightStore s = WeightStore::from_bytes("tiny.bin", good);
  CHECK(s.has("model.layers.0.mlp.down_proj.weight"));
  CHECK(s.get("model.layers.0.mlp.down_proj.weight", {8, 12}) != nullptr);
  for (size_t cut : {size_t{0}, size_t{27}, size_t{28}, size_t{100}, good.size() - 4})
    expect_error("cut.bin", good.substr(0, cut), {"truncated"});
  expect_error("extra.bin", good + std::string(4, '\0'), {"beyond"});
  struct Bad {
    int field, value;
    const char* needle;
  };
  for (const Bad& b : {Bad{0, 0, "dim"}, Bad{0, -8, "dim"}, Bad{1, 0, "hidden_dim"}, Bad{2, 5000, "n_layers"},
                       Bad{3, 3, "n_heads"}, Bad{4, 0, "n_kv_heads"}, Bad{4, 3, "n_kv_heads"},
                       Bad{5, 0, "vocab_size"}, Bad{5, INT32_MIN, "vocab_size"}, Bad{6, 0, "seq_len"}}) {
    std::vector<int32_t> h = kTinyHeader;
    h[b.field] = b.value;
    CAPTURE(b.field);
    CAPTURE(b.value);
    expect_error("hdr.bin", llama2c(h, tiny_floats()), {b.needle});
  }
  std::vector<int32_t> h = kTinyHeader;
  h[0] = 0x616b3432;  // "ak42": a newer llama2.c export
  expect_error("v1.bin", llama2c(h, 10), {"version"});
  // the largest sizes the header may claim are refused by the file size, not allocated
  expect_error("big.bin", llama2c({65536, 262144, 1024, 1, 1, 1 << 22, 1 << 22}, 0), {"truncated"});
}

TEST_CASE("files: missing, folders, index.json") {
  namespace fs = std::filesystem;
  const fs::path dir = fs::temp_directory_path() / ("llmc_errors_unit_" + std::to_string(::getpid()));
  fs::remove_all(dir);
  fs::create_directories(dir / "empty");
  auto put = [&](const std::string& name, const std::string& data) {
    std::ofstream(dir / name, std::ios::binary) << data;
    return (dir / name).string();
  };
  auto open_error = [&](const std::string& path) -> std::string {
    try {
      WeightStore::open(path);
    } catch (const llmc::Error& e) {
      return e.what();
    }
    return "";
  };
  CHECK(open_error((dir / "nope.safetensors").string()).find("cannot open") != std::string::npos);
  CHECK(open_error((dir / "empty").string()).find("neither") != std::string::npos);
  CHECK(open_error(dir.string() + "/empty/").find("neither") != std::string::npos);
  put("a.safetensors", safetensors({{"x", "F32", {2}}}));
  put("b.safetensors", safetensors({{"y", "F16", {2}}}));
  const std::string idx = put("model.safetensors.index.json",
                              R"({"weight_map": {"x": "a.safetensors", "y": "b.safetensors"}})");
  CHECK(WeightStore::open(dir.string()).tensor_count() == 2);
  put("model.safetensors.index.json", R"({"weight_map": {"x": "b.safetensors", "y": "b.safetensors"}})");
  CHECK(open_error(idx).find("'x' is in b.safetensors") != std::string::npos);
  put("model.safetensors.index.json", R"({"weight_map": {"x": "../a.safetensors"}})");
  CHECK(open_error(idx).find("plain file name") != std::string::npos);
  put("model.safetensors.index.json", R"({"weight_map": {"x": "c.safetensors"}})");
  CHECK(open_error(idx).find("c.safetensors") != std::string::npos);
  put("model.safetensors.index.json", R"({"weight_map": {"x": 5}})");
  CHECK(open_error(idx).find("'x'") != std::string::npos);
  put("model.safetensors.index.json", R"({"weight_map": {"x": ""}})");
  CHECK(!open_error(idx).empty());
  put("model.safetensors.index.json", R"([1, 2)");
  CHECK(open_error(idx).find("JSON") != std::string::npos);
  put("model.safetensors.index.json", R"({"weight_map": {"x": "a.safetensors", "z": "a.safetensors"}})");
  CHECK(open_error(idx).find("'z'") != std::string::npos);
  fs::remove_all(dir);
}

TEST_CASE("fuzz corpora replay: loaders end in a result or an llmc::Error") {
  namespace fs = std::filesystem;
  size_t n = 0;
  for (const char* target : {"safetensors", "llama2c", "gguf"}) {
    const fs::path dir = fs::path(LLMC_FUZZ_CORPUS) / target;
    const size_t before = n;
    // A missing corpus folder is a failure (directory_iterator throws), not a silent skip.
    for (const auto& e : fs::directory_iterator(dir)) {
      const std::string name = std::string(target) == "safetensors" ? "f.safetensors" : "f.bin";  // GGUF: by magic
      try {
        WeightStore s = WeightStore::from_bytes(name, slurp(e.path().string()));
        for (const auto& [tn, t] : s.tensors()) s.get(tn, t.shape);
      } catch (const llmc::Error&) {
      }
      ++n;
    }
    INFO("corpus " << dir.string());
    CHECK(n > before);
  }
  for (const auto& e : fs::directory_iterator(fs::path(LLMC_FUZZ_CORPUS) / "tokenizer_load")) {
    try {
      auto tok = llmc::Tokenizer::load(e.path().string());
      for (int id : tok->encode("Hello world 12 ab", true)) CHECK((id >= 0 && id < tok->vocab_size()));
    } catch (const llmc::Error&) {
    }
    ++n;
  }
  MESSAGE("replayed " << n << " corpus files");
  CHECK(n > 0);
}

TEST_CASE("tokenizers: a table is never sized by an id the file merely claims") {
  namespace fs = std::filesystem;
  const fs::path dir = fs::temp_directory_path() / ("llmc_errors_tok_" + std::to_string(::getpid()));
  fs::create_directories(dir);
  std::ofstream(dir / "tokenizer.json")
      << R"({"model": {"type": "BPE", "vocab": {"a": 16000000, "b": 0}, "merges": []}, "pre_tokenizer": {"type": "ByteLevel"}})";
  CHECK_THROWS_WITH_AS(llmc::Tokenizer::load((dir / "tokenizer.json").string()),
                       doctest::Contains("vocabulary id 16000000 for only 2 tokens"), llmc::Error);
  std::ofstream(dir / "encoder.json") << R"({"a": 0, "b": 16000000})";
  std::ofstream(dir / "vocab.bpe") << "#version: 0.2\na b\n";
  CHECK_THROWS_WITH_AS(llmc::Tokenizer::load((dir / "encoder.json").string()), doctest::Contains("16000000"),
                       llmc::Error);
  fs::remove_all(dir);
}
