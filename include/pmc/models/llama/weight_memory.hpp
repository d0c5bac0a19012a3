// SPDX-License-Identifier: MIT
// Where a loaded checkpoint's weights live when the file stores them in the model's type: borrowed from the
// file's mapping, or copied into memory of the model's own.
#pragma once

#include <cstddef>
#include <cstring>
#include <span>
#include <utility>

#include <pmc/core/tensor.hpp>
#include <pmc/ops/optimizer.hpp>

namespace pmc::llama {

/// mapped: a weight stored in the model's type borrows the file's pages (nothing copied: the quickest load, and a
///         model larger than the free memory still runs, paged in from the file).
/// copied: each such weight is copied into memory of its own, on huge pages (Allocator<Cpu>), the file's pages of
///         it dropped as it is copied, so the resident size stays one copy. Decoding streams every weight once a
///         token and reads huge pages faster than a file's 4 KiB pages (docs/performance.md, BM_WeightPages):
///         `pmc generate` and `pmc eval` load so when the checkpoint fits in the available memory, or as
///         `--weight-memory mapped|copied` says.
enum class WeightMemory { mapped, copied };

namespace detail {
/// `t`, a parameter read from a file whose bytes of it are `stored`: itself, or, under `copied` when it borrows
/// those bytes, a copy of its own, after which `release()` drops the file's pages of it.
/// (D is always Cpu, a file's mapping being host memory: a template parameter so that ParamOps<D> is looked up
/// where the backends are included.)
template <class T, Device D, class Release>
Tensor<T, D> in_memory(Tensor<T, D> t, std::span<const std::byte> stored, WeightMemory memory, Release&& release) {
  if (memory != WeightMemory::copied || static_cast<const void*>(t.data()) != static_cast<const void*>(stored.data()))
    return t;
  Tensor<T, D> own = Tensor<T, D>::empty(t.shape());  // every element written below: no zero-fill first
  // on every thread: each faults in its own pages of the file and of the copy
  if (t.is_contiguous()) ops::ParamOps<D>::convert(t.data(), own.data(), t.numel());
  else t.copy_to(own);
  t = Tensor<T, D>();  // the last reference to the borrowed bytes
  std::forward<Release>(release)();
  return own;
}
}  // namespace detail

}  // namespace pmc::llama
