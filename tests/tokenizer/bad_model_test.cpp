// SPDX-License-Identifier: MIT
// Tokenizer inputs that are not a usable model: a folder given as the .model file, and a model without the
// BOS/EOS control pieces its trainer spec names (the error quotes the piece name; before, that name was read
// from a destroyed temporary copy: clang's -Wreturn-stack-address found it while building the fuzzers).
#include <filesystem>
#include <string>

#include <doctest/doctest.h>
#include <pmc/tokenizer/bpe.hpp>

#include "support/paths.hpp"
#include "synthetic_model.hpp"

// its own namespace: the test folder builds as one translation unit (PMC_UNITY_BUILD)
namespace bad_model_test {

TEST_CASE("a folder given as the SentencePiece model is an error naming it") {
  CHECK_THROWS_WITH_AS(pmc::tokenizer::BpeTokenizer::load(pmc::test::tmp_dir()),
                       doctest::Contains("is a folder, expected a SentencePiece .model file"), pmc::Error);
}

TEST_CASE("a model without its trainer spec's BOS or EOS control piece: the error quotes the piece's name") {
  auto model = pmc::test::synthetic_model({"a", "b"});
  model.trainer_spec->bos_piece = "<a-begin-of-sequence-piece-absent-from-the-model>";
  model.trainer_spec->eos_piece = "<an-end-of-sequence-piece-absent-from-the-model>";
  const pmc::tokenizer::BpeTokenizer tok(model);
  CHECK_THROWS_WITH_AS(tok.encode("ab", true, false),
                       doctest::Contains("no BOS piece '<a-begin-of-sequence-piece-absent-from-the-model>'"),
                       pmc::Error);
  CHECK_THROWS_WITH_AS(tok.encode("ab", false, true),
                       doctest::Contains("no EOS piece '<an-end-of-sequence-piece-absent-from-the-model>'"),
                       pmc::Error);
}

}  // namespace bad_model_test
