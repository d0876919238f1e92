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
// environment variable CNNCORE_SIMD=generic (read once) or set_simd_level() forces the generic,
// baseline-x86-64 (or portable) path.
enum class SimdLevel { kGeneric = 0, kAvx2 = 1 };
SimdLevel simd_level() noexcept;          // the level the kernels use now
SimdLevel simd_best() noexcept;           // the best level this CPU and build support
void set_simd_level(SimdLevel level) noexcept;  // clamped to simd_best()

}  // namespace cnncore
