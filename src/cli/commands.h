// The `pocket` subcommands. Each registers its options on the app and returns the function that
// runs it once the command line has been parsed.
#pragma once

#include <functional>

namespace CLI {
class App;
}

namespace pocket::cli {

using Runner = std::function<int()>;

Runner register_info(CLI::App& app);
Runner register_run(CLI::App& app);
Runner register_synth(CLI::App& app);
Runner register_distill(CLI::App& app);
Runner register_finetune(CLI::App& app);
Runner register_embed(CLI::App& app);
Runner register_convert(CLI::App& app);
Runner register_bench(CLI::App& app);
Runner register_tokenize(CLI::App& app);
Runner register_template(CLI::App& app);
Runner register_chat(CLI::App& app);
Runner register_list(CLI::App& app);
Runner register_serve(CLI::App& app);
Runner register_quantize(CLI::App& app);
Runner register_merge_lora(CLI::App& app);
Runner register_perplexity(CLI::App& app);
Runner register_eval(CLI::App& app);
Runner register_imatrix(CLI::App& app);
Runner register_index(CLI::App& app);
Runner register_search(CLI::App& app);
Runner register_ask(CLI::App& app);
Runner register_eval_retrieval(CLI::App& app);
Runner register_router(CLI::App& app);
Runner register_audit(CLI::App& app);
Runner register_guard(CLI::App& app);
// `pocket guard train` (src/cli/guard_train.cpp), for `pocket guard` (src/cli/guard.cpp) to call
// while registering: it adds the "train" subcommand to `guard` and returns its runner, which the
// guard runner calls first when guard.got_subcommand("train").
Runner add_guard_train(CLI::App& guard);

// Exit codes shared by all subcommands.
enum ExitCode : int {
    kExitOk = 0,
    kExitError = 1,         // runtime failure (bad arguments detected late, I/O, unsupported model)
    kExitUsage = 64,        // command-line usage error (EX_USAGE)
    kExitInvalidFile = 65,  // the input file is malformed (EX_DATAERR)
};

}  // namespace pocket::cli
