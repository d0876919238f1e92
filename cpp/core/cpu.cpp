// cpu.cpp - CPU feature detection.
#include "cpu.h"

#include <atomic>
#include <cstdlib>
#include <cstring>

namespace cnncore {

CpuInfo cpu_info() noexcept {
  CpuInfo info;
#if (defined(__x86_64__) || defined(__i386__)) && (defined(__GNUC__) || defined(__clang__))
  __builtin_cpu_init();
  info.avx2 = __builtin_cpu_supports("avx2");
  info.fma = __builtin_cpu_supports("fma");
  info.avx512f = __builtin_cpu_supports("avx512f");
#elif defined(__aarch64__)
  info.neon = true;
#endif
  return info;
}

std::string cpu_features() {
  const CpuInfo c = cpu_info();
  std::string out;
  auto add = [&out](bool on, const char* name) {
    if (!on) return;
    if (!out.empty()) out += ' ';
    out += name;
  };
  add(c.avx2, "avx2");
  add(c.fma, "fma");
  add(c.avx512f, "avx512f");
  add(c.neon, "neon");
  return out;
}

namespace {
std::atomic<int> g_level{-1};  // -1: not decided yet

int initial_level() noexcept {
  const char* env = std::getenv("CNNCORE_SIMD");
  const int best = static_cast<int>(simd_best());
  if (env && std::strcmp(env, "generic") == 0) return 0;
  if (env && std::strcmp(env, "avx2") == 0) return best < 1 ? best : 1;
  return best;
}
}  // namespace

SimdLevel simd_best() noexcept {
#if defined(CNNCORE_HAVE_AVX2_KERNELS)
  const CpuInfo c = cpu_info();
#if defined(CNNCORE_HAVE_AVX512_KERNELS)
  // __builtin_cpu_supports also checks that the OS saves the AVX-512 registers (XCR0).
  if (c.avx2 && c.fma && c.avx512f) return SimdLevel::kAvx512;
#endif
  if (c.avx2 && c.fma) return SimdLevel::kAvx2;
#endif
  return SimdLevel::kGeneric;
}

namespace {
int current_level() noexcept {
  int v = g_level.load(std::memory_order_relaxed);
  if (v < 0) {
    v = initial_level();
    g_level.store(v, std::memory_order_relaxed);
  }
  return v;
}
}  // namespace

SimdLevel simd_level() noexcept {
  return current_level() >= 1 ? SimdLevel::kAvx2 : SimdLevel::kGeneric;
}

bool use_avx512() noexcept { return current_level() == static_cast<int>(SimdLevel::kAvx512); }

void set_simd_level(SimdLevel level) noexcept {
  int v = static_cast<int>(level);
  if (v > static_cast<int>(simd_best())) v = static_cast<int>(simd_best());
  g_level.store(v, std::memory_order_relaxed);
}

std::string simd_in_use() {
  if (use_avx512()) return "avx512f+avx2+fma";
  if (simd_level() == SimdLevel::kAvx2) return "avx2+fma";
#if defined(__SSE2__)
  return "sse2";
#elif defined(__ARM_NEON)
  return "neon";
#else
  return "generic";
#endif
}

std::string compiler_id() {
#if defined(__clang__)
  return std::string("clang ") + __clang_version__;
#elif defined(__GNUC__)
  return std::string("gcc ") + __VERSION__;
#elif defined(_MSC_VER)
  return "msvc " + std::to_string(_MSC_VER);
#else
  return "unknown";
#endif
}

}  // namespace cnncore
