// conv.h - N-d convolution (cross-correlation), 1-D and 2-D as 3-D with unit leading extents.
//
// x (n, c_in, d_in, h_in, w_in) -> y (n, c_out, d_out, h_out, w_out);
// w (c_out, c_in/groups, k_d, k_h, k_w); bias (c_out) or null.
//
//   y[n, f, o] = bias[f] + sum_{c, a} w[f, c, a] * x[n, g*c_in/groups + c, o*stride - pad + a*dil]
//
// with g = f / (c_out/groups) and x read as zero outside [0, extent): `pad` is the leading padding of
// each dimension; trailing padding is implicit in the output extents, which the caller computes
// (cnncore.shapes) and validate() checks only for memory safety. Negative `pad` (a crop) is allowed.
#pragma once

#include "activation.h"
#include "common.h"

namespace cnncore {

struct ConvParams {
  index_t n = 1, c_in = 1, c_out = 1, groups = 1;
  index_t in[3] = {1, 1, 1};   // d_in, h_in, w_in
  index_t out[3] = {1, 1, 1};  // d_out, h_out, w_out
  index_t k[3] = {1, 1, 1};    // k_d, k_h, k_w
  index_t stride[3] = {1, 1, 1};
  index_t pad[3] = {0, 0, 0};  // pad_front, pad_top, pad_left
  index_t dil[3] = {1, 1, 1};
};

// kGemm: the GEMM tile kernel even where a specialised one would be chosen (for tests comparing
// them), falling back like kAuto where it does not apply.
enum class ConvImpl { kAuto, kReference, kDirect, kGemm };

// Throws std::invalid_argument (prefixed with fname) unless every extent is in range and every
// index the kernels can form fits in int64.
void validate(const ConvParams& p, const char* fname);

// The definition: seven nested loops, bounds-checked taps. Kept as the oracle for the fast kernels.
template <class T>
void conv_ref(const ConvParams& p, const T* x, const T* w, const T* bias, T* y) noexcept;

// Direct kernel: output rows accumulated tap by tap over the valid range, no bounds checks inside.
template <class T>
void conv_direct(const ConvParams& p, const T* x, const T* w, const T* bias, T* y) noexcept;

// Chooses a kernel (kAuto) or runs the one asked for. Results depend on the kernel chosen, never
// on the thread count. May throw std::bad_alloc (packing and scratch buffers).
template <class T>
void conv_forward(const ConvParams& p, const T* x, const T* w, const T* bias, T* y,
                  ConvImpl impl = ConvImpl::kAuto);

// An activation applied to a convolution's output (after the bias).
struct FusedActivation {
  ActKind kind = ActKind::kRelu;
  float param = 0;
};

// As conv_forward<float> (kAuto), with the weights also given packed (conv_gemm_pack, or null):
// the GEMM path then skips packing. For callers that run the same weights many times. With `act`,
// the activation follows: on the GEMM path fused into each band while it is in cache, elsewhere
// as a pass over y; either way y equals activation_forward(conv_forward(...)) bitwise.
//
// Weights that are not all finite (weights_finite(), false) run a literal kernel: a tap in the
// zero padding adds w * 0, NaN for a NaN or infinite w, as on a zero-padded copy of x. (The
// fast kernels skip such taps, which only a non-finite weight could tell.) conv_forward checks
// by itself; callers of conv_forward_prepacked say what they found when they packed.
//
// winograd (or null): the weights transformed for Winograd's F(2x2, 3x3) by conv_winograd_prepack,
// used where that method runs (else the weights are transformed at each call).
void conv_forward_prepacked(const ConvParams& p, const float* x, const float* w,
                            const float* packed, const float* bias, float* y,
                            const FusedActivation* act = nullptr, bool weights_finite = true,
                            const float* winograd = nullptr);

// The weights transformed for Winograd's F(2x2, 3x3) into *out, when the method applies to p and
// the CPU can run it (AVX2); false, and *out untouched, otherwise.
bool conv_winograd_prepack(const ConvParams& p, const float* w, AlignedFloats* out);

template <class T>
bool weights_finite(const ConvParams& p, const T* w) noexcept;

}  // namespace cnncore
