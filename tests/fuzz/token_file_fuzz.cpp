// SPDX-License-Identifier: MIT
// data::TokenFile::open on arbitrary bytes; every token, document bound and predict flag of an accepted file is
// read (what training does), so a header that claims more than the file holds shows up as an overread.
#include <pmc/data/token_file.hpp>

#include "fuzz_support.hpp"

PMC_FUZZ_TARGET(token_file) {
  const auto path = pmc::fuzz::write_input(data, size, "train.tokens");
  return pmc::fuzz::refuse_or_accept([&] {
    const auto f = pmc::data::TokenFile::open(path);
    std::int64_t sum = 0;
    for (std::uint64_t d = 0; d < f.n_docs(); ++d)
      for (std::uint64_t i = f.doc_start(d); i < f.doc_start(d) + f.doc_size(d); ++i)
        sum += f.token(i) + (f.predict(i) ? 1 : 0);
    volatile std::int64_t sink = sum;
    (void)sink;
  });
}
