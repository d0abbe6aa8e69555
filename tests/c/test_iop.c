/* C tests of libiop against a spawned iop-emulator: signing vectors, the token lifecycle, every
 * error class and fault, hostile input, threads sharing one client, the token manager.
 * Usage: test_iop [path/to/iop-emulator]  (default: $IOP_EMULATOR, else
 * ../../target/debug/iop-emulator). Prints "c tests: N passed, M failed" last. */
#define _POSIX_C_SOURCE 200809L
#include <dirent.h>
#include <sys/wait.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "check.h"
#include "emu.h"
#include "iop.h"
#include "vectors.h"

#define APP_KEY "c-test-key"
#define APP_SECRET "c-test-secret"
#define DAY_MS (24LL * 3600 * 1000)

static emu EMU;
/* Distinct values used to check that out-parameters are left alone on failure. */
static int SENTINEL_OBJECT;
#define SENTINEL ((void *)&SENTINEL_OBJECT)

static int64_t now_ms(void) { return check_now_ms(); }

static iop_client *new_client(const char *secret) {
    iop_client *c = NULL;
    CHECK_RESULT(iop_client_new(EMU.url, APP_KEY, secret, &c, NULL), IOP_RESULT_OK);
    return c;
}

/* A fresh token for `seller`, through the emulator's authorize and /auth/token/create. */
static iop_token *new_token(const iop_client *c, const char *seller) {
    return check_new_token(&EMU, c, seller);
}

/* ---- version, result names ------------------------------------------------------------- */

static void test_version_and_names(void) {
    int r;
    const char *v = iop_version();
    CHECK(v != NULL && strlen(v) >= 5 && v[0] >= '0' && v[0] <= '9');
    CHECK(v == iop_version()); /* static */
    for (r = 0; r <= (int)IOP_RESULT_UNKNOWN_SELLER; r++) {
        const char *name = iop_result_name(r);
        CHECK(name != NULL && strncmp(name, "IOP_RESULT_", 11) == 0 &&
              strcmp(name, "IOP_RESULT_UNKNOWN") != 0);
    }
    CHECK_STR(iop_result_name(IOP_RESULT_OK), "IOP_RESULT_OK");
    CHECK_STR(iop_result_name(IOP_RESULT_RATE_LIMITED), "IOP_RESULT_RATE_LIMITED");
    CHECK_STR(iop_result_name(IOP_RESULT_PANIC), "IOP_RESULT_PANIC");
    CHECK_STR(iop_result_name(-1), "IOP_RESULT_UNKNOWN");
    CHECK_STR(iop_result_name(IOP_RESULT_UNKNOWN_SELLER), "IOP_RESULT_UNKNOWN_SELLER");
    CHECK_STR(iop_result_name((int)IOP_RESULT_UNKNOWN_SELLER + 1), "IOP_RESULT_UNKNOWN");
    CHECK(IOP_RESULT_OTHER == 18 && IOP_RESULT_AUTHORIZATION == 19);
    CHECK(IOP_RESULT_UNKNOWN_SELLER == 20);
    CHECK_STR(iop_result_name(1 << 30), "IOP_RESULT_UNKNOWN");
    /* The numbers are ABI: pin a few. */
    CHECK(IOP_RESULT_OK == 0 && IOP_RESULT_NULL_ARGUMENT == 1 && IOP_RESULT_BUFFER_TOO_SMALL == 4);
    CHECK(IOP_RESULT_SIGNATURE == 5 && IOP_RESULT_REAUTHORIZATION_REQUIRED == 16);
    CHECK(IOP_RESULT_PANIC == 17);
}

/* ---- signing ---------------------------------------------------------------------------- */

static void test_sign_vectors(void) {
    size_t i;
    char out[IOP_SIGN_BUFFER_LEN];
    for (i = 0; i < VECTOR_COUNT; i++) {
        const vector *v = &VECTORS[i];
        memset(out, 0, sizeof out);
        CHECK_RESULT(iop_sign(v->secret, v->prefix, v->keys, v->values, v->count,
                              v->md5 ? IOP_SIGN_METHOD_MD5 : IOP_SIGN_METHOD_SHA256, out,
                              sizeof out),
                     IOP_RESULT_OK);
        if (strcmp(out, v->expected) != 0) {
            fprintf(stderr, "  vector %s: got %s\n", v->name, out);
        }
        CHECK_STR(out, v->expected);
        if (strcmp(v->name, MUST_NOT_MATCH_BASE) == 0) {
            const char *const *wrong;
            for (wrong = MUST_NOT_MATCH; *wrong != NULL; wrong++) {
                CHECK(strcmp(out, *wrong) != 0);
            }
        }
    }
    CHECK(VECTOR_COUNT >= 8);
    /* MD5: 32 uppercase hex characters. */
    {
        const char *keys[] = {"method", "app_key"};
        const char *values[] = {"x.y.z", "123456"};
        size_t n;
        CHECK_RESULT(iop_sign("helloworld", NULL, keys, values, 2, IOP_SIGN_METHOD_MD5, out,
                              sizeof out),
                     IOP_RESULT_OK);
        CHECK(strlen(out) == 32);
        for (n = 0; n < strlen(out); n++) {
            CHECK((out[n] >= '0' && out[n] <= '9') || (out[n] >= 'A' && out[n] <= 'F'));
        }
    }
}

static void test_sign_hostile(void) {
    const char *keys[] = {"a", "b", "c"};
    const char *values[] = {"1", "2", "3"};
    const char *null_key[] = {"a", NULL, "c"};
    const char *bad_utf8[] = {"a", "\xff\xfe", "c"};
    char out[IOP_SIGN_BUFFER_LEN];
    char small[64];
    char *big;
    const size_t mib = 1024 * 1024;

    CHECK_RESULT(iop_sign(NULL, NULL, keys, values, 3, IOP_SIGN_METHOD_SHA256, out, sizeof out),
                 IOP_RESULT_NULL_ARGUMENT);
    CHECK_RESULT(iop_sign("s", NULL, NULL, NULL, 0, IOP_SIGN_METHOD_SHA256, out, sizeof out),
                 IOP_RESULT_OK);
    CHECK(strlen(out) == 64);
    CHECK_RESULT(iop_sign("s", NULL, NULL, values, 3, IOP_SIGN_METHOD_SHA256, out, sizeof out),
                 IOP_RESULT_NULL_ARGUMENT);
    CHECK_RESULT(iop_sign("s", NULL, keys, NULL, 3, IOP_SIGN_METHOD_SHA256, out, sizeof out),
                 IOP_RESULT_NULL_ARGUMENT);
    CHECK_RESULT(iop_sign("s", NULL, NULL, NULL, 2, IOP_SIGN_METHOD_SHA256, out, sizeof out),
                 IOP_RESULT_NULL_ARGUMENT);
    CHECK_RESULT(iop_sign("s", NULL, null_key, values, 3, IOP_SIGN_METHOD_SHA256, out, sizeof out),
                 IOP_RESULT_NULL_ARGUMENT);
    CHECK_RESULT(iop_sign("s", NULL, keys, null_key, 3, IOP_SIGN_METHOD_SHA256, out, sizeof out),
                 IOP_RESULT_NULL_ARGUMENT);
    CHECK_RESULT(iop_sign("s", NULL, bad_utf8, values, 3, IOP_SIGN_METHOD_SHA256, out, sizeof out),
                 IOP_RESULT_INVALID_UTF8);
    CHECK_RESULT(iop_sign("\xc3\x28", NULL, keys, values, 3, IOP_SIGN_METHOD_SHA256, out,
                          sizeof out),
                 IOP_RESULT_INVALID_UTF8);
    CHECK_RESULT(iop_sign("s", "/p\xff", keys, values, 3, IOP_SIGN_METHOD_SHA256, out, sizeof out),
                 IOP_RESULT_INVALID_UTF8);
    CHECK_RESULT(iop_sign("s", NULL, keys, values, 3, 7, out, sizeof out),
                 IOP_RESULT_INVALID_ARGUMENT);
    CHECK_RESULT(iop_sign("s", NULL, keys, values, 3, -1, out, sizeof out),
                 IOP_RESULT_INVALID_ARGUMENT);
    CHECK_RESULT(iop_sign("s", NULL, keys, values, 3, IOP_SIGN_METHOD_SHA256, NULL, 65),
                 IOP_RESULT_NULL_ARGUMENT);
    /* Too small: the buffer is left untouched. */
    memset(small, 'x', sizeof small);
    CHECK_RESULT(iop_sign("s", NULL, keys, values, 3, IOP_SIGN_METHOD_SHA256, small, sizeof small),
                 IOP_RESULT_BUFFER_TOO_SMALL);
    CHECK(small[0] == 'x' && small[63] == 'x');
    CHECK_RESULT(iop_sign("s", NULL, keys, values, 3, IOP_SIGN_METHOD_SHA256, out, 0),
                 IOP_RESULT_BUFFER_TOO_SMALL);
    /* NULL and "" prefixes are the same (TOP). */
    {
        char a[IOP_SIGN_BUFFER_LEN];
        char b[IOP_SIGN_BUFFER_LEN];
        CHECK_RESULT(iop_sign("s", NULL, keys, values, 3, IOP_SIGN_METHOD_SHA256, a, sizeof a),
                     IOP_RESULT_OK);
        CHECK_RESULT(iop_sign("s", "", keys, values, 3, IOP_SIGN_METHOD_SHA256, b, sizeof b),
                     IOP_RESULT_OK);
        CHECK_STR(a, b);
        CHECK_RESULT(iop_sign("s", "/x", keys, values, 3, IOP_SIGN_METHOD_SHA256, b, sizeof b),
                     IOP_RESULT_OK);
        CHECK(strcmp(a, b) != 0);
    }
    /* 1 MiB secret, prefix and value. */
    big = malloc(mib + 1);
    if (big != NULL) {
        const char *big_values[3];
        memset(big, 'v', mib);
        big[mib] = '\0';
        big_values[0] = big;
        big_values[1] = "2";
        big_values[2] = "3";
        CHECK_RESULT(iop_sign(big, big, keys, big_values, 3, IOP_SIGN_METHOD_SHA256, out,
                              sizeof out),
                     IOP_RESULT_OK);
        CHECK(strlen(out) == 64);
        big[mib / 2] = '\x80'; /* a lone continuation byte: invalid UTF-8 */
        CHECK_RESULT(iop_sign("s", NULL, keys, big_values, 3, IOP_SIGN_METHOD_SHA256, out,
                              sizeof out),
                     IOP_RESULT_INVALID_UTF8);
        free(big);
    }
}

/* ---- client construction ------------------------------------------------------------------ */

static void test_client_new(void) {
    iop_client *c = SENTINEL;
    CHECK_RESULT(iop_client_new(EMU.url, NULL, "s", &c, NULL), IOP_RESULT_NULL_ARGUMENT);
    CHECK_RESULT(iop_client_new(EMU.url, "k", NULL, &c, NULL), IOP_RESULT_NULL_ARGUMENT);
    CHECK_RESULT(iop_client_new(EMU.url, "k", "s", NULL, NULL), IOP_RESULT_NULL_ARGUMENT);
    CHECK_RESULT(iop_client_new(EMU.url, "k\xff", "s", &c, NULL), IOP_RESULT_INVALID_UTF8);
    CHECK_RESULT(iop_client_new("http://example.com", "k", "s", &c, NULL), IOP_RESULT_INVALID_ARGUMENT);
    CHECK_RESULT(iop_client_new("ftp://127.0.0.1:1", "k", "s", &c, NULL), IOP_RESULT_INVALID_ARGUMENT);
    CHECK_RESULT(iop_client_new("not a url", "k", "s", &c, NULL), IOP_RESULT_INVALID_ARGUMENT);
    CHECK_RESULT(iop_client_new("https://api-sg.aliexpress.com/other/path", "k", "s", &c, NULL),
                 IOP_RESULT_INVALID_ARGUMENT);
    CHECK(c == SENTINEL); /* never written on failure */

    /* NULL base URL: AliExpress (nothing is sent until a call). */
    c = NULL;
    CHECK_RESULT(iop_client_new(NULL, "k", "s", &c, NULL), IOP_RESULT_OK);
    CHECK(c != NULL);
    iop_client_free(c);
    c = NULL;
    CHECK_RESULT(iop_client_new("https://api-sg.aliexpress.com/rest", "k", "s", &c, NULL),
                 IOP_RESULT_OK);
    CHECK_RESULT(iop_client_set_timeout_ms(c, 0, 1000, NULL), IOP_RESULT_INVALID_ARGUMENT);
    CHECK_RESULT(iop_client_set_timeout_ms(c, 1000, 0, NULL), IOP_RESULT_INVALID_ARGUMENT);
    CHECK_RESULT(iop_client_set_timeout_ms(c, 1000, 2000, NULL), IOP_RESULT_OK);
    CHECK_RESULT(iop_client_set_timeout_ms(NULL, 1000, 2000, NULL), IOP_RESULT_NULL_ARGUMENT);
    CHECK_RESULT(iop_client_set_max_attempts(c, 0, NULL), IOP_RESULT_INVALID_ARGUMENT);
    CHECK_RESULT(iop_client_set_max_attempts(c, 1, NULL), IOP_RESULT_OK);
    CHECK_RESULT(iop_client_set_max_attempts(NULL, 1, NULL), IOP_RESULT_NULL_ARGUMENT);
    iop_client_free(c);
    iop_client_free(NULL);
}

