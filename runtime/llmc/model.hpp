// What a generated model provides to the driver (runtime/llmc/main.cpp). The generated source
// defines model_info() and make_model(); the driver, compiled once, does everything else.
#pragma once
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "llmc/error.hpp"
#include "llmc/model_kind.hpp"
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
  ModelKind kind = ModelKind::causal_lm;
  int hidden = 0;            // floats in a hidden state row (encode()'s hidden rows)
  int token_types = 0;       // rows of the token-type table (BERT's segments); 0: the model takes no token types
  bool has_logits = true;    // encoders: encode() can give logits per position (a masked-LM head)
  bool has_pooler = false;   // encoders: encode() can give a pooled row (BERT's pooler: tanh(dense(row 0)))
  int decoder_start = -1;  // encoder–decoders: the token the decoder starts from; -1 for other models
  bool add_eos = false;    // encoder–decoders: a source prompt ends with eos
  const char* tokenizer_kind = "";  // the Tokenizer::kind() the vocabulary is ("unigram", ...); "" for any
};

// The per-sequence state a model needs, as its plan sizes it (kStateRowBytes, kContext, kStateFixedBytes in the
// generated source): a row per context position (every layer's keys and values) and a fixed part (recurrent
// state of the layers that have one).
struct StateLayout {
  size_t row_bytes = 0;
  int rows = 0;  // context positions
  size_t fixed_bytes = 0;
  // Encoder–decoders: row i also holds every decoder layer's cross-attention keys and values of source
  // position i, which each decoder position reads whatever its own position, so a copy takes every row.
  bool rows_hold_source = false;
};

// One sequence's state, owned by the caller (a session, a server slot): the model reads and writes it in
// forward() and decode() and keeps none of its own. Rows fill in position order; memory is not zero-filled, so
// pages past the last position written stay unmapped. Large states are in 2 MB pages (fewer TLB misses over a
// long context).
class State {
 public:
  explicit State(const StateLayout& layout)
      : layout_(layout), rows_(allocate(layout.row_bytes * static_cast<size_t>(layout.rows))),
        fixed_(allocate(layout.fixed_bytes)) {
    reset();
  }

  const StateLayout& layout() const { return layout_; }
  uint8_t* rows() { return rows_.get(); }
  const uint8_t* rows() const { return rows_.get(); }
  uint8_t* fixed() { return fixed_.get(); }
  const uint8_t* fixed() const { return fixed_.get(); }

  // An empty sequence: the fixed part zeroed. Rows need no clearing: a position is written before it is read.
  void reset() {
    if (layout_.fixed_bytes) std::memset(fixed_.get(), 0, layout_.fixed_bytes);
  }

  // This sequence becomes other's first `positions` positions (e.g. a shared prompt prefix): rows
  // [0, positions) and the fixed part are copied. The fixed part is other's state after all its positions, so a
  // model with one (a recurrent state) can only share a whole prefix: positions is then other's length. An
  // encoder–decoder's rows also carry its encoded source (rows_hold_source): all of them are copied.
  void copy_prefix_from(const State& other, int positions) {
    if (other.layout_.row_bytes != layout_.row_bytes || other.layout_.rows != layout_.rows ||
        other.layout_.fixed_bytes != layout_.fixed_bytes ||
        other.layout_.rows_hold_source != layout_.rows_hold_source)
      throw Error("State::copy_prefix_from: the states belong to models of different shapes");
    if (positions < 0 || positions > layout_.rows)
      throw Error("State::copy_prefix_from: " + std::to_string(positions) + " positions is outside 0.." +
                  std::to_string(layout_.rows));
    if (&other == this) return;
    const int rows = layout_.rows_hold_source ? layout_.rows : positions;
    std::memcpy(rows_.get(), other.rows_.get(), layout_.row_bytes * static_cast<size_t>(rows));
    if (layout_.fixed_bytes) std::memcpy(fixed_.get(), other.fixed_.get(), layout_.fixed_bytes);
  }

 private:
  static AlignedBytes allocate(size_t bytes) { return bytes >= kHugePage ? huge_page_bytes(bytes) : aligned_bytes(bytes); }

  StateLayout layout_;
  AlignedBytes rows_, fixed_;
};

// One input of Model::encode(): a whole sequence, encoded into its own state (caller-owned, as for forward()).
struct EncoderInput {
  State* state;
  const int* tokens;
  const int* token_types;  // null: every position has type 0
  int n;                   // tokens, 1..context
};

// What Model::encode() gives, each through a callback; an empty callback is not computed. Rows are valid until
// the callback returns. `input` indexes encode()'s inputs, `position` the input's tokens.
struct EncoderOutputs {
  std::function<void(int input, int position, const float* row)> hidden;  // the last layer's output, info.hidden floats
  std::function<void(int input, int position, const float* row)> logits;  // the masked-LM head's, info.vocab floats
  std::function<void(int input, const float* row)> pooled;                // the pooler's (of position 0), info.hidden floats
};

// A model implements the entry points of its kind (ModelInfo::kind); the others throw an Error saying so.
class Model {
 public:
  virtual ~Model() = default;

  // The state one sequence needs; new_state() allocates one.
  virtual StateLayout state_layout() const = 0;
  std::unique_ptr<State> new_state() const { return std::make_unique<State>(state_layout()); }

  // Causal LM: feeds n tokens of one sequence at positions pos..pos+n-1 of state s. Calls on_logits(row) for
  // every position when all_rows, else for the last one only. The row is valid until the next call.
  virtual void forward(State&, const int*, int, int, bool, const std::function<void(const float*)>&) {
    throw Error("forward(): this model is not a causal LM (ModelInfo::kind); an encoder runs with encode()");
  }

  // One decode step of n sequences at once: tokens[i] goes to position pos[i] of *states[i]. Every matmul runs
  // once over the n rows (the weights are read once per step); attention runs per sequence over its own state.
  // Calls on_logits(i, row) for each i; the row is valid until the next call. The states must be distinct.
  virtual void decode(State* const*, const int*, const int*, int, const std::function<void(int, const float*)>&) {
    throw Error("decode(): this model is not a causal LM (ModelInfo::kind); an encoder runs with encode()");
  }

  // Encoder: each input's whole sequence in one call, every position attending to every position of its input
  // (attention.mask: bidirectional). Each input's state is overwritten from position 0 (a reset, not a
  // continuation: a second encode() on a state encodes afresh). Inputs are packed into steps of up to the plan's
  // chunk of rows, so several short inputs share every weight read. The states must be distinct.
  virtual void encode(std::span<const EncoderInput>, const EncoderOutputs&) {
    throw Error("encode(): this model is not an encoder (ModelInfo::kind); a causal LM runs with forward()");
  }

  // Encoder–decoders (T5): runs the encoder over the n source tokens and keeps what the decoder reads of them (each
  // decoder layer's cross-attention keys and values) in s, which it resets; forward() and decode() then run the
  // decoder on s from position 0. Other models have no encoder.
  virtual void encode_source(State& /*s*/, const int* /*tokens*/, int /*n*/) {
    throw Error("this model has no encoder: it takes no encoder input");
  }
};

// Defined by the generated source.
const ModelInfo& model_info();
// Binds the weights (checking every name and shape) and allocates every buffer once.
std::unique_ptr<Model> make_model(WeightStore& weights);

}  // namespace llmc
