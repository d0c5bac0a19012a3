// SPDX-License-Identifier: MIT
// Small hand-built SentencePiece BPE models for tokenizer tests that must run without ../shared.
#pragma once

#include <cstdio>
#include <string>
#include <vector>

#include <pmc/tokenizer/sentencepiece_model.hpp>

namespace pmc::test {

/// <unk>, <s>, </s>, optionally the 256 byte pieces, then `normal` pieces scored -rank (first = best).
inline tokenizer::ModelProto synthetic_model(const std::vector<std::string>& normal, bool byte_fallback = true) {
  using tokenizer::ModelPiece;
  using tokenizer::PieceType;
  tokenizer::ModelProto m;
  m.pieces.push_back(ModelPiece{"<unk>", 0.0f, PieceType::kUnknown});
  m.pieces.push_back(ModelPiece{"<s>", 0.0f, PieceType::kControl});
  m.pieces.push_back(ModelPiece{"</s>", 0.0f, PieceType::kControl});
  if (byte_fallback) {
    for (int b = 0; b < 256; ++b) {
      char name[8];
      std::snprintf(name, sizeof name, "<0x%02X>", b);
      m.pieces.push_back(ModelPiece{name, 0.0f, PieceType::kByte});
    }
  }
  for (size_t i = 0; i < normal.size(); ++i)
    m.pieces.push_back(ModelPiece{normal[i], -static_cast<float>(i), PieceType::kNormal});
  tokenizer::TrainerSpec ts;
  ts.model_type = tokenizer::ModelType::kBpe;
  ts.vocab_size = static_cast<int32_t>(m.pieces.size());
  ts.byte_fallback = byte_fallback;
  m.trainer_spec = ts;
  tokenizer::NormalizerSpec ns;
  ns.name = "identity";
  ns.remove_extra_whitespaces = false;
  m.normalizer_spec = ns;
  return m;
}

}  // namespace pmc::test
