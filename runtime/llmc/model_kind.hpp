// What a model is: shared by the compiler's spec (model.kind) and the generated model's ModelInfo.
#pragma once

namespace llmc {

// Which entry points of llmc::Model a generated model implements, and so what the driver offers:
// causal_lm: forward() and decode() give next-token logits (generation); encoder: encode() gives per-position
// hidden states (and masked-LM logits, a pooled row where the model has those heads), no generation;
// encoder_decoder: an encoder whose output the decoder's cross-attention reads.
enum class ModelKind { causal_lm, encoder, encoder_decoder };

inline const char* to_string(ModelKind kind) {
  switch (kind) {
    case ModelKind::causal_lm: return "causal_lm";
    case ModelKind::encoder: return "encoder";
    case ModelKind::encoder_decoder: return "encoder_decoder";
  }
  return "?";
}

}  // namespace llmc
