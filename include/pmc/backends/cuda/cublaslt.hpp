// SPDX-License-Identifier: MIT
// GEMMs through cuBLASLt (a host API: this header builds with g++ under PMC_WITH_CUDA, no nvcc):
// the raw row-major strided-batched gemm() with its per-shape plan cache, and ops::Matmul<Cuda>.
//
// Row-major through a column-major library: a row-major (r x c) matrix with leading dimension ld is, in the
// same memory, the column-major (c x r) matrix of its transpose. So C = op(A) op(B) (row-major) is computed
// as the column-major Cᵀ = op(B)ᵀ op(A)ᵀ: cuBLASLt's first operand is our B, its second our A, m and n swap.
//
// Precision: float computes in fp32 (CUBLAS_COMPUTE_32F) unless tf32 is allowed (set_allow_tf32(true) or
// GemmOptions::tf32: CUBLAS_COMPUTE_32F_FAST_TF32); bf16 and f16 multiply on tensor cores and accumulate in
// fp32 (alpha, beta in fp32); double in fp64. bf16/f16 inputs may write an fp32 C (attention scores).
//
// Plan cache: cublasLtMatmulAlgoGetHeuristic takes tens of microseconds, so the descriptors and the chosen
// algorithm are built once per key (device, m, n, k, batch, leading dimensions, batch strides, transposes,
// data and compute types, epilogue, and the alignment of the three pointers, which decides which kernels
// are legal) and kept in a thread-local map: no locking, and descriptors are never shared between threads.
// The workspace (32 MiB, as NVIDIA recommends for Hopper) comes from the caching allocator, one per
// (device, stream), so concurrent streams never share it; destroying a cuda::Stream drops its workspaces in
// every thread's context (stream.hpp's release hooks) before the allocator frees the stream's blocks.
//
// Epilogues (GemmOptions::epilogue) fuse the pass that would follow a GEMM:
//   none       D = alpha op(A) op(B) + beta C
//   bias       D = ... + bias[n]             (bias: N elements of C's type, broadcast over rows and batches)
//   gelu       D = gelu(alpha op(A) op(B) + beta C)           (tanh approximation, as cuBLASLt defines it)
//   gelu_bias  D = gelu(... + bias[n])
// LLaMA uses none (no biases, SwiGLU is its own kernel); bias/gelu are for other models' linear layers.
#pragma once

#include <cublasLt.h>
#include <cuda_runtime.h>

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <cstring>
#include <map>
#include <memory>
#include <mutex>
#include <type_traits>
#include <unordered_map>
#include <utility>
#include <vector>

#include <pmc/backends/cuda/allocator.hpp>
#include <pmc/backends/cuda/runtime.hpp>
#include <pmc/backends/cuda/stream.hpp>
#include <pmc/core/dtype.hpp>
#include <pmc/core/tensor.hpp>
#include <pmc/ops/matmul.hpp>

