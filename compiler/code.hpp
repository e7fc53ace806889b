// Helpers that print generated C++: lines at an indent, float literals, the norm calls every block uses.
#pragma once
#include <fmt/format.h>

#include <string>
#include <utility>

#include "plan.hpp"
#include "spec.hpp"

namespace llmc {

// Lines of code at a fixed indent.
class Code {
 public:
  explicit Code(int indent) : pad_(static_cast<size_t>(indent), ' ') {}
  template <typename... Args>
  void line(fmt::format_string<Args...> f, Args&&... args) {
    text_ += pad_ + fmt::format(f, std::forward<Args>(args)...) + "\n";
  }
  void blank() { text_ += "\n"; }
  std::string str() const {
    std::string s = text_;
    if (!s.empty() && s.back() == '\n') s.pop_back();
    return s;
  }

 private:
  std::string pad_, text_;
};

// A float as a C++ literal that round-trips: 1e-05f, 10000.0f, 0.125f.
std::string flt(double v);

const char* weighting(NormWeight w);
const char* act_name(Activation a);

// A norm call. weights: expression of the weight struct ("w" or "w_"); role names its tensors.
std::string norm_call(const NormSpec& n, const std::string& out, const std::string& in, const std::string& weights,
                      Role role, const std::string& size, const std::string& eps, const std::string& rows);

// A per-head norm where every head has its own weights ([heads, head_dim]).
std::string per_head_norm_call(const NormSpec& n, const std::string& x, Role role, const std::string& heads);

// The layer's bias for a weight ("w.q_bias"), or "nullptr".
std::string bias_of(const LayerPlan& l, Role weight);

}  // namespace llmc
