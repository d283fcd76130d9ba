// The process's worker threads. Kernels split their rows over these threads; generation calls the
// pool thousands of times per second, so dispatch is built for latency and makes no allocation:
//
//  - A call publishes a non-owning reference to the task and bumps an epoch counter. Workers spin
//    on that counter for a short while (a forward pass calls again within microseconds), then sleep
//    on a condition variable so an idle process costs no CPU.
//  - The calling thread runs share 0 itself, then waits (spin, then sleep) for the others.
//  - Per-worker state sits on its own 64-byte cache line, so workers never share a written line.
//  - An exception thrown by any share is caught and rethrown in the caller after all shares ended.
//
// One pool is meant to exist: ThreadPool::global(), sized to the physical cores (hyper-threads
// share one core's execution units, so they add little to matrix-vector products and make the
// slowest share slower). Separate pools are possible, e.g. in tests.
#pragma once

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <exception>
#include <filesystem>
#include <memory>
#include <mutex>
#include <span>
#include <thread>
#include <type_traits>
#include <vector>

namespace pocket {

// Physical cores this process may run on: distinct (package, core) pairs among the CPUs in its
// affinity mask, read from sysfs; falls back to the number of usable logical CPUs, then to
// std::thread::hardware_concurrency(), then 1.
int physical_core_count();

// The sysfs part of physical_core_count(), for tests: distinct (physical_package_id, core_id)
// pairs of `cpus` under cpu_root (normally /sys/devices/system/cpu); 0 if any is unreadable.
int count_physical_cores(const std::filesystem::path& cpu_root, std::span<const int> cpus);

class ThreadPool {
  public:
    // n_threads counts the caller too: n_threads - 1 workers are started. 0 = physical cores.
    explicit ThreadPool(int n_threads = 0);
    ~ThreadPool();  // joins the workers
    ThreadPool(const ThreadPool&) = delete;
    ThreadPool& operator=(const ThreadPool&) = delete;

    int n_threads() const { return n_threads_; }

    // Stops the workers and starts n_threads - 1 new ones (0 = physical cores). Waits for a call in
    // progress on another thread to finish first.
    void resize(int n_threads);

    // Splits [0, n) into n_threads() contiguous chunks whose sizes differ by at most one and calls
    // fn(begin, end) once per non-empty chunk, chunk i on thread i (0 = the caller).
    template <typename Fn>
    void parallel_for(int64_t n, Fn&& fn) {
        if (n <= 0) return;
        if (runs_inline(n)) {
            fn(int64_t{0}, n);
            return;
        }
        auto share = [&fn, n, threads = n_threads_](int thread) {
            const Range r = even_share(n, threads, thread);
            if (r.begin < r.end) fn(r.begin, r.end);
        };
        run(TaskRef(share));
    }

    // Calls fn(thread_index, n_threads()) once on every thread of the pool (0 = the caller), e.g.
    // for work split by hand or per-thread scratch indexed by thread_index.
    // Throws pocket::Error when called from inside one of this pool's own tasks (the other
    // threads are busy, and per-thread scratch would be shared).
    template <typename Fn>
    void run_on_all(Fn&& fn) {
        if (on_own_worker()) throw_nested_run_on_all();
        if (n_threads_ == 1) {
            fn(0, 1);
            return;
        }
        const int threads = n_threads_;
        auto share = [&fn, threads](int thread) { fn(thread, threads); };
        run(TaskRef(share));
    }