namespace pmc::cuda {

enum class Epilogue : std::uint8_t { none, bias, gelu, gelu_bias };

struct GemmOptions {
  bool tf32 = false;               // float only: allow TF32 tensor cores (10-bit mantissa products)
  Epilogue epilogue = Epilogue::none;
  const void* bias = nullptr;      // N elements of C's type, for Epilogue::bias and gelu_bias
};

namespace detail {
inline std::atomic<bool>& allow_tf32_flag() {
  static std::atomic<bool> f{false};
  return f;
}
}  // namespace detail

/// Lets ops::Matmul<Cuda> on float use TF32 tensor cores (off by default: exact fp32 parity with the CPU).
inline void set_allow_tf32(bool on) { detail::allow_tf32_flag().store(on); }
inline bool allow_tf32() { return detail::allow_tf32_flag().load(); }

template <class T>
constexpr cudaDataType_t cuda_data_type() {
  if constexpr (std::is_same_v<T, float>) return CUDA_R_32F;
  else if constexpr (std::is_same_v<T, double>) return CUDA_R_64F;
  else if constexpr (std::is_same_v<T, bf16>) return CUDA_R_16BF;
  else if constexpr (std::is_same_v<T, f16>) return CUDA_R_16F;
  else static_assert(sizeof(T) == 0, "cuBLASLt: unsupported element type");
}

namespace detail {

struct GemmKey {
  int device;
  std::int64_t m, n, k, batch, lda, ldb, ldc, stride_a, stride_b, stride_c;
  bool trans_a, trans_b;
  cudaDataType_t type_ab, type_c;
  cublasComputeType_t compute;
  Epilogue epilogue;
  std::uint32_t align_a, align_b, align_c;
  friend bool operator==(const GemmKey&, const GemmKey&) = default;
};

struct GemmKeyHash {
  std::size_t operator()(const GemmKey& k) const noexcept {
    std::size_t h = 1469598103934665603ull;
    auto mix = [&h](std::uint64_t v) { h = (h ^ v) * 1099511628211ull; };
    for (std::int64_t v : {k.m, k.n, k.k, k.batch, k.lda, k.ldb, k.ldc, k.stride_a, k.stride_b, k.stride_c})
      mix(static_cast<std::uint64_t>(v));
    mix(static_cast<std::uint64_t>(k.device));
    mix((static_cast<std::uint64_t>(k.trans_a) << 1) | static_cast<std::uint64_t>(k.trans_b));
    mix((static_cast<std::uint64_t>(k.type_ab) << 32) | static_cast<std::uint64_t>(k.type_c));
    mix((static_cast<std::uint64_t>(k.compute) << 8) | static_cast<std::uint64_t>(k.epilogue));
    mix((static_cast<std::uint64_t>(k.align_a) << 40) | (static_cast<std::uint64_t>(k.align_b) << 20) | k.align_c);
    return h;
  }
};

/// Descriptors and algorithm for one key; owned by the thread-local context.
struct GemmPlan {
  cublasLtMatmulDesc_t op = nullptr;
  cublasLtMatrixLayout_t a = nullptr, b = nullptr, c = nullptr;  // cuBLASLt's A (our B), B (our A), C = D
  cublasLtMatmulAlgo_t algo{};
  std::size_t workspace = 0;

  GemmPlan() = default;
  GemmPlan(const GemmPlan&) = delete;
  GemmPlan& operator=(const GemmPlan&) = delete;
  ~GemmPlan() {  // return codes ignored: may run at thread exit
    if (op) cublasLtMatmulDescDestroy(op);
    if (a) cublasLtMatrixLayoutDestroy(a);
    if (b) cublasLtMatrixLayoutDestroy(b);
    if (c) cublasLtMatrixLayoutDestroy(c);
  }
};

inline constexpr std::size_t kWorkspaceBytes = std::size_t{32} << 20;

/// cuBLASLt's view of the row-major C(m x n) = op(A) op(B): the column-major Cᵀ(n x m) = op(B)ᵀ op(A)ᵀ, whose
/// first operand is our B and second our A (each stored matrix read column-major is its own transpose).
struct LtShapes {
  cublasOperation_t op_a, op_b;     // of cuBLASLt's A (our B) and B (our A)
  std::uint64_t a_rows, a_cols;     // column-major extents of our stored B (leading dimension ldb)
  std::uint64_t b_rows, b_cols;     // of our stored A (lda)
  std::uint64_t c_rows, c_cols;     // of our C (ldc): n x m
};
constexpr LtShapes lt_shapes(std::int64_t m, std::int64_t n, std::int64_t k, bool trans_a, bool trans_b) {
  auto u = [](std::int64_t v) { return static_cast<std::uint64_t>(v); };
  return {trans_b ? CUBLAS_OP_T : CUBLAS_OP_N, trans_a ? CUBLAS_OP_T : CUBLAS_OP_N,
          u(trans_b ? k : n), u(trans_b ? n : k), u(trans_a ? m : k), u(trans_a ? k : m), u(n), u(m)};
}

class LtContext {
 public:
  static LtContext& get() {
    thread_local LtContext ctx;
    return ctx;
  }
  cublasLtHandle_t handle() const { return handle_; }

  /// The plan for `key`, built (and its algorithm chosen) on first use.
  const GemmPlan& plan(const GemmKey& key) {
    if (auto it = plans_.find(key); it != plans_.end()) return *it->second;
    auto p = build(key);
    return *plans_.emplace(key, std::move(p)).first->second;
  }

