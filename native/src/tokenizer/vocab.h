// Vocab: a model's tokenizer, built from the vocabulary stored in its own GGUF file.
//
// Two tokenizer kinds, as llama.cpp implements them (same ids for the same text):
//   - SPM  (`tokenizer.ggml.model = llama`): SentencePiece. Spaces become U+2581 '▁', a space is put in front of
//     the text (add_space_prefix), adjacent symbols are merged highest score first, and bytes with no token of their
//     own fall back to the `<0xXX>` byte tokens (token_type 6).
//   - BPE  (`tokenizer.ggml.model = gpt2`): byte-level BPE. The text is split into words by the pre-tokenizer of the
//     model family (`tokenizer.ggml.pre`, see pre-tokenizer.h), each word's bytes are written in GPT-2's byte
//     alphabet, and merges are applied lowest rank (earliest in `tokenizer.ggml.merges`) first.
//
// Special tokens: control (token_type 3) and unknown (2) tokens are recognised in the text only when encode() is
// asked to parse_special; user-defined tokens (4) are always recognised as whole tokens, as llama.cpp and
// Hugging Face tokenizers do. Matching is leftmost, then longest.
//
// Ids and units: token ids are int32_t in [0, n_tokens()); an accessor for a token the vocabulary lacks returns -1.
// Text is UTF-8 in std::string / std::string_view; decode() returns the exact bytes the tokens stand for, which may
// end inside a multi-byte character (a byte token can be half of an emoji), so callers that stream text must hold
// back an incomplete trailing sequence themselves.
//
// Ownership and threads: load()/build() fill a Vocab that owns copies of everything it needs (it does not keep the
// GgufFile). A Vocab is immutable after that and every const method may run concurrently from any number of
// threads; encode() keeps its work buffers in local variables.
//
// Errors: load()/build() validate the metadata and fail with a Status naming the key (wrong types, length
// mismatches, ids out of range, merges naming unknown tokens, duplicate token texts). Nothing in this class throws,
// aborts or reads out of bounds on hostile metadata or hostile text.
#pragma once

#include <array>
#include <cstdint>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "base/status.h"
#include "tokenizer/pre-tokenizer.h"

namespace specqd {

class GgufFile;

enum class TokenizerKind { SPM, BPE };

// Values of `tokenizer.ggml.token_type`.
enum class TokenType : int32_t {
    UNDEFINED = 0,
    NORMAL = 1,
    UNKNOWN = 2,
    CONTROL = 3,
    USER_DEFINED = 4,
    UNUSED = 5,
    BYTE = 6,
};

// The tokenizer metadata of a GGUF file, before validation. Vocab::load() reads one from a file; tests and tools can
// fill one by hand and call Vocab::build(). A std::nullopt field is a key that is absent. Special ids keep the raw
// metadata value: -1 and 0xFFFFFFFF mean "no such token" (converters write them for absent tokens).
struct VocabSpec {
    std::string model;                 // tokenizer.ggml.model: "llama" or "gpt2"
    std::string pre;                   // tokenizer.ggml.pre; empty when absent
    std::vector<std::string> tokens;   // tokenizer.ggml.tokens; index = token id
    std::vector<float> scores;         // tokenizer.ggml.scores; empty when absent, else one per token
    std::vector<int32_t> token_types;  // tokenizer.ggml.token_type; empty when absent (all NORMAL), else one per token
    std::vector<std::string> merges;   // tokenizer.ggml.merges: "left right", rank = index; required for gpt2
    bool has_merges = false;           // the merges key exists (an empty list is still a list)

