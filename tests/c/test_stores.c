/* The store argument of iop_manager_new / iop_manager_open: memory:, a directory, bad URLs,
 * and real Redis and PostgreSQL servers. Run under scripts/with-servers, which exports
 * IOP_TEST_REDIS_URL and IOP_TEST_POSTGRES_URL: without them the server tests FAIL (nothing is
 * skipped). Spawns its own iop-emulator ($IOP_EMULATOR or argv[1]). */
#define _POSIX_C_SOURCE 200809L
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "check.h"
#include "emu.h"
#include "iop.h"

#define APP_KEY "c-store-key"
#define APP_SECRET "c-store-secret"
#define DAY_MS (24LL * 3600 * 1000)
#define THREADS 8
/* A password written into URLs that must never come back in a message. */
#define PASSWORD "hunter2-never-shown"

static emu EMU;
static int64_t START_MS;

static int SENTINEL_OBJECT;
#define SENTINEL ((void *)&SENTINEL_OBJECT)

static int64_t now_ms(void) { return check_now_ms(); }

static iop_client *new_client(void) {
    iop_client *c = NULL;
    CHECK_RESULT(iop_client_new(EMU.url, APP_KEY, APP_SECRET, &c, NULL), IOP_RESULT_OK);
    return c;
}

/* A fresh token for `seller`, through the emulator's authorize and /auth/token/create. */
static iop_token *new_token(const iop_client *c, const char *seller) {
    return check_new_token(&EMU, c, seller);
}

/* `t` with an access token expiring in an hour: due within a 1-day margin. */
static iop_token *due_copy(const iop_token *t) {
    char json[2048];
    iop_token *due = NULL;
    snprintf(json, sizeof json,
             "{\"access_token\":\"%s\",\"refresh_token\":\"%s\",\"expire_time\":%lld,"
             "\"refresh_token_valid_time\":%lld,\"seller_id\":\"%s\",\"code\":\"0\"}",
             iop_token_access_token(t), iop_token_refresh_token(t),
             (long long)(now_ms() + 3600 * 1000), (long long)iop_token_refresh_expires_at_ms(t),
             iop_token_seller_id(t));
    CHECK_RESULT(iop_token_from_json(json, &due, NULL), IOP_RESULT_OK);
    return due;
}

/* iop_manager_open expected to fail with IOP_RESULT_STORE: the message must hold `needle`
 * (when not NULL) and never PASSWORD; *out stays untouched. With `also_new`, iop_manager_new
 * too. */
static void check_open_fails(const iop_client *c, const char *store, const char *needle,
                             bool also_new) {
    iop_manager *m = SENTINEL;
    iop_error *err = NULL;
    const char *message;
    CHECK_RESULT(iop_manager_open(c, store, -1, &m, &err), IOP_RESULT_STORE);
    CHECK(m == SENTINEL);
    CHECK(err != NULL && iop_error_result(err) == IOP_RESULT_STORE);
    message = err != NULL ? iop_error_message(err) : NULL;
    CHECK(message != NULL && strstr(message, PASSWORD) == NULL);
    if (needle != NULL && (message == NULL || strstr(message, needle) == NULL)) {
        fprintf(stderr, "  %s: message %s lacks \"%s\"\n", store, message ? message : "(none)",
                needle);
        CHECK(!"the message names what failed");
    }
    iop_error_free(err);
    if (also_new) {
        /* The same through iop_manager_new, err NULL. */
        CHECK_RESULT(iop_manager_new(c, store, -1, &m, NULL), IOP_RESULT_STORE);
        CHECK(m == SENTINEL);
    }
}

/* A TCP port on loopback that nothing listens on: bound by the kernel's choice, then closed. */
static int closed_port(void) {
    struct sockaddr_in addr;
    socklen_t len = sizeof addr;
    int port = 0;
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    memset(&addr, 0, sizeof addr);
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd >= 0 && bind(fd, (struct sockaddr *)&addr, sizeof addr) == 0 &&
        getsockname(fd, (struct sockaddr *)&addr, &len) == 0) {
        port = ntohs(addr.sin_port);
    }
    if (fd >= 0) {
        close(fd);
    }
    CHECK(port != 0);
    return port;
}

/* ---- memory:, directories, bad URLs ------------------------------------------------------ */

