// core_test.cpp - the core on its own, without Python: the lecture's examples and the direct
// convolution against the reference kernel over random shapes. Exit status 0 when all pass.
//   cmake -S . -B build/core -DCNNCORE_BUILD_CORE_TESTS=ON && cmake --build build/core && \
//   ctest --test-dir build/core
#include <cmath>
#include <cstdio>
#include <random>
#include <vector>

#include "core/conv.h"
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

int main() {
  lecture_examples();
  direct_vs_reference();
  std::printf("%s: %d failure(s)\n", failures ? "FAILED" : "passed", failures);
  return failures ? 1 : 0;
}
