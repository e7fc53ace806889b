// The server's scheduler against a fake model whose next token is a hash of everything in the sequence's
// state: any token fed to the wrong sequence or position, or a wrong prefix reuse, changes the text.
#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include <doctest/doctest.h>

#include <map>
#include <thread>

#include "llmc/scheduler.hpp"

namespace {

constexpr int kVocab = 16, kEos = 0;
const char kChars[] = "?abcdefgh .!xyz";  // id -> character (id 0 is EOS)

class FakeTokenizer : public llmc::Tokenizer {
 public:
  std::vector<int> encode(std::string_view text, bool) const override {
    std::vector<int> ids;
    for (char c : text) ids.push_back(static_cast<int>(std::string_view(kChars).find(c)));
    return ids;
  }
  int vocab_size() const override { return kVocab; }
  int bos_id() const override { return -1; }
  int eos_id() const override { return kEos; }
  std::string token_bytes(int, int id) const override { return id == kEos ? "" : std::string(1, kChars[id]); }
  std::string piece(int id) const override { return token_bytes(-1, id); }
  std::string kind() const override { return "fake"; }
};

uint64_t next_hash(uint64_t h, int token, int pos) { return (h ^ static_cast<uint64_t>(token * 131 + pos)) * 0x100000001B3ull; }
int token_of(uint64_t h, bool allow_eos) { return allow_eos ? static_cast<int>(h % kVocab) : 1 + static_cast<int>(h % (kVocab - 1)); }

class FakeSequences : public llmc::Sequences {
 public:
  FakeSequences(int n, int context, bool eos = false, int decode_sleep_us = 0)
      : rows_(static_cast<size_t>(n), std::vector<int>(static_cast<size_t>(context), -1)), eos_(eos), sleep_us_(decode_sleep_us) {}
  int count() const override { return static_cast<int>(rows_.size()); }
  void prefill(int seq, const int* tokens, int n, int pos, const std::function<void(const float*)>& on_last) override {
    for (int i = 0; i < n; ++i) rows_[seq].at(static_cast<size_t>(pos + i)) = tokens[i];
    emit(seq, pos + n, [&](const float* l) { on_last(l); });
  }
  void decode(const int* seqs, const int* tokens, const int* pos, int n,
              const std::function<void(int, const float*)>& on_logits) override {
    max_batch = std::max(max_batch, n);
    if (sleep_us_) std::this_thread::sleep_for(std::chrono::microseconds(sleep_us_));
    for (int i = 0; i < n; ++i) {
      rows_[seqs[i]].at(static_cast<size_t>(pos[i])) = tokens[i];
      emit(seqs[i], pos[i] + 1, [&](const float* l) { on_logits(i, l); });
    }
  }
  int max_batch = 0;

 private:
  template <typename F>
  void emit(int seq, int length, F&& f) {
    uint64_t h = 1469598103934665603ull;
    for (int p = 0; p < length; ++p) h = next_hash(h, rows_[seq][p], p);
    float logits[kVocab] = {};
    logits[token_of(h, eos_)] = 1.0f;
    f(logits);
  }
  std::vector<std::vector<int>> rows_;
  bool eos_;
  int sleep_us_;
};

// What one sequence alone produces: the reference.
std::vector<int> reference(const std::vector<int>& prompt, int n, bool eos = false) {
  std::vector<int> seq = prompt, out;
  for (int k = 0; k < n; ++k) {
    uint64_t h = 1469598103934665603ull;
    for (size_t p = 0; p < seq.size(); ++p) h = next_hash(h, seq[p], static_cast<int>(p));
    const int t = token_of(h, eos);
    out.push_back(t);
    if (t == kEos) break;
    seq.push_back(t);
  }
  return out;
}

std::string text_of(const std::vector<int>& ids) {
  std::string s;
  for (int id : ids)
    if (id != kEos) s += kChars[id];
  return s;
}

std::shared_ptr<llmc::Generation> request(const std::vector<int>& prompt, int max_tokens) {
  auto g = std::make_shared<llmc::Generation>();
  g->prompt = prompt;
  g->max_tokens = max_tokens;
  g->stop_ids = {kEos};
  return g;
}

std::string collect(llmc::Generation& g) {
  std::string all, piece;
  while (g.next(piece)) all += piece;
  return all;
}

}  // namespace

