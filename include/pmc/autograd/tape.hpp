// SPDX-License-Identifier: MIT
// Reverse-mode autograd: Var (a tensor with an optional gradient), the Tape of backward closures that
// operations record in forward order, grad-mode switches, and backward().
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include <pmc/core/tensor.hpp>
#include <pmc/core/transfer.hpp>

namespace pmc::autograd {

namespace detail {
inline bool& grad_mode() {
  thread_local bool enabled = true;
  return enabled;
}
}  // namespace detail

/// Whether operations on this thread record backward nodes.
inline bool grad_enabled() { return detail::grad_mode(); }

/// Evaluation scope: no backward nodes are recorded and no activations are kept while it lives.
///   { pmc::autograd::NoGrad no_grad; auto logits = model.forward(tokens); }
class NoGrad {
 public:
  NoGrad() : previous_(detail::grad_mode()) { detail::grad_mode() = false; }
  ~NoGrad() { detail::grad_mode() = previous_; }
  NoGrad(const NoGrad&) = delete;
  NoGrad& operator=(const NoGrad&) = delete;

 private:
  bool previous_;
};

/// The backward closures of the computations recorded on a thread, in the order their forwards ran. backward()
/// runs them in reverse, so every closure sees the complete gradient of its output. A closure recorded with a
/// probe of its output (record_backward) runs only if that output received a gradient: a closure of another graph
/// recorded on the same tape (a second loss, a forward whose result was never used) is not run; it stays for a
/// later backward while its output is alive, and is dropped once nothing but the tape holds its output (it could
/// never receive a gradient), which frees what it saved. A thread has one current tape.
class Tape {
 public:
  /// What a probe says of a closure's output when the tape runs.
  enum class Reach { reached, pending, dead };

  void record(std::function<void()> backward, std::function<Reach()> probe = {}) {
    nodes_.push_back({std::move(backward), std::move(probe)});
  }
  std::size_t size() const { return nodes_.size(); }
  /// Runs the closures whose outputs received a gradient, newest first, and forgets them (and the activations
  /// they kept alive); keeps the pending ones, in order, and drops the dead ones.
  void run_backward() {
    std::vector<Node> kept;
    for (auto it = nodes_.rbegin(); it != nodes_.rend(); ++it) {
      const Reach r = it->probe ? it->probe() : Reach::reached;
      if (r == Reach::reached) it->backward();
      if (r == Reach::pending) kept.push_back(std::move(*it));
      *it = Node{};  // free its saved activations as soon as it has run (or can never run)
    }
    nodes_.assign(std::make_move_iterator(kept.rbegin()), std::make_move_iterator(kept.rend()));
  }
  /// Forgets the recorded graph without computing gradients (e.g. after an evaluation with grad on).
  void clear() { nodes_.clear(); }

 private:
  struct Node {
    std::function<void()> backward;
    std::function<Reach()> probe;
  };
  std::vector<Node> nodes_;
};

namespace detail {
inline Tape*& current_tape_slot() {
  thread_local Tape root;
  thread_local Tape* current = &root;
  return current;
}
}  // namespace detail

/// The tape that operations on this thread record into (a thread's own, unless a TapeScope is active).
inline Tape& current_tape() { return *detail::current_tape_slot(); }

/// Makes a fresh tape current while it lives, so that a computation inside a backward closure (activation
/// recompute) records and runs its own graph without touching the tape that is running.
class TapeScope {
 public:
  TapeScope() : previous_(detail::current_tape_slot()) { detail::current_tape_slot() = &tape_; }
  ~TapeScope() { detail::current_tape_slot() = previous_; }
  TapeScope(const TapeScope&) = delete;
  TapeScope& operator=(const TapeScope&) = delete;
  Tape& tape() { return tape_; }

 private:
  Tape tape_;
  Tape* previous_;
};

template <class T, Device D>
struct VarState {
  Tensor<T, D> value;
  Tensor<T, D> grad;  // allocated (zeros) on first accumulation
  bool requires_grad = false;

  /// The gradient buffer, allocated on first use; backward functions accumulate into it.
  const Tensor<T, D>& grad_buffer() {
    if (!grad.defined()) grad = Tensor<T, D>(value.shape());
    return grad;
  }
};

/// A node of the computation: a value and, when it requires grad, its gradient. Copies share the node.
/// Leaves created with requires_grad = true are parameters: backward() accumulates into their grad().
template <class T, Device D = Cpu>
class Var {
 public:
  Var() = default;
  explicit Var(Tensor<T, D> value, bool requires_grad = false) : state_(std::make_shared<VarState<T, D>>()) {
    state_->value = std::move(value);
    state_->requires_grad = requires_grad;
  }

  const Tensor<T, D>& value() const { return state_->value; }
  /// The accumulated gradient; undefined until a backward reached this node.
  const Tensor<T, D>& grad() const { return state_->grad; }
  const Shape& shape() const { return state_->value.shape(); }
  bool requires_grad() const { return state_ && state_->requires_grad; }
  bool defined() const { return state_ != nullptr; }
  /// Zeroes the gradient in place (keeps its buffer), as an optimizer's zero_grad.
  void zero_grad() const {
    if (state_->grad.defined()) pmc::zero(state_->grad);
  }
  /// Makes a leaf a parameter (true) or a constant (false, e.g. LoRA's frozen base): operations recorded after
  /// this see the new setting.
  void set_requires_grad(bool on) const { state_->requires_grad = on; }
  /// Drops the gradient buffer.
  void reset_grad() const { state_->grad = Tensor<T, D>(); }
  /// Replaces the value (same shape), e.g. after loading a checkpoint.
  void set_value(Tensor<T, D> v) const { state_->value = std::move(v); }
  const std::shared_ptr<VarState<T, D>>& state() const { return state_; }

 private:
  std::shared_ptr<VarState<T, D>> state_;
};

/// Records `backward`, the closure that propagates `out`'s gradient to its inputs (it captures `out`), on the
/// current tape: it runs when a backward reaches `out` (see Tape).
template <class T, Device D, class F>
void record_backward(const Var<T, D>& out, F&& backward) {
  std::weak_ptr<VarState<T, D>> state = out.state();
  current_tape().record(std::forward<F>(backward), [state]() {
    const long owners = state.use_count();  // the closure's own copy of `out` is one
    if (owners == 0) return Tape::Reach::dead;
    if (state.lock()->grad.defined()) return Tape::Reach::reached;
    return owners > 1 ? Tape::Reach::pending : Tape::Reach::dead;
  });
}

/// True when an operation on these inputs must record a backward node.
template <class... Vars>
bool needs_grad(const Vars&... inputs) {
  return grad_enabled() && (inputs.requires_grad() || ...);
}

/// Seeds d(loss)/d(loss) = 1 and runs the current tape backwards: the closures of loss's graph (see Tape). loss
/// must hold one element.
template <class T, Device D>
void backward(const Var<T, D>& loss) {
  PMC_CHECK(loss.value().numel() == 1, "backward: the loss must be a scalar, got shape ", loss.shape().str());
  PMC_CHECK(loss.requires_grad(), "backward: the loss does not depend on any parameter that requires grad");
  loss.state()->grad = scalar_on<T, D>(T(1)).reshape(loss.shape());
  current_tape().run_backward();
}

}  // namespace pmc::autograd
