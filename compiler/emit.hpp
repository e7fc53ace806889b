// Emit: prints a plan as one C++ source file from templates/model.cpp.tmpl.
#pragma once
#include <string>
#include <string_view>

#include "plan.hpp"

namespace llmc {

struct EmitOptions {
  std::string command_line;  // recorded in the front matter
  std::string dtype = "as-stored";  // how the binary keeps its matrices: f32, as-stored, q8_0, q4_0, q4_k, q5_k, q6_k
  std::string kv_cache = "f32";     // elements of the KV cache: f32, f16
  // The matrix formats the binary has kernels for: "all", or a comma list of f32, f16, bf16, q8_0, q4_0, q4_k,
  // q5_k, q6_k (f32, the fallback of every --dtype, is always included).
  std::string formats = "all";
};

std::string emit_model(const Plan& plan, const EmitOptions& options);

// Replaces every {{key}} in text; an unknown key is an internal error.
std::string render_template(std::string_view text, const std::map<std::string, std::string>& values);

// The text of a file of templates/, embedded at build time.
std::string_view template_text(std::string_view name);

}  // namespace llmc
