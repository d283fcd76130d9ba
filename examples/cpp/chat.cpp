// A chat from C++ over the C API, with small RAII owners for the handles: each user turn given on
// the command line is answered in turn, streamed to stdout; the conversation is printed as JSON.
//   chat MODEL "first message" ["second message" ...]
#include <pocket.h>

#include <cstdio>
#include <memory>
#include <stdexcept>
#include <string>

namespace {

struct ModelFree {
    void operator()(pocket_model* m) const { pocket_model_free(m); }
};
struct SessionFree {
    void operator()(pocket_session* s) const { pocket_session_free(s); }
};
using Model = std::unique_ptr<pocket_model, ModelFree>;
using Session = std::unique_ptr<pocket_session, SessionFree>;

void check(pocket_status status, const char* what) {
    if (status != POCKET_OK) {
        throw std::runtime_error(std::string(what) + ": " + pocket_status_name(status) + ": " +
                                 pocket_last_error());
    }
}

Model load(const char* path) {
    pocket_model* m = nullptr;
    check(pocket_model_load(path, nullptr, &m), "load");
    return Model(m);
}

Session start(const pocket_model* model, const char* system) {
    pocket_session_options options = pocket_session_default_options();
    options.system_prompt = system;
    pocket_session* s = nullptr;
    check(pocket_session_create(model, &options, &s), "session");
    return Session(s);
}

}  // namespace

int main(int argc, char** argv) try {
    if (argc < 3) {
        std::fprintf(stderr, "usage: %s MODEL MESSAGE [MESSAGE...]\n", argv[0]);
        return 2;
    }
    const Model model = load(argv[1]);
    const Session session = start(model.get(), "You are a helpful assistant.");
    pocket_generate_options options = pocket_generate_default_options();
    options.temperature = 0;
    options.max_tokens = 48;
    auto print = [](const char* piece, size_t length, void*) -> int {
        std::fwrite(piece, 1, length, stdout);
        std::fflush(stdout);
        return 0;
    };
    for (int i = 2; i < argc; ++i) {
        std::printf("> %s\n", argv[i]);
        pocket_generation result{};
        result.struct_size = sizeof result;
        check(pocket_session_chat(session.get(), argv[i], &options, print, nullptr, &result),
              "chat");
        std::printf("\n[%lld new prompt tokens, %lld reused]\n",
                    static_cast<long long>(result.prompt_tokens - result.reused_tokens),
                    static_cast<long long>(result.reused_tokens));
    }
    std::printf("%s\n", pocket_session_conversation_json(session.get()));
    return 0;
} catch (const std::exception& e) {
    std::fprintf(stderr, "chat: %s\n", e.what());
    return 1;
}
