#include "tokenizer/pre-tokenizer.h"

#include <cstdint>

#include "tokenizer/unicode.h"

namespace specqd {
namespace {

// The text decoded once into code points, with each one's class and starting byte offset.
struct Chars {
    std::vector<uint32_t> cpts;
    std::vector<CharClass> classes;
    std::vector<size_t> offsets;  // offsets[i] = byte offset of code point i; offsets[size] = text size
};

Chars decode_chars(std::string_view text) {
    Chars c;
    c.cpts.reserve(text.size());
    c.classes.reserve(text.size());
    c.offsets.reserve(text.size() + 1);
    for (size_t pos = 0; pos < text.size();) {
        uint32_t cpt = 0;
        const size_t len = utf8_decode(text, pos, &cpt);
        c.cpts.push_back(cpt);
        c.classes.push_back(cpt == kInvalidCodePoint ? CharClass::OTHER : char_class(cpt));
        c.offsets.push_back(pos);
        pos += len;
    }
    c.offsets.push_back(text.size());
    return c;
}

// The code points [begin, end) as one regex input: positions at or past `end` behave as the end of the input
// (no character, no class), which is what the lookahead in \s+(?!\S) and the optional prefixes need.
class Span {
public:
    Span(const Chars& chars, size_t begin, size_t end) : chars_(chars), begin_(begin), end_(end) {}

    size_t begin() const { return begin_; }
    size_t end() const { return end_; }
    bool in(size_t pos) const { return pos < end_; }
    uint32_t cpt(size_t pos) const { return in(pos) ? chars_.cpts[pos] : kInvalidCodePoint; }
    bool is(size_t pos, CharClass cls) const { return in(pos) && chars_.classes[pos] == cls; }
    bool is_newline(size_t pos) const { return in(pos) && (chars_.cpts[pos] == '\r' || chars_.cpts[pos] == '\n'); }

