// Linked with a generated model (stories260K): Model::decode() of several sequences at different positions
// gives, bitwise, the logits that forward() gives each sequence alone; State::copy_prefix_from() continues a
// sequence as if its prefix had been fed again.
//
//   decode_check WEIGHTS
#include <cstdio>
#include <cstring>
#include <memory>
#include <vector>

#include "llmc/model.hpp"
#include "llmc/threads.hpp"
#include "llmc/weights_loader.hpp"

namespace {

int failures = 0;

void check(bool ok, const char* what) {
  std::printf("%s %s\n", ok ? "ok  " : "FAIL", what);
  if (!ok) ++failures;
}

using Logits = std::vector<float>;

// Feeds tokens to one sequence with forward(); returns the logits of its last position.
Logits feed(llmc::Model& m, llmc::State& s, const std::vector<int>& tokens, int pos) {
  const int vocab = llmc::model_info().vocab;
  Logits last;
  m.forward(s, tokens.data(), static_cast<int>(tokens.size()), pos, false,
            [&](const float* row) { last.assign(row, row + vocab); });
  return last;
}

// Both full rows of logits, with the same bits.
bool same_bits(const Logits& a, const Logits& b) {
  return !a.empty() && a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: decode_check WEIGHTS\n");
    return 2;
  }
  try {
    llmc::set_threads(2);
    llmc::WeightStore store = llmc::WeightStore::open(argv[1]);
    std::unique_ptr<llmc::Model> model = llmc::make_model(store);
    const int vocab = llmc::model_info().vocab;

    // Three prompts of different lengths: the sequences decode at positions 7, 3 and 12.
    const std::vector<std::vector<int>> prompts = {
        {1, 403, 407, 261, 378, 300, 42}, {1, 15, 99}, {1, 200, 201, 202, 203, 204, 205, 206, 207, 208, 209, 210}};
    const int n = static_cast<int>(prompts.size());
    std::vector<std::unique_ptr<llmc::State>> batched, alone;
    std::vector<int> pos(n), next(n);
    for (int i = 0; i < n; ++i) {
      batched.push_back(model->new_state());
      alone.push_back(model->new_state());
      feed(*model, *batched[i], prompts[i], 0);
      feed(*model, *alone[i], prompts[i], 0);
      pos[i] = static_cast<int>(prompts[i].size());
      next[i] = 50 + 37 * i;
    }
    std::vector<llmc::State*> states;
    for (auto& s : batched) states.push_back(s.get());

    bool decode_equal = true, called_each = true;
    for (int step = 0; step < 6; ++step) {
      std::vector<Logits> got(n);
      std::vector<int> calls(n, 0);
      model->decode(states.data(), next.data(), pos.data(), n, [&](int i, const float* row) {
        got[i].assign(row, row + vocab);
        ++calls[i];
      });
      for (int i = 0; i < n; ++i) {
        called_each = called_each && calls[i] == 1;
        const Logits want = feed(*model, *alone[i], {next[i]}, pos[i]);
        decode_equal = decode_equal && same_bits(got[i], want);
        ++pos[i];
        next[i] = (next[i] * 7 + step + 3) % vocab;
      }
    }
    check(called_each, "decode() calls on_logits once per sequence");
    check(decode_equal, "decode() of 3 sequences at positions 7, 3, 12 (6 steps) == forward() of each alone, bitwise");

    // A copy of sequence 2's first 5 positions, fed the rest of its prompt, continues exactly like sequence 2.
    std::unique_ptr<llmc::State> copy = model->new_state();
    copy->copy_prefix_from(*alone[2], 5);
    const std::vector<int> rest(prompts[2].begin() + 5, prompts[2].end());
    std::unique_ptr<llmc::State> fresh = model->new_state();
    check(same_bits(feed(*model, *copy, rest, 5), feed(*model, *fresh, prompts[2], 0)),
          "copy_prefix_from(5 positions) + the rest of the prompt == the whole prompt, bitwise");

    bool rejected = false;
    try {
      llmc::State* twice[2] = {states[0], states[0]};
      model->decode(twice, next.data(), pos.data(), 2, [](int, const float*) {});
    } catch (const llmc::Error& e) {
      rejected = std::strstr(e.what(), "share a state") != nullptr;
    }
    check(rejected, "decode() rejects two sequences sharing one state");
  } catch (const std::exception& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return 1;
  }
  return failures ? 1 : 0;
}
