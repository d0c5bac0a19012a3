// SPDX-License-Identifier: MIT
// The PNG encoder of the pmc program's reports (examples/pmc/png.hpp): its files decode, with an inflate written
// here from RFC 1951 (stored and fixed-Huffman blocks, which is all the encoder writes), to the same pixels; every
// chunk's CRC-32 and the stream's Adler-32 check; LZ77 matches make plots small.
#include <doctest/doctest.h>

#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

#include "../../examples/pmc/png.hpp"

// its own namespace: the test folder builds as one translation unit (PMC_UNITY_BUILD)
namespace png_test {

namespace {

namespace png = pmc::cli::png;

struct BitReader {
  const std::vector<std::uint8_t>& in;
  std::size_t pos = 0;
  int bit = 0;
  std::uint32_t bits(int n) {  // LSB first
    std::uint32_t v = 0;
    for (int i = 0; i < n; ++i) {
      if (pos >= in.size()) throw std::runtime_error("inflate: out of input");
      v |= static_cast<std::uint32_t>((in[pos] >> bit) & 1) << i;
      if (++bit == 8) bit = 0, ++pos;
    }
    return v;
  }
  std::uint32_t huffman(int n) {  // most significant bit first
    std::uint32_t v = 0;
    for (int i = 0; i < n; ++i) v = (v << 1) | bits(1);
    return v;
  }
};

/// The fixed literal/length code's symbol, read bit by bit (7, 8 or 9 bits).
int fixed_symbol(BitReader& r) {
  std::uint32_t code = r.huffman(7);
  if (code <= 0x17) return 256 + static_cast<int>(code);
  code = (code << 1) | r.bits(1);
  if (code >= 0x30 && code <= 0xBF) return static_cast<int>(code - 0x30);
  if (code >= 0xC0 && code <= 0xC7) return 280 + static_cast<int>(code - 0xC0);
  code = (code << 1) | r.bits(1);
  if (code >= 0x190 && code <= 0x1FF) return 144 + static_cast<int>(code - 0x190);
  throw std::runtime_error("inflate: bad fixed code");
}

/// zlib stream → bytes (checks the header and the Adler-32).
std::vector<std::uint8_t> inflate_zlib(const std::vector<std::uint8_t>& z) {
  REQUIRE(z.size() >= 6);
  REQUIRE((z[0] & 0x0F) == 8);                 // deflate
  REQUIRE(((z[0] << 8) | z[1]) % 31 == 0);     // FCHECK
  REQUIRE((z[1] & 0x20) == 0);                 // no preset dictionary
  const std::vector<std::uint8_t> body(z.begin() + 2, z.end() - 4);
  BitReader r{body};
  std::vector<std::uint8_t> out;
  namespace d = png::detail;
  for (bool last = false; !last;) {
    last = r.bits(1) != 0;
    const auto type = r.bits(2);
    if (type == 0) {
      if (r.bit) r.bit = 0, ++r.pos;
      const std::uint32_t len = body.at(r.pos) | body.at(r.pos + 1) << 8;
      r.pos += 4;
      for (std::uint32_t i = 0; i < len; ++i) out.push_back(body.at(r.pos++));
      continue;
    }
    REQUIRE(type == 1);  // the encoder writes fixed Huffman blocks only
    for (;;) {
      const int sym = fixed_symbol(r);
      if (sym < 256) {
        out.push_back(static_cast<std::uint8_t>(sym));
        continue;
      }
      if (sym == 256) break;
      REQUIRE(sym <= 285);
      const int len = d::kLengthBase[sym - 257] + static_cast<int>(r.bits(d::kLengthExtra[sym - 257]));
      const auto di = r.huffman(5);
      REQUIRE(di < 30);
      const int dist = d::kDistBase[di] + static_cast<int>(r.bits(d::kDistExtra[di]));
      REQUIRE(dist <= static_cast<int>(out.size()));
      for (int i = 0; i < len; ++i) out.push_back(out[out.size() - static_cast<std::size_t>(dist)]);
    }
  }
  const std::uint32_t adler = static_cast<std::uint32_t>(z[z.size() - 4]) << 24 | z[z.size() - 3] << 16 |
                              z[z.size() - 2] << 8 | z[z.size() - 1];
  CHECK(adler == png::adler32(out.data(), out.size()));
  return out;
}

std::uint32_t be32(const std::string& s, std::size_t at) {
  std::uint32_t v = 0;
  for (int i = 0; i < 4; ++i) v = v << 8 | static_cast<std::uint8_t>(s.at(at + static_cast<std::size_t>(i)));
  return v;
}

/// Decodes a PNG of the encoder's kind (8-bit RGB, filter 0), checking the signature, chunk order and CRCs.
png::Image decode(const std::string& file) {
  REQUIRE(file.size() > 8);
  REQUIRE(file.compare(0, 8, std::string("\x89PNG\r\n\x1a\n", 8)) == 0);
  std::size_t at = 8;
  std::vector<std::string> types;
  std::vector<std::uint8_t> idat;
  png::Image img;
  while (at < file.size()) {
    const auto len = be32(file, at);
    const std::string type = file.substr(at + 4, 4);
    const auto* p = reinterpret_cast<const std::uint8_t*>(file.data() + at + 4);
    CHECK_MESSAGE(be32(file, at + 8 + len) == png::crc32(p, 4 + len), "CRC of ", type);
    types.push_back(type);
    if (type == "IHDR") {
      img.width = static_cast<int>(be32(file, at + 8));
      img.height = static_cast<int>(be32(file, at + 12));
      CHECK(file.compare(at + 16, 5, std::string("\x08\x02\x00\x00\x00", 5)) == 0);
    } else if (type == "IDAT") {
      idat.insert(idat.end(), p + 4, p + 4 + len);
    }
    at += 12 + len;
  }
  CHECK(at == file.size());
  REQUIRE(types.size() == 3);
  CHECK(types[0] == "IHDR");
  CHECK(types[1] == "IDAT");
  CHECK(types[2] == "IEND");
  const auto raw = inflate_zlib(idat);
  const std::size_t stride = 1 + 3 * static_cast<std::size_t>(img.width);
  REQUIRE(raw.size() == stride * static_cast<std::size_t>(img.height));
  img.pixels.resize(static_cast<std::size_t>(img.width) * img.height);
  for (int y = 0; y < img.height; ++y) {
    const auto* row = raw.data() + static_cast<std::size_t>(y) * stride;
    REQUIRE(row[0] == 0);
    for (int x = 0; x < img.width; ++x)
      img.pixels[static_cast<std::size_t>(y) * img.width + x] = {row[1 + 3 * x], row[2 + 3 * x], row[3 + 3 * x]};
  }
  return img;
}

}  // namespace

TEST_CASE("png checksums match the published check values") {
  const std::string nine = "123456789";
  const auto* p = reinterpret_cast<const std::uint8_t*>(nine.data());
  CHECK(png::crc32(p, nine.size()) == 0xCBF43926u);
  const std::string wiki = "Wikipedia";
  CHECK(png::adler32(reinterpret_cast<const std::uint8_t*>(wiki.data()), wiki.size()) == 0x11E60398u);
  // the CRC of an IEND chunk, as every PNG file ends: AE 42 60 82
  CHECK(png::crc32(reinterpret_cast<const std::uint8_t*>("IEND"), 4) == 0xAE426082u);
}

TEST_CASE("zlib stream of the encoder inflates to its input") {
  std::vector<std::vector<std::uint8_t>> inputs{{}, {7}, {1, 2}, std::vector<std::uint8_t>(1000, 0xAB)};
  std::vector<std::uint8_t> mixed;  // literals of every value, long and short matches, distances past 32 KiB
  std::uint32_t s = 12345;
  for (int i = 0; i < 70000; ++i) {
    s = s * 1103515245u + 12345u;
    mixed.push_back(i % 3000 < 1500 ? static_cast<std::uint8_t>(s >> 24) : static_cast<std::uint8_t>(i % 7));
  }
  inputs.push_back(mixed);
  for (const auto& in : inputs) CHECK(inflate_zlib(png::zlib_compress(in)) == in);
}

TEST_CASE("png of an image decodes to the same pixels") {
  png::Image img(37, 23);
  for (int y = 0; y < img.height; ++y)
    for (int x = 0; x < img.width; ++x)
      img.set(x, y, {static_cast<std::uint8_t>(x * 7), static_cast<std::uint8_t>(y * 11), static_cast<std::uint8_t>(x ^ y)});
  const auto back = decode(png::encode(img));
  CHECK(back.width == 37);
  CHECK(back.height == 23);
  CHECK(back.pixels == img.pixels);
}

TEST_CASE("png line plot has its frame, lines and legend and compresses well") {
  std::vector<pmc::cli::Series> series{{"inject", {1, 2, 3, 4}, {5.0, 4.0, 3.5, 3.2}},
                                       {"inject eval", {2, 4}, {4.5, 3.9}}};
  const auto img = png::line_plot(series, "Knowledge injection", "step", "loss (nats)");
  const auto file = png::encode(img);
  const auto back = decode(file);
  REQUIRE(back.width == 640);
  REQUIRE(back.height == 360);
  CHECK(back.pixels == img.pixels);
  CHECK(file.size() < 40000);  // 691 KB raw
  const pmc::cli::PlotFrame f = pmc::cli::plot_frame(series, 640, 360);
  // the frame's corners, the first series' colour at its first point, the legend's swatch of the second
  CHECK(back.at(f.left, f.top) == png::Rgb{0x44, 0x44, 0x44});
  CHECK(back.at(static_cast<int>(f.left + f.pw), static_cast<int>(f.top + f.ph)) == png::Rgb{0x44, 0x44, 0x44});
  CHECK(back.at(static_cast<int>(std::lround(f.px(1))), static_cast<int>(std::lround(f.py(5.0)))) ==
        png::rgb_of(pmc::cli::plot_color(0)));
  CHECK(back.at(static_cast<int>(f.left + f.pw) + 20, f.top + 12 + 18) == png::rgb_of(pmc::cli::plot_color(1)));
  CHECK(back.at(2, 2) == png::Rgb{255, 255, 255});
}

}  // namespace png_test
