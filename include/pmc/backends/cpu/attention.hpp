// SPDX-License-Identifier: MIT
// Attention<Cpu>: causal GQA attention, one (batch, head) block per OpenMP iteration, Eigen products per head
// on strided maps of the (B, T, H, Dh) layout, a block of 64 queries at a time against only the keys it sees
// (the causal lower triangle); 16-bit blocks are staged to float. Packed windows (ops::Segments): each query row's
// keys start at its example's first token (the block-diagonal causal mask), a per-row lower bound as the sliding
// window's.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <type_traits>
#include <vector>

#include <pmc/backends/cpu/eigen.hpp>
#include <pmc/core/tensor.hpp>
#include <pmc/ops/attention.hpp>
#include <pmc/ops/segments.hpp>

namespace pmc::backends::cpu {

/// One head's (rows, Dh) slice of a (B, T, H, Dh) tensor: rows `stride` elements apart.
template <class T>
struct HeadBlock {
  T* data = nullptr;
  std::int64_t rows = 0, cols = 0, stride = 0;

  static HeadBlock of(const Tensor<T, Cpu>& x, std::int64_t b, std::int64_t h, std::int64_t rows) {
    const auto& s = x.strides();
    return {x.data() + b * s[0] + h * s[2], rows, x.size(3), s[1]};
  }
};

/// The block as a compute-type row-major map: in place for float/double, else converted into `buf`.
template <class T>
ConstRowMap<compute_t<T>> stage(const HeadBlock<T>& blk, AlignedVector<compute_t<T>>& buf) {
  using C = compute_t<T>;
  if constexpr (std::is_same_v<T, C>) {
    return ConstRowMap<C>(blk.data, blk.rows, blk.cols, Eigen::OuterStride<>(std::max<std::int64_t>(blk.stride, 1)));
  } else {
    buf.resize(static_cast<std::size_t>(blk.rows * blk.cols));
    for (std::int64_t i = 0; i < blk.rows; ++i)
      for (std::int64_t j = 0; j < blk.cols; ++j)
        buf[static_cast<std::size_t>(i * blk.cols + j)] = static_cast<C>(blk.data[i * blk.stride + j]);
    return ConstRowMap<C>(buf.data(), blk.rows, blk.cols, Eigen::OuterStride<>(std::max<std::int64_t>(blk.cols, 1)));
  }
}

/// Runs f(map) on the block as a compute-type map. float/double write in place; 16-bit types get a zeroed
/// float map whose result is then stored (accumulate = false) or added (accumulate = true) to the block.
template <class T, class F>
void update(const HeadBlock<T>& blk, bool accumulate, AlignedVector<compute_t<T>>& buf, F&& f) {
  using C = compute_t<T>;
  if constexpr (std::is_same_v<T, C>) {
    RowMap<C> m(blk.data, blk.rows, blk.cols, Eigen::OuterStride<>(std::max<std::int64_t>(blk.stride, 1)));
    f(m);
  } else {
    buf.assign(static_cast<std::size_t>(blk.rows * blk.cols), C(0));
    RowMap<C> m(buf.data(), blk.rows, blk.cols, Eigen::OuterStride<>(std::max<std::int64_t>(blk.cols, 1)));
    f(m);
    for (std::int64_t i = 0; i < blk.rows; ++i)
      for (std::int64_t j = 0; j < blk.cols; ++j) {
        T& d = blk.data[i * blk.stride + j];
        const C v = buf[static_cast<std::size_t>(i * blk.cols + j)];
        d = static_cast<T>(accumulate ? static_cast<C>(d) + v : v);
      }
  }
}

}  // namespace pmc::backends::cpu

namespace pmc::ops {

template <>
struct Attention<Cpu> {
  /// q, k, v, out and the gradients may be views with any batch, row and head strides (only the head dimension
  /// must be contiguous): e.g. k, v = positions [0, n) of a (B, S_max, Hkv, Dh) KV cache, which the model then
  /// reads in place (llama::Model's cache_prefix).
  static constexpr bool strided_kv = true;

