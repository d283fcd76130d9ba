// The call syntaxes: where a call may start (its opening marker), and what a call body is. See
// tool_call_scan.h for how steps are decided.
#include <nlohmann/json.hpp>

#include "tool_call_scan.h"

namespace pocket::tool_scan {

namespace {

enum class Match { None, Partial, Full };

struct Opener {
    bool drop = false;  // a marker that only structures the text (Command R7B's response tags)
    size_t length = 0;  // bytes of the marker; the body may re-read them
    int variant = 0;    // which of the format's markers
};

constexpr std::string_view kPythonTag = "<|python_tag|>";
constexpr std::string_view kDeepSeekBegin[] = {"<｜tool▁calls▁begin｜>", "<｜tool_calls_begin｜>",
                                               "<｜tool calls begin｜>",
                                               "<｜tool\\_calls\\_begin｜>"};
constexpr std::string_view kCommandDrops[] = {"<|START_RESPONSE|>", "<|END_RESPONSE|>",
                                              "<|START_THINKING|>", "<|END_THINKING|>"};

Match match_literal(std::string_view rest, std::string_view lit) {
    if (rest.substr(0, lit.size()) != lit.substr(0, rest.size())) return Match::None;
    return rest.size() >= lit.size() ? Match::Full : Match::Partial;
}

// Tries markers in order; the first full or partial match wins.
Match match_any(std::string_view rest, std::initializer_list<std::string_view> lits, Opener& op,
                bool drop = false) {
    int variant = 0;
    for (std::string_view lit : lits) {
        Match m = match_literal(rest, lit);
        if (m != Match::None) {
            op = Opener{drop, lit.size(), variant};
            return m;
        }
        ++variant;
    }
    return Match::None;
}

bool is_name_char(char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
           c == '-' || c == '.';
}

// Llama 3 writes a bare JSON object: only `{` + whitespace + "name" or "type" opens a call, so
// ordinary braces in text stay text.
Match match_llama3_object(std::string_view rest, Opener& op) {
    if (rest.empty() || rest[0] != '{') return Match::None;
    size_t i = 1;
    while (i < rest.size() && is_json_ws(rest[i])) ++i;
    Match best = Match::None;
    for (std::string_view key : {"\"name\"", "\"type\""}) {
        Match m = match_literal(rest.substr(i), key);
        if (m == Match::Full) best = Match::Full;
        if (m == Match::Partial && best == Match::None) best = Match::Partial;
    }
    op = Opener{false, 0, 0};
    return best;
}

// Functionary v3.2 addresses every message part with >>>recipient\n; the generation prompt ends
// with ">>>", so at the start of the output the recipient comes bare. "all" is the user: text.
Match match_functionary_v32(std::string_view rest, bool output_start, Opener& op) {
    size_t i = 0;
    if (!output_start || (!rest.empty() && rest[0] == '>')) {
        Match m = match_literal(rest, ">>>");
        if (m != Match::Full) return m;
        i = 3;
    }
    size_t j = i;
    while (j < rest.size() && is_name_char(rest[j])) ++j;
    if (j == rest.size()) return Match::Partial;
    if (j == i || rest[j] != '\n') return Match::None;
    op = Opener{rest.substr(i, j - i) == "all", j + 1, 0};
    return Match::Full;
}

Match match_opener(ToolCallFormat format, std::string_view rest, bool output_start, Opener& op) {
    switch (format) {
        case ToolCallFormat::None:
            return Match::None;
        case ToolCallFormat::Hermes:
            return match_any(rest, {"<tool_call>"}, op);
        case ToolCallFormat::Llama3Json:
            if (Match m = match_llama3_object(rest, op); m != Match::None) return m;
            if (Match m = match_any(rest, {kPythonTag}, op); m != Match::None) {
                op.variant = 1;
                return m;
            }
            return Match::None;
        case ToolCallFormat::MistralNemo:
            return match_any(rest, {"[TOOL_CALLS]"}, op);
        case ToolCallFormat::FunctionaryV31:
            return match_any(rest, {"<function=", kPythonTag}, op);
        case ToolCallFormat::FunctionaryV32:
            return match_functionary_v32(rest, output_start, op);
        case ToolCallFormat::Firefunction: {
            // The body starts at the '[' of the array.
            Match m = match_any(rest, {"functools["}, op);
            op.length = 9;
            return m;
        }
        case ToolCallFormat::CommandR7B: {
            if (Match m = match_any(rest, {"<|START_ACTION|>"}, op); m != Match::None) return m;
            for (std::string_view drop : kCommandDrops) {
                if (Match m = match_any(rest, {drop}, op, true); m != Match::None) return m;
            }
            return Match::None;
        }
        case ToolCallFormat::DeepSeekR1: {
            // The distilled models are unsure of their own marker; accept the variants they write.
            for (std::string_view begin : kDeepSeekBegin) {
                if (Match m = match_any(rest, {begin}, op); m != Match::None) return m;
            }
            return Match::None;
        }
    }
    return Match::None;
}

// ---- call bodies ----

struct Body {
    Res res = Res::Bad;
    size_t length = 0;  // Ok: bytes from the opener's start
    std::vector<ToolCall> calls;
    std::optional<PartialCall> partial;
};

struct Keys {
    std::string_view name;
    std::string_view args;
    std::string_view alt_args;  // also accepted for the arguments ("" for none)
    std::string_view id;        // "" when the format's ids are not kept
    bool stream = true;         // arguments may stream before the object is complete
};

// Partial argument text: trailing whitespace and an unfinished UTF-8 character may still turn
// out different, so they wait.
std::string partial_text(std::string_view text) {
    size_t n = text.size();
    while (n > 0 && is_json_ws(text[n - 1])) --n;
    return std::string(text.substr(0, utf8_complete_prefix(text.substr(0, n))));
}

std::optional<std::string> decode_string(std::string_view json_text) {
    try {
        auto v = nlohmann::json::parse(json_text);
        if (v.is_string()) return v.get<std::string>();
    } catch (const nlohmann::json::exception&) {
    }
    return std::nullopt;
}

// Arguments as JSON text: an object as written; a JSON string holding JSON is unwrapped (some
// models quote their arguments). nlohmann also checks the UTF-8 the scanner let through.
std::optional<std::string> arguments_text(std::string_view raw) {
    if (!raw.empty() && raw[0] == '"') {
        auto inner = decode_string(raw);
        if (!inner || !nlohmann::json::accept(*inner)) return std::nullopt;
        return inner;
    }
    if (!nlohmann::json::accept(raw)) return std::nullopt;
    return std::string(raw);
}

// One member of a call object (key and the span of its value) as the walk goes.
struct CallFields {
    std::optional<std::string> name;
    std::optional<std::string> id;
    size_t args_begin = std::string_view::npos;
    size_t args_end = 0;
};

Res record_member(const Keys& keys, std::string_view key, std::string_view value, CallFields& f,
                  size_t begin) {
    if (key == keys.name) {
        f.name = decode_string(value);
        if (!f.name || f.name->empty()) return Res::Bad;
    } else if (key == keys.args || (!keys.alt_args.empty() && key == keys.alt_args)) {
        f.args_begin = begin;
        f.args_end = begin + value.size();
    } else if (!keys.id.empty() && key == keys.id) {
        f.id = decode_string(value);  // a non-string id is ignored; one is generated instead
    }
    return Res::Ok;
}

// What can stream of an unfinished call object: its arguments object so far, once the name is
// known (models write the name first; when they do not, the call goes out whole at the end).
std::optional<PartialCall> partial_of(const Keys& keys, std::string_view text, const CallFields& f,
                                      size_t value_begin, bool in_args) {
    if (!keys.stream || !f.name) return std::nullopt;
    size_t begin = in_args ? value_begin : f.args_begin;
    if (begin == std::string_view::npos || begin >= text.size() || text[begin] != '{') {
        return std::nullopt;
    }
    size_t end = in_args ? text.size() : f.args_end;
    return PartialCall{*f.name, partial_text(text.substr(begin, end - begin))};
}

// {"name": .., "arguments": {..}, ...} in any member order; other members are ignored.
Res walk_call_object(Cursor& c, const Keys& keys, ToolCall& call,
                     std::optional<PartialCall>& partial) {
    if (c.at_end()) return Res::More;
    if (c.text[c.pos] != '{') return Res::Bad;
    ++c.pos;
    CallFields f;
    for (bool first = true;; first = false) {
        c.skip_ws();
        if (c.at_end()) {
            partial = partial_of(keys, c.text, f, 0, false);
            return Res::More;
        }
        if (c.text[c.pos] == '}' && first) return Res::Bad;  // {} names no function
        size_t key_begin = 0;
        if (c.text[c.pos] != '"') return Res::Bad;
        if (Res r = c.json_value(key_begin); r != Res::Ok) return r;
        auto key = decode_string(c.text.substr(key_begin, c.pos - key_begin));
        if (!key) return Res::Bad;
        c.skip_ws();
        if (Res r = c.literal(":"); r != Res::Ok) return r;
        c.skip_ws();
        size_t value_begin = 0;
        Res r = c.json_value(value_begin);
        bool is_args = *key == keys.args || (!keys.alt_args.empty() && *key == keys.alt_args);
        if (r == Res::More) partial = partial_of(keys, c.text, f, value_begin, is_args);
        if (r != Res::Ok) return r;
        std::string_view value = c.text.substr(value_begin, c.pos - value_begin);
        if (record_member(keys, *key, value, f, value_begin) != Res::Ok) return Res::Bad;
        c.skip_ws();
        if (c.at_end()) {
            partial = partial_of(keys, c.text, f, 0, false);
            return Res::More;
        }
        char sep = c.text[c.pos++];
        if (sep == '}') break;
        if (sep != ',') return Res::Bad;
    }
    if (!f.name || f.args_begin == std::string_view::npos) return Res::Bad;
    auto args = arguments_text(c.text.substr(f.args_begin, f.args_end - f.args_begin));
    if (!args) return Res::Bad;
    call = ToolCall{f.id.value_or(""), *f.name, std::move(*args)};
    return Res::Ok;
}

// [call, call, ...] with at least one call.
Res walk_call_array(Cursor& c, const Keys& keys, Body& body) {
    if (Res r = c.literal("["); r != Res::Ok) return r;
    for (;;) {
        c.skip_ws();
        ToolCall call;
        if (Res r = walk_call_object(c, keys, call, body.partial); r != Res::Ok) return r;
        body.calls.push_back(std::move(call));
        c.skip_ws();
        if (c.at_end()) return Res::More;
        char sep = c.text[c.pos++];
        if (sep == ']') return Res::Ok;
        if (sep != ',') return Res::Bad;
    }
}

// A closing marker. At the very end of the output a missing (or cut off) closer is forgiven:
// models often stop at their end-of-turn token instead.
Res close(Cursor& c, std::string_view closer, bool final) {
    c.skip_ws();
    Res r = c.literal(closer);
    if (r == Res::More && final) {
        c.pos = c.text.size();
        return Res::Ok;
    }
    return r;
}

Body finish(Cursor& c, Res r, Body body) {
    body.res = r;
    body.length = c.pos;
    if (r != Res::More) body.partial.reset();
    return body;
}

Body single_object(Cursor& c, const Keys& keys, std::string_view closer, bool final) {
    Body body;
    c.skip_ws();
    ToolCall call;
    Res r = walk_call_object(c, keys, call, body.partial);
    if (r == Res::Ok) {
        body.calls.push_back(std::move(call));
        if (!closer.empty()) r = close(c, closer, final);
    }
    return finish(c, r, std::move(body));
}

Body object_array(Cursor& c, const Keys& keys, std::string_view closer, bool final) {
    Body body;
    c.skip_ws();
    Res r = walk_call_array(c, keys, body);
    if (r == Res::Ok && !closer.empty()) r = close(c, closer, final);
    return finish(c, r, std::move(body));
}

// A name up to `stop` (not included), made of function-name characters.
Res read_name(Cursor& c, char stop, std::string& name) {
    size_t begin = c.pos;
    while (!c.at_end() && is_name_char(c.text[c.pos])) ++c.pos;
    if (c.at_end()) return Res::More;
    if (c.pos == begin || c.text[c.pos] != stop) return Res::Bad;
    name = std::string(c.text.substr(begin, c.pos - begin));
    ++c.pos;
    return Res::Ok;
}

// Arguments written bare after the function name (Functionary, DeepSeek): an object.
Res bare_arguments(Cursor& c, const std::string& name, Body& body) {
    c.skip_ws();
    if (c.at_end()) return Res::More;
    if (c.text[c.pos] != '{') return Res::Bad;
    size_t begin = 0;
    Res r = c.json_value(begin);
    if (r == Res::More) body.partial = PartialCall{name, partial_text(c.text.substr(begin))};
    if (r != Res::Ok) return r;
    auto args = arguments_text(c.text.substr(begin, c.pos - begin));
    if (!args) return Res::Bad;
    body.calls.push_back(ToolCall{"", name, std::move(*args)});
    return Res::Ok;
}

// Functionary v3.1 and Llama 3.1 hand python code to <|python_tag|> raw, to the end of the turn.
Body python_code(Cursor& c, bool final) {
    Body body;
    if (!final) return finish(c, Res::More, std::move(body));
    std::string_view code = c.text.substr(c.pos);
    if (code.empty()) return finish(c, Res::Bad, std::move(body));
    body.calls.push_back(ToolCall{"", "python", nlohmann::json{{"code", code}}.dump()});
    c.pos = c.text.size();
    return finish(c, Res::Ok, std::move(body));
}

Body functionary_v31(Cursor& c, const Opener& op, bool final) {
    if (op.variant == 1) return python_code(c, final);
    Body body;
    std::string name;
    Res r = read_name(c, '>', name);
    if (r == Res::Ok) r = bare_arguments(c, name, body);
    if (r == Res::Ok) r = close(c, "</function>", final);
    return finish(c, r, std::move(body));
}

Body functionary_v32(Cursor& c) {
    Body body;
    c.pos = c.text.substr(0, 3) == ">>>" ? 3 : 0;
    std::string name;
    Res r = read_name(c, '\n', name);
    if (r == Res::Ok) r = bare_arguments(c, name, body);
    return finish(c, r, std::move(body));
}

// One <｜tool▁call▁begin｜>function<｜tool▁sep｜>name\n```json\n{..}\n```<｜tool▁call▁end｜>.
Res deepseek_call(Cursor& c, Body& body) {
    for (std::string_view lit : {"<｜tool▁call▁begin｜>", "function", "<｜tool▁sep｜>"}) {
        if (Res r = c.literal(lit); r != Res::Ok) return r;
    }
    size_t begin = c.pos;
    while (!c.at_end() && c.text[c.pos] != '\n') ++c.pos;
    if (c.at_end()) return Res::More;
    std::string name(c.text.substr(begin, c.pos - begin));
    if (name.empty()) return Res::Bad;
    c.skip_ws();
    if (Res r = c.literal("```json"); r != Res::Ok) return r;
    if (Res r = bare_arguments(c, name, body); r != Res::Ok) return r;
    for (std::string_view lit : {"```", "<｜tool▁call▁end｜>"}) {
        c.skip_ws();
        if (Res r = c.literal(lit); r != Res::Ok) return r;
    }
    return Res::Ok;
}

Body deepseek(Cursor& c, bool final) {
    Body body;
    for (;;) {
        c.skip_ws();
        // The text may end inside a marker that could be either the end or another call.
        Res end = c.literal("<｜tool▁calls▁end｜>");
        if (end == Res::More && !final) return finish(c, Res::More, std::move(body));
        if (end != Res::Bad) {
            c.pos = end == Res::More ? c.text.size() : c.pos;  // a cut-off end marker is forgiven
            Res r = body.calls.empty() ? Res::Bad : Res::Ok;   // before `body` is moved from
            return finish(c, r, std::move(body));
        }
        Res r = deepseek_call(c, body);
        if (r != Res::Ok) return finish(c, r, std::move(body));
    }
}

Body parse_body(ToolCallFormat format, const Opener& op, std::string_view text, bool final) {
    Cursor c{text, op.length};
    switch (format) {
        case ToolCallFormat::Hermes:
            return single_object(c, {"name", "arguments", "", ""}, "</tool_call>", final);
        case ToolCallFormat::Llama3Json:
            return single_object(c, {"name", "parameters", "arguments", ""}, "", final);
        case ToolCallFormat::MistralNemo:
            // The id follows the arguments, and the first delta must carry it: no streaming.
            return object_array(c, {"name", "arguments", "", "id", false}, "", final);
        case ToolCallFormat::FunctionaryV31:
            return functionary_v31(c, op, final);
        case ToolCallFormat::FunctionaryV32:
            return functionary_v32(c);
        case ToolCallFormat::Firefunction:
            return object_array(c, {"name", "arguments", "", ""}, "", final);
        case ToolCallFormat::CommandR7B:
            // Its ids count from 0 in every turn; OpenAI ids must be unique, so ours are used
            // (the template numbers calls itself).
            return object_array(c, {"tool_name", "parameters", "", ""}, "<|END_ACTION|>", final);
        case ToolCallFormat::DeepSeekR1:
            return deepseek(c, final);
        case ToolCallFormat::None:
            break;
    }
    return Body{};
}

struct Candidate {
    size_t pos = std::string_view::npos;
    Match match = Match::None;
    Opener opener;
};

Candidate find_candidate(ToolCallFormat format, std::string_view text, bool at_start) {
    for (size_t s = 0; s < text.size(); ++s) {
        Opener op;
        Match m = match_opener(format, text.substr(s), at_start && s == 0, op);
        if (m != Match::None) return Candidate{s, m, op};
    }
    return Candidate{};
}

Step content(size_t n) {
    Step st;
    st.kind = n > 0 ? Step::Kind::Content : Step::Kind::Wait;
    st.length = n;
    return st;
}

// No call can start in `text`: all of it is content, except a tail a call could still claim
// (whitespace before a marker belongs to the call) or that ends inside a UTF-8 character.
Step plain_text(ToolCallFormat format, std::string_view text, bool final) {
    if (final) return content(text.size());
    size_t n = text.size();
    if (format != ToolCallFormat::None) {
        while (n > 0 && is_json_ws(text[n - 1])) --n;
    }
    return content(utf8_complete_prefix(text.substr(0, n)));
}

Step from_body(Body body, size_t start, const Opener& op, bool final) {
    Step st;
    if (body.res == Res::Ok) {
        st.kind = Step::Kind::Calls;
        st.length = start + body.length;
        st.calls = std::move(body.calls);
    } else if (body.res == Res::More && !final) {
        st.kind = Step::Kind::Wait;
        st.calls = std::move(body.calls);
        st.partial = std::move(body.partial);
    } else {
        // Not a call after all: its whitespace and marker are text; scanning resumes after them.
        st = content(start + std::max<size_t>(op.length, 1));
    }
    return st;
}

}  // namespace

Step scan_step(ToolCallFormat format, std::string_view text, bool at_start, bool final) {
    Candidate cand = find_candidate(format, text, at_start);
    if (cand.pos == std::string_view::npos) return plain_text(format, text, final);
    size_t ws = cand.pos;
    while (ws > 0 && is_json_ws(text[ws - 1])) --ws;
    if (ws > 0) return content(ws);
    if (cand.match == Match::Partial) return final ? content(text.size()) : content(0);
    if (cand.opener.drop) {
        if (cand.pos > 0) return content(cand.pos);  // whitespace before a structural tag is text
        Step st;
        st.kind = Step::Kind::Drop;
        st.length = cand.opener.length;
        return st;
    }
    Body body = parse_body(format, cand.opener, text.substr(cand.pos), final);
    return from_body(std::move(body), cand.pos, cand.opener, final);
}

bool is_call_separator(ToolCallFormat format, char c) {
    return is_json_ws(c) || (format == ToolCallFormat::Llama3Json && c == ';');
}

}  // namespace pocket::tool_scan
