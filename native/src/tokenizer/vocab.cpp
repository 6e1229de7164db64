#include "tokenizer/vocab.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>
#include <queue>

#include "gguf/gguf-reader.h"
#include "tokenizer/unicode.h"

namespace specqd {
namespace {

constexpr std::string_view kSpaceMarker = "\xE2\x96\x81";  // U+2581 '▁': SentencePiece writes spaces as this
const std::string kEmptyString;

// ---------------------------------------------------------------------------------------------------------------
// Reading the metadata

std::string key_of(std::string_view suffix) { return "tokenizer.ggml." + std::string(suffix); }

// A short, printable rendering of a token text for error messages (hostile files may hold anything).
std::string printable(std::string_view text) {
    constexpr size_t kMax = 48;
    std::string out;
    for (size_t i = 0; i < text.size() && i < kMax; ++i) {
        const auto c = static_cast<unsigned char>(text[i]);
        if (c < 0x20 || c == 0x7F) {
            char buf[8];
            std::snprintf(buf, sizeof buf, "\\x%02X", c);
            out += buf;
        } else {
            out += static_cast<char>(c);
        }
    }
    if (text.size() > kMax) out += "...";
    return out;
}

// Finds an array-valued key. Returns ok with *out == nullptr when the key is absent.
Status find_array(const GgufFile& file, const std::string& key, const GgufArray** out) {
    *out = nullptr;
    const GgufValue* v = file.find(key);
    if (!v) return Status::ok();
    if (!v->as_array()) {
        return Status::error("metadata key '" + key + "' must be an array, not " + gguf_value_type_name(v->type));
    }
    *out = v->as_array();
    return Status::ok();
}

Status read_string_array(const GgufFile& file, const std::string& key, std::vector<std::string>* out, bool* present) {
    const GgufArray* a = nullptr;
    SPECQD_TRY(find_array(file, key, &a));
    *present = a != nullptr;
    if (!a) return Status::ok();
    out->clear();
    out->reserve(a->items.size());
    for (size_t i = 0; i < a->items.size(); ++i) {
        const std::string* s = a->items[i].as_string();
        if (!s) {
            return Status::error("metadata key '" + key + "' must be an array of strings (item " +
                                 std::to_string(i) + ")");
        }
        out->push_back(*s);
    }
    return Status::ok();
}

Status read_float_array(const GgufFile& file, const std::string& key, std::vector<float>* out) {
    const GgufArray* a = nullptr;
    SPECQD_TRY(find_array(file, key, &a));
    if (!a) return Status::ok();
    out->clear();
    out->reserve(a->items.size());
    for (size_t i = 0; i < a->items.size(); ++i) {
        double d = 0;
        if (!a->items[i].is_float() || !a->items[i].as_f64(&d)) {
            return Status::error("metadata key '" + key + "' must be an array of floats (item " + std::to_string(i) +
                                 ")");
        }
        out->push_back(static_cast<float>(d));
    }
    return Status::ok();
}

Status read_int32_array(const GgufFile& file, const std::string& key, std::vector<int32_t>* out) {
    const GgufArray* a = nullptr;
    SPECQD_TRY(find_array(file, key, &a));
    if (!a) return Status::ok();
    out->clear();
    out->reserve(a->items.size());
    for (size_t i = 0; i < a->items.size(); ++i) {
        int64_t v = 0;
        if (!a->items[i].is_integer() || !a->items[i].as_i64(&v) || v < INT32_MIN || v > INT32_MAX) {
            return Status::error("metadata key '" + key + "' must be an array of 32-bit integers (item " +
                                 std::to_string(i) + ")");
        }
        out->push_back(static_cast<int32_t>(v));
    }
    return Status::ok();
}

Status read_optional_id(const GgufFile& file, const std::string& key, std::optional<int64_t>* out) {
    const GgufValue* v = file.find(key);
    if (!v) return Status::ok();
    int64_t id = 0;
    if (!v->is_integer() || !v->as_i64(&id)) {
        return Status::error("metadata key '" + key + "' must be an integer token id, not " +
                             gguf_value_type_name(v->type));
    }
    *out = id;
    return Status::ok();
}

Status read_optional_bool(const GgufFile& file, const std::string& key, std::optional<bool>* out) {
    const GgufValue* v = file.find(key);
    if (!v) return Status::ok();
    bool b = false;
    if (!v->as_bool(&b)) {
        return Status::error("metadata key '" + key + "' must be a bool, not " + gguf_value_type_name(v->type));
    }
    *out = b;
    return Status::ok();
}

// ---------------------------------------------------------------------------------------------------------------
// Special tokens found by their text (llama.cpp does the same; converters rarely write the FIM keys).

constexpr std::string_view kFimPreTexts[] = {"<|fim_prefix|>", "<fim-prefix>", "<fim_prefix>",    "<｜fim▁begin｜>",
                                             "<PRE>",          "▁<PRE>",       "<|code_prefix|>"};
constexpr std::string_view kFimSufTexts[] = {"<|fim_suffix|>", "<fim-suffix>", "<fim_suffix>",    "<｜fim▁hole｜>",
                                             "<SUF>",          "▁<SUF>",       "<|code_suffix|>"};
constexpr std::string_view kFimMidTexts[] = {"<|fim_middle|>", "<fim-middle>", "<fim_middle>",    "<｜fim▁end｜>",
                                             "<MID>",          "▁<MID>",       "<|code_middle|>"};
constexpr std::string_view kFimPadTexts[] = {"<|fim_pad|>", "<fim-pad>", "<fim_pad>", "<PAD>"};
constexpr std::string_view kFimRepTexts[] = {"<|fim_repo|>", "<|repo_name|>", "<fim-repo>", "<REPO>", "<reponame>"};
constexpr std::string_view kFimSepTexts[] = {"<|file_sep|>", "<file_sep>"};
constexpr std::string_view kEotTexts[] = {"<|eot_id|>",      "<|im_end|>",      "<|end|>",          "<end_of_turn>",
                                          "<|endoftext|>",   "<|end_of_text|>", "<EOT>",            "_<EOT>",
                                          "▁<EOT>",          "<｜end▁of▁sentence｜>", "<end_of_utterance>"};
constexpr std::string_view kEomTexts[] = {"<|eom_id|>"};
// Tokens whose text marks the end of generation.
constexpr std::string_view kEogTexts[] = {"<|eot_id|>", "<|im_end|>", "<|end|>",         "<end_of_turn>",
                                          "<|endoftext|>", "<|eom_id|>", "<EOT>", "_<EOT>", "▁<EOT>",
                                          "<|end_of_text|>", "<end_of_utterance>"};

template <size_t N>
bool text_in(std::string_view text, const std::string_view (&list)[N]) {
    return std::find(std::begin(list), std::end(list), text) != std::end(list);
}

// Parses "<0xAB>" into 0xAB; false when the text is not in that form.
bool parse_byte_token(std::string_view text, uint8_t* byte) {
    if (text.size() != 6 || text.substr(0, 3) != "<0x" || text[5] != '>') return false;
    int value = 0;
    for (size_t i = 3; i < 5; ++i) {
        const char c = text[i];
        int digit = 0;
        if (c >= '0' && c <= '9') digit = c - '0';
        else if (c >= 'A' && c <= 'F') digit = c - 'A' + 10;
        else if (c >= 'a' && c <= 'f') digit = c - 'a' + 10;
        else return false;
        value = value * 16 + digit;
    }
    *byte = static_cast<uint8_t>(value);
    return true;
}

std::string replace_all(std::string_view text, std::string_view from, std::string_view to) {
    std::string out;
    out.reserve(text.size());
    size_t pos = 0;
    while (true) {
        const size_t hit = text.find(from, pos);
        if (hit == std::string_view::npos) break;
        out.append(text.substr(pos, hit - pos));
        out.append(to);
        pos = hit + from.size();
    }
    out.append(text.substr(pos));
    return out;
}

// The bytes a byte-level BPE token stands for: each code point of its text is one byte of GPT-2's alphabet. A code
// point outside the alphabet (a hand-made vocabulary) is passed through as UTF-8 rather than dropped.
std::string decode_gpt2_text(std::string_view text) {
    std::string out;
    out.reserve(text.size());
    for (size_t pos = 0; pos < text.size();) {
        uint32_t cpt = 0;
        const size_t len = utf8_decode(text, pos, &cpt);
        const int byte = cpt == kInvalidCodePoint ? -1 : gpt2_codepoint_to_byte(cpt);
        if (byte >= 0) out.push_back(static_cast<char>(byte));
        else out.append(text.substr(pos, len));
        pos += len;
    }
    return out;
}

}  // namespace

// -------------------------------------------------------------------------------------------------------------------
// Loading

Status read_vocab_spec(const GgufFile& file, VocabSpec* out) {
    VocabSpec spec;
    {
        const std::string key = key_of("model");
        const GgufValue* v = file.find(key);
        if (!v) return Status::error("missing metadata key '" + key + "': the file has no tokenizer");
        if (!v->as_string()) return Status::error("metadata key '" + key + "' must be a string");
        spec.model = *v->as_string();
    }
    if (const GgufValue* v = file.find(key_of("pre"))) {
        if (!v->as_string()) return Status::error("metadata key '" + key_of("pre") + "' must be a string");
        spec.pre = *v->as_string();
    }
    bool has_tokens = false;
    SPECQD_TRY(read_string_array(file, key_of("tokens"), &spec.tokens, &has_tokens));
    if (!has_tokens) return Status::error("missing metadata key '" + key_of("tokens") + "'");
    SPECQD_TRY(read_float_array(file, key_of("scores"), &spec.scores));
    SPECQD_TRY(read_int32_array(file, key_of("token_type"), &spec.token_types));
    SPECQD_TRY(read_string_array(file, key_of("merges"), &spec.merges, &spec.has_merges));

    const std::pair<const char*, std::optional<int64_t>*> ids[] = {
        {"bos_token_id", &spec.bos_id},         {"eos_token_id", &spec.eos_id},
        {"eot_token_id", &spec.eot_id},         {"eom_token_id", &spec.eom_id},
        {"unknown_token_id", &spec.unk_id},     {"seperator_token_id", &spec.sep_id},  // sic: llama.cpp's spelling
        {"padding_token_id", &spec.pad_id},     {"fim_pre_token_id", &spec.fim_pre_id},
        {"fim_suf_token_id", &spec.fim_suf_id}, {"fim_mid_token_id", &spec.fim_mid_id},
        {"fim_pad_token_id", &spec.fim_pad_id}, {"fim_rep_token_id", &spec.fim_rep_id},
        {"fim_sep_token_id", &spec.fim_sep_id},
    };
    for (const auto& [suffix, field] : ids) SPECQD_TRY(read_optional_id(file, key_of(suffix), field));
    // Older files name the FIM tokens with keys that llama.cpp still reads; the current keys win.
    const std::pair<const char*, std::optional<int64_t>*> deprecated[] = {
        {"prefix_token_id", &spec.fim_pre_id},
        {"suffix_token_id", &spec.fim_suf_id},
        {"middle_token_id", &spec.fim_mid_id},
    };
    for (const auto& [suffix, field] : deprecated) {
        if (!field->has_value()) SPECQD_TRY(read_optional_id(file, key_of(suffix), field));
    }
    SPECQD_TRY(read_optional_bool(file, key_of("add_bos_token"), &spec.add_bos));
    SPECQD_TRY(read_optional_bool(file, key_of("add_eos_token"), &spec.add_eos));
    SPECQD_TRY(read_optional_bool(file, key_of("add_space_prefix"), &spec.add_space_prefix));
    *out = std::move(spec);
    return Status::ok();
}

Status Vocab::load(const GgufFile& file, Vocab* out) {
    VocabSpec spec;
    SPECQD_TRY(read_vocab_spec(file, &spec).with_context("reading the tokenizer"));
    return build(spec, out).with_context("building the tokenizer");
}

Status Vocab::build(const VocabSpec& spec, Vocab* out) {
    Vocab v;
    SPECQD_TRY(v.init_tokens(spec));
    SPECQD_TRY(v.init_special_ids(spec));
    v.detect_special_tokens();
    v.init_byte_tokens();
    if (v.kind_ == TokenizerKind::BPE) SPECQD_TRY(v.init_merges(spec));
    v.init_pieces();
    v.init_special_matching();
    *out = std::move(v);
    return Status::ok();
}

// Kind, pre-tokenizer, tokens, scores, types, and the text -> id index.
Status Vocab::init_tokens(const VocabSpec& spec) {
    if (spec.model == "llama") {
        kind_ = TokenizerKind::SPM;
    } else if (spec.model == "gpt2") {
        kind_ = TokenizerKind::BPE;
        pre_name_ = spec.pre;
        // A missing, "default" or unknown name gets GPT-2's regex; pre_tokenizer_fallback() lets callers warn.
        pre_fallback_ = !pre_tokenizer_from_name(spec.pre, &pre_) || spec.pre.empty() || spec.pre == "default";
        if (pre_fallback_) pre_ = PreTokenizer::GPT2;
        ignore_merges_ = pre_ == PreTokenizer::LLAMA3;
    } else {
        return Status::error(key_of("model") + " '" + printable(spec.model) +
                             "' is not supported (supported: 'llama' = SentencePiece, 'gpt2' = byte-level BPE)");
    }

    const size_t n = spec.tokens.size();
    if (n == 0) return Status::error(key_of("tokens") + " is empty");
    if (n > static_cast<size_t>(std::numeric_limits<int32_t>::max())) {
        return Status::error(key_of("tokens") + " has more tokens than 32-bit ids can name");
    }
    if (!spec.scores.empty() && spec.scores.size() != n) {
        return Status::error(key_of("scores") + " has " + std::to_string(spec.scores.size()) + " entries but " +
                             key_of("tokens") + " has " + std::to_string(n));
    }
    if (!spec.token_types.empty() && spec.token_types.size() != n) {
        return Status::error(key_of("token_type") + " has " + std::to_string(spec.token_types.size()) +
                             " entries but " + key_of("tokens") + " has " + std::to_string(n));
    }
    tokens_ = spec.tokens;
    scores_.assign(n, 0.0f);
    types_.assign(n, TokenType::NORMAL);
    for (size_t i = 0; i < n; ++i) {
        // llama.cpp renames empty tokens the same way; an empty text could never be matched or decoded usefully.
        if (tokens_[i].empty()) tokens_[i] = "[EMPTY_" + std::to_string(i) + "]";
        if (!spec.scores.empty()) {
            // NaN would break the ordering of SentencePiece's merge queue.
            if (std::isnan(spec.scores[i])) {
                return Status::error(key_of("scores") + "[" + std::to_string(i) + "] is NaN");
            }
            scores_[i] = spec.scores[i];
        }
        if (!spec.token_types.empty()) {
            const int32_t t = spec.token_types[i];
            if (t < 0 || t > static_cast<int32_t>(TokenType::BYTE)) {
                return Status::error(key_of("token_type") + "[" + std::to_string(i) + "] = " + std::to_string(t) +
                                     " is not a token type (0..6)");
            }
            types_[i] = static_cast<TokenType>(t);
        }
    }
    token_index_.reserve(n);
    for (size_t i = 0; i < n; ++i) {
        const auto [it, inserted] = token_index_.emplace(tokens_[i], static_cast<int32_t>(i));
        if (!inserted) {
            return Status::error(key_of("tokens") + " holds '" + printable(tokens_[i]) + "' twice (ids " +
                                 std::to_string(it->second) + " and " + std::to_string(i) + ")");
        }
    }
    return Status::ok();
}

// Special ids and add_* flags: llama.cpp's defaults for the kind, then what the keys say. -1 / 0xFFFFFFFF in a key
// means "none" and keeps the default (llama.cpp keeps it too); any other id outside the vocabulary is an error.
Status Vocab::init_special_ids(const VocabSpec& spec) {
    const auto n = static_cast<int64_t>(tokens_.size());
    const bool spm = kind_ == TokenizerKind::SPM;
    add_space_prefix_ = spm;
    add_bos_ = spm || pre_ == PreTokenizer::LLAMA3;
    if (spec.add_bos) add_bos_ = *spec.add_bos;
    if (spec.add_eos) add_eos_ = *spec.add_eos;
    if (spec.add_space_prefix) add_space_prefix_ = *spec.add_space_prefix;

    const auto resolve = [&](const std::optional<int64_t>& value, const char* key, int64_t fallback,
                             int32_t* id) -> Status {
        *id = (fallback >= 0 && fallback < n) ? static_cast<int32_t>(fallback) : -1;
        if (!value || *value == -1 || *value == 0xFFFFFFFFll) return Status::ok();
        if (*value < 0 || *value >= n) {
            return Status::error(key_of(key) + " = " + std::to_string(*value) +
                                 " is out of range: the vocabulary has " + std::to_string(n) + " tokens");
        }
        *id = static_cast<int32_t>(*value);
        return Status::ok();
    };
    SPECQD_TRY(resolve(spec.bos_id, "bos_token_id", spm ? 1 : 11, &bos_id_));
    SPECQD_TRY(resolve(spec.eos_id, "eos_token_id", spm ? 2 : 11, &eos_id_));
    SPECQD_TRY(resolve(spec.eot_id, "eot_token_id", -1, &eot_id_));
    SPECQD_TRY(resolve(spec.eom_id, "eom_token_id", -1, &eom_id_));
    SPECQD_TRY(resolve(spec.unk_id, "unknown_token_id", spm ? 0 : -1, &unk_id_));
    SPECQD_TRY(resolve(spec.sep_id, "seperator_token_id", -1, &sep_id_));
    SPECQD_TRY(resolve(spec.pad_id, "padding_token_id", -1, &pad_id_));
    SPECQD_TRY(resolve(spec.fim_pre_id, "fim_pre_token_id", -1, &fim_pre_id_));
    SPECQD_TRY(resolve(spec.fim_suf_id, "fim_suf_token_id", -1, &fim_suf_id_));
    SPECQD_TRY(resolve(spec.fim_mid_id, "fim_mid_token_id", -1, &fim_mid_id_));
    SPECQD_TRY(resolve(spec.fim_pad_id, "fim_pad_token_id", -1, &fim_pad_id_));
    SPECQD_TRY(resolve(spec.fim_rep_id, "fim_rep_token_id", -1, &fim_rep_id_));
    SPECQD_TRY(resolve(spec.fim_sep_id, "fim_sep_token_id", -1, &fim_sep_id_));
    if (add_bos_ && bos_id_ < 0) {
        return Status::error(key_of("add_bos_token") + " asks for a BOS token but the vocabulary has none");
    }
    return Status::ok();
}

// EOT/EOM and FIM tokens found by their text fill the slots the keys left empty (lowest id wins), then the
// end-of-generation set. Like llama.cpp, every token found this way becomes a control token whatever its stored
// type, so it is never matched in plain text and never printed into a completion.
void Vocab::detect_special_tokens() {
    // Only short tokens starting with '<', '_' or '▁' can be markers; listing them first keeps this cheap on
    // 150k-token vocabularies.
    std::vector<int32_t> candidates;
    for (int32_t id = 0; id < n_tokens(); ++id) {
        const std::string& t = tokens_[id];
        if (t.size() <= 40 && (t[0] == '<' || t[0] == '_' || t.starts_with(kSpaceMarker))) candidates.push_back(id);
    }
    const auto detect = [&](int32_t* slot, const auto& texts) {
        if (*slot >= 0) return;
        for (int32_t id : candidates) {
            if (text_in(tokens_[id], texts)) {
                *slot = id;
                types_[id] = TokenType::CONTROL;
                return;
            }
        }
    };
    detect(&eot_id_, kEotTexts);
    detect(&eom_id_, kEomTexts);
    detect(&fim_pre_id_, kFimPreTexts);
    detect(&fim_suf_id_, kFimSufTexts);
    detect(&fim_mid_id_, kFimMidTexts);
    detect(&fim_pad_id_, kFimPadTexts);
    detect(&fim_rep_id_, kFimRepTexts);
    detect(&fim_sep_id_, kFimSepTexts);

    for (int32_t id : {eos_id_, eot_id_, eom_id_, fim_pad_id_, fim_rep_id_, fim_sep_id_}) {
        if (id >= 0) eog_ids_.push_back(id);
    }
    for (int32_t id : candidates) {
        if (text_in(tokens_[id], kEogTexts)) {
            eog_ids_.push_back(id);
            types_[id] = TokenType::CONTROL;
        }
    }
    std::sort(eog_ids_.begin(), eog_ids_.end());
    eog_ids_.erase(std::unique(eog_ids_.begin(), eog_ids_.end()), eog_ids_.end());
}

// The token each byte falls back to: SPM's <0xXX> tokens (or, like llama.cpp, the one-byte character itself when a
// vocabulary has no byte tokens); BPE's token for the byte's character in GPT-2's alphabet.
void Vocab::init_byte_tokens() {
    for (int b = 0; b < 256; ++b) {
        if (kind_ == TokenizerKind::SPM) {
            char name[8];
            std::snprintf(name, sizeof name, "<0x%02X>", b);
            byte_tokens_[b] = find_token(name);
            if (byte_tokens_[b] < 0) byte_tokens_[b] = find_token(std::string(1, static_cast<char>(b)));
        } else {
            std::string ch;
            utf8_append(gpt2_byte_to_codepoint(static_cast<uint8_t>(b)), &ch);
            byte_tokens_[b] = find_token(ch);
        }
    }
}

// BPE merges: "left right", split at the first space after position 0 (a left side may itself start with a
// space-like character). Both sides and the merged text must be tokens; Hugging Face refuses such files too.
Status Vocab::init_merges(const VocabSpec& spec) {
    if (!spec.has_merges) {
        return Status::error("missing metadata key '" + key_of("merges") + "' (required for gpt2 tokenizers)");
    }
    merges_.reserve(spec.merges.size());
    for (size_t i = 0; i < spec.merges.size(); ++i) {
        const std::string& m = spec.merges[i];
        const std::string where = key_of("merges") + "[" + std::to_string(i) + "] '" + printable(m) + "'";
        const size_t space = m.size() > 1 ? m.find(' ', 1) : std::string::npos;
        if (space == std::string::npos) return Status::error(where + " is not two tokens separated by a space");
        const std::string_view left = std::string_view(m).substr(0, space);
        const std::string_view right = std::string_view(m).substr(space + 1);
        const int32_t left_id = find_token(left);
        const int32_t right_id = find_token(right);
        if (left_id < 0) return Status::error(where + ": '" + printable(left) + "' is not a token");
        if (right_id < 0) return Status::error(where + ": '" + printable(right) + "' is not a token");
        const int32_t result = find_token(std::string(left) + std::string(right));
        if (result < 0) return Status::error(where + ": the merged text is not a token");
        // A repeated pair keeps its first (lowest) rank, as in llama.cpp.
        merges_.emplace((static_cast<uint64_t>(left_id) << 32) | static_cast<uint32_t>(right_id),
                        Merge{static_cast<int32_t>(i), result});
    }
    return Status::ok();
}

// What each token decodes to, computed once so decode() is a concatenation.
void Vocab::init_pieces() {
    pieces_.resize(tokens_.size());
    for (size_t i = 0; i < tokens_.size(); ++i) {
        const std::string& text = tokens_[i];
        std::string& piece = pieces_[i];
        switch (types_[i]) {
            case TokenType::CONTROL:
            case TokenType::UNKNOWN:
            case TokenType::USER_DEFINED:
                piece = text;  // converters store these as plain text in both kinds
                break;
            case TokenType::NORMAL:
                piece = kind_ == TokenizerKind::SPM ? replace_all(text, kSpaceMarker, " ") : decode_gpt2_text(text);
                break;
            case TokenType::BYTE: {
                uint8_t byte = 0;
                if (kind_ == TokenizerKind::SPM && parse_byte_token(text, &byte)) {
                    piece.assign(1, static_cast<char>(byte));
                }
                break;
            }
            case TokenType::UNUSED:
            case TokenType::UNDEFINED:
                break;  // renders as nothing (llama.cpp does the same)
        }
    }
}

// Tables that let split_special() skip, with one lookup per byte, text that cannot start a special token.
void Vocab::init_special_matching() {
    special_first_two_bytes_.assign(65536, false);
    for (size_t i = 0; i < tokens_.size(); ++i) {
        const TokenType t = types_[i];
        if (t != TokenType::CONTROL && t != TokenType::UNKNOWN && t != TokenType::USER_DEFINED) continue;
        const std::string& text = tokens_[i];
        const auto b0 = static_cast<uint8_t>(text[0]);
        special_first_byte_[b0] = true;
        if (text.size() >= 2) special_first_two_bytes_[(b0 << 8) | static_cast<uint8_t>(text[1])] = true;
        special_lengths_.push_back(text.size());
    }
    std::sort(special_lengths_.begin(), special_lengths_.end(), std::greater<>());
    special_lengths_.erase(std::unique(special_lengths_.begin(), special_lengths_.end()), special_lengths_.end());
}

// -------------------------------------------------------------------------------------------------------------------
// Lookups

const std::string& Vocab::token_text(int32_t id) const {
    return (id >= 0 && id < n_tokens()) ? tokens_[id] : kEmptyString;
}

TokenType Vocab::token_type(int32_t id) const {
    return (id >= 0 && id < n_tokens()) ? types_[id] : TokenType::UNDEFINED;
}

float Vocab::token_score(int32_t id) const { return (id >= 0 && id < n_tokens()) ? scores_[id] : 0.0f; }

int32_t Vocab::find_token(std::string_view text) const {
    const auto it = token_index_.find(text);
    return it == token_index_.end() ? -1 : it->second;
}

bool Vocab::is_eog(int32_t id) const { return std::binary_search(eog_ids_.begin(), eog_ids_.end(), id); }

// -------------------------------------------------------------------------------------------------------------------
// Encoding

std::vector<int32_t> Vocab::encode(std::string_view text, bool add_bos, bool parse_special) const {
    std::vector<int32_t> out;
    if (tokens_.empty()) return out;
    out.reserve(text.size() / 3 + 2);
    if (add_bos && bos_id_ >= 0) out.push_back(bos_id_);
    const std::vector<Fragment> fragments = split_special(text, parse_special);
    if (kind_ == TokenizerKind::SPM) {
        // SentencePiece sees a space in front of the text and after every special token, as in training.
        bool after_special = true;
        std::string escaped;
        for (const Fragment& f : fragments) {
            if (f.token >= 0) {
                out.push_back(f.token);
                after_special = true;
                continue;
            }
            escaped.clear();
            if (add_space_prefix_ && after_special) escaped += kSpaceMarker;
            for (char c : f.text) {
                if (c == ' ') escaped += kSpaceMarker;
                else escaped += c;
            }
            encode_spm(escaped, &out);
            after_special = false;
        }
    } else {
        for (const Fragment& f : fragments) {
            if (f.token >= 0) out.push_back(f.token);
            else encode_bpe(f.text, &out);
        }
    }
    return out;
}

// Splits the text at special tokens, leftmost match first and the longest one at a position. Only bytes that can
// start a special token are looked at further, so plain text costs one table lookup per byte.
std::vector<Vocab::Fragment> Vocab::split_special(std::string_view text, bool parse_special) const {
    std::vector<Fragment> fragments;
    size_t plain_start = 0;
    for (size_t pos = 0; pos < text.size();) {
        const auto b0 = static_cast<uint8_t>(text[pos]);
        if (!special_first_byte_[b0]) {
            ++pos;
            continue;
        }
        const bool two_bytes_ok =
            pos + 1 < text.size() && special_first_two_bytes_[(b0 << 8) | static_cast<uint8_t>(text[pos + 1])];
        int32_t match = -1;
        size_t match_len = 0;
        for (size_t len : special_lengths_) {
            if (len > text.size() - pos || (len >= 2 && !two_bytes_ok)) continue;
            const int32_t id = find_token(text.substr(pos, len));
            if (id < 0) continue;
            const TokenType t = types_[id];
            const bool matchable = t == TokenType::USER_DEFINED ||
                                   (parse_special && (t == TokenType::CONTROL || t == TokenType::UNKNOWN));
            if (matchable) {
                match = id;
                match_len = len;
                break;
            }
        }
        if (match < 0) {
            ++pos;
            continue;
        }
        if (pos > plain_start) fragments.push_back({text.substr(plain_start, pos - plain_start), -1});
        fragments.push_back({text.substr(pos, match_len), match});
        pos += match_len;
        plain_start = pos;
    }
    if (plain_start < text.size()) fragments.push_back({text.substr(plain_start), -1});
    return fragments;
}

void Vocab::push_byte_fallback(uint8_t byte, std::vector<int32_t>* out) const {
    if (byte_tokens_[byte] >= 0) out->push_back(byte_tokens_[byte]);
    else if (unk_id_ >= 0) out->push_back(unk_id_);
}

// SentencePiece (llama.cpp's llm_tokenizer_spm): start from one symbol per UTF-8 character and repeatedly merge
// the adjacent pair whose concatenation is the token with the highest score (leftmost on ties). Symbols that end up
// not being tokens are spelled with byte tokens.
void Vocab::encode_spm(std::string_view text, std::vector<int32_t>* out) const {
    struct Symbol {
        int32_t prev;
        int32_t next;
        size_t start;
        size_t len;  // 0 once merged into its left neighbour
    };
    struct Bigram {
        float score;
        int32_t left;
        int32_t right;
        size_t len;  // the pair's length when queued; a different length later means the entry is stale
    };
    const auto lower_priority = [](const Bigram& a, const Bigram& b) {
        return a.score < b.score || (a.score == b.score && a.left > b.left);
    };

    std::vector<Symbol> symbols;
    symbols.reserve(text.size());
    for (size_t pos = 0; pos < text.size();) {
        // One symbol per character. llama.cpp sizes a symbol from its lead byte alone; decoding properly gives the
        // same symbols for valid UTF-8 and keeps a stray byte from swallowing the next character (or a '▁').
        uint32_t cpt = 0;
        const size_t len = utf8_decode(text, pos, &cpt);
        const auto index = static_cast<int32_t>(symbols.size());
        symbols.push_back({index - 1, pos + len < text.size() ? index + 1 : -1, pos, len});
        pos += len;
    }
    if (symbols.empty()) return;

    std::priority_queue<Bigram, std::vector<Bigram>, decltype(lower_priority)> queue(lower_priority);
    const auto try_add = [&](int32_t left, int32_t right) {
        if (left < 0 || right < 0) return;
        const size_t len = symbols[left].len + symbols[right].len;
        const int32_t id = find_token(text.substr(symbols[left].start, len));
        if (id < 0) return;
        queue.push({scores_[id], left, right, len});
    };
    for (int32_t i = 1; i < static_cast<int32_t>(symbols.size()); ++i) try_add(i - 1, i);

    while (!queue.empty()) {
        const Bigram top = queue.top();
        queue.pop();
        Symbol& left = symbols[top.left];
        Symbol& right = symbols[top.right];
        if (left.len == 0 || right.len == 0 || left.len + right.len != top.len) continue;
        left.len += right.len;
        right.len = 0;
        left.next = right.next;
        if (right.next >= 0) symbols[right.next].prev = top.left;
        try_add(left.prev, top.left);
        try_add(top.left, left.next);
    }

    for (int32_t i = 0; i >= 0; i = symbols[i].next) {
        const std::string_view piece = text.substr(symbols[i].start, symbols[i].len);
        const int32_t id = find_token(piece);
        if (id >= 0) {
            out->push_back(id);
        } else {
            for (char c : piece) push_byte_fallback(static_cast<uint8_t>(c), out);
        }
    }
}

// Work buffers reused across the words of one encode() call.
struct Vocab::BpeScratch {
    struct Symbol {
        int32_t id;  // current token; -1 for a byte with no token, -2 once merged into the left neighbour
        int32_t prev;
        int32_t next;
    };
    struct Bigram {
        int32_t rank;
        int32_t left;
        int32_t right;
        int32_t left_id;  // the tokens when queued; anything else later means the entry is stale
        int32_t right_id;
        int32_t result;
    };
    struct LowerPriority {
        bool operator()(const Bigram& a, const Bigram& b) const {
            return a.rank > b.rank || (a.rank == b.rank && a.left > b.left);
        }
    };
    std::vector<Symbol> symbols;
    std::vector<Bigram> heap;
    std::string mapped;
};

void Vocab::encode_bpe(std::string_view text, std::vector<int32_t>* out) const {
    BpeScratch scratch;
    for (std::string_view word : pre_tokenize(pre_, text)) encode_bpe_word(word, &scratch, out);
}

// Byte-level BPE on one word (llama.cpp's llm_tokenizer_bpe): one symbol per byte, then repeatedly merge the
// adjacent pair with the lowest merge rank (leftmost on ties). Symbols carry token ids, so a merge is a hash lookup
// of two ints.
void Vocab::encode_bpe_word(std::string_view word, BpeScratch* s, std::vector<int32_t>* out) const {
    if (word.size() == 1) {
        push_byte_fallback(static_cast<uint8_t>(word[0]), out);
        return;
    }
    if (ignore_merges_) {
        s->mapped.clear();
        for (char c : word) utf8_append(gpt2_byte_to_codepoint(static_cast<uint8_t>(c)), &s->mapped);
        if (const int32_t id = find_token(s->mapped); id >= 0) {
            out->push_back(id);
            return;
        }
    }

    auto& symbols = s->symbols;
    auto& heap = s->heap;
    symbols.clear();
    heap.clear();
    const auto n = static_cast<int32_t>(word.size());
    for (int32_t i = 0; i < n; ++i) {
        symbols.push_back({byte_tokens_[static_cast<uint8_t>(word[i])], i - 1, i + 1 < n ? i + 1 : -1});
    }
    const BpeScratch::LowerPriority lower_priority;
    const auto try_add = [&](int32_t left, int32_t right) {
        if (left < 0 || right < 0) return;
        const int32_t left_id = symbols[left].id;
        const int32_t right_id = symbols[right].id;
        if (left_id < 0 || right_id < 0) return;
        const auto it = merges_.find((static_cast<uint64_t>(left_id) << 32) | static_cast<uint32_t>(right_id));
        if (it == merges_.end()) return;
        heap.push_back({it->second.rank, left, right, left_id, right_id, it->second.result});
        std::push_heap(heap.begin(), heap.end(), lower_priority);
    };
    for (int32_t i = 1; i < n; ++i) try_add(i - 1, i);

    while (!heap.empty()) {
        std::pop_heap(heap.begin(), heap.end(), lower_priority);
        const BpeScratch::Bigram top = heap.back();
        heap.pop_back();
        auto& left = symbols[top.left];
        auto& right = symbols[top.right];
        if (left.id != top.left_id || right.id != top.right_id || left.next != top.right) continue;
        left.id = top.result;
        left.next = right.next;
        right.id = -2;
        if (right.next >= 0) symbols[right.next].prev = top.left;
        try_add(left.prev, top.left);
        try_add(top.left, left.next);
    }

    for (int32_t i = 0; i >= 0; i = symbols[i].next) {
        if (symbols[i].id >= 0) out->push_back(symbols[i].id);
        else if (unk_id_ >= 0) out->push_back(unk_id_);  // a byte the vocabulary cannot spell
    }
}

// -------------------------------------------------------------------------------------------------------------------
// Decoding

std::string Vocab::token_to_piece(int32_t id, bool render_special) const {
    if (id < 0 || id >= n_tokens()) return {};
    const TokenType t = types_[id];
    if (!render_special && (t == TokenType::CONTROL || t == TokenType::UNKNOWN)) return {};
    return pieces_[id];
}

std::string Vocab::decode(std::span<const int32_t> ids, bool render_special) const {
    std::string text;
    for (int32_t id : ids) {
        if (id < 0 || id >= n_tokens()) continue;
        const TokenType t = types_[id];
        if (!render_special && (t == TokenType::CONTROL || t == TokenType::UNKNOWN)) continue;
        text += pieces_[id];
    }
    return text;
}

std::vector<int32_t> Vocab::tokens_beginning(std::string_view text) const {
    std::vector<int32_t> out;
    if (text.empty()) return out;
    for (int32_t id = 0; id < n_tokens(); ++id) {
        const TokenType t = types_[id];
        if (t == TokenType::CONTROL || t == TokenType::UNKNOWN || t == TokenType::UNUSED) continue;
        const std::string_view piece = pieces_[id];
        if (piece.empty()) continue;
        if (piece.size() >= text.size() ? piece.starts_with(text) : text.starts_with(piece)) out.push_back(id);
    }
    return out;
}

}  // namespace specqd
