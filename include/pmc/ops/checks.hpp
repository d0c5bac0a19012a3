// SPDX-License-Identifier: MIT
// The wording the ops' argument checks share: every contract in pmc/ops/ checks its arguments with these, so a
// bad call reads the same on every device. Checks name the op first ("rope backward: ..."), then the operand.
#pragma once

#include <pmc/core/device.hpp>
#include <pmc/core/error.hpp>
#include <pmc/core/shape.hpp>
#include <pmc/core/tensor.hpp>

namespace pmc::ops::detail {

template <class T, Device D>
void check_defined(const Tensor<T, D>& t, const char* op, const char* name) {
  PMC_CHECK(t.defined(), op, ": ", name, " is undefined");
}

template <class T, Device D>
void check_contiguous(const Tensor<T, D>& t, const char* op, const char* name) {
  check_defined(t, op, name);
  PMC_CHECK(t.is_contiguous(), op, ": ", name, " of shape ", t.shape().str(), " (strides ", t.strides().str(),
            ") must be contiguous");
}

/// `name` (e.g. "dq") must have the shape of `of` (e.g. "q").
template <class T, class U, Device D>
void check_shape_of(const Tensor<T, D>& t, const char* name, const Tensor<U, D>& ref, const char* of,
                    const char* op) {
  check_defined(t, op, name);
  PMC_CHECK(t.shape() == ref.shape(), op, ": ", name, " ", t.shape().str(), " must have the shape of ", of, " ",
            ref.shape().str());
}

}  // namespace pmc::ops::detail
