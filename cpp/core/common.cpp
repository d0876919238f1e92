// common.cpp - the thread-count policy (see common.h).
#include "common.h"

#include <atomic>

#if defined(__SSE__) || defined(__x86_64__)
#include <xmmintrin.h>
#define CNNCORE_HAVE_MXCSR 1
#endif
#include <thread>

#if defined(__unix__) || defined(__APPLE__)
#include <pthread.h>
#define CNNCORE_HAVE_PTHREAD_ATFORK 1
#endif

#if defined(CNNCORE_HAVE_OPENMP)
#include <omp.h>
#endif

namespace cnncore {

namespace {
std::atomic<int> g_threads{0};  // 0: OpenMP's default
std::atomic<InterruptPoll> g_poll{nullptr};
thread_local Interruptible* t_call = nullptr;
thread_local int t_serial = 0;
std::atomic<bool> g_parallel_used{false};
std::atomic<bool> g_forked_after_parallel{false};

#if defined(CNNCORE_HAVE_PTHREAD_ATFORK)
void on_fork_child() {
  if (g_parallel_used.load(std::memory_order_relaxed))
    g_forked_after_parallel.store(true, std::memory_order_relaxed);
}
[[maybe_unused]] const bool g_atfork_registered = [] {
  pthread_atfork(nullptr, nullptr, &on_fork_child);
  return true;
}();
#endif

#if defined(CNNCORE_HAVE_OPENMP)
int process_default() noexcept {
  // What a thread nobody configured gets: OMP_NUM_THREADS or the number of cores. Read on a new
  // thread, since the calling thread's own value may have been changed already (by another
  // library sharing this OpenMP runtime, say).
  static const int value = [] {
    int v = 1;
    std::thread probe([&v] { v = omp_get_max_threads(); });
    probe.join();
    return v;
  }();
  return value;
}
#endif
}  // namespace

int num_threads() noexcept {
#if defined(CNNCORE_HAVE_OPENMP)
  if (t_serial > 0 || g_forked_after_parallel.load(std::memory_order_relaxed)) return 1;
  // Inside a parallel region (the engine runs a sub-batch per thread) every kernel runs serially.
  if (omp_in_parallel()) return 1;
  const int set = g_threads.load(std::memory_order_relaxed);
  const int here = omp_get_max_threads();
  // The set count wins on threads whose OpenMP setting nobody changed (it still equals the
  // process default) and on the thread that set it (set_num_threads also sets OpenMP's value
  // there). A different value on the calling thread was set later through OpenMP's API, e.g. by
  // threadpoolctl.threadpool_limits: that one is honoured while it lasts.
  int n = (set > 0 && (here == set || here == process_default())) ? set : here;
  return n < 1 ? 1 : n;
#else
  return 1;
#endif
}

void set_num_threads(int n) noexcept {
#if defined(CNNCORE_HAVE_OPENMP)
  (void)process_default();
  if (n > 0) omp_set_num_threads(n);
#endif
  g_threads.store(n < 0 ? 0 : n, std::memory_order_relaxed);
}

DenormalGuard::DenormalGuard() noexcept {
#if defined(CNNCORE_HAVE_MXCSR)
  saved_ = _mm_getcsr();
  _mm_setcsr(saved_ | 0x8040u);  // FTZ (bit 15) | DAZ (bit 6)
#endif
}

DenormalGuard::~DenormalGuard() {
#if defined(CNNCORE_HAVE_MXCSR)
  _mm_setcsr(saved_);
#endif
}

SerialScope::SerialScope() noexcept { ++t_serial; }
SerialScope::~SerialScope() { --t_serial; }

void set_interrupt_poll(InterruptPoll poll) noexcept { g_poll.store(poll); }
InterruptPoll interrupt_poll() noexcept { return g_poll.load(std::memory_order_relaxed); }

Interruptible::Interruptible() noexcept
    : owner_(std::this_thread::get_id()), last_poll_(std::chrono::steady_clock::now()),
      outer_(t_call) {
  t_call = this;
}
Interruptible::~Interruptible() { t_call = outer_; }
Interruptible* Interruptible::current() noexcept { return t_call; }
Interruptible::Adopt::Adopt(Interruptible* scope) noexcept : saved_(t_call) { t_call = scope; }
Interruptible::Adopt::~Adopt() { t_call = saved_; }

void note_parallel_region() noexcept {
  if (!g_parallel_used.load(std::memory_order_relaxed))
    g_parallel_used.store(true, std::memory_order_relaxed);
}
bool forked_after_parallel() noexcept {
  return g_forked_after_parallel.load(std::memory_order_relaxed);
}

bool have_openmp() noexcept {
#if defined(CNNCORE_HAVE_OPENMP)
  return true;
#else
  return false;
#endif
}

}  // namespace cnncore
