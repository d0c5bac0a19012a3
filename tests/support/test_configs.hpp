// SPDX-License-Identifier: MIT
// Model configs that only tests use: the small random Hugging Face models of tests/golden/hf (parity tests, made
// by tools/make_golden_hf.py) and the training golden's model (tests/golden/train). The library's registry
// (pmc/models/llama/registry.hpp) holds the real configs, which the pmc program is built for; these are not in it.
#pragma once

#include <array>
#include <cstddef>
#include <filesystem>
#include <utility>

#include <pmc/models/llama/checkpoint.hpp>

namespace pmc::test {

inline constexpr llama::Config hf_test_gqa{.dim = 24, .n_layers = 3, .n_heads = 6, .n_kv_heads = 2, .ffn_dim = 52,
                                           .vocab_size = 97, .max_seq_len = 64, .norm_eps = 1e-5f, .rope_theta = 1e4f};
inline constexpr llama::Config hf_test_mha_tied{.dim = 32, .n_layers = 2, .n_heads = 4, .n_kv_heads = 4,
                                                .ffn_dim = 60, .vocab_size = 64, .max_seq_len = 64, .norm_eps = 1e-5f,
                                                .rope_theta = 500000.f, .tied_embeddings = true};
inline constexpr llama::Config hf_test_odd{.dim = 30, .n_layers = 2, .n_heads = 5, .n_kv_heads = 5, .ffn_dim = 26,
                                           .vocab_size = 131, .max_seq_len = 64, .norm_eps = 1e-6f, .rope_theta = 2e4f};
inline constexpr llama::Config hf_test_mqa{.dim = 32, .n_layers = 2, .n_heads = 4, .n_kv_heads = 1, .ffn_dim = 48,
                                           .vocab_size = 50, .max_seq_len = 64, .norm_eps = 1e-5f, .rope_theta = 1e4f};
/// The training golden's model (tests/golden/train, tools/make_golden_train.py).
inline constexpr llama::Config hf_test_train{.dim = 32, .n_layers = 2, .n_heads = 4, .n_kv_heads = 2, .ffn_dim = 64,
                                             .vocab_size = 64, .max_seq_len = 64, .norm_eps = 1e-5f,
                                             .rope_theta = 1e4f};

inline constexpr std::array kTestConfigs{hf_test_gqa, hf_test_mha_tied, hf_test_odd, hf_test_mqa, hf_test_train};

/// Calls `f.template operator()<C>()` for the test config C equal to the architecture stored at `path` (a
/// golden model folder); a pmc::Error naming the path when none is.
template <class F>
void with_test_config_of(const std::filesystem::path& path, F&& f) {
  const llama::Config stored = llama::read_architecture(path);
  const bool found = [&]<std::size_t... I>(std::index_sequence<I...>) {
    return ((stored == kTestConfigs[I] ? (f.template operator()<kTestConfigs[I]>(), true) : false) || ...);
  }(std::make_index_sequence<kTestConfigs.size()>{});
  PMC_CHECK(found, path.string(), ": no test config has this architecture (", llama::describe(stored), ")");
}

}  // namespace pmc::test