    std::optional<int64_t> bos_id, eos_id, eot_id, eom_id, unk_id, sep_id, pad_id;
    std::optional<int64_t> fim_pre_id, fim_suf_id, fim_mid_id, fim_pad_id, fim_rep_id, fim_sep_id;
    std::optional<bool> add_bos, add_eos, add_space_prefix;
};

// Reads the tokenizer keys of a GGUF file into a VocabSpec, checking value types and array element types.
Status read_vocab_spec(const GgufFile& file, VocabSpec* out);

class Vocab {
public:
    // Builds the tokenizer of a GGUF file: read_vocab_spec() then build().
    static Status load(const GgufFile& file, Vocab* out);
    // Validates a spec and builds the tokenizer from it. On failure *out is left unchanged.
    static Status build(const VocabSpec& spec, Vocab* out);

    TokenizerKind kind() const { return kind_; }
    int32_t n_tokens() const { return static_cast<int32_t>(tokens_.size()); }

    // BPE only: the pre-tokenizer in use, the name the file gave, and whether that name was unknown (or missing) so
    // GPT-2's regex stands in for it (llama.cpp does the same and warns that quality may suffer).
    PreTokenizer pre_tokenizer() const { return pre_; }
    const std::string& pre_name() const { return pre_name_; }
    bool pre_tokenizer_fallback() const { return pre_fallback_; }

    // Text -> token ids. add_bos: put the BOS token first (when the vocabulary has one); callers normally pass
    // add_bos() (the model's `add_bos_token`). parse_special: recognise control tokens written in the text
    // (e.g. "<|fim_prefix|>"); pass false for untrusted text such as a user's document. EOS is never appended
    // (add_eos() reports whether the model wants one). An empty (never built) Vocab encodes to nothing.
    std::vector<int32_t> encode(std::string_view text, bool add_bos, bool parse_special) const;

    // Token ids -> the bytes they stand for. Control and unknown tokens render as nothing unless render_special
    // (then as their text); unused tokens and ids out of range render as nothing. No space is stripped.
    std::string decode(std::span<const int32_t> ids, bool render_special = false) const;
    std::string token_to_piece(int32_t id, bool render_special = false) const;
    // The tokens a text beginning with `text` can start with: those whose bytes begin with `text` or are a non-empty
    // beginning of it; control, unknown and unused tokens never. Ascending ids; none for an empty text. Token healing
    // (engine.h) chooses among them.
    std::vector<int32_t> tokens_beginning(std::string_view text) const;

    // The token's text as stored in the file ("▁the", "Ġthe", "<0x0A>"); empty for an id out of range.
    const std::string& token_text(int32_t id) const;
    // The type after load: tokens found by their text as FIM or end-of-generation markers are CONTROL even when the
    // file says otherwise (as llama.cpp does). UNDEFINED for an id out of range.
    TokenType token_type(int32_t id) const;
    float token_score(int32_t id) const;
    // The id of the token whose stored text is exactly `text`, or -1.
    int32_t find_token(std::string_view text) const;

    int32_t bos_id() const { return bos_id_; }
    int32_t eos_id() const { return eos_id_; }
    int32_t eot_id() const { return eot_id_; }
    int32_t eom_id() const { return eom_id_; }
    int32_t unk_id() const { return unk_id_; }
    int32_t sep_id() const { return sep_id_; }
    int32_t pad_id() const { return pad_id_; }
    bool add_bos() const { return add_bos_; }
    bool add_eos() const { return add_eos_; }
    bool add_space_prefix() const { return add_space_prefix_; }

    // End of generation: EOS, EOT, EOM, the FIM pad/repo/file-separator tokens, and every token whose text is one of
    // the known end markers (<|endoftext|>, <|im_end|>, <|eot_id|>, <EOT>, ...). Sorted ascending.
    bool is_eog(int32_t id) const;
    const std::vector<int32_t>& eog_ids() const { return eog_ids_; }

