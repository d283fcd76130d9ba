// Internals of tool-call parsing, shared by tool_call_*.cpp.
//
// Parsing is one loop over "steps": at the start of the undecided text, a format's scanner says
// what the next bytes are (plain content, a marker to drop, a group of calls) or that it cannot
// tell yet. A step is decided only when no continuation of the text could change it, so the
// complete parse (final = true throughout) and the streaming parse (final = false until finish)
// make the same decisions at the same places, however the text arrives.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "pocket/generate/tool_calls.h"

namespace pocket::tool_scan {

// Whether text scanned so far is complete, might still become valid, or cannot.
enum class Res { Ok, More, Bad };

bool is_json_ws(char c);
// Scans one JSON value starting exactly at `pos`; on Ok, `end` is one past it. A number that
// reaches the end of the text is More (more digits may follow).
Res scan_json_value(std::string_view text, size_t pos, size_t& end);
// The longest prefix of `text` that does not end inside a UTF-8 sequence.
size_t utf8_complete_prefix(std::string_view text);

// A position in text being parsed, with the checks call bodies are made of.
struct Cursor {
    std::string_view text;
    size_t pos = 0;

    bool at_end() const { return pos >= text.size(); }
    void skip_ws();
    // Consumes `lit`; More when the text ends inside it.
    Res literal(std::string_view lit);
    // Consumes a JSON value; its text is [begin, pos).
    Res json_value(size_t& begin);
};

// A call being written whose name is known: `arguments` is certain to begin the final arguments.
struct PartialCall {
    std::string name;
    std::string arguments;
};

struct Step {
    enum class Kind { Content, Drop, Calls, Wait };
    Kind kind = Kind::Wait;
    size_t length = 0;                   // bytes decided (Content, Drop, Calls)
    std::vector<ToolCall> calls;         // Calls; Wait: calls of the group already complete
    std::optional<PartialCall> partial;  // Wait: the call being written, when streamable
};

// The next step at the start of `text`. `at_start`: text begins the model output. With `final`
// the text is all there is, and the result is never Wait.
Step scan_step(ToolCallFormat format, std::string_view text, bool at_start, bool final);

// Characters after a call that belong to it (whitespace; Llama 3 also separates calls with ';').
bool is_call_separator(ToolCallFormat format, char c);

}  // namespace pocket::tool_scan