TEST_CASE("one generation is what the sequence alone makes") {
  FakeTokenizer tok;
  FakeSequences seqs(1, 64);
  llmc::Scheduler sched(seqs, tok, kVocab, 64);
  auto g = request({1, 2, 3}, 20);
  sched.submit(g);
  CHECK(collect(*g) == text_of(reference({1, 2, 3}, 20)));
  CHECK(g->finish_reason == "length");
  CHECK(g->completion_tokens == 20);
}

TEST_CASE("8 requests on 4 slots are decoded together and each gets its own text") {
  FakeTokenizer tok;
  FakeSequences seqs(4, 128, false, 200);
  llmc::Scheduler sched(seqs, tok, kVocab, 128);
  std::vector<std::shared_ptr<llmc::Generation>> gs;
  for (int i = 0; i < 8; ++i) gs.push_back(request({1 + i, 2, 3 + i % 3}, 30 + i));
  for (auto& g : gs) sched.submit(g);
  for (int i = 0; i < 8; ++i) CHECK(collect(*gs[i]) == text_of(reference({1 + i, 2, 3 + i % 3}, 30 + i)));
  CHECK(seqs.max_batch == 4);
  CHECK(sched.busy_slots() == 0);
}

TEST_CASE("a request that shares a prompt prefix reuses the slot's state") {
  FakeTokenizer tok;
  FakeSequences seqs(2, 128);
  llmc::Scheduler sched(seqs, tok, kVocab, 128);
  const std::vector<int> p1 = {1, 2, 3, 4, 5, 6, 7, 8};
  auto a = request(p1, 5);
  sched.submit(a);
  collect(*a);
  std::vector<int> p2 = p1;
  for (int t : reference(p1, 4)) p2.push_back(t);  // a follow-up turn: the prompt + what was generated
  p2.push_back(9);
  auto b = request(p2, 12);
  sched.submit(b);
  CHECK(collect(*b) == text_of(reference(p2, 12)));
  CHECK(sched.reused_tokens() == static_cast<long>(p1.size() + 4));
}

// A model whose state is recurrent: one running hash per sequence over every token fed, which cannot be cut
// back to a prefix. Feeding a position other than the next one (a prefix reuse) is a scheduler error.
class RecurrentSequences : public llmc::Sequences {
 public:
  explicit RecurrentSequences(int n) : states_(static_cast<size_t>(n)) {}
  int count() const override { return static_cast<int>(states_.size()); }
  bool prefix_reusable() const override { return false; }
  void prefill(int seq, const int* tokens, int n, int pos, const std::function<void(const float*)>& on_last) override {
    if (pos == 0) states_[seq] = State{};  // position 0 starts a sequence anew
    for (int i = 0; i < n; ++i) feed(seq, tokens[i], pos + i);
    emit(seq, on_last);
  }
  void decode(const int* seqs, const int* tokens, const int* pos, int n,
              const std::function<void(int, const float*)>& on_logits) override {
    for (int i = 0; i < n; ++i) {
      feed(seqs[i], tokens[i], pos[i]);
      emit(seqs[i], [&](const float* l) { on_logits(i, l); });
    }
  }
  int misfed = 0;  // positions fed out of order

 private:
  struct State {
    uint64_t hash = 1469598103934665603ull;
    int length = 0;
  };
  void feed(int seq, int token, int pos) {
    State& s = states_[static_cast<size_t>(seq)];
    if (pos != s.length) ++misfed;
    s.hash = next_hash(s.hash, token, pos);
    s.length = pos + 1;
  }
  template <typename F>
  void emit(int seq, F&& f) {
    float logits[kVocab] = {};
    logits[token_of(states_[static_cast<size_t>(seq)].hash, false)] = 1.0f;
    f(logits);
  }
  std::vector<State> states_;
};

