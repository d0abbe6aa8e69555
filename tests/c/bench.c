/* Refresh round trips per second from C over loopback against a spawned iop-emulator, with 1
 * and 8 threads sharing one client. Each thread chains its own refresh tokens (rotation on).
 * Usage: IOP_EMULATOR=target/release/iop-emulator bench [refreshes-per-run]  (default 4000). */
#define _POSIX_C_SOURCE 200809L
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "emu.h"
#include "iop.h"

typedef struct job {
    const iop_client *client;
    const emu *e;
    int index;
    int refreshes;
    int ok;
    pthread_barrier_t *start;
} job;

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void *run(void *arg) {
    job *j = arg;
    char seller[32];
    char code[256];
    iop_token *t = NULL;
    int i;
    snprintf(seller, sizeof seller, "bench-%d", j->index);
    j->ok = 0;
    if (emu_authorize(j->e, seller, code, sizeof code) != 0 ||
        iop_client_create_token(j->client, code, &t, NULL) != IOP_RESULT_OK) {
        t = NULL;
    }
    pthread_barrier_wait(j->start);
    if (t == NULL) {
        return NULL;
    }
    for (i = 0; i < j->refreshes; i++) {
        iop_token *next = NULL;
        if (iop_client_refresh_token(j->client, iop_token_refresh_token(t), &next, NULL) !=
            IOP_RESULT_OK) {
            break;
        }
        iop_token_free(t);
        t = next;
    }
    j->ok = i == j->refreshes;
    iop_token_free(t);
    return NULL;
}

static int bench(const iop_client *c, const emu *e, int threads, int total, int round) {
    pthread_t ids[64];
    job jobs[64];
    pthread_barrier_t start;
    double begin;
    double elapsed;
    int i;
    int ok = 1;
    pthread_barrier_init(&start, NULL, (unsigned)threads + 1);
    for (i = 0; i < threads; i++) {
        jobs[i].client = c;
        jobs[i].e = e;
        jobs[i].index = round * 100 + i;
        jobs[i].refreshes = total / threads;
        jobs[i].start = &start;
        pthread_create(&ids[i], NULL, run, &jobs[i]);
    }
    pthread_barrier_wait(&start);
    begin = now_s();
    for (i = 0; i < threads; i++) {
        pthread_join(ids[i], NULL);
        ok = ok && jobs[i].ok;
    }
    elapsed = now_s() - begin;
    pthread_barrier_destroy(&start);
    printf("%d thread%s: %d refreshes in %.3f s = %.0f refreshes/s (%.1f us each per thread)%s\n",
           threads, threads == 1 ? " " : "s", (total / threads) * threads, elapsed,
           (double)((total / threads) * threads) / elapsed,
           elapsed * 1e6 / (double)(total / threads), ok ? "" : "  [FAILURES]");
    return ok;
}

int main(int argc, char **argv) {
    const char *emulator = getenv("IOP_EMULATOR");
    int total = argc > 1 ? atoi(argv[1]) : 4000;
    const char *extra[] = {"--threads", "8", NULL};
    emu e;
    iop_client *c = NULL;
    int ok;
    if (emulator == NULL || total <= 0 || emu_start(&e, emulator, "bench-key", "bench-secret",
                                                    extra) != 0) {
        fprintf(stderr, "set IOP_EMULATOR to an iop-emulator binary\n");
        return 2;
    }
    if (iop_client_new(e.url, "bench-key", "bench-secret", &c, NULL) != IOP_RESULT_OK) {
        emu_stop(&e);
        return 2;
    }
    printf("libiop %s, emulator %s\n", iop_version(), e.url);
    bench(c, &e, 1, total / 10, 0); /* warm-up */
    ok = bench(c, &e, 1, total, 1);
    ok = bench(c, &e, 8, total, 2) && ok;
    iop_client_free(c);
    emu_stop(&e);
    return ok ? 0 : 1;
}
