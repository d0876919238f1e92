// conv_winograd.h - 3x3 and 5x5 convolutions with unit strides by Winograd's minimal filtering
// F(2x2, 3x3), F(2x2, 5x5) and F(2x4, 5x5); 5x5 convolutions of few input channels by F(4, 5)
// along the rows.
//
// Each 2x2 block of output pixels (a tile) of an output channel f is
//
//   Y = A^T [ sum_c  U[f, c] (.) V[c] ] A,    U[f, c] = G w[f, c] G^T,    V[c] = B^T d[c] B,
//
// with d[c] the alpha x alpha input patch under the tile (alpha = 4 for 3x3 kernels, 6 for 5x5;
// zero outside the input) and (.) the element-wise product. The sum over c is, for each of the
// alpha^2 positions xi, a matrix product M[xi] (filters x tiles) = U[xi] (filters x channels)
// V[xi] (channels x tiles): alpha^2 multiply-adds per filter, channel and tile, where the direct
// convolution takes 4 k^2 (2.25 times fewer for 3x3, 2.78 for 5x5). The transforms of the input
// and of M add, subtract and scale by small integers; the points are 0, 1, -1 (and 2, -2 for
// 5x5) and infinity:
//
//   3x3: B^T = [1 0 -1 0; 0 1 1 0; 0 -1 1 0; 0 1 0 -1],  G = [1 0 0; .5 .5 .5; .5 -.5 .5; 0 0 1],
//        A^T = [1 1 1 0; 0 1 -1 -1];
//   5x5: see conv_winograd_avx2.cpp (G holds sixths and twenty-fourths).
// On rows of 11 outputs or more, 5x5 kernels take tiles of 2 x 4 outputs: a 6 x 8 patch, F(2, 5)
// down the columns and F(4, 5) along the rows (points 0, 1, -1, 2, -2, 1/2, -1/2 and infinity),
// 48 products for 8 outputs instead of 36 for 4 (1.5 times fewer; 4.2 times fewer than the
// direct product), and fewer transforms per output.
//
// A task takes a band of tile rows (images' tile rows back to back, so a band may span images),
// transforms its input into V[xi][c][tile], runs the products with the shifted-copies kernels'
// tiles (conv_rows_band_*: tiles along the flat run of the band's tiles, filters broadcast), and
// transforms back, adding the bias (then the fused activation) as it stores the outputs.
//
// Rounding: every output is computed by the same operations in the same order whatever the band,
// the task or the thread count (bitwise independent of them and of the batch size), but not by
// the direct kernels' operations: it differs from them by a few units in the last place of the
// sum's scale, which the tests bound like any float32 sum (tests/conftest.py, assert_close). With
// 3x3 kernels, small integers stay exact (every transform is exact on them: G makes halves);
// with 5x5 kernels they do not (G's sixths), so integer-valued data get float32 rounding there.
// Non-finite values: a transform mixes a patch's inputs, so an infinity in an input (or one made
// by overflow in a transform) could turn outputs whose windows don't contain it into NaN. The
// driver checks every output it stores and reports any non-finite one; the caller then
// recomputes the whole call with the GEMM kernels, whose NaN and infinities are the definition's.
//
// F(4, 5) along the rows (layers of 2 to 15 input channels, the first 5x5 layer of a colour
// image network): with few channels the 2-D transforms cost more than the products they save
// (each filter's output transform would weigh as much as its 36 products). Along the rows only,
// each run of 4 output pixels of a row is, per filter f,
//
//   y = A^T sum_(c, a) U[f, c, a] (.) V[c, row + a],   U[f, c, a] = G w[f, c, a, :],  V = B^T d,
//
// with d the 8 inputs under the run in input row (row + a) of channel c: the kernel rows a and
// the channels are the products' taps (K = 5 c_in, the rows a tile row's length apart in V, as
// in the shifted-copies kernel), 8 products per tap instead of 4 x 5 multiply-adds (2.5 times
// fewer), and the output transform is paid once per filter and run, not per tap. The points are
// 0, 1, -1, 2, -2, 1/2, -1/2 and infinity (conv_winograd_avx2.cpp has the matrices). Measured
// worst error, relative to the sum of the terms' magnitudes: about 10 eps32, within the tests'
// bound of (25 c_in + 2) eps32; G's ninths and forty-fifths round integer-valued data.
// One input channel (the first layer of a grey-image network, the lecture's CONV1), with AVX-512
// and rows of a multiple of 4 outputs only: the products and the output transform run fused in
// registers (conv_winograd_rows1_avx512; through the two passes, K = 5 taps, it was slower than
// the shifted copies), with U rounded once from double, and the output columns the padding cuts
// short at the ends of their runs redone as direct sums (conv_winograd_rows1_edge_avx512). Worst
// error measured there: 18-20 eps32 of the sum of magnitudes (random data, the lecture's layer
// and others), within the bound of 27.
#pragma once

#include "common.h"
#include "conv.h"

