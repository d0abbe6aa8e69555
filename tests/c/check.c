/* See check.h. */
#define _POSIX_C_SOURCE 200809L
#include "check.h"

#include <pthread.h>
#include <time.h>

#include "emu.h"

int checks_passed = 0;
int checks_failed = 0;
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;

static void count(int ok) {
    pthread_mutex_lock(&lock);
    if (ok) {
        checks_passed++;
    } else {
        checks_failed++;
    }
    pthread_mutex_unlock(&lock);
}

void check_true(int ok, const char *what, const char *file, int line) {
    count(ok);
    if (!ok) {
        fprintf(stderr, "FAIL %s:%d: %s\n", file, line, what);
    }
}

void check_result(iop_result got, iop_result expected, const char *what, const char *file,
                  int line) {
    count(got == expected);
    if (got != expected) {
        fprintf(stderr, "FAIL %s:%d: %s gave %s, expected %s\n", file, line, what,
                iop_result_name((int)got), iop_result_name((int)expected));
    }
}

void check_str(const char *got, const char *expected, const char *what, const char *file,
               int line) {
    int ok = (got == NULL && expected == NULL) ||
             (got != NULL && expected != NULL && strcmp(got, expected) == 0);
    count(ok);
    if (!ok) {
        fprintf(stderr, "FAIL %s:%d: %s is \"%s\", expected \"%s\"\n", file, line, what,
                got != NULL ? got : "(NULL)", expected != NULL ? expected : "(NULL)");
    }
}

int64_t check_now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

iop_token *check_new_token(const emu *e, const iop_client *c, const char *seller) {
    char code[256];
    iop_token *t = NULL;
    iop_error *err = NULL;
    if (emu_authorize(e, seller, code, sizeof code) != 0) {
        CHECK(!"emulator authorize");
        return NULL;
    }
    CHECK_RESULT(iop_client_create_token(c, code, &t, &err), IOP_RESULT_OK);
    if (err != NULL) {
        fprintf(stderr, "  create_token: %s\n", iop_error_message(err));
        iop_error_free(err);
    }
    return t;
}
