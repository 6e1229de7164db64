// BPE pre-tokenizers and the Unicode helpers under them: hand-derived splits for the GPT-2, Llama 3, Qwen2 and
// StarCoder regexes (contractions, digits, punctuation with newlines, white-space runs, CRLF, tabs, non-ASCII,
// invalid UTF-8), character classes, UTF-8 decoding and GPT-2's byte alphabet.
#include <string>
#include <vector>

#include "check.h"
#include "tokenizer/pre-tokenizer.h"
#include "tokenizer/unicode.h"

using namespace specqd;

namespace {

std::string show(const std::vector<std::string>& words) {
    std::string out = "[";
    for (size_t i = 0; i < words.size(); ++i) {
        if (i) out += "|";
        for (unsigned char c : words[i]) {
            if (c == '\n') out += "\\n";
            else if (c == '\r') out += "\\r";
            else if (c == '\t') out += "\\t";
            else out += static_cast<char>(c);
        }
    }
    return out + "]";
}

void expect_split(PreTokenizer kind, const std::string& text, const std::vector<std::string>& expected, int line) {
    std::vector<std::string> got;
    for (std::string_view w : pre_tokenize(kind, text)) got.emplace_back(w);
    check::record(got == expected, __FILE__, line,
                  std::string(pre_tokenizer_name(kind)) + " split of " + show({text}) + ": got " + show(got) +
                      ", want " + show(expected));
}
#define EXPECT_SPLIT(kind, text, ...) expect_split(PreTokenizer::kind, text, __VA_ARGS__, __LINE__)

void test_names() {
    PreTokenizer p = PreTokenizer::GPT2;
    CHECK(pre_tokenizer_from_name("qwen2", &p) && p == PreTokenizer::QWEN2);
    CHECK(pre_tokenizer_from_name("llama-bpe", &p) && p == PreTokenizer::LLAMA3);
    CHECK(pre_tokenizer_from_name("llama3", &p) && p == PreTokenizer::LLAMA3);
    CHECK(pre_tokenizer_from_name("starcoder", &p) && p == PreTokenizer::STARCODER);
    CHECK(pre_tokenizer_from_name("default", &p) && p == PreTokenizer::GPT2);
    CHECK(pre_tokenizer_from_name("", &p) && p == PreTokenizer::GPT2);
    CHECK(pre_tokenizer_from_name("gpt-2", &p) && p == PreTokenizer::GPT2);
    CHECK(!pre_tokenizer_from_name("deepseek-coder", &p));
    CHECK(!pre_tokenizer_from_name("QWEN2", &p));
}

void test_words_and_contractions() {
    EXPECT_SPLIT(QWEN2, "Hello world", {"Hello", " world"});
    EXPECT_SPLIT(GPT2, "Hello world", {"Hello", " world"});
    // Llama 3 / Qwen2 contractions ignore case; GPT-2's do not.
    EXPECT_SPLIT(QWEN2, "I'm don't WE'LL they've", {"I", "'m", " don", "'t", " WE", "'LL", " they", "'ve"});
    EXPECT_SPLIT(LLAMA3, "YOU'RE", {"YOU", "'RE"});
    EXPECT_SPLIT(GPT2, "I'm WE'LL", {"I", "'m", " WE", "'", "LL"});
    // An apostrophe that starts no contraction leads the word ([^\r\n\p{L}\p{N}]?\p{L}+) in Qwen2, not in GPT-2.
    EXPECT_SPLIT(QWEN2, "'hello", {"'hello"});
    EXPECT_SPLIT(GPT2, "'hello", {"'", "hello"});
    // Any one non-letter, non-digit, non-newline character may lead a word in Qwen2 (".name", "\tfoo"), but a run
    // of two punctuation characters is a word of its own.
    EXPECT_SPLIT(QWEN2, "self.name(_x)", {"self", ".name", "(_", "x", ")"});
    EXPECT_SPLIT(GPT2, "self.name(_x)", {"self", ".", "name", "(_", "x", ")"});
    EXPECT_SPLIT(QWEN2, "\tfoo", {"\tfoo"});
    EXPECT_SPLIT(GPT2, "\tfoo", {"\t", "foo"});
}

void test_digits() {
    // Qwen2: \p{N}, one digit per word. Llama 3: \p{N}{1,3}. GPT-2: ' ?\p{N}+'. StarCoder: each digit alone first.
    EXPECT_SPLIT(QWEN2, "x = 12345;", {"x", " =", " ", "1", "2", "3", "4", "5", ";"});
    EXPECT_SPLIT(LLAMA3, "x = 12345;", {"x", " =", " ", "123", "45", ";"});
    EXPECT_SPLIT(GPT2, "x = 12345;", {"x", " =", " 12345", ";"});
    EXPECT_SPLIT(STARCODER, "x = 12345;", {"x", " =", " ", "1", "2", "3", "4", "5", ";"});
    EXPECT_SPLIT(LLAMA3, "1234567", {"123", "456", "7"});
    EXPECT_SPLIT(QWEN2, "abc123def", {"abc", "1", "2", "3", "def"});
    EXPECT_SPLIT(GPT2, "abc123def", {"abc", "123", "def"});
    // Other \p{N} characters count as digits too: Arabic-Indic three, vulgar fraction one half.
    EXPECT_SPLIT(QWEN2, "\xD9\xA3\xC2\xBD", {"\xD9\xA3", "\xC2\xBD"});
}

void test_punctuation_and_newlines() {
    // ' ?[^\s\p{L}\p{N}]+[\r\n]*': punctuation takes one leading space and the newlines after it.
    EXPECT_SPLIT(QWEN2, "{\n    return 1;\n}", {"{\n", "   ", " return", " ", "1", ";\n", "}"});
    EXPECT_SPLIT(GPT2, "{\n    return 1;\n}", {"{", "\n   ", " return", " 1", ";", "\n", "}"});
    EXPECT_SPLIT(LLAMA3, "$$$\n\nx", {"$$$\n\n", "x"});
    EXPECT_SPLIT(QWEN2, "a += b", {"a", " +=", " b"});
    EXPECT_SPLIT(QWEN2, "hi \xF0\x9F\x98\x80\xF0\x9F\x98\x80!", {"hi", " \xF0\x9F\x98\x80\xF0\x9F\x98\x80!"});
}

void test_whitespace() {
    // \s+(?!\S): a run before text gives its last character to the next word; at the end it stays whole.
    EXPECT_SPLIT(QWEN2, "a   b", {"a", "  ", " b"});
    EXPECT_SPLIT(GPT2, "a   b", {"a", "  ", " b"});
    EXPECT_SPLIT(QWEN2, "a  ", {"a", "  "});
    EXPECT_SPLIT(GPT2, "a  ", {"a", "  "});
    EXPECT_SPLIT(QWEN2, " ", {" "});
    EXPECT_SPLIT(QWEN2, "  \tx", {"  ", "\tx"});
    // \s*[\r\n]+ (Qwen2/Llama 3): white space up to and including the last newline of the run.
    EXPECT_SPLIT(QWEN2, "foo\n\n  bar", {"foo", "\n\n", " ", " bar"});
    EXPECT_SPLIT(GPT2, "foo\n\n  bar", {"foo", "\n\n ", " bar"});
    EXPECT_SPLIT(QWEN2, "a \n  \n b", {"a", " \n  \n", " b"});
    EXPECT_SPLIT(QWEN2, "a\r\nb", {"a", "\r\n", "b"});
    EXPECT_SPLIT(QWEN2, "x\r\n\r\n", {"x", "\r\n\r\n"});
    EXPECT_SPLIT(GPT2, "a\r\nb", {"a", "\r", "\n", "b"});  // no newline rule: \s+(?!\S), then \s+
    EXPECT_SPLIT(QWEN2, "\n", {"\n"});
    // A newline never leads a word of letters.
    EXPECT_SPLIT(QWEN2, "\nabc", {"\n", "abc"});
    // Ideographic space (U+3000) and NEL (U+0085) are white space.
    EXPECT_SPLIT(QWEN2, "a\xE3\x80\x80\xE3\x80\x80" "b", {"a", "\xE3\x80\x80", "\xE3\x80\x80" "b"});
}

void test_non_ascii() {
    EXPECT_SPLIT(QWEN2, "caf\xC3\xA9 \xE6\x97\xA5\xE6\x9C\xAC\xE8\xAA\x9E",
                 {"caf\xC3\xA9", " \xE6\x97\xA5\xE6\x9C\xAC\xE8\xAA\x9E"});
    // A combining accent (U+0301, \p{M}) is not a letter.
    EXPECT_SPLIT(QWEN2, "e\xCC\x81x", {"e", "\xCC\x81x"});
    // Invalid UTF-8 bytes are single OTHER characters; nothing is lost.
    EXPECT_SPLIT(QWEN2, "a\xFF\xFE" "b", {"a", "\xFF\xFE", "b"});
    EXPECT_SPLIT(GPT2, "a \xFF", {"a", " \xFF"});
    EXPECT_SPLIT(QWEN2, "\xE6\x97", {"\xE6\x97"});  // truncated sequence: two OTHER bytes
}

void test_empty_and_cover() {
    CHECK(pre_tokenize(PreTokenizer::QWEN2, "").empty());
    // Words cover the text exactly, in order, for every kind, on a mixed snippet.
    const std::string text =
        "def f(x):\r\n\treturn x**2  # \xE5\xB9\xB3\xE6\x96\xB9 \xF0\x9F\x98\x80\n\n\n  'Don't'\xFF";
    for (PreTokenizer kind : {PreTokenizer::GPT2, PreTokenizer::LLAMA3, PreTokenizer::QWEN2, PreTokenizer::STARCODER}) {
        std::string joined;
        bool none_empty = true;
        for (std::string_view w : pre_tokenize(kind, text)) {
            joined += w;
            none_empty = none_empty && !w.empty();
        }
        CHECK_MSG(joined == text && none_empty, pre_tokenizer_name(kind));
    }
}

void test_unicode_helpers() {
    CHECK(char_class('A') == CharClass::LETTER);
    CHECK(char_class('z') == CharClass::LETTER);
    CHECK(char_class('7') == CharClass::NUMBER);
    CHECK(char_class(' ') == CharClass::SPACE);
    CHECK(char_class('\t') == CharClass::SPACE);
    CHECK(char_class('_') == CharClass::OTHER);
    CHECK(char_class(0x00E9) == CharClass::LETTER);   // é
    CHECK(char_class(0x65E5) == CharClass::LETTER);   // 日
    CHECK(char_class(0x0663) == CharClass::NUMBER);   // Arabic-Indic three
    CHECK(char_class(0x00BD) == CharClass::NUMBER);   // ½ (\p{No})
    CHECK(char_class(0x0085) == CharClass::SPACE);    // NEL: White_Space, though not JS's \s
    CHECK(char_class(0x3000) == CharClass::SPACE);
    CHECK(char_class(0xFEFF) == CharClass::OTHER);    // BOM: JS's \s, but not White_Space
    CHECK(char_class(0x0301) == CharClass::OTHER);    // combining acute
    CHECK(char_class(0x1F600) == CharClass::OTHER);   // 😀
    CHECK(char_class(0x10FFFF) == CharClass::OTHER);

    uint32_t cpt = 0;
    CHECK_EQ(utf8_decode("\xF0\x9F\x98\x80", 0, &cpt), 4u);
    CHECK_EQ(cpt, 0x1F600u);
    CHECK_EQ(utf8_decode("\xC3\xA9", 0, &cpt), 2u);
    CHECK_EQ(cpt, 0xE9u);
    CHECK_EQ(utf8_decode(std::string_view("\xC0\x80", 2), 0, &cpt), 1u);  // overlong NUL
    CHECK_EQ(cpt, kInvalidCodePoint);
    CHECK_EQ(utf8_decode("\xED\xA0\x80", 0, &cpt), 1u);  // UTF-16 surrogate
    CHECK_EQ(cpt, kInvalidCodePoint);
    CHECK_EQ(utf8_decode("\xF4\x90\x80\x80", 0, &cpt), 1u);  // above U+10FFFF
    CHECK_EQ(utf8_decode("\xE6\x97", 0, &cpt), 1u);  // truncated
    CHECK_EQ(utf8_decode("\x80", 0, &cpt), 1u);  // stray continuation byte
    CHECK_EQ(cpt, kInvalidCodePoint);
    std::string enc;
    for (uint32_t c : {0x41u, 0xE9u, 0x65E5u, 0x1F600u}) utf8_append(c, &enc);
    CHECK(enc == "A\xC3\xA9\xE6\x97\xA5\xF0\x9F\x98\x80");

    // GPT-2's alphabet: printable bytes stay, the other 68 take U+0100.. in byte order (space is U+0120 'Ġ',
    // newline U+010A 'Ċ', soft hyphen 0xAD the last one, U+0143).
    CHECK_EQ(gpt2_byte_to_codepoint('A'), 0x41u);
    CHECK_EQ(gpt2_byte_to_codepoint(0x00), 0x100u);
    CHECK_EQ(gpt2_byte_to_codepoint(' '), 0x120u);
    CHECK_EQ(gpt2_byte_to_codepoint('\n'), 0x10Au);
    CHECK_EQ(gpt2_byte_to_codepoint(0x7F), 0x121u);
    CHECK_EQ(gpt2_byte_to_codepoint(0xAD), 0x143u);
    CHECK_EQ(gpt2_byte_to_codepoint(0xE9), 0xE9u);
    bool bijective = true;
    for (int b = 0; b < 256; ++b) bijective = bijective && gpt2_codepoint_to_byte(gpt2_byte_to_codepoint(b)) == b;
    CHECK(bijective);
    CHECK_EQ(gpt2_codepoint_to_byte(0x20), -1);   // a raw space is not in the alphabet
    CHECK_EQ(gpt2_codepoint_to_byte(0x144), -1);
    CHECK_EQ(gpt2_codepoint_to_byte(0x1F600), -1);
}

}  // namespace

int main() {
    test_names();
    test_words_and_contractions();
    test_digits();
    test_punctuation_and_newlines();
    test_whitespace();
    test_non_ascii();
    test_empty_and_cover();
    test_unicode_helpers();
    return check::summary("test-tokenizer-pre");
}
