// Continuous batching for the server: N slots, each a sequence with its own state. One thread runs
// steps: it admits waiting requests into free slots (prefill, between decode steps), then decodes one
// token for every active slot in a single step (the weights are read once for all of them), samples
// each slot with its own sampler and seed, and hands text to the request's HTTP thread.
#pragma once
#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "llmc/model.hpp"
#include "llmc/sampler.hpp"
#include "llmc/tokenizer.hpp"

namespace llmc {

// What the scheduler needs from a model: `count()` sequences, each with its own state.
class Sequences {
 public:
  virtual ~Sequences() = default;
  virtual int count() const = 0;
  // Feeds n tokens of sequence `seq` at positions pos..pos+n-1; on_last gets the last position's logits.
  virtual void prefill(int seq, const int* tokens, int n, int pos, const std::function<void(const float*)>& on_last) = 0;
  // One token for each of n distinct sequences, in one step: tokens[i] at position pos[i] of seqs[i].
  virtual void decode(const int* seqs, const int* tokens, const int* pos, int n,
                      const std::function<void(int, const float*)>& on_logits) = 0;
  // Whether a sequence's state can be cut back to a prefix of its positions and continued from there. Not
  // when the state has a fixed part (a recurrent state summarises every position fed so far): a request then
  // starts its sequence anew from position 0, which starts it from an empty state.
  virtual bool prefix_reusable() const { return true; }
};

// One generation, shared by the HTTP thread that waits for its text and the scheduler that makes it.
struct Generation {
  // Set by the HTTP thread before submit().
  std::vector<int> prompt;
  SamplerConfig sampler;
  int max_tokens = 16;
  std::vector<std::string> stop;  // stop strings: the text ends before the first one
  std::vector<int> stop_ids;      // tokens that end the text (not part of it): EOS, end of turn
  std::atomic<bool> cancelled{false};  // the client went away

  // Written by the scheduler under `m`.
  std::mutex m;
  std::condition_variable cv;
  std::string text;       // text not yet taken by the HTTP thread
  bool finished = false;
  std::string finish_reason;  // "stop" or "length"
  int completion_tokens = 0;

  // Blocks until there is new text or the end (or `timeout` passed); moves the new text into out.
  // Returns false once finished and all text is taken.
  bool next(std::string& out, std::chrono::milliseconds timeout = std::chrono::milliseconds(1000)) {
    std::unique_lock<std::mutex> lk(m);
    cv.wait_for(lk, timeout, [&] { return !text.empty() || finished; });
    out = std::move(text);
    text.clear();
    return !(finished && out.empty());
  }
};

class Scheduler {
 public:
  Scheduler(Sequences& seqs, const Tokenizer& tokenizer, int vocab, int context)
      : seqs_(seqs), tokenizer_(tokenizer), vocab_(vocab), context_(context),
        slots_(static_cast<size_t>(seqs.count())) {
    for (auto& s : slots_) s.logits.resize(static_cast<size_t>(vocab));
    thread_ = std::thread([this] { run(); });
  }
  ~Scheduler() {
    {
      std::lock_guard<std::mutex> lk(m_);
      stopping_ = true;
    }
    cv_.notify_all();
    thread_.join();
  }

  void submit(const std::shared_ptr<Generation>& g) {
    {
      std::lock_guard<std::mutex> lk(m_);
      queue_.push_back(g);
    }
    cv_.notify_all();
  }

  int slots() const { return static_cast<int>(slots_.size()); }
  // Prompt tokens whose state was already in the slot a request got (prefix reuse), since start.
  long reused_tokens() const { return reused_tokens_.load(); }
  int busy_slots() const { return busy_.load(); }
  long cancelled() const { return cancelled_.load(); }

 private:
  struct Slot {
    std::shared_ptr<Generation> g;   // null: free
    std::vector<int> cached;          // tokens whose state rows this sequence holds, in order
    std::optional<Sampler> sampler;
    std::optional<TextStream> stream;
    std::vector<int> history;         // prompt + generated (repetition penalty)
    std::string produced;             // text generated so far
    size_t sent = 0;                  // of produced, handed to the request
    int pending = -1;                 // sampled, not yet fed
    std::vector<float> logits;
  };

  Sequences& seqs_;
  const Tokenizer& tokenizer_;
  const int vocab_, context_;
  std::vector<Slot> slots_;
  std::mutex m_;
  std::condition_variable cv_;
  std::deque<std::shared_ptr<Generation>> queue_;
  bool stopping_ = false;
  std::atomic<long> reused_tokens_{0}, cancelled_{0};
  std::atomic<int> busy_{0};
  std::thread thread_;

  bool any_active() const {
    return std::any_of(slots_.begin(), slots_.end(), [](const Slot& s) { return s.g != nullptr; });
  }
  bool any_free() const {
    return std::any_of(slots_.begin(), slots_.end(), [](const Slot& s) { return s.g == nullptr; });
  }

  void run() {
    while (true) {
      std::vector<std::shared_ptr<Generation>> admit;
      {
        std::unique_lock<std::mutex> lk(m_);
        cv_.wait(lk, [&] { return stopping_ || (!queue_.empty() && any_free()) || any_active(); });
        if (stopping_) break;
        size_t free_slots = static_cast<size_t>(std::count_if(slots_.begin(), slots_.end(), [](const Slot& s) { return !s.g; }));
        while (!queue_.empty() && admit.size() < free_slots) {
          admit.push_back(std::move(queue_.front()));
          queue_.pop_front();
        }
      }
      drop_cancelled();
      for (auto& g : admit) start(g);
      step();
    }
  }

