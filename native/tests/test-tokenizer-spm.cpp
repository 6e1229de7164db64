// SentencePiece tokenizer on the shared stories260K model (Karpathy's tok512 vocabulary): the ids llama.cpp gives for
// the documented prompt, the decode of the documented greedy continuation, round trips through byte fallback, special
// tokens, FIM detection in SPM vocabularies (CodeLlama's ▁<PRE>), speed, and concurrent use.
#include <chrono>
#include <cstdio>
#include <string>
#include <thread>
#include <vector>

#include "check.h"
#include "gguf/gguf-reader.h"
#include "tokenizer/vocab.h"

using namespace specqd;

namespace {

std::string ids_to_string(const std::vector<int32_t>& ids) {
    std::string s;
    for (int32_t id : ids) s += (s.empty() ? "" : ",") + std::to_string(id);
    return s;
}

bool load_stories(Vocab* vocab) {
    GgufFile file;
    Status st = file.open(check::shared_path("models/stories260K.gguf"));
    CHECK_MSG(st.is_ok(), st.message());
    if (!st) return false;
    st = Vocab::load(file, vocab);
    CHECK_MSG(st.is_ok(), st.message());
    return st.is_ok();
}

void test_metadata(const Vocab& v) {
    CHECK(v.kind() == TokenizerKind::SPM);
    CHECK_EQ(v.n_tokens(), 512);
    CHECK_EQ(v.bos_id(), 1);
    CHECK_EQ(v.eos_id(), 2);
    CHECK_EQ(v.unk_id(), 0);
    CHECK_EQ(v.sep_id(), -1);  // stored as 4294967295: "none"
    CHECK_EQ(v.pad_id(), -1);
    CHECK(v.add_bos());
    CHECK(!v.add_eos());
    CHECK(v.add_space_prefix());
    CHECK(v.is_eog(2));
    CHECK(!v.is_eog(1));
    CHECK(v.eog_ids() == std::vector<int32_t>{2});
    CHECK(!v.fim_supported());
    CHECK_EQ(v.fim_pre_id(), -1);
    CHECK(v.token_type(0) == TokenType::UNKNOWN);
    CHECK(v.token_type(1) == TokenType::CONTROL);
    CHECK(v.token_type(3) == TokenType::BYTE);
    CHECK(v.token_type(300) == TokenType::NORMAL);
    CHECK(v.token_type(-1) == TokenType::UNDEFINED);
    CHECK(v.token_text(403) == "\xE2\x96\x81Once");
    CHECK(v.token_text(9999).empty());
    CHECK_EQ(v.find_token("<0x0A>"), 13);
    CHECK_EQ(v.find_token("\xE2\x96\x81the"), 265);
    CHECK_EQ(v.find_token("no such token"), -1);
    CHECK_NEAR(v.token_score(261), -2.0, 0.0);
}

void test_documented_prompt_and_output(const Vocab& v) {
    // llama.cpp tokenizes BOS + "Once upon a time" as 1, 403, 407, 261, 378 (models/README.md).
    const std::vector<int32_t> prompt = v.encode("Once upon a time", /*add_bos=*/true, /*parse_special=*/false);
    CHECK_MSG((prompt == std::vector<int32_t>{1, 403, 407, 261, 378}), ids_to_string(prompt));
    CHECK(v.encode("Once upon a time", false, false) == std::vector<int32_t>(prompt.begin() + 1, prompt.end()));

    // The documented greedy continuation. Its pieces are ",", "▁there", "▁was", "▁a", "▁little", "▁g", "ir", "l",
    // "▁named", "▁Lily", ".", "▁She", "▁lo", "ved", "▁to", "▁play": '▁' becomes a space and nothing is stripped.
    const std::vector<int32_t> greedy = {432, 383, 286, 261, 376, 298, 315, 421,
                                         395, 317, 426, 338, 401, 396, 267, 337};
    const std::string text = v.decode(greedy);
    CHECK_MSG(text == ", there was a little girl named Lily. She loved to play", text);
    CHECK(v.token_to_piece(298) == " g");
    CHECK(v.token_to_piece(315) == "ir");
    // BOS and EOS are control tokens: they render as nothing unless asked for.
    std::vector<int32_t> with_bos = {1, 403, 2};
    CHECK(v.decode(with_bos) == " Once");
    CHECK(v.decode(with_bos, /*render_special=*/true) == "<s> Once</s>");
    CHECK(v.token_to_piece(0).empty());  // <unk>
    CHECK(v.token_to_piece(0, true) == "<unk>");
    CHECK(v.token_to_piece(13) == "\n");  // <0x0A>
    CHECK(v.token_to_piece(-5).empty());
    CHECK(v.token_to_piece(512).empty());
    const std::vector<int32_t> bad_ids = {-1, 403, 100000};
    CHECK(v.decode(bad_ids) == " Once");
}

void test_round_trips(const Vocab& v) {
    // SentencePiece puts one space in front of the text (add_space_prefix); decode gives exactly that back.
    const std::string samples[] = {
        "Hello world",
        "int main(int argc, char** argv) {\n\treturn argc > 1 ? 0 : -1;\n}\n",
        "def f(x):\r\n    return x ** 2  # square\r\n",
        "  leading and   inner   spaces and trailing  ",
        "\t\ttabs\tand\nnewlines\n\n\n",
        "digits 0123456789 3.14159 1e-9 0xFF",
        "emoji \xF0\x9F\x98\x80\xF0\x9F\x91\x8D\xF0\x9F\x8F\xBD and CJK \xE6\x97\xA5\xE6\x9C\xAC\xE8\xAA\x9E "
        "\xED\x95\x9C\xEA\xB5\xAD\xEC\x96\xB4",
        "accents: caf\xC3\xA9 na\xC3\xAFve \xC3\x85ngstr\xC3\xB6m e\xCC\x81",
        "symbols ~!@#$%^&*()_+`-=[]{}|;':\",./<>?\\",
        "",
        " ",
    };
    for (const std::string& s : samples) {
        const std::vector<int32_t> ids = v.encode(s, false, false);
        const std::string back = v.decode(ids);
        const std::string want = s.empty() ? "" : " " + s;
        CHECK_MSG(back == want, "round trip of '" + s + "' gave '" + back + "'");
    }
    CHECK(v.encode("", true, false) == std::vector<int32_t>{1});
    CHECK(v.encode("", false, false).empty());
    // Characters the vocabulary lacks are spelled with byte tokens: "😀" is F0 9F 98 80 -> <0xF0>... = ids 3 + byte.
    const std::vector<int32_t> emoji = v.encode("\xF0\x9F\x98\x80", false, false);
    CHECK_MSG((emoji == std::vector<int32_t>{410, 3 + 0xF0, 3 + 0x9F, 3 + 0x98, 3 + 0x80}), ids_to_string(emoji));
    // Each byte token decodes to its byte, so a prefix of the ids can end inside a character.
    CHECK(v.decode(std::vector<int32_t>{3 + 0xF0, 3 + 0x9F}) == "\xF0\x9F");
    // Invalid UTF-8 in the input survives the round trip through byte tokens.
    const std::string invalid = "a\xFF\xFE z\xC3";
    CHECK(v.decode(v.encode(invalid, false, false)) == " " + invalid);
}

void test_special_tokens(const Vocab& v) {
    // Control tokens written in the text are found only when parse_special is set. After a special token the next
    // text gets the space prefix again, as in llama.cpp.
    const std::vector<int32_t> parsed = v.encode("<s>hi</s>", false, /*parse_special=*/true);
    CHECK_MSG((parsed == std::vector<int32_t>{1, 270, 417, 2}), ids_to_string(parsed));
    const std::vector<int32_t> plain = v.encode("<s>hi</s>", false, /*parse_special=*/false);
    bool has_control = false;
    for (int32_t id : plain) has_control = has_control || id == 1 || id == 2;
    CHECK(!has_control);
    CHECK(v.decode(plain) == " <s>hi</s>");
    // <unk> is an UNKNOWN-type token: also matched only with parse_special.
    CHECK(v.encode("<unk>", false, true) == std::vector<int32_t>{0});
}

// A tiny SPM vocabulary in CodeLlama's style: its FIM tokens carry the space marker ("▁<PRE>") and <EOT> ends
// generation.
void test_codellama_style_fim() {
    VocabSpec spec;
    spec.model = "llama";
    spec.tokens = {"<unk>",
                   "<s>",
                   "</s>",
                   "\xE2\x96\x81<PRE>",
                   "\xE2\x96\x81<SUF>",
                   "\xE2\x96\x81<MID>",
                   "\xE2\x96\x81<EOT>",
                   "\xE2\x96\x81",
                   "a",
                   "\xE2\x96\x81" "a"};
    spec.scores = {0, 0, 0, 0, 0, 0, 0, -1, -2, -0.5f};
    spec.token_types = {2, 3, 3, 1, 1, 1, 1, 1, 1, 1};  // the FIM tokens as NORMAL: detection makes them CONTROL
    Vocab v;
    const Status st = Vocab::build(spec, &v);
    CHECK_MSG(st.is_ok(), st.message());
    if (!st) return;
    CHECK_EQ(v.fim_pre_id(), 3);
    CHECK_EQ(v.fim_suf_id(), 4);
    CHECK_EQ(v.fim_mid_id(), 5);
    CHECK(v.fim_supported());
    CHECK_EQ(v.eot_id(), 6);
    CHECK(v.is_eog(6));
    CHECK(v.is_eog(2));
    CHECK(v.token_type(3) == TokenType::CONTROL);
    CHECK(v.token_to_piece(3).empty());
    // "a a" -> "▁a▁a": the highest-scoring pair merges first (▁a, score -0.5).
    CHECK(v.encode("a a", false, false) == (std::vector<int32_t>{9, 9}));
    // No byte tokens: a character the vocabulary lacks becomes <unk>, one per byte.
    CHECK(v.encode("b", false, false) == (std::vector<int32_t>{7, 0}));
}

void test_speed(const Vocab& v) {
    // A prompt of about 4,000 tokens must encode in a few milliseconds; the bound is loose for a shared machine
    // but catches quadratic behaviour.
    std::string text;
    while (text.size() < 12000) text += "Lily and Ben went to the park. They saw a big red ball and played all day!\n";
    const auto t0 = std::chrono::steady_clock::now();
    const std::vector<int32_t> ids = v.encode(text, true, false);
    const double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
    std::printf("spm: %zu bytes -> %zu tokens in %.2f ms\n", text.size(), ids.size(), ms);
    CHECK(ids.size() > 2000);
    CHECK_MSG(ms < 100.0, std::to_string(ms) + " ms");
    // A pathological input: one long run of a single character.
    const std::string run(50000, 'a');
    const auto t1 = std::chrono::steady_clock::now();
    const std::vector<int32_t> run_ids = v.encode(run, false, false);
    const double run_ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t1).count();
    CHECK(v.decode(run_ids) == " " + run);
    CHECK_MSG(run_ms < 500.0, std::to_string(run_ms) + " ms");
}

void test_concurrent_use(const Vocab& v) {
    const std::string text = "Once upon a time, there was a little girl named Lily. \xF0\x9F\x98\x80\n";
    const std::vector<int32_t> expected = v.encode(text, true, false);
    std::vector<int> ok(4, 0);
    std::vector<std::thread> threads;
    for (int t = 0; t < 4; ++t) {
        threads.emplace_back([&, t] {
            bool same = true;
            for (int i = 0; i < 200; ++i) same = same && v.encode(text, true, false) == expected;
            ok[t] = same;
        });
    }
    for (auto& th : threads) th.join();
    CHECK(ok == std::vector<int>(4, 1));
}

}  // namespace

int main() {
    Vocab v;
    if (load_stories(&v)) {
        test_metadata(v);
        test_documented_prompt_and_output(v);
        test_round_trips(v);
        test_special_tokens(v);
        test_speed(v);
        test_concurrent_use(v);
    }
    test_codellama_style_fim();
    return check::summary("test-tokenizer-spm");
}
