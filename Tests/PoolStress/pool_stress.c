// Stress test of the worker pool (Sources/CKernels/pool.c) for ThreadSanitizer, built and run by
// Scripts/tsan-pool.sh outside SwiftPM: three threads start steps at once (the pool runs them one
// after another), with pauses long enough for the workers to go to sleep and be woken again.
// Exits 1 unless every index of every step ran exactly once.
#include "ckernels.h"

#include <pthread.h>
#include <stdio.h>
#include <unistd.h>

enum { CALLERS = 3, STEPS = 3000, INDICES = 64 };

static void count_index(void *context, long index) {
    long *hits = context;
    __atomic_fetch_add(&hits[index], 1, __ATOMIC_RELAXED);
}

static void *caller(void *unused) {
    (void)unused;
    long wrong = 0, hits[INDICES];
    for (int step = 0; step < STEPS; step++) {
        for (int i = 0; i < INDICES; i++) hits[i] = 0;
        bc_pool_run(INDICES, 2 + step % 3, count_index, hits);
        for (int i = 0; i < INDICES; i++) wrong += hits[i] != 1;
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
    printf("pool stress: %d callers x %d steps of %d indices, %ld indices not run exactly once\n", CALLERS, STEPS,
           INDICES, wrong);
    return wrong == 0 ? 0 : 1;
}
