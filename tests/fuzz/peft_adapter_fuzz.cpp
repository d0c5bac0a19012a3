// SPDX-License-Identifier: MIT
// llama::load_peft_adapter (what `--adapter DIR` reads) with a fuzzed adapter_config.json beside a valid
// adapter_model.safetensors (rank 2 on every projection of a tiny model): the config's keys, the targets it names
// against the tensors the file holds, and the shapes its rank implies.
#include <pmc/pmc.hpp>

#include "fuzz_support.hpp"

namespace peft_adapter_fuzz {
namespace {

constexpr pmc::llama::Config kTiny{.dim = 16, .n_layers = 1, .n_heads = 2, .n_kv_heads = 1, .ffn_dim = 24,
                                   .vocab_size = 16, .max_seq_len = 8, .norm_eps = 1e-5f, .rope_theta = 1e4f};

/// The adapter folder (its tensors written once; adapter_config.json is each input).
const std::filesystem::path& folder() {
  static const std::filesystem::path dir = [] {
    const auto d = pmc::fuzz::scratch_dir() / "adapter";
    std::filesystem::create_directories(d);
    pmc::llama::Model<pmc::llama::dynamic, float> m(kTiny);
    pmc::llama::LoraConfig c;
    c.rank = 2;
    c.targets = pmc::llama::parse_lora_targets("all");
    m.add_lora(c, 1);
    pmc::llama::save_peft_adapter(m, d);
    return d;
  }();
  return dir;
}

}  // namespace

PMC_FUZZ_TARGET(peft_adapter) {
  const auto& dir = folder();
  std::FILE* f = std::fopen((dir / pmc::llama::kAdapterConfigFile).c_str(), "wb");
  if (f == nullptr || (size > 0 && std::fwrite(data, 1, size, f) != size) || std::fclose(f) != 0) std::abort();
  return pmc::fuzz::refuse_or_accept([&] {
    pmc::llama::Model<pmc::llama::dynamic, float> m(kTiny, false);
    (void)pmc::llama::load_peft_adapter(m, dir, false);
  });
}

}  // namespace peft_adapter_fuzz
