// Fuzz target: arbitrary bytes as text, tokenized by two real vocabularies loaded once at start-up —
//   byte-level BPE: test/fixtures/models/tiny-coder-draft.gguf (qwen2 pre-tokenizer), or $SPECQD_FUZZ_BPE_MODEL;
//   SentencePiece:  ../shared/models/stories260K.gguf (SPECQD_SHARED_DIR), or $SPECQD_FUZZ_SPM_MODEL.
//
// Beyond "no crash, leak or out-of-bounds access", it checks what the tokenizers promise (tokenizer/vocab.h):
//   - every id encode() returns names a token, and add_bos puts BOS first;
//   - byte-level BPE spells every byte (the vocabulary has a token for each of the 256), so decode(encode(x)) == x
//     for any bytes x, valid UTF-8 or not; with special-token parsing, control tokens matched in the text decode
//     back to their text when rendered;
//   - SentencePiece with byte fallback: decode(encode(x)) is x behind the space it prefixes — unless x holds U+2581,
//     the character SentencePiece writes spaces as, which decodes to a space (by design, as in llama.cpp);
//   - decode() of any ids, in range or not, returns without touching memory it should not.
// Built like fuzz-gguf.cpp (libFuzzer, or the standalone driver for CTest).
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <string>
#include <string_view>
#include <vector>

#include "check.h"
#include "fuzz-check.h"
#include "gguf/gguf-reader.h"
#include "tokenizer/unicode.h"
#include "tokenizer/vocab.h"

using namespace specqd;

namespace {

struct Vocabularies {
    Vocab bpe;
    Vocab spm;
    bool bpe_spells_every_byte = false;
    bool spm_spells_every_byte = false;
};

std::string model_path(const char* env, const std::string& fallback) {
    const char* value = std::getenv(env);
    return value && *value ? value : fallback;
}

// Every byte has a token of its own: GPT-2's alphabet character (BPE) or <0xXX> (SentencePiece byte fallback).
bool spells_every_byte(const Vocab& vocab) {
    for (int b = 0; b < 256; ++b) {
        std::string text;
        if (vocab.kind() == TokenizerKind::BPE) {
            utf8_append(gpt2_byte_to_codepoint(static_cast<uint8_t>(b)), &text);
        } else {
            char name[8];
            std::snprintf(name, sizeof name, "<0x%02X>", b);
            text = name;
        }
        if (vocab.find_token(text) < 0) return false;
    }
    return true;
}

Vocab load_vocab(const std::string& path, TokenizerKind kind) {
    GgufFile file;
    Vocab vocab;
    Status st = file.open(path);
    if (st) st = Vocab::load(file, &vocab);
    FUZZ_CHECK(st.is_ok(), "loading the vocabulary of " + path + ": " + st.message() +
                               " (set SPECQD_FUZZ_BPE_MODEL / SPECQD_FUZZ_SPM_MODEL)");
    FUZZ_CHECK(vocab.kind() == kind, path + " has the wrong kind of tokenizer");
    return vocab;
}

const Vocabularies& vocabularies() {
    static const Vocabularies v = [] {
        Vocabularies r;
        r.bpe = load_vocab(
            model_path("SPECQD_FUZZ_BPE_MODEL", check::repo_path("test/fixtures/models/tiny-coder-draft.gguf")),
            TokenizerKind::BPE);
        r.spm = load_vocab(model_path("SPECQD_FUZZ_SPM_MODEL", check::shared_path("models/stories260K.gguf")),
                           TokenizerKind::SPM);
        r.bpe_spells_every_byte = spells_every_byte(r.bpe);
        r.spm_spells_every_byte = spells_every_byte(r.spm);
        return r;
    }();
    return v;
}

std::string shown(std::string_view text) {
    std::string out;
    for (unsigned char c : text.substr(0, 200)) {
        char buf[8];
        std::snprintf(buf, sizeof buf, c >= 0x20 && c < 0x7F && c != '\\' ? "%c" : "\\x%02X", c);
        out += buf;
    }
    return out;
}

void check_ids(const Vocab& vocab, const std::vector<int32_t>& ids, std::string_view text) {
    for (int32_t id : ids) {
        FUZZ_CHECK(id >= 0 && id < vocab.n_tokens(), "id " + std::to_string(id) + " for '" + shown(text) + "'");
    }
}

void fuzz_bpe(const Vocab& vocab, bool spells_every_byte, std::string_view text) {
    const std::vector<int32_t> plain = vocab.encode(text, false, false);
    check_ids(vocab, plain, text);
    if (spells_every_byte) {
        FUZZ_CHECK(vocab.decode(plain) == text,
                   "BPE round trip of '" + shown(text) + "' gave '" + shown(vocab.decode(plain)) + "'");
    }
    const std::vector<int32_t> special = vocab.encode(text, true, true);
    check_ids(vocab, special, text);
    if (vocab.bos_id() >= 0) FUZZ_CHECK(!special.empty() && special[0] == vocab.bos_id(), "BOS first");
    if (spells_every_byte) {
        const std::span<const int32_t> rest(special.data() + (vocab.bos_id() >= 0 ? 1 : 0),
                                            special.size() - (vocab.bos_id() >= 0 ? 1 : 0));
        FUZZ_CHECK(vocab.decode(rest, true) == text, "BPE round trip with special tokens of '" + shown(text) + "'");
    }
}

void fuzz_spm(const Vocab& vocab, bool spells_every_byte, std::string_view text) {
    const std::vector<int32_t> plain = vocab.encode(text, false, false);
    check_ids(vocab, plain, text);
    constexpr std::string_view kSpaceMarker = "\xE2\x96\x81";
    if (spells_every_byte && text.find(kSpaceMarker) == std::string_view::npos) {
        const std::string expected = (vocab.add_space_prefix() && !text.empty() ? " " : "") + std::string(text);
        FUZZ_CHECK(vocab.decode(plain) == expected,
                   "SentencePiece round trip of '" + shown(text) + "' gave '" + shown(vocab.decode(plain)) + "'");
    }
    const std::vector<int32_t> special = vocab.encode(text, true, true);
    check_ids(vocab, special, text);
    if (vocab.bos_id() >= 0) FUZZ_CHECK(!special.empty() && special[0] == vocab.bos_id(), "BOS first");
    (void)vocab.decode(special, true);
}

// The bytes read as token ids, most of them out of range: decode must skip those and render the rest.
void fuzz_decode(const Vocab& vocab, const uint8_t* data, size_t size) {
    std::vector<int32_t> ids(size / sizeof(int32_t));
    if (!ids.empty()) std::memcpy(ids.data(), data, ids.size() * sizeof(int32_t));
    for (int32_t& id : ids) {
        if (id >= 0) id %= vocab.n_tokens() + 16;  // mostly in range, some just past the end
    }
    (void)vocab.decode(ids, false);
    (void)vocab.decode(ids, true);
    for (int32_t id : ids) (void)vocab.token_to_piece(id, true);
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
    (void)vocabularies();  // loads both now: a missing model fails at start-up, not at the first input
    return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    const Vocabularies& v = vocabularies();
    const std::string_view text(reinterpret_cast<const char*>(data), size);
    fuzz_bpe(v.bpe, v.bpe_spells_every_byte, text);
    fuzz_spm(v.spm, v.spm_spells_every_byte, text);
    fuzz_decode(v.bpe, data, size);
    fuzz_decode(v.spm, data, size);
    return 0;
}
