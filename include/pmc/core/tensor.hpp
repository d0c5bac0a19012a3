// SPDX-License-Identifier: MIT
// Tensor<T, D>: a strided view of Storage<T, D>. Views (slice, select, reshape, transpose, permute) share
// storage and never copy; contiguous() and clone() copy.
#pragma once

#include <algorithm>
#include <cstdint>
#include <initializer_list>
#include <numeric>
#include <span>
#include <type_traits>
#include <vector>

#include <pmc/core/device.hpp>
#include <pmc/core/dtype.hpp>
#include <pmc/core/error.hpp>
#include <pmc/core/shape.hpp>
#include <pmc/core/storage.hpp>

namespace pmc {

/// Row-major strides of a shape, in elements.
inline Shape contiguous_strides(const Shape& shape) {
  Shape s = shape;
  std::int64_t acc = 1;
  for (int i = shape.rank() - 1; i >= 0; --i) {
    s[i] = acc;
    acc *= shape[i];
  }
  return s;
}

/// An n-dimensional array of T on device D.
///
///   Tensor<float> x({2, 3});            // zeros, contiguous, 64-byte aligned
///   auto xt = x.transpose(0, 1);        // (3, 2) view of the same memory
///   x.at({1, 2}) = 5.f;                 // xt.at({2, 1}) == 5
template <class T, Device D = Cpu>
class Tensor {
 public:
  using value_type = T;
  using device_type = D;

  Tensor() = default;
  /// A new contiguous tensor filled with zeros.
  explicit Tensor(const Shape& shape)
      : storage_(checked_count(shape)), shape_(shape), strides_(contiguous_strides(shape)) {}
  Tensor(std::initializer_list<std::int64_t> shape) : Tensor(Shape(shape)) {}

  /// A contiguous view of `count` borrowed elements; `owner` keeps them alive.
  static Tensor wrap(T* data, const Shape& shape, std::shared_ptr<void> owner = nullptr) {
    Tensor t;
    t.storage_ = Storage<T, D>(data, static_cast<std::size_t>(shape.numel()), std::move(owner));
    t.shape_ = shape;
    t.strides_ = contiguous_strides(shape);
    return t;
  }
  static Tensor zeros(const Shape& shape) { return Tensor(shape); }
  /// A new contiguous tensor whose contents are unspecified: only for outputs that an op overwrites entirely
  /// (it saves the zero-fill, 5% of a CPU training step).
  static Tensor empty(const Shape& shape) {
    Tensor t;
    t.storage_ = Storage<T, D>(checked_count(shape), false);
    t.shape_ = shape;
    t.strides_ = contiguous_strides(shape);
    return t;
  }
  /// A CPU tensor holding `values` (row-major) with the given shape.
  static Tensor from(const Shape& shape, std::span<const T> values)
    requires std::is_same_v<D, Cpu>
  {
    PMC_CHECK(static_cast<std::int64_t>(values.size()) == shape.numel(), "Tensor::from: ", values.size(),
              " values for shape ", shape.str());
    Tensor t(shape);
    std::copy(values.begin(), values.end(), t.data());
    return t;
  }
  static Tensor from(const Shape& shape, std::initializer_list<T> values)
    requires std::is_same_v<D, Cpu>
  {
    return from(shape, std::span<const T>(values.begin(), values.size()));
  }

  // ---- metadata ----
  const Shape& shape() const { return shape_; }
  const Shape& strides() const { return strides_; }
  int rank() const { return shape_.rank(); }
  std::int64_t size(int d) const { return shape_[d]; }
  std::int64_t numel() const { return shape_.numel(); }
  std::int64_t offset() const { return offset_; }
  bool defined() const { return storage_.data() != nullptr; }
  /// Row-major without gaps; the stride of an extent-1 dimension does not matter.
  bool is_contiguous() const {
    std::int64_t expected = 1;
    for (int i = rank() - 1; i >= 0; --i) {
      if (shape_[i] != 1 && strides_[i] != expected) return false;
      expected *= shape_[i];
    }
    return true;
  }
  /// Pointer to element (0, ..., 0).
  T* data() const { return storage_.data() + offset_; }
  const Storage<T, D>& storage() const { return storage_; }
  bool shares_storage_with(const Tensor& o) const { return storage_.same_memory(o.storage_); }