static void test_local_stores(void) {
    iop_client *c = new_client();
    iop_token *t = new_token(c, "local-seller");
    iop_manager *m = NULL;
    iop_token *got = NULL;
    iop_error *err = NULL;
    char url[256];
    char dir[] = "/tmp/iop-c-stores-XXXXXX";
    char file_url[64];
    if (t == NULL) {
        iop_client_free(c);
        return;
    }

    /* memory: and NULL are both this process's memory. */
    CHECK_RESULT(iop_manager_open(c, "memory:", DAY_MS, &m, &err), IOP_RESULT_OK);
    CHECK(err == NULL);
    CHECK_RESULT(iop_manager_put(m, "s", t, NULL), IOP_RESULT_OK);
    CHECK_RESULT(iop_manager_get(m, "s", &got, NULL), IOP_RESULT_OK);
    CHECK(got != NULL && strcmp(iop_token_seller_id(got), "local-seller") == 0);
    iop_token_free(got);
    got = NULL;
    iop_manager_free(m);
    m = NULL;
    CHECK_RESULT(iop_manager_open(c, NULL, DAY_MS, &m, NULL), IOP_RESULT_OK);
    iop_manager_free(m);
    m = NULL;

    /* A directory path, then the same directory as file:PATH: one store. */
    CHECK(mkdtemp(dir) != NULL);
    CHECK_RESULT(iop_manager_open(c, dir, DAY_MS, &m, &err), IOP_RESULT_OK);
    CHECK_RESULT(iop_manager_put(m, "s", t, NULL), IOP_RESULT_OK);
    iop_manager_free(m);
    m = NULL;
    snprintf(file_url, sizeof file_url, "file:%s", dir);
    CHECK_RESULT(iop_manager_new(c, file_url, DAY_MS, &m, NULL), IOP_RESULT_OK);
    CHECK_RESULT(iop_manager_get(m, "s", &got, NULL), IOP_RESULT_OK);
    CHECK(got != NULL && strcmp(iop_token_access_token(got), iop_token_access_token(t)) == 0);
    iop_token_free(got);
    got = NULL;
    {
        bool removed = false;
        CHECK_RESULT(iop_manager_remove(m, "s", &removed, NULL), IOP_RESULT_OK);
        CHECK(removed);
    }
    iop_manager_free(m);
    m = NULL;
    rmdir(dir);

    /* Arguments. */
    CHECK_RESULT(iop_manager_open(NULL, "memory:", -1, &m, NULL), IOP_RESULT_NULL_ARGUMENT);
    CHECK_RESULT(iop_manager_open(c, "memory:", -1, NULL, &err), IOP_RESULT_NULL_ARGUMENT);
    CHECK(err != NULL && strstr(iop_error_message(err), "out") != NULL);
    iop_error_free(err);
    err = NULL;
    CHECK_RESULT(iop_manager_open(c, "redis://\xff", -1, &m, NULL), IOP_RESULT_INVALID_UTF8);
    CHECK(m == NULL);

    /* Bad URLs: a clear IOP_RESULT_STORE, never the password. */
    check_open_fails(c, "", "empty", true);
    check_open_fails(c, "mysql://root:" PASSWORD "@db/x", "scheme", true);
    check_open_fails(c, "http://u:" PASSWORD "@h/", "scheme", true);
    check_open_fails(c, "redis://:" PASSWORD "@[::1/0", "Redis URL", true);
    check_open_fails(c, "/proc/iop-no-such-dir/x", NULL, true);

    /* What is none of the store forms: refused with a hint, never a directory made of it. */
    check_open_fails(c, "iop-c-bare-store-name", "./iop-c-bare-store-name", true);
    CHECK(access("iop-c-bare-store-name", F_OK) != 0);
    check_open_fails(c, "memory", "memory:", true);
    check_open_fails(c, "host=db.internal user=iop password=" PASSWORD " dbname=app",
                     "postgres://", true);
    check_open_fails(c, "redis:/:" PASSWORD "@db.internal", "redis://", true);
    check_open_fails(c, "postgres:iop:" PASSWORD "@db.internal/app", "postgres://", true);
    /* A password holding / or # (base64-made): never shown, nor its parts. */
    {
        char url[256];
        int port = closed_port();
        snprintf(url, sizeof url, "postgres://iop:%s/tail@127.0.0.1:%d/app", PASSWORD, port);
        check_open_fails(c, url, "127.0.0.1", false);
        snprintf(url, sizeof url, "redis://iop:%s#tail@127.0.0.1:%d/0", PASSWORD, port);
        check_open_fails(c, url, "Redis URL", false);
    }

    /* A server that is not there: fails within the connect timeout, naming host and port. */
    {
        int port = closed_port();
        char where[32];
        snprintf(where, sizeof where, "127.0.0.1:%d", port);
        snprintf(url, sizeof url, "redis://:" PASSWORD "@127.0.0.1:%d/0", port);
        check_open_fails(c, url, where, true);
        snprintf(url, sizeof url, "postgres://iop:" PASSWORD "@127.0.0.1:%d/iop", port);
        check_open_fails(c, url, where, true);
    }

    iop_token_free(t);
    iop_client_free(c);
}

