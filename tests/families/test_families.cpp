// Every published-size arch in archs/ loads, plans and has the parameter count its authors publish.
#include "../common/doctest_main.hpp"

#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include "import.hpp"
#include "plan.hpp"
#include "spec.hpp"

namespace {

struct Published {
  const char* arch;     // archs/<arch>.yaml
  int64_t parameters;   // exact, as published
};

// The exact parameter totals of the published checkpoints (the safetensors totals on the models' Hugging Face
// pages; model cards and papers round them, e.g. Llama-2-7B "7B", 6.74B). Tied embeddings count once; learned
// position tables count. Qwen3-0.6B's checkpoint stores its tied lm_head a second time: 751,632,384 in the file,
// less the 151936 x 1024 copy. A count that is off by one row, bias or norm fails.
const Published kPublished[] = {
    {"llama2-7b", 6'738'415'616},     {"tinyllama-1.1b", 1'100'048'384}, {"llama3-8b", 8'030'261'248},
    {"mistral-7b", 7'241'732'096},    {"qwen2-0.5b", 494'032'768},       {"qwen3-0.6b", 751'632'384 - 151'936 * 1024},
    {"gemma-2b", 2'506'172'416},      {"gemma2-2b", 2'614'341'888},      {"phi3-mini-4k", 3'821'079'552},
    {"openelm-270m", 271'527'168},    {"gpt2", 124'439'808},             {"falcon-7b", 6'921'720'704},
    {"openai-gpt", 116'534'784},      {"chatglm3-6b", 6'243'584'000},    {"baichuan2-13b", 13'896'668'160},
    {"qwen-7b", 7'721'324'544},       {"minicpm-2b", 2'724'880'896},     {"olmo2-7b", 7'298'617'344},
    {"command-r-v01", 34'980'831'232}, {"bloom-560m", 559'214'592},      {"gemma-3-1b", 999'885'952},
    {"rwkv-4-169m-pile", 169'342'464}, {"mamba-130m", 129'135'360},
    // From the configs' shapes (archs/ headers say where each config comes from).
    {"mamba2-130m", 128'989'632},      {"yuan2-2b", 2'088'724'480},       {"chatglm-6b", 6'173'286'400},
    // Encoder–decoders, as transformers' num_parameters() counts T5ForConditionalGeneration: shared.weight once
    // (the encoder's and decoder's embed_tokens and t5-base's tied lm_head are that tensor; flan-t5-large's lm_head
    // is its own), both stacks' layers, relative position tables and final norms.
    {"t5-base", 222'903'552},          {"flan-t5-large", 783'150'080},
};

std::string arch_path(const char* arch) { return std::string(LLMC_ARCHS_DIR) + "/" + arch + ".yaml"; }

// The error a spec's text gives ("" if it loads and plans); defined below, used by the encoder checks first.
std::string error_of(const std::string& yaml);

}  // namespace

TEST_CASE("published sizes") {
  for (const Published& p : kPublished) {
    const std::string arch = p.arch;
    CAPTURE(arch);
    const llmc::Spec spec = llmc::load_spec(arch_path(p.arch));
    const llmc::Plan plan = llmc::make_plan(spec);
    CHECK(static_cast<int64_t>(plan.parameter_count) == p.parameters);
  }
}

// BERT (bert-base-uncased, an encoder): its checkpoint is BertForPreTraining's, which the arch reads all of but the
// next-sentence head: BertModel (embeddings, 12 layers, pooler) and the MLM head (transform dense + LayerNorm, the
// decoder's bias; the decoder is the tied word embedding). BertModel with its pooler is the published 109,482,240
// (the "110M" of the model card; the checkpoint's 110,106,428 adds the MLM head and cls.seq_relationship, 2 × 769).
TEST_CASE("published sizes: bert-base-uncased") {
  const llmc::Spec spec = llmc::load_spec(arch_path("bert-base-uncased"));
  const llmc::Plan plan = llmc::make_plan(spec);
  int64_t head = 0;
  for (const llmc::TensorPlan& t : plan.globals) {
    using llmc::Role;
    if (t.role != Role::head_transform && t.role != Role::head_transform_bias && t.role != Role::head_norm &&
        t.role != Role::head_norm_bias && t.role != Role::lm_head_bias)
      continue;
    int64_t n = 1;
    for (int64_t d : t.shape) n *= d;
    head += n;
  }
  CHECK(spec.kind == llmc::ModelKind::encoder);
  CHECK(head == 768 * 768 + 768 + 2 * 768 + 30522);
  CHECK(plan.parameter_count - head == 109'482'240);
  CHECK(plan.parameter_count == 110'106'428 - 2 * 769);
  // spec_to_yaml keeps what makes it an encoder.
  const llmc::Spec again = llmc::parse_spec(llmc::spec_to_yaml(spec, "round trip"), "round-trip.yaml");
  CHECK(again.kind == llmc::ModelKind::encoder);
  CHECK(again.attention.mask == llmc::AttentionMask::bidirectional);
  CHECK(again.token_types == 2);
  CHECK(again.pooler);
  CHECK(again.logit_transform == llmc::Activation::gelu);
  CHECK(llmc::make_plan(again).parameter_count == plan.parameter_count);
}

TEST_CASE("round trip: spec_to_yaml reads back to the same plan") {
  for (const Published& p : kPublished) {
    const std::string arch = p.arch;
    CAPTURE(arch);
    const llmc::Spec spec = llmc::load_spec(arch_path(p.arch));
    const llmc::Spec again = llmc::parse_spec(llmc::spec_to_yaml(spec, "round trip"), "round-trip.yaml");
    const llmc::Plan a = llmc::make_plan(spec), b = llmc::make_plan(again);
    CHECK(a.parameter_count == b.parameter_count);
    CHECK(a.layers.size() == b.layers.size());
    CHECK(a.rope_inv_freq == b.rope_inv_freq);
    CHECK(a.attention_scale == b.attention_scale);
  }
}

namespace {

// A small valid spec with the given positions, extra layer tensors and qk-norm.
std::string tiny_spec(const std::string& positions, const std::string& extra_layer = "",
                      const std::string& qk_norm = "") {
  return "llmc: 1\nname: tiny\nfamily: test\n"
         "model: {vocab_size: 32, hidden_size: 16, num_layers: 1, max_context: 8, tied_embeddings: true}\n"
         "norm: {kind: rmsnorm, eps: 1e-5}\n"
         "attention: {heads: 2, kv_heads: 1, head_dim: 8" + qk_norm + "}\n"
         "positions: " + positions + "\n"
         "mlp: {kind: gated, activation: silu, intermediate_size: 32}\n"
         "tokens: {bos: -1, eos: -1, add_bos: false}\n"
         "weights:\n  embed: e\n  final_norm: n\n  lm_head: tied\n"
         "  layer: {attn_norm: a, q: q, k: k, v: v, o: o, ffn_norm: f, gate: g, up: u, down: d" + extra_layer + "}\n";
}

std::string error_of(const std::string& yaml) {
  try {
    const llmc::Spec spec = llmc::parse_spec(yaml, "tiny.yaml");
    llmc::make_plan(spec);
  } catch (const std::exception& e) {
    return e.what();
  }
  return "";
}

}  // namespace

TEST_CASE("spec errors: encoders and attention masks") {
  const std::string encoder =
      "llmc: 1\nname: tiny\nfamily: test\n"
      "model: {kind: encoder, vocab_size: 32, hidden_size: 16, num_layers: 1, max_context: 8, tied_embeddings: true, "
      "token_types: 2}\n"
      "norm: {kind: layernorm, bias: true, eps: 1e-12}\nblock: {residual: post_ln}\n"
      "attention: {heads: 2, kv_heads: 2, head_dim: 8, mask: bidirectional}\n"
      "positions: {kind: learned, max_positions: 8}\n"
      "mlp: {kind: plain, activation: gelu, intermediate_size: 32}\n"
      "tokens: {bos: -1, eos: -1, add_bos: false}\n"
      "weights:\n  embed: e\n  positions: p\n  token_types: tt\n  lm_head: tied\n"
      "  layer: {attn_norm: a, attn_norm_bias: ab, q: q, k: k, v: v, o: o, ffn_norm: f, ffn_norm_bias: fb, up: u, "
      "down: d}\n";
  CHECK(error_of(encoder) == "");
  auto edited = [&](const std::string& from, const std::string& to) {
    std::string text = encoder;
    const size_t at = text.find(from);
    REQUIRE(at != std::string::npos);
    return error_of(text.replace(at, from.size(), to));
  };
  CHECK(edited("mask: bidirectional", "mask: causal").find("expected mask: bidirectional") != std::string::npos);
  CHECK(edited("kind: encoder, ", "").find("token_types") != std::string::npos);  // only an encoder has types
  CHECK(edited("mask: bidirectional", "mask: prefix").find("prefix needs attention.prefix_lm") != std::string::npos);
  CHECK(edited("mask: bidirectional", "mask: sideways").find("mask") != std::string::npos);
  CHECK(edited("  token_types: tt\n", "").find("weights.token_types") != std::string::npos);
  CHECK(edited("token_types: 2}", "pooler: false}").find("weights.token_types") != std::string::npos);  // unused name
  CHECK(edited("max_positions: 8}", "max_positions: 8, offset: 2}").find("fewer than model.max_context") !=
        std::string::npos);
}

TEST_CASE("spec errors: family fields") {
  CHECK(error_of(tiny_spec("{kind: alibi}")) == "");
  CHECK(error_of(tiny_spec("{kind: alibi, slope_scale: 0.5}")) == "");
  CHECK(error_of(tiny_spec("{kind: rope, theta: 1e4, pairing: half, rotary_dim: 8, slope_scale: 2}"))
            .find("'positions.slope_scale': only used with kind: alibi") != std::string::npos);
  CHECK(error_of(tiny_spec("{kind: learned, max_positions: 4}")).find("fewer than model.max_context 8") !=
        std::string::npos);
  CHECK(error_of(tiny_spec("{kind: rope, theta: 1e4, pairing: half, rotary_dim: 8, "
                           "scaling: {type: longrope, original_max_positions: 4, short_factor: [1, 1, 1, 1], "
                           "long_factor: [1, 1, 1, 1]}}"))
            .find("'positions.scaling.max_positions': missing") != std::string::npos);
  // Per-head norm weights: "{h}" expands to one tensor per head; elsewhere it is an error.
  const std::string per_head = ", qk_norm: {over: head, weights: per_head, norm: {kind: layernorm, eps: 1e-5}}";
  CHECK(error_of(tiny_spec("{kind: none}", ", q_norm: 'qn.{h}', k_norm: 'kn.{h}'", per_head)) == "");
  CHECK(error_of(tiny_spec("{kind: none}", ", q_norm: qn, k_norm: 'kn.{h}'", per_head)) == "");
  CHECK(error_of(tiny_spec("{kind: none}", ", q_norm: qn, k_norm: kn",
                           ", qk_norm: {over: projection, weights: per_head, norm: {kind: rmsnorm, eps: 1e-5}}"))
            .find("'attention.qk_norm.weights': per_head weights need over: head") != std::string::npos);
  const std::string bad = error_of(
      "llmc: 1\nname: tiny\nfamily: test\n"
      "model: {vocab_size: 32, hidden_size: 16, num_layers: 1, max_context: 8, tied_embeddings: true}\n"
      "norm: {kind: rmsnorm, eps: 1e-5}\nattention: {heads: 2, kv_heads: 1, head_dim: 8}\npositions: {kind: none}\n"
      "mlp: {kind: gated, activation: silu, intermediate_size: 32}\ntokens: {bos: -1, eos: -1, add_bos: false}\n"
      "weights:\n  embed: e\n  final_norm: n\n  lm_head: tied\n"
      "  layer: {attn_norm: a, q: 'q.{h}', k: k, v: v, o: o, ffn_norm: f, gate: g, up: u, down: d}\n");
  CHECK(bad.find("'weights.layer.q': '{h}' (one tensor per head) is only allowed") != std::string::npos);
  // Post-LN blocks need no final norm; OLMo 2 style blocks have no input norms.
  CHECK(error_of("llmc: 1\nname: tiny\nfamily: test\n"
                 "model: {vocab_size: 32, hidden_size: 16, num_layers: 1, max_context: 8, tied_embeddings: true}\n"
                 "norm: {kind: layernorm, bias: true, eps: 1e-5}\nblock: {residual: post_ln}\n"
                 "attention: {heads: 2, kv_heads: 2, head_dim: 8, qkv: fused}\npositions: {kind: learned, max_positions: 8}\n"
                 "mlp: {kind: plain, activation: gelu_tanh, intermediate_size: 32}\n"
                 "tokens: {bos: -1, eos: -1, add_bos: false}\n"
                 "weights:\n  embed: e\n  positions: p\n  lm_head: tied\n"
                 "  layer: {attn_norm: a, attn_norm_bias: ab, qkv: qkv, o: o, ffn_norm: f, ffn_norm_bias: fb, up: u, "
                 "down: d}\n") == "");
  CHECK(error_of("llmc: 1\nname: tiny\nfamily: test\n"
                 "model: {vocab_size: 32, hidden_size: 16, num_layers: 1, max_context: 8, tied_embeddings: false}\n"
                 "norm: {kind: rmsnorm, eps: 1e-5}\nblock: {pre_norms: false, post_norms: true}\n"
                 "attention: {heads: 2, kv_heads: 1, head_dim: 8}\npositions: {kind: none}\n"
                 "mlp: {kind: gated, activation: silu, intermediate_size: 32}\n"
                 "tokens: {bos: -1, eos: -1, add_bos: false}\nlogits: {norm_head: true}\n"
                 "weights:\n  embed: e\n  final_norm: n\n  lm_head: h\n"
                 "  layer: {q: q, k: k, v: v, o: o, post_attn_norm: pa, gate: g, up: u, down: d, post_ffn_norm: pf}\n") ==
        "");
}

TEST_CASE("plan: ALiBi slopes and LongRoPE tables") {
  // Six heads: the series for 4 (2^-2, 2^-4, 2^-6, 2^-8), then odd powers of 2^-1 for the other two.
  std::string yaml = tiny_spec("{kind: alibi, slope_scale: 0.5}");
  yaml.replace(yaml.find("heads: 2, kv_heads: 1, head_dim: 8"), 34, "heads: 6, kv_heads: 1, head_dim: 8");
  yaml.replace(yaml.find("hidden_size: 16"), 15, "hidden_size: 48");
  const llmc::Spec alibi = llmc::parse_spec(yaml, "alibi.yaml");
  const llmc::Plan a = llmc::make_plan(alibi);
  const std::vector<float> expected = {0.125f, 0.03125f, 0.0078125f, 0.001953125f, 0.25f, 0.0625f};
  CHECK(a.alibi_slopes == expected);

  const llmc::Spec longrope = llmc::parse_spec(
      tiny_spec("{kind: rope, theta: 10000, pairing: half, rotary_dim: 8, scaling: {type: longrope, "
                "original_max_positions: 4096, max_positions: 131072, short_factor: [1, 1, 1, 1], "
                "long_factor: [1, 2, 4, 8]}}"),
      "longrope.yaml");
  const llmc::Plan l = llmc::make_plan(longrope);
  CHECK(l.rope_attention_factor == doctest::Approx(std::sqrt(1.0 + std::log(32.0) / std::log(4096.0))));
  REQUIRE(l.rope_inv_freq_long.size() == 4);
  for (size_t i = 0; i < 4; ++i) {
    CHECK(l.rope_inv_freq[i] == doctest::Approx(std::pow(10000.0, -2.0 * i / 8)));
    CHECK(l.rope_inv_freq_long[i] == doctest::Approx(std::pow(10000.0, -2.0 * i / 8) / (1 << i)));
  }
}

TEST_CASE("plan: YaRN frequencies, cos/sin factor and softmax scale") {
  // rotary_dim 8, original context 32: the correction range is [⌊-0.80⌋ → 0, ⌈0.71⌉ = 1], so frequency 0 keeps
  // theta^0 and frequencies 1..3 are divided by the factor 4 (DeepSeek-V2-Lite's golden case).
  const auto plan = [](const std::string& mscales) {
    return llmc::make_plan(llmc::parse_spec(
        tiny_spec("{kind: rope, theta: 10000, pairing: half, rotary_dim: 8, scaling: {type: yarn, factor: 4, "
                  "original_max_positions: 32" + mscales + "}}"),
        "yarn.yaml"));
  };
  const llmc::Plan y = plan(", mscale: 0.707, mscale_all_dim: 0.707");
  REQUIRE(y.rope_inv_freq.size() == 4);
  CHECK(y.rope_inv_freq[0] == doctest::Approx(1.0));
  for (size_t i = 1; i < 4; ++i) CHECK(y.rope_inv_freq[i] == doctest::Approx(std::pow(10000.0, -2.0 * i / 8) / 4));
  const double m = 0.1 * 0.707 * std::log(4.0) + 1.0;
  CHECK(y.rope_attention_factor == doctest::Approx(1.0));
  CHECK(y.attention_scale == doctest::Approx(m * m / std::sqrt(8.0)));
  // Without mscale_all_dim: cos and sin × m(mscale = 1), the softmax scale unchanged.
  const llmc::Plan d = plan("");
  CHECK(d.rope_attention_factor == doctest::Approx(0.1 * std::log(4.0) + 1.0));
  CHECK(d.attention_scale == doctest::Approx(1.0 / std::sqrt(8.0)));
}

namespace {

struct PublishedMoe {
  const char* arch;
  double total, active;  // as published
  double tolerance;      // relative; what the published figures' rounding allows
};

// Mixtral 8x7B "46.7B total, 12.9B active" (its announcement); Qwen1.5-MoE-A2.7B "14.3B, 2.7B activated" (model
// card); Qwen3-30B-A3B "30.5B, 3.3B activated" (model card); Grok-1 "314B" (xai-org release), whose weights
// count 315.7B: the release rounds down, hence its 1% tolerance.
const PublishedMoe kPublishedMoe[] = {
    {"mixtral-8x7b", 46.7e9, 12.9e9, 0.005},
    {"qwen1.5-moe-a2.7b", 14.3e9, 2.7e9, 0.005},
    {"qwen3-30b-a3b", 30.5e9, 3.3e9, 0.02},
    {"grok-1", 314e9, 0, 0.01},
};

}  // namespace

TEST_CASE("published sizes of mixtures of experts: total and active parameters") {
  for (const PublishedMoe& p : kPublishedMoe) {
    const std::string arch = p.arch;
    CAPTURE(arch);
    const llmc::Plan plan = llmc::make_plan(llmc::load_spec(arch_path(p.arch)));
    const double total = static_cast<double>(plan.parameter_count);
    const double active = static_cast<double>(plan.active_parameter_count);
    CAPTURE(total);
    CAPTURE(active);
    CHECK(std::fabs(total - p.total) <= p.tolerance * p.total);
    if (p.active > 0) CHECK(std::fabs(active - p.active) <= p.tolerance * p.active);
    CHECK(active < total);
    const llmc::Spec spec = llmc::load_spec(arch_path(p.arch));
    const llmc::Spec again = llmc::parse_spec(llmc::spec_to_yaml(spec, "round trip"), "round-trip.yaml");
    CHECK(llmc::make_plan(again).active_parameter_count == plan.active_parameter_count);
  }
  // Mixtral's count from its config, pinned exactly (46.7B as published; any change in how experts count shows).
  CHECK(llmc::make_plan(llmc::load_spec(arch_path("mixtral-8x7b"))).parameter_count == 46702792704);
}

// DeepSeek counts activated parameters without the embedding table (a lookup): DeepSeek-V2-Lite "15.7B total,
// 2.4B activated", DeepSeek-V2 "236B, 21B", DeepSeek-V3 "671B, 37B" (model cards; V3's 671B leaves out its 14B
// multi-token-prediction layer, which the spec lists as unused). The figures are rounded to their last digit,
// hence 2.5%. Multi-head latent attention caches kv_lora_rank + rope values per layer and position: 576 for all
// three, V3's 70,272 bytes per token at f16 ("70 KB").
TEST_CASE("published sizes of DeepSeek-V2 / V3: total, activated, latent cache per token") {
  const PublishedMoe deepseek[] = {
      {"deepseek-v2-lite", 15.7e9, 2.4e9, 0.025},
      {"deepseek-v2", 236e9, 21e9, 0.025},
      {"deepseek-v3", 671e9, 37e9, 0.025},
  };
  for (const PublishedMoe& p : deepseek) {
    const std::string arch = p.arch;
    CAPTURE(arch);
    const llmc::Spec spec = llmc::load_spec(arch_path(p.arch));
    const llmc::Plan plan = llmc::make_plan(spec);
    const double total = static_cast<double>(plan.parameter_count);
    const double activated = static_cast<double>(plan.active_parameter_count - spec.vocab_size * spec.hidden_size);
    CAPTURE(total);
    CAPTURE(activated);
    CHECK(std::fabs(total - p.total) <= p.tolerance * p.total);
    CHECK(std::fabs(activated - p.active) <= p.tolerance * p.active);
    CHECK(plan.state_row == spec.num_layers * (512 + 64));
    const llmc::Spec again = llmc::parse_spec(llmc::spec_to_yaml(spec, "round trip"), "round-trip.yaml");
    CHECK(llmc::make_plan(again).parameter_count == plan.parameter_count);
    CHECK(llmc::make_plan(again).attention_scale == plan.attention_scale);
  }
  // V2-Lite's count from its config, pinned exactly.
  CHECK(llmc::make_plan(llmc::load_spec(arch_path("deepseek-v2-lite"))).parameter_count == 15706484224);
}
