// SPDX-License-Identifier: MIT
// io::read_hf_config (a Hugging Face config.json) on arbitrary bytes.
#include <pmc/io/hf_config.hpp>

#include "fuzz_support.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const auto path = pmc::fuzz::write_input(data, size, "config.json");
  return pmc::fuzz::refuse_or_accept([&] { (void)pmc::io::read_hf_config(path); });
}
