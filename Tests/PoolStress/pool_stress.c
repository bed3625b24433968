// Stress test of the worker pool (Sources/CKernels/pool.c) for ThreadSanitizer, built and run by
// Scripts/tsan-pool.sh outside SwiftPM: three threads start steps at once (the pool runs them one
// after another), with pauses long enough for the workers to go to sleep and be woken again.
// Exits 1 unless every index of every step ran exactly once, each on a worker number of its own.
#include "ckernels.h"

#include <pthread.h>
#include <stdio.h>
#include <unistd.h>

enum { CALLERS = 3, STEPS = 3000, INDICES = 64, MAX_WORKERS = 4 };

// One step's record: how often each index ran, which worker numbers are in use right now, and
// how often a worker number was out of range or used by two threads at once.
typedef struct {
    long hits[INDICES];
    long busy[MAX_WORKERS];
    long clashes;
} step_record;

static void count_index(void *context, long index, long worker) {
    step_record *record = context;
    __atomic_fetch_add(&record->hits[index], 1, __ATOMIC_RELAXED);
    if (worker < 0 || worker >= MAX_WORKERS || __atomic_exchange_n(&record->busy[worker], 1, __ATOMIC_ACQ_REL)) {
        __atomic_fetch_add(&record->clashes, 1, __ATOMIC_RELAXED);
        return;
    }
    __atomic_store_n(&record->busy[worker], 0, __ATOMIC_RELEASE);
}

static void *caller(void *unused) {
    (void)unused;
    long wrong = 0;
    for (int step = 0; step < STEPS; step++) {
        step_record record = {{0}, {0}, 0};
        int workers = 2 + step % 3; // at most MAX_WORKERS
        bc_pool_run(INDICES, workers, count_index, &record);
        for (int i = 0; i < INDICES; i++) wrong += record.hits[i] != 1;
        wrong += record.clashes;
        if (step % 500 == 0) usleep(1000); // longer than the workers spin
    }
    return (void *)wrong;
}

int main(void) {
    pthread_t threads[CALLERS];
    for (int t = 0; t < CALLERS; t++) pthread_create(&threads[t], NULL, caller, NULL);
    long wrong = 0;
    for (int t = 0; t < CALLERS; t++) {
        void *result;
        pthread_join(threads[t], &result);
        wrong += (long)result;
    }
    printf("pool stress: %d callers x %d steps of %d indices, %ld indices not run exactly once or on a clashing worker\n",
           CALLERS, STEPS, INDICES, wrong);
    return wrong == 0 ? 0 : 1;
}