    // Like parallel_for, but a share that finishes early helps the others: each thread takes its
    // own share front to back in pieces of at most a quarter of it, then takes the pieces left in
    // the other shares. A piece is at most half of what is left of its share, so pieces shrink as
    // a share runs out and a thread that takes the last of another's share leaves it little to
    // wait for. fn(begin, end) may run several times per thread, on contiguous pieces, and a
    // piece may run on any thread. For large row ranges (the matrix products): a thread slowed by
    // a busy sibling hyper-thread, another process or a slower core (hybrid CPUs) no longer holds
    // the others at the barrier, while each thread still streams mostly its own rows.
    template <typename Fn>
    void parallel_for_balanced(int64_t n, Fn&& fn) {
        if (n <= 0) return;
        if (runs_inline(n)) {
            fn(int64_t{0}, n);
            return;
        }
        const int threads = n_threads_;
        // The cursors are shared by every call: set them only while holding the pool.
        std::lock_guard run_lock(run_mutex_);
        for (int t = 0; t < threads; ++t) {
            const Range r = even_share(n, threads, t);
            cursors_[t].next.store(r.begin, std::memory_order_relaxed);
            cursors_[t].end = r.end;
        }
        const int64_t base = n / threads;
        const int64_t chunk = std::max<int64_t>(1, (base + kChunksPerShare - 1) / kChunksPerShare);
        auto share = [this, &fn, threads, chunk](int thread) {
            for (int64_t i = 0; i < threads; ++i) {
                Cursor& c = cursors_[(thread + i) % threads];
                int64_t begin = c.next.load(std::memory_order_relaxed);
                while (begin < c.end) {
                    const int64_t take = std::min(chunk, (c.end - begin + 1) / 2);
                    if (c.next.compare_exchange_weak(begin, begin + take,
                                                     std::memory_order_relaxed)) {
                        fn(begin, begin + take);
                        begin = c.next.load(std::memory_order_relaxed);
                    }
                }
            }
        };
        run_locked(TaskRef(share));  // publishing the task orders the cursors' stores first
    }

    // The process-wide pool, created on first use with physical_core_count() threads.
    static ThreadPool& global();
    // Resizes the global pool (creating it if needed). Meant for start-up (a --threads option);
    // buffers sized to n_threads() earlier do not follow.
    static void set_global_threads(int n_threads);

  private:
    // A non-owning, non-allocating reference to a callable void(int thread).
    class TaskRef {
      public:
        template <typename F>
        explicit TaskRef(F& f)
            : object_(&f),
              call_([](void* object, int thread) { (*static_cast<F*>(object))(thread); }) {}
        void operator()(int thread) const { call_(object_, thread); }

      private:
        void* object_;
        void (*call_)(void*, int);
    };

    struct Range {
        int64_t begin, end;
    };
    // Thread t's share of [0, n) split into `threads` contiguous ranges whose sizes differ by at
    // most one, the larger ones first.
    static Range even_share(int64_t n, int threads, int t) {
        const int64_t base = n / threads, extra = n % threads;
        const int64_t begin = t * base + std::min<int64_t>(t, extra);
        return {begin, begin + base + (t < extra ? 1 : 0)};
    }
    // A loop runs on the caller alone with one thread, one item, or when called from inside a
    // share (the pool is busy running the caller's own task).
    bool runs_inline(int64_t n) const { return n_threads_ == 1 || n == 1 || on_own_worker(); }

    // parallel_for_balanced's position in one thread's share, on its own cache line.
    struct alignas(64) Cursor {
        std::atomic<int64_t> next{0};
        int64_t end = 0;
    };
    static constexpr int64_t kChunksPerShare = 4;

    struct alignas(64) Worker {
        std::thread thread;
        std::exception_ptr error;
    };

    void start(int n_threads);
    void stop();
    void run(TaskRef task);         // takes run_mutex_, then run_locked()
    void run_locked(TaskRef task);  // the caller holds run_mutex_
    void worker_loop(int index, uint32_t seen_epoch);
    uint32_t wait_for_new_epoch(uint32_t seen);
    void publish_epoch();
    bool on_own_worker() const;
    [[noreturn]] static void throw_nested_run_on_all();

    int n_threads_ = 1;
    std::vector<Worker> workers_;        // index i runs share i + 1
    std::unique_ptr<Cursor[]> cursors_;  // n_threads_ of them, for parallel_for_balanced
    std::mutex run_mutex_;               // one call at a time, whoever calls

    // Written by the caller before each epoch bump, read by workers after they see it.
    const TaskRef* task_ = nullptr;
    bool stopping_ = false;
    std::exception_ptr caller_error_;

    alignas(64) std::atomic<uint32_t> epoch_{0};
    alignas(64) std::atomic<int> pending_{0};  // workers still running the current task
    alignas(64) std::atomic<int> sleeping_workers_{0};
    std::atomic<bool> caller_sleeping_{false};
    std::mutex sleep_mutex_;
    std::condition_variable wake_cv_;  // workers wait here for a new epoch
    std::condition_variable done_cv_;  // the caller waits here for pending_ == 0
};

}  // namespace pocket
