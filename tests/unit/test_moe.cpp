// MoE routing rules against values worked out by hand from the references' definitions.
#include <doctest/doctest.h>

#include <cmath>
#include <vector>

#include "llmc/moe.hpp"

using namespace llmc;

namespace {

template <int E, int K>
void route_one(const std::vector<float>& logits, const RoutingParams& p, int (&ids)[K], float (&w)[K]) {
  route<E, K>(logits.data(), 1, p, ids, w);
}

}  // namespace

TEST_SUITE("moe") {
  TEST_CASE("softmax over all experts, then the top k, renormalised or not") {
    const std::vector<float> logits = {1.0f, 3.0f, 2.0f, 0.0f};
    const double z = std::exp(1.0) + std::exp(3.0) + std::exp(2.0) + std::exp(0.0);
    int ids[2];
    float w[2];
    route_one<4, 2>(logits, {Routing::softmax_topk, false, 1.0f, 0.0f}, ids, w);
    CHECK(ids[0] == 1);
    CHECK(ids[1] == 2);
    CHECK(w[0] == doctest::Approx(std::exp(3.0) / z).epsilon(1e-6));
    CHECK(w[1] == doctest::Approx(std::exp(2.0) / z).epsilon(1e-6));
    route_one<4, 2>(logits, {Routing::softmax_topk, true, 2.5f, 0.0f}, ids, w);
    const double share = std::exp(3.0) / (std::exp(3.0) + std::exp(2.0));
    CHECK(w[0] == doctest::Approx(2.5 * share).epsilon(1e-6));
    CHECK(w[1] == doctest::Approx(2.5 * (1 - share)).epsilon(1e-6));
  }

  TEST_CASE("top k logits, then softmax or sigmoid of those") {
    const std::vector<float> logits = {0.5f, -1.0f, 2.0f, 1.5f};
    int ids[2];
    float w[2];
    route_one<4, 2>(logits, {Routing::topk_softmax, false, 1.0f, 0.0f}, ids, w);
    CHECK(ids[0] == 2);
    CHECK(ids[1] == 3);
    CHECK(w[0] == doctest::Approx(1.0 / (1.0 + std::exp(-0.5))).epsilon(1e-6));
    int id1[1];
    float w1[1];
    route_one<4, 1>(logits, {Routing::topk_sigmoid, false, 1.0f, 0.0f}, id1, w1);
    CHECK(id1[0] == 2);
    CHECK(w1[0] == doctest::Approx(1.0 / (1.0 + std::exp(-2.0))).epsilon(1e-6));
  }

  TEST_CASE("sparsemixer keeps only the logits near the best in each pick's softmax") {
    // Pick 1: best expert 0 (1.0); expert 1 is 1% below (kept: 0.01 ≤ 2·eps), experts 2 and 3 are far (masked).
    // Pick 2: among what is left, expert 1 alone is near its own best, so its weight is 1.
    const std::vector<float> logits = {1.0f, 0.99f, -1.0f, 0.5f};
    int ids[2];
    float w[2];
    route_one<4, 2>(logits, {Routing::sparsemixer, false, 1.0f, 0.01f}, ids, w);
    CHECK(ids[0] == 0);
    CHECK(ids[1] == 1);
    CHECK(w[0] == doctest::Approx(1.0 / (1.0 + std::exp(0.99 - 1.0))).epsilon(1e-6));
    CHECK(w[1] == doctest::Approx(1.0).epsilon(1e-6));
    // With eps 0 only the best counts: both weights are 1.
    route_one<4, 2>(logits, {Routing::sparsemixer, false, 1.0f, 0.0f}, ids, w);
    CHECK(w[0] == doctest::Approx(1.0));
    CHECK(w[1] == doctest::Approx(1.0));
  }

  TEST_CASE("group_limited_greedy: softmax, the best groups by their best expert, then the top k inside them") {
    // 8 experts in 4 groups of 2. Plain top-2 would take experts 0 and 2; with one group open (group 0, whose
    // best is the best) the second pick is expert 1, however small its score.
    const std::vector<float> logits = {3.0f, -1.0f, 2.9f, 2.8f, 0.0f, 0.0f, 0.5f, 0.0f};
    double z = 0;
    for (float l : logits) z += std::exp(static_cast<double>(l));
    int ids[2];
    float w[2];
    RoutingParams p{Routing::group_limited_greedy, false, 1.0f, 0.0f, 4, 1};
    route_one<8, 2>(logits, p, ids, w);
    CHECK(ids[0] == 0);
    CHECK(ids[1] == 1);
    CHECK(w[0] == doctest::Approx(std::exp(3.0) / z).epsilon(1e-6));  // the softmax over all 8 experts
    CHECK(w[1] == doctest::Approx(std::exp(-1.0) / z).epsilon(1e-6));
    p.top_groups = 2;  // groups 0 and 1 open: experts 0 and 2; scaled by routed_scaling_factor
    p.scale = 2.0f;
    route_one<8, 2>(logits, p, ids, w);
    CHECK(ids[0] == 0);
    CHECK(ids[1] == 2);
    CHECK(w[1] == doctest::Approx(2.0 * std::exp(2.9) / z).epsilon(1e-6));
  }

  TEST_CASE("noaux_tc: sigmoid, groups by the sum of their best two, the bias choosing but not weighting") {
    // Groups of 2: group 0 holds the best expert but sums lowest of the first three; groups 1 and 2 stay open.
    const std::vector<float> logits = {4.0f, -4.0f, 1.0f, 1.0f, 0.5f, 0.5f, -2.0f, -2.0f};
    const auto sigmoid = [](double x) { return 1.0 / (1.0 + std::exp(-x)); };
    int ids[2];
    float w[2];
    route_one<8, 2>(logits, {Routing::noaux_tc, true, 2.5f, 0.0f, 4, 2}, ids, w);
    CHECK(ids[0] == 2);  // a tie: the lower index first
    CHECK(ids[1] == 3);
    CHECK(w[0] == doctest::Approx(1.25).epsilon(1e-6));  // renormalised to 1/2 each, × 2.5
    CHECK(w[1] == doctest::Approx(1.25).epsilon(1e-6));
    // A bias of 0.5 on expert 4 lifts group 2 above group 1 and expert 4 to the top; the weights stay the
    // unbiased sigmoids.
    const float bias[8] = {0, 0, 0, 0, 0.5f, 0, 0, 0};
    route<8, 2>(logits.data(), 1, {Routing::noaux_tc, false, 1.0f, 0.0f, 4, 2}, ids, w, bias);
    CHECK(ids[0] == 4);
    CHECK(ids[1] == 2);
    CHECK(w[0] == doctest::Approx(sigmoid(0.5)).epsilon(1e-6));
    CHECK(w[1] == doctest::Approx(sigmoid(1.0)).epsilon(1e-6));
  }

  TEST_CASE("visits are grouped by expert in token order, and combined in expert order") {
    // 3 tokens, top 2 of 4 experts.
    const int ids[6] = {2, 0, 0, 3, 2, 1};
    ExpertVisits<4, 2> v;
    v.group(ids, 3);
    CHECK(v.count(0) == 2);
    CHECK(v.count(1) == 1);
    CHECK(v.count(2) == 2);
    CHECK(v.count(3) == 1);
    const std::vector<int> expected = {1, 2, 5, 0, 4, 3};  // expert 0: visits 1, 2; expert 1: 5; ...
    for (int i = 0; i < 6; ++i) CHECK(v.visit[i] == expected[static_cast<size_t>(i)]);
    // Rows of width 1: visit i's row is 10^i, so the sums show which visits went where.
    const float rows[6] = {1, 10, 100, 1000, 10000, 100000};
    const float weights[6] = {1, 2, 1, 1, 1, 3};
    float out[3];
    combine_experts<1, 2>(out, rows, ids, weights, 3);
    CHECK(out[0] == 1 + 2 * 10);
    CHECK(out[1] == 100 + 1000);
    CHECK(out[2] == 10000 + 3 * 100000);
    combine_experts<1, 2>(out, rows, ids, nullptr, 3);
    CHECK(out[2] == 10000 + 100000);
  }

  TEST_CASE("an expert's visits are gathered from their tokens and scattered back to their slots") {
    const int ids[6] = {2, 0, 0, 3, 2, 1};  // token 0 -> 2, 0; token 1 -> 0, 3; token 2 -> 2, 1
    ExpertVisits<4, 2> v;
    v.group(ids, 3);
    const float x[6] = {1, 2, 3, 4, 5, 6};  // 3 tokens of width 2
    const float weights[6] = {10, 20, 30, 40, 50, 60};
    float packed[4];
    gather_visits<2>(packed, x, v, 2, nullptr);  // expert 2: tokens 0 and 2
    CHECK(packed[0] == 1);
    CHECK(packed[1] == 2);
    CHECK(packed[2] == 5);
    CHECK(packed[3] == 6);
    gather_visits<2>(packed, x, v, 0, weights);  // expert 0: visits 1 (token 0) and 2 (token 1), weighted
    CHECK(packed[0] == 1 * 20);
    CHECK(packed[3] == 4 * 30);
    float rows[12] = {};
    const float y[4] = {7, 8, 9, 10};
    scatter_visits<2>(rows, y, v, 2);  // visits 0 and 4
    CHECK(rows[0] == 7);
    CHECK(rows[1] == 8);
    CHECK(rows[8] == 9);
    CHECK(rows[9] == 10);
    CHECK(rows[2] == 0);
  }
}
