// conv_winograd.h - 3x3 convolutions with unit strides by Winograd's minimal filtering F(2x2, 3x3).
//
// Each 2x2 block of output pixels (a tile) of an output channel f is
//
//   Y = A^T [ sum_c  U[f, c] (.) V[c] ] A,    U[f, c] = G w[f, c] G^T,    V[c] = B^T d[c] B,
//
// with d[c] the 4x4 input patch under the tile (zero outside the input) and (.) the element-wise
// product of 4x4 matrices. The sum over c is, for each of the 16 positions xi of the 4x4 matrices,
// a matrix product M[xi] (filters x tiles) = U[xi] (filters x channels) V[xi] (channels x tiles):
// 16 products of c_out x c_in x tiles multiply-adds give 4 outputs per tile, where the direct
// convolution takes 9 per output (2.25 times fewer). The transforms add and subtract only:
//
//   B^T = [1 0 -1 0; 0 1 1 0; 0 -1 1 0; 0 1 0 -1],  G = [1 0 0; .5 .5 .5; .5 -.5 .5; 0 0 1],
//   A^T = [1 1 1 0; 0 1 -1 -1].
//
// A task takes a band of tile rows (images' tile rows back to back, so a band may span images),
// transforms its input into V[xi][c][tile], runs the 16 products with the shifted-copies kernels'
// tiles (conv_rows_band_*: tiles along the flat run of the band's tiles, filters broadcast), and
// transforms back, adding the bias (then the fused activation) as it stores each output row pair.
//
// Rounding: every output is computed by the same operations in the same order whatever the band,
// the task or the thread count (bitwise independent of them and of the batch size), but not by
// the direct kernels' operations: it differs from them by a few units in the last place of the
// sum's scale, which the tests bound like any float32 sum (tests/conftest.py, assert_close).
// Non-finite values: a transform mixes a patch's 16 inputs, so an infinity in an input (or one
// made by overflow in a transform) could turn outputs whose windows don't contain it into NaN.
// The driver checks every output it stores and reports any non-finite one; the caller then
// recomputes the whole call with the GEMM kernels, whose NaN and infinities are the definition's.
#pragma once

#include "common.h"
#include "conv.h"

namespace cnncore {

// 3x3 and 5x5 kernels, unit strides and dilations, one group, 2-D, float32, at least 16 input and
// 16 output channels, output planes of at least 100 pixels (3x3) or 784 (5x5); rows short enough
// for a band of one tile row to keep its transformed input within a few megabytes. Below those
// sizes the transforms weigh more than the products save (measurements in conv_winograd.cpp).
// The batch size never decides: it must not change the bits.
bool conv_winograd_applies(const ConvParams& p) noexcept;

// 3x3 sub-kernels per side: 1 for 3x3, 2 for 5x5 (the kernel split into four 3x3 blocks at
// offsets 0 and 3, zero past its edge: 4 x 16 products per tile instead of 4 x 25 multiply-adds,
// and every transform stays exact on small integers, which F(2x2, 5x5)'s sixths and
// twenty-fourths would not); 0 where the method does not apply to the kernel's shape.
index_t conv_winograd_blocks(const ConvParams& p) noexcept;

struct WinogradPlan {
  index_t blocks = 1;                // sub-kernels per side (conv_winograd_blocks)
  index_t channels = 0;              // V's channels: c_in x blocks^2, block-major
  index_t strip_rows = 4;            // input rows under a tile row: 4 + 3 (blocks - 1)
  index_t tiles_h = 0, tiles_w = 0;  // tiles per image: ceil(h_out / 2) x ceil(w_out / 2)
  index_t band_rows = 1;             // tile rows per task
  index_t tasks = 0;                 // ceil(n * tiles_h / band_rows)
  index_t t_stride = 0;              // floats between channels in V, and between filters in M
  index_t chunk = 16;                // filters per pass of the products (a multiple of 16)
  // Floats between V[xi] and V[xi + 1], and between M[xi] and M[xi + 1]: 64 bytes past a multiple
  // of 4 KB, so that the 16 vectors a transform stores or loads fall in 16 different cache sets
  // (a multiple of 4 KB put them all in one: measured 2-3 times slower input transform).
  index_t v_stride = 0, m_stride = 0;
  index_t strip_w = 0;               // one zero-padded input row of a tile row's patches
  index_t scratch_floats = 0;        // per thread: strips, V, M, 64-byte aligned
};
// vec: the product tiles' vector width in pixels (8 for AVX2, 16 for AVX-512), which decides how
// well a band's tiles fill them.
WinogradPlan conv_winograd_plan(const ConvParams& p, int threads, index_t vec) noexcept;

// The transformed weights: U[xi][panel][block][c][16] (16 filters per panel, zero past c_out).
index_t conv_winograd_packed_size(const ConvParams& p) noexcept;

// AVX2/FMA (own flags; call only when the CPU has them).
void conv_winograd_pack_avx2(const ConvParams& p, const float* w, float* packed,
                             int threads) noexcept;
// y for every image; false when some output came out NaN or infinite (y is then incomplete and
// the caller recomputes it another way). scratch: threads * plan.scratch_floats floats plus
// plan.channels int64 offsets' worth (2 * plan.channels floats) after them, 64-byte aligned.
bool conv_winograd_avx2(const ConvParams& p, const WinogradPlan& plan, const float* x,
                        const float* packed, const float* bias, float* y, float* scratch,
                        int threads, const FusedActivation* act = nullptr) noexcept;

}  // namespace cnncore
