// SPDX-License-Identifier: MIT
// io::SafetensorsFile::open on arbitrary bytes, then every tensor read back as float (dtype conversion included).
#include <pmc/io/safetensors.hpp>

#include "fuzz_support.hpp"

PMC_FUZZ_TARGET(safetensors) {
  const auto path = pmc::fuzz::write_input(data, size, "model.safetensors");
  return pmc::fuzz::refuse_or_accept([&] {
    const auto f = pmc::io::SafetensorsFile::open(path);
    for (const auto& name : f.names()) {
      const auto t = f.get<float>(name);
      volatile float sink = t.numel() > 0 ? t.data()[0] : 0.0f;
      (void)sink;
    }
  });
}
