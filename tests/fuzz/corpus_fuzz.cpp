// SPDX-License-Identifier: MIT
// data::read_documents on arbitrary bytes, as a JSONL corpus ({"text": ...} lines) and as plain text.
#include <pmc/data/corpus.hpp>

#include "fuzz_support.hpp"

PMC_FUZZ_TARGET(corpus) {
  const auto jsonl = pmc::fuzz::write_input(data, size, "corpus.jsonl");
  const auto text = pmc::fuzz::write_input(data, size, "corpus.txt");
  pmc::fuzz::refuse_or_accept([&] { (void)pmc::data::read_documents(jsonl); });
  return pmc::fuzz::refuse_or_accept([&] { (void)pmc::data::read_documents(text); });
}
