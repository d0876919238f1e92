// activation_avx2.cpp - AVX2/FMA activations (own flags, run-time dispatch; see activation.h).
//
// ELU needs exp(z) - 1 for z <= 0: z = n*ln2 + r with |r| <= ln2/2 (ln2 split in two for an exact
// reduction), expm1(r) by its Taylor series to r^7 (truncation below 1e-8 relative), then
// expm1(z) = 2^n * expm1(r) + (2^n - 1), exact in its scaling and within about 1 ulp overall; for
// n = 0 it is expm1(r) itself, so small |z| keeps full relative precision. z below -87 gives -1.
#include <immintrin.h>

#include <cstdint>

#include "activation.h"

namespace cnncore {

namespace {

inline __m256 expm1_nonpositive(__m256 x) {
  // max(c, x) keeps a NaN x (the second operand wins on NaN) and clamps -inf to -87.
  x = _mm256_max_ps(_mm256_set1_ps(-87.0f), x);
  const __m256 n = _mm256_round_ps(_mm256_mul_ps(x, _mm256_set1_ps(1.44269504088896341f)),
                                   _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  __m256 r = _mm256_fnmadd_ps(n, _mm256_set1_ps(0.693359375f), x);
  r = _mm256_fnmadd_ps(n, _mm256_set1_ps(-2.12194440e-4f), r);
  __m256 p = _mm256_set1_ps(1.0f / 5040.0f);
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f / 720.0f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f / 120.0f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f / 24.0f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f / 6.0f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(0.5f));
  p = _mm256_fmadd_ps(_mm256_mul_ps(p, r), r, r);  // expm1(r)
  const __m256i e = _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(n), _mm256_set1_epi32(127)), 23);
  const __m256 two_n = _mm256_castsi256_ps(e);
  return _mm256_fmadd_ps(two_n, p, _mm256_sub_ps(two_n, _mm256_set1_ps(1.0f)));
}

}  // namespace

namespace {

template <ActKind K>
inline __m256 act8(__m256 z, __m256 pv) {
  const __m256 zero = _mm256_setzero_ps();
  if (K == ActKind::kRelu) {
    // max(0, z) returns z when z is NaN (the second operand wins). A subnormal z compares as
    // zero (DAZ) and would come back unchanged, negative ones included: adding zero flushes it.
    return _mm256_add_ps(_mm256_max_ps(zero, z), zero);
  }
  const __m256 pos = _mm256_cmp_ps(z, zero, _CMP_GT_OQ);
  if (K == ActKind::kLeakyRelu) return _mm256_blendv_ps(_mm256_mul_ps(pv, z), z, pos);
  // ELU. min(0, z) keeps a NaN z; positive lanes are replaced by z anyway.
  return _mm256_blendv_ps(_mm256_mul_ps(pv, expm1_nonpositive(_mm256_min_ps(zero, z))), z, pos);
}

// Fewer than 8 elements, through an 8-float buffer: the same arithmetic as the vector body.
template <ActKind K>
inline void act_short(const float* x, float* y, index_t count, __m256 pv) {
  alignas(32) float buf[8] = {0, 0, 0, 0, 0, 0, 0, 0};
  for (index_t j = 0; j < count; ++j) buf[j] = x[j];
  _mm256_store_ps(buf, act8<K>(_mm256_load_ps(buf), pv));
  for (index_t j = 0; j < count; ++j) y[j] = buf[j];
}

template <ActKind K>
void act_run(const float* x, float* y, index_t count, __m256 pv, bool stream) {
  index_t i = 0;
  if (stream) {
    // Non-temporal stores (no read of the destination lines, no eviction of the cache): from the
    // first 32-byte aligned element of y.
    const index_t head =
        static_cast<index_t>(((32 - (reinterpret_cast<std::uintptr_t>(y) & 31)) & 31) / 4);
    i = head < count ? head : count;
    if (i > 0) act_short<K>(x, y, i, pv);
    for (; i + 8 <= count; i += 8) _mm256_stream_ps(y + i, act8<K>(_mm256_loadu_ps(x + i), pv));
    _mm_sfence();
  } else {
    for (; i + 8 <= count; i += 8) _mm256_storeu_ps(y + i, act8<K>(_mm256_loadu_ps(x + i), pv));
  }
  if (i < count) act_short<K>(x + i, y + i, count - i, pv);
}

}  // namespace

void activation_avx2(ActKind kind, float param, const float* x, float* y, index_t count,
                     bool stream) noexcept {
  const __m256 pv = _mm256_set1_ps(param);
  stream = stream && (reinterpret_cast<std::uintptr_t>(y) & 3) == 0;
  switch (kind) {
    case ActKind::kRelu: return act_run<ActKind::kRelu>(x, y, count, pv, stream);
    case ActKind::kLeakyRelu: return act_run<ActKind::kLeakyRelu>(x, y, count, pv, stream);
    case ActKind::kElu: return act_run<ActKind::kElu>(x, y, count, pv, stream);
  }
}

}  // namespace cnncore
