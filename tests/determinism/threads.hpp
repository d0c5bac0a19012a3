// SPDX-License-Identifier: MIT
// Shared by the determinism tests: running a computation at a given OpenMP thread count, and comparing the bits of
// what it returns.
#pragma once

#include <cstring>
#include <vector>

#include <pmc/core/tensor.hpp>

#ifdef _OPENMP
#include <omp.h>
#endif

namespace pmc::test {

/// The thread counts every result must be the same for (the CI machine has 2 cores: 3 threads oversubscribe it,
/// which also makes the threads finish in an unpredictable order).
inline constexpr int kThreadCounts[] = {1, 2, 3};

/// f() with `threads` OpenMP threads, the previous count restored afterwards.
template <class F>
auto at_threads(int threads, F&& f) {
#ifdef _OPENMP
  const int saved = omp_get_max_threads();
  omp_set_num_threads(threads);
  struct Restore {
    int n;
    ~Restore() { omp_set_num_threads(n); }
  } restore{saved};
#else
  (void)threads;
#endif
  return f();
}

/// The bytes of tensors (or doubles), appended in order: two results are the same bits when these are equal.
struct Bits {
  std::vector<unsigned char> bytes;

  template <class T>
  Bits& add(const Tensor<T>& t) {
    const auto c = t.contiguous();
    const auto* p = reinterpret_cast<const unsigned char*>(c.data());
    bytes.insert(bytes.end(), p, p + c.numel() * static_cast<std::int64_t>(sizeof(T)));
    return *this;
  }
  Bits& add(double x) {
    unsigned char b[sizeof x];
    std::memcpy(b, &x, sizeof x);
    bytes.insert(bytes.end(), b, b + sizeof x);
    return *this;
  }
  bool operator==(const Bits&) const = default;
};

}  // namespace pmc::test
