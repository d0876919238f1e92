// common.cpp - the thread-count policy (see common.h).
#include "common.h"

#include <atomic>

#if defined(__SSE__) || defined(__x86_64__)
#include <xmmintrin.h>
#define CNNCORE_HAVE_MXCSR 1
#endif
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <thread>
#include <vector>

#if defined(__linux__)
#include <sched.h>
#define CNNCORE_HAVE_SCHED 1
#endif
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
  // Inside a parallel call (the engine runs a sub-batch per thread) every kernel runs serially.
  if (in_parallel_tasks() || omp_in_parallel()) return 1;
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
    : owner_(std::this_thread::get_id()), outer_(t_call) {
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

// ---- the task pool -------------------------------------------------------------------------------
// One job at a time: a call publishes its job (function, context, task count) under a new odd
// generation number, wakes the workers, and takes tasks itself; when none is left it closes the
// job (even generation) and waits only for the workers that joined it, each finishing the task it
// holds. A worker joins by counting itself in `active_` and then checking that the generation is
// still the job's (sequentially consistent on both sides, so either the caller sees it counted
// or it sees the job closed): a worker that wakes after the close never touches the job.
// Workers spin briefly after a job (the next layer's call usually follows within microseconds)
// and then sleep on a condition variable.
namespace {

thread_local int t_in_tasks = 0;

inline void cpu_relax() noexcept {
#if defined(CNNCORE_HAVE_MXCSR)
  _mm_pause();
#else
  std::this_thread::yield();
#endif
}

class TaskPool {
 public:
  static TaskPool& get() {
    static TaskPool* pool = new TaskPool;  // never destroyed: workers may outlive static teardown
    return *pool;
  }

  // False when the pool is busy with another call (the caller then runs alone).
  bool run(index_t tasks, int threads, TaskFn fn, void* context, Interruptible* call) {
    std::unique_lock<std::mutex> busy(busy_, std::try_to_lock);
    if (!busy.owns_lock()) return false;
    if (!ensure_workers(threads - 1)) return false;
    fn_ = fn;
    context_ = context;
    call_ = call;
    threads_ = threads;
    total_ = tasks;
    next_.store(0, std::memory_order_relaxed);
    next_tid_.store(1, std::memory_order_relaxed);
#if defined(CNNCORE_HAVE_SCHED)
    caller_cpu_.store(sched_getcpu(), std::memory_order_relaxed);
#endif
    const std::uint64_t gen = generation_.load(std::memory_order_relaxed) + 1;  // odd: open
    generation_.store(gen, std::memory_order_seq_cst);
    if (sleeping_.load(std::memory_order_seq_cst) > 0) {
      std::lock_guard<std::mutex> lock(sleep_lock_);
      wake_.notify_all();
    }
    {
      // Run the caller's share at the same stack offset (mod 4 KB) as a worker's (see
      // stack_offset): its locals then fall where the workers' do, whatever the offset the
      // process's stack started at (randomised, and shifted by the environment's size). With the
      // start fixed (setarch -R), the lecture's network at batch 64 on two threads ran at
      // 31,000-34,000 or 44,000 images/s depending on the environment's size before this, and at
      // 44,000-45,000 for all eight sizes tried after. (With randomised addresses some processes
      // are still slower, 25,000-37,000 in three of eight: page-level placements of the buffers,
      // not addressed here.)
#if defined(__GNUC__)
      const std::uintptr_t want = worker_offset_.load(std::memory_order_relaxed);
      std::uintptr_t pad = 0;
      if (want != kNoOffset) pad = (stack_offset() - want) & 4095;
      volatile char* shift = static_cast<volatile char*>(__builtin_alloca(pad + 1));
      shift[0] = 0;
#endif
      work(0);
    }
    generation_.store(gen + 1, std::memory_order_seq_cst);  // even: closed
    for (int spins = 0; active_.load(std::memory_order_seq_cst) > 0; ++spins)
      if (spins < 4096) cpu_relax(); else std::this_thread::yield();
    return true;
  }

 private:
  TaskPool() = default;

  void work(int tid) {
    ++t_in_tasks;
    DenormalGuard guard;
    Interruptible::Adopt adopt(call_);
    for (;;) {
      const index_t t = next_.fetch_add(1, std::memory_order_relaxed);
      if (t >= total_) break;
      if (!call_ || !call_->should_stop()) fn_(context_, t, tid);
    }
    --t_in_tasks;
  }

  bool ensure_workers(int count) {
    if (static_cast<int>(workers_.size()) >= count) return true;
    // A new worker starts from the generation before the job about to be published: one that
    // read it only once running would take that job for one already seen, and leave the first
    // parallel call of a process (or the first after more threads were asked for) to the caller.
    const std::uint64_t before = generation_.load(std::memory_order_relaxed);
    try {
      while (static_cast<int>(workers_.size()) < count)
        workers_.emplace_back([this, before] { worker_loop(before); });
    } catch (...) {  // no thread could be created: the caller runs alone
      return static_cast<int>(workers_.size()) >= count;
    }
    return true;
  }

  void worker_loop(std::uint64_t seen) {
    for (;;) {
      std::uint64_t gen = seen;
      // Spin for about 100 us (the next kernel of a network usually follows within a few), then
      // sleep until a new job is published.
      for (int spins = 0; spins < 4000 && gen == seen; ++spins) {
        cpu_relax();
        gen = generation_.load(std::memory_order_acquire);
      }
      if (gen == seen) {
        std::unique_lock<std::mutex> lock(sleep_lock_);
        sleeping_.fetch_add(1, std::memory_order_seq_cst);
        wake_.wait(lock, [&] {
          gen = generation_.load(std::memory_order_seq_cst);
          return gen != seen;
        });
        sleeping_.fetch_sub(1, std::memory_order_relaxed);
        lock.unlock();
        move_off_cpu(caller_cpu_.load(std::memory_order_relaxed));
      }
      seen = gen;
      if ((gen & 1) == 0) continue;  // closed before this worker got here
      active_.fetch_add(1, std::memory_order_seq_cst);
      if (generation_.load(std::memory_order_seq_cst) == gen) {
        const int tid = next_tid_.fetch_add(1, std::memory_order_relaxed);
        if (tid == 1) worker_offset_.store(stack_offset(), std::memory_order_relaxed);
        if (tid < threads_) work(tid);
      }
      active_.fetch_sub(1, std::memory_order_seq_cst);
    }
  }

  // A worker woken from its sleep is often placed by the scheduler on the CPU of the thread that
  // woke it (the caller, which is about to work): both would then share one CPU, and stay so
  // for milliseconds until the load balancer separates them (the lecture's network at batch 1
  // on two threads: 148 us per image after 0.3 s of idleness, 66 when called back to back).
  // Such a worker steps off that CPU at once, by excluding it from its affinity for a moment.
  static void move_off_cpu(int cpu) noexcept {
#if defined(CNNCORE_HAVE_SCHED)
    if (cpu < 0 || sched_getcpu() != cpu) return;
    cpu_set_t allowed, others;
    if (sched_getaffinity(0, sizeof(allowed), &allowed) != 0 || !CPU_ISSET(cpu, &allowed)) return;
    others = allowed;
    CPU_CLR(cpu, &others);
    if (CPU_COUNT(&others) == 0) return;
    if (sched_setaffinity(0, sizeof(others), &others) == 0)
      sched_setaffinity(0, sizeof(allowed), &allowed);
#else
    (void)cpu;
#endif
  }

  // Where the stack pointer is, mod 4 KB, in the function that calls work(): not inlined, so
  // that the caller and the workers measure at the same depth.
  static constexpr std::uintptr_t kNoOffset = ~std::uintptr_t(0);
#if defined(__GNUC__)
  __attribute__((noinline))
#endif
  static std::uintptr_t stack_offset() noexcept {
    volatile char here = 0;
    return reinterpret_cast<std::uintptr_t>(&here) & 4095;
  }

  std::atomic<std::uintptr_t> worker_offset_{kNoOffset};  // the first worker's stack_offset()
  std::atomic<int> caller_cpu_{-1};
  std::mutex busy_;                   // one call at a time
  std::vector<std::thread> workers_;  // guarded by busy_
  std::mutex sleep_lock_;
  std::condition_variable wake_;
  std::atomic<int> sleeping_{0};
  std::atomic<std::uint64_t> generation_{0};
  std::atomic<int> active_{0};
  std::atomic<index_t> next_{0};
  std::atomic<int> next_tid_{1};
  // The job: written by the caller before the generation is published, read by workers after.
  TaskFn fn_ = nullptr;
  void* context_ = nullptr;
  Interruptible* call_ = nullptr;
  int threads_ = 1;
  index_t total_ = 0;
};

}  // namespace

bool in_parallel_tasks() noexcept { return t_in_tasks > 0; }

void run_tasks(index_t tasks, int threads, TaskFn fn, void* context, Interruptible* call) noexcept {
  note_parallel_region();
  if (threads > 1 && tasks > 1 && t_in_tasks == 0 && !forked_after_parallel() &&
      TaskPool::get().run(tasks, threads, fn, context, call))
    return;
  ++t_in_tasks;
  {
    DenormalGuard guard;
    for (index_t t = 0; t < tasks; ++t)  // polled between tasks: a one-task call never is
      if (t == 0 || !call || !call->should_stop()) fn(context, t, 0);
  }
  --t_in_tasks;
}

bool have_openmp() noexcept {
#if defined(CNNCORE_HAVE_OPENMP)
  return true;
#else
  return false;
#endif
}

}  // namespace cnncore
