// SPDX-License-Identifier: MIT
// PNG figures for slides, without a PNG or zlib dependency: an RGB raster (Image), a rasterizer of the same line
// plots report.hpp draws as SVG (axes, grid, ticks and their numbers, lines, legend, title and axis labels in a
// built-in 5×8 bitmap font), and an encoder: 8-bit RGB, filter 0 on every row, one zlib stream of fixed-Huffman
// deflate with LZ77 matches (hash chains over a 32 KiB window), CRC-32 on every chunk and Adler-32 on the stream.
// Plots are mostly runs of one colour and rows that repeat, which LZ77 alone compresses well (a 640 × 360 loss
// plot is about 10-20 KB). tests/report/png_test.cpp decodes the output with its own inflate.
#pragma once

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <string>
#include <vector>

#include "report.hpp"

namespace pmc::cli::png {

struct Rgb {
  std::uint8_t r = 0, g = 0, b = 0;
  bool operator==(const Rgb&) const = default;
};

/// "#1f77b4" → {0x1f, 0x77, 0xb4}; anything else is black.
inline Rgb rgb_of(const char* hex) {
  unsigned v = 0;
  if (hex && hex[0] == '#' && std::sscanf(hex + 1, "%6x", &v) == 1)
    return {static_cast<std::uint8_t>(v >> 16), static_cast<std::uint8_t>(v >> 8), static_cast<std::uint8_t>(v)};
  return {};
}

/// An RGB raster, row-major from the top left.
struct Image {
  int width = 0, height = 0;
  std::vector<Rgb> pixels;
  Image() = default;
  Image(int w, int h, Rgb fill = {255, 255, 255}) : width(w), height(h), pixels(static_cast<std::size_t>(w) * h, fill) {}
  void set(int x, int y, Rgb c) {
    if (x >= 0 && y >= 0 && x < width && y < height) pixels[static_cast<std::size_t>(y) * width + x] = c;
  }
  Rgb at(int x, int y) const { return pixels[static_cast<std::size_t>(y) * width + x]; }
};

// ---------------------------------------------------------------------------------------------------------
// checksums

inline std::uint32_t crc32(const std::uint8_t* p, std::size_t n, std::uint32_t crc = 0) {
  static const auto table = [] {
    std::array<std::uint32_t, 256> t{};
    for (std::uint32_t i = 0; i < 256; ++i) {
      std::uint32_t c = i;
      for (int k = 0; k < 8; ++k) c = c & 1 ? 0xEDB88320u ^ (c >> 1) : c >> 1;
      t[i] = c;
    }
    return t;
  }();
  crc = ~crc;
  for (std::size_t i = 0; i < n; ++i) crc = table[(crc ^ p[i]) & 0xFF] ^ (crc >> 8);
  return ~crc;
}

inline std::uint32_t adler32(const std::uint8_t* p, std::size_t n) {
  std::uint32_t a = 1, b = 0;
  for (std::size_t i = 0; i < n; ++i) {
    a = (a + p[i]) % 65521;
    b = (b + a) % 65521;
  }
  return (b << 16) | a;
}

// ---------------------------------------------------------------------------------------------------------
// deflate: one final block of fixed Huffman codes (RFC 1951 3.2.6), LZ77 matches of 3..258 bytes, 32 KiB back

namespace detail {

struct BitWriter {
  std::vector<std::uint8_t> out;
  std::uint32_t acc = 0;
  int n = 0;
  void bits(std::uint32_t v, int count) {  // LSB first
    for (int i = 0; i < count; ++i) {
      acc |= ((v >> i) & 1u) << n;
      if (++n == 8) out.push_back(static_cast<std::uint8_t>(acc)), acc = 0, n = 0;
    }
  }
  void huffman(std::uint32_t code, int len) {  // Huffman codes go most significant bit first
    for (int i = len - 1; i >= 0; --i) bits((code >> i) & 1u, 1);
  }
  void flush() {
    if (n > 0) out.push_back(static_cast<std::uint8_t>(acc)), acc = 0, n = 0;
  }
};

inline void literal_length_code(BitWriter& w, int sym) {
  if (sym < 144) w.huffman(0x30 + sym, 8);
  else if (sym < 256) w.huffman(0x190 + sym - 144, 9);
  else if (sym < 280) w.huffman(sym - 256, 7);
  else w.huffman(0xC0 + sym - 280, 8);
}

inline constexpr int kLengthBase[29] = {3,  4,  5,  6,  7,  8,  9,  10, 11,  13,  15,  17,  19,  23, 27,
                                        31, 35, 43, 51, 59, 67, 83, 99, 115, 131, 163, 195, 227, 258};
inline constexpr int kLengthExtra[29] = {0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3, 4, 4, 4, 4, 5, 5, 5, 5, 0};
inline constexpr int kDistBase[30] = {1,   2,   3,   4,   5,   7,    9,    13,   17,   25,   33,   49,   65,    97,    129,
                                      193, 257, 385, 513, 769, 1025, 1537, 2049, 3073, 4097, 6145, 8193, 12289, 16385, 24577};
inline constexpr int kDistExtra[30] = {0, 0, 0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7, 8, 8, 9, 9, 10, 10, 11, 11, 12, 12, 13, 13};

inline void match_code(BitWriter& w, int length, int distance) {
  int li = 28;
  while (kLengthBase[li] > length) --li;
  literal_length_code(w, 257 + li);
  w.bits(static_cast<std::uint32_t>(length - kLengthBase[li]), kLengthExtra[li]);
  int di = 29;
  while (kDistBase[di] > distance) --di;
  w.huffman(static_cast<std::uint32_t>(di), 5);
  w.bits(static_cast<std::uint32_t>(distance - kDistBase[di]), kDistExtra[di]);
}

}  // namespace detail

/// A zlib stream (RFC 1950) of `data`: header 0x78 0x01, one fixed-Huffman deflate block, Adler-32.
inline std::vector<std::uint8_t> zlib_compress(const std::vector<std::uint8_t>& data) {
  constexpr int kWindow = 32768, kMinMatch = 3, kMaxMatch = 258, kHashBits = 15, kMaxChain = 48;
  detail::BitWriter w;
  w.out = {0x78, 0x01};
  w.bits(1, 1);  // BFINAL
  w.bits(1, 2);  // BTYPE 01: fixed Huffman codes
  const std::size_t n = data.size();
  std::vector<int> head(1u << kHashBits, -1), prev(n, -1);
  auto hash = [&](std::size_t i) {
    return ((static_cast<std::uint32_t>(data[i]) << 10) ^ (static_cast<std::uint32_t>(data[i + 1]) << 5) ^ data[i + 2]) &
           ((1u << kHashBits) - 1);
  };
  auto insert = [&](std::size_t i) {
    if (i + kMinMatch > n) return;
    const auto h = hash(i);
    prev[i] = head[h];
    head[h] = static_cast<int>(i);
  };
  std::size_t i = 0;
  while (i < n) {
    int best_len = 0, best_dist = 0;
    if (i + kMinMatch <= n) {
      const std::size_t limit = std::min<std::size_t>(kMaxMatch, n - i);
      int chain = 0;
      for (int j = head[hash(i)]; j >= 0 && static_cast<int>(i) - j <= kWindow && chain < kMaxChain; j = prev[j], ++chain) {
        std::size_t len = 0;
        while (len < limit && data[static_cast<std::size_t>(j) + len] == data[i + len]) ++len;
        if (static_cast<int>(len) > best_len) {
          best_len = static_cast<int>(len), best_dist = static_cast<int>(i) - j;
          if (len == limit) break;
        }
      }
    }
    if (best_len >= kMinMatch) {
      detail::match_code(w, best_len, best_dist);
      for (int k = 0; k < best_len; ++k) insert(i + static_cast<std::size_t>(k));
      i += static_cast<std::size_t>(best_len);
    } else {
      detail::literal_length_code(w, data[i]);
      insert(i);
      ++i;
    }
  }
  detail::literal_length_code(w, 256);  // end of block
  w.flush();
  const std::uint32_t a = adler32(data.data(), data.size());
  for (int s = 24; s >= 0; s -= 8) w.out.push_back(static_cast<std::uint8_t>(a >> s));
  return w.out;
}

/// The PNG file of `img`: signature, IHDR (8-bit RGB), one IDAT, IEND.
inline std::string encode(const Image& img) {
  std::vector<std::uint8_t> raw;
  raw.reserve(static_cast<std::size_t>(img.height) * (1 + 3 * static_cast<std::size_t>(img.width)));
  for (int y = 0; y < img.height; ++y) {
    raw.push_back(0);  // filter: none
    for (int x = 0; x < img.width; ++x) {
      const Rgb c = img.at(x, y);
      raw.insert(raw.end(), {c.r, c.g, c.b});
    }
  }
  std::string out("\x89PNG\r\n\x1a\n", 8);
  auto be32 = [](std::vector<std::uint8_t>& v, std::uint32_t x) {
    for (int s = 24; s >= 0; s -= 8) v.push_back(static_cast<std::uint8_t>(x >> s));
  };
  auto chunk = [&](const char* type, const std::vector<std::uint8_t>& body) {
    std::vector<std::uint8_t> c;
    be32(c, static_cast<std::uint32_t>(body.size()));
    c.insert(c.end(), type, type + 4);
    c.insert(c.end(), body.begin(), body.end());
    be32(c, crc32(c.data() + 4, c.size() - 4));  // over type and data
    out.append(reinterpret_cast<const char*>(c.data()), c.size());
  };
  std::vector<std::uint8_t> ihdr;
  be32(ihdr, static_cast<std::uint32_t>(img.width));
  be32(ihdr, static_cast<std::uint32_t>(img.height));
  ihdr.insert(ihdr.end(), {8, 2, 0, 0, 0});  // bit depth 8, colour type 2 (RGB), deflate, adaptive filters, no interlace
  chunk("IHDR", ihdr);
  chunk("IDAT", zlib_compress(raw));
  chunk("IEND", {});
  return out;
}

// ---------------------------------------------------------------------------------------------------------
// drawing

/// The 5×8 glyphs of ASCII 32..126, one byte per column, bit 0 at the top (the classic 5×7 LCD font, with
/// descenders in bit 7).
inline const std::uint8_t* glyph(char ch) {
  static const std::uint8_t font[95][5] = {
      {0x00, 0x00, 0x00, 0x00, 0x00}, {0x00, 0x00, 0x5F, 0x00, 0x00}, {0x00, 0x07, 0x00, 0x07, 0x00},
      {0x14, 0x7F, 0x14, 0x7F, 0x14}, {0x24, 0x2A, 0x7F, 0x2A, 0x12}, {0x23, 0x13, 0x08, 0x64, 0x62},
      {0x36, 0x49, 0x56, 0x20, 0x50}, {0x00, 0x08, 0x07, 0x03, 0x00}, {0x00, 0x1C, 0x22, 0x41, 0x00},
      {0x00, 0x41, 0x22, 0x1C, 0x00}, {0x2A, 0x1C, 0x7F, 0x1C, 0x2A}, {0x08, 0x08, 0x3E, 0x08, 0x08},
      {0x00, 0x80, 0x70, 0x30, 0x00}, {0x08, 0x08, 0x08, 0x08, 0x08}, {0x00, 0x00, 0x60, 0x60, 0x00},
      {0x20, 0x10, 0x08, 0x04, 0x02}, {0x3E, 0x51, 0x49, 0x45, 0x3E}, {0x00, 0x42, 0x7F, 0x40, 0x00},
      {0x72, 0x49, 0x49, 0x49, 0x46}, {0x21, 0x41, 0x49, 0x4D, 0x33}, {0x18, 0x14, 0x12, 0x7F, 0x10},
      {0x27, 0x45, 0x45, 0x45, 0x39}, {0x3C, 0x4A, 0x49, 0x49, 0x31}, {0x41, 0x21, 0x11, 0x09, 0x07},
      {0x36, 0x49, 0x49, 0x49, 0x36}, {0x46, 0x49, 0x49, 0x29, 0x1E}, {0x00, 0x00, 0x14, 0x00, 0x00},
      {0x00, 0x40, 0x34, 0x00, 0x00}, {0x00, 0x08, 0x14, 0x22, 0x41}, {0x14, 0x14, 0x14, 0x14, 0x14},
      {0x00, 0x41, 0x22, 0x14, 0x08}, {0x02, 0x01, 0x59, 0x09, 0x06}, {0x3E, 0x41, 0x5D, 0x59, 0x4E},
      {0x7C, 0x12, 0x11, 0x12, 0x7C}, {0x7F, 0x49, 0x49, 0x49, 0x36}, {0x3E, 0x41, 0x41, 0x41, 0x22},
      {0x7F, 0x41, 0x41, 0x41, 0x3E}, {0x7F, 0x49, 0x49, 0x49, 0x41}, {0x7F, 0x09, 0x09, 0x09, 0x01},
      {0x3E, 0x41, 0x41, 0x51, 0x73}, {0x7F, 0x08, 0x08, 0x08, 0x7F}, {0x00, 0x41, 0x7F, 0x41, 0x00},
      {0x20, 0x40, 0x41, 0x3F, 0x01}, {0x7F, 0x08, 0x14, 0x22, 0x41}, {0x7F, 0x40, 0x40, 0x40, 0x40},
      {0x7F, 0x02, 0x1C, 0x02, 0x7F}, {0x7F, 0x04, 0x08, 0x10, 0x7F}, {0x3E, 0x41, 0x41, 0x41, 0x3E},
      {0x7F, 0x09, 0x09, 0x09, 0x06}, {0x3E, 0x41, 0x51, 0x21, 0x5E}, {0x7F, 0x09, 0x19, 0x29, 0x46},
      {0x26, 0x49, 0x49, 0x49, 0x32}, {0x03, 0x01, 0x7F, 0x01, 0x03}, {0x3F, 0x40, 0x40, 0x40, 0x3F},
      {0x1F, 0x20, 0x40, 0x20, 0x1F}, {0x3F, 0x40, 0x38, 0x40, 0x3F}, {0x63, 0x14, 0x08, 0x14, 0x63},
      {0x03, 0x04, 0x78, 0x04, 0x03}, {0x61, 0x59, 0x49, 0x4D, 0x43}, {0x00, 0x7F, 0x41, 0x41, 0x41},
      {0x02, 0x04, 0x08, 0x10, 0x20}, {0x00, 0x41, 0x41, 0x41, 0x7F}, {0x04, 0x02, 0x01, 0x02, 0x04},
      {0x40, 0x40, 0x40, 0x40, 0x40}, {0x00, 0x03, 0x07, 0x08, 0x00}, {0x20, 0x54, 0x54, 0x78, 0x40},
      {0x7F, 0x28, 0x44, 0x44, 0x38}, {0x38, 0x44, 0x44, 0x44, 0x28}, {0x38, 0x44, 0x44, 0x28, 0x7F},
      {0x38, 0x54, 0x54, 0x54, 0x18}, {0x00, 0x08, 0x7E, 0x09, 0x02}, {0x18, 0xA4, 0xA4, 0x9C, 0x78},
      {0x7F, 0x08, 0x04, 0x04, 0x78}, {0x00, 0x44, 0x7D, 0x40, 0x00}, {0x20, 0x40, 0x40, 0x3D, 0x00},
      {0x7F, 0x10, 0x28, 0x44, 0x00}, {0x00, 0x41, 0x7F, 0x40, 0x00}, {0x7C, 0x04, 0x78, 0x04, 0x78},
      {0x7C, 0x08, 0x04, 0x04, 0x78}, {0x38, 0x44, 0x44, 0x44, 0x38}, {0xFC, 0x18, 0x24, 0x24, 0x18},
      {0x18, 0x24, 0x24, 0x18, 0xFC}, {0x7C, 0x08, 0x04, 0x04, 0x08}, {0x48, 0x54, 0x54, 0x54, 0x24},
      {0x04, 0x04, 0x3F, 0x44, 0x24}, {0x3C, 0x40, 0x40, 0x20, 0x7C}, {0x1C, 0x20, 0x40, 0x20, 0x1C},
      {0x3C, 0x40, 0x30, 0x40, 0x3C}, {0x44, 0x28, 0x10, 0x28, 0x44}, {0x4C, 0x90, 0x90, 0x90, 0x7C},
      {0x44, 0x64, 0x54, 0x4C, 0x44}, {0x00, 0x08, 0x36, 0x41, 0x00}, {0x00, 0x00, 0x77, 0x00, 0x00},
      {0x00, 0x41, 0x36, 0x08, 0x00}, {0x02, 0x01, 0x02, 0x04, 0x02}};
  const unsigned char u = static_cast<unsigned char>(ch);
  return font[u >= 32 && u <= 126 ? u - 32 : '?' - 32];
}

/// Width in pixels of `s` in the font at `scale` (6 columns a character: 5 and a space).
inline int text_width(const std::string& s, int scale = 1) { return static_cast<int>(s.size()) * 6 * scale; }

/// Draws `s` with its top left at (x, y); `vertical`: rotated 90° anticlockwise, reading upwards from (x, y) as
/// its bottom left.
inline void draw_text(Image& img, int x, int y, const std::string& s, Rgb c, int scale = 1, bool vertical = false) {
  for (std::size_t k = 0; k < s.size(); ++k) {
    const std::uint8_t* g = glyph(s[k]);
    for (int col = 0; col < 5; ++col)
      for (int row = 0; row < 8; ++row) {
        if (!(g[col] >> row & 1)) continue;
        for (int dy = 0; dy < scale; ++dy)
          for (int dx = 0; dx < scale; ++dx) {
            const int u = (static_cast<int>(k) * 6 + col) * scale + dx, v = row * scale + dy;
            if (vertical) img.set(x + v, y - u, c);
            else img.set(x + u, y + v, c);
          }
      }
  }
}

/// A line of `thickness` pixels (a square brush along Bresenham's line).
inline void draw_line(Image& img, double x0d, double y0d, double x1d, double y1d, Rgb c, int thickness = 1) {
  int x0 = static_cast<int>(std::lround(x0d)), y0 = static_cast<int>(std::lround(y0d));
  const int x1 = static_cast<int>(std::lround(x1d)), y1 = static_cast<int>(std::lround(y1d));
  const int dx = std::abs(x1 - x0), dy = -std::abs(y1 - y0), sx = x0 < x1 ? 1 : -1, sy = y0 < y1 ? 1 : -1;
  const int lo = -(thickness - 1) / 2, hi = thickness / 2;
  for (int err = dx + dy;;) {
    for (int a = lo; a <= hi; ++a)
      for (int b = lo; b <= hi; ++b) img.set(x0 + a, y0 + b, c);
    if (x0 == x1 && y0 == y1) break;
    const int e2 = 2 * err;
    if (e2 >= dy) err += dy, x0 += sx;
    if (e2 <= dx) err += dx, y0 += sy;
  }
}

/// The tick label of report.hpp's SVG ("%g").
inline std::string tick_label(double v, double step) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%g", std::abs(v) < 1e-9 * step ? 0.0 : v);
  return buf;
}

