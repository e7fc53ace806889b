// Work partition over a persistent pool of threads (serial when built without OpenMP, i.e. --no-openmp).
//
// parallel_for(n, work, fn) cuts [0, n) into a fixed set of contiguous chunks (a function of n, the work and
// the thread count only: chunk_bounds) and the threads claim chunks from a shared counter. Each index is
// always handled whole by one thread and kernels never combine results across indices in a thread-dependent
// order, so results do not depend on which thread ran what: output is bitwise identical across runs and
// across thread counts.
// Claiming (rather than a static split) keeps a thread the OS has descheduled — the machine is shared — from
// stalling the others: the caller only waits for chunks that were claimed, never for idle threads to wake.
#pragma once
#include <immintrin.h>

#include <algorithm>
#include <atomic>
#include <cassert>
#include <cstdint>
#include <memory>
#include <thread>
#include <vector>

namespace llmc {

// Below this many multiply-adds a job runs on the calling thread: waking threads costs more.
inline constexpr int64_t kMinParallelWork = 32 * 1024;
// Below this many, a job is cut in 2 equal chunks per thread (or 1), above in guided ones (see chunk_bounds).
inline constexpr int64_t kSmallParallelWork = 2 * 1024 * 1024;

// Writes the bounds of the chunks parallel_for cuts [0, n) into for `threads` threads to bounds[0..chunks]
// (bounds[0] = 0, bounds[chunks] = n, all chunks non-empty) and returns chunks, at most kMaxChunksPerThread
// per thread. Small jobs get 2 equal chunks per thread: each claim costs a cache-line transfer between cores,
// and stories110M's decode matmuls (2-10 µs) decoded q4_0 at 2 threads 8% faster than with 4. Where only 1
// chunk per thread splits n evenly, they get 1: stories110M's f16 and q8_0 o and down projections are 6 jobs
// (tiles of 8 groups), which 4 chunks cut 1 2 1 2, leaving one thread 4 of the 6 (alternated, 2 threads,
// medians of 8 and 12 runs: f16 199 -> 207 and 135 -> 138 tok/s, q8_0 316 -> 321 and 294 -> 302). Larger
// jobs get guided chunks: each takes 1/(2·threads) of what is left, down to 1/(16·threads) of the whole (and
// kMinChunkWork), so the last chunks are short and a thread that finishes first waits less for the others.
// With 4 equal chunks per thread, TinyLlama's q4_0 decode at 2 threads spent 9% of the main thread's time
// waiting for the other at the end of a matmul (2.6% guided).
inline constexpr int kMaxChunksPerThread = 8;
inline constexpr int64_t kMinChunkWork = 256 * 1024;
inline int chunk_bounds(int n, int64_t work, int threads, int* bounds) {
  bounds[0] = 0;
  if (work < kSmallParallelWork) {
    int chunks = std::min(n, 2 * threads);
    if (n % chunks != 0 && n % threads == 0) chunks = threads;
    for (int i = 1; i <= chunks; ++i) bounds[i] = static_cast<int>(int64_t{n} * i / chunks);
    return chunks;
  }
  const int least = static_cast<int>(std::max({int64_t{1}, int64_t{n} / (16 * threads), kMinChunkWork * n / work}));
  int chunks = 0;
  for (int begin = 0; begin < n;) {
    begin = std::min(n, begin + std::max(least, (n - begin + 2 * threads - 1) / (2 * threads)));
    bounds[++chunks] = begin;
  }
  assert(chunks <= kMaxChunksPerThread * threads);
  return chunks;
}

namespace detail {

inline int& configured_threads() {
  static int n = std::max(1u, std::thread::hardware_concurrency());
  return n;
}
inline thread_local int tls_thread_index = 0;

class Pool {
 public:
  explicit Pool(int threads) : threads_(threads), bounds_(kMaxChunksPerThread * threads + 1) {
    for (int id = 1; id < threads_; ++id) workers_.emplace_back([this, id] { worker(id); });
  }
  ~Pool() {
    stop_.store(true);
    state_.fetch_add(uint64_t{1} << 32);
    state_.notify_all();
    for (auto& t : workers_) t.join();
  }
  int threads() const { return threads_; }