/* ---- create -> refresh -> call ------------------------------------------------------------ */

static void test_lifecycle(void) {
    iop_client *c = new_client(APP_SECRET);
    iop_token *t = NULL;
    iop_token *t2 = SENTINEL;
    iop_token *copy = NULL;
    iop_error *err = SENTINEL;
    char *json = NULL;
    char code[256];
    long refreshes_before = emu_count(&EMU, "/auth/token/refresh");
    int64_t now = now_ms();

    CHECK(emu_authorize(&EMU, "seller-1", code, sizeof code) == 0);
    CHECK_RESULT(iop_client_create_token(c, code, &t, &err), IOP_RESULT_OK);
    CHECK(err == SENTINEL); /* untouched on success */
    if (t == NULL) {
        iop_client_free(c);
        return;
    }
    CHECK(iop_token_access_token(t) != NULL && strlen(iop_token_access_token(t)) > 0);
    CHECK(iop_token_refresh_token(t) != NULL && strlen(iop_token_refresh_token(t)) > 0);
    CHECK_STR(iop_token_seller_id(t), "seller-1");
    CHECK(iop_token_user_id(t) != NULL);
    CHECK(iop_token_request_id(t) != NULL);
    CHECK(iop_token_access_token(t) == iop_token_access_token(t)); /* borrowed, stable */
    CHECK(iop_token_expires_at_ms(t) > now + 29 * DAY_MS);
    CHECK(iop_token_expires_at_ms(t) < now + 31 * DAY_MS);
    CHECK(iop_token_refresh_expires_at_ms(t) > iop_token_expires_at_ms(t));

    /* The code is single use. */
    err = NULL;
    CHECK_RESULT(iop_client_create_token(c, code, &t2, &err), IOP_RESULT_REAUTHORIZE);
    CHECK(t2 == SENTINEL);
    CHECK(err != NULL);
    CHECK_RESULT(iop_error_result(err), IOP_RESULT_REAUTHORIZE);
    CHECK_STR(iop_error_code(err), "InvalidCode");
    iop_error_free(err);

    /* JSON round trip. */
    json = iop_token_to_json(t);
    CHECK(json != NULL && strstr(json, "\"access_token\"") != NULL);
    CHECK_RESULT(iop_token_from_json(json, &copy, NULL), IOP_RESULT_OK);
    if (copy != NULL) {
        CHECK_STR(iop_token_access_token(copy), iop_token_access_token(t));
        CHECK_STR(iop_token_refresh_token(copy), iop_token_refresh_token(t));
        CHECK_STR(iop_token_seller_id(copy), "seller-1");
        CHECK(iop_token_expires_at_ms(copy) == iop_token_expires_at_ms(t));
        CHECK(iop_token_refresh_expires_at_ms(copy) == iop_token_refresh_expires_at_ms(t));
    }
    iop_token_free(copy);
    iop_string_free(json);

    /* Refresh: a new token; the old refresh token is dead (rotation). */
    t2 = NULL;
    err = NULL;
    CHECK_RESULT(iop_client_refresh_token(c, iop_token_refresh_token(t), &t2, &err),
                 IOP_RESULT_OK);
    CHECK(err == NULL);
    if (t2 != NULL) {
        iop_token *t3 = SENTINEL;
        CHECK(strcmp(iop_token_access_token(t2), iop_token_access_token(t)) != 0);
        CHECK_STR(iop_token_seller_id(t2), "seller-1");
        CHECK_RESULT(iop_client_refresh_token(c, iop_token_refresh_token(t), &t3, &err),
                     IOP_RESULT_REAUTHORIZE);
        CHECK(t3 == SENTINEL);
        CHECK_STR(iop_error_code(err), "IllegalRefreshToken");
        CHECK(iop_error_message(err) != NULL && strlen(iop_error_message(err)) > 0);
        CHECK(iop_error_retry_after_ms(err) == -1);
        /* No secret in the message. */
        CHECK(strstr(iop_error_message(err), iop_token_refresh_token(t)) == NULL);
        CHECK(strstr(iop_error_message(err), APP_SECRET) == NULL);
        iop_error_free(err);
        err = NULL;
    }
    CHECK(emu_count(&EMU, "/auth/token/refresh") == refreshes_before + 2);

    /* Calls: GOP and TOP, with and without parameters. */
    if (t2 != NULL) {
        const char *keys[] = {"order_id", "note", "empty"};
        const char *values[] = {"1234", "h\xc3\xa9llo & =?", ""};
        char *body = NULL;
        CHECK_RESULT(iop_client_call(c, "/order/get", keys, values, 3, iop_token_access_token(t2),
                                     &body, &err),
                     IOP_RESULT_OK);
        CHECK(body != NULL && strstr(body, "1234") != NULL);
        CHECK(body != NULL && strstr(body, "h\xc3\xa9llo & =?") != NULL);
        CHECK(body != NULL && strstr(body, "\"empty\"") == NULL); /* empty values are not sent */
        iop_string_free(body);
        body = NULL;
        CHECK_RESULT(iop_client_call(c, "aliexpress.solution.product.list.get", keys, values, 1,
                                     iop_token_access_token(t2), &body, &err),
                     IOP_RESULT_OK);
        CHECK(body != NULL && strstr(body, "1234") != NULL);
        iop_string_free(body);
        body = NULL;
        /* The old access token still works until it expires; a bogus one does not. */
        CHECK_RESULT(iop_client_call(c, "/order/get", NULL, NULL, 0, "bogus-token", &body, &err),
                     IOP_RESULT_ACCESS_TOKEN_INVALID);
        CHECK(body == NULL);
        CHECK_STR(iop_error_code(err), "IllegalAccessToken");
        iop_error_free(err);
        err = NULL;
    }
    iop_token_free(t2);
    iop_token_free(t);
    iop_client_free(c);
}

/* ---- error classes and faults ----------------------------------------------------------------- */

/* Calls `api` with a fresh token and expects `expected`; returns the error (caller frees). */
static iop_error *call_expecting(const iop_client *c, const char *api, const char *token,
                                 iop_result expected, int line) {
    char *body = SENTINEL;
    iop_error *err = NULL;
    iop_result r = iop_client_call(c, api, NULL, NULL, 0, token, &body, &err);
    check_result(r, expected, api, __FILE__, line);
    if (r != IOP_RESULT_OK) {
        check_true(body == SENTINEL, "out_json untouched on failure", __FILE__, line);
        check_true(err != NULL, "err written on failure", __FILE__, line);
        check_true(err == NULL || iop_error_result(err) == r, "iop_error_result", __FILE__, line);
    } else {
        iop_string_free(body);
    }
    return err;
}

static void test_error_classes(void) {
    iop_client *c = new_client(APP_SECRET);
    iop_client *wrong_secret = new_client("not-the-secret");
    iop_client *wrong_key = NULL;
    iop_client *once = new_client(APP_SECRET);
    iop_client *nowhere = NULL;
    iop_token *t = new_token(c, "seller-errors");
    iop_token *none = SENTINEL;
    iop_error *err = NULL;
    const char *at = t != NULL ? iop_token_access_token(t) : "missing";

    CHECK_RESULT(iop_client_new(EMU.url, "unknown-app-key", APP_SECRET, &wrong_key, NULL),
                 IOP_RESULT_OK);
    CHECK_RESULT(iop_client_set_max_attempts(once, 1, NULL), IOP_RESULT_OK);
    CHECK_RESULT(iop_client_set_timeout_ms(once, 2000, 1000, NULL), IOP_RESULT_OK);

    /* Signature. */
    CHECK_RESULT(iop_client_refresh_token(wrong_secret, "whatever", &none, &err),
                 IOP_RESULT_SIGNATURE);
    CHECK_STR(iop_error_code(err), "IncompleteSignature");
    CHECK(iop_error_request_id(err) != NULL);
    CHECK(iop_error_http_status(err) > 0);
    iop_error_free(err);
    err = NULL;

    /* Client (unknown app key). */
    CHECK_RESULT(iop_client_refresh_token(wrong_key, "whatever", &none, &err),
                 IOP_RESULT_GATEWAY_CLIENT);
    CHECK_STR(iop_error_code(err), "InvalidAppKey");
    iop_error_free(err);
    err = NULL;

    /* Reauthorize. */
    CHECK_RESULT(iop_client_refresh_token(c, "not-a-refresh-token", &none, &err),
                 IOP_RESULT_REAUTHORIZE);
    CHECK_STR(iop_error_code(err), "IllegalRefreshToken");
    iop_error_free(err);
    err = NULL;
    CHECK(none == SENTINEL);

    /* Access token invalid. */
    iop_error_free(call_expecting(c, "/order/get", "nope", IOP_RESULT_ACCESS_TOKEN_INVALID,
                                  __LINE__));

    /* Rate limited, with the ban as retry-after. */
    CHECK(emu_post(&EMU, "fault?kind=rate_limit&ban=60&times=1&api=/c/rate/limited") == 0);
    err = call_expecting(c, "/c/rate/limited", at, IOP_RESULT_RATE_LIMITED, __LINE__);
    CHECK(iop_error_retry_after_ms(err) == 60000);
    CHECK(iop_error_code(err) != NULL);
    iop_error_free(err);

    /* Retryable: HTTP 500 with a SYSTEM error, no retries. */
    CHECK(emu_post(&EMU, "fault?kind=http500&times=1&api=/c/http500") == 0);
    err = call_expecting(once, "/c/http500", at, IOP_RESULT_GATEWAY_RETRYABLE, __LINE__);
    CHECK(iop_error_http_status(err) == 500);
    CHECK_STR(iop_error_type(err), "SYSTEM");
    iop_error_free(err);

    /* ... and with retries (3 attempts by default) the same fault is absorbed. */
    CHECK(emu_post(&EMU, "fault?kind=http500&times=1&api=/c/http500/retried") == 0);
    iop_error_free(call_expecting(c, "/c/http500/retried", at, IOP_RESULT_OK, __LINE__));
    CHECK(emu_count(&EMU, "/c/http500/retried") == 2);

    /* Decode: an HTML 502 page, a truncated body. */
    CHECK(emu_post(&EMU, "fault?kind=html502&times=1&api=/c/html502") == 0);
    err = call_expecting(once, "/c/html502", at, IOP_RESULT_DECODE, __LINE__);
    CHECK(iop_error_http_status(err) == 502);
    CHECK_STR(iop_error_code(err), NULL);
    iop_error_free(err);
    CHECK(emu_post(&EMU, "fault?kind=truncated&times=1&api=/c/truncated") == 0);
    iop_error_free(call_expecting(once, "/c/truncated", at, IOP_RESULT_DECODE, __LINE__));

    /* Transport: a reset connection; a port nobody listens on. */
    CHECK(emu_post(&EMU, "fault?kind=reset&times=1&api=/c/reset") == 0);
    err = call_expecting(once, "/c/reset", at, IOP_RESULT_TRANSPORT, __LINE__);
    CHECK(iop_error_http_status(err) == 0);
    CHECK_STR(iop_error_code(err), NULL);
    CHECK_STR(iop_error_request_id(err), NULL);
    iop_error_free(err);
    CHECK_RESULT(iop_client_new("http://127.0.0.1:1", APP_KEY, APP_SECRET, &nowhere, NULL),
                 IOP_RESULT_OK);
    CHECK_RESULT(iop_client_set_max_attempts(nowhere, 1, NULL), IOP_RESULT_OK);
    iop_error_free(call_expecting(nowhere, "/order/get", at, IOP_RESULT_TRANSPORT, __LINE__));

    /* Timeout: a 3 s delay against a 1 s read timeout (wide margins: the machine may be busy). */
    CHECK(emu_post(&EMU, "fault?kind=delay&ms=3000&times=1&api=/c/slow") == 0);
    iop_error_free(call_expecting(once, "/c/slow", at, IOP_RESULT_TIMEOUT, __LINE__));

    /* Unknown gateway code, and offline classification of error envelopes. */
    CHECK_RESULT(iop_token_from_json("{\"type\":\"ISV\",\"code\":\"SomethingNew\",\"message\":"
                                     "\"m\",\"request_id\":\"req-1\"}",
                                     &none, &err),
                 IOP_RESULT_GATEWAY_UNKNOWN);
    CHECK_STR(iop_error_code(err), "SomethingNew");
    CHECK_STR(iop_error_request_id(err), "req-1");
    CHECK_STR(iop_error_type(err), "ISV");
    iop_error_free(err);
    err = NULL;
    CHECK_RESULT(iop_token_from_json("{\"error_response\":{\"type\":\"ISV\",\"code\":"
                                     "\"MissingParameter\",\"msg\":\"m\",\"sub_code\":\"isv.x\","
                                     "\"request_id\":\"req-2\"}}",
                                     &none, &err),
                 IOP_RESULT_GATEWAY_CLIENT);
    CHECK_STR(iop_error_sub_code(err), "isv.x");
    iop_error_free(err);
    err = NULL;
    CHECK_RESULT(iop_token_from_json("{\"type\":\"ISP\",\"code\":\"ServiceBusy\"}", &none, &err),
                 IOP_RESULT_GATEWAY_RETRYABLE);
    iop_error_free(err);
    err = NULL;
    CHECK_RESULT(iop_token_from_json("<html>502</html>", &none, &err), IOP_RESULT_DECODE);
    iop_error_free(err);
    err = NULL;
    CHECK_RESULT(iop_token_from_json("{\"type\":\"ISV\",\"code\":\"ApiCallLimit\",\"message\":"
                                     "\"this ban will last 7 seconds\"}",
                                     &none, NULL),
                 IOP_RESULT_RATE_LIMITED);
    CHECK(none == SENTINEL);

    CHECK(emu_post(&EMU, "clear_faults") == 0);
    iop_token_free(t);
    iop_client_free(nowhere);
    iop_client_free(once);
    iop_client_free(wrong_key);
    iop_client_free(wrong_secret);
    iop_client_free(c);
}

