#include "pocket/core/thread_pool.h"

#include <atomic>
#include <bit>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <functional>
#include <mutex>
#include <set>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "pocket/core/error.h"
#include "support/test_support.h"

namespace pocket {
namespace {

struct Chunk {
    int64_t begin, end;
    std::thread::id thread;
};

// Runs parallel_for and records every chunk, under a mutex (test-side bookkeeping only).
std::vector<Chunk> chunks_of(ThreadPool& pool, int64_t n) {
    std::mutex mutex;
    std::vector<Chunk> chunks;
    pool.parallel_for(n, [&](int64_t begin, int64_t end) {
        std::lock_guard lock(mutex);
        chunks.push_back({begin, end, std::this_thread::get_id()});
    });
    std::sort(chunks.begin(), chunks.end(),
              [](const Chunk& a, const Chunk& b) { return a.begin < b.begin; });
    return chunks;
}

TEST(ThreadPool, PartitionCoversEveryIndexOnce) {
    const std::vector<int64_t> sizes = {0, 1, 2, 3, 5, 7, 8, 9, 16, 31, 97, 1000, 12345};
    for (int threads : {1, 2, 3, 4, 5, 8}) {
        ThreadPool pool(threads);
        ASSERT_EQ(pool.n_threads(), threads);
        for (int64_t n : sizes) {
            std::vector<std::atomic<int>> hits(static_cast<size_t>(n));
            pool.parallel_for(n, [&](int64_t begin, int64_t end) {
                for (int64_t i = begin; i < end; ++i) hits[static_cast<size_t>(i)].fetch_add(1);
            });
            for (int64_t i = 0; i < n; ++i) {
                ASSERT_EQ(hits[static_cast<size_t>(i)].load(), 1)
                    << "index " << i << " n " << n << " threads " << threads;
            }

            // Contiguous, non-empty chunks, one per thread at most, sizes within one of each other.
            const std::vector<Chunk> chunks = chunks_of(pool, n);
            EXPECT_EQ(chunks.size(), static_cast<size_t>(std::min<int64_t>(n, threads)));
            int64_t expected_begin = 0, smallest = n, largest = 0;
            std::set<std::thread::id> ids;
            for (const Chunk& c : chunks) {
                EXPECT_EQ(c.begin, expected_begin);
                EXPECT_LT(c.begin, c.end);
                expected_begin = c.end;
                smallest = std::min(smallest, c.end - c.begin);
                largest = std::max(largest, c.end - c.begin);
                ids.insert(c.thread);
            }
            EXPECT_EQ(expected_begin, n);
            if (!chunks.empty()) {
                EXPECT_LE(largest - smallest, 1);
                EXPECT_EQ(chunks.front().thread, std::this_thread::get_id());  // caller takes 0
                EXPECT_EQ(ids.size(), chunks.size()) << "each chunk on its own thread";
            }
        }
    }
}

TEST(ThreadPool, BalancedCoversEveryIndexOnceInContiguousPieces) {
    const std::vector<int64_t> sizes = {0, 1, 2, 3, 5, 7, 8, 9, 16, 31, 97, 1000, 12345};
    for (int threads : {1, 2, 3, 4, 5, 8}) {
        ThreadPool pool(threads);
        for (int64_t n : sizes) {
            std::vector<std::atomic<int>> hits(static_cast<size_t>(n));
            std::atomic<int64_t> pieces{0};
            pool.parallel_for_balanced(n, [&](int64_t begin, int64_t end) {
                ASSERT_LE(0, begin);
                ASSERT_LT(begin, end);
                ASSERT_LE(end, n);
                pieces.fetch_add(1);
                for (int64_t i = begin; i < end; ++i) hits[static_cast<size_t>(i)].fetch_add(1);
            });
            for (int64_t i = 0; i < n; ++i) {
                ASSERT_EQ(hits[static_cast<size_t>(i)].load(), 1)
                    << "index " << i << " n " << n << " threads " << threads;
            }
            // Per share three quarters, then halves of what is left: few enough calls that each
            // stays a long stream.
            const auto halvings = static_cast<int64_t>(std::bit_width(static_cast<uint64_t>(n)));
            EXPECT_LE(pieces.load(), (4 + halvings) * static_cast<int64_t>(threads)) << "n " << n;
        }
    }
}

// A share held up (here the caller's, sleeping in its first piece) leaves the rest of its rows to
// the threads that finished: the pieces of the slow share run elsewhere.
TEST(ThreadPool, BalancedMovesASlowSharesPiecesToOtherThreads) {
    ThreadPool pool(2);
    const std::thread::id caller = std::this_thread::get_id();
    const int64_t n = 64;  // share 0 is [0, 32), in pieces of 8
    std::mutex mutex;
    std::vector<Chunk> pieces;
    pool.parallel_for_balanced(n, [&](int64_t begin, int64_t end) {
        if (begin == 0) std::this_thread::sleep_for(std::chrono::milliseconds(500));
        std::lock_guard lock(mutex);
        pieces.push_back({begin, end, std::this_thread::get_id()});
    });
    int64_t by_caller = 0, of_share0_elsewhere = 0;
    for (const Chunk& c : pieces) {
        if (c.thread == caller) by_caller += c.end - c.begin;
        if (c.thread != caller && c.begin < 32) of_share0_elsewhere += c.end - c.begin;
    }
    // The worker finishes [32, 64) long before 500 ms and then takes 8..32 of share 0.
    EXPECT_EQ(by_caller, 8);
    EXPECT_EQ(of_share0_elsewhere, 24);
}

// Callers on two threads share one pool (a server's contexts): each call keeps its own pieces.
TEST(ThreadPool, BalancedCallsFromTwoThreadsEachCoverTheirRange) {
    ThreadPool pool(3);
    auto calls = [&pool](int64_t n, bool& ok) {
        ok = true;
        for (int call = 0; call < 200; ++call) {
            std::vector<std::atomic<int>> hits(static_cast<size_t>(n));
            pool.parallel_for_balanced(n, [&](int64_t begin, int64_t end) {
                for (int64_t i = begin; i < end; ++i) hits[static_cast<size_t>(i)].fetch_add(1);
            });
            for (const std::atomic<int>& h : hits) ok = ok && h.load() == 1;
        }
    };
    bool ok_a = false, ok_b = false;
    std::thread a(calls, 97, std::ref(ok_a));
    std::thread b(calls, 1000, std::ref(ok_b));
    a.join();
    b.join();
    EXPECT_TRUE(ok_a);
    EXPECT_TRUE(ok_b);
}

TEST(ThreadPool, RunOnAllCallsEveryIndexOnce) {
    for (int threads : {1, 2, 4, 6}) {
        ThreadPool pool(threads);
        std::vector<std::atomic<int>> hits(static_cast<size_t>(threads));
        std::vector<std::thread::id> ids(static_cast<size_t>(threads));
        pool.run_on_all([&](int index, int n) {
            EXPECT_EQ(n, threads);
            hits[static_cast<size_t>(index)].fetch_add(1);
            ids[static_cast<size_t>(index)] = std::this_thread::get_id();
        });
        for (auto& h : hits) EXPECT_EQ(h.load(), 1);
        EXPECT_EQ(ids[0], std::this_thread::get_id());
        EXPECT_EQ(std::set<std::thread::id>(ids.begin(), ids.end()).size(),
                  static_cast<size_t>(threads));
    }
}

TEST(ThreadPool, SingleThreadPoolRunsInline) {
    ThreadPool pool(1);
    std::vector<Chunk> chunks = chunks_of(pool, 100);
    ASSERT_EQ(chunks.size(), 1u);
    EXPECT_EQ(chunks[0].begin, 0);
    EXPECT_EQ(chunks[0].end, 100);
    EXPECT_EQ(chunks[0].thread, std::this_thread::get_id());
    int calls = 0;
    pool.run_on_all([&](int index, int n) {
        EXPECT_EQ(index, 0);
        EXPECT_EQ(n, 1);
        ++calls;
    });
    EXPECT_EQ(calls, 1);
}

TEST(ThreadPool, WorkerExceptionReachesCaller) {
    ThreadPool pool(4);
    try {
        pool.run_on_all([](int index, int) {
            if (index == 2) throw std::runtime_error("share 2 failed");
        });
        FAIL() << "no exception";
    } catch (const std::runtime_error& e) {
        EXPECT_STREQ(e.what(), "share 2 failed");
    }
    // The caller's own share, and pocket::Error through parallel_for.
    EXPECT_THROW(pool.run_on_all([](int index, int) {
        if (index == 0) throw std::logic_error("caller");
    }),
                 std::logic_error);
    EXPECT_THROW(pool.parallel_for(1000,
                                   [](int64_t begin, int64_t) {
                                       if (begin > 0) fail("chunk at ", begin);
                                   }),
                 Error);
    // Every share throwing: exactly one exception comes out, and the pool still works.
    EXPECT_THROW(pool.run_on_all([](int, int) { throw std::runtime_error("all"); }),
                 std::runtime_error);
    std::atomic<int64_t> sum{0};
    pool.parallel_for(100, [&](int64_t b, int64_t e) {
        for (int64_t i = b; i < e; ++i) sum += i;
    });
    EXPECT_EQ(sum.load(), 4950);
}

TEST(ThreadPool, ReusedTenThousandTimes) {
    ThreadPool pool(4);
    std::vector<int64_t> partial(4 * 16, 0);  // one cache line per thread
    int64_t expected = 0;
    for (int call = 0; call < 10000; ++call) {
        const int64_t n = 1 + call % 37;
        pool.run_on_all([&](int index, int threads) {
            for (int64_t i = index; i < n; i += threads)
                partial[static_cast<size_t>(index) * 16] += i;
        });
        expected += n * (n - 1) / 2;
    }
    int64_t total = 0;
    for (int i = 0; i < 4; ++i) total += partial[static_cast<size_t>(i) * 16];
    EXPECT_EQ(total, expected);
}

TEST(ThreadPool, WakesSleepingWorkers) {
    ThreadPool pool(3);
    for (int round = 0; round < 5; ++round) {
        // Longer than the spin time, so the workers have gone to sleep on the condition variable.
        std::this_thread::sleep_for(std::chrono::milliseconds(3));
        std::atomic<int> calls{0};
        pool.run_on_all([&](int, int) { ++calls; });
        EXPECT_EQ(calls.load(), 3);
    }
}

TEST(ThreadPool, CallerSleepsUntilSlowWorkerEnds) {
    ThreadPool pool(2);
    std::atomic<bool> done{false};
    pool.run_on_all([&](int index, int) {
        if (index == 1) {
            std::this_thread::sleep_for(std::chrono::milliseconds(5));  // caller must block
            done = true;
        }
    });
    EXPECT_TRUE(done.load());
}

TEST(ThreadPool, DestructionJoinsCleanly) {
    for (int i = 0; i < 50; ++i) {
        ThreadPool idle(1 + i % 4);  // never used
    }
    for (int i = 0; i < 50; ++i) {
        ThreadPool used(1 + i % 4);
        std::atomic<int> calls{0};
        used.run_on_all([&](int, int) { ++calls; });
        EXPECT_EQ(calls.load(), used.n_threads());
        if (i % 10 == 0) std::this_thread::sleep_for(std::chrono::milliseconds(2));  // asleep
    }
}

TEST(ThreadPool, NestedCalls) {
    ThreadPool pool(3);
    std::atomic<int64_t> total{0};
    pool.parallel_for(30, [&](int64_t begin, int64_t end) {
        // Inner calls from inside a task run inline on the calling thread.
        pool.parallel_for(end - begin, [&](int64_t b, int64_t e) { total += e - b; });
    });
    EXPECT_EQ(total.load(), 30);
    EXPECT_THROW(pool.run_on_all([&](int, int) { pool.run_on_all([](int, int) {}); }), Error);
}

TEST(ThreadPool, ConcurrentCallersAreSerialized) {
    ThreadPool pool(3);
    auto hammer = [&pool](int64_t& result) {
        for (int call = 0; call < 500; ++call) {
            std::atomic<int64_t> sum{0};
            pool.parallel_for(64, [&](int64_t b, int64_t e) {
                for (int64_t i = b; i < e; ++i) sum += i;
            });
            result += sum.load();
        }
    };
    int64_t a = 0, b = 0;
    std::thread other([&] { hammer(b); });
    hammer(a);
    other.join();
    EXPECT_EQ(a, 500 * 2016);
    EXPECT_EQ(b, 500 * 2016);
}

TEST(ThreadPool, ResizeAndGlobal) {
    ThreadPool pool(2);
    pool.resize(5);
    EXPECT_EQ(pool.n_threads(), 5);
    std::atomic<int> calls{0};
    pool.run_on_all([&](int, int) { ++calls; });
    EXPECT_EQ(calls.load(), 5);
    EXPECT_THROW(ThreadPool(-1), Error);

    ThreadPool::set_global_threads(3);
    ThreadPool& global = ThreadPool::global();
    EXPECT_EQ(global.n_threads(), 3);
    EXPECT_EQ(&global, &ThreadPool::global());
    calls = 0;
    global.run_on_all([&](int, int) { ++calls; });
    EXPECT_EQ(calls.load(), 3);
    ThreadPool::set_global_threads(0);  // back to the default
    EXPECT_EQ(ThreadPool::global().n_threads(), physical_core_count());
    EXPECT_EQ(&global, &ThreadPool::global());  // same object: references stay valid
}

void write_file(const std::filesystem::path& path, const std::string& text) {
    std::filesystem::create_directories(path.parent_path());
    std::ofstream(path) << text << "\n";
}

TEST(PhysicalCores, CountsDistinctPackageCorePairs) {
    test::ScratchDir dir;
    // cpu0 and cpu1 are hyper-threads of one core; cpu2 another core; cpu3 a core on package 1
    // with the same core_id as cpu0.
    const struct {
        int cpu, package, core;
    } layout[] = {{0, 0, 0}, {1, 0, 0}, {2, 0, 1}, {3, 1, 0}};
    for (const auto& l : layout) {
        const auto topology = dir.path() / ("cpu" + std::to_string(l.cpu)) / "topology";
        write_file(topology / "physical_package_id", std::to_string(l.package));
        write_file(topology / "core_id", std::to_string(l.core));
    }
    const std::vector<int> all = {0, 1, 2, 3}, siblings = {0, 1}, spread = {1, 3};
    EXPECT_EQ(count_physical_cores(dir.path(), all), 3);
    EXPECT_EQ(count_physical_cores(dir.path(), siblings), 1);
    EXPECT_EQ(count_physical_cores(dir.path(), spread), 2);
    const std::vector<int> missing = {0, 9};
    EXPECT_EQ(count_physical_cores(dir.path(), missing), 0);
}

TEST(PhysicalCores, DefaultPoolUsesThem) {
    const int cores = physical_core_count();
    EXPECT_GE(cores, 1);
    if (unsigned logical = std::thread::hardware_concurrency(); logical > 0) {
        EXPECT_LE(cores, static_cast<int>(logical));
    }
    ThreadPool pool;
    EXPECT_EQ(pool.n_threads(), cores);
}

// Dispatch latency of an empty task, printed for the record only: timings are never asserted
// (shared machines are noisy). A lost wake-up would still show as a hang, caught by ctest's
// timeout.
TEST(ThreadPool, DispatchLatency) {
    for (int threads : {2, 4}) {
        ThreadPool pool(threads);
        pool.run_on_all([](int, int) {});  // warm up
        constexpr int kCalls = 20000;
        const auto start = std::chrono::steady_clock::now();
        for (int i = 0; i < kCalls; ++i) pool.parallel_for(threads, [](int64_t, int64_t) {});
        const double hot_us =
            std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - start)
                .count() /
            kCalls;

        constexpr int kColdCalls = 50;
        double cold_total = 0.0;
        for (int i = 0; i < kColdCalls; ++i) {
            std::this_thread::sleep_for(std::chrono::milliseconds(1));
            const auto t0 = std::chrono::steady_clock::now();
            pool.run_on_all([](int, int) {});
            cold_total +=
                std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - t0)
                    .count();
        }
        std::printf(
            "[ latency  ] %d threads: %.2f us per call while spinning, %.1f us from sleep\n",
            threads, hot_us, cold_total / kColdCalls);
    }
}

}  // namespace
}  // namespace pocket
