// conv_rows_band.h - how the shifted-copies and pointwise kernels lay their tiles over a band.
//
// Included only by conv_gemm_avx2.cpp and conv_rows_avx512.cpp, each with its own instruction-set
// flags. Everything here is in an anonymous namespace, so each file compiles its own copy: one
// inline function shared between them could be linked as the AVX-512 copy into AVX2 code. (A
// single copy in the baseline conv.cpp, calling the tiles through a pointer, measured 4-7 %
// slower on the lecture's first layer.)
#pragma once

#include "conv_gemm.h"

namespace cnncore {
namespace {

// The band's Q pixels, one flat run (tap k at copies + koff[k]), for the group's cout_g filters
// (packed_g: the group's panels; bias_g may be null), into yb (filter f at yb + f * out_plane).
// tiles(nf, vectors, s, koff, K, wk, bias, y, ystride) computes nf <= F filters x `vectors`
// (1 to 3) vectors of VEC pixels; F divides 16, so a tile's filters stay in one panel. The pixels
// are covered as conv_rows_next_tile says.
template <index_t VEC, int F, class Tiles>
inline void rows_band(Tiles tiles, const float* copies, const index_t* koff, index_t K, index_t Q,
                      const float* packed_g, index_t cout_g, const float* bias_g, float* yb,
                      index_t out_plane) {
  static_assert(16 % F == 0 && 3 * VEC <= kRowsTilePixels, "a panel's filters, the copies' slack");
  alignas(64) float small[F * 3 * VEC];
  for (index_t q0 = 0; q0 < Q;) {
    const RowsTile tile = conv_rows_next_tile(Q, q0, VEC);
    const index_t q = tile.start;
    const int pv = tile.vectors;
    q0 = tile.buffered ? Q : q + VEC * pv;
    for (index_t f0 = 0; f0 < cout_g; f0 += F) {
      const int nf = static_cast<int>(cout_g - f0 < F ? cout_g - f0 : F);
      const float* wk = packed_g + (f0 / kGemmNR) * K * kGemmNR + f0 % kGemmNR;
      const float* bp = bias_g ? bias_g + f0 : nullptr;
      if (!tile.buffered) {
        tiles(nf, pv, copies + q, koff, K, wk, bp, yb + f0 * out_plane + q, out_plane);
      } else {
        tiles(nf, 1, copies, koff, K, wk, bp, small, 3 * VEC);
        for (int i = 0; i < nf; ++i)
          for (index_t j = 0; j < Q; ++j) yb[(f0 + i) * out_plane + j] = small[i * 3 * VEC + j];
      }
    }
  }
}

}  // namespace
}  // namespace cnncore