namespace cnncore {

// The patch side alpha: 4 for a 3x3 kernel, 6 for 5x5; 0 for any other kernel.
index_t conv_winograd_alpha(const ConvParams& p) noexcept;
// The patch width: alpha, or 8 for 5x5 kernels on rows of at least 11 outputs: F(2x4, 5x5), 2 x 4
// outputs per tile from a 6 x 8 patch (measurements in conv_winograd.cpp).
index_t conv_winograd_alpha_w(const ConvParams& p) noexcept;

// Either the 2-D tiles (conv_winograd_alpha, conv_winograd_alpha_w): 3x3 or 5x5 kernels, unit
// strides and dilations, one group, 2-D, float32, at least 16 input and 16 output channels,
// output planes of at least 100 pixels; rows short enough for a band of one tile row to keep its
// transformed input within a few megabytes. Below those sizes the transforms weigh more than the
// products save (measurements in conv_winograd.cpp). The batch size never decides: it must not
// change the bits. Or F(4, 5) along the rows (conv_winograd_rows_applies).
bool conv_winograd_applies(const ConvParams& p) noexcept;
// 5x5 kernels, unit strides and dilations, one group, 2-D, 2 to 15 input channels (or one, with
// AVX-512 in use and rows of a multiple of 4 outputs), at least 8 output channels, output planes
// of at least 400 pixels and rows of at least 8 (measurements in conv_winograd.cpp).
bool conv_winograd_rows_applies(const ConvParams& p) noexcept;

struct WinogradPlan {
  bool along_rows = false;           // F(4, 5) along the rows; the fields marked (R) are its
  index_t alpha = 4;                 // patch height (conv_winograd_alpha); 8 along the rows
  index_t alpha_w = 4;               // patch width (conv_winograd_alpha_w)
  index_t tiles_h = 0, tiles_w = 0;  // tiles per image: ceil(h_out / 2) x ceil(w_out / m_w);
                                     // (R) h_out x ceil(w_out / 4)
  index_t band_rows = 1;             // tile rows per task; (R) output rows, of one image
  index_t bands = 1;                 // (R) bands per image
  index_t tasks = 0;                 // ceil(n * tiles_h / band_rows); (R) n * bands
  index_t copy_len = 0;              // (R) floats per channel in V: the band's input rows, slack
  index_t t_stride = 0;              // floats between channels in V, and between filters in M
  index_t chunk = 16;                // filters per pass of the products (a multiple of 16)
  // Floats between V[xi] and V[xi + 1], and between M[xi] and M[xi + 1]: 64 bytes past a multiple
  // of 4 KB, so that the vectors a transform stores or loads fall in different cache sets (a
  // multiple of 4 KB put them all in one: measured 2-3 times slower input transform).
  index_t v_stride = 0, m_stride = 0;
  index_t strip_w = 0;               // one zero-padded input row of a tile row's patches
  index_t scratch_floats = 0;        // per thread: strip, rows' transforms, V, M
  index_t shared_floats = 0;         // after the threads' scratch: the product tiles' offsets
};
// vec: the product tiles' vector width in pixels (8 for AVX2, 16 for AVX-512), which decides how
// well a band's tiles fill them.
WinogradPlan conv_winograd_plan(const ConvParams& p, int threads, index_t vec) noexcept;

// The transformed weights: U[xi][panel][c][16] (xi = alpha_w i + j) (16 filters per panel, zero past c_out); along the
// rows U[xi][panel][a * c_in + c][16]; with one input channel U[f][xi][a], filter-major, then the
// weights w[a][b][f] (conv_winograd_rows1_avx512, conv_winograd_rows1_edge_avx512).
index_t conv_winograd_packed_size(const ConvParams& p) noexcept;

// AVX2/FMA (own flags; call only when the CPU has them).
void conv_winograd_pack_avx2(const ConvParams& p, const float* w, float* packed,
                             int threads) noexcept;
// y for every image; false when some output came out NaN or infinite (y is then incomplete and
// the caller recomputes it another way). scratch: threads * plan.scratch_floats floats plus
// plan.shared_floats after them, 64-byte aligned.
bool conv_winograd_avx2(const ConvParams& p, const WinogradPlan& plan, const float* x,
                        const float* packed, const float* bias, float* y, float* scratch,
                        int threads, const FusedActivation* act = nullptr) noexcept;

// F(4, 5) along the rows for one input channel with rows of 4 T = w_out outputs, products and
// output transform fused (AVX-512F; own flags; call only when use_avx512()): a band's Q = rows x T
// runs, V[xi] at v + xi * v_xi (run q at + q, kernel row a's at + q + a T), the packed weights u
// (conv_winograd_pack_avx2, c_in = 1: U[f][xi][a], filter-major), the bias (or null), into y
// (filter f's band at y + f * out_plane, 4 Q floats). False when some stored output is NaN or
// infinite.
bool conv_winograd_rows1_avx512(const float* v, index_t v_xi, index_t T, index_t Q,
                                const float* u, index_t c_out, const float* bias, float* y,
                                index_t out_plane) noexcept;
// Output columns cols[0 .. n_cols - 1] of a band's `rows` rows for every filter, as direct sums
// (the taps in (a, b) order from zero, then the bias: the GEMM's bits), from the band's
// zero-padded input rows (strip, sw floats apart; output column c's window at strip columns
// c .. c + 4) and the weights e[(a * 5 + b) * round_up(c_out, 16) + f] (AVX-512F; call only when
// use_avx512()).
void conv_winograd_rows1_edge_avx512(const float* strip, index_t sw, index_t rows,
                                     const index_t* cols, index_t n_cols, const float* e,
                                     index_t c_out, const float* bias, float* y, index_t w_out,
                                     index_t out_plane) noexcept;

}  // namespace cnncore
