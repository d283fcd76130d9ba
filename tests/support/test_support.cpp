#include "support/test_support.h"

#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <csignal>
#include <cstdlib>
#include <fstream>
#include <optional>
#include <random>
#include <sstream>
#include <stdexcept>
#include <thread>

namespace pocket::test {

std::filesystem::path shared_dir() {
    if (const char* env = std::getenv("POCKET_SHARED_DIR"); env && *env) return env;
    return POCKET_SHARED_DIR_DEFAULT;
}

std::filesystem::path shared_path(const std::string& relative) {
    return shared_dir() / relative;
}

std::string stories_model() {
    return shared_path("models/stories260K.gguf").string();
}

std::filesystem::path source_dir() {
    return POCKET_SOURCE_DIR;
}

std::string pocket_binary() {
    return POCKET_BINARY_PATH;
}

std::string read_file_bytes(const std::filesystem::path& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) throw std::runtime_error("cannot open " + path.string());
    std::ostringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

nlohmann::json read_json(const std::filesystem::path& path) {
    return nlohmann::json::parse(read_file_bytes(path));
}

ScratchDir::ScratchDir() {
    std::random_device rd;
    path_ = std::filesystem::temp_directory_path() /
            ("pocket-test-" + std::to_string(::getpid()) + "-" + std::to_string(rd()));
    std::filesystem::create_directories(path_);
}

ScratchDir::~ScratchDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
}

namespace {
std::string drain(int fd) {
    std::string data;
    char buf[65536];
    for (;;) {
        ssize_t n = ::read(fd, buf, sizeof buf);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) break;
        data.append(buf, static_cast<size_t>(n));
    }
    ::close(fd);
    return data;
}
}  // namespace

CommandResult run_pocket(const std::vector<std::string>& args) {
    return run_pocket(args, {});
}

CommandResult run_pocket(const std::vector<std::string>& args,
                         const std::optional<std::string>& input) {
    int out_pipe[2], err_pipe[2], in_pipe[2];
    if (::pipe(out_pipe) != 0 || ::pipe(err_pipe) != 0 || ::pipe(in_pipe) != 0)
        throw std::runtime_error("pipe failed");
    pid_t pid = ::fork();
    if (pid < 0) throw std::runtime_error("fork failed");
    if (pid == 0) {
        ::dup2(out_pipe[1], 1);
        ::dup2(err_pipe[1], 2);
        ::close(out_pipe[0]);
        ::close(err_pipe[0]);
        ::close(out_pipe[1]);
        ::close(err_pipe[1]);
        if (input) {
            ::dup2(in_pipe[0], 0);
        } else {
            int devnull = ::open("/dev/null", O_RDONLY);
            if (devnull >= 0) ::dup2(devnull, 0);
        }
        ::close(in_pipe[0]);
        ::close(in_pipe[1]);
        std::vector<char*> argv;
        std::string binary = pocket_binary();
        argv.push_back(binary.data());
        std::vector<std::string> copies = args;
        for (auto& a : copies) argv.push_back(a.data());
        argv.push_back(nullptr);
        ::execv(binary.c_str(), argv.data());
        ::_exit(127);
    }
    ::close(out_pipe[1]);
    ::close(err_pipe[1]);
    ::close(in_pipe[0]);
    // Feed stdin on its own thread and close it, so the child sees the end of its input.
    std::thread writer([&] {
        if (input) {
            ::signal(SIGPIPE, SIG_IGN);  // a child that exits early must not kill the test
            size_t at = 0;
            while (at < input->size()) {
                const ssize_t n = ::write(in_pipe[1], input->data() + at, input->size() - at);
                if (n < 0 && errno == EINTR) continue;
                if (n <= 0) break;
                at += static_cast<size_t>(n);
            }
        }
        ::close(in_pipe[1]);
    });
    CommandResult result;
    // Drain stderr on a second thread so neither pipe can fill up and block the child.
    std::thread err_reader([&] { result.err = drain(err_pipe[0]); });
    result.out = drain(out_pipe[0]);
    err_reader.join();
    writer.join();
    int status = 0;
    ::waitpid(pid, &status, 0);
    if (WIFEXITED(status)) {
        result.exit_code = WEXITSTATUS(status);
    } else if (WIFSIGNALED(status)) {
        result.exit_code = 128 + WTERMSIG(status);
    }
    return result;
}

std::vector<TokenizerCase> read_tokenizer_vectors(const std::filesystem::path& inp,
                                                  const std::filesystem::path& out) {
    const std::string separator = "\n__ggml_vocab_test__\n";
    std::string text = read_file_bytes(inp);
    std::vector<std::string> inputs;
    size_t pos = 0;
    for (;;) {
        size_t next = text.find(separator, pos);
        if (next == std::string::npos) break;
        inputs.push_back(text.substr(pos, next - pos));
        pos = next + separator.size();
    }
    std::string expected = read_file_bytes(out);
    std::vector<TokenizerCase> cases;
    size_t line_start = 0;
    for (const auto& input : inputs) {
        size_t line_end = expected.find('\n', line_start);
        if (line_end == std::string::npos)
            throw std::runtime_error("too few lines in " + out.string());
        std::istringstream line(expected.substr(line_start, line_end - line_start));
        TokenizerCase c{input, {}};
        for (int32_t id; line >> id;) c.ids.push_back(id);
        cases.push_back(std::move(c));
        line_start = line_end + 1;
    }
    return cases;
}

ScopedEnv::ScopedEnv(const char* name, const std::optional<std::string>& value) : name_(name) {
    if (const char* old = std::getenv(name)) old_ = old;
    if (value) {
        ::setenv(name, value->c_str(), 1);
    } else {
        ::unsetenv(name);
    }
}

ScopedEnv::~ScopedEnv() {
    if (old_) {
        ::setenv(name_, old_->c_str(), 1);
    } else {
        ::unsetenv(name_);
    }
}

}  // namespace pocket::test
