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
    CHECK(l.tensor(Role::k).name == "model.layers.3.self_attn.k_proj.weight");
    CHECK(l.tensor(Role::k).shape == std::vector<int64_t>{32, 64});
    CHECK(l.tensor(Role::down).shape == std::vector<int64_t>{64, 172});
    CHECK(!l.has(Role::q_bias));
    // 512·64 embedding + 5 × 45440 per layer + 64 final norm (tied classifier).
    CHECK(p.parameter_count == 260032);
    CHECK(p.state_elements() == 5 * 2 * 512 * 32);
    CHECK(p.state_row == 5 * 2 * 32);
    CHECK(l.state_offset == 3 * 2 * 32);
    REQUIRE(p.rope_inv_freq.size() == 4);
    CHECK(p.rope_inv_freq[1] == doctest::Approx(0.1f));
    CHECK(p.attention_scale == doctest::Approx(1.0 / std::sqrt(8.0)));
  }

  TEST_CASE("a KV cache row holds every layer's keys and values, at offsets that follow each layer's kv_dim") {
    const Plan p = make_plan(load_spec(LLMC_SOURCE_DIR "/archs/openelm-270m.yaml"));  // 3-5 KV heads of 64
    REQUIRE(p.layers.size() == 16);
    CHECK(p.layers[0].state_offset == 0);
    CHECK(p.layers[5].state_offset == 5 * 2 * 3 * 64);
    CHECK(p.layers[12].state_offset == 5 * 2 * 3 * 64 + 7 * 2 * 4 * 64);
    CHECK(p.state_row == (5 * 3 + 7 * 4 + 4 * 5) * 2 * 64);
    CHECK(p.state_elements() == p.state_row * 2048);
    CHECK(p.max_kv_dim == 5 * 64);
    CHECK(p.max_head_dim == 64);
  }

  TEST_CASE("the plan lists the buffers of a step and the state of a sequence, from the blocks") {
    const Plan p = make_plan(load_spec(LLMC_SOURCE_DIR "/archs/stories260k.yaml"));  // hidden 64, q 64, kv 32, ffn 172
    std::vector<std::pair<std::string, int64_t>> buffers;
    int64_t row = 0;
    for (const BufferPlan& b : p.buffers) {
      buffers.push_back({b.name, b.row_floats});
      row += b.row_floats;
    }
    const std::vector<std::pair<std::string, int64_t>> expected = {
        {"x_", 64}, {"xn_", 64}, {"qkv_", 128}, {"q_", 64}, {"att_", 64}, {"kv_staging_", 64},
        {"branch_", 64}, {"ffn_out_", 64}, {"h_", 172}, {"gate_up_", 344}};
    CHECK(buffers == expected);
    CHECK(p.activation_floats == p.chunk * row);
    CHECK(p.state_row == 5 * 2 * 32);  // attention: keys and values of every layer per position
    CHECK(p.state_fixed_bytes == 0);
    CHECK(p.thread_scratch == "llmc::attention_scratch_floats(8, 8, kContext)");
  }

  TEST_CASE("roles: every enumerator has a name that reads back, matrices are the projections") {
    for (int i = 0; i <= static_cast<int>(Role::lm_head); ++i) {
      const Role r = static_cast<Role>(i);
      CAPTURE(i);
      REQUIRE(role_from_name(role_name(r)).has_value());
      CHECK(*role_from_name(role_name(r)) == r);
    }
    CHECK(!role_from_name("qkv_proj"));
    CHECK(is_matrix_role(Role::gate_up));
    CHECK(!is_matrix_role(Role::q_norm));
    CHECK(bias_role(Role::q) == Role::q_bias);
    CHECK(!bias_role(Role::q_bias));
  }

  TEST_CASE("missing and superfluous weight roles are errors") {
    Spec spec = load_spec(LLMC_SOURCE_DIR "/archs/stories260k.yaml");
    spec.weights.layer.erase("up");
    CHECK_THROWS_WITH_AS(make_plan(spec), doctest::Contains("weights.layer.up': missing"), Error);
    spec = load_spec(LLMC_SOURCE_DIR "/archs/stories260k.yaml");
    spec.weights.layer["q_bias"] = "x.{i}";
    CHECK_THROWS_WITH_AS(make_plan(spec), doctest::Contains("no use for a 'q_bias'"), Error);
    spec = load_spec(LLMC_SOURCE_DIR "/archs/stories260k.yaml");
    spec.weights.layer["qproj"] = "x.{i}";  // not a role at all
    CHECK_THROWS_WITH_AS(make_plan(spec), doctest::Contains("no use for a 'qproj'"), Error);
  }

  TEST_CASE("fused and transposed layouts") {
    Spec spec = load_spec(LLMC_SOURCE_DIR "/archs/stories260k.yaml");
    spec.attention.qkv = QkvLayout::fused;
    for (const char* r : {"q", "k", "v"}) spec.weights.layer.erase(r);
    spec.weights.layer["qkv"] = "l.{i}.qkv";
    spec.weights.layout = TensorLayout::conv1d;
    const Plan p = make_plan(spec);
    const TensorPlan& qkv = p.layers[0].tensor(Role::qkv);
    CHECK(qkv.shape == std::vector<int64_t>{64, 128});  // stored [in, out]
    CHECK(qkv.transpose);
    CHECK(!p.layers[0].tensor(Role::attn_norm).transpose);
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
    CHECK(src.find("void Model::layer_4(int T, std::span<const Sequence> sequences)") != std::string::npos);
    CHECK(src.find("Command: llmc compile test") != std::string::npos);
    CHECK(src.find("spec hash " + spec_hash(spec)) != std::string::npos);
    // Layer tensors are bound in a loop over a table per role.
    CHECK(src.find("{\"model.layers.4.mlp.down_proj.weight\", {64, 172}, 2},") != std::string::npos);
    CHECK(src.find("{\"model.layers.4.post_attention_layernorm.weight\", {64}, 1},") != std::string::npos);
    CHECK(src.find("w.down = store.get_matrix(layer_tensors::down[i], kMatrixStorage);") != std::string::npos);
    CHECK(src.find("w.ffn_norm = store.get(layer_tensors::ffn_norm[i]);") != std::string::npos);
    CHECK(src.find("model.layers.4.mlp.down_proj.weight") == src.rfind("model.layers.4.mlp.down_proj.weight"));
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