  // ---- element access (CPU) ----
  T& at(std::initializer_list<std::int64_t> idx) const
    requires std::is_same_v<D, Cpu>
  {
    PMC_CHECK(static_cast<int>(idx.size()) == rank(), "Tensor::at: ", idx.size(), " indices for shape ",
              shape_.str());
    std::int64_t off = 0;
    int d = 0;
    for (auto i : idx) {
      PMC_CHECK(i >= 0 && i < shape_[d], "Tensor::at: index ", i, " out of range for dimension ", d,
                " of shape ", shape_.str());
      off += i * strides_[d++];
    }
    return data()[off];
  }
  /// Element i of a contiguous tensor, flat.
  T& operator[](std::int64_t i) const
    requires std::is_same_v<D, Cpu>
  {
    return data()[i];
  }
  std::span<T> span() const
    requires std::is_same_v<D, Cpu>
  {
    PMC_CHECK(is_contiguous(), "Tensor::span: tensor of shape ", shape_.str(), " is not contiguous");
    return {data(), static_cast<std::size_t>(numel())};
  }
  std::vector<T> to_vector() const
    requires std::is_same_v<D, Cpu>
  {
    auto c = contiguous();
    return {c.data(), c.data() + c.numel()};
  }

  // ---- views: share storage ----
  /// The same elements with a new shape; one extent may be -1 (inferred). Requires a contiguous tensor.
  Tensor reshape(Shape shape) const {
    int infer = -1;
    std::int64_t known = 1;
    for (int i = 0; i < shape.rank(); ++i) {
      if (shape[i] == -1) {
        PMC_CHECK(infer < 0, "reshape: more than one -1 in ", shape.str());
        infer = i;
      } else {
        known *= shape[i];
      }
    }
    if (infer >= 0) {
      PMC_CHECK(known > 0 && numel() % known == 0, "reshape: cannot reshape ", shape_.str(), " to ", shape.str());
      shape[infer] = numel() / known;
    }
    PMC_CHECK(shape.numel() == numel(), "reshape: cannot reshape ", shape_.str(), " (", numel(),
              " elements) to ", shape.str());
    PMC_CHECK(is_contiguous(), "reshape: tensor of shape ", shape_.str(),
              " is not contiguous; call contiguous() first");
    Tensor t = *this;
    t.shape_ = shape;
    t.strides_ = contiguous_strides(shape);
    return t;
  }
  Tensor reshape(std::initializer_list<std::int64_t> s) const { return reshape(Shape(s)); }
  /// Elements [start, end) along dimension d.
  Tensor slice(int d, std::int64_t start, std::int64_t end) const {
    d = norm_dim(d);
    PMC_CHECK(0 <= start && start <= end && end <= shape_[d], "slice: [", start, ", ", end,
              ") is out of range for dimension ", d, " of shape ", shape_.str());
    Tensor t = *this;
    t.offset_ += start * strides_[d];
    t.shape_[d] = end - start;
    return t;
  }
  /// Index i along dimension d, which is removed.
  Tensor select(int d, std::int64_t i) const {
    d = norm_dim(d);
    PMC_CHECK(0 <= i && i < shape_[d], "select: index ", i, " out of range for dimension ", d, " of shape ",
              shape_.str());
    Tensor t;
    t.storage_ = storage_;
    t.offset_ = offset_ + i * strides_[d];
    for (int k = 0; k < rank(); ++k)
      if (k != d) {
        t.shape_.push_back(shape_[k]);
        t.strides_.push_back(strides_[k]);
      }
    return t;
  }
  Tensor transpose(int d0, int d1) const {
    d0 = norm_dim(d0);
    d1 = norm_dim(d1);
    Tensor t = *this;
    std::swap(t.shape_[d0], t.shape_[d1]);
    std::swap(t.strides_[d0], t.strides_[d1]);
    return t;
  }
  /// Dimension k of the result is dimension order[k] of this tensor.
  Tensor permute(std::initializer_list<int> order) const {
    PMC_CHECK(static_cast<int>(order.size()) == rank(), "permute: ", order.size(), " dimensions for shape ",
              shape_.str());
    std::array<bool, kMaxRank> seen{};
    Tensor t = *this;
    int k = 0;
    for (int d : order) {
      d = norm_dim(d);
      PMC_CHECK(!seen[static_cast<std::size_t>(d)], "permute: dimension ", d, " repeated");
      seen[static_cast<std::size_t>(d)] = true;
      t.shape_[k] = shape_[d];
      t.strides_[k] = strides_[d];
      ++k;
    }
    return t;
  }