  // Runs fn(begin, end) over the chunks of [0, n) (chunk_bounds); returns when all are done.
  template <typename F>
  void run(int n, int64_t cost, F& fn) {
    const int chunks = chunk_bounds(n, cost, threads_, bounds_.data());
    chunks_ = chunks;
    ctx_ = &fn;
    invoke_ = [](void* ctx, int b, int e) { (*static_cast<F*>(ctx))(b, e); };
    done_.store(0, std::memory_order_relaxed);
    const uint64_t gen = (state_.load(std::memory_order_relaxed) >> 32) + 1;
    state_.store(gen << 32, std::memory_order_release);  // publishes the job, chunk counter 0
    if (sleepers_.load(std::memory_order_acquire) > 0) state_.notify_all();
    const int mine = work(gen);
    int done = done_.fetch_add(mine, std::memory_order_acq_rel) + mine;
    while (done < chunks) {
      _mm_pause();
      done = done_.load(std::memory_order_acquire);
    }
  }

 private:
  // Claims and runs chunks of generation gen until none are left; returns how many it ran.
  int work(uint64_t gen) {
    int ran = 0;
    uint64_t s = state_.load(std::memory_order_acquire);
    while ((s >> 32) == gen) {
      const int idx = static_cast<int>(s & 0xffffffffu);
      if (idx >= chunks_) break;
      if (!state_.compare_exchange_weak(s, s + 1, std::memory_order_acq_rel, std::memory_order_acquire)) continue;
      invoke_(ctx_, bounds_[idx], bounds_[idx + 1]);
      ++ran;
      s = state_.load(std::memory_order_acquire);
    }
    return ran;
  }

  void worker(int id) {
    tls_thread_index = id;
    uint64_t seen = 0;
    while (true) {
      uint64_t s = state_.load(std::memory_order_acquire);
      // Spin briefly, then yield, then sleep until the next job is published.
      for (int spin = 0; (s >> 32) == seen && !stop_.load(std::memory_order_relaxed); ++spin) {
        if (spin < 20000) {
          _mm_pause();
        } else if (spin < 22000) {
          std::this_thread::yield();
        } else {
          sleepers_.fetch_add(1, std::memory_order_acq_rel);
          s = state_.load(std::memory_order_acquire);
          if ((s >> 32) == seen && !stop_.load()) state_.wait(s, std::memory_order_acquire);
          sleepers_.fetch_sub(1, std::memory_order_acq_rel);
          spin = 0;
        }
        s = state_.load(std::memory_order_acquire);
      }
      if (stop_.load()) return;
      seen = s >> 32;
      const int ran = work(seen);
      if (ran) done_.fetch_add(ran, std::memory_order_acq_rel);
    }
  }

  const int threads_;
  std::vector<std::thread> workers_;
  alignas(64) std::atomic<uint64_t> state_{0};  // generation << 32 | next chunk
  alignas(64) std::atomic<int> done_{0};
  alignas(64) std::atomic<int> sleepers_{0};
  std::atomic<bool> stop_{false};
  std::vector<int> bounds_;
  int chunks_ = 0;
  void* ctx_ = nullptr;
  void (*invoke_)(void*, int, int) = nullptr;
};

inline std::unique_ptr<Pool>& pool_slot() {
  static std::unique_ptr<Pool> p;
  return p;
}

}  // namespace detail

inline int max_threads() {
#ifdef _OPENMP
  return detail::configured_threads();
#else
  return 1;
#endif
}

inline void set_threads(int n) {
  n = std::max(1, n);
  if (n != detail::configured_threads()) detail::pool_slot().reset();
  detail::configured_threads() = n;
}

inline int thread_index() { return detail::tls_thread_index; }

// Calls fn(begin, end) on disjoint contiguous ranges covering [0, n), from up to max_threads() threads.
// Must not be nested.
template <typename F>
inline void parallel_for(int n, int64_t work, F&& fn) {
  const int threads = work < kMinParallelWork ? 1 : std::min(n, max_threads());
  if (threads <= 1) {
    fn(0, n);
    return;
  }
  auto& pool = detail::pool_slot();
  if (!pool || pool->threads() != max_threads()) pool = std::make_unique<detail::Pool>(max_threads());
  pool->run(n, work, fn);
}

}  // namespace llmc
