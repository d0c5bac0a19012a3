// SPDX-License-Identifier: MIT
// Quantized storage of a frozen weight matrix W (rows, cols) = (out, in), for LoRA / QLoRA and weight-only quantized
// inference: W is kept as codes and per-block scales and dequantized on the fly (autograd::linear(x,
// QuantizedMatrix)), or multiplied straight from its blocks (Quantize<D>::matmul, small M: decoding, scoring).
// int8 and nf4: blocks are 64 consecutive elements of the row-major flat index (rows · cols must be a multiple of
// 64, as every LLaMA shape is). q8_0 and q4_0: llama.cpp's blocks of 32 along a row (cols must be a multiple of 32).
//
// int8 (absmax, linear):  per block b, absmax_b = max |x| (fp32), and per element
//     code = round(x / absmax_b · 127) ∈ [−127, 127] (round half away from zero; code 0 when absmax_b = 0),
//     x̂ = code · absmax_b / 127 (in float, in that order).  |x − x̂| ≤ absmax_b / 254 (half a step) + rounding.
//     codes: one signed byte per element (two's complement, held in a uint8 tensor); scales: absmax (fp32).
//
// nf4 (QLoRA, Dettmers et al. 2023; bitsandbytes' format, quantize_4bit(quant_type="nf4", blocksize=64,
// compress_statistics=True)):
//     per block b: absmax_b = max |x| (fp32); s = clamp(x · (1 / absmax_b), −1, 1) in float (1 / max(absmax_b,
//     1e-38)); code = the index of the nearest of the 16 NF4 levels kNf4 (ties go to the lower index: code =
//     #{j : mid_j < s}, mid_j = (kNf4[j] + kNf4[j+1]) / 2 in float, as torch.bucketize does).
//     Packing: two codes per byte, element 2i in the HIGH nibble and element 2i+1 in the LOW nibble (bitsandbytes).
//   Double quantization of the absmaxes: offset = their mean (fp32; pmc sums in double and rounds once, torch's
//   float32 mean may differ by an ulp: pass bitsandbytes' offset to reproduce its bytes); then per group g of 256
//   blocks, v_b = absmax_b − offset (float), absmax2_g = max |v_b|, absmax_codes_b = the index of the nearest entry
//   of the signed dynamic 8-bit map kDynamicMap to v_b · (1 / absmax2_g) (in float; ties to the lower index; code 0
//   when absmax2_g = 0). bitsandbytes' CUDA kernel also takes the nearest entry; its CPU kernel (0.50) reads a
//   65536-bin lookup table instead and, within one bin (3e-5) of a midpoint, can pick the farther neighbour: pmc
//   keeps the nearest (tests/ops/quantize_test.cpp checks both rules against a bitsandbytes golden).
//   Dequantization: absmax'_b = kDynamicMap[absmax_codes_b] · absmax2_{b/256} + offset, x̂ = kNf4[code] · absmax'_b,
//   each product and sum rounded to float (no fused multiply-add), exactly as bitsandbytes' CPU kernels.
//   Bound: with g4 = the largest gap between adjacent NF4 levels (0.3038, between −1 and −0.6962) and gd = the
//   largest gap of the dynamic map (0.0140625), e2 = absmax2_g · gd / 2 bounds |absmax_b − absmax'_b| and
//   |x − x̂| ≤ (|absmax'_b| + e2) · g4 / 2 + e2 (+ float rounding, a relative 2^-20 of the scale).
//
// q8_0 and q4_0 (llama.cpp / GGUF, bit-exact to the `gguf` package's gguf.quants.quantize, itself bit-exact to
// ggml-quants.c's reference quantizers): `codes` is one contiguous array of blocks, exactly the bytes of a GGUF
// tensor of that type (a GGUF tensor's data can be used as-is); each block covers 32 consecutive elements of a row.
//   q8_0, 34 bytes a block: d (fp16, little-endian), then 32 int8 q. Quantization, in float: d = absmax / 127,
//     id = 1 / d (0 when d = 0), q = round(x · id) half away from zero; the block stores fp16(d) (round to nearest
//     even). x̂ = fp16(d) · q.  |x − x̂| ≤ |d'| / 2 + |d − d'| · 127 (d' the stored fp16 value) + rounding.
//   q4_0, 18 bytes a block: d (fp16), then 16 bytes: element j in the LOW nibble of byte j, element j + 16 in its
//     HIGH nibble. Quantization, in float: m = the element of largest |x| (the first one on ties), d = m / −8,
//     id = 1 / d (0 when d = 0), q = min(15, trunc(x · id + 8.5)) (the product and the sum each rounded to float);
//     x̂ = fp16(d) · (q − 8) ∈ [−8 d', 7 d'].  |x − x̂| ≤ |d'| / 2 + |d − d'| · 8 + rounding, except that the
//     element at the far end from m (x · id > 7.5, up to 8) is clamped to 7: the bound there is |d'| (the bound
//     below takes |d'| for every element).
//   Layout (QuantizedMatrix::layout): `blocks`, the row-major blocks above (what a GGUF file holds and what
//   quantize makes), or `rows16` (rows a multiple of 16), the same bytes regrouped for the CPU's int8 kernel
//   (Quantize<Cpu>::for_matmul; backends/cpu/quant_rows16.hpp): for each group g of 16 rows and each block column
//   b, a chunk of 16 · (34 or 18) bytes at (g · cols / 32 + b) · 16 · (34 or 18): the 16 rows' d (fp16), then the
//   codes in 64-byte parts whose 32-bit lane r is row 16g + r's: q4_0, part i (0..3) = the block's bytes 4i..4i+3
//   (elements 4i..4i+3 low, 16+4i..16+4i+3 high); q8_0, part t (0..7) = q_{4t..4t+3} + 128 as unsigned bytes. A
//   group occupies the same byte range in either layout; dequantize reads both; row_major_blocks gives the GGUF bytes.
#pragma once

