/* The network settings of iop_client from C: a private CA (iop_client_set_ca_file), an http and
 * an https forward proxy with credentials (iop_client_set_proxy), the environment
 * (iop_client_set_trust_env: HTTPS_PROXY, NO_PROXY, SSL_CERT_FILE), and failures that say what
 * failed without the proxy password.
 *
 * Run under tests/net/front.py, which starts the emulator, a TLS front with a private CA in
 * front of it and tinyproxy, and passes them in IOP_NET_* variables:
 *   python3 tests/net/front.py --emulator PATH --app-key K --app-secret S -- test_network
 * Prints "c network tests: N passed, M failed" last. */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "emu.h"
#include "iop.h"

#define APP_KEY "c-net-key"
#define APP_SECRET "c-net-secret"

static emu EMU;
static const char *HTTPS_URL, *CA_FILE, *PROXY, *HTTPS_PROXY, *WRONG_PROXY, *PROXY_PASSWORD,
    *PROXY_LOG, *TARGET;

static const char *need(const char *name) {
    const char *value = getenv(name);
    if (value == NULL || *value == '\0') {
        fprintf(stderr, "%s is not set: run under tests/net/front.py\n", name);
        exit(2);
    }
    return value;
}

/* CONNECTs to the gateway front that tinyproxy logged so far. */
static int connects(void) {
    char line[1024], needle[128];
    int n = 0;
    FILE *log = fopen(PROXY_LOG, "r");
    if (log == NULL) {
        return -1;
    }
    snprintf(needle, sizeof needle, "CONNECT %s HTTP", TARGET);
    while (fgets(line, sizeof line, log) != NULL) {
        if (strstr(line, needle) != NULL) {
            n++;
        }
    }
    fclose(log);
    return n;
}

/* Creates a token through `c`: IOP_RESULT_OK or the failure, its message in `message`. */
static iop_result create(const iop_client *c, char *message, size_t message_len) {
    char code[256];
    iop_token *t = NULL;
    iop_error *err = NULL;
    iop_result r;
    message[0] = '\0';
    if (emu_authorize(&EMU, "net-seller", code, sizeof code) != 0) {
        CHECK(!"emulator authorize");
        return IOP_RESULT_OTHER;
    }
    r = iop_client_create_token(c, code, &t, &err);
    if (err != NULL) {
        snprintf(message, message_len, "%s", iop_error_message(err));
        iop_error_free(err);
    }
    iop_token_free(t);
    return r;
}

static void test_private_ca(void) {
    iop_client *c = NULL;
    char message[512];
    CHECK_RESULT(iop_client_new(HTTPS_URL, APP_KEY, APP_SECRET, &c, NULL), IOP_RESULT_OK);
    CHECK_RESULT(iop_client_set_max_attempts(c, 1, NULL), IOP_RESULT_OK);
    /* The bundled roots do not know the private CA: refused, and the message says why. */
    CHECK_RESULT(create(c, message, sizeof message), IOP_RESULT_TRANSPORT);
    CHECK(strstr(message, "TLS") != NULL || strstr(message, "certificate") != NULL);
    CHECK_RESULT(iop_client_set_ca_file(c, CA_FILE, NULL), IOP_RESULT_OK);
    CHECK_RESULT(create(c, message, sizeof message), IOP_RESULT_OK);
    /* NULL goes back to the bundled roots alone. */
    CHECK_RESULT(iop_client_set_ca_file(c, NULL, NULL), IOP_RESULT_OK);
    CHECK_RESULT(create(c, message, sizeof message), IOP_RESULT_TRANSPORT);
    iop_client_free(c);
}

