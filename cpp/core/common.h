// common.h - types, checked arithmetic and the thread-count policy shared by every op family.
//
// The core is plain C++17 with optional OpenMP: nothing here (or anywhere under cpp/core) includes
// pybind11, so the core builds, tests and benchmarks on its own. Errors in arguments are reported by
// throwing std::invalid_argument (which the bindings turn into ValueError) from validate() functions,
// before any kernel runs; kernels themselves are noexcept and allocate nothing.
#pragma once

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <climits>
#include <new>
#include <stdexcept>

#if defined(CNNCORE_HAVE_OPENMP)
#include <omp.h>
#endif
#include <string>
#include <thread>
#include <type_traits>

namespace cnncore {

using index_t = std::int64_t;

// Every extent, stride, padding and dilation handed to the core must be below this bound, so that
// any index expression of the form a*b + c*d - e that validate() has bounded stays inside int64.
constexpr index_t kMaxExtent = index_t(1) << 62;

// a * b, or -1 when it would exceed kMaxExtent (a, b >= 0).
inline index_t checked_mul(index_t a, index_t b) noexcept {
  if (a < 0 || b < 0) return -1;
  if (a == 0 || b == 0) return 0;
  if (a > kMaxExtent / b) return -1;
  return a * b;
}

// a + b, or -1 when it would exceed kMaxExtent (a, b >= 0).
inline index_t checked_add(index_t a, index_t b) noexcept {
  if (a < 0 || b < 0 || a > kMaxExtent - b) return -1;
  return a + b;
}

// A 64-byte aligned float buffer (for the generic translation units; SIMD files take raw pointers).
class AlignedFloats {
 public:
  AlignedFloats() = default;
  explicit AlignedFloats(index_t count) { resize(count); }
  AlignedFloats(const AlignedFloats&) = delete;
  AlignedFloats& operator=(const AlignedFloats&) = delete;
  ~AlignedFloats() { ::operator delete[](raw_, std::align_val_t(64)); }
  // Throws std::bad_alloc for a count whose byte size does not fit (it would wrap).
  void resize(index_t count) {
    ::operator delete[](raw_, std::align_val_t(64));
    raw_ = nullptr;
    size_ = 0;
    if (count > PTRDIFF_MAX / static_cast<index_t>(sizeof(float))) throw std::bad_alloc();
    size_ = count;
    if (count > 0)
      raw_ = static_cast<float*>(::operator new[](static_cast<std::size_t>(count) * sizeof(float),
                                                  std::align_val_t(64)));
  }
  float* data() noexcept { return raw_; }
  const float* data() const noexcept { return raw_; }
  index_t size() const noexcept { return size_; }

 private:
  float* raw_ = nullptr;
  index_t size_ = 0;
};

[[noreturn]] inline void fail(const std::string& fname, const std::string& what) {
  throw std::invalid_argument(fname + ": " + what);
}

// ---- threads ------------------------------------------------------------------------------------
// The thread count used by every parallel region. set_num_threads(n) (n >= 1) fixes it for every
// calling thread (and sets OpenMP's own value on the thread that calls it); set_num_threads(0)
// returns to the default, OpenMP's (OMP_NUM_THREADS or the number of cores). A limit set later on
// the calling thread through OpenMP's API (as threadpoolctl does) is honoured while it lasts.
int num_threads() noexcept;
void set_num_threads(int n) noexcept;

// While alive, num_threads() is 1 on the calling thread: for callers that know a whole sequence
// of kernels is too small to be worth waking other threads for (the engine at batch 1).
class SerialScope {
 public:
  SerialScope() noexcept;
  ~SerialScope();
  SerialScope(const SerialScope&) = delete;
  SerialScope& operator=(const SerialScope&) = delete;
};
bool have_openmp() noexcept;

// The work (elementary operations) a kernel aims to put in one task when it can choose: about a
// millisecond, so that splitting costs nothing and an interruption is seen promptly.
constexpr index_t kTaskWork = index_t(1) << 22;

// Threads worth using for `work` elementary operations: one below ~64k (waking a second thread
// costs more than the work), num_threads() otherwise.
inline int threads_for(index_t work) noexcept { return work < (index_t(1) << 16) ? 1 : num_threads(); }

// Denormals: while alive, the calling thread flushes denormal inputs and results to zero (x86:
// MXCSR's DAZ and FTZ bits), so subnormal data never takes the slow microcode path; the
// caller's floating-point state is restored on destruction. Every kernel task runs under one,
// in every thread. Defined out of line, so the SIMD translation units share the baseline copy.
class DenormalGuard {
 public:
  DenormalGuard() noexcept;
  ~DenormalGuard();
  DenormalGuard(const DenormalGuard&) = delete;
  DenormalGuard& operator=(const DenormalGuard&) = delete;

