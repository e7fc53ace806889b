// llmc::State, the caller-owned per-sequence state: what copy_prefix_from copies.
#include <doctest/doctest.h>

#include <cstring>

#include "llmc/model.hpp"

using namespace llmc;

namespace {

// A state whose row r is filled with byte `first + r` and whose fixed part with `fixed`.
State filled(const StateLayout& layout, int first, int fixed) {
  State s(layout);
  for (int r = 0; r < layout.rows; ++r) std::memset(s.rows() + r * layout.row_bytes, first + r, layout.row_bytes);
  std::memset(s.fixed(), fixed, layout.fixed_bytes);
  return s;
}

int row_byte(const State& s, int r) { return s.rows()[r * s.layout().row_bytes]; }

}  // namespace

TEST_SUITE("state") {
  TEST_CASE("copy_prefix_from copies the prefix rows and the fixed part") {
    const StateLayout layout{64, 8, 16};
    const State from = filled(layout, 10, 7);
    State to = filled(layout, 100, 1);
    to.copy_prefix_from(from, 3);
    for (int r = 0; r < 3; ++r) CHECK(row_byte(to, r) == 10 + r);
    for (int r = 3; r < 8; ++r) CHECK(row_byte(to, r) == 100 + r);  // past the prefix: untouched
    CHECK(to.fixed()[15] == 7);
  }

  TEST_CASE("an encoder-decoder's state copies every row: they hold the encoded source") {
    const StateLayout layout{64, 8, 16, true};
    const State from = filled(layout, 10, 7);
    State to = filled(layout, 100, 1);
    to.copy_prefix_from(from, 2);
    for (int r = 0; r < 8; ++r) CHECK(row_byte(to, r) == 10 + r);
  }

  TEST_CASE("states of other shapes are refused") {
    const State causal(StateLayout{64, 8, 16});
    State source(StateLayout{64, 8, 16, true});
    CHECK_THROWS_WITH_AS(source.copy_prefix_from(causal, 1), doctest::Contains("different shapes"), Error);
    CHECK_THROWS_WITH_AS(source.copy_prefix_from(source, 9), doctest::Contains("outside 0..8"), Error);
  }
}