  /// The workspace of (device, current stream).
  void* workspace(int device) {
    std::lock_guard lock(ws_mu_);  // uncontended but for a stream release on another thread
    auto& w = workspaces_[{device, current_stream()}];
    if (!w) w = allocate_uninitialized(kWorkspaceBytes);
    return w.get();
  }
  std::size_t cached_plans() const { return plans_.size(); }
  /// Workspaces this thread holds for `stream` (any device).
  std::size_t workspaces_for(cudaStream_t stream) {
    std::lock_guard lock(ws_mu_);
    std::size_t n = 0;
    for (const auto& [key, w] : workspaces_) n += key.second == stream && w ? 1 : 0;
    return n;
  }

 private:
  /// Every thread's live context, so that a destroyed stream's workspaces are dropped in all of them.
  struct Registry {
    std::mutex mu;
    std::vector<LtContext*> live;
  };
  static Registry& registry() {
    static auto* r = new Registry();  // leaked: contexts of threads exiting late still unregister
    return *r;
  }
  /// The stream-release hook (stream.hpp, order 0: before the allocator frees the stream's bins, so the
  /// workspaces' blocks return to those bins and are freed with them).
  static void release_stream_everywhere(cudaStream_t s) noexcept {
    auto& r = registry();
    std::lock_guard lock(r.mu);
    for (LtContext* c : r.live) c->release_stream(s);
  }
  void release_stream(cudaStream_t s) noexcept {
    std::vector<std::shared_ptr<void>> dropped;  // released after ws_mu_ (they take the allocator's lock)
    std::lock_guard lock(ws_mu_);
    for (auto it = workspaces_.begin(); it != workspaces_.end();) {
      if (it->first.second == s) {
        dropped.push_back(std::move(it->second));
        it = workspaces_.erase(it);
      } else {
        ++it;
      }
    }
    // the lock is released before `dropped` dies (declared first, destroyed last)
  }

  LtContext() {
    PMC_CUBLAS_CHECK(cublasLtCreate(&handle_));
    on_stream_release(0, &LtContext::release_stream_everywhere);
    auto& r = registry();
    std::lock_guard lock(r.mu);
    r.live.push_back(this);
  }
  ~LtContext() {
    {
      auto& r = registry();
      std::lock_guard lock(r.mu);
      r.live.erase(std::remove(r.live.begin(), r.live.end(), this), r.live.end());
    }
    plans_.clear();
    if (handle_) cublasLtDestroy(handle_);
  }

