// SPDX-License-Identifier: MIT
// MatDesc: a strided (batch of) logical matrix view, the operand description of the CPU GEMMs.
#pragma once

#include <cstdint>

namespace pmc::backends::cpu {

/// `batch` logical (rows, cols) matrices: element (b, i, j) is data[b·bs + i·rs + j·cs]. bs = 0 broadcasts
/// an operand; for the output it means "sum over the batch" (the gradient of a shared 2-D operand).
template <class T>
struct MatDesc {
  T* data = nullptr;
  std::int64_t rows = 0, cols = 0, rs = 0, cs = 0, bs = 0;

  MatDesc t() const { return {data, cols, rows, cs, rs, bs}; }
  T& at(std::int64_t i, std::int64_t j) const { return data[i * rs + j * cs]; }
  MatDesc batch(std::int64_t b) const {
    MatDesc d = *this;
    d.data += b * bs;
    return d;
  }
  /// Strides of unit extents are arbitrary; pin them so that layout tests below see the real layout.
  MatDesc normalized() const {
    MatDesc d = *this;
    if (d.cols == 1) d.cs = 1;
    if (d.rows == 1 && d.cs != 1) d.rs = 1;
    return d;
  }
  bool row_major() const { return cs == 1; }
  bool col_major() const { return rs == 1; }
  std::int64_t outer() const { return row_major() ? (rows == 1 ? cols : rs) : (cols == 1 ? rows : cs); }
};

}  // namespace pmc::backends::cpu
