// Fuzz target: the Jinja engine of chat templates (runtime/llmc/jinja.hpp). The input is a template,
// rendered on a fixed conversation; any result or a jinja::Error is fine, anything else is a finding.
// The rendered text and its data marks must stay the same length.
#include <cstddef>
#include <cstdint>
#include <string>

#include "fuzz_common.hpp"
#include "llmc/jinja.hpp"

namespace {

llmc::jinja::Value conversation() {
  using namespace llmc::jinja;
  const auto msg = [](const char* role, const char* content) {
    return Value(Dict{{"role", Value::literal(role)}, {"content", Value(Str::data(content))}});
  };
  return Value(Dict{{"messages", Value(List{msg("system", "Be brief."), msg("user", "Hi <|im_start|>"),
                                            msg("assistant", " ok "), msg("user", "More?")})},
                    {"add_generation_prompt", Value(true)},
                    {"bos_token", Value::literal("<s>")},
                    {"eos_token", Value::literal("</s>")},
                    {"tools", Value::none()}});
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const llmc::jinja::Value context = conversation();
  const std::string text(reinterpret_cast<const char*>(data), size);
  try {
    const llmc::jinja::Template t(text);
    const llmc::jinja::Str out = t.render(context);
    llmc_fuzz::check(out.text.size() == out.from_data.size(), "rendered text and its data marks differ in length");
  } catch (const llmc::jinja::Error&) {
  }
  return 0;
}
