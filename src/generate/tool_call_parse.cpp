// Tool-call parsing, whole and streaming: one step loop (tool_call_scan.h) serves both, so they
// cannot disagree about where calls are.
#include <random>

#include "pocket/core/rng.h"
#include "pocket/generate/tool_calls.h"
#include "tool_call_scan.h"

namespace pocket {

using tool_scan::Step;

namespace {

std::string random_alphanumerics(size_t n) {
    static constexpr std::string_view kChars =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    // Ids only need to be unique, not reproducible: seed once per thread from the OS.
    thread_local Rng rng(std::random_device{}() * 0x100000001ULL ^ std::random_device{}());
    std::string id;
    for (size_t i = 0; i < n; ++i) id += kChars[rng.next_u64() % kChars.size()];
    return id;
}

}  // namespace

std::string make_tool_call_id(ToolCallFormat format) {
    // Mistral Nemo's template rejects any id that is not exactly 9 characters.
    if (format == ToolCallFormat::MistralNemo) return random_alphanumerics(9);
    return "call_" + random_alphanumerics(24);
}

ToolCallStreamParser::ToolCallStreamParser(ToolCallFormat format, Options options)
    : format_(format), options_(options) {}

ToolCallStreamParser::Delta ToolCallStreamParser::feed(std::string_view piece) {
    pending_.append(piece);
    return drain(false);
}

ToolCallStreamParser::Delta ToolCallStreamParser::finish() {
    return drain(true);
}

void ToolCallStreamParser::emit_call(Delta& out, const ToolCall& call) {
    if (partial_open_) {
        // The rest of the call being streamed; its arguments continue what was sent.
        partial_open_ = false;
        if (call.arguments.compare(0, partial_args_.size(), partial_args_) == 0) {
            std::string rest = call.arguments.substr(partial_args_.size());
            if (!rest.empty()) out.calls.push_back({n_calls_ - 1, "", "", std::move(rest)});
        }
        return;
    }
    std::string id = call.id.empty() ? make_tool_call_id(format_) : call.id;
    out.calls.push_back({n_calls_++, std::move(id), call.name, call.arguments});
}

void ToolCallStreamParser::emit_partial(Delta& out, const std::string& name,
                                        const std::string& arguments) {
    if (!partial_open_) {
        partial_open_ = true;
        partial_args_ = arguments;
        out.calls.push_back({n_calls_++, make_tool_call_id(format_), name, arguments});
        return;
    }
    if (arguments.size() > partial_args_.size() &&
        arguments.compare(0, partial_args_.size(), partial_args_) == 0) {
        out.calls.push_back({n_calls_ - 1, "", "", arguments.substr(partial_args_.size())});
        partial_args_ = arguments;
    }
}

// Sends the calls of the current group from `group_sent_` on.
void ToolCallStreamParser::emit_group(Delta& out, const std::vector<ToolCall>& calls) {
    for (size_t i = group_sent_; i < calls.size(); ++i) emit_call(out, calls[i]);
    group_sent_ = calls.size();
}

void ToolCallStreamParser::end_group() {
    // A group that turned out malformed after streaming began keeps what was sent.
    group_sent_ = 0;
    partial_open_ = false;
    partial_args_.clear();
}

// Whitespace after a call is part of it; it is dropped as it comes, until something else does.
void ToolCallStreamParser::skip_separators(bool final) {
    if (!skip_separator_) return;
    size_t n = 0;
    while (n < pending_.size() && tool_scan::is_call_separator(format_, pending_[n])) ++n;
    pending_.erase(0, n);
    if (!pending_.empty() || final) skip_separator_ = false;
}

ToolCallStreamParser::Delta ToolCallStreamParser::drain(bool final) {
    Delta out;
    for (;;) {
        skip_separators(final);
        if (pending_.empty()) break;
        Step st = tool_scan::scan_step(format_, pending_, at_start_, final);
        if (st.kind == Step::Kind::Wait) {
            if (options_.stream_arguments) {
                emit_group(out, st.calls);
                if (st.partial) emit_partial(out, st.partial->name, st.partial->arguments);
            }
            break;
        }
        if (st.kind == Step::Kind::Content) out.content.append(pending_, 0, st.length);
        if (st.kind == Step::Kind::Calls) {
            emit_group(out, st.calls);
            skip_separator_ = true;
        }
        end_group();
        pending_.erase(0, st.length);
        at_start_ = false;
    }
    return out;
}

ParsedToolCalls parse_tool_calls(ToolCallFormat format, std::string_view output) {
    // The same loop as streaming, but every decision is taken knowing the text is complete.
    ToolCallStreamParser parser(format, {.stream_arguments = false});
    parser.pending_ = std::string(output);
    ToolCallStreamParser::Delta delta = parser.drain(true);
    ParsedToolCalls parsed;
    parsed.content = std::move(delta.content);
    for (ToolCallDelta& d : delta.calls) {
        parsed.calls.push_back(
            ToolCall{std::move(d.id), std::move(d.name), std::move(d.arguments)});
    }
    return parsed;
}

}  // namespace pocket