  std::unique_ptr<GemmPlan> build(const GemmKey& key) {
    auto p = std::make_unique<GemmPlan>();
    const cudaDataType_t scale = key.compute == CUBLAS_COMPUTE_64F ? CUDA_R_64F : CUDA_R_32F;
    PMC_CUBLAS_CHECK(cublasLtMatmulDescCreate(&p->op, key.compute, scale));
    const LtShapes sh = lt_shapes(key.m, key.n, key.k, key.trans_a, key.trans_b);
    PMC_CUBLAS_CHECK(cublasLtMatmulDescSetAttribute(p->op, CUBLASLT_MATMUL_DESC_TRANSA, &sh.op_a, sizeof(sh.op_a)));
    PMC_CUBLAS_CHECK(cublasLtMatmulDescSetAttribute(p->op, CUBLASLT_MATMUL_DESC_TRANSB, &sh.op_b, sizeof(sh.op_b)));
    cublasLtEpilogue_t epi = CUBLASLT_EPILOGUE_DEFAULT;
    switch (key.epilogue) {
      case Epilogue::none: epi = CUBLASLT_EPILOGUE_DEFAULT; break;
      case Epilogue::bias: epi = CUBLASLT_EPILOGUE_BIAS; break;
      case Epilogue::gelu: epi = CUBLASLT_EPILOGUE_GELU; break;
      case Epilogue::gelu_bias: epi = CUBLASLT_EPILOGUE_GELU_BIAS; break;
    }
    PMC_CUBLAS_CHECK(cublasLtMatmulDescSetAttribute(p->op, CUBLASLT_MATMUL_DESC_EPILOGUE, &epi, sizeof(epi)));
    if (key.epilogue == Epilogue::bias || key.epilogue == Epilogue::gelu_bias) {
      const std::int32_t bias_type = key.type_c;  // the bias has D's type for these compute types
      PMC_CUBLAS_CHECK(cublasLtMatmulDescSetAttribute(p->op, CUBLASLT_MATMUL_DESC_BIAS_DATA_TYPE, &bias_type,
                                                      sizeof(bias_type)));
    }
    PMC_CUBLAS_CHECK(cublasLtMatrixLayoutCreate(&p->a, key.type_ab, sh.a_rows, sh.a_cols, key.ldb));
    PMC_CUBLAS_CHECK(cublasLtMatrixLayoutCreate(&p->b, key.type_ab, sh.b_rows, sh.b_cols, key.lda));
    PMC_CUBLAS_CHECK(cublasLtMatrixLayoutCreate(&p->c, key.type_c, sh.c_rows, sh.c_cols, key.ldc));
    if (key.batch > 1) {
      const std::int32_t count = static_cast<std::int32_t>(key.batch);
      auto set_batch = [count](cublasLtMatrixLayout_t l, std::int64_t stride) {
        PMC_CUBLAS_CHECK(cublasLtMatrixLayoutSetAttribute(l, CUBLASLT_MATRIX_LAYOUT_BATCH_COUNT, &count, sizeof(count)));
        PMC_CUBLAS_CHECK(cublasLtMatrixLayoutSetAttribute(l, CUBLASLT_MATRIX_LAYOUT_STRIDED_BATCH_OFFSET, &stride,
                                                          sizeof(stride)));
      };
      set_batch(p->a, key.stride_b);
      set_batch(p->b, key.stride_a);
      set_batch(p->c, key.stride_c);
    }

    cublasLtMatmulPreference_t pref = nullptr;
    PMC_CUBLAS_CHECK(cublasLtMatmulPreferenceCreate(&pref));
    struct PrefGuard {
      cublasLtMatmulPreference_t p;
      ~PrefGuard() { cublasLtMatmulPreferenceDestroy(p); }
    } guard{pref};
    const std::uint64_t ws = kWorkspaceBytes;
    PMC_CUBLAS_CHECK(cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES, &ws, sizeof(ws)));
    // The default assumes 256-byte aligned pointers; tell the heuristic the truth so it never picks a kernel
    // that faults on an offset view.
    PMC_CUBLAS_CHECK(cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_A_BYTES,
                                                          &key.align_b, sizeof(key.align_b)));
    PMC_CUBLAS_CHECK(cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_B_BYTES,
                                                          &key.align_a, sizeof(key.align_a)));
    PMC_CUBLAS_CHECK(cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_C_BYTES,
                                                          &key.align_c, sizeof(key.align_c)));
    PMC_CUBLAS_CHECK(cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_D_BYTES,
                                                          &key.align_c, sizeof(key.align_c)));
    cublasLtMatmulHeuristicResult_t result{};
    int found = 0;
    PMC_CUBLAS_CHECK(cublasLtMatmulAlgoGetHeuristic(handle_, p->op, p->a, p->b, p->c, p->c, pref, 1, &result, &found));
    PMC_CHECK(found > 0 && result.state == CUBLAS_STATUS_SUCCESS, "cuBLASLt: no algorithm for a GEMM of m=", key.m,
              " n=", key.n, " k=", key.k, " batch=", key.batch, " lda=", key.lda, " ldb=", key.ldb, " ldc=", key.ldc,
              " trans_a=", key.trans_a, " trans_b=", key.trans_b, " (types ", static_cast<int>(key.type_ab), "/",
              static_cast<int>(key.type_c), ")");
    p->algo = result.algo;
    p->workspace = result.workspaceSize;
    return p;
  }

  cublasLtHandle_t handle_ = nullptr;
  std::unordered_map<GemmKey, std::unique_ptr<GemmPlan>, GemmKeyHash> plans_;
  std::mutex ws_mu_;
  std::map<std::pair<int, cudaStream_t>, std::shared_ptr<void>> workspaces_;
};

/// The largest power of two (at most 256) dividing the address of every batch's matrix.
inline std::uint32_t alignment_of(const void* p, std::int64_t batch_stride_bytes, std::int64_t batch) {
  std::uint64_t v = reinterpret_cast<std::uintptr_t>(p);
  if (batch > 1) v |= static_cast<std::uint64_t>(batch_stride_bytes);
  std::uint32_t a = 256;
  while (a > 1 && (v % a) != 0) a /= 2;
  return a;
}

}  // namespace detail

