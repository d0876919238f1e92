// activation.h - element-wise activations on contiguous buffers of `count` elements.
//
//   relu(z)        = z < 0 ? 0 : z                 (NaN stays NaN)
//   leaky_relu(z)  = z > 0 ? z : slope * z
//   elu(z)         = z > 0 ? z : alpha * expm1(z)  (the standard ELU; see SPEC.md section 4)
#pragma once

#include "common.h"

namespace cnncore {

enum class ActKind { kRelu, kLeakyRelu, kElu };

// The AVX2/FMA kernel for one contiguous chunk (own flags; call through run-time dispatch only).
// stream: write y with non-temporal stores (for outputs far larger than the caches).
void activation_avx2(ActKind kind, float param, const float* x, float* y, index_t count,
                     bool stream = false) noexcept;

template <class T>
void activation_forward(ActKind kind, T param, const T* x, T* y, index_t count) noexcept;

}  // namespace cnncore
