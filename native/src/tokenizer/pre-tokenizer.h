// Pre-tokenizers of byte-level BPE vocabularies: split text into "words" before BPE merges run inside each word.
//
// Each model family defines its split with a regex over Unicode classes. They are written here as hand-made
// matchers over code points (std::regex is slow and knows no \p{L}), with the same results as the regexes (and as
// llama.cpp's matchers for them) on valid UTF-8:
//
//   GPT2      's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
//   LLAMA3    (?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*
//             |\s*[\r\n]+|\s+(?!\S)|\s+
//   QWEN2     as LLAMA3 but \p{N} instead of \p{N}{1,3}: every digit is its own word
//   STARCODER every \p{N} is split off first, then GPT2 runs on the text between digits
//
// A byte that is not valid UTF-8 counts as one character of class OTHER (punctuation-like), so any input is split
// into words that cover it exactly. Pure functions; thread-safe.
#pragma once

#include <string_view>
#include <vector>

namespace specqd {

enum class PreTokenizer { GPT2, LLAMA3, QWEN2, STARCODER };

// Maps a `tokenizer.ggml.pre` name to its pre-tokenizer. Returns false for a name we do not implement. An empty
// name (key missing) and "default" map to GPT2.
bool pre_tokenizer_from_name(std::string_view name, PreTokenizer* out);
const char* pre_tokenizer_name(PreTokenizer kind);

// Splits UTF-8 text into words. The views point into `text`, are never empty, and concatenate back to `text`.
std::vector<std::string_view> pre_tokenize(PreTokenizer kind, std::string_view text);

}  // namespace specqd