/// Row-major strided-batched GEMM on the current stream: for every batch i < `batch`,
///   C_i (m x n, ldc) = alpha · op(A_i) · op(B_i) + beta · C_i
/// A_i = a + i·stride_a is stored (m x k) row-major with leading dimension lda, or (k x m) when trans_a;
/// likewise B_i (k x n) or (n x k) when trans_b. A batch stride of 0 shares one matrix among all batches.
/// TAB: float, double, bf16, f16; TC: TAB, or float for bf16/f16 inputs.
template <class TAB, class TC>
void gemm(std::int64_t m, std::int64_t n, std::int64_t k, std::int64_t batch,  //
          const TAB* a, std::int64_t lda, std::int64_t stride_a, bool trans_a,  //
          const TAB* b, std::int64_t ldb, std::int64_t stride_b, bool trans_b,  //
          TC* c, std::int64_t ldc, std::int64_t stride_c,                       //
          float alpha, float beta, const GemmOptions& opt = {}) {
  static_assert(std::is_same_v<TAB, TC> || (std::is_same_v<TC, float> && sizeof(TAB) == 2),
                "gemm: C must have A's type, or be float for 16-bit inputs");
  if (m == 0 || n == 0 || batch == 0) return;
  if (k == 0) {  // cuBLASLt rejects k = 0; the product is empty
    PMC_CHECK(beta == 0.f || beta == 1.f, "gemm: k = 0 supports beta 0 or 1 only");
    PMC_CHECK(opt.epilogue == Epilogue::none, "gemm: k = 0 with an epilogue");
    if (beta == 0.f) {
      for (std::int64_t i = 0; i < batch; ++i)
        PMC_CUDA_CHECK(cudaMemset2DAsync(c + i * stride_c, static_cast<std::size_t>(ldc) * sizeof(TC), 0,
                                         static_cast<std::size_t>(n) * sizeof(TC), static_cast<std::size_t>(m),
                                         current_stream()));
    }
    return;
  }
  PMC_CHECK(lda >= (trans_a ? m : k) && ldb >= (trans_b ? k : n) && ldc >= n, "gemm: leading dimensions lda=", lda,
            " ldb=", ldb, " ldc=", ldc, " too small for m=", m, " n=", n, " k=", k);
  const bool has_bias = opt.epilogue == Epilogue::bias || opt.epilogue == Epilogue::gelu_bias;
  PMC_CHECK(!has_bias || opt.bias != nullptr, "gemm: bias epilogue without a bias pointer");

  constexpr bool is_double = std::is_same_v<TAB, double>;
  cublasComputeType_t compute = is_double ? CUBLAS_COMPUTE_64F : CUBLAS_COMPUTE_32F;
  if constexpr (std::is_same_v<TAB, float>)
    if (opt.tf32) compute = CUBLAS_COMPUTE_32F_FAST_TF32;

  int device = 0;
  PMC_CUDA_CHECK(cudaGetDevice(&device));
  detail::GemmKey key{device, m, n, k, batch, lda, ldb, ldc,
                      batch > 1 ? stride_a : 0, batch > 1 ? stride_b : 0, batch > 1 ? stride_c : 0,
                      trans_a, trans_b, cuda_data_type<TAB>(), cuda_data_type<TC>(), compute, opt.epilogue,
                      detail::alignment_of(a, stride_a * static_cast<std::int64_t>(sizeof(TAB)), batch),
                      detail::alignment_of(b, stride_b * static_cast<std::int64_t>(sizeof(TAB)), batch),
                      detail::alignment_of(c, stride_c * static_cast<std::int64_t>(sizeof(TC)), batch)};
  auto& ctx = detail::LtContext::get();
  const auto& plan = ctx.plan(key);
  if (has_bias)
    PMC_CUBLAS_CHECK(cublasLtMatmulDescSetAttribute(plan.op, CUBLASLT_MATMUL_DESC_BIAS_POINTER, &opt.bias,
                                                    sizeof(opt.bias)));
  void* ws = plan.workspace > 0 ? ctx.workspace(device) : nullptr;
  const double alpha_d = alpha, beta_d = beta;
  const void* pa = is_double ? static_cast<const void*>(&alpha_d) : static_cast<const void*>(&alpha);
  const void* pb = is_double ? static_cast<const void*>(&beta_d) : static_cast<const void*>(&beta);
  PMC_CUBLAS_CHECK(cublasLtMatmul(ctx.handle(), plan.op, pa, b, plan.a, a, plan.b, pb, c, plan.c, c, plan.c,
                                  &plan.algo, ws, plan.workspace, current_stream()));
}

/// How many GEMM plans this thread has cached (for tests and benchmarks).
inline std::size_t gemm_plan_cache_size() { return detail::LtContext::get().cached_plans(); }

