#include "bpe_presets.h"

#include <initializer_list>

#include "pocket/core/error.h"

namespace pocket::tokenizer {

namespace {

// The pre-tokenizer regexes of the model families, as their tokenizer.json files (and llama.cpp)
// define them. llama.cpp rewrites (?i:'s|...) as '[sS]|... because std::regex has no inline
// flags; we keep that spelling so that only ASCII letters fold, as in llama.cpp.
constexpr const char* kGpt2 =
    "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+";
constexpr const char* kLlama3 =
    "(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|"
    "\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";
constexpr const char* kQwen2 =
    "(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|"
    "\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";
// CJK ideographs 4E00-9FA5, 0800-4E00 and Hangul AC00-D7FF, as DeepSeek writes them.
constexpr const char* kDeepseekCjk = "[\\x{4e00}-\\x{9fa5}\\x{800}-\\x{4e00}\\x{ac00}-\\x{d7ff}]+";
constexpr const char* kDeepseekLetters =
    "\\s?[A-Za-z\\x{b5}\\x{c0}-\\x{d6}\\x{d8}-\\x{f6}\\x{f8}-\\x{1ba}\\x{1bc}-\\x{1bf}\\x{1c4}-\\x{"
    "293}\\x{295}-\\x{2af}\\x{370}-\\x{373}\\x{376}\\x{377}\\x{37b}-\\x{37d}\\x{37f}\\x{386}\\x{"
    "388}-\\x{38a}\\x{38c}\\x{38e}-\\x{3a1}\\x{3a3}-\\x{3f5}\\x{3f7}-\\x{481}\\x{48a}-\\x{52f}\\x{"
    "531}-\\x{556}\\x{10a0}-\\x{10c5}\\x{13a0}-\\x{13f5}\\x{13f8}-\\x{13fd}\\x{1c90}-\\x{1cba}\\x{"
    "1cbd}-\\x{1cbf}\\x{1d00}-\\x{1d2b}\\x{1d6b}-\\x{1d77}\\x{1d79}-\\x{1d9a}\\x{1e00}-\\x{1f15}"
    "\\x{1f18}-\\x{1f1d}\\x{1f20}-\\x{1f45}\\x{1f48}-\\x{1f4d}\\x{1f50}-\\x{1f57}\\x{1f59}\\x{1f5b}"
    "\\x{1f5d}\\x{1f5f}-\\x{1f7d}\\x{1f80}-\\x{1fb4}\\x{1fb6}-\\x{1fbc}\\x{1fbe}\\x{1fc2}-\\x{1fc4}"
    "\\x{1fc6}-\\x{1fcc}\\x{1fd0}-\\x{1fd3}\\x{1fd6}-\\x{1fdb}\\x{1fe0}-\\x{1fec}\\x{1ff2}-\\x{"
    "1ff4}\\x{1ff6}-\\x{1ffc}\\x{2102}\\x{2107}\\x{210a}-\\x{2113}\\x{2115}\\x{2119}-\\x{211d}\\x{"
    "2124}\\x{2126}\\x{2128}\\x{212a}-\\x{212d}\\x{212f}-\\x{2134}\\x{2139}\\x{213c}-\\x{213f}\\x{"
    "2145}-\\x{2149}\\x{214e}\\x{2183}\\x{2184}\\x{2c00}-\\x{2c7b}\\x{2c7e}-\\x{2ce4}\\x{2ceb}-\\x{"
    "2cee}\\x{2cf2}\\x{2cf3}\\x{a640}-\\x{a66d}\\x{a680}-\\x{a69b}\\x{a722}-\\x{a76f}\\x{a771}-\\x{"
    "a787}\\x{a78b}-\\x{a78e}\\x{ab70}-\\x{abbf}\\x{fb00}-\\x{fb06}\\x{fb13}-\\x{fb17}\\x{ff21}-"
    "\\x{ff3a}\\x{ff41}-\\x{ff5a}\\x{10400}-\\x{1044f}\\x{104b0}-\\x{104d3}\\x{104d8}-\\x{104fb}"
    "\\x{10c80}-\\x{10cb2}\\x{10cc0}-\\x{10cf2}\\x{118a0}-\\x{118df}\\x{1e900}-\\x{1e943}]+";
constexpr const char* kDeepseekPunct =
    "\\s?[!-/:-~\\x{ff01}-\\x{ff0f}\\x{ff1a}-\\x{ff5e}\\x{2018}-\\x{201f}\\x{3000}-\\x{3002}]+";
constexpr const char* kDeepseek3 =
    "[!\"#$%&'()*+,\\-./"
    ":;<=>?@\\[\\\\\\]^_`{|}~][A-Za-z]+|[^\\r\\n\\p{L}\\p{P}\\p{S}]?[\\p{L}\\p{M}]+|"
    " ?[\\p{P}\\p{S}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";
constexpr const char* kPoro =
    " ?[^(\\s|.,!?\\x{2026}\\x{3002}\\x{ff0c}\\x{3001}\\x{964}\\x{6d4}\\x{60c})]+";

bool is_one_of(std::string_view s, std::initializer_list<std::string_view> names) {
    for (const std::string_view n : names) {
        if (s == n) return true;
    }
    return false;
}

}  // namespace

BpePreset bpe_preset(std::string_view pre, std::string_view origin) {
    BpePreset p;
    if (pre.empty() || pre == "default") {
        p.name = "default";
        p.regexes = {"[\\p{P}\\$\\+<=>\\^~\\|]+", kGpt2, "\\p{N}+", "[0-9][0-9][0-9]"};
    } else if (is_one_of(pre, {"llama3", "llama-v3", "llama-bpe", "falcon3"})) {
        p.name = "llama3";
        p.regexes = {kLlama3};
        p.ignore_merges = true;
        p.add_bos = true;
    } else if (is_one_of(pre, {"dbrx", "smaug-bpe"})) {
        p.name = "llama3";
        p.regexes = {kLlama3};
    } else if (pre == "deepseek-llm") {
        p.name = "deepseek-llm";
        p.regexes = {"[\r\n]", kDeepseekLetters, kDeepseekPunct, "\\s+$", kDeepseekCjk, "\\p{N}+"};
        p.clean_spaces = false;
    } else if (pre == "deepseek-coder") {
        p.name = "deepseek-coder";
        p.regexes = {"[\r\n]", "\\s?\\p{L}+", "\\s?\\p{P}+", kDeepseekCjk, "\\p{N}"};
        p.clean_spaces = false;
    } else if (pre == "deepseek-v3") {
        p.name = "deepseek-v3";
        p.regexes = {"\\p{N}{1,3}", "[\\x{4e00}-\\x{9fa5}\\x{3040}-\\x{309f}\\x{30a0}-\\x{30ff}]+",
                     kDeepseek3};
        p.clean_spaces = false;
    } else if (pre == "falcon") {
        p.name = "falcon";
        p.regexes = {"[\\p{P}\\$\\+<=>\\^~\\|`]+", kGpt2, "[0-9][0-9][0-9]"};
    } else if (is_one_of(pre, {"starcoder", "refact", "codeshell", "exaone", "minerva-7b"})) {
        p.name = "starcoder";
        p.regexes = {"\\p{N}", kGpt2};
    } else if (is_one_of(pre, {"command-r", "smollm"})) {
        p.name = pre == "smollm" ? "smollm" : "command-r";
        p.regexes = {"\\p{N}", kGpt2};
        p.clean_spaces = false;
    } else if (is_one_of(pre, {"gpt-2", "phi-2", "jina-es", "jina-de", "gigachat", "jina-v1-en",
                               "jina-v2-es", "jina-v2-de", "jina-v2-code", "roberta-bpe", "mpt",
                               "olmo", "jais"})) {
        p.name = "gpt-2";
        p.regexes = {kGpt2};
    } else if (is_one_of(pre, {"qwen2", "deepseek-r1-qwen", "megrez"})) {
        p.name = "qwen2";
        p.regexes = {kQwen2};
        p.clean_spaces = false;
    } else if (pre == "stablelm2") {
        p.name = "stablelm2";
        p.regexes = {kQwen2};
    } else if (pre == "chatglm-bpe") {
        p.name = "chatglm-bpe";
        p.regexes = {kLlama3};
        p.no_bos = true;
    } else if (pre == "poro-chat") {
        p.name = "poro-chat";
        p.regexes = {kPoro};
        p.clean_spaces = false;
    } else if (is_one_of(pre, {"bloom", "gpt3-finnish"})) {
        p.name = "bloom";
        p.regexes = {kPoro};
    } else if (pre == "viking") {
        p.name = "viking";
        p.regexes = {kPoro, "\\p{N}"};
        p.clean_spaces = false;
    } else if (pre == "chameleon") {
        p.name = "chameleon";
        p.regexes = {"<sentinel:[0-9]+>",      "(IMGIMG)((A|B|C|D|E|F|G|H|I){1,4})Z",
                     "([\\t\\n]|    |  )",     "\\p{N}",
                     "[\\p{P}!-/:-@\\[-`{-~]", kGpt2};
        p.add_bos = true;
        p.clean_spaces = false;
    } else {
        fail(origin, ": the BPE pre-tokenizer '", pre,
             "' (tokenizer.ggml.pre) is not supported by pocket");
    }
    return p;
}

}  // namespace pocket::tokenizer