/* ---- real servers -------------------------------------------------------------------------- */

typedef struct worker {
    iop_manager *manager;
    const char *key;
    char token[512];
    iop_result result;
} worker;

static void *access_worker(void *arg) {
    worker *w = arg;
    char *token = NULL;
    iop_error *err = NULL;
    w->result = iop_manager_access_token(w->manager, w->key, &token, &err);
    if (w->result == IOP_RESULT_OK) {
        snprintf(w->token, sizeof w->token, "%s", token);
    } else if (err != NULL) {
        fprintf(stderr, "  access_token: %s\n", iop_error_message(err));
    }
    iop_error_free(err);
    iop_string_free(token);
    return NULL;
}

/* `url` with its password replaced by PASSWORD (or one inserted, for a URL without user info):
 * a password the server refuses. */
static void with_wrong_password(const char *url, char *out, size_t out_len) {
    const char *scheme_end = strstr(url, "://");
    const char *at = strchr(url, '@');
    const char *colon;
    if (scheme_end == NULL) {
        snprintf(out, out_len, "%s", url);
        return;
    }
    if (at == NULL) {
        snprintf(out, out_len, "%.*s:" PASSWORD "@%s", (int)(scheme_end + 3 - url), url,
                 scheme_end + 3);
        return;
    }
    colon = memchr(scheme_end + 3, ':', (size_t)(at - scheme_end - 3));
    if (colon == NULL) {
        colon = at;
    }
    snprintf(out, out_len, "%.*s:" PASSWORD "%s", (int)(colon - url), url, at);
}

/* The manager contract over the store named by $env_name, shared by two managers (as two hosts
 * would share it): put, get, a due token asked for by `threads` threads on each manager is
 * refreshed once, remove; then a refused password. */
