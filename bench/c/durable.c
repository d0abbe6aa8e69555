/*
 * The disk's own rate of durable saves, without iop and without Python: what bounds a
 * FileStore's saves on this machine, and what other layouts would reach.
 *
 *     make -C bench/c                       # or: cc -O2 -pthread bench/c/durable.c -o durable
 *     target/bench-c/release/durable MODE SELLERS THREADS [DIR]
 *
 * Modes (one save per seller, THREADS threads sharing the sellers):
 *   slots    one file of two 4 KiB slots per seller (FileStore's layout): open, read both
 *            slots, write one in place, fdatasync, close;
 *   table    every seller's two slots in one shared file: read, write one slot in place, then
 *            wait for an fdatasync of that file that started after the write (group commit:
 *            one thread syncs for every write made before its sync began);
 *   journal  append a 900-byte record to one file (O_APPEND), then the same group commit;
 *   syncfs   FileStore's layout, but the saves share syncs: close without fdatasync, then the
 *            same group commit with syncfs(2) (which syncs the whole file system) in its place.
 * The files are created and synced first (not timed). Prints saves/s, the number of syncs and
 * this process's CPU time during the saves. DIR (default: a new directory under /tmp, removed
 * afterwards) decides the file system measured.
 *
 * The Python scripts beside it (bench/python/durable_*.py) measure the same operations from 32
 * Python threads; their figures are bound by the interpreter's thread switching, 2-3x below
 * these.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define SLOT 4096
#define RECORD 900
#define MAX_THREADS 1024

enum mode { SLOTS, TABLE, JOURNAL, SYNCFS };

static enum mode mode;
static long sellers;
static long threads;
static char dir[4096];
static int shared_fd = -1;
static char slot[SLOT];

/* Group commit of shared_fd (the directory in syncfs mode). */
static pthread_mutex_t group_mutex = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t group_done = PTHREAD_COND_INITIALIZER;
static long group_written;
static long group_synced;
static long group_syncs;
static int group_syncing;

static void die(const char *what) {
    perror(what);
    exit(1);
}

static void path_of(char *out, size_t size, const char *name) {
    if ((size_t)snprintf(out, size, "%s/%s", dir, name) >= size) {
        fprintf(stderr, "path too long\n");
        exit(1);
    }
}

static void write_all_at(int fd, const char *data, size_t len, off_t at) {
    while (len > 0) {
        ssize_t n = pwrite(fd, data, len, at);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            die("pwrite");
        }
        data += n;
        len -= (size_t)n;
        at += n;
    }
}

/* Returns once a sync of shared_fd (fdatasync, or syncfs in syncfs mode) that started after this
 * caller's write has ended. */
static void group_sync(void) {
    pthread_mutex_lock(&group_mutex);
    long ticket = ++group_written;
    while (group_synced < ticket) {
        if (group_syncing) {
            pthread_cond_wait(&group_done, &group_mutex);
            continue;
        }
        group_syncing = 1;
        long upto = group_written;
        pthread_mutex_unlock(&group_mutex);
        if ((mode == SYNCFS ? syncfs(shared_fd) : fdatasync(shared_fd)) != 0)
            die("sync");
        pthread_mutex_lock(&group_mutex);
        group_syncing = 0;
        group_syncs++;
        if (upto > group_synced)
            group_synced = upto;
        pthread_cond_broadcast(&group_done);
    }
    pthread_mutex_unlock(&group_mutex);
}

static void *worker(void *arg) {
    long first = (long)arg;
    char both[2 * SLOT];
    char path[4200];
    char name[64];
    for (long i = first; i < sellers; i += threads) {
        switch (mode) {
        case SYNCFS:
        case SLOTS: {
            snprintf(name, sizeof name, "seller-%ld", i);
            path_of(path, sizeof path, name);
            int fd = open(path, O_RDWR | O_CLOEXEC);
            if (fd < 0)
                die("open");
            if (pread(fd, both, sizeof both, 0) < 0)
                die("pread");
            write_all_at(fd, slot, SLOT, SLOT);
            if (mode == SYNCFS) {
                close(fd);
                group_sync();
                break;
            }
            if (fdatasync(fd) != 0)
                die("fdatasync");
            close(fd);
            break;
        }
        case TABLE:
            if (pread(shared_fd, both, sizeof both, (off_t)i * 2 * SLOT) < 0)
                die("pread");
            write_all_at(shared_fd, slot, SLOT, (off_t)i * 2 * SLOT + SLOT);
            group_sync();
            break;
        case JOURNAL:
            if (write(shared_fd, slot, RECORD) != RECORD)
                die("write");
            group_sync();
            break;
        }
    }
    return NULL;
}

