// SPDX-License-Identifier: MIT
// Incremental decoding with a KV cache: the prompt in one forward, then one new token per step. Device-generic:
// on a GPU only the last position's logits (one row of V) come back to the host for the sampler.
#pragma once

#include <cstdint>
#include <functional>
#include <span>
#include <vector>

#include <pmc/autograd/tape.hpp>
#include <pmc/core/transfer.hpp>
#include <pmc/models/llama/model.hpp>
#include <pmc/models/llama/sampler.hpp>

namespace pmc::llama {

struct GenerateOptions {
  int max_new_tokens = 64;
  SamplerOptions sampler{};
  std::vector<std::int32_t> stop_tokens{2};  // EOS of LLaMA's tokenizer
  /// Called with the tokens generated so far; returning true stops (e.g. a stop string was decoded).
  std::function<bool(std::span<const std::int32_t>)> stop_when{};
  /// Called with each new token as it is produced (streaming output).
  std::function<void(std::int32_t)> on_token{};
  /// Called once, just before the prompt's forward (with on_token's first call: the prompt's time, prefill).
  std::function<void()> on_prompt{};
};

/// Continues `prompt` (ids, BOS included if wanted) and returns the new tokens; the stop token that ended
/// generation is not included. Runs under NoGrad.
template <Config C, class T, Device D>
std::vector<std::int32_t> generate(const Model<C, T, D>& model, std::span<const std::int32_t> prompt,
                                   const GenerateOptions& options = {}) {
  const Config cfg = model.config();
  PMC_CHECK(!prompt.empty(), "generate: the prompt has no tokens (pass at least BOS)");
  const std::int64_t max_len =
      std::min<std::int64_t>(cfg.max_seq_len, static_cast<std::int64_t>(prompt.size()) + options.max_new_tokens);
  PMC_CHECK(static_cast<std::int64_t>(prompt.size()) <= cfg.max_seq_len, "generate: the prompt has ", prompt.size(),
            " tokens, more than the model's context of ", cfg.max_seq_len);
  autograd::NoGrad no_grad;
  KvCache<T, D> cache(cfg.n_layers, 1, max_len, cfg.n_kv_heads, cfg.head_dim());
  Sampler sampler(options.sampler);
  std::vector<std::int32_t> out;

  Tensor<std::int32_t, D> tokens = to_device<D>(Tensor<std::int32_t>::from(
      Shape{1, static_cast<std::int64_t>(prompt.size())}, std::span<const std::int32_t>(prompt.data(), prompt.size())));
  std::int64_t pos = 0;
  if (options.on_prompt) options.on_prompt();
  while (static_cast<int>(out.size()) < options.max_new_tokens && pos + tokens.size(1) <= max_len) {
    const auto h = model.hidden_states(tokens, pos, &cache).value();  // (T, D)
    pos += tokens.size(1);
    // the head on the last position only: the prompt's other positions need no logits
    const auto logits = model.logits(autograd::Var<T, D>(h.slice(0, h.size(0) - 1, h.size(0)), false)).value();
    const auto last = to_host(logits).contiguous();  // (1, V)
    const std::int32_t next = sampler.sample(std::span<const T>(last.data(), static_cast<std::size_t>(last.numel())));
    if (std::find(options.stop_tokens.begin(), options.stop_tokens.end(), next) != options.stop_tokens.end()) break;
    out.push_back(next);
    if (options.on_token) options.on_token(next);
    if (options.stop_when && options.stop_when(out)) break;
    if (pos >= max_len) break;
    tokens = to_device<D>(Tensor<std::int32_t>::from(Shape{1, 1}, {next}));
  }
  return out;
}

}  // namespace pmc::llama

namespace pmc::llama {

/// Continues each prompt of a batch (each with its own KV cache, one after another, so that prompts of any
/// length need no padding); the sampler's seed is offset by the prompt's index so results do not depend on
/// the batch's order or size.
template <Config C, class T, Device D>
std::vector<std::vector<std::int32_t>> generate_batch(const Model<C, T, D>& model,
                                                      const std::vector<std::vector<std::int32_t>>& prompts,
                                                      const GenerateOptions& options = {}) {
  std::vector<std::vector<std::int32_t>> out;
  out.reserve(prompts.size());
  for (std::size_t i = 0; i < prompts.size(); ++i) {
    GenerateOptions o = options;
    o.sampler.seed = options.sampler.seed + i;
    out.push_back(generate(model, std::span<const std::int32_t>(prompts[i]), o));
  }
  return out;
}

}  // namespace pmc::llama
