// SPDX-License-Identifier: MIT
// data::read_instruction_jsonl (instruction and chat records) on arbitrary bytes, then source mixing.
#include <pmc/data/instruction.hpp>

#include "fuzz_support.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const auto path = pmc::fuzz::write_input(data, size, "instructions.jsonl");
  return pmc::fuzz::refuse_or_accept([&] {
    const auto records = pmc::data::read_instruction_jsonl(path);
    (void)pmc::data::mix_sources(records, {{"medqa", 2.5}, {"chat", 0.5}}, 1);
  });
}