  /// probs may be undefined (inference): the probabilities then live in per-thread scratch.
  /// segments (packed windows, pos0 = 0): query t of batch row b sees keys [segments->start[b·T + t], t] (and the
  /// sliding window's); the probabilities outside are 0, so backward (from probs) needs nothing more.
  template <class T>
  static void forward(const Tensor<T, Cpu>& q, const Tensor<T, Cpu>& k, const Tensor<T, Cpu>& v, std::int64_t pos0,
                      const Tensor<T, Cpu>& out, const Tensor<compute_t<T>, Cpu>& probs, std::int64_t window = 0,
                      const Segments* segments = nullptr) {
    using C = compute_t<T>;
    using namespace backends::cpu;
    const AttentionDims d = check_attention_args(q, k, v, pos0, out, probs);
    PMC_CHECK(window >= 0, "attention: negative sliding window ", window);
    if (segments) {
      PMC_CHECK(pos0 == 0, "attention: packed segments need pos0 = 0 (no KV cache), got ", pos0);
      segments->check(d.b, d.t, "attention");
    }
    for (const auto* x : {&q, &k, &v, &out}) check_head_layout(*x, "attention");
    const bool save = probs.defined();
    const C scale = C(1) / std::sqrt(static_cast<C>(d.dh));
    const std::int64_t se = pos0 + d.t;  // keys beyond the last query's position are never attended
    parallel_for(d.b * d.h, d.t * se * d.dh, [&](std::int64_t bh) {
      const std::int64_t b = bh / d.h, h = bh % d.h, hk = h / d.group;
      const auto qm = stage(HeadBlock<T>::of(q, b, h, d.t), scratch<C, 0>());
      const auto km = stage(HeadBlock<T>::of(k, b, hk, se), scratch<C, 1>());
      const auto vm = stage(HeadBlock<T>::of(v, b, hk, se), scratch<C, 2>());
      auto& pbuf = scratch<C, 3>();
      if (!save) pbuf.resize(static_cast<std::size_t>(d.t * d.s));
      C* pp = save ? probs.data() + bh * d.t * d.s : pbuf.data();
      RowMap<C> pfull(pp, d.t, d.s, Eigen::OuterStride<>(d.s));
      // Causal: a block of queries [t0, t0 + tb) needs keys [0, pos0 + t0 + tb) only, so the products skip
      // the masked upper triangle a block at a time (about half the work at T ≫ kQueryBlock).
      for_each_query_block(d.t, pos0, [&](std::int64_t t0, std::int64_t tb, std::int64_t keys) {
        pfull.block(t0, 0, tb, keys).noalias() = scale * qm.middleRows(t0, tb) * km.topRows(keys).transpose();
      });
      for (std::int64_t t = 0; t < d.t; ++t) {
        const std::int64_t valid = pos0 + t + 1;  // causal: keys s ≤ pos0 + t
        std::int64_t first = window > 0 ? std::max<std::int64_t>(0, valid - window) : 0;  // sliding window
        if (segments) first = std::max<std::int64_t>(first, segments->start[static_cast<std::size_t>(b * d.t + t)]);
        auto row = pfull.row(t);
        auto seen = row.segment(first, valid - first);
        const C mx = seen.maxCoeff();
        seen = (seen.array() - mx).exp();
        seen /= seen.sum();
        row.head(first).setZero();
        row.tail(d.s - valid).setZero();
      }
      update(HeadBlock<T>::of(out, b, h, d.t), false, scratch<C, 4>(), [&](auto& om) {  // (T, Dh)
        for_each_query_block(d.t, pos0, [&](std::int64_t t0, std::int64_t tb, std::int64_t keys) {
          om.middleRows(t0, tb).noalias() = pfull.block(t0, 0, tb, keys) * vm.topRows(keys);
        });
      });
    });
  }

