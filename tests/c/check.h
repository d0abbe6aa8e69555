/* Minimal test bookkeeping for the C tests: counts checks, prints failures with their line. */
#ifndef IOP_TEST_CHECK_H
#define IOP_TEST_CHECK_H

#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "iop.h"

extern int checks_passed;
extern int checks_failed;

void check_true(int ok, const char *what, const char *file, int line);
void check_result(iop_result got, iop_result expected, const char *what, const char *file,
                  int line);
void check_str(const char *got, const char *expected, const char *what, const char *file,
               int line);

struct emu;

/* Milliseconds since the Unix epoch (CLOCK_REALTIME). */
int64_t check_now_ms(void);

/* A fresh token for `seller`: the emulator's authorize, then /auth/token/create through `c`.
 * Checked (a failure counts); NULL when the emulator refused. */
iop_token *check_new_token(const struct emu *e, const iop_client *c, const char *seller);

#define CHECK(cond) check_true((cond) ? 1 : 0, #cond, __FILE__, __LINE__)
#define CHECK_RESULT(expr, expected) check_result((expr), (expected), #expr, __FILE__, __LINE__)
/* `expected` NULL means "got must be NULL". */
#define CHECK_STR(got, expected) check_str((got), (expected), #got, __FILE__, __LINE__)

#endif