static void test_server_store(const char *env_name, int threads) {
    const char *url = getenv(env_name);
    iop_client *c;
    iop_token *t;
    iop_manager *a = NULL;
    iop_manager *b = NULL;
    iop_error *err = NULL;
    iop_token *got = NULL;
    char key[96];
    char bad_url[512];
    long before;

    printf("== %s (at %.1f s)\n", env_name, (double)(now_ms() - START_MS) / 1000.0);
    fflush(stdout);
    if (url == NULL || url[0] == '\0') {
        fprintf(stderr, "  %s is not set: run these tests under scripts/with-servers\n", env_name);
        CHECK(!"the server URL is set");
        return;
    }
    c = new_client();
    snprintf(key, sizeof key, "c-seller-%s-%ld", env_name, (long)getpid());
    t = new_token(c, key);
    if (t == NULL) {
        iop_client_free(c);
        return;
    }
    CHECK_RESULT(iop_manager_open(c, url, DAY_MS, &a, &err), IOP_RESULT_OK);
    if (err != NULL) {
        fprintf(stderr, "  open %s: %s\n", env_name, iop_error_message(err));
        iop_error_free(err);
        err = NULL;
    }
    CHECK_RESULT(iop_manager_new(c, url, DAY_MS, &b, NULL), IOP_RESULT_OK);
    if (a == NULL || b == NULL) {
        iop_manager_free(a);
        iop_manager_free(b);
        iop_token_free(t);
        iop_client_free(c);
        return;
    }

    /* A fresh token: stored through one manager, read through the other, not refreshed. */
    CHECK_RESULT(iop_manager_put(a, key, t, NULL), IOP_RESULT_OK);
    CHECK_RESULT(iop_manager_get(b, key, &got, NULL), IOP_RESULT_OK);
    CHECK(got != NULL && strcmp(iop_token_access_token(got), iop_token_access_token(t)) == 0);
    iop_token_free(got);
    got = NULL;
    CHECK_RESULT(iop_manager_get(b, "nobody-here", &got, NULL), IOP_RESULT_OK);
    CHECK(got == NULL);

    /* Due: `threads` threads on each manager ask at once; one refresh for all of them. */
    printf("   concurrent callers (at %.1f s)\n", (double)(now_ms() - START_MS) / 1000.0);
    fflush(stdout);
    {
        iop_token *due = due_copy(t);
        pthread_t ids[2 * THREADS];
        worker workers[2 * THREADS];
        int i;
        CHECK_RESULT(iop_manager_put(a, key, due, NULL), IOP_RESULT_OK);
        before = emu_count(&EMU, "/auth/token/refresh");
        for (i = 0; i < 2 * threads; i++) {
            workers[i].manager = i % 2 == 0 ? a : b;
            workers[i].key = key;
            workers[i].token[0] = '\0';
            CHECK(pthread_create(&ids[i], NULL, access_worker, &workers[i]) == 0);
        }
        for (i = 0; i < 2 * threads; i++) {
            pthread_join(ids[i], NULL);
            CHECK_RESULT(workers[i].result, IOP_RESULT_OK);
            CHECK_STR(workers[i].token, workers[0].token);
        }
        CHECK(strcmp(workers[0].token, iop_token_access_token(t)) != 0);
        CHECK(emu_count(&EMU, "/auth/token/refresh") == before + 1);
        CHECK_RESULT(iop_manager_get(b, key, &got, NULL), IOP_RESULT_OK);
        CHECK(got != NULL && strcmp(iop_token_access_token(got), workers[0].token) == 0);
        CHECK(got != NULL && iop_token_expires_at_ms(got) > now_ms() + DAY_MS / 2);
        iop_token_free(got);
        got = NULL;
        iop_token_free(due);
    }

    /* refresh_due over the shared store finds nothing due now. */
    {
        iop_refresh_report report;
        CHECK_RESULT(iop_manager_refresh_due(b, 3600 * 1000, 0, &report), IOP_RESULT_OK);
        CHECK(report.failed == 0 && report.refreshed == 0);
    }

    /* remove through one manager is seen by the other. */
    {
        bool removed = false;
        char *token = SENTINEL;
        CHECK_RESULT(iop_manager_remove(b, key, &removed, NULL), IOP_RESULT_OK);
        CHECK(removed);
        CHECK_RESULT(iop_manager_access_token(a, key, &token, &err), IOP_RESULT_UNKNOWN_SELLER);
        CHECK(token == SENTINEL);
        CHECK(err != NULL && strstr(iop_error_message(err), key) != NULL);
        iop_error_free(err);
        err = NULL;
    }
    iop_manager_free(a);
    iop_manager_free(b);

    /* A password the server refuses: IOP_RESULT_STORE, the password in no message. */
    printf("   a refused password (at %.1f s)\n", (double)(now_ms() - START_MS) / 1000.0);
    fflush(stdout);
    with_wrong_password(url, bad_url, sizeof bad_url);
    CHECK(strstr(bad_url, PASSWORD) != NULL);
    /* iop_manager_open only: under valgrind a PostgreSQL password exchange takes seconds. */
    check_open_fails(c, bad_url, "127.0.0.1", false);

    iop_token_free(t);
    iop_client_free(c);
}

int main(int argc, char **argv) {
    const char *emulator = argc > 1 ? argv[1] : getenv("IOP_EMULATOR");
    if (emulator == NULL) {
        emulator = "../../target/debug/iop-emulator";
    }
    if (emu_start(&EMU, emulator, APP_KEY, APP_SECRET, NULL) != 0) {
        fprintf(stderr, "cannot start %s\n", emulator);
        return 2;
    }
    START_MS = now_ms();
    test_local_stores();
    test_server_store("IOP_TEST_REDIS_URL", THREADS);
    /* Fewer threads on PostgreSQL: each waiting caller holds a connection of its own, and a
     * connection's SCRAM password exchange (4096 rounds of the debug build's SHA-256) takes
     * seconds under valgrind, beyond the 5 s connect timeout when 16 queue up. */
    test_server_store("IOP_TEST_POSTGRES_URL", 2);
    emu_stop(&EMU);
    printf("c store tests: %d passed, %d failed (%.1f s)\n", checks_passed, checks_failed,
           (double)(now_ms() - START_MS) / 1000.0);
    return checks_failed == 0 ? 0 : 1;
}
