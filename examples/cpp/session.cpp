// The C++ API (find_package(pocket COMPONENTS cpp) -> pocket::pocket_static): load a model, stream
// a greedy continuation of a prompt to stdout through a Session, then report the counts on stderr.
//   session MODEL PROMPT [MAX_TOKENS]
// Errors come as exceptions (pocket::Error) with the file and the reason in what().
#include <pocket/core/error.h>
#include <pocket/generate/session.h>
#include <pocket/model/context.h>
#include <pocket/model/load.h>

#include <cstdio>
#include <cstdlib>
#include <exception>
#include <string>

int main(int argc, char** argv) {
    if (argc < 3) {
        std::fprintf(stderr, "usage: %s MODEL PROMPT [MAX_TOKENS]\n", argv[0]);
        return 2;
    }
    try {
        // A GGUF file or a Hugging Face folder; the model is immutable and may be shared by
        // any number of contexts, one per thread of control.
        const auto model = pocket::model::load_model(argv[1]);
        pocket::model::Context context(*model, {.n_ctx = 512});
        pocket::Session session(context);

        pocket::GenerateOptions options;
        options.sampling.temperature = 0.0f;  // greedy: the same text as `pocket run --temp 0`
        options.max_tokens = argc > 3 ? std::atoi(argv[3]) : 32;
        const auto result = session.generate(argv[2], options, [](std::string_view piece) {
            std::fwrite(piece.data(), 1, piece.size(), stdout);
            std::fflush(stdout);
            return true;  // go on
        });
        std::fprintf(stderr, "\n[%lld prompt tokens, %lld generated, finish %s]\n",
                     static_cast<long long>(result.prompt_tokens),
                     static_cast<long long>(result.completion_tokens),
                     std::string(pocket::finish_reason_name(result.finish)).c_str());
    } catch (const std::exception& e) {
        std::fprintf(stderr, "error: %s\n", e.what());
        return 1;
    }
    return 0;
}
