// SPDX-License-Identifier: MIT
// data::read_instruction_jsonl (instruction and chat records) on arbitrary bytes, then source mixing.
#include <pmc/data/instruction.hpp>

#include "fuzz_support.hpp"

PMC_FUZZ_TARGET(instruction) {
  const auto path = pmc::fuzz::write_input(data, size, "instructions.jsonl");
  return pmc::fuzz::refuse_or_accept([&] {
    const auto records = pmc::data::read_instruction_jsonl(path);
    (void)pmc::data::mix_sources(records, {{"medqa", 2.5}, {"chat", 0.5}}, 1);
  });
}
