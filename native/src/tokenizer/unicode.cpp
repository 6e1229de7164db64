#include "tokenizer/unicode.h"

#include <algorithm>
#include <array>

namespace specqd {
namespace {

struct CharRange {
    uint32_t first;
    uint32_t last;
    CharClass cls;
};

#include "tokenizer/unicode-tables.inc"

// ASCII is most of source code; answer it from a flat table instead of a binary search.
constexpr std::array<CharClass, 128> make_ascii_classes() {
    std::array<CharClass, 128> table{};
    for (const CharRange& r : kCharRanges) {
        if (r.first >= 128) break;
        for (uint32_t c = r.first; c <= r.last && c < 128; ++c) table[c] = r.cls;
    }
    return table;
}
constexpr std::array<CharClass, 128> kAsciiClasses = make_ascii_classes();

struct Gpt2Alphabet {
    std::array<uint32_t, 256> byte_to_cpt{};
    std::array<int16_t, 512> cpt_to_byte{};  // every code point of the alphabet is below U+0200
};

// The table of GPT-2's bytes_to_unicode(): bytes that are printable Latin-1 keep their value, the others take
// U+0100, U+0101, ... in byte order.
constexpr Gpt2Alphabet make_gpt2_alphabet() {
    Gpt2Alphabet a;
    a.cpt_to_byte.fill(-1);
    uint32_t next = 256;
    for (uint32_t b = 0; b < 256; ++b) {
        const bool printable = (b >= 0x21 && b <= 0x7E) || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
        const uint32_t cpt = printable ? b : next++;
        a.byte_to_cpt[b] = cpt;
        a.cpt_to_byte[cpt] = static_cast<int16_t>(b);
    }
    return a;
}
constexpr Gpt2Alphabet kGpt2 = make_gpt2_alphabet();

}  // namespace

CharClass char_class(uint32_t cpt) {
    if (cpt < 128) return kAsciiClasses[cpt];
    const auto* end = std::end(kCharRanges);
    const auto* it = std::upper_bound(std::begin(kCharRanges), end, cpt,
                                      [](uint32_t c, const CharRange& r) { return c < r.first; });
    if (it == std::begin(kCharRanges)) return CharClass::OTHER;
    --it;
    return cpt <= it->last ? it->cls : CharClass::OTHER;
}

size_t utf8_decode(std::string_view text, size_t pos, uint32_t* cpt) {
    const auto byte = [&](size_t i) { return static_cast<uint8_t>(text[i]); };
    const uint8_t b0 = byte(pos);
    if (b0 < 0x80) {
        *cpt = b0;
        return 1;
    }
    size_t len = 0;
    uint32_t value = 0;
    uint32_t min_value = 0;
    if ((b0 & 0xE0) == 0xC0) {
        len = 2, value = b0 & 0x1F, min_value = 0x80;
    } else if ((b0 & 0xF0) == 0xE0) {
        len = 3, value = b0 & 0x0F, min_value = 0x800;
    } else if ((b0 & 0xF8) == 0xF0) {
        len = 4, value = b0 & 0x07, min_value = 0x10000;
    } else {
        *cpt = kInvalidCodePoint;
        return 1;
    }
    if (text.size() - pos < len) {
        *cpt = kInvalidCodePoint;
        return 1;
    }
    for (size_t i = 1; i < len; ++i) {
        const uint8_t b = byte(pos + i);
        if ((b & 0xC0) != 0x80) {
            *cpt = kInvalidCodePoint;
            return 1;
        }
        value = (value << 6) | (b & 0x3F);
    }
    if (value < min_value || value > 0x10FFFF || (value >= 0xD800 && value <= 0xDFFF)) {
        *cpt = kInvalidCodePoint;
        return 1;
    }
    *cpt = value;
    return len;
}

void utf8_append(uint32_t cpt, std::string* out) {
    if (cpt < 0x80) {
        out->push_back(static_cast<char>(cpt));
    } else if (cpt < 0x800) {
        out->push_back(static_cast<char>(0xC0 | (cpt >> 6)));
        out->push_back(static_cast<char>(0x80 | (cpt & 0x3F)));
    } else if (cpt < 0x10000) {
        out->push_back(static_cast<char>(0xE0 | (cpt >> 12)));
        out->push_back(static_cast<char>(0x80 | ((cpt >> 6) & 0x3F)));
        out->push_back(static_cast<char>(0x80 | (cpt & 0x3F)));
    } else {
        out->push_back(static_cast<char>(0xF0 | (cpt >> 18)));
        out->push_back(static_cast<char>(0x80 | ((cpt >> 12) & 0x3F)));
        out->push_back(static_cast<char>(0x80 | ((cpt >> 6) & 0x3F)));
        out->push_back(static_cast<char>(0x80 | (cpt & 0x3F)));
    }
}

uint32_t gpt2_byte_to_codepoint(uint8_t byte) { return kGpt2.byte_to_cpt[byte]; }

int gpt2_codepoint_to_byte(uint32_t cpt) { return cpt < kGpt2.cpt_to_byte.size() ? kGpt2.cpt_to_byte[cpt] : -1; }

}  // namespace specqd
