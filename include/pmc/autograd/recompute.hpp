// SPDX-License-Identifier: MIT
// Activation recompute (gradient checkpointing): a segment y = fn(x) keeps only its input x for backward and
// runs its forward again, on a tape of its own, when the gradient reaches it.
#pragma once

#include <utility>

#include <pmc/autograd/tape.hpp>

namespace pmc::autograd {

/// y = fn(x), recorded as one node that keeps only x (not fn's intermediates). Its backward reruns fn(x) with
/// grad on under a TapeScope, seeds the result's gradient with y's and runs that tape: gradients reach x and
/// every parameter fn reads, equal bit for bit to those of the plain fn(x) (the same ops run on the same
/// inputs in the same order). fn must be deterministic and may only read Vars that outlive the backward (the
/// model's parameters). `params_require_grad`: whether a parameter fn reads requires grad (then y does even
/// when x does not). Without grad mode this is just fn(x). `after_backward()` runs once the segment's backward
/// is done (or skipped, when y's gradient is undefined): the parameters' gradients of this segment are then
/// complete, which sharded training uses to reduce them and free the gathered weights (train/sharding.hpp).
///   x = autograd::recompute([&](const Var<float>& in) { return block(in); }, x, /*params_require_grad=*/true);
template <class T, Device D, class Fn, class After = void (*)()>
Var<T, D> recompute(Fn fn, const Var<T, D>& x, bool params_require_grad, After after_backward = [] {}) {
  if (!grad_enabled() || !(x.requires_grad() || params_require_grad)) return fn(x);
  Tensor<T, D> y;
  {
    NoGrad no_grad;
    y = fn(x).value();
  }
  Var<T, D> out(std::move(y), true);
  // recorded without a probe: it always runs, so that after_backward (a sharded model's release of the block's
  // gathered weights, a collective on every rank) runs even when nothing downstream reached y
  current_tape().record([fn = std::move(fn), x, out, after_backward = std::move(after_backward)] {
    if (!out.grad().defined()) {  // nothing downstream reached y
      after_backward();
      return;
    }
    {
      TapeScope scope;
      Var<T, D> input(x.value(), x.requires_grad());
      if (x.requires_grad()) input.state()->grad = x.state()->grad_buffer();  // accumulate straight into x's
      const Var<T, D> again = fn(input);
      PMC_CHECK(again.requires_grad(), "recompute: the recomputed segment does not require grad");
      again.state()->grad = out.grad();
      scope.tape().run_backward();
    }  // the recomputed activations are freed before after_backward
    after_backward();
  });
  return out;
}

}  // namespace pmc::autograd
