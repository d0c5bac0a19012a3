// SPDX-License-Identifier: MIT
// A Hugging Face tokenizer.json from memory: the JSON and every section pmc reads (model, added tokens,
// normalizer, pre-tokenizer, post-processor, decoder), then a round of encode (with and without the template)
// and decode on what was accepted, including ids taken from the input's last bytes.
#include <string_view>
#include <vector>

#include <pmc/tokenizer/hf_tokenizer.hpp>

#include "fuzz_support.hpp"

PMC_FUZZ_TARGET(tokenizer_json) {
  const std::string_view bytes(reinterpret_cast<const char*>(data), size);
  return pmc::fuzz::refuse_or_accept([&] {
    const auto tok = pmc::tokenizer::HfTokenizer::from_json(bytes, "fuzz.json");
    for (const char* text : {"Aspirin 81 mg\tinhibits COX-1;  caf\xC3\xA9 \xFF! I'll <s>\r\n\r\n 12345 \xE2\x96\x81x",
                             "e\xCC\x81 \xE1\x84\x80\xE1\x85\xA1 <|eot_id|>[MASKED]  end  "}) {
      const auto ids = tok.encode_hf(text, true);
      (void)tok.decode(ids, true);
      (void)tok.decode(ids, false);
    }
    std::vector<std::int32_t> ids;
    for (std::size_t i = size >= 8 ? size - 8 : 0; i < size; ++i)
      if (tok.vocab_size() > 0) ids.push_back(static_cast<std::int32_t>(data[i]) % tok.vocab_size());
    (void)tok.decode(ids, false);
  });
}
