#include <doctest/doctest.h>

#include <chrono>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <string>

#include <unistd.h>

#include "emit.hpp"
#include "llmc/error.hpp"
#include "plan.hpp"
#include "verify.hpp"

using namespace llmc;

TEST_SUITE("plan") {
  TEST_CASE("stories260k resolves to concrete shapes and names") {
    const Spec spec = load_spec(LLMC_SOURCE_DIR "/archs/stories260k.yaml");
    const Plan p = make_plan(spec);
    REQUIRE(p.layers.size() == 5);
    const LayerPlan& l = p.layers[3];
    CHECK(l.heads == 8);
    CHECK(l.kv_heads == 4);
    CHECK(l.q_dim == 64);
    CHECK(l.kv_dim == 32);
    CHECK(l.ffn == 172);
    CHECK(l.tensor("k").name == "model.layers.3.self_attn.k_proj.weight");
    CHECK(l.tensor("k").shape == std::vector<int64_t>{32, 64});
    CHECK(l.tensor("down").shape == std::vector<int64_t>{64, 172});
    CHECK(!l.has("q_bias"));
    // 512·64 embedding + 5 × 45440 per layer + 64 final norm (tied classifier).
    CHECK(p.parameter_count == 260032);
    CHECK(p.kv_cache_floats == 5 * 2 * 512 * 32);
    CHECK(p.kv_row == 5 * 2 * 32);
    CHECK(l.kv_offset == 3 * 2 * 32);
    REQUIRE(p.rope_inv_freq.size() == 4);
    CHECK(p.rope_inv_freq[1] == doctest::Approx(0.1f));
    CHECK(p.attention_scale == doctest::Approx(1.0 / std::sqrt(8.0)));
  }

  TEST_CASE("a KV cache row holds every layer's keys and values, at offsets that follow each layer's kv_dim") {
    const Plan p = make_plan(load_spec(LLMC_SOURCE_DIR "/archs/openelm-270m.yaml"));  // 3-5 KV heads of 64
    REQUIRE(p.layers.size() == 16);
    CHECK(p.layers[0].kv_offset == 0);
    CHECK(p.layers[5].kv_offset == 5 * 2 * 3 * 64);
    CHECK(p.layers[12].kv_offset == 5 * 2 * 3 * 64 + 7 * 2 * 4 * 64);
    CHECK(p.kv_row == (5 * 3 + 7 * 4 + 4 * 5) * 2 * 64);
    CHECK(p.kv_cache_floats == p.kv_row * 2048);
    CHECK(p.max_kv_dim == 5 * 64);
    CHECK(p.max_head_dim == 64);
  }

  TEST_CASE("missing and superfluous weight roles are errors") {
    Spec spec = load_spec(LLMC_SOURCE_DIR "/archs/stories260k.yaml");
    spec.weights.layer.erase("up");
    CHECK_THROWS_WITH_AS(make_plan(spec), doctest::Contains("weights.layer.up': missing"), Error);
    spec = load_spec(LLMC_SOURCE_DIR "/archs/stories260k.yaml");
    spec.weights.layer["q_bias"] = "x.{i}";
    CHECK_THROWS_WITH_AS(make_plan(spec), doctest::Contains("no use for a 'q_bias'"), Error);
  }

  TEST_CASE("fused and transposed layouts") {
    Spec spec = load_spec(LLMC_SOURCE_DIR "/archs/stories260k.yaml");
    spec.attention.qkv = QkvLayout::fused;
    for (const char* r : {"q", "k", "v"}) spec.weights.layer.erase(r);
    spec.weights.layer["qkv"] = "l.{i}.qkv";
    spec.weights.layout = TensorLayout::in_out;
    const Plan p = make_plan(spec);
    const TensorPlan& qkv = p.layers[0].tensor("qkv");
    CHECK(qkv.shape == std::vector<int64_t>{64, 128});  // stored [in, out]
    CHECK(qkv.transpose);
    CHECK(!p.layers[0].tensor("attn_norm").transpose);
  }

  TEST_CASE("llama3 rope scaling divides low frequencies by the factor and keeps high ones") {
    Spec spec = load_spec(LLMC_SOURCE_DIR "/archs/stories260k.yaml");
    spec.rope.scaling = {"llama3", 8.0, 1.0, 4.0, 64, {}, {}};
    const Plan p = make_plan(spec);
    Spec plain = load_spec(LLMC_SOURCE_DIR "/archs/stories260k.yaml");
    const Plan q = make_plan(plain);
    CHECK(p.rope_inv_freq[0] == q.rope_inv_freq[0]);                     // wavelength 2π < 16: kept
    CHECK(p.rope_inv_freq[3] == doctest::Approx(q.rope_inv_freq[3] / 8));  // wavelength 6283 > 64: scaled
  }
}

