// Every published-size arch in archs/ loads, plans and has the parameter count its authors publish.
#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include <doctest/doctest.h>

#include <cmath>
#include <string>

#include "import.hpp"
#include "plan.hpp"
#include "spec.hpp"

namespace {

struct Published {
  const char* arch;  // archs/<arch>.yaml
  double parameters; // as published (model card or paper)
};

// Tied embeddings count once; learned position tables count. Qwen3-0.6B: the report gives 0.44B without the
// 151936 × 1024 embedding, i.e. 0.596B in all (the model card rounds to 0.6B).
const Published kPublished[] = {
    {"llama2-7b", 6.74e9},      {"tinyllama-1.1b", 1.1e9}, {"llama3-8b", 8.03e9},   {"mistral-7b", 7.24e9},
    {"qwen2-0.5b", 494e6},      {"qwen3-0.6b", 0.596e9},    {"gemma-2b", 2.51e9},    {"gemma2-2b", 2.61e9},
    {"phi3-mini-4k", 3.82e9},   {"openelm-270m", 272e6},   {"gpt2", 124e6},         {"falcon-7b", 6.92e9},
    {"openai-gpt", 117e6},
};

std::string arch_path(const char* arch) { return std::string(LLMC_ARCHS_DIR) + "/" + arch + ".yaml"; }

}  // namespace

TEST_CASE("published sizes") {
  for (const Published& p : kPublished) {
    const std::string arch = p.arch;
    CAPTURE(arch);
    const llmc::Spec spec = llmc::load_spec(arch_path(p.arch));
    const llmc::Plan plan = llmc::make_plan(spec);
    const double count = static_cast<double>(plan.parameter_count);
    CAPTURE(count);
    CHECK(std::fabs(count - p.parameters) <= 0.005 * p.parameters);
  }
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
