// The residual skeleton of a layer (pre / post / sandwich norms, parallel branches, post-LN, residual scale)
// around its two blocks: the mixer, then the feed-forward block.
#pragma once
#include <string>
#include <vector>

#include "blocks/block.hpp"

namespace llmc {

// Checks the spec's blocks (throws Error naming the field).
void check_layers(const Spec& s);
// Sets layer l.index's sizes from the spec.
void size_layer(const Spec& s, LayerPlan& l);
// The tensors one layer reads, in order of first use: the skeleton's norms and both blocks'.
std::vector<RoleShape> layer_roles(const Spec& s, const LayerPlan& l);
// The buffers of a step, in allocation order: the residual stream and branch outputs, and both blocks'.
std::vector<BufferPlan> layer_buffers(const Plan& p);
// Per-sequence state of layer l: elements per position and fixed bytes.
int64_t layer_state_row(const Spec& s, const LayerPlan& l);
int64_t layer_state_fixed_bytes(const Spec& s, const LayerPlan& l);

// The definition of Model::layer_<i>.
std::string layer_definition(const Plan& p, const LayerPlan& l);

}  // namespace llmc