static void prepare(void) {
    static char zeros[2 * SLOT];
    char path[4200];
    char name[64];
    switch (mode) {
    case SYNCFS:
        shared_fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (shared_fd < 0)
            die("open directory");
        /* fall through */
    case SLOTS:
        for (long i = 0; i < sellers; i++) {
            snprintf(name, sizeof name, "seller-%ld", i);
            path_of(path, sizeof path, name);
            int fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
            if (fd < 0)
                die("create");
            write_all_at(fd, zeros, sizeof zeros, 0);
            close(fd);
        }
        break;
    case TABLE:
        path_of(path, sizeof path, "table");
        shared_fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
        if (shared_fd < 0)
            die("create");
        for (long i = 0; i < sellers; i++)
            write_all_at(shared_fd, zeros, sizeof zeros, (off_t)i * 2 * SLOT);
        break;
    case JOURNAL:
        path_of(path, sizeof path, "journal");
        shared_fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_APPEND | O_CLOEXEC, 0600);
        if (shared_fd < 0)
            die("create");
        break;
    }
    /* Everything created is on disk before the clock starts. */
    int dir_fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dir_fd < 0)
        die("open directory");
    if (syncfs(dir_fd) != 0)
        die("syncfs");
    close(dir_fd);
}

static void clean_up(int made_dir) {
    char path[4200];
    char name[64];
    if (shared_fd >= 0)
        close(shared_fd);
    if (!made_dir)
        return;
    for (long i = 0; i < sellers && (mode == SLOTS || mode == SYNCFS); i++) {
        snprintf(name, sizeof name, "seller-%ld", i);
        path_of(path, sizeof path, name);
        unlink(path);
    }
    if (mode == TABLE || mode == JOURNAL) {
        path_of(path, sizeof path, mode == TABLE ? "table" : "journal");
        unlink(path);
    }
    rmdir(dir);
}

static double seconds(struct timeval t) {
    return (double)t.tv_sec + (double)t.tv_usec / 1e6;
}

int main(int argc, char **argv) {
    if (argc < 4 || argc > 5) {
        fprintf(stderr, "usage: %s slots|table|journal|syncfs SELLERS THREADS [DIR]\n", argv[0]);
        return 2;
    }
    if (strcmp(argv[1], "slots") == 0)
        mode = SLOTS;
    else if (strcmp(argv[1], "table") == 0)
        mode = TABLE;
    else if (strcmp(argv[1], "journal") == 0)
        mode = JOURNAL;
    else if (strcmp(argv[1], "syncfs") == 0)
        mode = SYNCFS;
    else {
        fprintf(stderr, "unknown mode %s\n", argv[1]);
        return 2;
    }
    sellers = strtol(argv[2], NULL, 10);
    threads = strtol(argv[3], NULL, 10);
    if (sellers < 1 || threads < 1 || threads > MAX_THREADS) {
        fprintf(stderr, "SELLERS and THREADS (1-%d) must be positive\n", MAX_THREADS);
        return 2;
    }
    int made_dir = argc < 5;
    if (made_dir) {
        strcpy(dir, "/tmp/iop-durable-XXXXXX");
        if (!mkdtemp(dir))
            die("mkdtemp");
    } else {
        snprintf(dir, sizeof dir, "%s", argv[4]);
    }
    memset(slot, 'x', RECORD);
    prepare();

    pthread_t pool[MAX_THREADS];
    struct rusage before, after;
    struct timespec start, end;
    getrusage(RUSAGE_SELF, &before);
    clock_gettime(CLOCK_MONOTONIC, &start);
    for (long t = 0; t < threads; t++)
        if (pthread_create(&pool[t], NULL, worker, (void *)t) != 0)
            die("pthread_create");
    for (long t = 0; t < threads; t++)
        pthread_join(pool[t], NULL);
    clock_gettime(CLOCK_MONOTONIC, &end);
    getrusage(RUSAGE_SELF, &after);

    double wall = (double)(end.tv_sec - start.tv_sec) + (double)(end.tv_nsec - start.tv_nsec) / 1e9;
    printf("%-7s %ld sellers, %ld threads: %.0f saves/s (%.2f s), %ld syncs, CPU user %.2f s, "
           "system %.2f s\n",
           argv[1], sellers, threads, (double)sellers / wall, wall,
           mode == SLOTS ? sellers : group_syncs,
           seconds(after.ru_utime) - seconds(before.ru_utime),
           seconds(after.ru_stime) - seconds(before.ru_stime));
    clean_up(made_dir);
    return 0;
}
