// SPDX-License-Identifier: MIT
// io::read_llama2c (a legacy llama2.c .bin) on arbitrary bytes; every tensor accepted is read end to end.
#include <pmc/io/llama2c.hpp>

#include "fuzz_support.hpp"

PMC_FUZZ_TARGET(llama2c) {
  const auto path = pmc::fuzz::write_input(data, size, "model.bin");
  return pmc::fuzz::refuse_or_accept([&] {
    const auto m = pmc::io::read_llama2c(path);
    float sum = 0;
    for (const auto& [name, t] : m.tensors)
      for (std::int64_t i = 0; i < t.numel(); ++i) sum += t.data()[i];
    volatile float sink = sum;
    (void)sink;
  });
}
