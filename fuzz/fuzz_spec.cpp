// Fuzz target: the arch YAML parser and validator (parse_spec), the planner on every spec that parses,
// and the YAML writer of `llmc import` (what it writes must parse back to the same plan).
#include <cstddef>
#include <cstdint>
#include <string>

#include "fuzz_common.hpp"
#include "import.hpp"
#include "plan.hpp"
#include "spec.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  llmc::Spec spec;
  try {
    spec = llmc::parse_spec(text, "fuzz.yaml");
  } catch (const llmc::Error& e) {
    llmc_fuzz::check(std::string(e.what()).rfind("fuzz.yaml", 0) == 0, "spec error does not start with the file name");
    return 0;
  }
  llmc::Plan plan;
  try {
    plan = llmc::make_plan(spec);
  } catch (const llmc::Error&) {
    return 0;
  }
  const std::string yaml = llmc::spec_to_yaml(spec, "fuzz");
  llmc::Spec back;
  try {
    back = llmc::parse_spec(yaml, "roundtrip.yaml");
  } catch (const llmc::Error& e) {
    std::fprintf(stderr, "spec_to_yaml output does not parse back: %s\n%s\n", e.what(), yaml.c_str());
    std::abort();
  }
  const llmc::Plan plan2 = llmc::make_plan(back);
  llmc_fuzz::check(plan2.parameter_count == plan.parameter_count, "round trip changed the parameter count");
  return 0;
}