/* ---- hostile input ---------------------------------------------------------------------------- */

static void test_hostile(void) {
    iop_client *c = new_client(APP_SECRET);
    iop_token *t = new_token(c, "seller-hostile");
    iop_token *tok = SENTINEL;
    iop_error *err = NULL;
    char *body = SENTINEL;
    const char *keys[] = {"a", "b"};
    const char *values[] = {"1", "2"};
    const char *system_key[] = {"app_key"};
    const size_t mib = 1024 * 1024;
    char *big = malloc(mib + 1);

    /* NULL everywhere. */
    CHECK_RESULT(iop_client_create_token(NULL, "code", &tok, &err), IOP_RESULT_NULL_ARGUMENT);
    CHECK(err != NULL && iop_error_message(err) != NULL);
    iop_error_free(err);
    err = NULL;
    CHECK_RESULT(iop_client_create_token(c, NULL, &tok, NULL), IOP_RESULT_NULL_ARGUMENT);
    CHECK_RESULT(iop_client_create_token(c, "code", NULL, NULL), IOP_RESULT_NULL_ARGUMENT);
    CHECK_RESULT(iop_client_refresh_token(NULL, "r", &tok, NULL), IOP_RESULT_NULL_ARGUMENT);
    CHECK_RESULT(iop_client_refresh_token(c, NULL, &tok, NULL), IOP_RESULT_NULL_ARGUMENT);
    CHECK_RESULT(iop_client_refresh_token(c, "r", NULL, NULL), IOP_RESULT_NULL_ARGUMENT);
    CHECK_RESULT(iop_client_call(NULL, "/order/get", NULL, NULL, 0, NULL, &body, NULL),
                 IOP_RESULT_NULL_ARGUMENT);
    CHECK_RESULT(iop_client_call(c, NULL, NULL, NULL, 0, NULL, &body, NULL),
                 IOP_RESULT_NULL_ARGUMENT);
    CHECK_RESULT(iop_client_call(c, "/order/get", NULL, NULL, 0, NULL, NULL, NULL),
                 IOP_RESULT_NULL_ARGUMENT);
    CHECK_RESULT(iop_client_call(c, "/order/get", NULL, values, 2, NULL, &body, NULL),
                 IOP_RESULT_NULL_ARGUMENT);
    CHECK_RESULT(iop_client_call(c, "/order/get", keys, NULL, 2, NULL, &body, NULL),
                 IOP_RESULT_NULL_ARGUMENT);
    CHECK(tok == SENTINEL && body == SENTINEL);
    CHECK_RESULT(iop_token_from_json(NULL, &tok, NULL), IOP_RESULT_NULL_ARGUMENT);
    CHECK_RESULT(iop_token_from_json("{}", NULL, NULL), IOP_RESULT_NULL_ARGUMENT);
    CHECK_STR(iop_token_access_token(NULL), NULL);
    CHECK_STR(iop_token_refresh_token(NULL), NULL);
    CHECK_STR(iop_token_seller_id(NULL), NULL);
    CHECK_STR(iop_token_user_id(NULL), NULL);
    CHECK_STR(iop_token_account(NULL), NULL);
    CHECK(iop_token_expires_at_ms(NULL) == -1);
    CHECK(iop_token_refresh_expires_at_ms(NULL) == -1);
    CHECK(iop_token_to_json(NULL) == NULL);
    CHECK_RESULT(iop_error_result(NULL), IOP_RESULT_NULL_ARGUMENT);
    CHECK_STR(iop_error_code(NULL), NULL);
    CHECK_STR(iop_error_message(NULL), NULL);
    CHECK_STR(iop_error_request_id(NULL), NULL);
    CHECK(iop_error_retry_after_ms(NULL) == -1);
    CHECK(iop_error_http_status(NULL) == 0);
    iop_token_free(NULL);
    iop_error_free(NULL);
    iop_string_free(NULL);
    iop_client_free(NULL);
    iop_manager_free(NULL);

    /* An empty or blank refresh token or code is refused before anything is sent. */
    {
        long refreshes = emu_count(&EMU, "/auth/token/refresh");
        long creates = emu_count(&EMU, "/auth/token/create");
        CHECK_RESULT(iop_client_refresh_token(c, "", &tok, &err), IOP_RESULT_INVALID_ARGUMENT);
        CHECK(err != NULL && strstr(iop_error_message(err), "refresh_token") != NULL);
        iop_error_free(err);
        err = NULL;
        CHECK_RESULT(iop_client_refresh_token(c, " \t", &tok, NULL), IOP_RESULT_INVALID_ARGUMENT);
        CHECK_RESULT(iop_client_create_token(c, "", &tok, NULL), IOP_RESULT_INVALID_ARGUMENT);
        CHECK_RESULT(iop_client_create_token(c, "  ", &tok, NULL), IOP_RESULT_INVALID_ARGUMENT);
        CHECK(tok == SENTINEL);
        CHECK(emu_count(&EMU, "/auth/token/refresh") == refreshes);
        CHECK(emu_count(&EMU, "/auth/token/create") == creates);
    }

    /* Invalid UTF-8. */
    CHECK_RESULT(iop_client_call(c, "/order/\xff", NULL, NULL, 0, NULL, &body, NULL),
                 IOP_RESULT_INVALID_UTF8);
    CHECK_RESULT(iop_client_refresh_token(c, "\xe2\x82", &tok, NULL), IOP_RESULT_INVALID_UTF8);
    CHECK_RESULT(iop_client_call(c, "/order/get", NULL, NULL, 0, "tok\xc0", &body, NULL),
                 IOP_RESULT_INVALID_UTF8);
    CHECK_RESULT(iop_token_from_json("{\"access_token\":\"\xff\"}", &tok, NULL),
                 IOP_RESULT_INVALID_UTF8);

    /* Malformed API names and misused system parameters are refused before sending. */
    CHECK_RESULT(iop_client_call(c, "", NULL, NULL, 0, NULL, &body, NULL),
                 IOP_RESULT_INVALID_ARGUMENT);
    CHECK_RESULT(iop_client_call(c, "/order/get/", NULL, NULL, 0, NULL, &body, NULL),
                 IOP_RESULT_INVALID_ARGUMENT);
    CHECK_RESULT(iop_client_call(c, "/order/get?x=1", NULL, NULL, 0, NULL, &body, NULL),
                 IOP_RESULT_INVALID_ARGUMENT);
    CHECK_RESULT(iop_client_call(c, "/order/get", system_key, values, 1, NULL, &body, NULL),
                 IOP_RESULT_INVALID_ARGUMENT);
    CHECK_RESULT(iop_token_from_json("not json", &tok, NULL), IOP_RESULT_DECODE);
    CHECK_RESULT(iop_token_from_json("[1,2]", &tok, NULL), IOP_RESULT_DECODE);
    CHECK(tok == SENTINEL && body == SENTINEL);

    /* A secret pasted where JSON belongs is never repeated in the error message. */
    {
        static const char *const pasted[] = {
            "50001qNsSECRETrefresh9f3c2a",
            "\"50001qNsSECRETrefresh9f3c2a\"",
            "[\"50001qNsSECRETrefresh9f3c2a\"]",
            "{'refresh_token': '50001qNsSECRETrefresh9f3c2a'}",
            "{\"code\":\"X\",\"message\":\"50001qNsSECRETrefresh9f3c2a\"}",
        };
        size_t i;
        for (i = 0; i < sizeof pasted / sizeof pasted[0]; i++) {
            iop_result r = iop_token_from_json(pasted[i], &tok, &err);
            CHECK(r == IOP_RESULT_DECODE || r == IOP_RESULT_GATEWAY_UNKNOWN);
            CHECK(err != NULL && iop_error_message(err) != NULL &&
                  strstr(iop_error_message(err), "SECRET") == NULL);
            iop_error_free(err);
            err = NULL;
        }
        CHECK(tok == SENTINEL);
    }

    /* 1 MiB strings: a result, never a crash; errors come with their object. */
    if (big != NULL && t != NULL) {
        iop_result r;
        const char *big_values[1];
        memset(big, 'z', mib);
        big[mib] = '\0';
        r = iop_client_refresh_token(c, big, &tok, &err);
        CHECK(r != IOP_RESULT_OK && r != IOP_RESULT_PANIC);
        CHECK(err != NULL && iop_error_result(err) == r);
        CHECK(tok == SENTINEL);
        iop_error_free(err);
        err = NULL;
        r = iop_client_create_token(c, big, &tok, &err);
        CHECK(r != IOP_RESULT_OK && r != IOP_RESULT_PANIC);
        iop_error_free(err);
        err = NULL;
        big_values[0] = big;
        r = iop_client_call(c, "/order/get", keys, big_values, 1, iop_token_access_token(t), &body,
                            &err);
        CHECK(r != IOP_RESULT_PANIC);
        if (r == IOP_RESULT_OK) {
            CHECK(body != SENTINEL && strlen(body) > mib);
            iop_string_free(body);
        } else {
            CHECK(err != NULL);
            iop_error_free(err);
        }
        err = NULL;
        body = SENTINEL;
        r = iop_token_from_json(big, &tok, &err);
        CHECK_RESULT(r, IOP_RESULT_DECODE);
        iop_error_free(err);
        err = NULL;
        CHECK(tok == SENTINEL);
    }
    free(big);
    iop_token_free(t);
    iop_client_free(c);
}

/* ---- threads sharing one client ------------------------------------------------------------- */

#define THREADS 8
#define REFRESHES_PER_THREAD 5

typedef struct worker {
    const iop_client *client;
    int index;
    int ok;
} worker;

static void *refresh_worker(void *arg) {
    worker *w = arg;
    char seller[32];
    char code[256];
    iop_token *t = NULL;
    int i;
    snprintf(seller, sizeof seller, "thread-seller-%d", w->index);
    w->ok = 0;
    if (emu_authorize(&EMU, seller, code, sizeof code) != 0 ||
        iop_client_create_token(w->client, code, &t, NULL) != IOP_RESULT_OK) {
        return NULL;
    }
    for (i = 0; i < REFRESHES_PER_THREAD; i++) {
        iop_token *next = NULL;
        if (iop_client_refresh_token(w->client, iop_token_refresh_token(t), &next, NULL) !=
            IOP_RESULT_OK) {
            iop_token_free(t);
            return NULL;
        }
        iop_token_free(t);
        t = next;
    }
    {
        char *body = NULL;
        const char *keys[] = {"thread"};
        const char *values[] = {seller};
        if (iop_client_call(w->client, "/seller/get", keys, values, 1, iop_token_access_token(t),
                            &body, NULL) == IOP_RESULT_OK &&
            strstr(body, seller) != NULL && strcmp(iop_token_seller_id(t), seller) == 0) {
            w->ok = 1;
        }
        iop_string_free(body);
    }
    iop_token_free(t);
    return NULL;
}

static void test_threads(void) {
    iop_client *c = new_client(APP_SECRET);
    pthread_t threads[THREADS];
    worker workers[THREADS];
    long before = emu_count(&EMU, "/auth/token/refresh");
    int i;
    for (i = 0; i < THREADS; i++) {
        workers[i].client = c;
        workers[i].index = i;
        workers[i].ok = 0;
        CHECK(pthread_create(&threads[i], NULL, refresh_worker, &workers[i]) == 0);
    }
    for (i = 0; i < THREADS; i++) {
        pthread_join(threads[i], NULL);
        CHECK(workers[i].ok == 1);
    }
    CHECK(emu_count(&EMU, "/auth/token/refresh") == before + THREADS * REFRESHES_PER_THREAD);
    iop_client_free(c);
}

/* ---- token manager ---------------------------------------------------------------------------- */

/* A token whose access token expires in one hour (real clock), with `t`'s secrets. */
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
    CHECK(iop_token_expires_at_ms(due) < now_ms() + 2 * 3600 * 1000);
    return due;
}

typedef struct manager_worker {
    iop_manager *manager;
    char token[512];
    iop_result result;
} manager_worker;

static void *access_worker(void *arg) {
    manager_worker *w = arg;
    char *token = NULL;
    w->result = iop_manager_access_token(w->manager, "shared-key", &token, NULL);
    if (w->result == IOP_RESULT_OK) {
        snprintf(w->token, sizeof w->token, "%s", token);
    }
    iop_string_free(token);
    return NULL;
}

typedef struct reauth_log {
    int calls;
    char key[64];
    char code[64];
    iop_result result;
} reauth_log;

static void on_reauth(void *user_data, const char *key, const iop_error *error) {
    reauth_log *log = user_data;
    const char *code = iop_error_code(error);
    log->calls++;
    snprintf(log->key, sizeof log->key, "%s", key);
    snprintf(log->code, sizeof log->code, "%s", code != NULL ? code : "");
    log->result = iop_error_result(error);
}

