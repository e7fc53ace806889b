#include <doctest/doctest.h>

#include <cmath>
#include <fstream>
#include <string>

#include "import.hpp"
#include "llmc/error.hpp"
#include "plan.hpp"
#include "spec.hpp"

using namespace llmc;

namespace {

const std::string kValid = R"(llmc: 1
name: tiny
family: llama
model: {vocab_size: 32, hidden_size: 16, num_layers: 2, max_context: 64, tied_embeddings: false}
norm: {kind: rmsnorm, eps: 1.0e-5}
attention: {heads: 4, kv_heads: 2, head_dim: 4}
positions: {kind: rope, theta: 10000.0, pairing: half, rotary_dim: 4}
mlp: {kind: gated, activation: silu, intermediate_size: 24}
tokens: {bos: 1, eos: 2, add_bos: true}
weights:
  embed: e
  final_norm: n
  lm_head: h
  layer: {attn_norm: "l.{i}.an", q: "l.{i}.q", k: "l.{i}.k", v: "l.{i}.v", o: "l.{i}.o", ffn_norm: "l.{i}.fn",
          gate: "l.{i}.g", up: "l.{i}.u", down: "l.{i}.d"}
)";

// The error message of parsing text, or "" when it parses.
std::string error_of(const std::string& text) {
  try {
    parse_spec(text, "t.yaml");
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

std::string replace(std::string text, const std::string& from, const std::string& to) {
  const size_t at = text.find(from);
  REQUIRE(at != std::string::npos);
  return text.replace(at, from.size(), to);
}

}  // namespace

TEST_SUITE("spec") {
  TEST_CASE("a valid spec parses with every field") {
    const Spec s = parse_spec(kValid, "t.yaml");
    CHECK(s.vocab_size == 32);
    CHECK(s.attention.heads == std::vector<int64_t>{4, 4});
    CHECK(s.attention.kv_heads == std::vector<int64_t>{2, 2});
    CHECK(s.rope.pairing == RopePairing::half);
    CHECK(s.mlp.intermediate == std::vector<int64_t>{24, 24});
    CHECK(s.weights.layer.at("q") == "l.{i}.q");
    CHECK(s.norm.eps == doctest::Approx(1e-5));
  }

  TEST_CASE("malformed YAML names file and line") {
    const std::string e = error_of("llmc: 1\nname: [unclosed\n");
    CHECK(e.find("t.yaml:") == 0);
    CHECK(e.find("malformed YAML") != std::string::npos);
  }

  TEST_CASE("unknown keys are errors listing the allowed ones") {
    const std::string e = error_of(replace(kValid, "head_dim: 4", "head_dim: 4, heds: 3"));
    CHECK(e.find("t.yaml:6") != std::string::npos);
    CHECK(e.find("attention.heds") != std::string::npos);
    CHECK(e.find("kv_heads") != std::string::npos);  // the list of allowed keys
  }

  TEST_CASE("missing required fields are named") {
    CHECK(error_of(replace(kValid, "eps: 1.0e-5", "weight: plain")).find("'norm.eps': missing") != std::string::npos);
    CHECK(error_of(replace(kValid, "name: tiny\n", "")).find("'name': missing") != std::string::npos);
    CHECK(error_of(replace(kValid, "  lm_head: h\n", "")).find("'weights.lm_head': missing") != std::string::npos);
  }

  TEST_CASE("inconsistent sizes") {
    CHECK(error_of(replace(kValid, "kv_heads: 2", "kv_heads: 3")).find("do not divide") != std::string::npos);
    CHECK(error_of(replace(kValid, "rotary_dim: 4", "rotary_dim: 6")).find("head_dim") != std::string::npos);
    CHECK(error_of(replace(kValid, "heads: 4,", "heads: [4, 4, 4],")).find("expected 2 values") != std::string::npos);
    CHECK(error_of(replace(kValid, "hidden_size: 16", "hidden_size: -16")).find("positive") != std::string::npos);
    CHECK(error_of(replace(kValid, "bos: 1", "bos: 99")).find("vocab_size") != std::string::npos);
  }

  TEST_CASE("unknown feature values list the known ones") {
    const std::string e = error_of(replace(kValid, "pairing: half", "pairing: spiral"));
    CHECK(e.find("'spiral' is not one of: half, interleaved") != std::string::npos);
    CHECK(error_of(replace(kValid, "activation: silu", "activation: swishy")).find("silu") != std::string::npos);
    CHECK(error_of(replace(kValid, "llmc: 1", "llmc: 7")).find("schema version 1") != std::string::npos);
  }

  TEST_CASE("wrong types are reported with the value found") {
    const std::string e = error_of(replace(kValid, "num_layers: 2", "num_layers: two"));
    CHECK(e.find("model.num_layers") != std::string::npos);
    CHECK(e.find("'two'") != std::string::npos);
  }

  TEST_CASE("sizes are bounded, and a plan whose sizes overflow 64 bits is an error") {
    CHECK(error_of(replace(kValid, "num_layers: 2", "num_layers: 100000")).find("expected at most 4096") !=
          std::string::npos);
    CHECK(error_of(replace(kValid, "head_dim: 4", "head_dim: 99999999999")).find("'attention.head_dim': expected at most") !=
          std::string::npos);
    // Each size within bounds, their products not: 2 · context · kv_heads · head_dim overflows.
    const Spec big = parse_spec(replace(replace(replace(replace(kValid, "max_context: 64", "max_context: 16777216"),
                                                        "head_dim: 4", "head_dim: 16777216"),
                                                "heads: 4, kv_heads: 2", "heads: 16777216, kv_heads: 16777216"),
                                        "hidden_size: 16", "hidden_size: 16777216"),
                                "t.yaml");
    CHECK_THROWS_WITH_AS(make_plan(big), doctest::Contains("too large"), Error);
  }

  TEST_CASE("strings must not be empty") {
    const std::string e = error_of(replace(kValid, "family: llama", "family: \"\""));
    CHECK(e.find("'family': expected a non-empty string") != std::string::npos);
  }

  TEST_CASE("numbers must be finite (.nan and .inf are YAML numbers)") {
    const std::string e = error_of(replace(kValid, "theta: 10000.0", "theta: .nan"));
    CHECK(e.find("positions.theta") != std::string::npos);
    CHECK(e.find("expected a finite number, found '.nan'") != std::string::npos);
    CHECK(error_of(replace(kValid, "theta: 10000.0", "theta: -.inf")).find("finite number") != std::string::npos);
  }

  TEST_CASE("tied embeddings and lm_head must agree") {
    CHECK(error_of(replace(kValid, "tied_embeddings: false", "tied_embeddings: true")).find("must be 'tied'") !=
          std::string::npos);
  }

  TEST_CASE("per-layer lists") {
    const Spec s = parse_spec(replace(kValid, "heads: 4, kv_heads: 2", "heads: [4, 2], kv_heads: [2, 1]"), "t.yaml");
    CHECK(s.attention.heads == std::vector<int64_t>{4, 2});
    CHECK(s.attention.kv_heads == std::vector<int64_t>{2, 1});
  }

  TEST_CASE("an imported spec writes YAML that reads back the same") {
    const Spec a = import_any(LLMC_SOURCE_DIR "/tests/data/golden/gemma2", {});
    const Spec b = parse_spec(spec_to_yaml(a, "round trip"), "rt.yaml");
    CHECK(b.hidden_size == a.hidden_size);
    CHECK(b.attention.window == a.attention.window);
    CHECK(b.attention.softcap == a.attention.softcap);
    CHECK(*b.attention.scale == doctest::Approx(*a.attention.scale));
    CHECK(b.embedding_scale == doctest::Approx(a.embedding_scale));
    CHECK(b.norm.weight == NormWeight::offset_one);
    CHECK(b.post_norms);
    CHECK(b.weights.layer == a.weights.layer);
  }

  TEST_CASE("a local RoPE needs sliding-window layers, and round-trips with them") {
    const std::string local = replace(kValid, "rotary_dim: 4}", "rotary_dim: 4, local: {theta: 500.0}}");
    CHECK(error_of(local).find("positions.local': is the RoPE of sliding-window layers") != std::string::npos);
    const Spec a = import_any(LLMC_SOURCE_DIR "/tests/data/golden/gemma3", {});
    REQUIRE(a.local_rope);
    const Spec b = parse_spec(spec_to_yaml(a, "round trip"), "rt.yaml");
    REQUIRE(b.local_rope);
    CHECK(b.local_rope->theta == a.local_rope->theta);
    CHECK(b.local_rope->scaling.type == "none");
    CHECK(b.rope.scaling.type == "linear");
    const Plan p = make_plan(b);
    CHECK(p.layers[0].local_rope);   // sliding_window_pattern 2: layer 0 slides, layer 1 is global
    CHECK_FALSE(p.layers[1].local_rope);
    CHECK(p.rope_inv_freq_local[1] != p.rope_inv_freq[1]);
  }

  TEST_CASE("an embedding norm names its tensors; without the flag they are an error") {
    const Spec a = import_any(LLMC_SOURCE_DIR "/tests/data/golden/bloom", {});
    CHECK(a.embedding_norm);
    CHECK(a.weights.embed_norm == "transformer.word_embeddings_layernorm.weight");
    CHECK(a.weights.embed_norm_bias == "transformer.word_embeddings_layernorm.bias");
    const Spec b = parse_spec(spec_to_yaml(a, "round trip"), "rt.yaml");
    CHECK(b.embedding_norm);
    CHECK(make_plan(b).parameter_count == 116608);  // meta.json n_params_saved
    CHECK(error_of(replace(kValid, "max_context: 64,", "max_context: 64, embedding_norm: true,")).empty());
    CHECK_THROWS_WITH_AS(make_plan(parse_spec(replace(kValid, "max_context: 64,", "max_context: 64, embedding_norm: true,"), "t.yaml")),
                         doctest::Contains("weights.embed_norm': missing"), Error);
  }

  TEST_CASE("an RWKV-4 mixer: no attention, no positions, a channel-mix feed-forward; state fixed per layer") {
    const Spec a = import_any(LLMC_SOURCE_DIR "/tests/data/golden/rwkv", {});
    CHECK(a.mixer == MixerKind::rwkv4);
    const std::string text = spec_to_yaml(a, "round trip");
    const Plan p = make_plan(parse_spec(text, "rt.yaml"));
    CHECK(p.state_row == 0);
    CHECK(p.state_fixed_bytes == 2 * 4 * (64 + 3 * 64 + 64));  // per layer: two shifted rows, num/den/max
    CHECK(p.unbounded_positions());
    CHECK(p.parameter_count == 140'928);  // meta.json n_params_saved
    CHECK(error_of(replace(text, "positions:\n  kind: none", "attention: {heads: 1, kv_heads: 1, head_dim: 64}\n"
                                                              "positions:\n  kind: none"))
              .find("not used with a recurrent mixer") != std::string::npos);
    CHECK(error_of(replace(text, "kind: none", "kind: alibi")).find("expected none") != std::string::npos);
    CHECK(error_of(replace(text, "activation: relu", "activation: silu")).find("expected activation relu") !=
          std::string::npos);
  }

  TEST_CASE("a Mamba mixer: layers without a feed-forward, conv and scan state fixed per layer") {
    const Spec a = import_any(LLMC_SOURCE_DIR "/tests/data/golden/mamba", {});
    CHECK(a.mixer == MixerKind::mamba);
    CHECK(a.dt_rank == 4);
    const std::string text = spec_to_yaml(a, "round trip");
    const Plan p = make_plan(parse_spec(text, "rt.yaml"));
    CHECK(p.state_row == 0);
    CHECK(p.state_fixed_bytes == 2 * 4 * (128 * 3 + 128 * 8));  // per layer: 3 conv inputs, the [128][8] scan state
    CHECK(p.unbounded_positions());
    CHECK(p.parameter_count == 75'712);  // meta.json n_params_saved
    CHECK(error_of(replace(text, "mlp: {kind: none}", "mlp: {kind: none, intermediate_size: 4}")).find("unknown key") !=
          std::string::npos);
    CHECK_THROWS_WITH_AS(make_plan(parse_spec(replace(text, "mlp: {kind: none}", "mlp: {kind: plain, activation: relu, "
                                                                                 "intermediate_size: 8}"),
                                              "t.yaml")),
                         doctest::Contains("expected none"), Error);
  }

  TEST_CASE("a Mamba 2 mixer: heads, groups of B and C, conv and scan state fixed per layer") {
    const Spec a = import_any(LLMC_SOURCE_DIR "/tests/data/golden/mamba2", {});
    CHECK(a.mixer == MixerKind::mamba2);
    CHECK(a.mixer_size == 128);
    CHECK(a.ssm_heads == 8);
    CHECK(a.ssm_groups == 1);
    CHECK(a.dt_min == doctest::Approx(0.001));  // time_step_min: transformers 4.46.1 clamps dt to it
    const std::string text = spec_to_yaml(a, "round trip");
    const Plan p = make_plan(parse_spec(text, "rt.yaml"));
    CHECK(p.state_row == 0);
    CHECK(p.state_fixed_bytes == 2 * 4 * (160 * 3 + 8 * 16 * 16));  // per layer: 3 xBC rows, [8][16][16] scan state
    CHECK(p.unbounded_positions());
    CHECK(p.parameter_count == 89'136);  // meta.json n_params_saved
    CHECK(error_of(replace(text, "heads: 8", "heads: 6")).find("not a multiple of 6 heads") != std::string::npos);
    CHECK(error_of(replace(text, "groups: 1", "groups: 3")).find("do not split into 3 groups") != std::string::npos);
    CHECK(error_of(replace(text, "groups: 1", "groups: 1, dt_rank: 4")).find("only used with kind: mamba") !=
          std::string::npos);
    CHECK(error_of(replace(text, "dt_min: 0.001", "dt_min: -1")).find("expected a number >= 0") != std::string::npos);
  }

  TEST_CASE("Yuan 2's localized filtering: its convolutions' tensors and its previous rows as fixed state") {
    const Spec a = import_any(LLMC_SOURCE_DIR "/tests/data/golden/yuan2", {});
    CHECK(a.attention.localized_filtering);
    CHECK(a.weights.layer.at("gate") == "model.layers.{i}.mlp.up_proj.weight");  // the activation is on up_proj
    const std::string text = spec_to_yaml(a, "round trip");
    const Plan p = make_plan(parse_spec(text, "rt.yaml"));
    CHECK(p.state_row == 2 * 2 * 64);                   // keys and values of 2 layers
    CHECK(p.state_fixed_bytes == 2 * 4 * (64 + 32));    // per layer: the previous input row and its first convolution
    CHECK(p.parameter_count == 144'016 - 2 * 8);        // meta.json n_params_saved less the saved RoPE inv_freq
    CHECK_THROWS_WITH_AS(make_plan(parse_spec(replace(text, "kv_heads: 4", "kv_heads: 2"), "t.yaml")),
                         doctest::Contains("as many kv heads as heads"), Error);
  }

  TEST_CASE("ChatGLM-6B v1: prefix-LM, 2D RoPE of fp16 frequencies, residuals from the normed input x alpha") {
    const Spec a = import_any(LLMC_SOURCE_DIR "/tests/data/golden/chatglm", {});
    REQUIRE(a.attention.prefix_lm);
    CHECK(a.attention.prefix_lm->gmask == 211);
    CHECK(a.bos == 39);
    CHECK(a.rope.two_d);
    CHECK(a.residual_normed);
    CHECK(a.residual_alpha == doctest::Approx(std::sqrt(56.0)));  // GLMBlock's default num_layers 28, not 2
    const std::string text = spec_to_yaml(a, "round trip");
    const Plan p = make_plan(parse_spec(text, "rt.yaml"));
    CHECK(p.chunk == a.max_context);  // the whole prompt in one step: the context attends to keys after it
    CHECK(p.state_fixed_bytes == 3 * 4);
    // 10000^(-2i/8) rounded to fp16, as numpy's float16 of the fp32 values.
    CHECK(p.rope_inv_freq == std::vector<float>{1.0f, 0.0999755859375f, 0.01000213623046875f, 0.0010004043579101562f});
    CHECK(p.parameter_count == 132'872 - 2 * 4);  // meta.json n_params_saved less the saved RoPE inv_freq
    CHECK(error_of(replace(text, "rotary_dim: 8", "rotary_dim: 4")).find("rotary_dim = head_dim / 2") !=
          std::string::npos);
    CHECK(error_of(replace(text, "  residual_input: normed\n", "")).find("only used with residual_input: normed") !=
          std::string::npos);
    CHECK(error_of(replace(text, "  prefix_lm: {gmask: 211, mask: 3}\n", "")).find("need attention.prefix_lm") !=
          std::string::npos);
  }

  TEST_CASE("import rejects unknown model types with the supported list") {
    std::string e;
    try {
      import_hf(LLMC_SOURCE_DIR "/tests/unit/data/unknown_type.json", {});
    } catch (const Error& err) {
      e = err.what();
    }
    CHECK(e.find("'mamba-9000' is not supported") != std::string::npos);
    CHECK(e.find("llama") != std::string::npos);
  }

  TEST_CASE("import refuses heads that do not divide hidden when head_dim is absent") {
    const std::string path = "/tmp/llmc_unit_heads_config.json";
    {
      std::ofstream out(path);
      out << R"({"model_type": "llama", "vocab_size": 32, "hidden_size": 64, "num_hidden_layers": 1,
                 "max_position_embeddings": 16, "num_attention_heads": 6, "intermediate_size": 8})";
    }
    CHECK_THROWS_WITH_AS(import_hf(path, {}), doctest::Contains("6 heads do not divide hidden_size 64"), Error);
  }

  TEST_CASE("import reads Python's Infinity in a config.json and refuses NaN") {
    const std::string path = "/tmp/llmc_unit_infinity_config.json";
    auto write = [&](const std::string& extra) {
      std::ofstream out(path);
      out << R"({"model_type": "llama", "vocab_size": 32, "hidden_size": 64, "num_hidden_layers": 1,
                 "max_position_embeddings": 16, "num_attention_heads": 4, "intermediate_size": 8,
                 "note": "Infinity \" NaN", )" << extra << "}";
    };
    write(R"("time_step_limit": [0.0, Infinity], "low": -Infinity)");
    CHECK(import_hf(path, {}).hidden_size == 64);
    write(R"("x": NaN)");
    CHECK_THROWS_WITH_AS(import_hf(path, {}), doctest::Contains("NaN in a config is not supported"), Error);
  }

  TEST_CASE("llama2.c import reads the header") {
    const Spec s = import_llama2c(LLMC_SOURCE_DIR "/tests/data/stories260k/stories260K.bin", {});
    CHECK(s.hidden_size == 64);
    CHECK(s.num_layers == 5);
    CHECK(s.attention.kv_heads.front() == 4);
    CHECK(s.mlp.intermediate.front() == 172);
    CHECK(s.tied_embeddings);
    CHECK(s.rope.pairing == RopePairing::interleaved);
    CHECK(s.max_context == 512);
  }
}
