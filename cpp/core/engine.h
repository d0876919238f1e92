// engine.h - a small sequential network run in one call: convolutions, pooling, activations,
// dense layers and softmax, float32, with weights packed once and buffers reused between calls.
//
// Layouts: x (n, c, [h,] w) channels first, as the operators. Dense layers run transposed: the
// first one turns the batch (n, k) into (k, n) so that every dense layer is a 1x1 convolution of
// one "image" whose pixels are the samples (the GEMM kernel's best shape); the result is turned
// back to (n, f) at the end. Each step is one of the core's operators, so results equal the
// operators' (the dense layers' sums run in the same order as a 1x1 convolution's).
#pragma once

#include <memory>
#include <mutex>
#include <vector>

#include "activation.h"
#include "common.h"
#include "conv.h"
#include "pool.h"

namespace cnncore {

class Engine {
 public:
  // Per-sample geometry (p.n is ignored); w (c_out, c_in/groups, k...) and bias are copied.
  void add_conv(const ConvParams& p, const float* w, const float* bias);
  // Per-sample geometry: p.planes is the number of channels.
  void add_pool(const PoolParams& p);
  void add_activation(ActKind kind, float param);
  // y = x W^T + b on flattened samples; w (out, in) row-major.
  void add_dense(index_t in, index_t out, const float* w, const float* bias);
  // Softmax over the channels (axis 1) of each sample, `channels` of them.
  void add_softmax(index_t channels);
  // The sample size the first step expects and the last produces (floats).
  index_t input_size() const noexcept { return in_size_; }
  index_t output_size() const noexcept { return cur_size_; }
  void set_input_size(index_t size) noexcept { in_size_ = cur_size_ = size; }
  // x: n samples of input_size() floats; y: n * output_size() floats. Safe to call from several
  // threads: one run at a time uses the engine's reusable buffers, the others their own.
  void run(const float* x, index_t n, float* y);

 private:
  enum class Kind { kConv, kPool, kAct, kDense, kSoftmax };
  struct Step {
    Kind kind;
    ConvParams conv;
    PoolParams pool;
    ActKind act = ActKind::kRelu;
    float param = 0;
    bool fused = false;                 // conv/dense: the next activation runs inside (act, param)
    bool finite = true;                 // conv/dense: every weight finite (see conv.h)
    index_t in_size = 0, out_size = 0;  // per sample
    index_t channels = 1;               // softmax: channels; others unused
    std::vector<float> w, b;
    std::shared_ptr<AlignedFloats> packed;  // GEMM panels, when that path applies
    std::shared_ptr<AlignedFloats> winograd;  // transformed weights, when F(2x2, 3x3) applies
  };
  std::vector<Step> steps_;
  index_t in_size_ = 0, cur_size_ = 0;
  index_t macs_ = 0;  // multiply-accumulates per sample (convolutions and dense layers)
  AlignedFloats buf_[3];
  std::mutex busy_;
  void run_with(const float* x, index_t n, float* y, AlignedFloats* bufs);
  void run_group(const float* x, index_t n, float* y, AlignedFloats* bufs,
                 std::size_t first_dense);
  // Steps [s0, s1) on n samples at x, in bufs[0] and bufs[1]; returns the result (or null when
  // interrupted). *transposed: whether the data is in the dense layers' (features, n) layout.
  const float* run_steps(std::size_t s0, std::size_t s1, const float* x, index_t n,
                         AlignedFloats* bufs, bool* transposed);
};

}  // namespace cnncore
