// What a generated model provides to the driver (runtime/llmc/main.cpp). The generated source
// defines model_info() and make_model(); the driver, compiled once, does everything else.
#pragma once
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "llmc/weights.hpp"

namespace llmc {

struct ModelInfo {
  const char* name;
  const char* description;   // one line: family, sizes
  int vocab, context;
  int bos, eos;              // -1: none
  bool add_bos;
  std::vector<std::string> unused_weights;  // checkpoint tensors the spec declares unused (patterns)
  const char* chat_template = "";          // Jinja chat template from the spec; "" if none
  const char* chat_bos_token = "";         // the bos_token / eos_token text it is rendered with
  const char* chat_eos_token = "";
};

class Model {
 public:
  virtual ~Model() = default;
  // Feeds n tokens at positions pos..pos+n-1. Calls on_logits(row) for every position when
  // all_rows, else for the last one only. The row is valid until the next call.
  virtual void forward(const int* tokens, int n, int pos, bool all_rows,
                       const std::function<void(const float*)>& on_logits) = 0;
};

// Defined by the generated source.
const ModelInfo& model_info();
// Binds the weights (checking every name and shape) and allocates every buffer once.
std::unique_ptr<Model> make_model(WeightStore& weights);

}  // namespace llmc
