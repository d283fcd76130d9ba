#include "pocket/core/thread_pool.h"

#include <sched.h>

#include <chrono>
#include <fstream>
#include <set>
#include <string>
#include <utility>

#include "pocket/core/error.h"

namespace pocket {
namespace {

// How long a waiting thread spins before it sleeps. Inside a forward pass the next call comes
// within microseconds, and waking a sleeping thread costs tens of microseconds, so spinning for a
// while pays; beyond that the waiter would only burn a core another process could use.
constexpr auto kSpinTime = std::chrono::microseconds(200);
// Clock reads are not free: look at the clock once per this many pause instructions.
constexpr int kSpinsPerClockCheck = 64;

inline void cpu_relax() {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    asm volatile("yield");
#endif
}

// Spins until done() or kSpinTime passed; returns done()'s last value.
template <typename Done>
bool spin_until(Done done) {
    const auto deadline = std::chrono::steady_clock::now() + kSpinTime;
    for (;;) {
        for (int i = 0; i < kSpinsPerClockCheck; ++i) {
            if (done()) return true;
            cpu_relax();
        }
        if (std::chrono::steady_clock::now() >= deadline) return done();
        // With more threads than free cores (a busy machine, or an oversubscribed pool) the thread
        // we wait for may need our core: give it up briefly instead of burning our time slice.
        std::this_thread::yield();
    }
}

// The pool whose task the current thread is running (workers: always their own pool).
thread_local const ThreadPool* t_running_pool = nullptr;

struct RunningPoolScope {
    explicit RunningPoolScope(const ThreadPool* pool) : previous(t_running_pool) {
        t_running_pool = pool;
    }
    ~RunningPoolScope() { t_running_pool = previous; }
    const ThreadPool* previous;
};

bool read_int(const std::filesystem::path& path, int& value) {
    std::ifstream in(path);
    return static_cast<bool>(in >> value);
}

std::vector<int> allowed_cpus() {
    std::vector<int> cpus;
    cpu_set_t set;
    CPU_ZERO(&set);
    if (sched_getaffinity(0, sizeof(set), &set) == 0) {
        for (int cpu = 0; cpu < CPU_SETSIZE; ++cpu) {
            if (CPU_ISSET(cpu, &set)) cpus.push_back(cpu);
        }
    }
    return cpus;
}

std::mutex g_global_mutex;
std::unique_ptr<ThreadPool> g_global_pool;
std::atomic<ThreadPool*> g_global_fast{nullptr};

}  // namespace

int count_physical_cores(const std::filesystem::path& cpu_root, std::span<const int> cpus) {
    std::set<std::pair<int, int>> cores;
    for (int cpu : cpus) {
        const auto topology = cpu_root / ("cpu" + std::to_string(cpu)) / "topology";
        int package = 0, core = 0;
        if (!read_int(topology / "physical_package_id", package)) return 0;
        if (!read_int(topology / "core_id", core)) return 0;
        cores.emplace(package, core);
    }
    return static_cast<int>(cores.size());
}

int physical_core_count() {
    const std::vector<int> cpus = allowed_cpus();
    if (int n = count_physical_cores("/sys/devices/system/cpu", cpus); n > 0) return n;
    if (!cpus.empty()) return static_cast<int>(cpus.size());
    if (unsigned n = std::thread::hardware_concurrency(); n > 0) return static_cast<int>(n);
    return 1;
}

ThreadPool::ThreadPool(int n_threads) {
    start(n_threads);
}

ThreadPool::~ThreadPool() {
    std::lock_guard lock(run_mutex_);
    stop();
}

void ThreadPool::resize(int n_threads) {
    if (on_own_worker()) fail("ThreadPool: resize() called from inside one of its own tasks");
    std::lock_guard lock(run_mutex_);
    stop();
    start(n_threads);
}

void ThreadPool::start(int n_threads) {
    if (n_threads < 0)
        fail("ThreadPool: thread count must be >= 0 (0 = physical cores), got ", n_threads);
    n_threads_ = n_threads == 0 ? physical_core_count() : n_threads;
    stopping_ = false;
    workers_ = std::vector<Worker>(static_cast<size_t>(n_threads_ - 1));
    cursors_ = std::make_unique<Cursor[]>(static_cast<size_t>(n_threads_));
    const uint32_t epoch = epoch_.load(std::memory_order_relaxed);
    for (size_t i = 0; i < workers_.size(); ++i) {
        workers_[i].thread =
            std::thread([this, i, epoch] { worker_loop(static_cast<int>(i) + 1, epoch); });
    }
}

void ThreadPool::stop() {
    stopping_ = true;
    publish_epoch();
    for (Worker& w : workers_) w.thread.join();
    workers_.clear();
}

bool ThreadPool::on_own_worker() const {
    return t_running_pool == this;
}

void ThreadPool::throw_nested_run_on_all() {
    fail("ThreadPool: run_on_all() called from inside one of the same pool's tasks");
}

// Makes the new epoch visible and wakes sleeping workers. The seq_cst increment followed by the
// seq_cst read of sleeping_workers_ pairs with the worker's increment-then-check in
// wait_for_new_epoch(): either the worker sees the new epoch, or we see it asleep and notify.
void ThreadPool::publish_epoch() {
    epoch_.fetch_add(1, std::memory_order_seq_cst);
    if (sleeping_workers_.load(std::memory_order_seq_cst) > 0) {
        // Taking the mutex orders us after a worker that is between its check and its wait.
        { std::lock_guard lock(sleep_mutex_); }
        wake_cv_.notify_all();
    }
}

uint32_t ThreadPool::wait_for_new_epoch(uint32_t seen) {
    uint32_t now = seen;
    auto changed = [&] {
        now = epoch_.load(std::memory_order_acquire);
        return now != seen;
    };
    if (spin_until(changed)) return now;
    std::unique_lock lock(sleep_mutex_);
    sleeping_workers_.fetch_add(1, std::memory_order_seq_cst);
    wake_cv_.wait(lock, [&] { return epoch_.load(std::memory_order_seq_cst) != seen; });
    sleeping_workers_.fetch_sub(1, std::memory_order_relaxed);
    return epoch_.load(std::memory_order_acquire);
}

void ThreadPool::worker_loop(int index, uint32_t seen_epoch) {
    t_running_pool = this;
    Worker& self = workers_[static_cast<size_t>(index - 1)];
    for (;;) {
        seen_epoch = wait_for_new_epoch(seen_epoch);
        if (stopping_) return;
        try {
            (*task_)(index);
        } catch (...) {
            self.error = std::current_exception();
        }
        // The last worker to finish wakes the caller if it went to sleep (same pairing as
        // publish_epoch(), with pending_ and caller_sleeping_).
        if (pending_.fetch_sub(1, std::memory_order_seq_cst) == 1 &&
            caller_sleeping_.load(std::memory_order_seq_cst)) {
            { std::lock_guard lock(sleep_mutex_); }
            done_cv_.notify_one();
        }
    }
}

void ThreadPool::run(TaskRef task) {
    std::lock_guard run_lock(run_mutex_);
    run_locked(task);
}

void ThreadPool::run_locked(TaskRef task) {
    RunningPoolScope scope(this);

    task_ = &task;
    pending_.store(static_cast<int>(workers_.size()), std::memory_order_relaxed);
    publish_epoch();

    try {
        task(0);
    } catch (...) {
        caller_error_ = std::current_exception();
    }

    auto all_done = [&] { return pending_.load(std::memory_order_acquire) == 0; };
    if (!spin_until(all_done)) {
        std::unique_lock lock(sleep_mutex_);
        caller_sleeping_.store(true, std::memory_order_seq_cst);
        done_cv_.wait(lock, [&] { return pending_.load(std::memory_order_seq_cst) == 0; });
        caller_sleeping_.store(false, std::memory_order_relaxed);
    }
    task_ = nullptr;

    // Rethrow the first failure (the caller's share first, then by thread index); drop the rest.
    std::exception_ptr error = std::exchange(caller_error_, nullptr);
    for (Worker& w : workers_) {
        if (w.error && !error) error = w.error;
        w.error = nullptr;
    }
    if (error) std::rethrow_exception(error);
}

ThreadPool& ThreadPool::global() {
    if (ThreadPool* pool = g_global_fast.load(std::memory_order_acquire)) return *pool;
    std::lock_guard lock(g_global_mutex);
    if (!g_global_pool) {
        g_global_pool = std::make_unique<ThreadPool>(0);
        g_global_fast.store(g_global_pool.get(), std::memory_order_release);
    }
    return *g_global_pool;
}

void ThreadPool::set_global_threads(int n_threads) {
    std::lock_guard lock(g_global_mutex);
    if (!g_global_pool) {
        g_global_pool = std::make_unique<ThreadPool>(n_threads);
        g_global_fast.store(g_global_pool.get(), std::memory_order_release);
    } else {
        g_global_pool->resize(n_threads);
    }
}

}  // namespace pocket
