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

template <int F, int P>
inline void tile(const float* s, const index_t* koff, index_t K, const float* wk,
                 const float* bias, float* y, index_t ystride) {
  __m512 acc[F][P];
#pragma GCC unroll 8
  for (int i = 0; i < F; ++i)
    for (int v = 0; v < P; ++v) acc[i][v] = _mm512_setzero_ps();
  for (index_t k = 0; k < K; ++k, wk += kGemmNR) {
    const float* q = s + koff[k];
    __m512 x[P];
    for (int v = 0; v < P; ++v) x[v] = _mm512_loadu_ps(q + 16 * v);
#pragma GCC unroll 8
    for (int i = 0; i < F; ++i) {
      const __m512 wv = _mm512_set1_ps(wk[i]);
      for (int v = 0; v < P; ++v) acc[i][v] = _mm512_fmadd_ps(x[v], wv, acc[i][v]);
    }
  }
#pragma GCC unroll 8
  for (int i = 0; i < F; ++i) {
    const __m512 bv = bias ? _mm512_set1_ps(bias[i]) : _mm512_setzero_ps();
    for (int v = 0; v < P; ++v)
      _mm512_storeu_ps(y + i * ystride + 16 * v, bias ? _mm512_add_ps(acc[i][v], bv) : acc[i][v]);
  }
}

template <int P>
void tiles_p(int f, const float* s, const index_t* koff, index_t K, const float* wk,
             const float* bias, float* y, index_t ystride) {
  switch (f) {
    case 8: tile<8, P>(s, koff, K, wk, bias, y, ystride); break;
    case 7: tile<7, P>(s, koff, K, wk, bias, y, ystride); break;
    case 6: tile<6, P>(s, koff, K, wk, bias, y, ystride); break;
    case 5: tile<5, P>(s, koff, K, wk, bias, y, ystride); break;
    case 4: tile<4, P>(s, koff, K, wk, bias, y, ystride); break;
    case 3: tile<3, P>(s, koff, K, wk, bias, y, ystride); break;
    case 2: tile<2, P>(s, koff, K, wk, bias, y, ystride); break;
    default: tile<1, P>(s, koff, K, wk, bias, y, ystride); break;
  }
}

// f filters x 16 * p pixels.
void tiles(int f, int p, const float* s, const index_t* koff, index_t K, const float* wk,
           const float* bias, float* y, index_t ystride) {
  if (p == 3) return tiles_p<3>(f, s, koff, K, wk, bias, y, ystride);
  if (p == 2) return tiles_p<2>(f, s, koff, K, wk, bias, y, ystride);
  tiles_p<1>(f, s, koff, K, wk, bias, y, ystride);
}

}  // namespace

void conv_rows_band_avx512(const float* copies, const index_t* koff, index_t K, index_t Q,
                           const float* packed_g, index_t cout_g, const float* bias_g, float* yb,
                           index_t out_plane) noexcept {
  rows_band<16, 8>([](int nf, int pv, const float* s, const index_t* ko, index_t k,
                      const float* wk, const float* bias, float* y, index_t ys) {
    tiles(nf, pv, s, ko, k, wk, bias, y, ys);
  }, copies, koff, K, Q, packed_g, cout_g, bias_g, yb, out_plane);
}

}  // namespace cnncore
