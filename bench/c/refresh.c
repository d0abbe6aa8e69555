/*
 * Refresh round trips from C through libiop, against an iop-emulator running in another
 * process: for each thread count, refreshes per second, wall time per refresh for one thread,
 * and this process's CPU time per refresh (the client's own cost). The threads share one
 * iop_client; each authorizes a seller of its own through the emulator's control API and
 * chains its refresh tokens.
 *
 *     cargo build --release -p iop-ffi -p iop-emulator && make -C bench/c
 *     target/release/iop-emulator --no-rotate &                # prints its URL
 *     target/bench-c/release/refresh URL [REFRESHES] [THREADS...] [--json]
 *
 * REFRESHES (default 4000) are split between the threads of a run; THREADS default to 1 and 8.
 * The app key and secret come from IOP_APP_KEY and IOP_APP_SECRET (default: the emulator's own
 * defaults), never from the command line. --json prints one JSON object per run.
 */
#define _POSIX_C_SOURCE 200809L
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "emu.h"
#include "iop.h"

#define MAX_THREADS 64

typedef struct job {
    const iop_client *client;
    const emu *e;
    char seller[32];
    int refreshes;
    int ok;
    pthread_barrier_t *start;
} job;

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* User and system CPU time of this process (every thread), seconds. */
static double cpu_s(void) {
    struct rusage r;
    if (getrusage(RUSAGE_SELF, &r) != 0) {
        return 0.0;
    }
    return (double)r.ru_utime.tv_sec + (double)r.ru_utime.tv_usec / 1e6 +
           (double)r.ru_stime.tv_sec + (double)r.ru_stime.tv_usec / 1e6;
}

/* A token for the job's seller, then a warm-up, then the timed refreshes (after the barrier). */
static void *run(void *arg) {
    job *j = arg;
    char code[256];
    iop_token *t = NULL;
    int i;
    j->ok = 0;
    if (emu_authorize(j->e, j->seller, code, sizeof code) != 0 ||
        iop_client_create_token(j->client, code, &t, NULL) != IOP_RESULT_OK) {
        t = NULL;
    }
    for (i = 0; t != NULL && i < 20; i++) {
        iop_token *next = NULL;
        if (iop_client_refresh_token(j->client, iop_token_refresh_token(t), &next, NULL) !=
            IOP_RESULT_OK) {
            next = NULL;
        }
        iop_token_free(t);
        t = next;
    }
    /* Reached whatever happened, so the main thread never waits forever. */
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

static int bench(const iop_client *c, const emu *e, int threads, int total, int json) {
    static int round = 0;
    pthread_t ids[MAX_THREADS];
    job jobs[MAX_THREADS];
    pthread_barrier_t start;
    double begin, elapsed, cpu;
    int per_thread = total / threads > 0 ? total / threads : 1;
    int refreshes = per_thread * threads;
    int i;
    int ok = 1;
    round++;
    pthread_barrier_init(&start, NULL, (unsigned)threads + 1);
    for (i = 0; i < threads; i++) {
        jobs[i].client = c;
        jobs[i].e = e;
        snprintf(jobs[i].seller, sizeof jobs[i].seller, "c-bench-%d-%d", round, i);
        jobs[i].refreshes = per_thread;
        jobs[i].start = &start;
        pthread_create(&ids[i], NULL, run, &jobs[i]);
    }
    pthread_barrier_wait(&start);
    begin = now_s();
    cpu = cpu_s();
    for (i = 0; i < threads; i++) {
        pthread_join(ids[i], NULL);
        ok = ok && jobs[i].ok;
    }
    elapsed = now_s() - begin;
    cpu = cpu_s() - cpu;
    pthread_barrier_destroy(&start);
    if (!ok) {
        fprintf(stderr, "%d threads: a refresh failed\n", threads);
        return 0;
    }
    if (json) {
        printf("{\"threads\": %d, \"refreshes\": %d, \"wall_s\": %.6f, \"per_s\": %.1f, "
               "\"cpu_us_per_refresh\": %.2f}\n",
               threads, refreshes, elapsed, (double)refreshes / elapsed,
               cpu * 1e6 / (double)refreshes);
    } else {
        printf("| %d | %d | %.3f | %.0f | %.1f | %.1f |\n", threads, refreshes, elapsed,
               (double)refreshes / elapsed, elapsed * 1e6 / (double)per_thread,
               cpu * 1e6 / (double)refreshes);
    }
    return 1;
}

int main(int argc, char **argv) {
    const char *key = getenv("IOP_APP_KEY");
    const char *secret = getenv("IOP_APP_SECRET");
    int total = 4000;
    int threads[MAX_THREADS];
    int n_threads = 0;
    int json = 0;
    int positional = 0;
    int i;
    int ok = 1;
    const char *colon;
    emu e;
    iop_client *c = NULL;

    if (argc < 2 || strncmp(argv[1], "http://127.0.0.1:", 17) != 0) {
        fprintf(stderr, "usage: refresh http://127.0.0.1:PORT [REFRESHES] [THREADS...] [--json]\n");
        return 2;
    }
    for (i = 2; i < argc; i++) {
        if (strcmp(argv[i], "--json") == 0) {
            json = 1;
        } else if (positional++ == 0) {
            total = atoi(argv[i]);
        } else if (n_threads < MAX_THREADS) {
            threads[n_threads++] = atoi(argv[i]);
        }
    }
    if (n_threads == 0) {
        threads[n_threads++] = 1;
        threads[n_threads++] = 8;
    }
    for (i = 0; i < n_threads; i++) {
        if (threads[i] <= 0 || threads[i] > MAX_THREADS) {
            fprintf(stderr, "thread counts go from 1 to %d\n", MAX_THREADS);
            return 2;
        }
    }
    if (total <= 0) {
        fprintf(stderr, "REFRESHES must be greater than 0\n");
        return 2;
    }

    /* The emulator runs elsewhere: only its port is needed for the control API. */
    memset(&e, 0, sizeof e);
    snprintf(e.url, sizeof e.url, "%s", argv[1]);
    colon = strrchr(e.url, ':');
    e.port = atoi(colon + 1);
    if (iop_client_new(e.url, key ? key : "test-app-key", secret ? secret : "test-app-secret",
                       &c, NULL) != IOP_RESULT_OK) {
        fprintf(stderr, "iop_client_new failed\n");
        return 2;
    }
    if (!json) {
        printf("libiop %s against the emulator at %s, one shared iop_client\n\n", iop_version(),
               e.url);
        printf("| threads | refreshes | wall s | refreshes/s | wall per refresh per thread us | "
               "CPU per refresh us |\n|---:|---:|---:|---:|---:|---:|\n");
    }
    for (i = 0; i < n_threads; i++) {
        ok = bench(c, &e, threads[i], total, json) && ok;
    }
    iop_client_free(c);
    return ok ? 0 : 1;
}