static void remove_dir(const char *dir) {
    DIR *d = opendir(dir);
    struct dirent *entry;
    char path[1024];
    if (d == NULL) {
        return;
    }
    while ((entry = readdir(d)) != NULL) {
        if (strcmp(entry->d_name, ".") != 0 && strcmp(entry->d_name, "..") != 0) {
            snprintf(path, sizeof path, "%s/%s", dir, entry->d_name);
            unlink(path);
        }
    }
    closedir(d);
    rmdir(dir);
}

static void test_manager(void) {
    iop_client *c = new_client(APP_SECRET);
    iop_manager *m = NULL;
    iop_manager *bad = SENTINEL;
    iop_token *t = new_token(c, "manager-seller");
    iop_token *got = SENTINEL;
    iop_error *err = NULL;
    char *token = SENTINEL;
    long before;

    if (t == NULL) {
        iop_client_free(c);
        return;
    }
    /* Arguments. */
    CHECK_RESULT(iop_manager_new(NULL, NULL, -1, &m, NULL), IOP_RESULT_NULL_ARGUMENT);
    CHECK_RESULT(iop_manager_new(c, NULL, -1, NULL, NULL), IOP_RESULT_NULL_ARGUMENT);
    CHECK_RESULT(iop_manager_new(c, "/dir\xff", -1, &bad, NULL), IOP_RESULT_INVALID_UTF8);
    CHECK_RESULT(iop_manager_new(c, "/proc/iop-no-such-dir/x", -1, &bad, NULL), IOP_RESULT_STORE);
    CHECK(bad == SENTINEL);

    /* In memory, margin 1 day: a fresh token is returned as is. */
    CHECK_RESULT(iop_manager_new(c, NULL, DAY_MS, &m, NULL), IOP_RESULT_OK);
    CHECK_RESULT(iop_manager_put(NULL, "k", t, NULL), IOP_RESULT_NULL_ARGUMENT);
    CHECK_RESULT(iop_manager_put(m, NULL, t, NULL), IOP_RESULT_NULL_ARGUMENT);
    CHECK_RESULT(iop_manager_put(m, "k", NULL, NULL), IOP_RESULT_NULL_ARGUMENT);
    CHECK_RESULT(iop_manager_put(m, "k\xff", t, NULL), IOP_RESULT_INVALID_UTF8);
    CHECK_RESULT(iop_manager_access_token(m, "k", NULL, NULL), IOP_RESULT_NULL_ARGUMENT);
    CHECK_RESULT(iop_manager_access_token(NULL, "k", &token, NULL), IOP_RESULT_NULL_ARGUMENT);
    /* A seller nothing is stored for has a result of its own, not a store failure. */
    CHECK_RESULT(iop_manager_access_token(m, "nobody", &token, &err), IOP_RESULT_UNKNOWN_SELLER);
    CHECK(token == SENTINEL);
    CHECK(err != NULL && iop_error_result(err) == IOP_RESULT_UNKNOWN_SELLER);
    CHECK(err != NULL && strstr(iop_error_message(err), "unknown seller \"nobody\"") != NULL);
    iop_error_free(err);
    err = NULL;
    CHECK_RESULT(iop_manager_get(m, "nobody", &got, NULL), IOP_RESULT_OK);
    CHECK(got == NULL);

    before = emu_count(&EMU, "/auth/token/refresh");
    CHECK_RESULT(iop_manager_put(m, "seller", t, NULL), IOP_RESULT_OK);
    CHECK_RESULT(iop_manager_access_token(m, "seller", &token, &err), IOP_RESULT_OK);
    CHECK_STR(token, iop_token_access_token(t));
    iop_string_free(token);
    CHECK_RESULT(iop_manager_get(m, "seller", &got, NULL), IOP_RESULT_OK);
    CHECK(got != NULL && strcmp(iop_token_seller_id(got), "manager-seller") == 0);
    iop_token_free(got);
    CHECK(emu_count(&EMU, "/auth/token/refresh") == before);

    /* remove: arguments (a failure writes `false` to `removed`, the rule of bool out-parameters),
     * then a stored key is forgotten and a second remove finds nothing. */
    {
        bool removed = true;
        CHECK_RESULT(iop_manager_remove(NULL, "seller", &removed, NULL), IOP_RESULT_NULL_ARGUMENT);
        CHECK(!removed);
        removed = true;
        CHECK_RESULT(iop_manager_remove(m, NULL, &removed, &err), IOP_RESULT_NULL_ARGUMENT);
        CHECK(!removed);
        CHECK(err != NULL);
        iop_error_free(err);
        err = NULL;
        removed = true;
        CHECK_RESULT(iop_manager_remove(m, "k\xff", &removed, NULL), IOP_RESULT_INVALID_UTF8);
        CHECK(!removed);
        CHECK_RESULT(iop_manager_put(m, "to-remove", t, NULL), IOP_RESULT_OK);
        CHECK_RESULT(iop_manager_remove(m, "to-remove", &removed, NULL), IOP_RESULT_OK);
        CHECK(removed);
        CHECK_RESULT(iop_manager_get(m, "to-remove", &got, NULL), IOP_RESULT_OK);
        CHECK(got == NULL);
        token = SENTINEL;
        CHECK_RESULT(iop_manager_access_token(m, "to-remove", &token, NULL), IOP_RESULT_UNKNOWN_SELLER);
        CHECK(token == SENTINEL);
        CHECK_RESULT(iop_manager_remove(m, "to-remove", &removed, NULL), IOP_RESULT_OK);
        CHECK(!removed);
    }

    /* A token due within the margin: 8 threads ask at once, one refresh happens. */
    {
        iop_token *due = due_copy(t);
        pthread_t threads[THREADS];
        manager_worker workers[THREADS];
        int i;
        CHECK_RESULT(iop_manager_put(m, "shared-key", due, NULL), IOP_RESULT_OK);
        before = emu_count(&EMU, "/auth/token/refresh");
        for (i = 0; i < THREADS; i++) {
            workers[i].manager = m;
            workers[i].token[0] = '\0';
            CHECK(pthread_create(&threads[i], NULL, access_worker, &workers[i]) == 0);
        }
        for (i = 0; i < THREADS; i++) {
            pthread_join(threads[i], NULL);
            CHECK_RESULT(workers[i].result, IOP_RESULT_OK);
            CHECK_STR(workers[i].token, workers[0].token);
        }
        CHECK(strcmp(workers[0].token, iop_token_access_token(t)) != 0);
        CHECK(emu_count(&EMU, "/auth/token/refresh") == before + 1);
        iop_token_free(due);
    }
    iop_manager_free(m);
    m = NULL;

    /* A file store shared by two managers; the second one's margin makes every token due. */
    {
        char dir[] = "/tmp/iop-c-test-XXXXXX";
        iop_manager *eager = NULL;
        iop_token *fresh = new_token(c, "file-seller");
        iop_refresh_report report;
        reauth_log log;
        char *first = NULL;
        char *second = NULL;
        memset(&log, 0, sizeof log);
        CHECK(mkdtemp(dir) != NULL);
        CHECK_RESULT(iop_manager_new(c, dir, DAY_MS, &m, NULL), IOP_RESULT_OK);
        CHECK_RESULT(iop_manager_new(c, dir, 31 * DAY_MS, &eager, NULL), IOP_RESULT_OK);
        if (fresh != NULL && m != NULL && eager != NULL) {
            CHECK_RESULT(iop_manager_put(m, "file-seller", fresh, NULL), IOP_RESULT_OK);
            before = emu_count(&EMU, "/auth/token/refresh");
            CHECK_RESULT(iop_manager_access_token(eager, "file-seller", &first, NULL),
                         IOP_RESULT_OK);
            CHECK(first != NULL && strcmp(first, iop_token_access_token(fresh)) != 0);
            CHECK_RESULT(iop_manager_access_token(m, "file-seller", &second, NULL), IOP_RESULT_OK);
            CHECK_STR(second, first);
            CHECK(emu_count(&EMU, "/auth/token/refresh") == before + 1);

            /* refresh_due: nothing within an hour; everything within 31 days. */
            CHECK_RESULT(iop_manager_refresh_due(m, 3600 * 1000, 0, NULL),
                         IOP_RESULT_NULL_ARGUMENT);
            CHECK_RESULT(iop_manager_refresh_due(m, -1, 0, &report), IOP_RESULT_INVALID_ARGUMENT);
            CHECK_RESULT(iop_manager_refresh_due(m, 3600 * 1000, 0, &report), IOP_RESULT_OK);
            CHECK(report.refreshed == 0 && report.skipped == 1 && report.failed == 0);
            CHECK_RESULT(iop_manager_refresh_due(m, 31 * DAY_MS, 4, &report), IOP_RESULT_OK);
            CHECK(report.refreshed == 1 && report.failed == 0 &&
                  report.reauthorization_required == 0);
            CHECK(emu_count(&EMU, "/auth/token/refresh") == before + 2);

            /* A revoked refresh token: reauthorization required, with the gateway's code,
             * reported once through the callback. */
            CHECK_RESULT(iop_manager_on_reauthorization_required(NULL, on_reauth, &log),
                         IOP_RESULT_NULL_ARGUMENT);
            CHECK_RESULT(iop_manager_on_reauthorization_required(eager, on_reauth, &log),
                         IOP_RESULT_OK);
            CHECK(emu_post(&EMU, "revoke?seller_id=file-seller") == 0);
            iop_string_free(second);
            second = SENTINEL;
            CHECK_RESULT(iop_manager_access_token(eager, "file-seller", &second, &err),
                         IOP_RESULT_REAUTHORIZATION_REQUIRED);
            CHECK(second == SENTINEL);
            second = NULL;
            CHECK_STR(iop_error_code(err), "IllegalRefreshToken");
            iop_error_free(err);
            err = NULL;
            CHECK(log.calls == 1);
            CHECK_STR(log.key, "file-seller");
            CHECK_RESULT(log.result, IOP_RESULT_REAUTHORIZATION_REQUIRED);
            CHECK_STR(log.code, "IllegalRefreshToken");
            /* Asking again: the same answer, no second refresh attempt, no second report. */
            before = emu_count(&EMU, "/auth/token/refresh");
            CHECK_RESULT(iop_manager_access_token(eager, "file-seller", &second, NULL),
                         IOP_RESULT_REAUTHORIZATION_REQUIRED);
            second = NULL;
            CHECK(log.calls == 1);
            CHECK(emu_count(&EMU, "/auth/token/refresh") == before);
            CHECK_RESULT(iop_manager_on_reauthorization_required(eager, NULL, NULL),
                         IOP_RESULT_OK);

            /* The dead token can be cleared without touching files: then nothing is stored. */
            {
                bool removed = false;
                iop_token *gone = SENTINEL;
                CHECK_RESULT(iop_manager_remove(eager, "file-seller", &removed, &err),
                             IOP_RESULT_OK);
                CHECK(removed);
                CHECK_RESULT(iop_manager_get(m, "file-seller", &gone, NULL), IOP_RESULT_OK);
                CHECK(gone == NULL);
                removed = true;
                CHECK_RESULT(iop_manager_remove(m, "file-seller", &removed, NULL), IOP_RESULT_OK);
                CHECK(!removed);
                CHECK_RESULT(iop_manager_put(m, "file-seller", fresh, NULL), IOP_RESULT_OK);
                CHECK_RESULT(iop_manager_remove(m, "file-seller", NULL, NULL), IOP_RESULT_OK);
                CHECK_RESULT(iop_manager_get(eager, "file-seller", &gone, NULL), IOP_RESULT_OK);
                CHECK(gone == NULL);
            }
        }
        iop_string_free(first);
        iop_string_free(second);
        iop_manager_free(eager);
        iop_manager_free(m);
        iop_token_free(fresh);
        remove_dir(dir);
    }
    iop_token_free(t);
    iop_client_free(c);
}

/* ---- a token store written in C (iop_store_callbacks) ---------------------------------------- */

#define CSTORE_MAX 32

/* A thread-safe map of key -> JSON text, with counters and switches to make callbacks fail. */
typedef struct cstore {
    pthread_mutex_t lock;
    char *keys[CSTORE_MAX];
    char *values[CSTORE_MAX];
    int loads;
    int saves;
    int fail_load;
    int fail_save;
    int *freed; /* incremented by cstore_free_user */
} cstore;

static cstore *cstore_new(int *freed) {
    cstore *s = calloc(1, sizeof *s);
    pthread_mutex_init(&s->lock, NULL);
    s->freed = freed;
    return s;
}

static int cstore_find(const cstore *s, const char *key) {
    int i;
    for (i = 0; i < CSTORE_MAX; i++) {
        if (s->keys[i] != NULL && strcmp(s->keys[i], key) == 0) {
            return i;
        }
    }
    return -1;
}

/* Sets `key` to a copy of `json` directly (what another writer of the storage would do). */
static int cstore_put_raw(cstore *s, const char *key, const char *json) {
    int i;
    pthread_mutex_lock(&s->lock);
    i = cstore_find(s, key);
    if (i < 0) {
        for (i = 0; i < CSTORE_MAX && s->keys[i] != NULL; i++) {
        }
        if (i == CSTORE_MAX) {
            pthread_mutex_unlock(&s->lock);
            return -1;
        }
        s->keys[i] = strdup(key);
    } else {
        free(s->values[i]);
    }
    s->values[i] = strdup(json);
    pthread_mutex_unlock(&s->lock);
    return 0;
}

