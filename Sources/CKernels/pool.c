// A small pool of worker threads for the forward pass's parallel steps. A bert-base pass has about
// 130 of them, back to back. DispatchQueue.concurrentPerform took 50–90 µs to bring a second
// thread into each; waking a sleeping thread costs 0.3 ms on average on the 2-vCPU VM here.
// So the workers spin for a while after each step, since the next one usually follows at once,
// and only then sleep: a step then starts and ends in about 0.3 µs (Docs/performance.md).
#include "ckernels.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define CPU_RELAX() _mm_pause()
#else
#define CPU_RELAX() ((void)0)
#endif

// Spinning longer than this before sleeping would only burn a core another process could use.
enum { SPIN_NANOSECONDS = 200 * 1000, MAX_THREADS = 255, STEP = 1024 };

// Set on the pool's threads and on a caller during its step: a step started from inside one
// runs on the calling thread alone (the pool is busy with the outer step).
static _Thread_local int inside_step;

static struct {
    pthread_mutex_t caller;          // one step at a time (callers on other threads wait here)
    pthread_mutex_t lock;            // guards sleeping on `wake` / `done`
    pthread_cond_t wake, done;
    long threads;                    // workers started (the caller is not one of them)
    // Bumped to start a step: the step number times 1024, plus how many threads take part
    // (the caller and workers 1 ... participants − 1), so a worker reads both at once.
    _Atomic long generation;
    _Atomic long next;               // the next unclaimed index of the step
    _Atomic long running;            // workers still inside the step
    long count;                      // the step's indices
    bc_pool_task task;
    void *context;
} pool = {.caller = PTHREAD_MUTEX_INITIALIZER, .lock = PTHREAD_MUTEX_INITIALIZER, .wake = PTHREAD_COND_INITIALIZER,
          .done = PTHREAD_COND_INITIALIZER};

static long now_ns(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (long)t.tv_sec * 1000000000L + t.tv_nsec;
}

// Claims and runs indices of the current step until none are left, as thread `worker`.
static void run_indices(long worker) {
    for (;;) {
        long i = atomic_fetch_add_explicit(&pool.next, 1, memory_order_relaxed);
        if (i >= pool.count) return;
        pool.task(pool.context, i, worker);
    }
}

// What a worker starts from: its index (1 ... threads; 0 is the caller) and the generation when
// it was created (the step that created it comes after).
typedef struct {
    long index, seen;
} worker_start;

static void *worker_main(void *argument) {
    worker_start start = *(worker_start *)argument;
    free(argument);
    long index = start.index, seen = start.seen;
    inside_step = 1;
    for (;;) {
        long generation = atomic_load_explicit(&pool.generation, memory_order_acquire);
        if (generation == seen) {
            long deadline = now_ns() + SPIN_NANOSECONDS;
            for (int polls = 0; (generation = atomic_load_explicit(&pool.generation, memory_order_acquire)) == seen; polls++) {
                CPU_RELAX();
                if ((polls & 255) == 255 && now_ns() > deadline) {
                    pthread_mutex_lock(&pool.lock);
                    while ((generation = atomic_load_explicit(&pool.generation, memory_order_acquire)) == seen)
                        pthread_cond_wait(&pool.wake, &pool.lock);
                    pthread_mutex_unlock(&pool.lock);
                    break;
                }
            }
        }
        seen = generation;
        if (index >= generation % STEP) continue;
        run_indices(index);
        if (atomic_fetch_sub_explicit(&pool.running, 1, memory_order_acq_rel) == 1) {
            pthread_mutex_lock(&pool.lock);
            pthread_cond_signal(&pool.done);
            pthread_mutex_unlock(&pool.lock);
        }
    }
    return NULL;
}

void bc_pool_run(long count, long workers, bc_pool_task task, void *context) {
    if (count <= 0) return;
    if (workers > count) workers = count;
    // More threads than cores would only take turns (and spin while waiting for each other).
    static _Atomic long cores = 0; // sysconf reads a file each time: once is enough
    if (atomic_load_explicit(&cores, memory_order_relaxed) == 0)
        atomic_store_explicit(&cores, sysconf(_SC_NPROCESSORS_ONLN), memory_order_relaxed);
    long online = atomic_load_explicit(&cores, memory_order_relaxed);
    if (online >= 1 && workers > online) workers = online;
    if (workers > MAX_THREADS + 1) workers = MAX_THREADS + 1;
    if (workers <= 1 || inside_step) {
        for (long i = 0; i < count; i++) task(context, i, 0);
        return;
    }
    pthread_mutex_lock(&pool.caller);
    while (pool.threads < workers - 1) {
        worker_start *start = malloc(sizeof *start);
        if (!start) break;
        *start = (worker_start){pool.threads + 1, atomic_load_explicit(&pool.generation, memory_order_relaxed)};
        pthread_t thread;
        pthread_attr_t attributes;
        pthread_attr_init(&attributes);
        pthread_attr_setdetachstate(&attributes, PTHREAD_CREATE_DETACHED);
        int failed = pthread_create(&thread, &attributes, worker_main, start);
        pthread_attr_destroy(&attributes);
        if (failed) {
            free(start);
            break;
        }
        pool.threads++;
    }
    if (workers > pool.threads + 1) workers = pool.threads + 1;
    pool.task = task;
    pool.context = context;
    pool.count = count;
    atomic_store_explicit(&pool.next, 0, memory_order_relaxed);
    atomic_store_explicit(&pool.running, workers - 1, memory_order_relaxed);
    pthread_mutex_lock(&pool.lock);
    long step = atomic_load_explicit(&pool.generation, memory_order_relaxed) / STEP + 1;
    atomic_store_explicit(&pool.generation, step * STEP + workers, memory_order_release);
    pthread_cond_broadcast(&pool.wake);
    pthread_mutex_unlock(&pool.lock);
    inside_step = 1;
    run_indices(0);
    inside_step = 0;
    // Wait for the workers: spin while they are likely to finish soon, then sleep.
    long deadline = now_ns() + SPIN_NANOSECONDS;
    for (int polls = 0; atomic_load_explicit(&pool.running, memory_order_acquire) > 0; polls++) {
        CPU_RELAX();
        if ((polls & 255) == 255 && now_ns() > deadline) {
            pthread_mutex_lock(&pool.lock);
            while (atomic_load_explicit(&pool.running, memory_order_acquire) > 0) pthread_cond_wait(&pool.done, &pool.lock);
            pthread_mutex_unlock(&pool.lock);
            break;
        }
    }
    pthread_mutex_unlock(&pool.caller);
}

long bc_fetch_add(long *counter, long value) {
    return __atomic_fetch_add(counter, value, __ATOMIC_RELAXED);
}