 private:
  unsigned saved_ = 0;
};

// ---- interruption ------------------------------------------------------------------------------
// A long call can be stopped between two of its tasks. The front end installs a poll function
// (the Python bindings check for Ctrl-C there) and opens an Interruptible scope on the calling
// thread around the kernel; parallel_tasks then calls the poll function from that thread at most
// every kPollInterval, and once it has returned true every remaining task of the call, on every
// thread, is skipped. The output is then incomplete: the caller must check interrupted() and
// discard it. Without a scope (the core's own tests, benchmarks) nothing is ever polled.
using InterruptPoll = bool (*)();
void set_interrupt_poll(InterruptPoll poll) noexcept;
InterruptPoll interrupt_poll() noexcept;

class Interruptible {
 public:
  static constexpr std::chrono::milliseconds kPollInterval{20};
  Interruptible() noexcept;   // becomes the calling thread's current call
  ~Interruptible();
  Interruptible(const Interruptible&) = delete;
  Interruptible& operator=(const Interruptible&) = delete;

  bool interrupted() const noexcept { return stop_.load(std::memory_order_relaxed); }
  // True when the call's remaining work should be skipped; polls when called on the owning
  // thread and the interval has passed.
  bool should_stop() noexcept {
    if (stop_.load(std::memory_order_relaxed)) return true;
    if (std::this_thread::get_id() != owner_) return false;
    const auto now = std::chrono::steady_clock::now();
    if (last_poll_ == std::chrono::steady_clock::time_point{}) {
      last_poll_ = now;  // the first task: the interval starts here (a tiny call never reads the clock)
      return false;
    }
    if (now - last_poll_ < kPollInterval) return false;
    last_poll_ = now;
    InterruptPoll poll = interrupt_poll();
    if (poll && poll()) stop_.store(true, std::memory_order_relaxed);
    return stop_.load(std::memory_order_relaxed);
  }
  // The scope the calling thread has open, or nullptr.
  static Interruptible* current() noexcept;
  // Worker threads of a region adopt the caller's scope, so nested calls on them see it too.
  class Adopt {
   public:
    explicit Adopt(Interruptible* scope) noexcept;
    ~Adopt();
    Adopt(const Adopt&) = delete;
    Adopt& operator=(const Adopt&) = delete;

   private:
    Interruptible* saved_;
  };

 private:
  std::atomic<bool> stop_{false};
  std::thread::id owner_;
  std::chrono::steady_clock::time_point last_poll_;
  Interruptible* outer_;
};

// ---- fork ---------------------------------------------------------------------------------------
// Worker threads do not survive fork(): cnncore's pool has none in a child, and GNU OpenMP's hangs
// a child that opens a region after its parent did. Every parallel call is announced here first; a
// child forked after one runs serially (num_threads() is 1 there).
void note_parallel_region() noexcept;
bool forked_after_parallel() noexcept;

// Work splitting that keeps results independent of the thread count: each task is computed
// entirely by one thread in a fixed order, so only who computes it changes, never how.
// parallel_tasks runs body(task, thread_index) for task in [0, tasks) on up to `threads` threads
// (thread_index < threads indexes per-thread scratch), each thread under a DenormalGuard. Tasks
// are handed out one at a time as threads become free, and the calling thread (the one that polls
// for Ctrl-C, see Interruptible) takes them too, to the end. The other threads come from
// cnncore's own pool (run_tasks), which unlike an OpenMP region never waits for a thread that has
// not started: on a shared machine, a worker whose core is busy elsewhere delays the call by at
// most the one task it took, and a worker that wakes too late finds nothing left to do. Tasks are
// the unit of interruption: keep each one short (milliseconds). The body must not throw.
using TaskFn = void (*)(void* context, index_t task, int thread_index);
// The pool's entry point (a call from inside a task, or while another call has the pool, runs
// its tasks on the calling thread alone).
void run_tasks(index_t tasks, int threads, TaskFn fn, void* context, Interruptible* call) noexcept;
// True on a thread that is running tasks of a parallel call (kernels called there run serially).
bool in_parallel_tasks() noexcept;

template <class F>
inline void parallel_tasks(index_t tasks, int threads, F&& body) {
  Interruptible* call = Interruptible::current();
  if (threads > 1 && tasks > 1) {
    using Body = std::remove_reference_t<F>;
    run_tasks(tasks, threads,
              [](void* c, index_t t, int tid) { (*static_cast<Body*>(c))(t, tid); },
              const_cast<void*>(static_cast<const void*>(&body)), call);
    return;
  }
  // One thread: no pool at all.
  DenormalGuard guard;
  for (index_t t = 0; t < tasks; ++t)
    if (!call || !call->should_stop()) body(t, 0);
}

// parallel_for: as parallel_tasks, with `work_per_item` (elementary operations) deciding
// whether a second thread is worth waking.
template <class F>
inline void parallel_for(index_t count, index_t work_per_item, F&& body) {
  int nt = threads_for(count * (work_per_item < 1 ? 1 : work_per_item));
  if (nt > count) nt = static_cast<int>(count < 1 ? 1 : count);
  parallel_tasks(count, nt, [&](index_t i, int) { body(i); });
}

}  // namespace cnncore