  void drop_cancelled() {
    for (auto& s : slots_)
      if (s.g && s.g->cancelled.load()) {
        ++cancelled_;
        finish(s, "stop");
      }
  }

  static size_t common_prefix(const std::vector<int>& a, const std::vector<int>& b) {
    size_t n = 0;
    while (n < a.size() && n < b.size() && a[n] == b[n]) ++n;
    return n;
  }

  // Prefill of a new request in the free slot that already holds the longest part of its prompt.
  void start(const std::shared_ptr<Generation>& g) {
    if (g->cancelled.load()) {
      end(*g, "stop");
      return;
    }
    size_t best = slots_.size(), best_len = 0;
    for (size_t i = 0; i < slots_.size(); ++i) {
      if (slots_[i].g) continue;
      const size_t len = common_prefix(slots_[i].cached, g->prompt);
      if (best == slots_.size() || len > best_len) {
        best = i;
        best_len = len;
      }
    }
    Slot& s = slots_[best];
    // The last prompt token gives the logits, so it is always fed.
    const size_t reuse = seqs_.prefix_reusable() ? std::min(best_len, g->prompt.size() - 1) : 0;
    reused_tokens_ += static_cast<long>(reuse);
    s.g = g;
    ++busy_;
    s.sampler.emplace(g->sampler, vocab_);
    s.stream.emplace(tokenizer_);
    s.stream->continue_after(g->prompt.back());
    s.history = g->prompt;
    s.produced.clear();
    s.sent = 0;
    s.pending = -1;
    s.cached.assign(g->prompt.begin(), g->prompt.begin() + static_cast<long>(reuse));
    try {
      seqs_.prefill(static_cast<int>(best), g->prompt.data() + reuse, static_cast<int>(g->prompt.size() - reuse),
                    static_cast<int>(reuse), [&](const float* row) { std::copy(row, row + vocab_, s.logits.begin()); });
    } catch (...) {
      s.cached.clear();
      finish(s, "stop");
      return;
    }
    s.cached = g->prompt;
    take(s, s.sampler->sample(s.logits.data(), s.history));
  }

  // One decode step for every slot with a sampled token to feed.
  void step() {
    std::vector<int> ids, tokens, pos;
    for (size_t i = 0; i < slots_.size(); ++i)
      if (slots_[i].g && slots_[i].pending >= 0) {
        ids.push_back(static_cast<int>(i));
        tokens.push_back(slots_[i].pending);
        pos.push_back(static_cast<int>(slots_[i].cached.size()));
      }
    if (ids.empty()) return;
    seqs_.decode(ids.data(), tokens.data(), pos.data(), static_cast<int>(ids.size()), [&](int k, const float* row) {
      Slot& s = slots_[static_cast<size_t>(ids[static_cast<size_t>(k)])];
      std::copy(row, row + vocab_, s.logits.begin());
    });
    for (int id : ids) {
      Slot& s = slots_[static_cast<size_t>(id)];
      s.cached.push_back(s.pending);
      s.pending = -1;
      take(s, s.sampler->sample(s.logits.data(), s.history));
    }
  }

  // A sampled token: text out, then whether the generation ends here.
  void take(Slot& s, int id) {
    Generation& g = *s.g;
    ++g.completion_tokens;
    s.history.push_back(id);
    if (std::find(g.stop_ids.begin(), g.stop_ids.end(), id) != g.stop_ids.end()) {
      s.produced += s.stream->flush();
      finish(s, "stop");
      return;
    }
    s.produced += s.stream->push(id);
    if (const size_t at = find_stop(s); at != std::string::npos) {
      s.produced.resize(at);
      finish(s, "stop");
      return;
    }
    if (g.completion_tokens >= g.max_tokens || static_cast<int>(s.cached.size()) >= context_) {  // no room to feed it
      s.produced += s.stream->flush();
      finish(s, "length");
      return;
    }
    s.pending = id;
    publish(s, s.produced.size() - held_back(s));
  }

  // Where the first stop string starts in the text, or npos.
  size_t find_stop(const Slot& s) const {
    size_t first = std::string::npos;
    for (const auto& stop : s.g->stop) {
      if (stop.empty()) continue;
      const size_t from = s.sent > stop.size() ? s.sent - stop.size() : 0;
      first = std::min(first, s.produced.find(stop, from));
    }
    return first;
  }

  // Bytes at the end of the text that could begin a stop string: not sent until that is decided.
  size_t held_back(const Slot& s) const {
    size_t hold = 0;
    for (const auto& stop : s.g->stop)
      for (size_t n = std::min(stop.size() - (stop.empty() ? 0 : 1), s.produced.size() - s.sent); n > hold; --n)
        if (s.produced.compare(s.produced.size() - n, n, stop, 0, n) == 0) {
          hold = n;
          break;
        }
    return hold;
  }

  void publish(Slot& s, size_t upto) {
    if (upto <= s.sent) return;
    {
      std::lock_guard<std::mutex> lk(s.g->m);
      s.g->text.append(s.produced, s.sent, upto - s.sent);
    }
    s.sent = upto;
    s.g->cv.notify_all();
  }

  void finish(Slot& s, const char* reason) {
    publish(s, s.produced.size());
    const std::shared_ptr<Generation> g = std::move(s.g);  // the slot is free before the client hears the end
    s.pending = -1;
    --busy_;
    end(*g, reason);
  }

  static void end(Generation& g, const char* reason) {
    {
      std::lock_guard<std::mutex> lk(g.m);
      g.finished = true;
      g.finish_reason = reason;
    }
    g.cv.notify_all();
  }
};

}  // namespace llmc