namespace detail {

/// One operand op(X) of a (batched) product, as a logical (rows x cols) matrix: stored row-major at `ptr` with
/// leading dimension `ld`, transposed in storage when `trans`; batch `batch` with stride `bstride` (0: shared).
struct MatOperand {
  void* ptr;
  std::int64_t rows, cols, ld, bstride, batch;
  bool trans;
};

inline MatOperand transposed(MatOperand x) {
  std::swap(x.rows, x.cols);
  x.trans = !x.trans;
  return x;
}

/// op(t) for a 2-D or 3-D tensor whose last two dimensions are row-major or a transposed view.
template <class T>
MatOperand mat_operand(const Tensor<T, Cuda>& t, bool trans, const char* what) {
  PMC_CHECK(t.rank() == 2 || t.rank() == 3, "Matmul<Cuda>: ", what, " must be 2-D or 3-D, got shape ",
            t.shape().str());
  const std::int64_t r = t.size(-2), c = t.size(-1), sr = t.strides()[-2], sc = t.strides()[-1];
  MatOperand m{t.data(), r, c, 0, 0, t.rank() == 3 ? t.size(0) : 1, false};
  if (c == 1 || sc == 1) {
    m.ld = r == 1 ? std::max<std::int64_t>(c, 1) : sr;
    if (m.ld < c) m.ld = -1;
  } else {
    m.ld = -1;
  }
  if (m.ld < 0 && (r == 1 || sr == 1)) {  // a transposed view: the stored matrix is (c x r), ld = sc
    m.ld = c == 1 ? std::max<std::int64_t>(r, 1) : sc;
    m.trans = true;
    if (m.ld < r) m.ld = -1;
  }
  PMC_CHECK(m.ld >= 1, "Matmul<Cuda>: ", what, " of shape ", t.shape().str(), " and strides ", t.strides().str(),
            " is neither row-major nor a transposed view in its last two dimensions; make it contiguous first");
  if (t.rank() == 3) {
    PMC_CHECK(t.strides()[0] >= 0, "Matmul<Cuda>: negative batch stride in ", what);
    m.bstride = m.batch > 1 ? t.strides()[0] : 0;
  }
  return trans ? transposed(m) : m;
}

/// C = alpha X Y + beta C for operands of matching logical shapes. Batches: X, Y have C's batch or are shared;
/// a C shared by batched X/Y (a weight gradient) receives the sum over the batch.
template <class T>
void run_product(MatOperand x, MatOperand y, MatOperand c, float alpha, float beta, const GemmOptions& opt) {
  if (c.trans) {  // write Cᵀ = Yᵀ Xᵀ so that the output is row-major
    PMC_CHECK(opt.epilogue == Epilogue::none, "Matmul<Cuda>: epilogues need a row-major C");
    run_product<T>(transposed(y), transposed(x), transposed(c), alpha, beta, opt);
    return;
  }
  PMC_CHECK(x.rows == c.rows && y.cols == c.cols && x.cols == y.rows, "Matmul<Cuda>: shapes (", x.rows, " x ",
            x.cols, ") · (", y.rows, " x ", y.cols, ") -> (", c.rows, " x ", c.cols, ") do not match");
  const std::int64_t nb = std::max(x.batch, y.batch);
  PMC_CHECK((x.batch == 1 || x.batch == nb) && (y.batch == 1 || y.batch == nb) && (c.batch == 1 || c.batch == nb),
            "Matmul<Cuda>: batch sizes ", x.batch, ", ", y.batch, " and ", c.batch, " do not broadcast");
  auto* xp = static_cast<const T*>(x.ptr);
  auto* yp = static_cast<const T*>(y.ptr);
  auto* cp = static_cast<T*>(c.ptr);
  const std::int64_t xs = x.batch > 1 ? x.bstride : 0, ys = y.batch > 1 ? y.bstride : 0;
  const std::int64_t m = c.rows, n = c.cols, k = x.cols;

  if (c.batch == 1 && nb > 1) {  // C = Σ_i X_i Y_i: fold the batch into k when both stack along k, else loop
    const bool x_stacks = x.trans && x.batch == nb && xs == k * x.ld;   // stored (k x m): batches stack rows
    const bool y_stacks = !y.trans && y.batch == nb && ys == k * y.ld;  // stored (k x n): batches stack rows
    if (x_stacks && y_stacks) {
      gemm<T, T>(m, n, k * nb, 1, xp, x.ld, 0, true, yp, y.ld, 0, false, cp, c.ld, 0, alpha, beta, opt);
      return;
    }
    for (std::int64_t i = 0; i < nb; ++i)
      gemm<T, T>(m, n, k, 1, xp + i * xs, x.ld, 0, x.trans, yp + i * ys, y.ld, 0, y.trans, cp, c.ld, 0, alpha,
                 i == 0 ? beta : 1.f, opt);
    return;
  }
  if (nb > 1 && y.batch == 1 && !x.trans && xs == m * x.ld && c.bstride == m * c.ld) {
    // A shared right operand (x · Wᵀ over a batch): one GEMM of nb·m rows.
    gemm<T, T>(m * nb, n, k, 1, xp, x.ld, 0, false, yp, y.ld, 0, y.trans, cp, c.ld, 0, alpha, beta, opt);
    return;
  }
  gemm<T, T>(m, n, k, nb, xp, x.ld, xs, x.trans, yp, y.ld, ys, y.trans, cp, c.ld, nb > 1 ? c.bstride : 0, alpha,
             beta, opt);
}

}  // namespace detail

