// SPDX-License-Identifier: MIT
// A SentencePiece .model from memory: the ModelProto wire format, the tokenizer built from it, and a round of
// encode/decode and serialize on what was accepted.
#include <string_view>

#include <pmc/tokenizer/bpe.hpp>

#include "fuzz_support.hpp"

PMC_FUZZ_TARGET(sentencepiece) {
  const std::string_view bytes(reinterpret_cast<const char*>(data), size);
  return pmc::fuzz::refuse_or_accept([&] {
    const auto proto = pmc::tokenizer::parse_model_proto(bytes, "fuzz.model");
    (void)pmc::tokenizer::serialize_model_proto(proto);
    const pmc::tokenizer::BpeTokenizer tok(proto, "fuzz.model");
    const auto ids = tok.encode("Aspirin 81 mg\tinhibits COX-1; \xE2\x81\x87 caf\xC3\xA9 \xFF!", true, true);
    (void)tok.decode(ids);
  });
}
