// Byte-level BPE tokenizer on a small hand-made vocabulary in Qwen2's layout: merge order, pre-tokenizer effects on
// the ids (Qwen2 vs Llama 3 vs GPT-2), special and user-defined tokens, FIM and end-of-generation detection for the
// main code-model families, decoding of byte tokens, validation of hostile metadata, and loading through a GGUF file.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <functional>
#include <iterator>
#include <limits>
#include <string>
#include <vector>

#include "check.h"
#include "gguf/gguf-reader.h"
#include "gguf/gguf-writer.h"
#include "test-util.h"
#include "tokenizer/unicode.h"
#include "tokenizer/vocab.h"

using namespace specqd;

namespace {

// Text in GPT-2's byte alphabet, as byte-level vocabularies store it ("Ġthe" for " the").
std::string g(std::string_view raw) {
    std::string out;
    for (char c : raw) utf8_append(gpt2_byte_to_codepoint(static_cast<uint8_t>(c)), &out);
    return out;
}

// Ids 0..255 are the single bytes (id == byte value), then merged tokens, then special tokens.
VocabSpec qwen_like_spec(const std::string& pre = "qwen2") {
    VocabSpec spec;
    spec.model = "gpt2";
    spec.pre = pre;
    for (int b = 0; b < 256; ++b) spec.tokens.push_back(g(std::string(1, static_cast<char>(b))));
    const char* merges[][2] = {{" ", "t"}, {"h", "e"}, {" t", "he"}, {"b", "c"}, {"a", "b"},
                               {"a", "a"}, {"1", "2"}, {"i", "n"},  {" ", "="}, {"\n", "\n"}};
    for (const auto& m : merges) {
        spec.tokens.push_back(g(std::string(m[0]) + m[1]));
        spec.merges.push_back(g(m[0]) + " " + g(m[1]));
    }
    spec.has_merges = true;
    spec.tokens.push_back(g("xyz"));  // a token no merge can reach
    const char* specials[] = {"<|endoftext|>", "<|im_end|>",  "<|fim_prefix|>", "<|fim_middle|>",
                              "<|fim_suffix|>", "<|fim_pad|>", "<|repo_name|>",  "<|file_sep|>"};
    spec.token_types.assign(spec.tokens.size(), 1);
    for (const char* s : specials) {
        spec.tokens.push_back(s);
        spec.token_types.push_back(3);
    }
    spec.tokens.push_back("<tool_call>");
    spec.token_types.push_back(4);  // user-defined
    spec.tokens.push_back("[PAD276]");
    spec.token_types.push_back(5);  // unused padding, as converters add
    spec.bos_id = 267;              // <|endoftext|>, as Qwen2.5 files say
    spec.eos_id = 267;
    spec.pad_id = 267;
    spec.add_bos = false;
    return spec;
}

Vocab build_or_fail(const VocabSpec& spec) {
    Vocab v;
    const Status st = Vocab::build(spec, &v);
    CHECK_MSG(st.is_ok(), st.message());
    return v;
}

std::vector<int32_t> ids_of(const Vocab& v, const std::vector<std::string>& raw_pieces) {
    std::vector<int32_t> ids;
    for (const std::string& p : raw_pieces) ids.push_back(v.find_token(g(p)));
    return ids;
}

std::string show(const Vocab& v, const std::vector<int32_t>& ids) {
    std::string s = "[";
    for (int32_t id : ids) s += (s.size() > 1 ? "|" : "") + v.token_to_piece(id, true);
    return s + "]";
}

void expect_encode(const Vocab& v, const std::string& text, const std::vector<std::string>& pieces, int line) {
    const std::vector<int32_t> got = v.encode(text, false, false);
    const std::vector<int32_t> want = ids_of(v, pieces);
    check::record(got == want, __FILE__, line, "encode('" + text + "') = " + show(v, got) + ", want " + show(v, want));
}
#define EXPECT_ENCODE(v, text, ...) expect_encode(v, text, __VA_ARGS__, __LINE__)

void test_merges() {
    const Vocab v = build_or_fail(qwen_like_spec());
    CHECK(v.kind() == TokenizerKind::BPE);
    CHECK(v.pre_tokenizer() == PreTokenizer::QWEN2);
    CHECK(!v.pre_tokenizer_fallback());
    CHECK_EQ(v.n_tokens(), 277);
    // " the": Ġ+t (rank 0), then h+e (rank 1), then Ġt+he (rank 2). "the" alone has no t+h merge.
    EXPECT_ENCODE(v, "the the", {"t", "he", " the"});
    // Lowest rank first: b+c (rank 3) beats a+b (rank 4).
    EXPECT_ENCODE(v, "abc", {"a", "bc"});
    // Equal ranks: the leftmost pair first.
    EXPECT_ENCODE(v, "aaa", {"aa", "a"});
    EXPECT_ENCODE(v, "aaaa", {"aa", "aa"});
    EXPECT_ENCODE(v, "aaaaa", {"aa", "aa", "a"});
    // Pre-tokenizer boundaries stop merges: Qwen2 puts every digit in its own word.
    EXPECT_ENCODE(v, "12", {"1", "2"});
    EXPECT_ENCODE(v, "x = 12", {"x", " =", " ", "1", "2"});
    EXPECT_ENCODE(v, "xyz", {"x", "y", "z"});
    EXPECT_ENCODE(v, "\n\nin", {"\n\n", "in"});
    CHECK(v.encode("", false, false).empty());
    // add_bos_token is false for Qwen, but encode() gives BOS when asked: the caller decides (normally by add_bos()).
    CHECK(!v.add_bos());
    CHECK(v.encode("", /*add_bos=*/true, false) == std::vector<int32_t>{267});
}

void test_other_pre_tokenizers() {
    // Llama 3: up to three digits per word, and a word that is a whole token skips the merges (ignore_merges).
    const Vocab llama = build_or_fail(qwen_like_spec("llama-bpe"));
    CHECK(llama.pre_tokenizer() == PreTokenizer::LLAMA3);
    CHECK(llama.add_bos() == false);  // the spec's add_bos_token = false wins over the Llama 3 default
    EXPECT_ENCODE(llama, "12", {"12"});
    EXPECT_ENCODE(llama, "xyz", {"xyz"});
    EXPECT_ENCODE(llama, "x = 12", {"x", " =", " ", "12"});
    // GPT-2: ' ?\p{N}+' keeps the space on the number.
    const Vocab gpt2 = build_or_fail(qwen_like_spec("gpt-2"));
    CHECK(gpt2.pre_tokenizer() == PreTokenizer::GPT2);
    EXPECT_ENCODE(gpt2, "12", {"12"});
    EXPECT_ENCODE(gpt2, "x = 12", {"x", " =", " ", "12"});  // word " 12": Ġ then 1+2
    // A missing or unknown pre-tokenizer falls back to GPT-2's regex and says so.
    const Vocab unknown = build_or_fail(qwen_like_spec("some-future-model"));
    CHECK(unknown.pre_tokenizer() == PreTokenizer::GPT2);
    CHECK(unknown.pre_tokenizer_fallback());
    CHECK(unknown.pre_name() == "some-future-model");
    const Vocab missing = build_or_fail(qwen_like_spec(""));
    CHECK(missing.pre_tokenizer_fallback());
    // Without add_bos_token, the Llama 3 family defaults to adding BOS (as llama.cpp does), others do not.
    VocabSpec spec = qwen_like_spec("llama-bpe");
    spec.add_bos.reset();
    CHECK(build_or_fail(spec).add_bos());
    spec.pre = "qwen2";
    CHECK(!build_or_fail(spec).add_bos());
}

void test_round_trip_and_bytes() {
    const Vocab v = build_or_fail(qwen_like_spec());
    const std::string samples[] = {
        "def fib(n):\r\n\tif n < 2:\r\n\t\treturn n\r\n\treturn fib(n - 1) + fib(n - 2)\r\n",
        "    spaces   and\ttabs\t\t and trailing   ",
        "\n\n\n",
        "emoji \xF0\x9F\x98\x80\xF0\x9F\x91\x8D\xF0\x9F\x8F\xBD CJK \xE6\x97\xA5\xE6\x9C\xAC\xE8\xAA\x9E "
        "caf\xC3\xA9 e\xCC\x81",
        "0123456789 3.14159 -1e9 0xFF",
        "<|fim_prefix|> written in a document is just text",
        std::string("nul\0byte and invalid \xFF\xFE\xC3 utf-8", 30),
    };
    for (const std::string& s : samples) {
        const std::vector<int32_t> ids = v.encode(s, false, false);
        CHECK_MSG(v.decode(ids) == s, "round trip of '" + s + "'");
        bool special = false;
        for (int32_t id : ids) special = special || v.token_type(id) == TokenType::CONTROL;
        CHECK_MSG(!special, "no control token from plain text: '" + s + "'");
    }
    // Byte tokens decode to their byte, even when the bytes alone are not valid UTF-8.
    CHECK(v.decode(std::vector<int32_t>{0xF0, 0x9F}) == "\xF0\x9F");
    CHECK(v.token_to_piece(0xFF) == "\xFF");
    CHECK(v.token_to_piece(' ') == " ");
    CHECK(v.token_to_piece('\n') == "\n");
    CHECK(v.token_text(' ') == "\xC4\xA0");  // 'Ġ'
    CHECK(v.token_to_piece(v.find_token(g(" the"))) == " the");
    const std::vector<int32_t> emoji = v.encode("\xF0\x9F\x98\x80", false, false);
    CHECK((emoji == std::vector<int32_t>{0xF0, 0x9F, 0x98, 0x80}));
}

void test_special_tokens() {
    const Vocab v = build_or_fail(qwen_like_spec());
    const int32_t pre = v.find_token("<|fim_prefix|>");
    const int32_t suf = v.find_token("<|fim_suffix|>");
    const int32_t mid = v.find_token("<|fim_middle|>");
    const int32_t tool = v.find_token("<tool_call>");
    // parse_special: control tokens in the text become their ids; the text between is encoded as usual.
    const std::string prompt = "<|fim_prefix|>def f():\n    <|fim_suffix|>\n<|fim_middle|>";
    std::vector<int32_t> want = {pre};
    for (int32_t id : v.encode("def f():\n    ", false, false)) want.push_back(id);
    want.push_back(suf);
    for (int32_t id : v.encode("\n", false, false)) want.push_back(id);
    want.push_back(mid);
    CHECK(v.encode(prompt, false, /*parse_special=*/true) == want);
    // Without parse_special they are plain text.
    const std::vector<int32_t> plain = v.encode(prompt, false, false);
    CHECK(std::find(plain.begin(), plain.end(), pre) == plain.end());
    CHECK(v.decode(plain) == prompt);
    // A user-defined token is matched either way (llama.cpp and Hugging Face do the same).
    CHECK((v.encode("a<tool_call>b", false, false) == std::vector<int32_t>{'a', tool, 'b'}));
    CHECK((v.encode("a<tool_call>b", false, true) == std::vector<int32_t>{'a', tool, 'b'}));
    // Adjacent and partial specials.
    CHECK((v.encode("<|im_end|><|im_end|>", false, true) ==
           std::vector<int32_t>{v.find_token("<|im_end|>"), v.find_token("<|im_end|>")}));
    CHECK(v.decode(v.encode("<|im_end", false, true)) == "<|im_end");
    // Decoding: control tokens render as nothing unless asked; user-defined ones always render.
    const std::vector<int32_t> ids = {pre, 'x', suf, tool, mid};
    CHECK(v.decode(ids) == "x<tool_call>");
    CHECK(v.decode(ids, true) == "<|fim_prefix|>x<|fim_suffix|><tool_call><|fim_middle|>");
    CHECK(v.token_to_piece(v.find_token("[PAD276]"), true).empty());  // unused
    // BOS on request.
    CHECK(v.encode("a", /*add_bos=*/true, false) == (std::vector<int32_t>{267, 'a'}));
}

void test_fim_and_eog_qwen() {
    const Vocab v = build_or_fail(qwen_like_spec());
    CHECK(v.fim_supported());
    CHECK_EQ(v.fim_pre_id(), v.find_token("<|fim_prefix|>"));
    CHECK_EQ(v.fim_suf_id(), v.find_token("<|fim_suffix|>"));
    CHECK_EQ(v.fim_mid_id(), v.find_token("<|fim_middle|>"));
    CHECK_EQ(v.fim_pad_id(), v.find_token("<|fim_pad|>"));
    CHECK_EQ(v.fim_rep_id(), v.find_token("<|repo_name|>"));
    CHECK_EQ(v.fim_sep_id(), v.find_token("<|file_sep|>"));
    CHECK_EQ(v.eos_id(), 267);
    CHECK_EQ(v.eot_id(), v.find_token("<|endoftext|>"));
    // <|endoftext|>, <|im_end|>, <|fim_pad|>, <|repo_name|> and <|file_sep|> all end generation.
    const std::vector<int32_t> eog = {267, 268, 272, 273, 274};
    CHECK(v.eog_ids() == eog);
    for (int32_t id : eog) CHECK(v.is_eog(id));
    CHECK(!v.is_eog(v.find_token("<|fim_prefix|>")));
    CHECK(!v.is_eog('a'));
    CHECK(!v.is_eog(-1));
    // Explicit keys win over detection by text.
    VocabSpec spec = qwen_like_spec();
    spec.fim_pre_id = 'P';
    spec.fim_sep_id = 0xFFFFFFFFll;  // "none": detection still fills it
    const Vocab keyed = build_or_fail(spec);
    CHECK_EQ(keyed.fim_pre_id(), 'P');
    CHECK_EQ(keyed.fim_sep_id(), v.find_token("<|file_sep|>"));
}

// FIM and end tokens of the other code-model families, found by their text even when stored as normal tokens.
void test_fim_other_families() {
    struct Family {
        const char* name;
        std::vector<std::string> specials;  // pre, suf, mid, then an end token
        bool end_is_eog;
    };
    const Family families[] = {
        {"starcoder", {"<fim_prefix>", "<fim_suffix>", "<fim_middle>", "<file_sep>"}, true},
        {"santacoder", {"<fim-prefix>", "<fim-suffix>", "<fim-middle>", "<|endoftext|>"}, true},
        {"deepseek",
         {"<\xEF\xBD\x9C" "fim\xE2\x96\x81" "begin\xEF\xBD\x9C>", "<\xEF\xBD\x9C" "fim\xE2\x96\x81" "hole\xEF\xBD\x9C>",
          "<\xEF\xBD\x9C" "fim\xE2\x96\x81" "end\xEF\xBD\x9C>", "<|EOT|>"},
         false},
        {"codellama-plain", {"<PRE>", "<SUF>", "<MID>", "<EOT>"}, true},
    };
    for (const Family& f : families) {
        VocabSpec spec;
        spec.model = "gpt2";
        spec.pre = "gpt-2";
        spec.has_merges = true;
        for (int b = 0; b < 256; ++b) spec.tokens.push_back(g(std::string(1, static_cast<char>(b))));
        for (const std::string& s : f.specials) spec.tokens.push_back(s);
        spec.eos_id = 0xFFFFFFFFll;  // keeps the gpt2 default (11), as llama.cpp does
        const Vocab v = build_or_fail(spec);
        CHECK_MSG(v.fim_supported(), f.name);
        CHECK_MSG(v.fim_pre_id() == 256 && v.fim_suf_id() == 257 && v.fim_mid_id() == 258, f.name);
        CHECK_MSG(v.token_type(256) == TokenType::CONTROL, f.name);
        CHECK_MSG(v.is_eog(259) == f.end_is_eog, f.name);
        CHECK_MSG(v.eos_id() == 11, f.name);
    }
    // DeepSeek's real end token is found as EOT.
    VocabSpec spec = qwen_like_spec();
    spec.tokens.push_back("<\xEF\xBD\x9C" "end\xE2\x96\x81of\xE2\x96\x81sentence\xEF\xBD\x9C>");
    spec.token_types.push_back(1);
    spec.tokens[267] = "<s>";  // no <|endoftext|> or <|im_end|> now, which would be found first
    spec.tokens[268] = "<t>";
    const Vocab v = build_or_fail(spec);
    CHECK_EQ(v.eot_id(), 277);
    CHECK(v.is_eog(277));
    // No FIM tokens at all.
    VocabSpec bare;
    bare.model = "gpt2";
    bare.has_merges = true;
    for (int b = 0; b < 256; ++b) bare.tokens.push_back(g(std::string(1, static_cast<char>(b))));
    const Vocab none = build_or_fail(bare);
    CHECK(!none.fim_supported());
    CHECK_EQ(none.fim_pre_id(), -1);
    CHECK_EQ(none.fim_pad_id(), -1);
    CHECK_EQ(none.bos_id(), 11);  // llama.cpp's gpt2 defaults
    CHECK(none.eog_ids() == std::vector<int32_t>{11});
}

void expect_error(const VocabSpec& spec, const std::string& needle, int line) {
    Vocab v;
    const Status st = Vocab::build(spec, &v);
    check::record(!st.is_ok() && st.message().find(needle) != std::string::npos, __FILE__, line,
                  "expected an error naming '" + needle + "', got '" + (st ? "success" : st.message()) + "'");
}
#define EXPECT_ERROR(spec, needle) expect_error(spec, needle, __LINE__)

void test_validation() {
    VocabSpec s = qwen_like_spec();
    s.model = "bert";
    EXPECT_ERROR(s, "tokenizer.ggml.model");
    s = qwen_like_spec();
    s.tokens.clear();
    s.token_types.clear();
    EXPECT_ERROR(s, "tokenizer.ggml.tokens is empty");
    s = qwen_like_spec();
    s.scores.assign(3, 0.0f);
    EXPECT_ERROR(s, "tokenizer.ggml.scores has 3 entries");
    s = qwen_like_spec();
    s.token_types.pop_back();
    EXPECT_ERROR(s, "tokenizer.ggml.token_type has 276 entries");
    s = qwen_like_spec();
    s.token_types[5] = 9;
    EXPECT_ERROR(s, "tokenizer.ggml.token_type[5] = 9");
    s = qwen_like_spec();
    s.scores.assign(s.tokens.size(), 0.0f);
    s.scores[7] = std::numeric_limits<float>::quiet_NaN();
    EXPECT_ERROR(s, "tokenizer.ggml.scores[7] is NaN");
    s = qwen_like_spec();
    s.tokens[270] = s.tokens[0];
    EXPECT_ERROR(s, "twice");
    s = qwen_like_spec();
    s.bos_id = 600;
    EXPECT_ERROR(s, "tokenizer.ggml.bos_token_id = 600 is out of range");
    s = qwen_like_spec();
    s.eos_id = -5;
    EXPECT_ERROR(s, "tokenizer.ggml.eos_token_id = -5");
    s = qwen_like_spec();
    s.fim_mid_id = 277;
    EXPECT_ERROR(s, "tokenizer.ggml.fim_mid_token_id = 277");
    s = qwen_like_spec();
    s.pad_id = int64_t{1} << 40;
    EXPECT_ERROR(s, "tokenizer.ggml.padding_token_id");
    s = qwen_like_spec();
    s.has_merges = false;
    s.merges.clear();
    EXPECT_ERROR(s, "missing metadata key 'tokenizer.ggml.merges'");
    s = qwen_like_spec();
    s.merges.push_back(g(" ") + " zz");
    EXPECT_ERROR(s, "tokenizer.ggml.merges[10] 'Ġ zz': 'zz' is not a token");
    s = qwen_like_spec();
    s.merges.push_back("ab");
    EXPECT_ERROR(s, "tokenizer.ggml.merges[10] 'ab' is not two tokens");
    s = qwen_like_spec();
    s.merges.push_back(" x");
    EXPECT_ERROR(s, "tokenizer.ggml.merges[10]");
    s = qwen_like_spec();
    s.merges.push_back("x y");
    EXPECT_ERROR(s, "the merged text is not a token");
    s = qwen_like_spec();
    s.merges.push_back(std::string("\x01\x02 q", 4));
    EXPECT_ERROR(s, "\\x01\\x02");  // unprintable bytes are escaped in messages
    // SPM needs a BOS when add_bos_token (default true for SPM) is in force.
    VocabSpec spm;
    spm.model = "llama";
    spm.tokens = {"<unk>"};
    EXPECT_ERROR(spm, "add_bos_token");
    spm.add_bos = false;
    Vocab tiny;
    CHECK(Vocab::build(spm, &tiny).is_ok());
    CHECK_EQ(tiny.bos_id(), -1);
    CHECK_EQ(tiny.eos_id(), -1);
    CHECK(tiny.encode("hello", true, true) == std::vector<int32_t>(8, 0));  // "▁hello": each of its 8 bytes is <unk>
    // A Vocab that was never built encodes and decodes to nothing.
    const Vocab empty;
    CHECK(empty.encode("abc", true, true).empty());
    CHECK(empty.decode(std::vector<int32_t>{0, 1}).empty());
    CHECK_EQ(empty.bos_id(), -1);
    // A failed build leaves the output untouched.
    Vocab kept = build_or_fail(qwen_like_spec());
    s = qwen_like_spec();
    s.bos_id = 9999;
    CHECK(!Vocab::build(s, &kept).is_ok());
    CHECK_EQ(kept.n_tokens(), 277);
    // Empty token texts are renamed (llama.cpp does the same) rather than matched everywhere.
    s = qwen_like_spec();
    s.tokens[276] = "";
    s.token_types[276] = 3;
    const Vocab renamed = build_or_fail(s);
    CHECK(renamed.token_text(276) == "[EMPTY_276]");
    CHECK(renamed.decode(renamed.encode("abc", false, true)) == "abc");
}

// Writes the tokenizer into a GGUF file, reads it back through GgufFile, and checks type errors name the key.
void test_gguf_round_trip() {
    test_util::TempDir dir;
    const VocabSpec spec = qwen_like_spec();
    const auto write = [&](const std::string& path, const std::function<void(GgufWriter&)>& edit) {
        GgufWriter w;
        w.set("general.architecture", GgufValue::of_string("qwen2"));
        w.set("tokenizer.ggml.model", GgufValue::of_string(spec.model));
        w.set("tokenizer.ggml.pre", GgufValue::of_string(spec.pre));
        w.set("tokenizer.ggml.tokens", GgufValue::of_array(GgufArray::of_strings(spec.tokens)));
        w.set("tokenizer.ggml.token_type", GgufValue::of_array(GgufArray::of_i32(spec.token_types)));
        w.set("tokenizer.ggml.merges", GgufValue::of_array(GgufArray::of_strings(spec.merges)));
        w.set("tokenizer.ggml.bos_token_id", GgufValue::of_u32(267));
        w.set("tokenizer.ggml.eos_token_id", GgufValue::of_u32(267));
        w.set("tokenizer.ggml.padding_token_id", GgufValue::of_u32(267));
        w.set("tokenizer.ggml.add_bos_token", GgufValue::of_bool(false));
        edit(w);
        Status st = w.open(path);
        if (st) st = w.commit();
        CHECK_MSG(st.is_ok(), st.message());
    };
    const auto load = [&](const std::string& path, Vocab* v) {
        GgufFile file;
        const Status st = file.open(path);
        CHECK_MSG(st.is_ok(), st.message());
        return st ? Vocab::load(file, v) : st;
    };

    const std::string good = dir.file("good.gguf");
    write(good, [](GgufWriter&) {});
    Vocab from_file;
    const Status st = load(good, &from_file);
    CHECK_MSG(st.is_ok(), st.message());
    const Vocab from_spec = build_or_fail(spec);
    const std::string text = "<|fim_prefix|>the abc 12\n\n<|fim_suffix|>aaaa<|fim_middle|>";
    CHECK(from_file.encode(text, false, true) == from_spec.encode(text, false, true));
    CHECK(from_file.fim_supported());
    CHECK(from_file.eog_ids() == from_spec.eog_ids());

    // The deprecated FIM key is still read.
    const std::string deprecated = dir.file("deprecated.gguf");
    write(deprecated, [](GgufWriter& w) { w.set("tokenizer.ggml.prefix_token_id", GgufValue::of_u32('P')); });
    Vocab dv;
    CHECK(load(deprecated, &dv).is_ok());
    CHECK_EQ(dv.fim_pre_id(), 'P');

    struct Bad {
        const char* name;
        std::function<void(GgufWriter&)> edit;
        const char* needle;
    };
    const auto set = [](const char* key, GgufValue value) {
        return [key, value](GgufWriter& w) { w.set(key, value); };
    };
    const auto strings = [](std::vector<std::string> v) { return GgufValue::of_array(GgufArray::of_strings(v)); };
    const auto i32s = [](std::vector<int32_t> v) { return GgufValue::of_array(GgufArray::of_i32(v)); };
    const auto f32s = [](std::vector<float> v) { return GgufValue::of_array(GgufArray::of_f32(v)); };
    const Bad bad[] = {
        {"tokens as ints", set("tokenizer.ggml.tokens", i32s({1, 2})), "tokenizer.ggml.tokens"},
        {"tokens not an array", set("tokenizer.ggml.tokens", GgufValue::of_string("abc")), "tokenizer.ggml.tokens"},
        {"bos as string", set("tokenizer.ggml.bos_token_id", GgufValue::of_string("1")), "tokenizer.ggml.bos_token_id"},
        {"bos out of range", set("tokenizer.ggml.bos_token_id", GgufValue::of_u32(100000)),
         "tokenizer.ggml.bos_token_id = 100000"},
        {"scores as strings", set("tokenizer.ggml.scores", strings({"x"})), "tokenizer.ggml.scores"},
        {"scores too short", set("tokenizer.ggml.scores", f32s({0.5f})), "tokenizer.ggml.scores has 1 entries"},
        {"types as floats", set("tokenizer.ggml.token_type", f32s({1.0f})), "tokenizer.ggml.token_type"},
        {"add_bos as u32", set("tokenizer.ggml.add_bos_token", GgufValue::of_u32(1)), "tokenizer.ggml.add_bos_token"},
        {"model as u32", set("tokenizer.ggml.model", GgufValue::of_u32(2)), "tokenizer.ggml.model"},
        {"merges as ints", set("tokenizer.ggml.merges", i32s({1})), "tokenizer.ggml.merges"},
        {"no model", [](GgufWriter& w) { w.set("tokenizer.ggml.model", GgufValue::of_string("t5")); },
         "tokenizer.ggml.model 't5' is not supported"},
    };
    for (const Bad& b : bad) {
        const std::string path = dir.file(std::string(b.name) + ".gguf");
        write(path, b.edit);
        Vocab v;
        const Status e = load(path, &v);
        CHECK_MSG(!e.is_ok() && e.message().find(b.needle) != std::string::npos,
                  std::string(b.name) + ": " + (e ? "success" : e.message()));
    }
}

void test_hostile_inputs() {
    const Vocab v = build_or_fail(qwen_like_spec());
    // Pseudo-random byte strings (including NULs, invalid UTF-8 and special-token fragments) round-trip, and
    // pseudo-random ids (most out of range) decode without harm.
    uint32_t seed = 7;
    const auto next = [&] { return seed = seed * 1664525u + 1013904223u; };
    const std::string pieces[] = {"<|", "|>", "<|fim_", "prefix", "\xF0\x9F", "\x98\x80", " ", "\n", "12", "'s", "a"};
    for (int i = 0; i < 300; ++i) {
        std::string s;
        const int len = next() % 40;
        for (int j = 0; j < len; ++j) {
            if (next() % 3 == 0) s += pieces[next() % std::size(pieces)];
            else s += static_cast<char>(next() >> 24);
        }
        CHECK_MSG(v.decode(v.encode(s, false, false)) == s, "round trip " + std::to_string(i));
        std::vector<int32_t> ids;
        for (int j = 0; j < 20; ++j) ids.push_back(static_cast<int32_t>(next()) % 400);
        (void)v.decode(ids, next() % 2);
    }
}

// Pseudo-random vocabularies of both kinds: building either succeeds or fails with a message, and whatever builds
// encodes and decodes random text without harm (the sanitizer build checks the "without harm").
void test_hostile_specs() {
    uint32_t seed = 11;
    const auto next = [&] { return seed = seed * 1664525u + 1013904223u; };
    const std::string alphabet[] = {"a", "b", " ", "\xC4\xA0", "\xE2\x96\x81", "<", "|", ">", "<0x41>", "\xFF", ""};
    // Token pieces: no raw space (it separates merge sides) and no empty text.
    const std::string pieces[] = {"a", "b", "\xC4\xA0", "\xE2\x96\x81", "<", "|", ">", "<0x41>", "\xFF", "\n"};
    const auto random_text = [&](int max_parts) {
        std::string t;
        const int parts = next() % max_parts;
        for (int i = 0; i < parts; ++i) t += alphabet[next() % std::size(alphabet)];
        return t;
    };
    int built = 0;
    for (int round = 0; round < 400; ++round) {
        VocabSpec spec;
        spec.model = next() % 2 ? "gpt2" : "llama";
        spec.pre = next() % 2 ? "qwen2" : "llama-bpe";
        // Every alphabet piece is a token; then words of two or three pieces, each with the merges that build it.
        // Now and then a duplicate token or a merge of two unrelated tokens makes the build fail on purpose.
        const auto add_token = [&](const std::string& t) {
            if (next() % 512 == 0 || std::find(spec.tokens.begin(), spec.tokens.end(), t) == spec.tokens.end()) {
                spec.tokens.push_back(t);
            }
        };
        for (const std::string& piece : pieces) add_token(piece);
        for (int i = 0; i < 12; ++i) {
            const std::string a = pieces[next() % std::size(pieces)];
            const std::string b = pieces[next() % std::size(pieces)];
            add_token(a + b);
            spec.merges.push_back(a + " " + b);
            if (next() % 2) {
                const std::string c = pieces[next() % std::size(pieces)];
                add_token(a + b + c);
                spec.merges.push_back(a + b + " " + c);
            }
        }
        const int n = static_cast<int>(spec.tokens.size());
        if (next() % 16 == 0) spec.merges.push_back(spec.tokens[next() % n] + " " + spec.tokens[next() % n]);
        spec.has_merges = next() % 16 != 0;
        if (next() % 2) {
            const bool bad_types = next() % 8 == 0;
            for (int i = 0; i < n; ++i) {
                spec.token_types.push_back(bad_types ? static_cast<int32_t>(next() % 9) - 1 : 1 + next() % 6);
            }
        }
        if (next() % 2) {
            for (int i = 0; i < n; ++i) spec.scores.push_back(static_cast<float>(next() % 100) - 50.0f);
        }
        const auto random_id = [&] { return next() % 16 == 0 ? static_cast<int64_t>(next() % 60) - 5 : next() % n; };
        if (next() % 2) spec.bos_id = random_id();
        if (next() % 2) spec.eos_id = random_id();
        if (next() % 2) spec.fim_pre_id = random_id();
        if (next() % 2) spec.add_bos = next() % 2;
        Vocab v;
        const Status st = Vocab::build(spec, &v);
        if (!st) {
            CHECK(!st.message().empty());
            continue;
        }
        ++built;
        for (int k = 0; k < 5; ++k) {
            const std::string text = random_text(12);
            const std::vector<int32_t> ids = v.encode(text, next() % 2, next() % 2);
            bool in_range = true;
            for (int32_t id : ids) in_range = in_range && id >= 0 && id < v.n_tokens();
            CHECK(in_range);
            (void)v.decode(ids, next() % 2);
        }
    }
    std::printf("hostile specs: %d of 400 built\n", built);
    CHECK(built > 100);  // the generator must reach the encoder, not only the validator
}

void test_speed() {
    const Vocab v = build_or_fail(qwen_like_spec());
    std::string text;
    while (text.size() < 12000) {
        text += "    for (int i = 0; i < n; ++i) {\n        total += values[i] * 0.5; // the sum\n    }\n";
    }
    const auto t0 = std::chrono::steady_clock::now();
    const std::vector<int32_t> ids = v.encode(text, false, false);
    const double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
    std::printf("bpe: %zu bytes -> %zu tokens in %.2f ms\n", text.size(), ids.size(), ms);
    CHECK_MSG(ms < 100.0, std::to_string(ms) + " ms");
    // One huge word (a run of letters, then of spaces): the merge queue keeps this near-linear.
    for (char c : {'a', ' '}) {
        const std::string run(50000, c);
        const auto t1 = std::chrono::steady_clock::now();
        const std::vector<int32_t> run_ids = v.encode(run, false, false);
        const double run_ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t1).count();
        CHECK(v.decode(run_ids) == run);
        CHECK_MSG(run_ms < 500.0, std::to_string(run_ms) + " ms");
    }
}

}  // namespace

int main() {
    test_merges();
    test_other_pre_tokenizers();
    test_round_trip_and_bytes();
    test_special_tokens();
    test_fim_and_eog_qwen();
    test_fim_other_families();
    test_validation();
    test_gguf_round_trip();
    test_hostile_inputs();
    test_hostile_specs();
    test_speed();
    return check::summary("test-tokenizer-bpe");
}
