/*
 * Refresh a seller's access token with libiop, print when it expires, and handle every class
 * of error the way a production program would.
 *
 * Build (after `make install PREFIX=/usr/local`):
 *     cc -std=c11 refresh.c $(pkg-config --cflags --libs iop) -o refresh
 * Run, with the secrets in the environment (never in the arguments, which `ps` shows to every
 * user), for example from a file only you can read:
 *     set -a; . ./iop.env; set +a     # IOP_APP_KEY=..., IOP_APP_SECRET=..., IOP_REFRESH_TOKEN=...
 *     ./refresh [BASE_URL]
 * BASE_URL defaults to AliExpress (https://api-sg.aliexpress.com); for Lazada token calls use
 * https://auth.lazada.com; for a local emulator, http://127.0.0.1:PORT.
 *
 * Exit status: 0 refreshed; 1 usage (an empty refresh token too); 2 the seller must authorize the app again; 3 try again
 * later; 4 fix the program or the app's set-up.
 */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "iop.h"

/* Prints an epoch-milliseconds instant as UTC, or "unknown". */
static void print_instant(const char *label, int64_t ms) {
    char text[64] = "unknown";
    if (ms >= 0) {
        time_t seconds = (time_t)(ms / 1000);
        struct tm utc;
        if (gmtime_r(&seconds, &utc) != NULL) {
            strftime(text, sizeof text, "%Y-%m-%dT%H:%M:%SZ", &utc);
        }
    }
    printf("%s %s\n", label, text);
}

/* Explains a failure and returns the exit status for it. */
static int report_failure(iop_result result, const iop_error *err) {
    const char *code = iop_error_code(err);         /* NULL unless the gateway answered */
    const char *request_id = iop_error_request_id(err);
    fprintf(stderr, "refresh failed: %s: %s\n", iop_result_name(result),
            err != NULL ? iop_error_message(err) : "(no detail)");
    if (code != NULL) {
        fprintf(stderr, "  gateway code %s, request id %s\n", code,
                request_id != NULL ? request_id : "(none)");
    }
    switch (result) {
    case IOP_RESULT_REAUTHORIZE:
        /* IllegalRefreshToken / InvalidCode: retrying cannot help. Send the seller through the
         * authorization page again and store the new token set. */
        fprintf(stderr, "  the seller must authorize the app again\n");
        return 2;
    case IOP_RESULT_RATE_LIMITED:
        fprintf(stderr, "  rate limited: retry in %lld ms\n",
                (long long)iop_error_retry_after_ms(err));
        return 3;
    case IOP_RESULT_GATEWAY_RETRYABLE: /* ISP / SYSTEM errors, HTTP 5xx */
    case IOP_RESULT_TRANSPORT:         /* connection refused or reset */
    case IOP_RESULT_TIMEOUT:
        fprintf(stderr, "  temporary failure: retry later with the same refresh token\n");
        return 3;
    case IOP_RESULT_DECODE:
        fprintf(stderr, "  the answer was not the gateway's JSON (HTTP %u): a proxy or outage?\n",
                (unsigned)iop_error_http_status(err));
        return 3;
    case IOP_RESULT_SIGNATURE:
        fprintf(stderr, "  signature rejected: check IOP_APP_SECRET\n");
        return 4;
    case IOP_RESULT_GATEWAY_CLIENT:
        fprintf(stderr, "  the request or the app's set-up is wrong (app key, permissions)\n");
        return 4;
    case IOP_RESULT_INVALID_ARGUMENT:
        fprintf(stderr, "  IOP_REFRESH_TOKEN is empty\n");
        return 1;
    case IOP_RESULT_ACCESS_TOKEN_INVALID: /* only from API calls; refresh and retry */
    case IOP_RESULT_GATEWAY_UNKNOWN:
    default:
        return 4;
    }
}

int main(int argc, char **argv) {
    const char *app_key = getenv("IOP_APP_KEY");
    const char *app_secret = getenv("IOP_APP_SECRET");
    const char *refresh_token = getenv("IOP_REFRESH_TOKEN");
    const char *base_url = argc > 1 ? argv[1] : NULL; /* NULL: AliExpress */
    iop_client *client = NULL;
    iop_token *token = NULL;
    iop_error *err = NULL;
    iop_result result;
    int status;

    if (argc > 2 || app_key == NULL || app_secret == NULL || refresh_token == NULL) {
        fprintf(stderr,
                "usage: %s [BASE_URL], with IOP_APP_KEY, IOP_APP_SECRET and IOP_REFRESH_TOKEN "
                "in the environment\n",
                argc > 0 ? argv[0] : "refresh");
        return 1;
    }
    result = iop_client_new(base_url, app_key, app_secret, &client, NULL);
    if (result != IOP_RESULT_OK) {
        fprintf(stderr, "cannot create the client: %s\n", iop_result_name(result));
        return 4;
    }
    /* One client serves every thread of a program; create it once. */
    iop_client_set_timeout_ms(client, 5000, 15000, NULL);

    /* An empty refresh token is refused here, before anything is sent
     * (IOP_RESULT_INVALID_ARGUMENT). */
    result = iop_client_refresh_token(client, refresh_token, &token, &err);
    if (result == IOP_RESULT_OK) {
        const char *seller = iop_token_seller_id(token);
        printf("refreshed the token of seller %s\n", seller != NULL ? seller : "(unknown)");
        print_instant("access token expires at", iop_token_expires_at_ms(token));
        print_instant("refresh token expires at", iop_token_refresh_expires_at_ms(token));
        /* The old refresh token may be dead now: store the new set before anything else, e.g.
         * the JSON of iop_token_to_json(token) (it holds secrets; free it with
         * iop_string_free), or hand the token to an iop_manager with iop_manager_put. */
        status = 0;
    } else {
        status = report_failure(result, err);
        iop_error_free(err);
    }
    iop_token_free(token);
    iop_client_free(client);
    return status;
}
