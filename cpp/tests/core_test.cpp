// core_test.cpp - the core on its own, without Python: the lecture's examples, the direct
// convolution against the reference kernel over random shapes, the fast float kernels (Winograd's
// among them) on exact data, and the plane filter with huge
// dilations against a naive loop. Exit status 0 when all pass.
//   cmake -S . -B build/core -DCNNCORE_BUILD_CORE_TESTS=ON && cmake --build build/core && \
//   ctest --test-dir build/core
#include <cmath>
#include <cstdio>
#include <random>
#include <vector>

#include "core/conv.h"
#include "core/plane_filter.h"
#include "core/pool.h"

using cnncore::index_t;

static int failures = 0;
#define CHECK(cond)                                                   \
  do {                                                                \
    if (!(cond)) {                                                    \
      std::printf("FAIL %s:%d: %s\n", __FILE__, __LINE__, #cond);     \
      ++failures;                                                     \
    }                                                                 \
  } while (0)

static void lecture_examples() {
  {  // 1-D: [0..6] (*) [1, 2] -> [2, 5, 8, 11, 14, 17]
    cnncore::ConvParams p;
    p.in[2] = 7;
    p.k[2] = 2;
    p.out[2] = 6;
    cnncore::validate(p, "test");
    const double x[7] = {0, 1, 2, 3, 4, 5, 6}, w[2] = {1, 2};
    double y[6];
    cnncore::conv_forward<double>(p, x, w, nullptr, y);
    const double want[6] = {2, 5, 8, 11, 14, 17};
    for (int i = 0; i < 6; ++i) CHECK(y[i] == want[i]);
  }
  {  // 2-D: [[0,1,2],[3,4,5],[6,7,8]] (*) [[0,1],[2,3]] -> [[19,25],[37,43]]
    cnncore::ConvParams p;
    p.in[1] = p.in[2] = 3;
    p.k[1] = p.k[2] = 2;
    p.out[1] = p.out[2] = 2;
    const float x[9] = {0, 1, 2, 3, 4, 5, 6, 7, 8}, w[4] = {0, 1, 2, 3};
    float y[4];
    cnncore::conv_forward<float>(p, x, w, nullptr, y);
    const float want[4] = {19, 25, 37, 43};
    for (int i = 0; i < 4; ++i) CHECK(y[i] == want[i]);
  }
  {  // pooling 2x2 stride 2
    const float x[16] = {6, 6, 6, 6, 4, 5, 5, 4, 2, 4, 4, 2, 2, 4, 4, 2};
    const float want_max[4] = {6, 6, 4, 4}, want_avg[4] = {5.25f, 5.25f, 3, 3},
                want_sum[4] = {21, 21, 12, 12};
    for (auto kind : {cnncore::PoolKind::kMax, cnncore::PoolKind::kAvg, cnncore::PoolKind::kSum}) {
      cnncore::PoolParams p;
      p.kind = kind;
      p.in[1] = p.in[2] = 4;
      p.k[1] = p.k[2] = 2;
      p.stride[1] = p.stride[2] = 2;
      p.out[1] = p.out[2] = 2;
      cnncore::validate(p, "test");
      float y[4];
      cnncore::pool_forward<float>(p, x, y);
      const float* want = kind == cnncore::PoolKind::kMax   ? want_max
                          : kind == cnncore::PoolKind::kAvg ? want_avg
                                                            : want_sum;
      for (int i = 0; i < 4; ++i) CHECK(y[i] == want[i]);
    }
  }
}

static void direct_vs_reference() {
  std::mt19937_64 rng(7);
  auto pick = [&](index_t lo, index_t hi) {
    return std::uniform_int_distribution<index_t>(lo, hi)(rng);
  };
  for (int trial = 0; trial < 400; ++trial) {
    cnncore::ConvParams p;
    p.n = pick(1, 2);
    p.groups = pick(1, 3);
    p.c_in = p.groups * pick(1, 3);
    p.c_out = p.groups * pick(1, 3);
    const int dims = static_cast<int>(pick(1, 3));
    for (int d = 3 - dims; d < 3; ++d) {
      p.in[d] = pick(1, 9);
      p.k[d] = pick(1, 4);
      p.stride[d] = pick(1, 3);
      p.dil[d] = pick(1, 3);
      p.pad[d] = pick(-1, 3);
      const index_t padded = p.in[d] + 2 * p.pad[d], reach = p.dil[d] * (p.k[d] - 1) + 1;
      if (padded < reach) {
        p.pad[d] = (reach - p.in[d] + 1) / 2;
      }
      p.out[d] = (p.in[d] + 2 * p.pad[d] - reach) / p.stride[d] + 1;
    }
    cnncore::validate(p, "test");
    const index_t nx = p.n * p.c_in * p.in[0] * p.in[1] * p.in[2];
    const index_t nw = p.c_out * (p.c_in / p.groups) * p.k[0] * p.k[1] * p.k[2];
    const index_t ny = p.n * p.c_out * p.out[0] * p.out[1] * p.out[2];
    std::vector<double> x(nx), w(nw), b(p.c_out), y1(ny), y2(ny);
    std::uniform_int_distribution<int> v(-4, 4);
    for (auto& e : x) e = v(rng);
    for (auto& e : w) e = v(rng);
    for (auto& e : b) e = v(rng);
    cnncore::conv_ref<double>(p, x.data(), w.data(), b.data(), y1.data());
    cnncore::conv_direct<double>(p, x.data(), w.data(), b.data(), y2.data());
    for (index_t i = 0; i < ny; ++i) CHECK(y1[i] == y2[i]);  // integer data: exact
  }
}

// 3x3 and 5x5 float convolutions with enough channels for Winograd's F(2x2, 3x3) and F(2x2, 5x5),
// and 5x5 ones of 1 to 15 channels for F(4, 5) along the rows, where the CPU has AVX2
// (conv_winograd.h), paddings from a crop of one to two, against the reference on small
// integers: 3x3 exactly (every transform is exact on them); 5x5 within the float32 bound of a sum
// of its length (the weights' transforms hold sixths, ninths), relative to the sum of the terms'
// magnitudes. Counts failing elements, and reports once per case.
static void fast_float_vs_reference() {
  std::mt19937_64 rng(11);
  auto pick = [&](index_t lo, index_t hi) {
    return std::uniform_int_distribution<index_t>(lo, hi)(rng);
  };
  for (int trial = 0; trial < 45; ++trial) {
    cnncore::ConvParams p;
    p.n = pick(1, 2);
    const bool rows = trial % 3 == 2;  // 1 to 15 channels: F(4, 5) along the rows
    const bool one = trial % 9 == 2;     // one channel (fused with AVX-512)
    p.c_in = one ? 1 : rows ? pick(2, 15) : pick(16, 40);
    p.c_out = rows ? pick(8, 40) : pick(32, 50);
    const index_t k = trial % 3 ? 5 : 3;
    for (int d = 1; d < 3; ++d) {
      p.in[d] = k == 3 ? pick(10, 21) : pick(28, 34);  // planes where the method applies
      p.k[d] = k;
      p.pad[d] = pick(-1, 2);
      p.out[d] = p.in[d] + 2 * p.pad[d] - (k - 1) - pick(0, 1);  // trailing padding: 0 or 1 less
    }
    if (one) p.out[2] -= p.out[2] % 4;  // one channel: rows of whole runs of 4
    cnncore::validate(p, "test");
    const index_t nx = p.n * p.c_in * p.in[1] * p.in[2];
    const index_t nw = p.c_out * p.c_in * k * k, ny = p.n * p.c_out * p.out[1] * p.out[2];
    std::vector<float> x(nx), w(nw), b(p.c_out), y1(ny), y2(ny);
    std::vector<double> xd(nx), wd(nw), bd(p.c_out), mag(ny);
    std::uniform_int_distribution<int> v(-4, 4);
    for (auto& e : x) e = static_cast<float>(v(rng));
    for (auto& e : w) e = static_cast<float>(v(rng));
    for (auto& e : b) e = static_cast<float>(v(rng));
    for (index_t i = 0; i < nx; ++i) xd[i] = std::fabs(x[i]);
    for (index_t i = 0; i < nw; ++i) wd[i] = std::fabs(w[i]);
    for (index_t i = 0; i < p.c_out; ++i) bd[i] = std::fabs(b[i]);
    cnncore::conv_ref<float>(p, x.data(), w.data(), b.data(), y1.data());
    cnncore::conv_ref<double>(p, xd.data(), wd.data(), bd.data(), mag.data());
    cnncore::conv_forward<float>(p, x.data(), w.data(), b.data(), y2.data());
    const double eps = 1.1920928955078125e-07, terms = static_cast<double>(p.c_in * k * k + 2);
    index_t bad = 0;
    for (index_t i = 0; i < ny; ++i)
      bad += k == 3 ? y1[i] != y2[i] : std::fabs(double(y1[i]) - y2[i]) > terms * eps * mag[i];
    CHECK(bad == 0);
  }
}

// The plane filter with dilations so large that a strip of border-extended rows cannot be held
// (the path without a strip), every border rule, against a naive loop over the taps.
static index_t border_ref(index_t i, index_t n, cnncore::Border border) {
  if (i >= 0 && i < n) return i;
  switch (border) {
    case cnncore::Border::kZeros: return -1;
    case cnncore::Border::kReplicate: return i < 0 ? 0 : n - 1;
    case cnncore::Border::kWrap: return ((i % n) + n) % n;
    case cnncore::Border::kReflect101: {
      if (n == 1) return 0;
      const index_t period = 2 * (n - 1), r = ((i % period) + period) % period;
      return r < n ? r : period - r;
    }
  }
  return -1;
}

static void plane_filter_huge_dilation() {
  std::mt19937_64 rng(11);
  auto pick = [&](index_t lo, index_t hi) {
    return std::uniform_int_distribution<index_t>(lo, hi)(rng);
  };
  for (int trial = 0; trial < 200; ++trial) {
    cnncore::PlaneFilterParams p;
    p.border = static_cast<cnncore::Border>(trial % 4);
    p.chan = pick(1, 3);
    p.multiplier = pick(1, 2);
    p.planes = p.multiplier * pick(1, 2);
    p.kernels = p.planes;
    p.in_h = pick(1, 4);
    p.in_w = pick(1, 5);
    p.k_h = pick(1, 3);
    p.k_w = pick(1, 3);
    p.dil_h = (index_t(1) << pick(30, 50)) + pick(0, 3);
    p.dil_w = (index_t(1) << pick(30, 50)) + pick(0, 3);
    p.stride_h = p.dil_h + pick(-1, 1);
    p.pad_top = pick(0, (p.k_h - 1) * p.dil_h);
    p.pad_left = pick(0, (p.k_w - 1) * p.dil_w);
    p.out_h = pick(1, 3);
    p.out_w = pick(1, 4);
    cnncore::validate(p, "test");
    const index_t in_plane = p.in_h * p.in_w * p.chan, out_plane = p.out_h * p.out_w * p.chan;
    std::vector<double> x(p.planes / p.multiplier * in_plane), w(p.kernels * p.k_h * p.k_w),
        b(p.kernels), y(p.planes * out_plane), want(y.size());
    std::uniform_int_distribution<int> v(-4, 4);
    for (auto& e : x) e = v(rng);
    for (auto& e : w) e = v(rng);
    for (auto& e : b) e = v(rng);
    cnncore::plane_filter<double>(p, x.data(), w.data(), b.data(), y.data());
    for (index_t pl = 0; pl < p.planes; ++pl)
      for (index_t i = 0; i < p.out_h; ++i)
        for (index_t j = 0; j < p.out_w; ++j)
          for (index_t c = 0; c < p.chan; ++c) {
            double s = 0;
            for (index_t a = 0; a < p.k_h; ++a)
              for (index_t e = 0; e < p.k_w; ++e) {
                const index_t ih = border_ref(i * p.stride_h + a * p.dil_h - p.pad_top, p.in_h, p.border);
                const index_t iw = border_ref(j + e * p.dil_w - p.pad_left, p.in_w, p.border);
                if (ih >= 0 && iw >= 0)
                  s += w[(pl % p.kernels) * p.k_h * p.k_w + a * p.k_w + e] *
                       x[(pl / p.multiplier) * in_plane + (ih * p.in_w + iw) * p.chan + c];
              }
            want[pl * out_plane + (i * p.out_w + j) * p.chan + c] = s + b[pl % p.kernels];
          }
    for (std::size_t i = 0; i < y.size(); ++i) CHECK(y[i] == want[i]);  // integer data: exact
  }
}

int main() {
  lecture_examples();
  direct_vs_reference();
  fast_float_vs_reference();
  plane_filter_huge_dilation();
  std::printf("%s: %d failure(s)\n", failures ? "FAILED" : "passed", failures);
  return failures ? 1 : 0;
}
