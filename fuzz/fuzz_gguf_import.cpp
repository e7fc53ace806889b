// Fuzz target: `llmc import` of a GGUF file (compiler/import_gguf.cpp): its metadata made into the config its
// family's importer reads, Llama 3's rope divisors fitted, the tensors named and looked up; the spec written as
// YAML and read back (as `llmc import` checks it), then planned (every layer's shapes, roles and buffers) as
// `llmc build` would.
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>

#include "fuzz_common.hpp"
#include "import.hpp"
#include "llmc/weights_loader.hpp"
#include "plan.hpp"
#include "spec.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 4 || std::memcmp(data, "GGUF", 4) != 0) return 0;
  try {
    const llmc::MappedFile file("fuzz.gguf", std::string(reinterpret_cast<const char*>(data), size));
    const std::string yaml = llmc::spec_to_yaml(llmc::import_gguf(file, llmc::ImportOptions{64}), "fuzz");
    const llmc::Spec spec = llmc::parse_spec(yaml, "fuzz.yaml");  // as `llmc import` checks what it writes
    const llmc::Plan plan = llmc::make_plan(spec);
    llmc_fuzz::check(plan.layers.size() == static_cast<size_t>(spec.num_layers), "a plan with a layer per layer");
  } catch (const llmc::Error&) {
  }
  return 0;
}
