// SPDX-License-Identifier: MIT
// The package test's consumer: uses pmc::Tensor and pmc::bf16 through the public headers and prints a
// line the test checks ("pmc-consumer: ok ...").
#include <cstdio>

#include <pmc/pmc.hpp>

int main() {
  auto t = pmc::Tensor<float>::from({2, 3}, {1.f, 2.f, 3.f, 4.f, 5.f, 6.f});
  const auto tt = t.transpose(0, 1);  // (3, 2) view of the same storage
  float sum = 0.f;
  for (float v : t.to_vector()) sum += v;

  const pmc::bf16 h(1.00390625f);  // 1 + 2^-8: halfway between two bf16 values, rounds to even (1.0)
  const pmc::bf16 third(1.f / 3.f);

  const bool ok = t.numel() == 6 && tt.size(0) == 3 && tt.at({2, 1}) == 6.f && tt.shares_storage_with(t) &&
                  sum == 21.f && float(h) == 1.f && third.bits == 0x3eab;
  std::printf("pmc-consumer: %s numel=%lld sum=%g bf16(1/3)=0x%04x version=%d.%d.%d\n", ok ? "ok" : "FAILED",
              static_cast<long long>(t.numel()), static_cast<double>(sum), static_cast<unsigned>(third.bits),
              PMC_VERSION_MAJOR, PMC_VERSION_MINOR, PMC_VERSION_PATCH);
  return ok ? 0 : 1;
}