/* A copy of the value of `key` (free it), or NULL. */
static char *cstore_get_raw(cstore *s, const char *key) {
    char *copy = NULL;
    int i;
    pthread_mutex_lock(&s->lock);
    i = cstore_find(s, key);
    if (i >= 0) {
        copy = strdup(s->values[i]);
    }
    pthread_mutex_unlock(&s->lock);
    return copy;
}

static int cstore_load(void *user, const char *key, iop_store_value *value) {
    cstore *s = user;
    int rc = 0;
    int i;
    pthread_mutex_lock(&s->lock);
    s->loads++;
    if (s->fail_load) {
        rc = 7;
    } else if ((i = cstore_find(s, key)) >= 0) {
        rc = iop_store_value_set(value, s->values[i]) == IOP_RESULT_OK ? 0 : 1;
    }
    pthread_mutex_unlock(&s->lock);
    return rc;
}

static int cstore_save(void *user, const char *key, const char *token_json) {
    cstore *s = user;
    pthread_mutex_lock(&s->lock);
    s->saves++;
    if (s->fail_save) {
        pthread_mutex_unlock(&s->lock);
        return 5;
    }
    pthread_mutex_unlock(&s->lock);
    return cstore_put_raw(s, key, token_json);
}

static int cstore_keys(void *user, iop_store_keys *keys) {
    cstore *s = user;
    int rc = 0;
    int i;
    pthread_mutex_lock(&s->lock);
    for (i = 0; i < CSTORE_MAX; i++) {
        if (s->keys[i] != NULL && iop_store_keys_add(keys, s->keys[i]) != IOP_RESULT_OK) {
            rc = 1;
        }
    }
    pthread_mutex_unlock(&s->lock);
    return rc;
}

static int cstore_remove(void *user, const char *key, bool *removed) {
    cstore *s = user;
    int i;
    pthread_mutex_lock(&s->lock);
    i = cstore_find(s, key);
    if (i >= 0) {
        free(s->keys[i]);
        free(s->values[i]);
        s->keys[i] = NULL;
        s->values[i] = NULL;
        *removed = true;
    }
    pthread_mutex_unlock(&s->lock);
    return 0;
}

static void cstore_free_user(void *user) {
    cstore *s = user;
    int i;
    if (s->freed != NULL) {
        (*s->freed)++;
    }
    for (i = 0; i < CSTORE_MAX; i++) {
        free(s->keys[i]);
        free(s->values[i]);
    }
    pthread_mutex_destroy(&s->lock);
    free(s);
}

static void sleep_ms(long ms) {
    struct timespec ts;
    ts.tv_sec = ms / 1000;
    ts.tv_nsec = (ms % 1000) * 1000000L;
    nanosleep(&ts, NULL);
}

static iop_store_callbacks cstore_callbacks(cstore *s) {
    iop_store_callbacks cb;
    cb.user = s;
    cb.load = cstore_load;
    cb.save = cstore_save;
    cb.keys = cstore_keys;
    cb.remove = cstore_remove;
    cb.free_user = cstore_free_user;
    return cb;
}

typedef struct cas_worker {
    iop_manager *manager;
    iop_result result;
    char message[512];
} cas_worker;

static void *cas_access_worker(void *arg) {
    cas_worker *w = arg;
    char *token = NULL;
    iop_error *err = NULL;
    w->result = iop_manager_access_token(w->manager, "cas", &token, &err);
    if (err != NULL) {
        snprintf(w->message, sizeof w->message, "%s", iop_error_message(err));
    }
    iop_error_free(err);
    iop_string_free(token);
    return NULL;
}

static void test_callback_store(void) {
    iop_client *c = new_client(APP_SECRET);
    iop_token *t = new_token(c, "cstore-seller");
    iop_manager *m = NULL;
    iop_manager *bad = SENTINEL;
    iop_error *err = NULL;
    iop_token *got = NULL;
    char *token = NULL;
    int freed = 0;
    cstore *s = cstore_new(&freed);
    iop_store_callbacks cb = cstore_callbacks(s);
    long before;

    if (t == NULL) {
        cstore_free_user(s);
        iop_client_free(c);
        return;
    }
    /* Arguments: refused, nothing written, user not taken (free_user not called). */
    CHECK_RESULT(iop_manager_new_with_store(NULL, &cb, -1, &bad, NULL), IOP_RESULT_NULL_ARGUMENT);
    CHECK_RESULT(iop_manager_new_with_store(c, NULL, -1, &bad, NULL), IOP_RESULT_NULL_ARGUMENT);
    CHECK_RESULT(iop_manager_new_with_store(c, &cb, -1, NULL, NULL), IOP_RESULT_NULL_ARGUMENT);
    cb.load = NULL;
    CHECK_RESULT(iop_manager_new_with_store(c, &cb, -1, &bad, NULL), IOP_RESULT_NULL_ARGUMENT);
    cb.load = cstore_load;
    cb.keys = NULL;
    CHECK_RESULT(iop_manager_new_with_store(c, &cb, -1, &bad, NULL), IOP_RESULT_NULL_ARGUMENT);
    cb.keys = cstore_keys;
    CHECK(bad == SENTINEL);
    CHECK(freed == 0);
    CHECK_RESULT(iop_store_value_set(NULL, "{}"), IOP_RESULT_NULL_ARGUMENT);
    CHECK_RESULT(iop_store_keys_add(NULL, "k"), IOP_RESULT_NULL_ARGUMENT);

    CHECK_RESULT(iop_manager_new_with_store(c, &cb, DAY_MS, &m, NULL), IOP_RESULT_OK);
    if (m == NULL) {
        cstore_free_user(s);
        iop_token_free(t);
        iop_client_free(c);
        return;
    }

    /* Round trip: put goes through save (JSON with the token), get/access_token through load. */
    CHECK_RESULT(iop_manager_get(m, "seller", &got, NULL), IOP_RESULT_OK);
    CHECK(got == NULL);
    CHECK_RESULT(iop_manager_put(m, "seller", t, NULL), IOP_RESULT_OK);
    {
        char *raw = cstore_get_raw(s, "seller");
        CHECK(raw != NULL && strstr(raw, iop_token_refresh_token(t)) != NULL);
        CHECK(raw != NULL && strstr(raw, "cstore-seller") != NULL);
        free(raw);
    }
    CHECK_RESULT(iop_manager_get(m, "seller", &got, NULL), IOP_RESULT_OK);
    CHECK(got != NULL && strcmp(iop_token_seller_id(got), "cstore-seller") == 0);
    CHECK(got != NULL && strcmp(iop_token_access_token(got), iop_token_access_token(t)) == 0);
    iop_token_free(got);
    got = NULL;
    CHECK_RESULT(iop_manager_access_token(m, "seller", &token, NULL), IOP_RESULT_OK);
    CHECK_STR(token, iop_token_access_token(t));
    iop_string_free(token);
    token = NULL;

    /* keys: refresh_due sees every stored key (none due within an hour). */
    {
        iop_refresh_report report;
        CHECK_RESULT(iop_manager_put(m, "seller 2", t, NULL), IOP_RESULT_OK);
        CHECK_RESULT(iop_manager_put(m, "seller/ü/3", t, NULL), IOP_RESULT_OK);
        CHECK_RESULT(iop_manager_refresh_due(m, 3600 * 1000, 0, &report), IOP_RESULT_OK);
        CHECK(report.skipped == 3 && report.refreshed == 0 && report.failed == 0);
    }

    /* remove: true, then false; then nothing is stored. */
    {
        bool removed = false;
        CHECK_RESULT(iop_manager_remove(m, "seller 2", &removed, NULL), IOP_RESULT_OK);
        CHECK(removed);
        CHECK_RESULT(iop_manager_remove(m, "seller 2", &removed, NULL), IOP_RESULT_OK);
        CHECK(!removed);
        CHECK(cstore_get_raw(s, "seller 2") == NULL);
        CHECK_RESULT(iop_manager_get(m, "seller 2", &got, NULL), IOP_RESULT_OK);
        CHECK(got == NULL);
    }

    /* A corrupt value: a STORE error naming the key (never quoting the value), not overwritten. */
    {
        const char *corrupt = "{\"access_token\":\"half-written";
        char *raw;
        CHECK(cstore_put_raw(s, "corrupt", corrupt) == 0);
        got = SENTINEL;
        CHECK_RESULT(iop_manager_get(m, "corrupt", &got, &err), IOP_RESULT_STORE);
        CHECK(got == SENTINEL);
        got = NULL;
        CHECK(err != NULL && strstr(iop_error_message(err), "corrupt") != NULL);
        CHECK(err != NULL && strstr(iop_error_message(err), "half-written") == NULL);
        iop_error_free(err);
        err = NULL;
        CHECK_RESULT(iop_manager_access_token(m, "corrupt", &token, NULL), IOP_RESULT_STORE);
        CHECK_RESULT(iop_manager_put(m, "corrupt", t, NULL), IOP_RESULT_STORE);
        raw = cstore_get_raw(s, "corrupt");
        CHECK_STR(raw, corrupt);
        free(raw);
    }

    /* A failing load callback: STORE, naming the key and the callback. */
    s->fail_load = 1;
    CHECK_RESULT(iop_manager_get(m, "seller", &got, &err), IOP_RESULT_STORE);
    CHECK(err != NULL && strstr(iop_error_message(err), "seller") != NULL);
    CHECK(err != NULL && strstr(iop_error_message(err), "load callback") != NULL);
    iop_error_free(err);
    err = NULL;
    s->fail_load = 0;

    /* 8 threads ask for a due token at once: one refresh, one save of it, one answer. */
    {
        iop_token *due = due_copy(t);
        pthread_t threads[THREADS];
        manager_worker workers[THREADS];
        int saves;
        int i;
        CHECK_RESULT(iop_manager_put(m, "shared-key", due, NULL), IOP_RESULT_OK);
        before = emu_count(&EMU, "/auth/token/refresh");
        saves = s->saves;
        for (i = 0; i < THREADS; i++) {
            workers[i].manager = m;
            workers[i].token[0] = '\0';
            CHECK(pthread_create(&threads[i], NULL, access_worker, &workers[i]) == 0);
        }
        for (i = 0; i < THREADS; i++) {
            pthread_join(threads[i], NULL);
            CHECK_RESULT(workers[i].result, IOP_RESULT_OK);
            CHECK_STR(workers[i].token, workers[0].token);
        }
        CHECK(strcmp(workers[0].token, iop_token_access_token(t)) != 0);
        CHECK(emu_count(&EMU, "/auth/token/refresh") == before + 1);
        /* Two saves: the one that proves the store can save before the refresh (the stored
         * record again), and the refreshed token set. */
        CHECK(s->saves == saves + 2);
        {
            char *raw = cstore_get_raw(s, "shared-key");
            CHECK(raw != NULL && strstr(raw, workers[0].token) != NULL);
            free(raw);
        }
        iop_token_free(due);
    }

    /* A compare-and-swap conflict surfaces: while a refresh is in flight (delayed by the
     * emulator), another writer changes the stored value and the manager sees it; the refresh
     * then cannot save over it: STORE, and the other writer's value stays. */
    {
        iop_token *fresh = new_token(c, "cas-seller");
        iop_token *due = fresh != NULL ? due_copy(fresh) : NULL;
        pthread_t thread;
        cas_worker w;
        char *other = NULL;
        char *raw = NULL;
        int loads;
        int waited;
        memset(&w, 0, sizeof w);
        w.manager = m;
        if (due != NULL) {
            CHECK_RESULT(iop_manager_put(m, "cas", due, NULL), IOP_RESULT_OK);
            other = cstore_get_raw(s, "cas");
            CHECK(emu_post(&EMU, "fault?kind=delay&ms=3000&times=1&api=/auth/token/refresh") == 0);
            loads = s->loads;
            CHECK(pthread_create(&thread, NULL, cas_access_worker, &w) == 0);
            /* Wait until the worker has loaded the token (its refresh is then under way). */
            for (waited = 0; waited < 500; waited++) {
                int now;
                pthread_mutex_lock(&s->lock);
                now = s->loads;
                pthread_mutex_unlock(&s->lock);
                if (now > loads) {
                    break;
                }
                sleep_ms(2);
            }
            sleep_ms(600);
            /* Another writer: the same token set with a changed field. */
            if (other != NULL) {
                char *nick = strstr(other, "\"seller_id\"");
                CHECK(nick != NULL);
                if (nick != NULL) {
                    nick[1] = 'S'; /* "Seller_id": an unknown field, kept as is */
                }
                CHECK(cstore_put_raw(s, "cas", other) == 0);
            }
            CHECK_RESULT(iop_manager_get(m, "cas", &got, NULL), IOP_RESULT_OK);
            iop_token_free(got);
            got = NULL;
            pthread_join(thread, NULL);
            CHECK_RESULT(w.result, IOP_RESULT_STORE);
            CHECK(strstr(w.message, "conflict") != NULL);
            CHECK(strstr(w.message, "cas") != NULL);
            raw = cstore_get_raw(s, "cas");
            CHECK_STR(raw, other);
        }
        free(raw);
        free(other);
        iop_token_free(due);
        iop_token_free(fresh);
        emu_post(&EMU, "clear_faults");
    }

    /* A save callback that fails: the manager finds out before the refresh (it proves the store
     * can save first), so the call fails with STORE, saying the token could not be saved, the
     * gateway never rotates the seller's refresh token, and the stored value is the old one. */
    {
        iop_token *fresh = new_token(c, "unsaved-seller");
        iop_token *due = fresh != NULL ? due_copy(fresh) : NULL;
        char *old;
        char *raw;
        CHECK_RESULT(iop_manager_put(m, "unsaved", due, NULL), IOP_RESULT_OK);
        old = cstore_get_raw(s, "unsaved");
        before = emu_count(&EMU, "/auth/token/refresh");
        s->fail_save = 1;
        token = SENTINEL;
        CHECK_RESULT(iop_manager_access_token(m, "unsaved", &token, &err), IOP_RESULT_STORE);
        CHECK(token == SENTINEL);
        token = NULL;
        CHECK(emu_count(&EMU, "/auth/token/refresh") == before);
        CHECK(err != NULL && strstr(iop_error_message(err), "could not be saved") != NULL);
        CHECK(err != NULL && strstr(iop_error_message(err), "no refresh was sent") != NULL);
        CHECK(err != NULL && strstr(iop_error_message(err), "unsaved") != NULL);
        CHECK(err != NULL && strstr(iop_error_message(err), "returned 5") != NULL);
        iop_error_free(err);
        err = NULL;
        s->fail_save = 0;
        raw = cstore_get_raw(s, "unsaved");
        CHECK_STR(raw, old);
        free(raw);
        free(old);
        /* Writable again: the stored refresh token still works. */
        CHECK_RESULT(iop_manager_access_token(m, "unsaved", &token, NULL), IOP_RESULT_OK);
        CHECK(emu_count(&EMU, "/auth/token/refresh") == before + 1);
        iop_string_free(token);
        token = NULL;
        iop_token_free(due);
        iop_token_free(fresh);
    }

    /* The manager owns the store: freed once with it. */
    CHECK(freed == 0);
    iop_manager_free(m);
    CHECK(freed == 1);
    iop_token_free(t);
    iop_client_free(c);
}

