// SPDX-License-Identifier: MIT
// io::GgufFile (llama.cpp's GGUF) on arbitrary bytes: every metadata value is visited and every tensor accepted
// is read end to end, dequantized when its type is one pmc reads.
#include <pmc/io/gguf.hpp>

#include "fuzz_support.hpp"

namespace gguf_fuzz {
namespace {

double visit(const pmc::io::GgufValue& v) {
  double sum = static_cast<double>(v.size());
  if (v.is_array()) {
    for (std::size_t i = 0; i < v.size(); ++i) sum += visit(v.at(i, "element"));
  } else if (v.is_integer()) {
    try {
      sum += static_cast<double>(v.as_int("value"));
    } catch (const pmc::Error&) {  // a uint64 above INT64_MAX
      sum += static_cast<double>(v.as_uint("value"));
    }
  } else if (v.is_float()) {
    sum += v.as_float("value");
  } else if (v.type() == pmc::io::GgufType::string) {
    sum += static_cast<double>(v.as_string("value").size());
  }
  return sum;
}

}  // namespace

PMC_FUZZ_TARGET(gguf) {
  const auto path = pmc::fuzz::write_input(data, size, "model.gguf");
  return pmc::fuzz::refuse_or_accept([&] {
    const auto f = pmc::io::GgufFile::open(path);
    double sum = 0;
    for (const auto& key : f.keys()) sum += visit(f.metadata(key));
    for (const auto& name : f.names()) {
      try {
        const auto t = f.get<float>(name);
        for (std::int64_t i = 0; i < t.numel(); ++i) sum += t.data()[i];
      } catch (const pmc::Error&) {  // a type pmc does not read: the next tensor still gets read
      }
    }
    volatile double sink = sum;
    (void)sink;
  });
}

}  // namespace gguf_fuzz