  template <class T>
  static void backward(const Tensor<T, Cpu>& q, const Tensor<T, Cpu>& k, const Tensor<T, Cpu>& v,
                       const Tensor<compute_t<T>, Cpu>& probs, const Tensor<T, Cpu>& dout, const Tensor<T, Cpu>& dq,
                       const Tensor<T, Cpu>& dk, const Tensor<T, Cpu>& dv) {
    using C = compute_t<T>;
    using namespace backends::cpu;
    // The forward's pos0 is not passed: its last query sat at S' − 1 with S' = pos0 + T ≤ S, and probs are zero
    // beyond it. Query t is taken to see keys [0, S − T + t]: a superset of its keys (exact, since the extra
    // probabilities are zero) that is the set itself when S = pos0 + T, as in training.
    const AttentionDims d = check_attention_backward_args(q, k, v, probs, dout, dq, dk, dv);
    for (const auto* x : {&q, &k, &v, &dout, &dq, &dk, &dv})
      if (x->defined()) check_head_layout(*x, "attention backward");
    const C scale = C(1) / std::sqrt(static_cast<C>(d.dh));
    const std::int64_t se = d.s, offset = d.s - d.t;  // query t sees keys [0, offset + t]
    // One iteration per KV head: the G query heads that share it add into its dk, dv without racing.
    parallel_for(d.b * d.hkv, d.group * d.t * se * d.dh * 4, [&](std::int64_t bk) {
      const std::int64_t b = bk / d.hkv, hk = bk % d.hkv;
      const auto km = stage(HeadBlock<T>::of(k, b, hk, se), scratch<C, 1>());
      const auto vm = stage(HeadBlock<T>::of(v, b, hk, se), scratch<C, 2>());
      RowMatrix<C> dk_acc = RowMatrix<C>::Zero(se, d.dh), dv_acc = RowMatrix<C>::Zero(se, d.dh);
      RowMatrix<C> ds(d.t, se);  // dS; a query block's columns past its keys are never written or read
      for (std::int64_t g = 0; g < d.group; ++g) {
        const std::int64_t h = hk * d.group + g;
        const auto qm = stage(HeadBlock<T>::of(q, b, h, d.t), scratch<C, 0>());
        const auto om = stage(HeadBlock<T>::of(dout, b, h, d.t), scratch<C, 3>());
        ConstRowMap<C> p(probs.data() + (b * d.h + h) * d.t * d.s, d.t, se, Eigen::OuterStride<>(d.s));
        for_each_query_block(d.t, offset, [&](std::int64_t t0, std::int64_t tb, std::int64_t keys) {
          auto dsb = ds.block(t0, 0, tb, keys);
          dsb.noalias() = om.middleRows(t0, tb) * vm.topRows(keys).transpose();  // dP
          for (std::int64_t i = 0; i < tb; ++i) {  // dS = P ⊙ (dP − rowsum(dP ⊙ P))
            const auto prow = p.row(t0 + i).head(keys);
            const C dot = dsb.row(i).dot(prow);
            dsb.row(i) = prow.cwiseProduct((dsb.row(i).array() - dot).matrix());
          }
          if (dk.defined()) dk_acc.topRows(keys).noalias() += scale * dsb.transpose() * qm.middleRows(t0, tb);
          if (dv.defined()) dv_acc.topRows(keys).noalias() += p.block(t0, 0, tb, keys).transpose() * om.middleRows(t0, tb);
        });
        if (dq.defined())
          update(HeadBlock<T>::of(dq, b, h, d.t), true, scratch<C, 4>(), [&](auto& m) {
            for_each_query_block(d.t, offset, [&](std::int64_t t0, std::int64_t tb, std::int64_t keys) {
              m.middleRows(t0, tb).noalias() += scale * ds.block(t0, 0, tb, keys) * km.topRows(keys);
            });
          });
      }
      if (dk.defined()) update(HeadBlock<T>::of(dk, b, hk, se), true, scratch<C, 4>(), [&](auto& m) { m += dk_acc; });
      if (dv.defined()) update(HeadBlock<T>::of(dv, b, hk, se), true, scratch<C, 4>(), [&](auto& m) { m += dv_acc; });
    });
  }

 private:
  /// Queries per block of the causal products: each block multiplies only the keys its last query sees.
  static constexpr std::int64_t kQueryBlock = 64;

  /// f(t0, tb, keys) for each block of queries [t0, t0 + tb) of T, where query t sees keys [0, key_offset + t]:
  /// the block needs keys [0, keys) with keys = key_offset + t0 + tb.
  template <class F>
  static void for_each_query_block(std::int64_t t, std::int64_t key_offset, F&& f) {
    for (std::int64_t t0 = 0; t0 < t; t0 += kQueryBlock) {
      const std::int64_t tb = std::min(kQueryBlock, t - t0);
      f(t0, tb, key_offset + t0 + tb);
    }
  }

  /// The CPU's layout need: the head dimension is contiguous (the other strides are free).
  template <class T>
  static void check_head_layout(const Tensor<T, Cpu>& x, const char* op) {
    PMC_CHECK(x.size(3) <= 1 || x.strides()[3] == 1, op, ": the head dimension of ", x.shape().str(),
              " must be contiguous (strides ", x.strides().str(), ")");
  }
};

}  // namespace pmc::ops
