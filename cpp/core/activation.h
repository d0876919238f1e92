// activation.h - element-wise activations on contiguous buffers of `count` elements.
//
//   relu(z)        = z < 0 ? 0 : z                 (NaN stays NaN)
//   leaky_relu(z)  = z > 0 ? z : slope * z
//   elu(z)         = z > 0 ? z : alpha * expm1(z)  (the standard ELU; see SPEC.md section 4)
#pragma once

#include "common.h"

namespace cnncore {

enum class ActKind { kRelu, kLeakyRelu, kElu };

template <class T>
void activation_forward(ActKind kind, T param, const T* x, T* y, index_t count) noexcept;

}  // namespace cnncore