/* ---- the reauthorization callback replaced while threads use the manager ---------------------- */

typedef struct reauth_counter {
    pthread_mutex_t lock;
    int calls;
    char key[64];
} reauth_counter;

static void count_reauth(void *user_data, const char *key, const iop_error *error) {
    reauth_counter *counter = user_data;
    pthread_mutex_lock(&counter->lock);
    counter->calls++;
    snprintf(counter->key, sizeof counter->key, "%s", key);
    pthread_mutex_unlock(&counter->lock);
    (void)error;
}

#define REPLACE_ROUNDS 15

typedef struct replace_worker {
    iop_manager *manager;
    int live_ok;
    int dead_reauth;
} replace_worker;

static void *replace_access_worker(void *arg) {
    replace_worker *w = arg;
    int i;
    for (i = 0; i < REPLACE_ROUNDS; i++) {
        char *token = NULL;
        if (iop_manager_access_token(w->manager, "live", &token, NULL) == IOP_RESULT_OK) {
            w->live_ok++;
        }
        iop_string_free(token);
        token = NULL;
        if (iop_manager_access_token(w->manager, "dead", &token, NULL) ==
            IOP_RESULT_REAUTHORIZATION_REQUIRED) {
            w->dead_reauth++;
        }
        iop_string_free(token);
    }
    return NULL;
}

static void test_reauth_callback_replaced(void) {
    iop_client *c = new_client(APP_SECRET);
    iop_manager *m = NULL;
    iop_token *live = new_token(c, "replace-live");
    iop_token *dead_fresh = new_token(c, "replace-dead");
    iop_token *dead = dead_fresh != NULL ? due_copy(dead_fresh) : NULL;
    reauth_counter counters[3];
    pthread_t threads[THREADS];
    replace_worker workers[THREADS];
    long before;
    int i;
    memset(counters, 0, sizeof counters);
    for (i = 0; i < 3; i++) {
        pthread_mutex_init(&counters[i].lock, NULL);
    }
    CHECK_RESULT(iop_manager_new(c, NULL, DAY_MS, &m, NULL), IOP_RESULT_OK);
    if (m != NULL && live != NULL && dead != NULL) {
        CHECK_RESULT(iop_manager_put(m, "live", live, NULL), IOP_RESULT_OK);
        CHECK_RESULT(iop_manager_put(m, "dead", dead, NULL), IOP_RESULT_OK);
        CHECK(emu_post(&EMU, "revoke?seller_id=replace-dead") == 0);
        CHECK_RESULT(iop_manager_on_reauthorization_required(m, count_reauth, &counters[0]),
                     IOP_RESULT_OK);
        before = emu_count(&EMU, "/auth/token/refresh");
        for (i = 0; i < THREADS; i++) {
            workers[i].manager = m;
            workers[i].live_ok = 0;
            workers[i].dead_reauth = 0;
            CHECK(pthread_create(&threads[i], NULL, replace_access_worker, &workers[i]) == 0);
        }
        /* Replace the callback over and over (and clear it once) while they run. */
        for (i = 0; i < 200; i++) {
            iop_reauthorization_callback cb = i == 100 ? NULL : count_reauth;
            CHECK_RESULT(iop_manager_on_reauthorization_required(m, cb, &counters[i % 2]),
                         IOP_RESULT_OK);
        }
        CHECK_RESULT(iop_manager_on_reauthorization_required(m, count_reauth, &counters[0]),
                     IOP_RESULT_OK);
        for (i = 0; i < THREADS; i++) {
            pthread_join(threads[i], NULL);
            CHECK(workers[i].live_ok == REPLACE_ROUNDS);
            CHECK(workers[i].dead_reauth == REPLACE_ROUNDS);
        }
        /* One refresh attempt in all: the gateway's rejection is recorded while the key's lock
         * is held, so the threads waiting for it never send the dead refresh token again.
         * Reported at most once in all, to whichever callback was set then (none if it happened
         * while cleared). */
        CHECK(emu_count(&EMU, "/auth/token/refresh") == before + 1);
        CHECK(counters[0].calls + counters[1].calls <= 1);
        CHECK(counters[2].calls == 0);

        /* After the threads: the last callback set is the one called. A new stored token set
         * arms the report again. */
        CHECK_RESULT(iop_manager_on_reauthorization_required(m, count_reauth, &counters[2]),
                     IOP_RESULT_OK);
        CHECK_RESULT(iop_manager_put(m, "dead", dead, NULL), IOP_RESULT_OK);
        {
            char *token = NULL;
            int earlier = counters[0].calls + counters[1].calls;
            CHECK_RESULT(iop_manager_access_token(m, "dead", &token, NULL),
                         IOP_RESULT_REAUTHORIZATION_REQUIRED);
            CHECK(counters[2].calls == 1);
            CHECK_STR(counters[2].key, "dead");
            CHECK(counters[0].calls + counters[1].calls == earlier);
        }
    }
    iop_manager_free(m);
    for (i = 0; i < 3; i++) {
        pthread_mutex_destroy(&counters[i].lock);
    }
    iop_token_free(dead);
    iop_token_free(dead_fresh);
    iop_token_free(live);
    iop_client_free(c);
}

/* Asks for the access token of `key` from a new client and manager over `dir`; writes it to
 * `fd`. Used by both processes of test_two_processes. */
static int access_in_process(const char *dir, const char *key, int fd) {
    iop_client *c = NULL;
    iop_manager *m = NULL;
    char *token = NULL;
    int ok = 0;
    if (iop_client_new(EMU.url, APP_KEY, APP_SECRET, &c, NULL) == IOP_RESULT_OK &&
        iop_manager_new(c, dir, DAY_MS, &m, NULL) == IOP_RESULT_OK &&
        iop_manager_access_token(m, key, &token, NULL) == IOP_RESULT_OK) {
        size_t len = strlen(token) + 1;
        ok = write(fd, token, len) == (ssize_t)len;
    }
    iop_string_free(token);
    iop_manager_free(m);
    iop_client_free(c);
    return ok;
}

/* Two processes sharing a file store ask for one due token at once: one refresh in all. */
static void test_two_processes(void) {
    char dir[] = "/tmp/iop-c-procs-XXXXXX";
    iop_client *c = new_client(APP_SECRET);
    iop_manager *m = NULL;
    iop_token *t = new_token(c, "two-process-seller");
    iop_token *due = NULL;
    int fds[2];
    pid_t child;
    long before;
    char mine[512] = "";
    char theirs[512] = "";
    int status = -1;
    CHECK(mkdtemp(dir) != NULL);
    if (t == NULL || pipe(fds) != 0) {
        iop_token_free(t);
        iop_client_free(c);
        return;
    }
    due = due_copy(t);
    CHECK_RESULT(iop_manager_new(c, dir, DAY_MS, &m, NULL), IOP_RESULT_OK);
    CHECK_RESULT(iop_manager_put(m, "shared", due, NULL), IOP_RESULT_OK);
    iop_manager_free(m);
    before = emu_count(&EMU, "/auth/token/refresh");
    fflush(NULL);
    child = fork();
    if (child == 0) {
        int ok;
        close(fds[0]);
        ok = access_in_process(dir, "shared", fds[1]);
        /* Free the parent's objects this copy inherited, so valgrind's leak check of the child
         * process (it runs under valgrind too) sees no leak. */
        iop_token_free(due);
        iop_token_free(t);
        iop_client_free(c);
        _exit(ok ? 0 : 1);
    }
    CHECK(child > 0);
    {
        int pair[2];
        if (pipe(pair) == 0) {
            ssize_t got;
            CHECK(access_in_process(dir, "shared", pair[1]) == 1);
            close(pair[1]);
            got = read(pair[0], mine, sizeof mine - 1);
            mine[got > 0 ? got : 0] = '\0';
            close(pair[0]);
        }
    }
    close(fds[1]);
    if (child > 0) {
        ssize_t got = read(fds[0], theirs, sizeof theirs - 1);
        theirs[got > 0 ? got : 0] = '\0';
        waitpid(child, &status, 0);
        CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    }
    close(fds[0]);
    CHECK(strlen(mine) > 0);
    CHECK_STR(theirs, mine);
    CHECK(strcmp(mine, iop_token_access_token(t)) != 0);
    CHECK(emu_count(&EMU, "/auth/token/refresh") == before + 1);
    iop_token_free(due);
    iop_token_free(t);
    iop_client_free(c);
    remove_dir(dir);
}

/* iop_push_verify against signatures computed independently, with Python's hmac module:
 * hmac.new(secret, app_key + body, sha256).hexdigest(). */
static void test_push_verify(void) {
    static const char *key = "123456";
    static const char *secret = "push-secret-0123456789";
    static const char *body =
        "{\"seller_id\":\"1001\",\"message_type\":8,\"data\":{},\"timestamp\":1700000000000,\"site\":\"lazada_sg\"}";
    static const char *good = "855be22f9577f2d480a485f5264860ee15a87198f5c81cf1a6da832d2b6197bd";
    static const char *good_upper = "855BE22F9577F2D480A485F5264860EE15A87198F5C81CF1A6DA832D2B6197BD";
    /* Non-ASCII body (UTF-8 bytes of {"note":"déjà"}). */
    static const char *utf8_body = "{\"note\":\"d\xc3\xa9j\xc3\xa0\"}";
    static const char *utf8_good = "dd0ea7e0686b670520652d925349d58692e090a53aae8a46187bd30713b5f533";
    size_t len = strlen(body);
    bool valid = false;

    CHECK_RESULT(iop_push_verify(key, secret, (const uint8_t *)body, len, good, &valid), IOP_RESULT_OK);
    CHECK(valid);
    valid = false;
    CHECK_RESULT(iop_push_verify(key, secret, (const uint8_t *)body, len, good_upper, &valid), IOP_RESULT_OK);
    CHECK(valid);
    valid = false;
    CHECK_RESULT(iop_push_verify(key, secret, (const uint8_t *)utf8_body, strlen(utf8_body), utf8_good, &valid),
                 IOP_RESULT_OK);
    CHECK(valid);
    /* What must fail: a changed body, another key or secret, another body's signature, bad headers. */
    CHECK_RESULT(iop_push_verify(key, secret, (const uint8_t *)body, len - 1, good, &valid), IOP_RESULT_OK);
    CHECK(!valid);
    valid = true;
    CHECK_RESULT(iop_push_verify("654321", secret, (const uint8_t *)body, len, good, &valid), IOP_RESULT_OK);
    CHECK(!valid);
    valid = true;
    CHECK_RESULT(iop_push_verify(key, "other", (const uint8_t *)body, len, good, &valid), IOP_RESULT_OK);
    CHECK(!valid);
    valid = true;
    CHECK_RESULT(iop_push_verify(key, secret, (const uint8_t *)body, len, utf8_good, &valid), IOP_RESULT_OK);
    CHECK(!valid);
    {
        const char *bad[] = {NULL, "", "855be22f", "zz5be22f9577f2d480a485f5264860ee15a87198f5c81cf1a6da832d2b6197bd",
                             "\xff\xfe", "855be22f9577f2d480a485f5264860ee15a87198f5c81cf1a6da832d2b6197bd00"};
        size_t i;
        for (i = 0; i < sizeof bad / sizeof bad[0]; i++) {
            valid = true;
            CHECK_RESULT(iop_push_verify(key, secret, (const uint8_t *)body, len, bad[i], &valid), IOP_RESULT_OK);
            CHECK(!valid);
        }
    }
    /* NULL and bad arguments: a result, never a crash, and `false` in out_valid whenever the
     * result is not IOP_RESULT_OK (the rule of every bool out-parameter): a caller that reuses
     * a `true` and ignores the result fails closed. */
    valid = true;
    CHECK_RESULT(iop_push_verify(NULL, secret, (const uint8_t *)body, len, good, &valid), IOP_RESULT_NULL_ARGUMENT);
    CHECK(!valid);
    valid = true;
    CHECK_RESULT(iop_push_verify(key, NULL, (const uint8_t *)body, len, good, &valid), IOP_RESULT_NULL_ARGUMENT);
    CHECK(!valid);
    valid = true;
    CHECK_RESULT(iop_push_verify(key, secret, NULL, 3, good, &valid), IOP_RESULT_NULL_ARGUMENT);
    CHECK(!valid);
    valid = true;
    CHECK_RESULT(iop_push_verify("k\xff", secret, (const uint8_t *)body, len, good, &valid), IOP_RESULT_INVALID_UTF8);
    CHECK(!valid);
    valid = true;
    CHECK_RESULT(iop_push_verify(key, "s\xff", (const uint8_t *)body, len, good, &valid), IOP_RESULT_INVALID_UTF8);
    CHECK(!valid);
    CHECK_RESULT(iop_push_verify(key, secret, (const uint8_t *)body, len, good, NULL), IOP_RESULT_NULL_ARGUMENT);
    valid = true;
    CHECK_RESULT(iop_push_verify(key, secret, NULL, 0, good, &valid), IOP_RESULT_OK);
    CHECK(!valid);
}

