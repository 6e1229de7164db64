// Unicode helpers for the tokenizers: UTF-8 decoding, the character classes the BPE pre-tokenizer regexes use
// (\p{L}, \p{N}, \s), and GPT-2's byte-level alphabet.
//
// All functions are pure and thread-safe. Code points are uint32_t; byte offsets are size_t into UTF-8 text.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace specqd {

// The classes the pre-tokenizer regexes distinguish. They are disjoint: a code point is in at most one of
// \p{L} (LETTER), \p{N} (NUMBER) and the Unicode White_Space property (SPACE); everything else is OTHER.
enum class CharClass : uint8_t { OTHER = 0, LETTER = 1, NUMBER = 2, SPACE = 3 };

CharClass char_class(uint32_t cpt);

// Stands for a byte that does not start a well-formed UTF-8 sequence (class OTHER).
constexpr uint32_t kInvalidCodePoint = 0xFFFFFFFFu;

// Decodes the UTF-8 sequence starting at text[pos] (pos < text.size()). Returns its length in bytes (1..4) and
// stores the code point; a malformed, overlong, surrogate or truncated sequence gives length 1 and
// kInvalidCodePoint, so every byte of any input is covered exactly once.
size_t utf8_decode(std::string_view text, size_t pos, uint32_t* cpt);

// Appends the UTF-8 encoding of a valid code point.
void utf8_append(uint32_t cpt, std::string* out);

// GPT-2's byte-level alphabet: each of the 256 byte values is shown as a printable code point (printable Latin-1
// bytes as themselves, the other 68 as U+0100 onwards; space becomes U+0120 'Ġ'). Byte-level BPE vocabularies
// store token text in this alphabet.
uint32_t gpt2_byte_to_codepoint(uint8_t byte);
// The byte a code point of the alphabet stands for, or -1 when it is not part of the alphabet.
int gpt2_codepoint_to_byte(uint32_t cpt);

}  // namespace specqd
