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

void conv_rows_copies_avx512(const float* xc, index_t h_in, index_t w, index_t ih0, index_t rows,
                             index_t kw, index_t dw, index_t pad_left, float* copies,
                             index_t copy_len) noexcept {
  const index_t chunks = (w + 15) / 16;
  // The first and last rows of the input, whose shifted loads would reach outside the array,
  // through buffers with room around them (what the loads read there is masked off).
  alignas(64) float bounce[2][kMaxCopyWidth + 2 * 64];
  for (int e = 0; e < 2; ++e) {
    const float* row = xc + (e ? h_in - 1 : 0) * w;
    for (index_t j = 0; j < w; ++j) bounce[e][64 + j] = row[j];
  }
  for (index_t b = 0; b < kw; ++b) {
    const index_t shift = b * dw - pad_left;  // copy column j is input column j + shift
    // Each chunk's lanes whose input column lies inside the row.
    const __m512i lane = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
    __mmask16 inside[kMaxCopyWidth / 16];
    for (index_t c = 0; c < chunks; ++c) {
      const __m512i col = _mm512_add_epi32(lane, _mm512_set1_epi32(static_cast<int>(16 * c + shift)));
      inside[c] = _mm512_cmpge_epi32_mask(col, _mm512_setzero_si512()) &
                  _mm512_cmplt_epi32_mask(col, _mm512_set1_epi32(static_cast<int>(w)));
    }
    float* dst = copies + b * copy_len;
    for (index_t r = 0; r < rows; ++r, dst += w) {
      const index_t ih = ih0 + r;
      if (ih < 0 || ih >= h_in) {
        for (index_t c = 0; c < chunks; ++c) _mm512_storeu_ps(dst + 16 * c, _mm512_setzero_ps());
        continue;
      }
      const float* src = ih == 0 ? bounce[0] + 64 : ih == h_in - 1 ? bounce[1] + 64 : xc + ih * w;
      src += shift;
      // Chunks left to right, each stored whole (the last one's lanes past the row are
      // overwritten by the next row, or fall in the copy's slack); the lanes outside the input
      // row zeroed by blends, not by masked loads (slow on this CPU).
      for (index_t c = 0; c < chunks; ++c)
        _mm512_storeu_ps(dst + 16 * c, _mm512_maskz_mov_ps(inside[c], _mm512_loadu_ps(src + 16 * c)));
    }
    // The slack after the rows (read only by a band shorter than a vector): zeros.
    float* tail = copies + b * copy_len;
    index_t i = rows * w;
    for (; i + 16 <= copy_len; i += 16) _mm512_storeu_ps(tail + i, _mm512_setzero_ps());
    for (; i < copy_len; ++i) tail[i] = 0.0f;
  }
}

void conv_rows_band_avx512(const float* copies, const index_t* koff, index_t K, index_t Q,
                           const float* packed_g, index_t cout_g, const float* bias_g, float* yb,
                           index_t out_plane, const RowsSkip* skip) noexcept {
  rows_band<Avx512, 8>(copies, koff, K, Q, packed_g, cout_g, bias_g, yb, out_plane, skip);
}

}  // namespace cnncore