TEST_SUITE("emit") {
  TEST_CASE("generated source: constants, one function per layer, no weight literals") {
    const Spec spec = load_spec(LLMC_SOURCE_DIR "/archs/stories260k.yaml");
    const std::string src = emit_model(make_plan(spec), {"llmc compile test"});
    CHECK(src.find("constexpr int kHidden = 64;") != std::string::npos);
    CHECK(src.find("void Model::layer_4(int T, int pos)") != std::string::npos);
    CHECK(src.find("Command: llmc compile test") != std::string::npos);
    CHECK(src.find("spec hash " + spec_hash(spec)) != std::string::npos);
    CHECK(src.find("store.get_matrix(\"model.layers.4.mlp.down_proj.weight\", {64, 172}, kMatrixStorage)") !=
          std::string::npos);
    CHECK(src.find("store.get(\"model.layers.4.post_attention_layernorm.weight\", {64})") != std::string::npos);
    CHECK(src.find("kMatrixStorage = llmc::MatrixStorage::as_stored") != std::string::npos);
    CHECK(src.size() < 40000);  // sizes, names and code only: weights are never emitted
  }

  TEST_CASE("--dtype is recorded in the source, an unknown one is an error") {
    const Spec spec = load_spec(LLMC_SOURCE_DIR "/archs/stories260k.yaml");
    CHECK(emit_model(make_plan(spec), {"t", "q4_0"}).find("llmc::MatrixStorage::q4_0") != std::string::npos);
    CHECK_THROWS_WITH_AS(emit_model(make_plan(spec), {"t", "q3_k"}), doctest::Contains("'q3_k' is not one of"), Error);
  }

  TEST_CASE("templates reject unknown keys") {
    CHECK_THROWS_AS(render_template("a {{nope}} b", {}), Error);
    CHECK(render_template("a {{x}} b", {{"x", "1"}}) == "a 1 b");
  }
}

TEST_SUITE("verify") {
  TEST_CASE("generated source passes Clang, broken source is reported with its line") {
    const Spec spec = load_spec(LLMC_SOURCE_DIR "/archs/stories260k.yaml");
    const std::string src = emit_model(make_plan(spec), {"test"});
    CHECK_NOTHROW(verify_source(src, {LLMC_SOURCE_DIR "/runtime"}));
    const std::string broken = "int main() {\n  int x = ;\n}\n";
    CHECK_THROWS_WITH_AS(verify_source(broken, {LLMC_SOURCE_DIR "/runtime"}),
                         doctest::Contains("generated line 2:   int x = ;"), Error);
  }

  TEST_CASE("a precompiled prelude made stale by a header's new date is dropped and built anew") {
    namespace fs = std::filesystem;
    // Per process: another run of this test (a second ctest, another checkout on the machine) must not share it.
    const fs::path dir = fs::temp_directory_path() / ("llmc_unit_stale_pch_" + std::to_string(::getpid()));
    const fs::path runtime = dir / "runtime", cache = dir / "cache";
    fs::remove_all(dir);
    fs::create_directories(dir);
    fs::copy(LLMC_SOURCE_DIR "/runtime", runtime, fs::copy_options::recursive);
    const char* old_cache = std::getenv("LLMC_CACHE_DIR");
    const std::string saved = old_cache ? old_cache : "";
    ::setenv("LLMC_CACHE_DIR", cache.c_str(), 1);
    auto pch_count = [&] {
      int n = 0;
      for (const auto& e : fs::directory_iterator(cache)) n += e.path().extension() == ".pch";
      return n;
    };
    const std::string src = emit_model(make_plan(load_spec(LLMC_SOURCE_DIR "/archs/stories260k.yaml")), {"test"});
    CHECK_NOTHROW(verify_source(src, {runtime.string()}));
    CHECK(pch_count() == 1);
    const fs::path header = runtime / "llmc" / "kernels.hpp";
    fs::last_write_time(header, fs::last_write_time(header) + std::chrono::seconds(10));  // same contents
    CHECK_NOTHROW(verify_source(src, {runtime.string()}));
    CHECK(pch_count() == 0);
    CHECK_NOTHROW(verify_source(src, {runtime.string()}));
    CHECK(pch_count() == 1);
    if (old_cache) ::setenv("LLMC_CACHE_DIR", saved.c_str(), 1);
    else ::unsetenv("LLMC_CACHE_DIR");
    fs::remove_all(dir);
  }
}
