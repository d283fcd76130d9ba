// `pocket chat` as people use it: scripted through a pipe, and typed into a real terminal (tmux):
// a streamed answer on screen, Ctrl-C stopping it without quitting, /reset, /stats, Ctrl-D.
#include <gtest/gtest.h>

#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <string>
#include <thread>

#include "support/test_support.h"

namespace pocket::test {
namespace {

std::string shell_quote(const std::string& s) {
    std::string out = "'";
    for (const char c : s) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
    return out + "'";
}

// Runs a shell command and returns its stdout.
std::string sh(const std::string& command) {
    std::string out;
    FILE* p = ::popen(command.c_str(), "r");
    if (!p) return out;
    char buf[4096];
    size_t n;
    while ((n = std::fread(buf, 1, sizeof buf, p)) > 0) out.append(buf, n);
    ::pclose(p);
    return out;
}

TEST(CliChat, ScriptedOneAnswerPerLine) {
    const auto r = run_pocket({"chat", "-m", shared_path("models/stories260K.gguf").string(), "-n",
                               "12", "--temp", "0", "--system", "Tell stories."},
                              std::string("Once upon a time\n\nThe dog ran\n/stats\n"));
    ASSERT_EQ(r.exit_code, 0) << r.err;
    // Two messages, two answers, each ending in a newline; the empty line is skipped.
    size_t lines = 0;
    for (const char c : r.out) lines += c == '\n';
    EXPECT_EQ(lines, 2u) << r.out;
    EXPECT_NE(r.err.find("built-in ChatML"), std::string::npos) << r.err;  // told about it
    EXPECT_NE(r.err.find("messages: 4"), std::string::npos) << r.err;
}

class Tmux {
  public:
    Tmux() : name_("pocket-chat-test-" + std::to_string(::getpid())) {}
    ~Tmux() { sh("tmux kill-session -t " + name_ + " 2>/dev/null"); }
    void start(const std::string& command) {
        sh("tmux new-session -d -s " + name_ + " -x 160 -y 50 " + shell_quote(command));
    }
    void keys(const std::string& keys) { sh("tmux send-keys -t " + name_ + " " + keys); }
    void type(const std::string& text) {
        sh("tmux send-keys -t " + name_ + " -l " + shell_quote(text));
    }
    std::string screen() { return sh("tmux capture-pane -p -t " + name_ + " 2>/dev/null"); }
    bool alive() {
        return sh("tmux list-panes -t " + name_ + " -F '#{pane_dead}' 2>/dev/null") == "0\n";
    }
    // Waits (up to `seconds`) until pred(screen) holds.
    bool wait_for(const std::function<bool(const std::string&)>& pred, double seconds) {
        const auto until = std::chrono::steady_clock::now() +
                           std::chrono::milliseconds(static_cast<int>(seconds * 1000));
        while (std::chrono::steady_clock::now() < until) {
            if (pred(screen())) return true;
            std::this_thread::sleep_for(std::chrono::milliseconds(100));
        }
        return false;
    }
    bool wait_for_text(const std::string& text, double seconds) {
        return wait_for([&](const std::string& s) { return s.find(text) != std::string::npos; },
                        seconds);
    }
    const std::string& name() const { return name_; }

  private:
    std::string name_;
};

// Lines that show the input prompt "> " (tmux trims the trailing space of an empty one).
size_t prompts(const std::string& screen) {
    size_t n = 0;
    for (size_t at = 0; at < screen.size();) {
        if (screen[at] == '>' && (at + 1 == screen.size() || screen[at + 1] == ' ' ||
                                  screen[at + 1] == '\n'))
            ++n;
        const size_t nl = screen.find('\n', at);
        if (nl == std::string::npos) break;
        at = nl + 1;
    }
    return n;
}

TEST(CliChat, TerminalSessionThroughTmux) {
    ASSERT_EQ(std::system("command -v tmux >/dev/null"), 0) << "tmux is needed (scripts/setup)";
    ScratchDir dir;
    // A model big enough that an answer takes seconds (random weights: it never stops early).
    const std::string model = (dir / "smollm2.gguf").string();
    const auto synth =
        run_pocket({"synth", "--shape", "smollm2-135m", "--type", "q4_0", "-o", model});
    ASSERT_EQ(synth.exit_code, 0) << synth.err;

    Tmux tmux;
    tmux.start(pocket::test::pocket_binary() + " chat -m " + model +
               " -c 2048 --temp 0 -t 1; echo CHAT-EXITED-$?; sleep 60");
    ASSERT_TRUE(tmux.wait_for([](const std::string& s) { return prompts(s) == 1; }, 60))
        << tmux.screen();

    tmux.type("Hello there");
    tmux.keys("Enter");
    // The answer streams onto the screen below the typed line...
    ASSERT_TRUE(tmux.wait_for(
        [](const std::string& s) {
            const size_t at = s.find("> Hello there\n");
            return at != std::string::npos && s.size() > at + 40 &&
                   s.find_first_not_of(" \n", at + 14) != std::string::npos &&
                   s.substr(at + 14).find_first_not_of(" \n") < s.size();
        },
        60))
        << tmux.screen();
    std::this_thread::sleep_for(std::chrono::milliseconds(500));
    const std::string before = tmux.screen();
    // ...until Ctrl-C stops it: the program says so and asks for the next message.
    tmux.keys("C-c");
    ASSERT_TRUE(tmux.wait_for_text("[stopped]", 30)) << tmux.screen();
    ASSERT_TRUE(tmux.wait_for([](const std::string& s) { return prompts(s) >= 2; }, 10))
        << tmux.screen();
    EXPECT_TRUE(tmux.alive());
    EXPECT_EQ(tmux.screen().find("CHAT-EXITED"), std::string::npos) << "Ctrl-C quit the chat";
    // Nothing more streams once stopped.
    const std::string stopped = tmux.screen();
    std::this_thread::sleep_for(std::chrono::milliseconds(700));
    EXPECT_EQ(tmux.screen(), stopped);
    EXPECT_NE(before, "");

    tmux.type("/stats");
    tmux.keys("Enter");
    ASSERT_TRUE(tmux.wait_for_text("messages: 2", 10)) << tmux.screen();  // user + partial answer
    tmux.type("/reset");
    tmux.keys("Enter");
    ASSERT_TRUE(tmux.wait_for_text("[conversation cleared]", 10)) << tmux.screen();
    tmux.type("/stats");
    tmux.keys("Enter");
    ASSERT_TRUE(tmux.wait_for_text("messages: 0", 10)) << tmux.screen();

    // Ctrl-D on an empty line quits cleanly.
    tmux.keys("C-d");
    ASSERT_TRUE(tmux.wait_for_text("CHAT-EXITED-0", 20)) << tmux.screen();
}

}  // namespace
}  // namespace pocket::test
