// conv_rows_avx512.cpp - the AVX-512 tiles of the shifted-copies and pointwise kernels (conv_gemm.h).
//
// Compiled with -mavx512f and reached only when use_avx512(). The AVX2 driver builds the shifted
// row copies and calls this for each band; see conv_gemm_avx2.cpp for the layout. A tile is F <= 8
// filters x 48 pixels (three 16-float vectors): 24 accumulators among the 32 registers, per tap
// three loads and F broadcasts for 3F FMAs, so the stores and the loop around them weigh half as
// much per output as in the 24-pixel AVX2 tile (25 taps of a 5x5 kernel are a short loop). Each
// output is the same FMA chain as there (taps in (a, b) order from zero, then the bias): the
// results are bitwise those of the AVX2 and GEMM kernels.
#include <immintrin.h>

#include "conv_gemm.h"
#include "conv_rows_band.h"

namespace cnncore {

namespace {

// The AVX-512 vector for the tiles of conv_rows_band.h.
struct Avx512 {
  using reg = __m512;
  static constexpr index_t kWidth = 16;
  static reg zero() { return _mm512_setzero_ps(); }
  static reg load(const float* p) { return _mm512_loadu_ps(p); }
  static reg bcast(const float* p) { return _mm512_set1_ps(*p); }
  static reg fma(reg a, reg b, reg c) { return _mm512_fmadd_ps(a, b, c); }
  static reg add(reg a, reg b) { return _mm512_add_ps(a, b); }
  static void store(float* p, reg v) { _mm512_storeu_ps(p, v); }
};

}  // namespace

void conv_rows_band_avx512(const float* copies, const index_t* koff, index_t K, index_t Q,
                           const float* packed_g, index_t cout_g, const float* bias_g, float* yb,
                           index_t out_plane) noexcept {
  rows_band<Avx512, 8>(copies, koff, K, Q, packed_g, cout_g, bias_g, yb, out_plane);
}

}  // namespace cnncore
