// cpu.h - what the CPU offers and what the build uses, for show_config() and kernel dispatch.
#pragma once

#include <string>

namespace cnncore {

struct CpuInfo {
  bool avx2 = false, fma = false, avx512f = false, neon = false;
};

CpuInfo cpu_info() noexcept;
// What the CPU supports, e.g. "avx2 fma" ("" when none of the features cnncore looks for).
std::string cpu_features();
// The instruction set the kernels run with, as a name: "avx2+fma" when dispatched there, else the
// baseline the generic code was compiled for ("sse2", "neon" or "generic").
std::string simd_in_use();
std::string compiler_id();

// Run-time dispatch. The kernels choose their instruction set from what the CPU has, unless the
// environment variable CNNCORE_SIMD (read once: "generic" or "avx2") or set_simd_level() caps it.
// kAvx512 is the AVX2 level plus the few kernels that have an AVX-512 variant: simd_level() then
// still answers kAvx2 (every AVX2 kernel runs), and use_avx512() says whether those variants do.
enum class SimdLevel { kGeneric = 0, kAvx2 = 1, kAvx512 = 2 };
SimdLevel simd_level() noexcept;          // the level the kernels use now (kGeneric or kAvx2)
bool use_avx512() noexcept;               // the AVX-512 variants are in use
SimdLevel simd_best() noexcept;           // the best level this CPU and build support
void set_simd_level(SimdLevel level) noexcept;  // clamped to simd_best()

}  // namespace cnncore