/// C = alpha op(A) op(B) + beta C on tensors (the ops::Matmul contract) with GEMM options (epilogues, tf32).
template <class T>
void matmul(const Tensor<T, Cuda>& a, const Tensor<T, Cuda>& b, const Tensor<T, Cuda>& c, bool trans_a,
            bool trans_b, float alpha, float beta, const GemmOptions& opt) {
  PMC_CHECK(c.is_contiguous(), "Matmul<Cuda>: C of shape ", c.shape().str(), " must be contiguous");
  auto x = detail::mat_operand(a, trans_a, "A");
  auto y = detail::mat_operand(b, trans_b, "B");
  auto z = detail::mat_operand(c, false, "C");
  PMC_CHECK(z.batch == std::max(x.batch, y.batch), "Matmul<Cuda>: C of shape ", c.shape().str(),
            " does not match A ", a.shape().str(), " and B ", b.shape().str());
  detail::run_product<T>(x, y, z, alpha, beta, opt);
}

}  // namespace pmc::cuda

namespace pmc::ops {

/// Matmul on cuBLASLt (see the contract in pmc/ops/matmul.hpp). float uses TF32 only after set_allow_tf32(true).
template <>
struct Matmul<Cuda> {
  template <class T>
  static void forward(const Tensor<T, Cuda>& a, const Tensor<T, Cuda>& b, const Tensor<T, Cuda>& c, bool trans_a,
                      bool trans_b, float alpha = 1, float beta = 0) {
    check_matmul_args(a, b, c, trans_a, trans_b);
    cuda::GemmOptions opt;
    opt.tf32 = cuda::allow_tf32();
    cuda::matmul(a, b, c, trans_a, trans_b, alpha, beta, opt);
  }

  /// With C = op(A) op(B):  d op(A) = dC · op(B)ᵀ,  d op(B) = op(A)ᵀ · dC, accumulated into da, db (each only if
  /// defined). A shared 2-D B receives the sum over the batch.
  template <class T>
  static void backward(const Tensor<T, Cuda>& a, const Tensor<T, Cuda>& b, const Tensor<T, Cuda>& dc,
                       const Tensor<T, Cuda>& da, const Tensor<T, Cuda>& db, bool trans_a, bool trans_b) {
    check_matmul_backward_args(a, b, dc, da, db, trans_a, trans_b);
    cuda::GemmOptions opt;
    opt.tf32 = cuda::allow_tf32();
    const auto x = cuda::detail::mat_operand(a, trans_a, "A");
    const auto y = cuda::detail::mat_operand(b, trans_b, "B");
    const auto g = cuda::detail::mat_operand(dc, false, "dC");
    if (da.defined()) {
      cuda::detail::run_product<T>(g, cuda::detail::transposed(y), cuda::detail::mat_operand(da, trans_a, "dA"), 1.f,
                                   1.f, opt);
    }
    if (db.defined()) {
      cuda::detail::run_product<T>(cuda::detail::transposed(x), g, cuda::detail::mat_operand(db, trans_b, "dB"), 1.f,
                                   1.f, opt);
    }
  }
};

}  // namespace pmc::ops