    // Index just past the run of `cls` that starts at pos.
    size_t run_end(size_t pos, CharClass cls) const {
        while (is(pos, cls)) ++pos;
        return pos;
    }

private:
    const Chars& chars_;
    size_t begin_;
    size_t end_;
};

uint32_t ascii_lower(uint32_t c) { return (c >= 'A' && c <= 'Z') ? c + ('a' - 'A') : c; }

// 's|'t|'re|'ve|'m|'ll|'d at pos (case-insensitive for LLAMA3/QWEN2): the number of code points matched, or 0.
size_t match_contraction(const Span& s, size_t pos, bool ignore_case) {
    if (s.cpt(pos) != '\'' || !s.in(pos + 1)) return 0;
    const auto fold = [&](uint32_t c) { return ignore_case ? ascii_lower(c) : c; };
    const uint32_t a = fold(s.cpt(pos + 1));
    if (a == 's' || a == 't' || a == 'm' || a == 'd') return 2;
    if (!s.in(pos + 2)) return 0;
    const uint32_t b = fold(s.cpt(pos + 2));
    if ((a == 'r' && b == 'e') || (a == 'v' && b == 'e') || (a == 'l' && b == 'l')) return 3;
    return 0;
}

// \s+(?!\S)|\s+ at pos, which is white space: a run of white space followed by more text gives back its last
// character, so that " word" keeps its leading space; at the end of the input the whole run is taken.
size_t match_space_run(const Span& s, size_t pos) {
    const size_t end = s.run_end(pos, CharClass::SPACE);
    return (end - pos > 1 && s.in(end)) ? end - 1 : end;
}

// GPT-2: 's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
void split_gpt2(const Span& s, std::vector<size_t>* cuts) {
    for (size_t pos = s.begin(); pos < s.end();) {
        if (const size_t n = match_contraction(s, pos, /*ignore_case=*/false)) {
            pos += n;
        } else {
            // One optional leading space, then a run of letters, of numbers, or of other non-space characters.
            const size_t start = pos + (s.cpt(pos) == ' ' ? 1 : 0);
            if (s.in(start) && !s.is(start, CharClass::SPACE)) {
                pos = s.run_end(start, s.is(start, CharClass::LETTER)   ? CharClass::LETTER
                                       : s.is(start, CharClass::NUMBER) ? CharClass::NUMBER
                                                                        : CharClass::OTHER);
            } else {
                pos = match_space_run(s, pos);
            }
        }
        cuts->push_back(pos);
    }
}

// Llama 3 (max_digits 3) and Qwen2 (max_digits 1):
// (?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,max}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+
void split_llama3(const Span& s, size_t max_digits, std::vector<size_t>* cuts) {
    for (size_t pos = s.begin(); pos < s.end();) {
        if (const size_t n = match_contraction(s, pos, /*ignore_case=*/true)) {
            pos += n;
        } else if (!s.is_newline(pos) && !s.is(pos, CharClass::NUMBER) &&
                   (s.is(pos, CharClass::LETTER) || s.is(pos + 1, CharClass::LETTER))) {
            // [^\r\n\p{L}\p{N}]?\p{L}+ : any one non-newline, non-digit character may lead a word of letters.
            pos = s.run_end(pos + 1, CharClass::LETTER);
        } else if (s.is(pos, CharClass::NUMBER)) {
            const size_t limit = pos + max_digits;
            while (pos < limit && s.is(pos, CharClass::NUMBER)) ++pos;
        } else if (const size_t start = pos + (s.cpt(pos) == ' ' ? 1 : 0); s.is(start, CharClass::OTHER)) {
            // ' ?[^\s\p{L}\p{N}]+[\r\n]*' : punctuation keeps the newlines that follow it ("{\n").
            pos = s.run_end(start, CharClass::OTHER);
            while (s.is_newline(pos)) ++pos;
        } else {
            // pos is white space. \s*[\r\n]+ takes the run up to its last newline; otherwise \s+(?!\S)|\s+.
            const size_t end = s.run_end(pos, CharClass::SPACE);
            size_t last_newline_end = 0;
            for (size_t i = pos; i < end; ++i) {
                if (s.is_newline(i)) last_newline_end = i + 1;
            }
            pos = last_newline_end > 0 ? last_newline_end : match_space_run(s, pos);
        }
        cuts->push_back(pos);
    }
}

// StarCoder: \p{N} splits first (each digit alone), then GPT-2 runs on each stretch between digits.
void split_starcoder(const Chars& chars, std::vector<size_t>* cuts) {
    const size_t n = chars.cpts.size();
    for (size_t pos = 0; pos < n;) {
        if (chars.classes[pos] == CharClass::NUMBER) {
            cuts->push_back(++pos);
            continue;
        }
        size_t end = pos;
        while (end < n && chars.classes[end] != CharClass::NUMBER) ++end;
        split_gpt2(Span(chars, pos, end), cuts);
        pos = end;
    }
}

}  // namespace

bool pre_tokenizer_from_name(std::string_view name, PreTokenizer* out) {
    // Names as llama.cpp's converter writes them; each group shares one regex.
    static constexpr std::string_view kGpt2[] = {"", "default", "gpt-2", "gpt2"};
    static constexpr std::string_view kLlama3[] = {"llama3", "llama-v3", "llama-bpe", "falcon3", "smaug-bpe", "dbrx"};
    static constexpr std::string_view kQwen2[] = {"qwen2", "deepseek-r1-qwen", "megrez"};
    static constexpr std::string_view kStarcoder[] = {"starcoder", "refact", "smollm", "codeshell", "command-r"};
    const auto in = [&](const auto& names) {
        for (std::string_view n : names) {
            if (n == name) return true;
        }
        return false;
    };
    if (in(kGpt2)) *out = PreTokenizer::GPT2;
    else if (in(kLlama3)) *out = PreTokenizer::LLAMA3;
    else if (in(kQwen2)) *out = PreTokenizer::QWEN2;
    else if (in(kStarcoder)) *out = PreTokenizer::STARCODER;
    else return false;
    return true;
}

const char* pre_tokenizer_name(PreTokenizer kind) {
    switch (kind) {
        case PreTokenizer::GPT2: return "gpt2";
        case PreTokenizer::LLAMA3: return "llama3";
        case PreTokenizer::QWEN2: return "qwen2";
        case PreTokenizer::STARCODER: return "starcoder";
    }
    return "unknown";
}

std::vector<std::string_view> pre_tokenize(PreTokenizer kind, std::string_view text) {
    const Chars chars = decode_chars(text);
    const Span all(chars, 0, chars.cpts.size());
    std::vector<size_t> cuts;  // code point index where each word ends, ascending
    switch (kind) {
        case PreTokenizer::GPT2: split_gpt2(all, &cuts); break;
        case PreTokenizer::LLAMA3: split_llama3(all, 3, &cuts); break;
        case PreTokenizer::QWEN2: split_llama3(all, 1, &cuts); break;
        case PreTokenizer::STARCODER: split_starcoder(chars, &cuts); break;
    }
    std::vector<std::string_view> words;
    words.reserve(cuts.size());
    size_t prev = 0;
    for (size_t cut : cuts) {
        const size_t from = chars.offsets[prev];
        const size_t to = chars.offsets[cut];
        if (to > from) words.push_back(text.substr(from, to - from));
        prev = cut;
    }
    return words;
}

}  // namespace specqd
