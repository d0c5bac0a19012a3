// SPDX-License-Identifier: MIT
// io::read_hf_config (a Hugging Face config.json) on arbitrary bytes.
#include <pmc/io/hf_config.hpp>

#include "fuzz_support.hpp"

PMC_FUZZ_TARGET(hf_config) {
  const auto path = pmc::fuzz::write_input(data, size, "config.json");
  return pmc::fuzz::refuse_or_accept([&] { (void)pmc::io::read_hf_config(path); });
}
