// index_folder and `pocket index` on generated folders: attribution of chunks to files and pages,
// incremental re-runs, corrupt files, settings checks, and a run killed with SIGKILL.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <set>
#include <string>
#include <thread>

#include "pdf_fixture.h"
#include "pocket/core/error.h"
#include "pocket/embed/embedder.h"
#include "pocket/rag/extract.h"
#include "pocket/rag/indexer.h"
#include "pocket/rag/store.h"
#include "support/test_support.h"

namespace pocket::test {
namespace {
namespace fs = std::filesystem;

void write(const fs::path& path, const std::string& text) {
    fs::create_directories(path.parent_path());
    std::ofstream(path, std::ios::binary) << text;
}

// A small mixed folder: five indexable files, one ignored extension, one hidden folder.
void make_corpus(const fs::path& root) {
    write(root / "notes.txt", "Plain notes mention the zebra crossing.\n\nA second paragraph.\n");
    write(root / "docs/guide.md",
          "# Guide\n\nWelcome.\n\n## Install\n\nRun the installer for walrus support.\n");
    write(root / "web/page.html",
          "<html><head><title>Page</title><script>hidden()</script></head><body>"
          "<h1>Heading</h1><p>The octopus paragraph.</p></body></html>");
    write(root / "src/tool.py", "def main():\n    print('pelican')\n");
    make_pdf(root / "report.pdf", {"Alpha page mentions aardvark", "Bravo page mentions badger",
                                   "Charlie page mentions cheetah"});
    write(root / "image.png", std::string("\x89PNG\r\n\x1a\n\0\0", 10));
    write(root / ".git/config.txt", "not indexed");
}

struct Found {
    std::string path;
    rag::ChunkInfo chunk;
};

// The chunk whose text holds `word`, with its document's path.
std::optional<Found> find_chunk(const rag::Store& store, const std::string& word) {
    for (const auto& doc : store.documents())
        for (const auto& c : store.chunks_of(doc.id))
            if (c.text.find(word) != std::string::npos) return Found{doc.path, c};
    return std::nullopt;
}

rag::IndexOptions bm25_options() {
    rag::IndexOptions o;
    o.chunk = {.max_tokens = 64, .overlap_tokens = 8};
    return o;
}

TEST(Indexer, IndexesEveryFormatWithFileAndPage) {
    ScratchDir dir;
    make_corpus(dir.path());
    auto store = rag::Store::open(dir / "index.sqlite");
    const auto r = rag::index_folder(*store, dir.path(), bm25_options());
    EXPECT_EQ(r.files, 5u);
    EXPECT_EQ(r.added, 5u);
    EXPECT_EQ(r.updated + r.unchanged + r.removed, 0u);
    EXPECT_TRUE(r.skipped.empty());
    EXPECT_EQ(store->document_count(), 5);
    EXPECT_EQ(static_cast<int64_t>(r.chunks_written), store->chunk_count());

    const std::pair<std::string, std::string> where[] = {{"zebra", "notes.txt"},
                                                         {"walrus", "docs/guide.md"},
                                                         {"octopus", "web/page.html"},
                                                         {"pelican", "src/tool.py"},
                                                         {"aardvark", "report.pdf"}};
    for (const auto& [word, path] : where) {
        const auto f = find_chunk(*store, word);
        ASSERT_TRUE(f) << word;
        EXPECT_EQ(f->path, path) << word;
    }
    EXPECT_FALSE(find_chunk(*store, "hidden()"));
    EXPECT_EQ(find_chunk(*store, "walrus")->chunk.heading, "Guide > Install");
    const char* pdf_words[] = {"aardvark", "badger", "cheetah"};
    for (int p = 0; p < 3; ++p) EXPECT_EQ(find_chunk(*store, pdf_words[p])->chunk.page, p + 1);
    EXPECT_EQ(find_chunk(*store, "zebra")->chunk.page, 0);

    const auto doc = store->find_document("docs/guide.md");
    ASSERT_TRUE(doc);
    EXPECT_EQ(doc->format, "md");
    EXPECT_EQ(doc->title, "Guide");
    EXPECT_EQ(doc->content_hash.size(), 64u);
    EXPECT_EQ(store->find_document("notes.txt")->title, "notes.txt");
    EXPECT_EQ(store->meta().chunk_tokens, 64);
    EXPECT_TRUE(store->meta().embed_model.empty());
}

TEST(Indexer, ReRunTouchesOnlyChangedAndDeletedFiles) {
    ScratchDir dir;
    make_corpus(dir.path());
    auto store = rag::Store::open(dir / "index.sqlite");
    rag::index_folder(*store, dir.path(), bm25_options());
    const auto md_id = store->find_document("docs/guide.md")->id;
    const auto pdf_id = store->find_document("report.pdf")->id;

    write(dir / "notes.txt", "Edited notes now mention the yak.\n");
    fs::remove(dir / "web/page.html");
    const auto r = rag::index_folder(*store, dir.path(), bm25_options());
    EXPECT_EQ(r.files, 4u);
    EXPECT_EQ(r.added, 0u);
    EXPECT_EQ(r.updated, 1u);
    EXPECT_EQ(r.unchanged, 3u);
    EXPECT_EQ(r.removed, 1u);
    EXPECT_TRUE(r.skipped.empty());
    EXPECT_EQ(store->document_count(), 4);
    EXPECT_FALSE(store->find_document("web/page.html"));
    EXPECT_FALSE(find_chunk(*store, "octopus"));
    EXPECT_FALSE(find_chunk(*store, "zebra"));
    EXPECT_EQ(find_chunk(*store, "yak")->path, "notes.txt");
    // Unchanged documents were not rewritten.
    EXPECT_EQ(store->find_document("docs/guide.md")->id, md_id);
    EXPECT_EQ(store->find_document("report.pdf")->id, pdf_id);

    const auto again = rag::index_folder(*store, dir.path(), bm25_options());
    EXPECT_EQ(again.unchanged, 4u);
    EXPECT_EQ(again.added + again.updated + again.removed + again.chunks_written, 0u);
}

TEST(Indexer, CorruptFilesAreSkippedWithAMessage) {
    ScratchDir dir;
    make_corpus(dir.path());
    const std::string pdf = read_file_bytes(dir / "report.pdf");
    write(dir / "broken.pdf", pdf.substr(0, pdf.size() / 2));
    write(dir / "blob.txt", std::string("ELF\0\0\0binary", 12));
    write(dir / "latin1.md", "caf\xE9 au lait\n");
    auto store = rag::Store::open(dir / "index.sqlite");
    const auto r = rag::index_folder(*store, dir.path(), bm25_options());
    EXPECT_EQ(r.files, 8u);
    EXPECT_EQ(r.added, 5u);
    ASSERT_EQ(r.skipped.size(), 3u);
    // In path order, each with its reason.
    EXPECT_EQ(r.skipped[0].path, "blob.txt");
    EXPECT_NE(r.skipped[0].reason.find("binary file (NUL byte at offset 3)"), std::string::npos)
        << r.skipped[0].reason;
    EXPECT_EQ(r.skipped[1].path, "broken.pdf");
    EXPECT_NE(r.skipped[1].reason.find("truncated PDF"), std::string::npos) << r.skipped[1].reason;
    EXPECT_EQ(r.skipped[2].path, "latin1.md");
    EXPECT_NE(r.skipped[2].reason.find("not valid UTF-8"), std::string::npos)
        << r.skipped[2].reason;
    EXPECT_EQ(store->document_count(), 5);
    EXPECT_FALSE(store->find_document("broken.pdf"));
}

TEST(Indexer, StaticEmbedderVectorsAndSettingsAreKept) {
    ScratchDir dir;
    make_corpus(dir.path());
    const auto model = shared_path("models/embed/potion-base-4M-int8");
    const auto embedder = embed::open_embedder(model);
    rag::IndexOptions opt;
    opt.embedder = embedder.get();
    opt.embed_model = model.string();
    auto store = rag::Store::open(dir / "index.sqlite");
    const auto r = rag::index_folder(*store, dir.path(), opt);
    EXPECT_EQ(r.added, 5u);
    const auto meta = store->meta();
    EXPECT_EQ(meta.embed_model, model.string());
    EXPECT_EQ(meta.embed_dim, static_cast<int64_t>(embedder->dim()));
    EXPECT_EQ(meta.chunk_tokens, 256);
    EXPECT_EQ(meta.chunk_overlap, 32);
    size_t vectors = 0;
    store->for_each_vector([&](int64_t, std::span<const float> v) {
        EXPECT_EQ(v.size(), embedder->dim());
        ++vectors;
    });
    EXPECT_EQ(static_cast<int64_t>(vectors), store->chunk_count());
    // Token counts come from the embedder's tokenizer.
    const auto f = find_chunk(*store, "walrus");
    ASSERT_TRUE(f);
    EXPECT_NEAR(
        f->chunk.n_tokens,
        static_cast<double>(embedder->count_tokens(f->chunk.text) - embedder->count_tokens("")), 2);

    // Other settings on the same store are refused before anything changes.
    try {
        rag::index_folder(*store, dir.path(), bm25_options());
        FAIL() << "no error";
    } catch (const Error& e) {
        EXPECT_NE(std::string(e.what()).find("the index was built with embedder"),
                  std::string::npos)
            << e.what();
    }
    EXPECT_EQ(store->document_count(), 5);
}

TEST(IndexCli, SummaryAndDefaultDatabase) {
    ScratchDir dir;
    make_corpus(dir.path());
    write(dir / "blob.txt", std::string("\0\0\0", 3));
    const auto r = run_pocket({"index", dir.path().string(), "--embed-model", "none"});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    EXPECT_NE(r.out.find("6 files: 5 added, 0 updated, 0 unchanged, 0 removed, 1 skipped"),
              std::string::npos)
        << r.out;
    EXPECT_NE(r.err.find("BM25 search only"), std::string::npos) << r.err;
    EXPECT_NE(r.err.find("skipped blob.txt: binary file"), std::string::npos) << r.err;
    EXPECT_EQ(r.err.find("\r"), std::string::npos) << "no progress bar off a terminal";
    ASSERT_TRUE(fs::exists(dir / ".pocket-index.sqlite"));

    const auto again = run_pocket({"index", dir.path().string(), "--embed-model", "none"});
    ASSERT_EQ(again.exit_code, 0) << again.err;
    EXPECT_NE(again.out.find("0 added, 0 updated, 5 unchanged"), std::string::npos) << again.out;

    const auto missing = run_pocket({"index", (dir / "nope").string()});
    EXPECT_EQ(missing.exit_code, 1);
    EXPECT_NE(missing.err.find("not a folder"), std::string::npos) << missing.err;
}

// Many small files, so a run takes long enough to be killed in the middle.
size_t make_big_corpus(const fs::path& root, size_t n) {
    for (size_t i = 0; i < n; ++i) {
        std::string text = "# File " + std::to_string(i) + "\n\n";
        for (int s = 0; s < 40; ++s)
            text += "Sentence " + std::to_string(s) + " of file " + std::to_string(i) +
                    " carries a few words for the index. ";
        write(root / ("d" + std::to_string(i % 10)) / ("f" + std::to_string(i) + ".md"), text);
    }
    return n;
}

TEST(IndexCli, KilledRunLosesNothingAndReRunCompletes) {
    ScratchDir dir;
    const fs::path root = dir / "corpus";
    const size_t n = make_big_corpus(root, 1500);
    const fs::path db = dir / "kill.sqlite";
    const std::vector<std::string> args = {
        "index", root.string(),    "--db", db.string(), "--embed-model",
        "none",  "--chunk-tokens", "64",   "--overlap", "8"};

    const pid_t pid = ::fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
        const int null = ::open("/dev/null", O_WRONLY);
        ::dup2(null, STDOUT_FILENO);
        ::dup2(null, STDERR_FILENO);
        std::vector<char*> argv;
        std::string binary = pocket::test::pocket_binary();
        argv.push_back(binary.data());
        std::vector<std::string> copies = args;
        for (auto& a : copies) argv.push_back(a.data());
        argv.push_back(nullptr);
        ::execv(binary.c_str(), argv.data());
        ::_exit(127);
    }
    // Kill once some documents are committed (the WAL file grows as they are).
    bool exited = false;
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
    while (std::chrono::steady_clock::now() < deadline) {
        std::error_code ec;
        const auto wal = fs::file_size(fs::path(db.string() + "-wal"), ec);
        if (!ec && wal > 200'000) break;
        int status = 0;
        if (::waitpid(pid, &status, WNOHANG) == pid) {
            exited = true;
            break;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(2));
    }
    if (!exited) {
        ::kill(pid, SIGKILL);
        int status = 0;
        ::waitpid(pid, &status, 0);
        EXPECT_TRUE(WIFSIGNALED(status));
    }
    int64_t committed = 0;
    {
        auto store = rag::Store::open(db);  // opens cleanly after the kill
        committed = store->document_count();
        EXPECT_LT(committed, static_cast<int64_t>(n)) << "killed before the end";
        for (const auto& doc : store->documents())
            EXPECT_FALSE(store->chunks_of(doc.id).empty()) << doc.path << " half written";
    }

    const auto r = run_pocket(args);
    ASSERT_EQ(r.exit_code, 0) << r.err;
    EXPECT_NE(r.out.find(std::to_string(committed) + " unchanged"), std::string::npos) << r.out;

    auto store = rag::Store::open(db);
    EXPECT_EQ(store->document_count(), static_cast<int64_t>(n));
    // Every file once, every chunk once: the chunk total is what chunking each file gives.
    std::set<std::string> paths;
    size_t expected_chunks = 0;
    for (const auto& doc : store->documents()) {
        EXPECT_TRUE(paths.insert(doc.path).second) << doc.path;
        const auto chunks = store->chunks_of(doc.id);
        const auto text = rag::extract_file(root / doc.path, "md");
        const auto want = rag::chunk_document(text, {.max_tokens = 64, .overlap_tokens = 8});
        expected_chunks += want.size();
        ASSERT_EQ(chunks.size(), want.size()) << doc.path;
        for (size_t i = 0; i < chunks.size(); ++i) {
            EXPECT_EQ(chunks[i].ordinal, static_cast<int32_t>(i));
            EXPECT_EQ(chunks[i].text, want[i].text);
        }
    }
    EXPECT_EQ(store->chunk_count(), static_cast<int64_t>(expected_chunks));
}

}  // namespace
}  // namespace pocket::test
