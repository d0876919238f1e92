// common.cpp - the thread-count policy (see common.h).
#include "common.h"

#include <atomic>

#if defined(__SSE__) || defined(__x86_64__)
#include <xmmintrin.h>
#define CNNCORE_HAVE_MXCSR 1
#endif
#include <thread>

#if defined(CNNCORE_HAVE_OPENMP)
#include <omp.h>
#endif

namespace cnncore {

namespace {
std::atomic<int> g_threads{0};  // 0: OpenMP's default

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

bool have_openmp() noexcept {
#if defined(CNNCORE_HAVE_OPENMP)
  return true;
#else
  return false;
#endif
}

}  // namespace cnncore