/* Push markers shared by the callback stores below: one "database" seen by two hosts. */
static pthread_mutex_t MARKERS_LOCK = PTHREAD_MUTEX_INITIALIZER;
static char *MARKERS[64];
static int MARKER_CALLS;
static int MARKERS_FAIL;

static int shared_mark_seen(void *user, const char *marker, int64_t ttl_ms, bool *first) {
    int i, free_slot = -1;
    (void)user;
    pthread_mutex_lock(&MARKERS_LOCK);
    MARKER_CALLS++;
    if (MARKERS_FAIL || ttl_ms <= 0 || strncmp(marker, "push:", 5) != 0) {
        pthread_mutex_unlock(&MARKERS_LOCK);
        return 3;
    }
    for (i = 0; i < 64; i++) {
        if (MARKERS[i] != NULL && strcmp(MARKERS[i], marker) == 0) {
            pthread_mutex_unlock(&MARKERS_LOCK);
            return 0; /* *first stays false: seen */
        }
        if (MARKERS[i] == NULL && free_slot < 0) {
            free_slot = i;
        }
    }
    if (free_slot >= 0) {
        MARKERS[free_slot] = strdup(marker);
        *first = true;
    }
    pthread_mutex_unlock(&MARKERS_LOCK);
    return free_slot >= 0 ? 0 : 4;
}

typedef struct push_worker {
    iop_manager *manager;
    const char *body;
    iop_result result;
    iop_push_outcome outcome;
} push_worker;

static void *push_worker_run(void *arg) {
    push_worker *w = arg;
    w->result = iop_manager_handle_push(w->manager, (const uint8_t *)w->body, strlen(w->body), &w->outcome, NULL);
    return NULL;
}

/* iop_manager_handle_push: a fresh token is not refreshed, one body replayed 50 times (from
 * threads) refreshes once, an old message is stale, the window is configurable, and two hosts
 * on callback stores with a shared mark_seen agree. */
static void test_push_handle(void) {
    iop_client *c = new_client(APP_SECRET);
    iop_manager *m = NULL, *other = NULL;
    iop_token *t = new_token(c, "push-seller");
    iop_token *due = NULL;
    iop_error *err = NULL;
    iop_push_outcome out = IOP_PUSH_IGNORED;
    char body[256];
    long before;
    int i, refreshed = 0, duplicates = 0;
    push_worker workers[50];
    pthread_t threads[50];

    if (t == NULL) {
        iop_client_free(c);
        return;
    }
    CHECK_RESULT(iop_manager_new(c, NULL, -1, &m, NULL), IOP_RESULT_OK);
    CHECK_RESULT(iop_manager_put(m, "push-seller", t, NULL), IOP_RESULT_OK);
    before = emu_count(&EMU, "/auth/token/refresh");
#define PUSH_BODY(ts) snprintf(body, sizeof body, \
        "{\"seller_id\":\"push-seller\",\"message_type\":8,\"data\":{},\"timestamp\":%lld}", (long long)(ts))
    /* A fresh token: nothing sent. */
    PUSH_BODY(now_ms());
    CHECK_RESULT(iop_manager_handle_push(m, (const uint8_t *)body, strlen(body), &out, NULL), IOP_RESULT_OK);
    CHECK(out == IOP_PUSH_NOT_DUE);
    CHECK(emu_count(&EMU, "/auth/token/refresh") == before);

    /* A due token, one message delivered 50 times at once: one refresh. */
    due = due_copy(t);
    CHECK_RESULT(iop_manager_put(m, "push-seller", due, NULL), IOP_RESULT_OK);
    PUSH_BODY(now_ms() + 1);
    for (i = 0; i < 50; i++) {
        workers[i].manager = m;
        workers[i].body = body;
        workers[i].result = IOP_RESULT_PANIC;
        pthread_create(&threads[i], NULL, push_worker_run, &workers[i]);
    }
    for (i = 0; i < 50; i++) {
        pthread_join(threads[i], NULL);
        CHECK_RESULT(workers[i].result, IOP_RESULT_OK);
        refreshed += workers[i].outcome == IOP_PUSH_REFRESHED;
        duplicates += workers[i].outcome == IOP_PUSH_DUPLICATE;
    }
    CHECK(refreshed == 1 && duplicates == 49);
    CHECK(emu_count(&EMU, "/auth/token/refresh") == before + 1);

    /* Old (16 minutes; the default window is 15) or undated: stale, nothing done. */
    CHECK_RESULT(iop_manager_put(m, "push-seller", due, NULL), IOP_RESULT_OK);
    PUSH_BODY(now_ms() - 16 * 60 * 1000);
    CHECK_RESULT(iop_manager_handle_push(m, (const uint8_t *)body, strlen(body), &out, NULL), IOP_RESULT_OK);
    CHECK(out == IOP_PUSH_STALE);
    {
        static const char *undated = "{\"seller_id\":\"push-seller\",\"message_type\":8}";
        CHECK_RESULT(iop_manager_handle_push(m, (const uint8_t *)undated, strlen(undated), &out, NULL),
                     IOP_RESULT_OK);
        CHECK(out == IOP_PUSH_STALE);
    }
    CHECK(emu_count(&EMU, "/auth/token/refresh") == before + 1);
    /* A wider window takes it (and the gateway rejects the replaced refresh token: reported). */
    CHECK_RESULT(iop_manager_set_push_window_ms(m, 3600 * 1000), IOP_RESULT_OK);
    CHECK_RESULT(iop_manager_handle_push(m, (const uint8_t *)body, strlen(body), &out, NULL), IOP_RESULT_OK);
    CHECK(out != IOP_PUSH_STALE && out != IOP_PUSH_DUPLICATE);
    CHECK_RESULT(iop_manager_set_push_window_ms(m, 999), IOP_RESULT_INVALID_ARGUMENT);
    CHECK_RESULT(iop_manager_set_push_window_ms(m, 12LL * 3600 * 1000 + 1), IOP_RESULT_INVALID_ARGUMENT);
    CHECK_RESULT(iop_manager_set_push_window_ms(m, -1), IOP_RESULT_INVALID_ARGUMENT);
    CHECK_RESULT(iop_manager_set_push_window_ms(NULL, 60000), IOP_RESULT_NULL_ARGUMENT);

    /* Bad arguments: results, `out` untouched. */
    out = (iop_push_outcome)99;
    CHECK_RESULT(iop_manager_handle_push(m, (const uint8_t *)"[]", 2, &out, &err), IOP_RESULT_INVALID_ARGUMENT);
    CHECK(err != NULL && strstr(iop_error_message(err), "push") != NULL);
    iop_error_free(err);
    err = NULL;
    CHECK_RESULT(iop_manager_handle_push(m, NULL, 5, &out, NULL), IOP_RESULT_NULL_ARGUMENT);
    CHECK_RESULT(iop_manager_handle_push(NULL, (const uint8_t *)body, strlen(body), &out, NULL),
                 IOP_RESULT_NULL_ARGUMENT);
    CHECK_RESULT(iop_manager_handle_push(m, (const uint8_t *)body, strlen(body), NULL, NULL),
                 IOP_RESULT_NULL_ARGUMENT);
    CHECK((int)out == 99);
    /* Only a callback store takes a mark_seen callback. */
    CHECK_RESULT(iop_manager_set_store_mark_seen(m, shared_mark_seen), IOP_RESULT_INVALID_ARGUMENT);
    iop_manager_free(m);
    m = NULL;

    /* Two hosts on callback stores whose mark_seen shares one table: one refresh between them. */
    {
        cstore *a = cstore_new(NULL), *b = cstore_new(NULL);
        iop_store_callbacks ca = cstore_callbacks(a), cb = cstore_callbacks(b);
        iop_token *fresh = new_token(c, "push-seller");
        iop_token *fresh_due = fresh != NULL ? due_copy(fresh) : NULL;
        CHECK_RESULT(iop_manager_new_with_store(c, &ca, -1, &m, NULL), IOP_RESULT_OK);
        CHECK_RESULT(iop_manager_new_with_store(c, &cb, -1, &other, NULL), IOP_RESULT_OK);
        CHECK_RESULT(iop_manager_set_store_mark_seen(m, shared_mark_seen), IOP_RESULT_OK);
        CHECK_RESULT(iop_manager_set_store_mark_seen(other, shared_mark_seen), IOP_RESULT_OK);
        CHECK_RESULT(iop_manager_put(m, "push-seller", fresh_due, NULL), IOP_RESULT_OK);
        CHECK_RESULT(iop_manager_put(other, "push-seller", fresh_due, NULL), IOP_RESULT_OK);
        before = emu_count(&EMU, "/auth/token/refresh");
        PUSH_BODY(now_ms() + 2);
        CHECK_RESULT(iop_manager_handle_push(m, (const uint8_t *)body, strlen(body), &out, NULL), IOP_RESULT_OK);
        CHECK(out == IOP_PUSH_REFRESHED);
        CHECK_RESULT(iop_manager_handle_push(other, (const uint8_t *)body, strlen(body), &out, NULL),
                     IOP_RESULT_OK);
        CHECK(out == IOP_PUSH_DUPLICATE);
        CHECK(emu_count(&EMU, "/auth/token/refresh") == before + 1);
        CHECK(MARKER_CALLS == 2);
        /* A failing mark_seen: IOP_RESULT_STORE, nothing done. */
        MARKERS_FAIL = 1;
        PUSH_BODY(now_ms() + 3);
        CHECK_RESULT(iop_manager_handle_push(other, (const uint8_t *)body, strlen(body), &out, &err),
                     IOP_RESULT_STORE);
        CHECK(err != NULL && strstr(iop_error_message(err), "mark_seen") != NULL);
        iop_error_free(err);
        err = NULL;
        MARKERS_FAIL = 0;
        CHECK(emu_count(&EMU, "/auth/token/refresh") == before + 1);
        /* Removed: the process's own markers again (the message above was never recorded),
         * with the current token (m's refresh rotated the one `other` holds). */
        {
            iop_token *current = NULL, *current_due = NULL;
            CHECK_RESULT(iop_manager_get(m, "push-seller", &current, NULL), IOP_RESULT_OK);
            current_due = current != NULL ? due_copy(current) : NULL;
            CHECK_RESULT(iop_manager_put(other, "push-seller", current_due, NULL), IOP_RESULT_OK);
            iop_token_free(current);
            iop_token_free(current_due);
        }
        CHECK_RESULT(iop_manager_set_store_mark_seen(other, NULL), IOP_RESULT_OK);
        CHECK_RESULT(iop_manager_handle_push(other, (const uint8_t *)body, strlen(body), &out, NULL),
                     IOP_RESULT_OK);
        CHECK(out == IOP_PUSH_REFRESHED);
        CHECK_RESULT(iop_manager_handle_push(other, (const uint8_t *)body, strlen(body), &out, NULL),
                     IOP_RESULT_OK);
        CHECK(out == IOP_PUSH_DUPLICATE);
        CHECK(MARKER_CALLS == 3);
        iop_manager_free(m);
        iop_manager_free(other);
        iop_token_free(fresh);
        iop_token_free(fresh_due);
    }
#undef PUSH_BODY
    for (i = 0; i < 64; i++) {
        free(MARKERS[i]);
        MARKERS[i] = NULL;
    }
    iop_token_free(due);
    iop_token_free(t);
    iop_client_free(c);
}

/* Onboarding: a random state, the authorization URL, and the callback exchange that checks the
 * state before anything is sent. */
