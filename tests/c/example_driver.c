/* Runs examples/refresh.c (compiled with -Dmain=example_main) against a spawned emulator:
 * a good refresh token exits 0, a dead one 2, a wrong secret 4, an unreachable gateway 3, an
 * empty one 1. The refresh token goes through IOP_REFRESH_TOKEN, as a user would pass it. */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "emu.h"
#include "iop.h"

int example_main(int argc, char **argv);

static int passed = 0;
static int failed = 0;

static void expect_exit(const char *refresh_token, const char *url, int expected) {
    char *argv[] = {"refresh", (char *)url, NULL};
    int status;
    fflush(stdout);
    fprintf(stderr, "-- examples/refresh.c against %s, expecting exit status %d:\n", url, expected);
    /* The example reads the refresh token from the environment, never from its arguments. */
    setenv("IOP_REFRESH_TOKEN", refresh_token, 1);
    status = example_main(2, argv);
    fflush(stdout);
    if (status == expected) {
        passed++;
    } else {
        failed++;
        fprintf(stderr, "FAIL example exit %d, expected %d\n", status, expected);
    }
}

int main(void) {
    const char *emulator = getenv("IOP_EMULATOR");
    emu e;
    char code[256];
    iop_client *client = NULL;
    iop_token *token = NULL;
    if (emulator == NULL || emu_start(&e, emulator, "ex-key", "ex-secret", NULL) != 0) {
        fprintf(stderr, "cannot start the emulator (set IOP_EMULATOR)\n");
        return 2;
    }
    if (emu_authorize(&e, "example-seller", code, sizeof code) != 0 ||
        iop_client_new(e.url, "ex-key", "ex-secret", &client, NULL) != IOP_RESULT_OK ||
        iop_client_create_token(client, code, &token, NULL) != IOP_RESULT_OK) {
        fprintf(stderr, "cannot set up a token\n");
        emu_stop(&e);
        return 2;
    }
    setenv("IOP_APP_KEY", "ex-key", 1);
    setenv("IOP_APP_SECRET", "ex-secret", 1);
    expect_exit(iop_token_refresh_token(token), e.url, 0);
    expect_exit(iop_token_refresh_token(token), e.url, 2); /* rotated: now dead */
    expect_exit("bogus", e.url, 2);
    setenv("IOP_APP_SECRET", "wrong-secret", 1);
    expect_exit("bogus", e.url, 4);
    setenv("IOP_APP_SECRET", "ex-secret", 1);
    expect_exit("bogus", "http://127.0.0.1:1", 3);
    expect_exit("", e.url, 1); /* refused locally: nothing sent */
    iop_token_free(token);
    iop_client_free(client);
    emu_stop(&e);
    printf("example tests: %d passed, %d failed\n", passed, failed);
    return failed == 0 ? 0 : 1;
}