    // Fill-in-the-middle tokens, from the explicit `tokenizer.ggml.fim_*_token_id` keys or else found by their text
    // (Qwen <|fim_prefix|>, StarCoder <fim_prefix>, <fim-prefix>, DeepSeek <｜fim▁begin｜>, CodeLlama <PRE>/▁<PRE>).
    int32_t fim_pre_id() const { return fim_pre_id_; }
    int32_t fim_suf_id() const { return fim_suf_id_; }
    int32_t fim_mid_id() const { return fim_mid_id_; }
    int32_t fim_pad_id() const { return fim_pad_id_; }
    int32_t fim_rep_id() const { return fim_rep_id_; }
    int32_t fim_sep_id() const { return fim_sep_id_; }
    bool fim_supported() const { return fim_pre_id_ >= 0 && fim_suf_id_ >= 0 && fim_mid_id_ >= 0; }

private:
    // A piece of the input: plain text to tokenize, or a special token matched in it.
    struct Fragment {
        std::string_view text;
        int32_t token = -1;  // >= 0: this fragment is that special token
    };
    struct Merge {
        int32_t rank;
        int32_t result;  // the token the two sides merge into
    };
    // Transparent hashing, so lookups by string_view do not allocate.
    struct TextHash {
        using is_transparent = void;
        size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
    };

    static constexpr std::array<int32_t, 256> filled_byte_table(int32_t value) {
        std::array<int32_t, 256> table{};
        table.fill(value);
        return table;
    }
    struct BpeScratch;  // per-call work buffers of encode_bpe (defined in vocab.cpp)

    // Steps of build(), in order.
    Status init_tokens(const VocabSpec& spec);
    Status init_special_ids(const VocabSpec& spec);
    void detect_special_tokens();
    void init_byte_tokens();
    Status init_merges(const VocabSpec& spec);
    void init_pieces();
    void init_special_matching();

    std::vector<Fragment> split_special(std::string_view text, bool parse_special) const;
    void encode_spm(std::string_view text, std::vector<int32_t>* out) const;
    void encode_bpe(std::string_view text, std::vector<int32_t>* out) const;
    void encode_bpe_word(std::string_view word, BpeScratch* scratch, std::vector<int32_t>* out) const;
    void push_byte_fallback(uint8_t byte, std::vector<int32_t>* out) const;

    TokenizerKind kind_ = TokenizerKind::SPM;
    PreTokenizer pre_ = PreTokenizer::GPT2;
    std::string pre_name_;
    bool pre_fallback_ = false;
    bool ignore_merges_ = false;  // Llama 3: a word that is a whole token is taken as is, before any merge

    std::vector<std::string> tokens_;
    std::vector<std::string> pieces_;  // the bytes each token decodes to (control tokens: their text)
    std::vector<float> scores_;
    std::vector<TokenType> types_;
    std::unordered_map<std::string, int32_t, TextHash, std::equal_to<>> token_index_;

    // SPM: the <0xXX> token of each byte. BPE: the token of each byte's GPT-2 alphabet character. -1 when absent.
    std::array<int32_t, 256> byte_tokens_ = filled_byte_table(-1);
    // BPE merges keyed by (left id << 32 | right id).
    std::unordered_map<uint64_t, Merge> merges_;

    // Special tokens that may be matched in text: first bytes, first two bytes, and their distinct lengths
    // (longest first), so that scanning the text costs one table lookup per byte.
    std::array<bool, 256> special_first_byte_{};
    std::vector<bool> special_first_two_bytes_;  // 65536 entries, index = byte0 << 8 | byte1
    std::vector<size_t> special_lengths_;

    int32_t bos_id_ = -1, eos_id_ = -1, eot_id_ = -1, eom_id_ = -1, unk_id_ = -1, sep_id_ = -1, pad_id_ = -1;
    int32_t fim_pre_id_ = -1, fim_suf_id_ = -1, fim_mid_id_ = -1, fim_pad_id_ = -1, fim_rep_id_ = -1, fim_sep_id_ = -1;
    bool add_bos_ = false, add_eos_ = false, add_space_prefix_ = false;
    std::vector<int32_t> eog_ids_;
};

}  // namespace specqd
