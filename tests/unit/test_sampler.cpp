#include <doctest/doctest.h>

#include <cmath>
#include <limits>
#include <map>
#include <random>
#include <vector>

#include "llmc/sampler.hpp"

using namespace llmc;

namespace {

std::vector<int> draw(SamplerConfig c, const std::vector<float>& logits, int n) {
  Sampler s(c, static_cast<int>(logits.size()));
  std::vector<int> out;
  for (int i = 0; i < n; ++i) {
    std::vector<float> l = logits;
    out.push_back(s.sample(l.data(), {}));
  }
  return out;
}

const std::vector<float> kLogits = {1.0f, 3.0f, 2.5f, -1.0f, 0.0f, 2.9f};

}  // namespace

TEST_SUITE("sampler") {
  TEST_CASE("temperature 0 is argmax") {
    CHECK(draw({}, kLogits, 3) == std::vector<int>{1, 1, 1});
  }

  TEST_CASE("argmax: the first index of the maximum, as std::max_element, at every length and position") {
    std::mt19937 rng(3);
    std::uniform_real_distribution<float> u(-5.0f, 5.0f);
    for (int n : {1, 2, 7, 8, 15, 16, 17, 33, 100, 32000}) {
      std::vector<float> x(static_cast<size_t>(n));
      for (auto& v : x) v = u(rng);
      CHECK(argmax(x.data(), n) == std::max_element(x.begin(), x.end()) - x.begin());
      for (int at : {0, n / 2, n - 1}) {  // a tie: the first one wins
        x[static_cast<size_t>(at)] = 9.0f;
        x[static_cast<size_t>(n - 1)] = 9.0f;
        CHECK(argmax(x.data(), n) == std::max_element(x.begin(), x.end()) - x.begin());
      }
      x.assign(static_cast<size_t>(n), -std::numeric_limits<float>::infinity());
      CHECK(argmax(x.data(), n) == 0);
      x.assign(static_cast<size_t>(n), std::numeric_limits<float>::quiet_NaN());
      x[static_cast<size_t>(n - 1)] = 1.0f;
      CHECK(argmax(x.data(), n) == n - 1);  // NaNs never win
    }
  }

  TEST_CASE("the same seed gives the same tokens, another seed other tokens") {
    SamplerConfig c;
    c.temperature = 1.0f;
    c.seed = 7;
    const auto a = draw(c, kLogits, 50), b = draw(c, kLogits, 50);
    CHECK(a == b);
    c.seed = 8;
    CHECK(draw(c, kLogits, 50) != a);
  }

  TEST_CASE("sampling follows the softmax") {
    SamplerConfig c;
    c.temperature = 1.0f;
    c.seed = 1;
    std::map<int, int> counts;
    for (int id : draw(c, {0.0f, std::log(3.0f)}, 20000)) counts[id]++;
    CHECK(counts[1] / 20000.0 == doctest::Approx(0.75).epsilon(0.03));
  }

  TEST_CASE("top-k 1, tiny top-p and min-p 1 reduce to the most likely token") {
    SamplerConfig c;
    c.temperature = 1.5f;
    c.seed = 3;
    c.top_k = 1;
    CHECK(draw(c, kLogits, 20) == std::vector<int>(20, 1));
    c.top_k = 0;
    c.top_p = 0.01f;
    CHECK(draw(c, kLogits, 20) == std::vector<int>(20, 1));
    c.top_p = 1.0f;
    c.min_p = 1.0f;
    CHECK(draw(c, kLogits, 20) == std::vector<int>(20, 1));
  }

  TEST_CASE("top-k keeps only the k best") {
    SamplerConfig c;
    c.temperature = 5.0f;
    c.top_k = 3;
    c.seed = 11;
    for (int id : draw(c, kLogits, 200)) CHECK((id == 1 || id == 5 || id == 2));
  }

  TEST_CASE("repetition penalty pushes recent tokens down") {
    SamplerConfig c;
    c.repeat_penalty = 2.0f;
    Sampler s(c, 6);
    std::vector<float> l = kLogits;
    CHECK(s.sample(l.data(), {1}) == 5);  // 3.0 / 2 = 1.5 < 2.9
    CHECK(l[1] == doctest::Approx(1.5f));
    l = kLogits;
    l[3] = -1.0f;
    s.sample(l.data(), {3});
    CHECK(l[3] == doctest::Approx(-2.0f));  // negative logits are multiplied
  }
}
