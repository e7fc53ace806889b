#include "code.hpp"

namespace llmc {

std::string flt(double v) {
  std::string s = fmt::format("{}", static_cast<float>(v));  // shortest text that round-trips
  if (s.find_first_of(".en") == std::string::npos) s += ".0";
  return s + "f";
}

const char* weighting(NormWeight w) {
  switch (w) {
    case NormWeight::plain: return "llmc::Weighting::plain";
    case NormWeight::offset_one: return "llmc::Weighting::offset_one";
    case NormWeight::none: return "llmc::Weighting::none";
  }
  return "";
}

const char* act_name(Activation a) {
  switch (a) {
    case Activation::silu: return "llmc::Act::silu";
    case Activation::gelu: return "llmc::Act::gelu";
    case Activation::gelu_tanh: return "llmc::Act::gelu_tanh";
    case Activation::relu: return "llmc::Act::relu";
  }
  return "";
}

std::string norm_call(const NormSpec& n, const std::string& out, const std::string& in, const std::string& weights,
                      Role role, const std::string& size, const std::string& eps, const std::string& rows) {
  const std::string weight = n.weight == NormWeight::none ? "nullptr" : weights + "." + role_name(role);
  if (n.kind == NormKind::rmsnorm)
    return fmt::format("llmc::rms_norm<{}, {}>({}, {}, {}, {}, {});", size, weighting(n.weight), out, in, weight, eps,
                       rows);
  const std::string bias = n.bias ? weights + "." + role_name(*bias_role(role)) : "nullptr";
  return fmt::format("llmc::layer_norm<{}, {}>({}, {}, {}, {}, {}, {});", size, weighting(n.weight), out, in, weight,
                     bias, eps, rows);
}

std::string per_head_norm_call(const NormSpec& n, const std::string& x, Role role, const std::string& heads) {
  const std::string weight = n.weight == NormWeight::none ? "nullptr" : std::string("w.") + role_name(role);
  if (n.kind == NormKind::rmsnorm)
    return fmt::format("llmc::rms_norm_heads<{}, kHeadDim, {}>({}, {}, kQkNormEps, T);", heads, weighting(n.weight), x,
                       weight);
  const std::string bias = n.bias ? std::string("w.") + role_name(*bias_role(role)) : "nullptr";
  return fmt::format("llmc::layer_norm_heads<{}, kHeadDim, {}>({}, {}, {}, kQkNormEps, T);", heads,
                     weighting(n.weight), x, weight, bias);
}

std::string bias_of(const LayerPlan& l, Role weight) {
  const std::optional<Role> bias = bias_role(weight);
  return bias && l.has(*bias) ? std::string("w.") + role_name(*bias) : "nullptr";
}

}  // namespace llmc
