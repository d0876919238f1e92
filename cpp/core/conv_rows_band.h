// conv_rows_band.h - the tiles of the shifted-copies, pointwise and Winograd kernels, and how they
// are laid over a band, written once for any vector width.
//
// Included only by conv_gemm_avx2.cpp and conv_rows_avx512.cpp, each with its own instruction-set
// flags and its own vector wrapper V. Everything here is in an anonymous namespace, so each file compiles its own copy: one
// inline function shared between them could be linked as the AVX-512 copy into AVX2 code. (A
// single copy in the baseline conv.cpp, calling the tiles through a pointer, measured 4-7 %
// slower on the lecture's first layer.)
#pragma once

#include "conv_gemm.h"

namespace cnncore {
namespace {

// One tile: F filters x P vectors of V::kWidth pixels, taps k over the flat run at s + koff[k]
// (weights wk[k * 16 + f], the packed panels' layout), then the bias; stored at y + f * ystride.
// V wraps one instruction set's vector: reg, zero(), load(), bcast(), fma(), add(), store().
// Each output is one FMA chain over k from zero, then the bias: the GEMM tile's sums.
template <class V, int F, int P>
inline void rows_tile(const float* s, const index_t* koff, index_t K, const float* wk,
                      const float* bias, float* y, index_t ystride) {
  typename V::reg acc[F][P];
#pragma GCC unroll 8
  for (int i = 0; i < F; ++i)
    for (int v = 0; v < P; ++v) acc[i][v] = V::zero();
  for (index_t k = 0; k < K; ++k, wk += kGemmNR) {
    const float* q = s + koff[k];
    typename V::reg x[P];
    for (int v = 0; v < P; ++v) x[v] = V::load(q + V::kWidth * v);
#pragma GCC unroll 8
    for (int i = 0; i < F; ++i) {
      const typename V::reg wv = V::bcast(wk + i);
      for (int v = 0; v < P; ++v) acc[i][v] = V::fma(x[v], wv, acc[i][v]);
    }
  }
#pragma GCC unroll 8
  for (int i = 0; i < F; ++i) {
    const typename V::reg bv = bias ? V::bcast(bias + i) : V::zero();
    for (int v = 0; v < P; ++v)
      V::store(y + i * ystride + V::kWidth * v, bias ? V::add(acc[i][v], bv) : acc[i][v]);
  }
}

// nf (1 to F) filters x pv (1 to 3) vectors: the tile instantiated for them.
template <class V, int F, int P>
inline void rows_tile_filters(int nf, const float* s, const index_t* koff, index_t K,
                              const float* wk, const float* bias, float* y, index_t ystride) {
  if constexpr (F > 1) {
    if (nf < F) return rows_tile_filters<V, F - 1, P>(nf, s, koff, K, wk, bias, y, ystride);
  }
  rows_tile<V, F, P>(s, koff, K, wk, bias, y, ystride);
}

template <class V, int F>
inline void rows_tiles(int nf, int pv, const float* s, const index_t* koff, index_t K,
                       const float* wk, const float* bias, float* y, index_t ystride) {
  if (pv == 3) return rows_tile_filters<V, F, 3>(nf, s, koff, K, wk, bias, y, ystride);
  if (pv == 2) return rows_tile_filters<V, F, 2>(nf, s, koff, K, wk, bias, y, ystride);
  rows_tile_filters<V, F, 1>(nf, s, koff, K, wk, bias, y, ystride);
}

// The band's Q pixels, one flat run (tap k at copies + koff[k]), for the group's cout_g filters
// (packed_g: the group's panels; bias_g may be null), into yb (filter f at yb + f * out_plane),
// by tiles of up to F filters x 3 vectors of V::kWidth pixels; F divides 16, so a tile's filters
// stay in one panel. The pixels are covered as conv_rows_next_tile says; with skip (the shifted
// copies), a tile leaves out the kernel rows that read only the padding's zero rows.
template <class V, int F>
inline void rows_band(const float* copies, const index_t* koff, index_t K, index_t Q,
                      const float* packed_g, index_t cout_g, const float* bias_g, float* yb,
                      index_t out_plane, const RowsSkip* skip) {
  constexpr index_t VEC = V::kWidth;
  static_assert(16 % F == 0 && 3 * VEC <= kRowsTilePixels, "a panel's filters, the copies' slack");
  alignas(64) float small[F * 3 * VEC];
  for (index_t q0 = 0; q0 < Q;) {
    const RowsTile tile = conv_rows_next_tile(Q, q0, VEC);
    const index_t q = tile.start;
    const int pv = tile.vectors;
    q0 = tile.buffered ? Q : q + VEC * pv;
    // The taps [k0, k1) that read something other than the padding's zero rows for this tile.
    index_t k0 = 0, k1 = K;
    if (skip) {
      const index_t r_lo = q / skip->w;
      const index_t r_hi = ((tile.buffered ? Q : q + VEC * pv) - 1) / skip->w;
      index_t a0 = 0, a1 = skip->kh;
      while (a0 < a1 && r_hi + a0 * skip->dh < skip->top) ++a0;
      while (a1 > a0 && r_lo + (a1 - 1) * skip->dh >= skip->bottom) --a1;
      k0 = a0 * skip->taps_per_row;
      k1 = a1 * skip->taps_per_row;
    }
    for (index_t f0 = 0; f0 < cout_g; f0 += F) {
      const int nf = static_cast<int>(cout_g - f0 < F ? cout_g - f0 : F);
      const float* wk = packed_g + (f0 / kGemmNR) * K * kGemmNR + f0 % kGemmNR + k0 * kGemmNR;
      const float* bp = bias_g ? bias_g + f0 : nullptr;
      if (!tile.buffered) {
        rows_tiles<V, F>(nf, pv, copies + q, koff + k0, k1 - k0, wk, bp, yb + f0 * out_plane + q,
                         out_plane);
      } else {
        rows_tiles<V, F>(nf, 1, copies, koff + k0, k1 - k0, wk, bp, small, 3 * VEC);
        for (int i = 0; i < nf; ++i)
          for (index_t j = 0; j < Q; ++j) yb[(f0 + i) * out_plane + j] = small[i * 3 * VEC + j];
      }
    }
  }
}

}  // namespace
}  // namespace cnncore