  // ---- copies (CPU; device copies live in the backends) ----
  /// This tensor if contiguous, else a contiguous copy.
  Tensor contiguous() const
    requires std::is_same_v<D, Cpu>
  {
    if (is_contiguous()) return *this;
    return clone();
  }
  /// A contiguous copy with its own storage.
  Tensor clone() const
    requires std::is_same_v<D, Cpu>
  {
    Tensor out(shape_);
    copy_to(out);
    return out;
  }
  /// Copies the elements into `dst` (same shape, any strides), converting the element type.
  template <class U>
  void copy_to(const Tensor<U, D>& dst) const
    requires std::is_same_v<D, Cpu>
  {
    check_same_shape(shape_, dst.shape(), "copy_to");
    for_each_index([&](std::int64_t src_off, std::int64_t dst_off) {
      dst.data()[dst_off] = static_cast<U>(static_cast<compute_t<T>>(data()[src_off]));
    }, dst.strides());
  }
  /// A contiguous copy converted to element type U.
  template <class U>
  Tensor<U, D> to() const
    requires std::is_same_v<D, Cpu>
  {
    Tensor<U, D> out(shape_);
    copy_to(out);
    return out;
  }
  void fill(T value) const
    requires std::is_same_v<D, Cpu>
  {
    for_each_index([&](std::int64_t off, std::int64_t) { data()[off] = value; }, strides_);
  }
  void zero() const
    requires std::is_same_v<D, Cpu>
  {
    if (is_contiguous()) std::fill_n(data(), numel(), T{});
    else fill(T{});
  }

  /// Calls f(offset in this, offset in a tensor of the same shape with strides `other`) for every element.
  template <class F>
  void for_each_index(F&& f, const Shape& other) const {
    if (numel() == 0) return;
    if (is_contiguous() && other == strides_ && strides_ == contiguous_strides(shape_)) {
      for (std::int64_t i = 0, n = numel(); i < n; ++i) f(i, i);
      return;
    }
    std::array<std::int64_t, kMaxRank> idx{};
    const int r = rank();
    std::int64_t a = 0, b = 0;
    for (std::int64_t n = numel(); n > 0; --n) {
      f(a, b);
      for (int d = r - 1; d >= 0; --d) {
        auto& i = idx[static_cast<std::size_t>(d)];
        if (++i < shape_[d]) {
          a += strides_[d];
          b += other[d];
          break;
        }
        a -= (shape_[d] - 1) * strides_[d];
        b -= (shape_[d] - 1) * other[d];
        i = 0;
      }
    }
  }

 private:
  /// The element count of a new tensor; extents are checked before anything is allocated.
  static std::size_t checked_count(const Shape& shape) {
    for (int i = 0; i < shape.rank(); ++i) PMC_CHECK(shape[i] >= 0, "Tensor: negative extent in ", shape.str());
    return static_cast<std::size_t>(shape.numel());
  }
  int norm_dim(int d) const {
    int r = d < 0 ? d + rank() : d;
    PMC_CHECK(0 <= r && r < rank(), "dimension ", d, " is out of range for shape ", shape_.str());
    return r;
  }

  Storage<T, D> storage_;
  std::int64_t offset_ = 0;
  Shape shape_;
  Shape strides_;
};

/// Throws pmc::Error naming `what` unless t has exactly `shape`.
template <class T, Device D>
void expect_shape(const Tensor<T, D>& t, const Shape& shape, const char* what) {
  PMC_CHECK(t.shape() == shape, what, ": expected shape ", shape.str(), ", got ", t.shape().str());
}

}  // namespace pmc