static void test_onboarding(void) {
    char state[IOP_STATE_BUFFER_LEN], other[IOP_STATE_BUFFER_LEN], small[48];
    char callback[512], code[256];
    char *url = NULL;
    iop_client *c = new_client(APP_SECRET);
    iop_manager *m = NULL;
    iop_token *t = NULL;
    iop_error *err = NULL;
    long creates;
    size_t i;

    CHECK_RESULT(iop_new_state(state, sizeof state), IOP_RESULT_OK);
    CHECK_RESULT(iop_new_state(other, sizeof other), IOP_RESULT_OK);
    CHECK(strlen(state) == 48 && strcmp(state, other) != 0);
    for (i = 0; i < 48; i++) {
        CHECK((state[i] >= '0' && state[i] <= '9') || (state[i] >= 'a' && state[i] <= 'f'));
    }
    CHECK_RESULT(iop_new_state(small, sizeof small), IOP_RESULT_BUFFER_TOO_SMALL);
    CHECK_RESULT(iop_new_state(NULL, 49), IOP_RESULT_NULL_ARGUMENT);

    CHECK_RESULT(iop_authorization_url(NULL, APP_KEY, "https://app.example/cb?x=1", state, NULL, NULL,
                                       NULL, &url, NULL), IOP_RESULT_OK);
    CHECK(url != NULL && strncmp(url, "https://api-sg.aliexpress.com/oauth/authorize?response_type=code"
                                      "&force_auth=true&redirect_uri=https%3A%2F%2Fapp.example%2Fcb%3Fx%3D1&",
                                 strlen("https://api-sg.aliexpress.com/oauth/authorize?response_type=code"
                                        "&force_auth=true&redirect_uri=https%3A%2F%2Fapp.example%2Fcb%3Fx%3D1&")) == 0);
    CHECK(url != NULL && strstr(url, state) != NULL);
    iop_string_free(url);
    url = NULL;
    CHECK_RESULT(iop_authorization_url("lazada", APP_KEY, "https://app.example/cb", state, "vn", NULL, NULL,
                                       &url, NULL), IOP_RESULT_OK);
    CHECK(url != NULL && strncmp(url, "https://auth.lazada.com/oauth/authorize?", 40) == 0);
    CHECK(url != NULL && strstr(url, "&country=vn") != NULL);
    iop_string_free(url);
    url = NULL;
    CHECK_RESULT(iop_authorization_url("ebay", APP_KEY, "https://a/cb", state, NULL, NULL, NULL, &url, NULL),
                 IOP_RESULT_INVALID_ARGUMENT);
    CHECK_RESULT(iop_authorization_url(NULL, APP_KEY, "https://a/cb", state, "vn", NULL, NULL, &url, NULL),
                 IOP_RESULT_INVALID_ARGUMENT);
    CHECK_RESULT(iop_authorization_url(NULL, APP_KEY, "/cb", state, NULL, NULL, NULL, &url, NULL),
                 IOP_RESULT_INVALID_ARGUMENT);
    CHECK_RESULT(iop_authorization_url(NULL, NULL, "https://a/cb", state, NULL, NULL, NULL, &url, NULL),
                 IOP_RESULT_NULL_ARGUMENT);
    CHECK(url == NULL);
    CHECK_RESULT(iop_authorization_url(NULL, APP_KEY, "https://a/cb", state, NULL, NULL, EMU.url, &url, NULL),
                 IOP_RESULT_OK);
    CHECK(url != NULL && strncmp(url, EMU.url, strlen(EMU.url)) == 0);
    iop_string_free(url);

    CHECK_RESULT(iop_manager_new(c, NULL, -1, &m, NULL), IOP_RESULT_OK);
    creates = emu_count(&EMU, "/auth/token/create");
    CHECK(emu_authorize(&EMU, "4242", code, sizeof code) == 0);
    /* A wrong and a missing state: refused, nothing exchanged. */
    snprintf(callback, sizeof callback, "https://app.example/cb?code=%s&state=forged", code);
    CHECK_RESULT(iop_manager_complete_authorization(m, callback, state, NULL, &t, &err),
                 IOP_RESULT_AUTHORIZATION);
    CHECK(t == NULL && err != NULL);
    if (err != NULL) {
        CHECK(strstr(iop_error_message(err), code) == NULL);
        iop_error_free(err);
        err = NULL;
    }
    snprintf(callback, sizeof callback, "?code=%s", code);
    CHECK_RESULT(iop_manager_complete_authorization(m, callback, state, NULL, &t, NULL),
                 IOP_RESULT_AUTHORIZATION);
    CHECK(emu_count(&EMU, "/auth/token/create") == creates);
    /* The right state: exchanged once, stored under the seller id. */
    snprintf(callback, sizeof callback, "https://app.example/cb?code=%s&state=%s", code, state);
    CHECK_RESULT(iop_manager_complete_authorization(m, callback, state, NULL, &t, &err), IOP_RESULT_OK);
    CHECK(emu_count(&EMU, "/auth/token/create") == creates + 1);
    CHECK(t != NULL && iop_token_seller_id(t) != NULL && strcmp(iop_token_seller_id(t), "4242") == 0);
    iop_token_free(t);
    {
        char *access = NULL;
        CHECK_RESULT(iop_manager_access_token(m, "4242", &access, NULL), IOP_RESULT_OK);
        iop_string_free(access);
    }
    CHECK_RESULT(iop_manager_complete_authorization(NULL, callback, state, NULL, &t, NULL),
                 IOP_RESULT_NULL_ARGUMENT);
    iop_manager_free(m);
    iop_client_free(c);
}


/* ---- failures say what failed: err out-parameters, masks -------------------------------- */

static void test_error_detail(void) {
    iop_client *c = SENTINEL;
    iop_error *err = NULL;
    char dir[] = "/tmp/iop-c-detail-XXXXXX";
    iop_client *here = new_client(APP_SECRET);
    iop_client *elsewhere = NULL;
    iop_manager *a = NULL, *b = NULL;
    iop_token *t = new_token(here, "detail-seller");
    char *masked;

    /* iop_client_new says which argument is wrong and why. */
    CHECK_RESULT(iop_client_new("http://example.com", "k", "s", &c, &err),
                 IOP_RESULT_INVALID_ARGUMENT);
    CHECK(c == SENTINEL);
    CHECK(err != NULL && strstr(iop_error_message(err), "loopback") != NULL);
    iop_error_free(err);
    err = NULL;
    CHECK_RESULT(iop_client_new(EMU.url, NULL, "s", &c, &err), IOP_RESULT_NULL_ARGUMENT);
    CHECK(err != NULL && strstr(iop_error_message(err), "app_key") != NULL);
    iop_error_free(err);
    err = NULL;
    CHECK_RESULT(iop_client_set_timeout_ms(here, 0, 1000, &err), IOP_RESULT_INVALID_ARGUMENT);
    CHECK(err != NULL && strstr(iop_error_message(err), "timeouts") != NULL);
    iop_error_free(err);
    err = NULL;
    CHECK_RESULT(iop_client_set_ca_file(here, "/nonexistent/iop-ca.pem", &err),
                 IOP_RESULT_INVALID_ARGUMENT);
    CHECK(err != NULL && strstr(iop_error_message(err), "/nonexistent/iop-ca.pem") != NULL);
    iop_error_free(err);
    err = NULL;
    CHECK_RESULT(iop_client_set_proxy(here, "socks5://user:pw-SECRET@127.0.0.1:1", &err),
                 IOP_RESULT_INVALID_ARGUMENT);
    CHECK(err != NULL && strstr(iop_error_message(err), "pw-SECRET") == NULL);
    CHECK(err != NULL && strstr(iop_error_message(err), "proxy") != NULL);
    iop_error_free(err);
    err = NULL;

    /* iop_manager_put: a record of another gateway (the same key, another port) is refused with
     * a message naming the part that differs. */
    CHECK(mkdtemp(dir) != NULL);
    CHECK_RESULT(iop_client_new("http://127.0.0.1:1", APP_KEY, APP_SECRET, &elsewhere, NULL),
                 IOP_RESULT_OK);
    CHECK_RESULT(iop_manager_new(here, dir, -1, &a, NULL), IOP_RESULT_OK);
    CHECK_RESULT(iop_manager_new(elsewhere, dir, -1, &b, NULL), IOP_RESULT_OK);
    if (t != NULL && a != NULL && b != NULL) {
        CHECK_RESULT(iop_manager_put(a, "shared-dir", t, &err), IOP_RESULT_OK);
        CHECK(err == NULL);
        CHECK_RESULT(iop_manager_put(b, "shared-dir", t, &err), IOP_RESULT_STORE);
        CHECK(err != NULL && iop_error_result(err) == IOP_RESULT_STORE);
        CHECK(err != NULL && strstr(iop_error_message(err), "gateway port") != NULL);
        CHECK(err != NULL && strstr(iop_error_message(err), "(not 1)") != NULL);
        CHECK(err != NULL && strstr(iop_error_message(err), "gateway host") == NULL);
        iop_error_free(err);
        err = NULL;
    }
    iop_manager_free(a);
    iop_manager_free(b);
    {
        char cmd[128];
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
        CHECK(system(cmd) == 0);
    }

    /* Masks: the last four characters, the same rule as Rust, Python and the CLI. */
    masked = iop_mask("50000501a2b3c4d5e6f7k3Fz");
    CHECK_STR(masked, "\xe2\x80\xa6k3Fz");
    iop_string_free(masked);
    masked = iop_mask("short");
    CHECK_STR(masked, "\xe2\x80\xa6");
    iop_string_free(masked);
    CHECK(iop_mask(NULL) == NULL);
    CHECK(iop_mask("bad\xff utf-8 text here") == NULL);

    iop_token_free(t);
    iop_client_free(elsewhere);
    iop_client_free(here);
}

/* ---- iop_manager_call: a call for a seller, one refresh and retry when refused ---------- */

static void test_manager_call(void) {
    iop_client *c = new_client(APP_SECRET);
    iop_token *real = new_token(c, "call-seller");
    iop_token *stale = NULL;
    iop_manager *m = NULL;
    iop_error *err = NULL;
    char *json = SENTINEL;
    char text[512];
    const char *keys[] = {"status"};
    const char *values[] = {"pending"};
    long refreshes, calls;

    CHECK_RESULT(iop_manager_new(c, NULL, -1, &m, NULL), IOP_RESULT_OK);
    if (real == NULL || m == NULL) {
        iop_token_free(real);
        iop_manager_free(m);
        iop_client_free(c);
        return;
    }
    /* An unknown seller: its own result, nothing sent. */
    calls = emu_count(&EMU, "/orders/get");
    CHECK_RESULT(iop_manager_call(m, "nobody", "/orders/get", keys, values, 1, &json, &err),
                 IOP_RESULT_UNKNOWN_SELLER);
    CHECK(json == SENTINEL);
    CHECK(err != NULL && strstr(iop_error_message(err), "nobody") != NULL);
    iop_error_free(err);
    err = NULL;
    CHECK(emu_count(&EMU, "/orders/get") == calls);
    CHECK_RESULT(iop_manager_call(m, "x", NULL, NULL, NULL, 0, &json, NULL),
                 IOP_RESULT_NULL_ARGUMENT);

    /* The seller's real refresh token with an access token the gateway does not know. */
    snprintf(text, sizeof text,
             "{\"access_token\":\"revoked-access-token\",\"refresh_token\":\"%s\","
             "\"expires_in\":2592000,\"refresh_expires_in\":5184000}",
             iop_token_refresh_token(real));
    CHECK_RESULT(iop_token_from_json(text, &stale, NULL), IOP_RESULT_OK);
    CHECK_RESULT(iop_manager_put(m, "call-seller", stale, NULL), IOP_RESULT_OK);
    refreshes = emu_count(&EMU, "/auth/token/refresh");
    calls = emu_count(&EMU, "/orders/get");
    CHECK_RESULT(iop_manager_call(m, "call-seller", "/orders/get", keys, values, 1, &json, &err),
                 IOP_RESULT_OK);
    CHECK(err == NULL);
    CHECK(json != SENTINEL && strstr(json, "\"seller_id\":\"call-seller\"") != NULL);
    CHECK(json != SENTINEL && strstr(json, "\"status\":\"pending\"") != NULL);
    if (json != SENTINEL) iop_string_free(json);
    json = SENTINEL;
    CHECK(emu_count(&EMU, "/auth/token/refresh") == refreshes + 1);
    CHECK(emu_count(&EMU, "/orders/get") == calls + 2);

    /* call_raw: an error envelope comes back as JSON (a rate limit with a long ban). */
    CHECK(emu_post(&EMU, "fault?kind=rate_limit&ban=600&times=1&api=/order/get") == 0);
    CHECK_RESULT(iop_manager_call_raw(m, "call-seller", "/order/get", NULL, NULL, 0, &json, &err),
                 IOP_RESULT_OK);
    CHECK(json != SENTINEL && strstr(json, "ApiCallLimit") != NULL);
    if (json != SENTINEL) iop_string_free(json);
    json = SENTINEL;
    CHECK_RESULT(iop_manager_call(m, "call-seller", "/order/get", NULL, NULL, 0, &json, &err),
                 IOP_RESULT_RATE_LIMITED);
    iop_error_free(err);
    err = NULL;
    CHECK(emu_post(&EMU, "clear_faults") == 0);
    CHECK(emu_count(&EMU, "/auth/token/refresh") == refreshes + 1);

    iop_token_free(stale);
    iop_token_free(real);
    iop_manager_free(m);
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
    test_version_and_names();
    test_sign_vectors();
    test_sign_hostile();
    test_client_new();
    test_lifecycle();
    test_error_classes();
    test_hostile();
    test_threads();
    test_manager();
    test_callback_store();
    test_reauth_callback_replaced();
    test_two_processes();
    test_push_verify();
    test_push_handle();
    test_onboarding();
    test_error_detail();
    test_manager_call();
    emu_stop(&EMU);
    printf("c tests: %d passed, %d failed\n", checks_passed, checks_failed);
    return checks_failed == 0 ? 0 : 1;
}
