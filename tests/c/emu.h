/* A spawned iop-emulator and its control API (/_emulator/...), for the C tests and bench/c. */
#ifndef IOP_TEST_EMU_H
#define IOP_TEST_EMU_H

#include <stddef.h>
#include <sys/types.h>

typedef struct emu {
    pid_t pid;
    int port;
    char url[64]; /* "http://127.0.0.1:PORT" */
} emu;

/* Starts `emulator_path --listen 127.0.0.1:0 --app-key KEY --app-secret SECRET [extra...]`
 * (extra: NULL-terminated list, may be NULL) and reads its URL. Returns 0 on success. */
int emu_start(emu *e, const char *emulator_path, const char *app_key, const char *app_secret,
              const char *const *extra);

/* Kills (SIGTERM) and reaps the emulator. */
void emu_stop(emu *e);

/* Sends `METHOD path` (path includes the query) to the emulator and copies the body of the
 * answer to `body` (NUL-terminated, truncated to `body_len`). Returns the HTTP status, or -1. */
int emu_request(const emu *e, const char *method, const char *path, char *body, size_t body_len);

/* POST /_emulator/authorize?seller_id=SELLER; copies the code to `code`. Returns 0 on success. */
int emu_authorize(const emu *e, const char *seller, char *code, size_t code_len);

/* GET /_emulator/stats; the count of `api` (0 when absent), or -1 on failure. */
long emu_count(const emu *e, const char *api);

/* POST to a control route with a query, e.g. emu_post(e, "fault?kind=http500&times=1").
 * Returns 0 when the emulator answered 200. */
int emu_post(const emu *e, const char *route_and_query);

#endif
