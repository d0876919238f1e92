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
// The instruction set the kernels run with: the one they were compiled for ("avx512", "avx2",
// "sse2", "neon" or "generic"; the environment variable CNNCORE_SIMD=generic forces "generic").
std::string simd_in_use();
std::string compiler_id();

}  // namespace cnncore