/// The line plot svg_line_plot draws, as pixels: the same layout, colours, ticks and legend; text in the
/// bitmap font (title twice its size).
inline Image line_plot(const std::vector<Series>& series, const std::string& title, const std::string& xlabel,
                       const std::string& ylabel, int width = 640, int height = 360) {
  Image img(width, height);
  const PlotFrame f = plot_frame(series, width, height);
  const Rgb grid{0xee, 0xee, 0xee}, frame{0x44, 0x44, 0x44}, ink{0x22, 0x22, 0x22};
  draw_text(img, f.left, 6, title, ink, 2);
  for (double v = std::ceil(f.x0 / f.xs) * f.xs; v <= f.x1 + 1e-9; v += f.xs) {
    draw_line(img, f.px(v), f.top, f.px(v), f.top + f.ph, grid);
    const auto t = tick_label(v, f.xs);
    draw_text(img, static_cast<int>(std::lround(f.px(v))) - text_width(t) / 2, static_cast<int>(f.top + f.ph) + 6, t, ink);
  }
  for (double v = std::ceil(f.y0 / f.ys) * f.ys; v <= f.y1 + 1e-9; v += f.ys) {
    draw_line(img, f.left, f.py(v), f.left + f.pw, f.py(v), grid);
    const auto t = tick_label(v, f.ys);
    draw_text(img, f.left - 6 - text_width(t), static_cast<int>(std::lround(f.py(v))) - 4, t, ink);
  }
  const double r = f.left + f.pw, b = f.top + f.ph;
  draw_line(img, f.left, f.top, r, f.top, frame);
  draw_line(img, f.left, b, r, b, frame);
  draw_line(img, f.left, f.top, f.left, b, frame);
  draw_line(img, r, f.top, r, b, frame);
  draw_text(img, static_cast<int>(f.left + f.pw / 2) - text_width(xlabel) / 2, height - 16, xlabel, ink);
  draw_text(img, 6, static_cast<int>(f.top + f.ph / 2) + text_width(ylabel) / 2, ylabel, ink, 1, true);
  for (std::size_t k = 0; k < series.size(); ++k) {
    const auto& s = series[k];
    const Rgb c = rgb_of(plot_color(k));
    bool have = false;
    double lx = 0, ly = 0;
    for (std::size_t i = 0; i < s.x.size() && i < s.y.size(); ++i) {
      if (!std::isfinite(s.y[i])) continue;
      const double x = f.px(s.x[i]), y = f.py(s.y[i]);
      if (have) draw_line(img, lx, ly, x, y, c, 2);
      else draw_line(img, x, y, x, y, c, 2);  // a single point stays visible
      lx = x, ly = y, have = true;
    }
    const int ky = f.top + 12 + 18 * static_cast<int>(k);
    draw_line(img, r + 12, ky, r + 32, ky, c, 3);
    draw_text(img, static_cast<int>(r) + 38, ky - 4, s.name, ink);
  }
  return img;
}

}  // namespace pmc::cli::png