static void test_proxies(void) {
    iop_client *c = NULL;
    iop_error *err = NULL;
    char message[512];
    int before;
    CHECK_RESULT(iop_client_new(HTTPS_URL, APP_KEY, APP_SECRET, &c, NULL), IOP_RESULT_OK);
    CHECK_RESULT(iop_client_set_max_attempts(c, 1, NULL), IOP_RESULT_OK);
    CHECK_RESULT(iop_client_set_ca_file(c, CA_FILE, NULL), IOP_RESULT_OK);

    /* An http proxy with credentials: the call goes through it. */
    before = connects();
    CHECK_RESULT(iop_client_set_proxy(c, PROXY, &err), IOP_RESULT_OK);
    CHECK(err == NULL);
    CHECK_RESULT(create(c, message, sizeof message), IOP_RESULT_OK);
    CHECK(connects() == before + 1);

    /* An https proxy (TLS to the proxy, checked against the same CA file). */
    before = connects();
    CHECK_RESULT(iop_client_set_proxy(c, HTTPS_PROXY, NULL), IOP_RESULT_OK);
    CHECK_RESULT(create(c, message, sizeof message), IOP_RESULT_OK);
    CHECK(connects() == before + 1);

    /* Refused credentials: the proxy's status, no password, nothing reached the gateway. */
    CHECK_RESULT(iop_client_set_proxy(c, WRONG_PROXY, NULL), IOP_RESULT_OK);
    CHECK_RESULT(create(c, message, sizeof message), IOP_RESULT_TRANSPORT);
    CHECK(strstr(message, "proxy CONNECT failed") != NULL);
    CHECK(strstr(message, "credentials") != NULL);
    CHECK(strstr(message, "wrong-pw-SECRET") == NULL);
    CHECK(strstr(message, PROXY_PASSWORD) == NULL);

    /* NULL removes the proxy. */
    before = connects();
    CHECK_RESULT(iop_client_set_proxy(c, NULL, NULL), IOP_RESULT_OK);
    CHECK_RESULT(create(c, message, sizeof message), IOP_RESULT_OK);
    CHECK(connects() == before);
    iop_client_free(c);
}

static void test_trust_env(void) {
    iop_client *c = NULL;
    char message[512];
    int before;
    CHECK_RESULT(iop_client_new(HTTPS_URL, APP_KEY, APP_SECRET, &c, NULL), IOP_RESULT_OK);
    CHECK_RESULT(iop_client_set_max_attempts(c, 1, NULL), IOP_RESULT_OK);
    setenv("HTTPS_PROXY", PROXY, 1);
    setenv("SSL_CERT_FILE", CA_FILE, 1);
    unsetenv("NO_PROXY");
    unsetenv("no_proxy");

    /* Off by default: the environment is not read (the private CA is unknown). */
    before = connects();
    CHECK_RESULT(create(c, message, sizeof message), IOP_RESULT_TRANSPORT);
    CHECK(connects() == before);

    /* On: HTTPS_PROXY and SSL_CERT_FILE are used. */
    CHECK_RESULT(iop_client_set_trust_env(c, true, NULL), IOP_RESULT_OK);
    CHECK_RESULT(create(c, message, sizeof message), IOP_RESULT_OK);
    CHECK(connects() == before + 1);

    /* NO_PROXY names the gateway's host: reached directly. */
    setenv("NO_PROXY", "localhost,127.0.0.1", 1);
    CHECK_RESULT(iop_client_set_trust_env(c, true, NULL), IOP_RESULT_OK);
    before = connects();
    CHECK_RESULT(create(c, message, sizeof message), IOP_RESULT_OK);
    CHECK(connects() == before);

    /* A malformed proxy in the environment says so, without its credentials. */
    setenv("HTTPS_PROXY", "socks5://u:env-SECRET@127.0.0.1:1", 1);
    {
        iop_error *err = NULL;
        CHECK_RESULT(iop_client_set_trust_env(c, true, &err), IOP_RESULT_INVALID_ARGUMENT);
        CHECK(err != NULL && strstr(iop_error_message(err), "env-SECRET") == NULL);
        iop_error_free(err);
    }
    unsetenv("HTTPS_PROXY");
    unsetenv("SSL_CERT_FILE");
    unsetenv("NO_PROXY");
    iop_client_free(c);
}

int main(void) {
    const char *emulator_url = need("IOP_NET_EMULATOR_URL");
    HTTPS_URL = need("IOP_NET_HTTPS_URL");
    CA_FILE = need("IOP_NET_CA_FILE");
    PROXY = need("IOP_NET_PROXY");
    HTTPS_PROXY = need("IOP_NET_HTTPS_PROXY");
    WRONG_PROXY = need("IOP_NET_PROXY_WRONG_PASSWORD");
    PROXY_PASSWORD = need("IOP_NET_PROXY_PASSWORD");
    PROXY_LOG = need("IOP_NET_PROXY_LOG");
    TARGET = need("IOP_NET_GATEWAY_TARGET");
    /* The emulator runs already: its control API is all the tests need of it. */
    memset(&EMU, 0, sizeof EMU);
    snprintf(EMU.url, sizeof EMU.url, "%s", emulator_url);
    EMU.port = atoi(strrchr(emulator_url, ':') + 1);
    test_private_ca();
    test_proxies();
    test_trust_env();
    printf("c network tests: %d passed, %d failed\n", checks_passed, checks_failed);
    return checks_failed == 0 ? 0 : 1;
}
