// grammar_matches(): the stack engine run over a whole string, one code point at a time.
#include <memory>

#include "generate/grammar/stack_graph.h"

namespace pocket {

bool grammar_matches(const Grammar& grammar, std::string_view text) {
    StackGraph graph(std::make_shared<const Grammar>(grammar));
    std::vector<uint32_t> state = graph.initial(), next;
    Utf8State utf8;
    for (char c : text) {
        switch (utf8.feed(static_cast<unsigned char>(c))) {
            case Utf8State::Step::Invalid:
                return false;
            case Utf8State::Step::More:
                continue;
            case Utf8State::Step::Done:
                break;
        }
        graph.advance(state, utf8.cp, next);
        state.swap(next);
        if (state.empty()) return false;
    }
    return utf8.need == 0 && !state.empty() && state.front() == StackGraph::kAccept;
}

}  // namespace pocket