TEST_CASE("a model with recurrent state starts each request anew, never from a reused prefix") {
  FakeTokenizer tok;
  RecurrentSequences seqs(1);
  llmc::Scheduler sched(seqs, tok, kVocab, 128);
  const std::vector<int> p1 = {1, 2, 3, 4, 5, 6, 7, 8};
  auto a = request(p1, 5);
  sched.submit(a);
  CHECK(collect(*a) == text_of(reference(p1, 5)));
  std::vector<int> p2 = p1;  // shares p1 and what was generated from it: a KV model would reuse all of that
  for (int t : reference(p1, 4)) p2.push_back(t);
  p2.push_back(9);
  auto b = request(p2, 12);
  sched.submit(b);
  CHECK(collect(*b) == text_of(reference(p2, 12)));
  const std::vector<int> p3 = {1, 2, 3, 4, 12, 13};  // shares only the first 4 tokens with what the slot holds
  auto c = request(p3, 6);
  sched.submit(c);
  CHECK(collect(*c) == text_of(reference(p3, 6)));
  CHECK(sched.reused_tokens() == 0);
  CHECK(seqs.misfed == 0);
}

TEST_CASE("stop strings end the text before them, and no part of one is sent early") {
  FakeTokenizer tok;
  FakeSequences seqs(1, 256);
  llmc::Scheduler sched(seqs, tok, kVocab, 256);
  const std::string full = text_of(reference({3, 1, 4}, 60));
  const std::string stop = full.substr(20, 3);
  const std::string expected = full.substr(0, full.find(stop));
  auto g = request({3, 1, 4}, 60);
  g->stop = {"never-there", stop};
  sched.submit(g);
  std::string all, piece;
  while (g->next(piece)) {
    all += piece;
    CHECK(all.find(stop) == std::string::npos);
  }
  CHECK(all == expected);
  CHECK(g->finish_reason == "stop");
}

TEST_CASE("an end-of-turn token ends the text and is not part of it") {
  FakeTokenizer tok;
  FakeSequences seqs(1, 512, true);
  llmc::Scheduler sched(seqs, tok, kVocab, 512);
  std::vector<int> prompt;
  std::vector<int> ref;
  for (int first = 1; first < 16 && ref.empty(); ++first) {  // a prompt whose reference reaches EOS
    const auto r = reference({first, 5}, 200, true);
    if (r.back() == kEos) {
      prompt = {first, 5};
      ref = r;
    }
  }
  REQUIRE(!ref.empty());
  auto g = request(prompt, 200);
  sched.submit(g);
  CHECK(collect(*g) == text_of(ref));
  CHECK(g->finish_reason == "stop");
  CHECK(g->completion_tokens == static_cast<int>(ref.size()));
}

TEST_CASE("the context limit ends a generation with length") {
  FakeTokenizer tok;
  FakeSequences seqs(1, 10);
  llmc::Scheduler sched(seqs, tok, kVocab, 10);
  auto g = request({1, 2, 3, 4}, 100);
  sched.submit(g);
  collect(*g);
  CHECK(g->finish_reason == "length");
  CHECK(g->completion_tokens == 10 - 4 + 1);  // 6 fed back, the last one sampled but not fed
}

TEST_CASE("a cancelled request frees its slot for the next one") {
  FakeTokenizer tok;
  FakeSequences seqs(1, 4096, false, 2000);
  llmc::Scheduler sched(seqs, tok, kVocab, 4096);
  auto g = request({1, 2}, 4000);
  sched.submit(g);
  std::string piece;
  g->next(piece);
  g->cancelled = true;
  const auto t0 = std::chrono::steady_clock::now();
  collect(*g);
  CHECK(std::chrono::steady_clock::now() - t0 < std::chrono::seconds(2));
  CHECK(g->completion_tokens < 4000);
  auto next = request({5, 6}, 3);
  sched.submit(next);
  CHECK(collect(*next) == text_of(reference({5, 6}, 3)));
  CHECK(sched.cancelled() == 1);
}