#include <algorithm>
#include <cmath>
#include <concepts>
#include <cstdint>
#include <optional>
#include <vector>

#include <pmc/core/device.hpp>
#include <pmc/core/error.hpp>
#include <pmc/core/tensor.hpp>
#include <pmc/core/transfer.hpp>
#include <pmc/ops/checks.hpp>

namespace pmc::ops {

enum class QuantFormat { int8, nf4, q8_0, q4_0 };

inline const char* quant_format_name(QuantFormat f) {
  switch (f) {
    case QuantFormat::int8: return "int8";
    case QuantFormat::nf4: return "nf4";
    case QuantFormat::q8_0: return "q8_0";
    case QuantFormat::q4_0: return "q4_0";
  }
  return "unknown";
}

/// Whether f is one of llama.cpp's formats (blocks of 32 along a row, scale and codes interleaved in `codes`).
constexpr bool is_ggml_format(QuantFormat f) { return f == QuantFormat::q8_0 || f == QuantFormat::q4_0; }

/// How q8_0 / q4_0 blocks lie in `codes` (see the top of this file): row-major blocks (GGUF's), or regrouped by 16
/// rows for the CPU's int8 kernel. int8 and nf4 are always `blocks`.
enum class QuantLayout { blocks, rows16 };

namespace quant {

inline constexpr std::int64_t kBlock = 64;   ///< elements per block (one absmax each)
inline constexpr std::int64_t kGroup = 256;  ///< nf4: absmaxes per second-level block (one absmax2 each)
inline constexpr std::int64_t kGgmlBlock = 32;   ///< q8_0 / q4_0: elements per block
inline constexpr std::int64_t kQ8_0Bytes = 34;   ///< q8_0: bytes per block (fp16 d, 32 int8)
inline constexpr std::int64_t kQ4_0Bytes = 18;   ///< q4_0: bytes per block (fp16 d, 16 bytes of nibbles)

/// Elements per block of a format (64 for int8 and nf4, 32 for q8_0 and q4_0).
constexpr std::int64_t block_size(QuantFormat f) { return is_ggml_format(f) ? kGgmlBlock : kBlock; }
/// q8_0 / q4_0: bytes per block.
constexpr std::int64_t ggml_block_bytes(QuantFormat f) { return f == QuantFormat::q8_0 ? kQ8_0Bytes : kQ4_0Bytes; }
inline constexpr std::int64_t kInterleavedRows = 16;  ///< rows16: rows a group holds

/// rows16: row r's (0..15) block, in GGUF's bytes, from its group's chunk for that block column (see the top).
inline void rows16_block(QuantFormat f, const std::uint8_t* chunk, int r, std::uint8_t* blk) {
  blk[0] = chunk[2 * r];
  blk[1] = chunk[2 * r + 1];
  const std::uint8_t* codes = chunk + 2 * kInterleavedRows;
  const int parts = f == QuantFormat::q8_0 ? 8 : 4, flip = f == QuantFormat::q8_0 ? 0x80 : 0;
  for (int i = 0; i < parts; ++i)
    for (int c = 0; c < 4; ++c) blk[2 + 4 * i + c] = static_cast<std::uint8_t>(codes[64 * i + 4 * r + c] ^ flip);
}
/// rows16: a chunk from the 16 rows' blocks of one block column (blk[r]: row r's, GGUF's bytes); the inverse of
/// rows16_block.
inline void rows16_chunk(QuantFormat f, const std::uint8_t* const* blk, std::uint8_t* chunk) {
  std::uint8_t* codes = chunk + 2 * kInterleavedRows;
  const int parts = f == QuantFormat::q8_0 ? 8 : 4, flip = f == QuantFormat::q8_0 ? 0x80 : 0;
  for (int r = 0; r < kInterleavedRows; ++r) {
    chunk[2 * r] = blk[r][0];
    chunk[2 * r + 1] = blk[r][1];
    for (int i = 0; i < parts; ++i)
      for (int c = 0; c < 4; ++c) codes[64 * i + 4 * r + c] = static_cast<std::uint8_t>(blk[r][2 + 4 * i + c] ^ flip);
  }
}
/// rows16: one group from its 16 rows' row-major blocks (16 · nblocks blocks, as in a GGUF tensor) into `out` (the
/// same number of bytes, the group's chunks for block columns 0 .. nblocks − 1).
inline void rows16_group(QuantFormat f, const std::uint8_t* rows, std::int64_t nblocks, std::uint8_t* out) {
  const std::int64_t bb = ggml_block_bytes(f);
  for (std::int64_t b = 0; b < nblocks; ++b) {
    const std::uint8_t* blk[kInterleavedRows];
    for (std::int64_t r = 0; r < kInterleavedRows; ++r) blk[r] = rows + (r * nblocks + b) * bb;
    rows16_chunk(f, blk, out + b * kInterleavedRows * bb);
  }
}
/// rows16: the inverse of rows16_group, a group's chunks back to its 16 rows' row-major blocks.
inline void rows16_ungroup(QuantFormat f, const std::uint8_t* group, std::int64_t nblocks, std::uint8_t* rows) {
  const std::int64_t bb = ggml_block_bytes(f);
  for (std::int64_t b = 0; b < nblocks; ++b)
    for (int r = 0; r < kInterleavedRows; ++r)
      rows16_block(f, group + b * kInterleavedRows * bb, r, rows + (r * nblocks + b) * bb);
}
/// Byte offset in `codes` of row n's block b (blocks layout) or of its group's chunk for column b (rows16).
inline std::int64_t ggml_chunk_offset(QuantFormat f, QuantLayout layout, std::int64_t nblocks, std::int64_t n,
                                      std::int64_t b) {
  const std::int64_t bb = ggml_block_bytes(f);
  if (layout == QuantLayout::blocks) return (n * nblocks + b) * bb;
  return ((n / kInterleavedRows) * nblocks + b) * kInterleavedRows * bb;
}
/// Row n's block b in GGUF's bytes (34 or 18 into blk) from `codes` in either layout.
inline void ggml_block_at(QuantFormat f, QuantLayout layout, const std::uint8_t* codes, std::int64_t nblocks,
                          std::int64_t n, std::int64_t b, std::uint8_t* blk) {
  const std::uint8_t* p = codes + ggml_chunk_offset(f, layout, nblocks, n, b);
  if (layout == QuantLayout::blocks) std::copy(p, p + ggml_block_bytes(f), blk);
  else rows16_block(f, p, static_cast<int>(n % kInterleavedRows), blk);
}

/// The fp16 scale d of a q8_0 / q4_0 block (its first two bytes, little-endian), as float.
PMC_HOST_DEVICE inline float ggml_block_scale(const std::uint8_t* blk) {
  return f16::to_float(static_cast<std::uint16_t>(blk[0] | (blk[1] << 8)));
}
inline void store_ggml_block_scale(std::uint8_t* blk, float d) {
  const std::uint16_t h = f16::from_float(d);
  blk[0] = static_cast<std::uint8_t>(h & 0xff);
  blk[1] = static_cast<std::uint8_t>(h >> 8);
}

/// q8_0: quantizes 32 floats into one 34-byte block (gguf.quants.Q8_0.quantize_blocks, bit for bit).
inline void quantize_q8_0_block(const float* x, std::uint8_t* blk) {
  float amax = 0;
  for (int j = 0; j < 32; ++j) amax = std::fmax(amax, std::fabs(x[j]));
  const float d = amax / 127.f;
  const float id = d == 0 ? 0.f : 1.f / d;
  store_ggml_block_scale(blk, d);
  for (int j = 0; j < 32; ++j) {
    const volatile float v = x[j] * id;  // volatile: one rounded product, never contracted
    blk[2 + j] = static_cast<std::uint8_t>(static_cast<std::int8_t>(std::round(static_cast<float>(v))));
  }
}

/// q4_0: quantizes 32 floats into one 18-byte block (gguf.quants.Q4_0.quantize_blocks, bit for bit).
inline void quantize_q4_0_block(const float* x, std::uint8_t* blk) {
  float amax = std::fabs(x[0]), m = x[0];  // an all-zero block: m = x[0] (±0), d = m / −8 keeps numpy's sign
  for (int j = 1; j < 32; ++j)
    if (std::fabs(x[j]) > amax) {  // strictly greater: the first element of largest |x|, as numpy's argmax
      amax = std::fabs(x[j]);
      m = x[j];
    }
  const float d = m / -8.f;
  const float id = d == 0 ? 0.f : 1.f / d;
  store_ggml_block_scale(blk, d);
  auto code = [&](float v) -> unsigned {
    const volatile float p = v * id;  // rounded, then the sum rounded: numpy's two float32 operations
    const float s = static_cast<float>(p) + 8.5f;
    const float t = std::trunc(s);
    return t >= 15.f ? 15u : static_cast<unsigned>(t);  // s > 0 always (x · id ≥ −8 up to rounding)
  };
  for (int j = 0; j < 16; ++j) blk[2 + j] = static_cast<std::uint8_t>(code(x[j]) | (code(x[j + 16]) << 4));
}

/// q8_0: element j (0..31) of a block, x̂ = d · q in float.
PMC_HOST_DEVICE inline float q8_0_value(const std::uint8_t* blk, float d, int j) {
  return d * static_cast<float>(static_cast<std::int8_t>(blk[2 + j]));
}
/// q4_0: element j (0..31) of a block, x̂ = d · (q − 8) in float.
PMC_HOST_DEVICE inline float q4_0_value(const std::uint8_t* blk, float d, int j) {
  const unsigned b = blk[2 + (j & 15)];
  const int q = static_cast<int>(j < 16 ? (b & 0x0fu) : (b >> 4)) - 8;
  return d * static_cast<float>(q);
}

/// The 16 NF4 levels, bitsandbytes' float32 table (functional.get_4bit_type("nf4")), ascending.
inline constexpr float kNf4[16] = {-1.0f,
                                   -0.6961928009986877f,
                                   -0.5250730514526367f,
                                   -0.39491748809814453f,
                                   -0.28444138169288635f,
                                   -0.18477343022823334f,
                                   -0.09105003625154495f,
                                   0.0f,
                                   0.07958029955625534f,
                                   0.16093020141124725f,
                                   0.24611230194568634f,
                                   0.33791524171829224f,
                                   0.44070982933044434f,
                                   0.5626170039176941f,
                                   0.7229568362236023f,
                                   1.0f};

/// bitsandbytes' signed dynamic 8-bit map, functional.create_dynamic_map(signed=True) (max_exponent_bits = 7,
/// total_bits = 8), as float32, ascending: for i = 0..6 the 2^i midpoints of linspace(0.1, 1, 2^i + 1) scaled by
/// ±10^(i − 6), then 0 and 1. Index 127 is 0, index 255 is 1; the most negative entry is −0.99296875.
inline constexpr float kDynamicMap[256] = {
    -0x1.fc6666p-1f, -0x1.f53334p-1f, -0x1.eep-1f, -0x1.e6ccccp-1f, -0x1.df999ap-1f, -0x1.d86666p-1f,
    -0x1.d13334p-1f, -0x1.cap-1f, -0x1.c2ccccp-1f, -0x1.bb999ap-1f, -0x1.b46666p-1f, -0x1.ad3334p-1f,
    -0x1.a6p-1f, -0x1.9eccccp-1f, -0x1.97999ap-1f, -0x1.906666p-1f, -0x1.893334p-1f, -0x1.82p-1f,
    -0x1.7accccp-1f, -0x1.73999ap-1f, -0x1.6c6668p-1f, -0x1.653334p-1f, -0x1.5ep-1f, -0x1.56ccccp-1f,
    -0x1.4f999ap-1f, -0x1.486668p-1f, -0x1.413334p-1f, -0x1.3ap-1f, -0x1.32ccccp-1f, -0x1.2b999ap-1f,
    -0x1.246668p-1f, -0x1.1d3334p-1f, -0x1.16p-1f, -0x1.0eccccp-1f, -0x1.079998p-1f, -0x1.006666p-1f,
    -0x1.f26664p-2f, -0x1.e4p-2f, -0x1.d59998p-2f, -0x1.c73334p-2f, -0x1.b8ccccp-2f, -0x1.aa6666p-2f,
    -0x1.9cp-2f, -0x1.8d9998p-2f, -0x1.7f3334p-2f, -0x1.70ccccp-2f, -0x1.626666p-2f, -0x1.54p-2f,
    -0x1.459998p-2f, -0x1.373334p-2f, -0x1.28ccccp-2f, -0x1.1a6668p-2f, -0x1.0cp-2f, -0x1.fb3332p-3f,
    -0x1.de6666p-3f, -0x1.c1999ap-3f, -0x1.a4ccccp-3f, -0x1.88p-3f, -0x1.6b3334p-3f, -0x1.4e6666p-3f,
    -0x1.31999ap-3f, -0x1.14ccccp-3f, -0x1.fp-4f, -0x1.b66668p-4f, -0x1.93d70ap-4f, -0x1.8851eep-4f,
    -0x1.7ccccep-4f, -0x1.7147aep-4f, -0x1.65c29p-4f, -0x1.5a3d7p-4f, -0x1.4eb854p-4f, -0x1.433334p-4f,
    -0x1.37ae14p-4f, -0x1.2c28f6p-4f, -0x1.20a3d6p-4f, -0x1.151ebap-4f, -0x1.09999ap-4f, -0x1.fc28f6p-5f,
    -0x1.e51ebap-5f, -0x1.ce147ap-5f, -0x1.b70a3ep-5f, -0x1.ap-5f, -0x1.88f5c2p-5f, -0x1.71eb86p-5f,
    -0x1.5ae146p-5f, -0x1.43d70ap-5f, -0x1.2ccccep-5f, -0x1.15c29p-5f, -0x1.fd70a4p-6f, -0x1.cf5c2ap-6f,
    -0x1.a147aep-6f, -0x1.733334p-6f, -0x1.451ebap-6f, -0x1.170a3ep-6f, -0x1.d1eb86p-7f, -0x1.75c29p-7f,
    -0x1.3e76c8p-7f, -0x1.2c083p-7f, -0x1.19999ap-7f, -0x1.072b02p-7f, -0x1.e978d4p-8f, -0x1.c49ba6p-8f,
    -0x1.9fbe76p-8f, -0x1.7ae148p-8f, -0x1.56041ap-8f, -0x1.3126e8p-8f, -0x1.0c49bap-8f, -0x1.ced914p-9f,
    -0x1.851eb8p-9f, -0x1.3b645ap-9f, -0x1.e353f8p-10f, -0x1.4fdf3ap-10f, -0x1.eecbfep-11f, -0x1.b3d07cp-11f,
    -0x1.78d5p-11f, -0x1.3dd982p-11f, -0x1.02de02p-11f, -0x1.8fc506p-12f, -0x1.19ce0ap-12f, -0x1.47ae16p-13f,
    -0x1.743e96p-14f, -0x1.15df66p-14f, -0x1.6f0068p-15f, -0x1.64840cp-16f, -0x1.040bfep-17f, -0x1.b43528p-19f,
    -0x1.27476ep-21f, 0.0f, 0x1.27476ep-21f, 0x1.b43528p-19f, 0x1.040bfep-17f, 0x1.64840cp-16f,
    0x1.6f0068p-15f, 0x1.15df66p-14f, 0x1.743e96p-14f, 0x1.47ae16p-13f, 0x1.19ce0ap-12f, 0x1.8fc506p-12f,
    0x1.02de02p-11f, 0x1.3dd982p-11f, 0x1.78d5p-11f, 0x1.b3d07cp-11f, 0x1.eecbfep-11f, 0x1.4fdf3ap-10f,
    0x1.e353f8p-10f, 0x1.3b645ap-9f, 0x1.851eb8p-9f, 0x1.ced914p-9f, 0x1.0c49bap-8f, 0x1.3126e8p-8f,
    0x1.56041ap-8f, 0x1.7ae148p-8f, 0x1.9fbe76p-8f, 0x1.c49ba6p-8f, 0x1.e978d4p-8f, 0x1.072b02p-7f,
    0x1.19999ap-7f, 0x1.2c083p-7f, 0x1.3e76c8p-7f, 0x1.75c29p-7f, 0x1.d1eb86p-7f, 0x1.170a3ep-6f,
    0x1.451ebap-6f, 0x1.733334p-6f, 0x1.a147aep-6f, 0x1.cf5c2ap-6f, 0x1.fd70a4p-6f, 0x1.15c29p-5f,
    0x1.2ccccep-5f, 0x1.43d70ap-5f, 0x1.5ae146p-5f, 0x1.71eb86p-5f, 0x1.88f5c2p-5f, 0x1.ap-5f,
    0x1.b70a3ep-5f, 0x1.ce147ap-5f, 0x1.e51ebap-5f, 0x1.fc28f6p-5f, 0x1.09999ap-4f, 0x1.151ebap-4f,
    0x1.20a3d6p-4f, 0x1.2c28f6p-4f, 0x1.37ae14p-4f, 0x1.433334p-4f, 0x1.4eb854p-4f, 0x1.5a3d7p-4f,
    0x1.65c29p-4f, 0x1.7147aep-4f, 0x1.7ccccep-4f, 0x1.8851eep-4f, 0x1.93d70ap-4f, 0x1.b66668p-4f,
    0x1.fp-4f, 0x1.14ccccp-3f, 0x1.31999ap-3f, 0x1.4e6666p-3f, 0x1.6b3334p-3f, 0x1.88p-3f,
    0x1.a4ccccp-3f, 0x1.c1999ap-3f, 0x1.de6666p-3f, 0x1.fb3332p-3f, 0x1.0cp-2f, 0x1.1a6668p-2f,
    0x1.28ccccp-2f, 0x1.373334p-2f, 0x1.459998p-2f, 0x1.54p-2f, 0x1.626666p-2f, 0x1.70ccccp-2f,
    0x1.7f3334p-2f, 0x1.8d9998p-2f, 0x1.9cp-2f, 0x1.aa6666p-2f, 0x1.b8ccccp-2f, 0x1.c73334p-2f,
    0x1.d59998p-2f, 0x1.e4p-2f, 0x1.f26664p-2f, 0x1.006666p-1f, 0x1.079998p-1f, 0x1.0eccccp-1f,
    0x1.16p-1f, 0x1.1d3334p-1f, 0x1.246668p-1f, 0x1.2b999ap-1f, 0x1.32ccccp-1f, 0x1.3ap-1f,
    0x1.413334p-1f, 0x1.486668p-1f, 0x1.4f999ap-1f, 0x1.56ccccp-1f, 0x1.5ep-1f, 0x1.653334p-1f,
    0x1.6c6668p-1f, 0x1.73999ap-1f, 0x1.7accccp-1f, 0x1.82p-1f, 0x1.893334p-1f, 0x1.906666p-1f,
    0x1.97999ap-1f, 0x1.9eccccp-1f, 0x1.a6p-1f, 0x1.ad3334p-1f, 0x1.b46666p-1f, 0x1.bb999ap-1f,
    0x1.c2ccccp-1f, 0x1.cap-1f, 0x1.d13334p-1f, 0x1.d86666p-1f, 0x1.df999ap-1f, 0x1.e6ccccp-1f,
    0x1.eep-1f, 0x1.f53334p-1f, 0x1.fc6666p-1f, 0x1p+0f,
};

/// The largest gap between adjacent entries of an ascending table.
template <std::size_t N>
constexpr double largest_gap(const float (&t)[N]) {
  double g = 0;
  for (std::size_t i = 0; i + 1 < N; ++i) g = t[i + 1] - t[i] > g ? t[i + 1] - t[i] : g;
  return g;
}
inline constexpr double kNf4Gap = largest_gap(kNf4);             ///< 0.30380720 (between −1 and −0.6962)
inline constexpr double kDynamicGap = largest_gap(kDynamicMap);  ///< 0.01406252
/// Float rounding allowed on top of the bounds, relative to the block's scale.
inline constexpr double kRoundingSlack = 0x1p-20;

/// max |x| over n elements, in float.
template <class T>
float absmax_of(const T* x, std::int64_t n) {
  float m = 0;
  for (std::int64_t i = 0; i < n; ++i) m = std::fmax(m, std::fabs(static_cast<float>(x[i])));
  return m;
}

/// int8: the code of x in a block of absmax `a` (round(x / a · 127), half away from zero; 0 when a = 0).
inline std::uint8_t int8_code(float x, float a) {
  if (!(a > 0)) return 0;
  const float v = x / a * 127.f;
  const long c = std::lround(std::fmax(-127.f, std::fmin(127.f, v)));
  return static_cast<std::uint8_t>(static_cast<std::int8_t>(c));
}
/// int8: x̂ of a code (a byte holding a two's complement int8) in a block of absmax a.
PMC_HOST_DEVICE inline float int8_value(std::uint8_t code, float a) {
  return static_cast<float>(static_cast<std::int8_t>(code)) * a / 127.f;
}

/// nf4: the index of the nearest NF4 level to s (s already scaled into [−1, 1]); ties to the lower index.
inline std::uint8_t nf4_code(float s) {
  std::uint8_t c = 0;
  for (int j = 0; j < 15; ++j) c += (kNf4[j] + kNf4[j + 1]) / 2 < s ? 1 : 0;  // the float midpoints, as bitsandbytes
  return c;
}

/// The index of the nearest entry of kDynamicMap to v ∈ [−1, 1]; ties to the lower index (the last entry ≤ v by
/// binary search, moved right only when the right one is strictly closer, as bitsandbytes' binary searches do).
inline std::uint8_t dynamic_code(float v) {
  int lo = 0, hi = 255;  // the last index with kDynamicMap[i] <= v (0 when v is below them all)
  while (lo < hi) {
    const int mid = (lo + hi + 1) / 2;
    if (kDynamicMap[mid] <= v) lo = mid;
    else hi = mid - 1;
  }
  if (lo < 255 && std::fabs(v - kDynamicMap[lo + 1]) < std::fabs(v - kDynamicMap[lo])) ++lo;
  return static_cast<std::uint8_t>(lo);
}

/// nf4's second-level absmax dequantized: kDynamicMap[code] · absmax2 + offset, each step rounded to float.
inline float nf4_absmax(std::uint8_t code, float absmax2, float offset) {
  const volatile float p = kDynamicMap[code] * absmax2;  // volatile: never fused into an FMA, whatever the flags
  return p + offset;
}

/// The mean of the absmaxes, summed in double, rounded once to float (deterministic, any thread count).
inline float absmax_mean(const float* a, std::int64_t n) {
  double s = 0;
  for (std::int64_t i = 0; i < n; ++i) s += a[i];
  return n > 0 ? static_cast<float>(s / static_cast<double>(n)) : 0.f;
}

/// Double-quantizes one group of (at most 256) absmaxes: writes their codes and returns the group's absmax2.
inline float quantize_absmax_group(const float* absmax, std::int64_t n, float offset, std::uint8_t* codes) {
  float m = 0;
  for (std::int64_t i = 0; i < n; ++i) m = std::fmax(m, std::fabs(absmax[i] - offset));
  if (!(m > 0)) {  // every absmax equals the offset: code 0, as bitsandbytes writes (its value times 0 is 0)
    for (std::int64_t i = 0; i < n; ++i) codes[i] = 0;
    return m;
  }
  const float inv = 1.0f / m;
  for (std::int64_t i = 0; i < n; ++i) codes[i] = dynamic_code((absmax[i] - offset) * inv);
  return m;
}

/// The bound on |x − x̂| for every element of a block. int8: `scale` is the block's absmax and the bound
/// absmax / 254; nf4: `scale` is the block's dequantized absmax absmax'_b and `absmax2` its group's second-level
/// absmax, the bound (|absmax'_b| + e2) · g4 / 2 + e2 with e2 = absmax2 · gd / 2 (see the top of this file). Both
/// with kRoundingSlack of the scale added for float rounding.
/// q8_0 / q4_0: `scale` is the stored fp16 d' and `absmax2` the float d before rounding to fp16 (pass 0 when it is
/// not known: then the fp16 rounding of d, a relative 2^-11, is taken from d' itself), the bound
/// |d'| / 2 + |d − d'| · 127 (q8_0), |d'| + |d − d'| · 8 (q4_0; the clamped far end, see the top of this file).
inline double element_error_bound(QuantFormat f, double scale, double absmax2 = 0) {
  scale = std::fabs(scale);
  if (f == QuantFormat::q8_0 || f == QuantFormat::q4_0) {
    const double dd = absmax2 != 0 ? std::fabs(std::fabs(absmax2) - scale) : std::fmax(scale * 0x1p-11, 0x1p-25);
    const double base = f == QuantFormat::q8_0 ? scale / 2 + dd * 127 : scale + dd * 8;
    return base + scale * 128 * kRoundingSlack;
  }
  if (f == QuantFormat::int8) return scale / 254 + scale * kRoundingSlack;
  const double e2 = absmax2 * kDynamicGap / 2 + (absmax2 + scale) * kRoundingSlack;
  return (scale + e2) * (kNf4Gap / 2) + e2 + (scale + e2) * kRoundingSlack;
}

}  // namespace quant

/// A quantized (rows, cols) matrix on device D: codes and scales as described at the top of this file. Copies are
/// cheap (tensor handles, shared storage).
template <Device D>
struct QuantizedMatrix {
  QuantFormat format = QuantFormat::int8;
  std::int64_t rows = 0, cols = 0;      ///< the logical (out, in) shape
  std::int64_t block = quant::kBlock;   ///< elements per block (64; q8_0 and q4_0: 32)
  /// int8: (rows·cols) int8 bytes; nf4: (rows·cols / 2) packed, 2i high nibble; q8_0 / q4_0: (rows·cols / 32 ·
  /// 34 or 18) bytes, llama.cpp's blocks in row-major order (a GGUF tensor's data as stored).
  Tensor<std::uint8_t, D> codes;
  Tensor<float, D> absmax;              ///< int8: (blocks) fp32 absmax per block; nf4: undefined
  Tensor<std::uint8_t, D> absmax_codes; ///< nf4: (blocks) the absmaxes' dynamic-map codes; int8: undefined
  Tensor<float, D> absmax2;             ///< nf4: (ceil(blocks / 256)) second-level absmax; int8: undefined
  float offset = 0;                     ///< nf4: the mean subtracted from the absmaxes before their quantization
  QuantLayout layout = QuantLayout::blocks;  ///< q8_0 / q4_0: how the blocks lie in `codes` (see the top)

  bool defined() const { return codes.defined(); }
  std::int64_t numel() const { return rows * cols; }
  std::int64_t blocks() const { return numel() / block; }
  Shape shape() const { return Shape{rows, cols}; }
  /// Bytes held: codes and scales (nf4: the absmax codes, absmax2 and the offset).
  std::int64_t bytes() const {
    std::int64_t b = codes.numel();
    if (absmax.defined()) b += absmax.numel() * 4;
    if (absmax_codes.defined()) b += absmax_codes.numel();
    if (absmax2.defined()) b += absmax2.numel() * 4 + 4;
    return b;
  }
};

/// The per-block bound on |x − x̂| (quant::element_error_bound), computed on the host from the stored scales alone.
template <Device D>
std::vector<double> block_error_bounds(const QuantizedMatrix<D>& q) {
  std::vector<double> out(static_cast<std::size_t>(q.blocks()));
  if (is_ggml_format(q.format)) {
    const auto c = to_host(q.codes);
    const std::int64_t nb = q.cols / quant::kGgmlBlock;
    std::uint8_t blk[quant::kQ8_0Bytes];
    for (std::int64_t b = 0; b < q.blocks(); ++b) {
      quant::ggml_block_at(q.format, q.layout, c.data(), nb, b / nb, b % nb, blk);
      out[b] = quant::element_error_bound(q.format, quant::ggml_block_scale(blk));
    }
  } else if (q.format == QuantFormat::int8) {
    const auto a = to_host(q.absmax);
    for (std::int64_t b = 0; b < q.blocks(); ++b) out[b] = quant::element_error_bound(q.format, a.data()[b]);
  } else {
    const auto c = to_host(q.absmax_codes);
    const auto a2 = to_host(q.absmax2);
    for (std::int64_t b = 0; b < q.blocks(); ++b) {
      const float g = a2.data()[b / quant::kGroup];
      out[b] = quant::element_error_bound(q.format, quant::nf4_absmax(c.data()[b], g, q.offset), g);
    }
  }
  return out;
}

/// q8_0 / q4_0: the blocks in GGUF's row-major bytes (a copy on the host), from either layout.
template <Device D>
std::vector<std::uint8_t> row_major_blocks(const QuantizedMatrix<D>& q) {
  PMC_CHECK(is_ggml_format(q.format), "row_major_blocks: ", quant_format_name(q.format), " has no llama.cpp blocks");
  const auto c = to_host(q.codes);
  const std::int64_t nb = q.cols / quant::kGgmlBlock, bb = quant::ggml_block_bytes(q.format);
  std::vector<std::uint8_t> out(static_cast<std::size_t>(q.rows * nb * bb));
  for (std::int64_t n = 0; n < q.rows; ++n)
    for (std::int64_t b = 0; b < nb; ++b)
      quant::ggml_block_at(q.format, q.layout, c.data(), nb, n, b, out.data() + (n * nb + b) * bb);
  return out;
}

/// Specialized per device in backends/<device>/quantize:
///   template <class T> static QuantizedMatrix<D> quantize(const Tensor<T, D>& w, QuantFormat f,
///                                                         std::optional<float> nf4_offset = std::nullopt);
///       w: (rows, cols), contiguous, T float / bf16 (/ f16 / double); nf4_offset replaces the absmaxes' mean
///       (to reproduce bitsandbytes' bytes, whose torch float32 mean may differ by an ulp).
///   template <class T> static void dequantize(const QuantizedMatrix<D>& q, const Tensor<T, D>& out);
///       out: (rows, cols), contiguous, overwritten with x̂ rounded to T.
///   template <class T> static void matmul(const Tensor<T, D>& x, const QuantizedMatrix<D>& q, const Tensor<T, D>& y);
///       y (M, rows) = x (M, cols) · dequant(W)ᵀ, T float or bf16, accumulated in float and rounded once to T;
///       meant for small M (decoding, scoring): on the CPU straight from the blocks, never materializing
///       dequant(W), each output computed by one thread in a fixed order (results do not depend on the thread
///       count); equal to dequantize-then-Matmul up to float rounding.
///   static QuantizedMatrix<D> for_matmul(QuantizedMatrix<D> q);
///       q laid out for this device's matmul (the same values, in a layout dequantize and matmul read: on the CPU,
///       q8_0 / q4_0 of rows % 16 == 0 regrouped to rows16 when the AVX512-VNNI kernel runs; else q itself).
template <Device D>
struct Quantize;

/// D specializes the contract (T = float stands for every T).
template <class D>
concept ImplementsQuantize = Device<D> && requires(const Tensor<float, D>& t, const QuantizedMatrix<D>& q) {
  { Quantize<D>::quantize(t, QuantFormat::nf4) } -> std::same_as<QuantizedMatrix<D>>;
  Quantize<D>::dequantize(q, t);
  Quantize<D>::matmul(t, q, t);
  { Quantize<D>::for_matmul(q) } -> std::same_as<QuantizedMatrix<D>>;
};

namespace detail {
inline void check_quant_shape(std::int64_t rows, std::int64_t cols, const char* op,
                              QuantFormat f = QuantFormat::int8) {
  PMC_CHECK(rows > 0 && cols > 0, op, ": the matrix (", rows, ", ", cols, ") is empty");
  if (is_ggml_format(f)) {
    PMC_CHECK(cols % quant::kGgmlBlock == 0, op, ": ", quant_format_name(f), " needs cols (the input dimension) a ",
              "multiple of ", quant::kGgmlBlock, ", got (", rows, ", ", cols, ")");
    return;
  }
  PMC_CHECK((rows * cols) % quant::kBlock == 0, op, ": rows · cols = ", rows, " · ", cols, " = ", rows * cols,
            " is not a multiple of the block size ", quant::kBlock);
}
}  // namespace detail

/// The quantize checks: w is a defined, contiguous 2-D tensor whose size is a positive multiple of 64.
template <class T, Device D>
void check_quantize_args(const Tensor<T, D>& w, QuantFormat f) {
  detail::check_contiguous(w, "quantize", "w");
  PMC_CHECK(w.rank() == 2, "quantize: w must be 2-D (out, in), got ", w.shape().str());
  PMC_CHECK(f == QuantFormat::int8 || f == QuantFormat::nf4 || is_ggml_format(f), "quantize: unknown format ",
            static_cast<int>(f));
  detail::check_quant_shape(w.size(0), w.size(1), "quantize", f);
}

/// The dequantize checks: q is complete for its format and out is contiguous with q's (rows, cols).
/// The checks of a QuantizedMatrix alone: complete for its format (`op` names the caller in messages).
template <Device D>
void check_quantized_matrix(const QuantizedMatrix<D>& q, const char* op = "dequantize") {
  detail::check_quant_shape(q.rows, q.cols, op, q.format);
  const std::int64_t bs = quant::block_size(q.format);
  PMC_CHECK(q.block == bs, op, ": block size ", q.block, " is not ", bs, " (", quant_format_name(q.format), ")");
  const std::int64_t n = q.numel(), blocks = q.blocks();
  if (is_ggml_format(q.format)) {
    const std::int64_t bytes = blocks * quant::ggml_block_bytes(q.format);
    PMC_CHECK(q.codes.defined() && q.codes.numel() == bytes, op, ": ", quant_format_name(q.format), " blocks must ",
              "hold ", bytes, " bytes, got ", q.codes.defined() ? q.codes.numel() : 0);
  } else if (q.format == QuantFormat::int8) {
    PMC_CHECK(q.codes.defined() && q.codes.numel() == n, "dequantize: int8 codes must hold ", n, " bytes");
    PMC_CHECK(q.absmax.defined() && q.absmax.numel() == blocks, "dequantize: int8 absmax must hold ", blocks,
              " scales");
  } else {
    PMC_CHECK(q.format == QuantFormat::nf4, "dequantize: unknown format ", static_cast<int>(q.format));
    PMC_CHECK(q.codes.defined() && q.codes.numel() == n / 2, "dequantize: nf4 codes must hold ", n / 2, " bytes");
    PMC_CHECK(q.absmax_codes.defined() && q.absmax_codes.numel() == blocks, "dequantize: nf4 absmax codes must hold ",
              blocks, " bytes");
    const std::int64_t groups = (blocks + quant::kGroup - 1) / quant::kGroup;
    PMC_CHECK(q.absmax2.defined() && q.absmax2.numel() == groups, "dequantize: nf4 absmax2 must hold ", groups,
              " scales");
  }
  PMC_CHECK(q.codes.is_contiguous(), op, ": codes must be contiguous");
  PMC_CHECK(q.layout == QuantLayout::blocks || (is_ggml_format(q.format) && q.rows % quant::kInterleavedRows == 0),
            op, ": the rows16 layout needs q8_0 / q4_0 with rows a multiple of ", quant::kInterleavedRows, ", got ",
            quant_format_name(q.format), " of ", q.shape().str());
}

template <class T, Device D>
void check_dequantize_args(const QuantizedMatrix<D>& q, const Tensor<T, D>& out) {
  check_quantized_matrix(q, "dequantize");
  detail::check_contiguous(out, "dequantize", "out");
  PMC_CHECK(out.shape() == q.shape(), "dequantize: out ", out.shape().str(), " must have the quantized shape ",
            q.shape().str());
}

/// The matmul checks: q complete, x (M, cols) and y (M, rows) contiguous 2-D.
template <class T, Device D>
void check_quant_matmul_args(const Tensor<T, D>& x, const QuantizedMatrix<D>& q, const Tensor<T, D>& y) {
  check_quantized_matrix(q, "quantized matmul");
  detail::check_contiguous(x, "quantized matmul", "x");
  detail::check_contiguous(y, "quantized matmul", "y");
  PMC_CHECK(x.rank() == 2 && x.size(1) == q.cols, "quantized matmul: x ", x.shape().str(), " must be (M, ", q.cols,
            ")");
  PMC_CHECK(y.rank() == 2 && y.size(0) == x.size(0) && y.size(1) == q.rows, "quantized matmul: y ",
            y.shape().str(), " must be (", x.size(0), ", ", q.rows, ")");
}

}  // namespace pmc::ops
