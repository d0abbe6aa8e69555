/*
 * iop.h: C API of iop, an SDK for the IOP gateway (AliExpress / Lazada Open Platform).
 *
 * GENERATED FILE: do not edit. It is generated from ffi-c/src by cbindgen 0.29.4;
 * regenerate it with `make header` (IOP_BLESS=1 cargo test -p iop-ffi --test header).
 *
 * Conventions:
 * - Every function taking a pointer checks it: NULL gives IOP_RESULT_NULL_ARGUMENT (or NULL / -1 /
 *   a no-op for accessors and _free functions), never a crash.
 * - Strings are NUL-terminated UTF-8; invalid UTF-8 gives IOP_RESULT_INVALID_UTF8.
 * - Out-parameters come last and are written only on success. `err` may be NULL; on failure a
 *   non-NULL `err` receives an iop_error to free with iop_error_free.
 * - One exception: a `bool *` out-parameter, when not NULL, is written on every return: the
 *   answer on IOP_RESULT_OK, `false` on any other result (a caller that ignores the result
 *   reads `false`, never a stale `true`).
 * - Strings returned as `const char *` are borrowed from a handle (or static); strings returned
 *   as `char *` are yours: free them with iop_string_free.
 * - No panic crosses this boundary: a bug gives IOP_RESULT_PANIC.
 * - iop_client may be shared by threads; see each type for its rules.
 */

#ifndef IOP_H
#define IOP_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

/**
 * The version of this header, the same as iop_version() of the library built with it.
 * Compare at compile time: `#if IOP_VERSION_MAJOR == 0 && IOP_VERSION_MINOR >= 1`.
 */
#define IOP_VERSION "0.1.0"
#define IOP_VERSION_MAJOR 0
#define IOP_VERSION_MINOR 1
#define IOP_VERSION_PATCH 0

/**
 * Size of the buffer `iop_sign` needs: 64 hex characters and a NUL.
 */
#define IOP_SIGN_BUFFER_LEN 65

/**
 * Size of the buffer `iop_new_state` needs: 48 hex digits and a NUL.
 */
#define IOP_STATE_BUFFER_LEN 49

/**
 * The outcome of a call. The numbers are part of the ABI: fixed, never reused, never
 * renumbered; new values are only ever appended.
 *
 * `IOP_RESULT_OK` is success. Values 1-4 are mistakes in the arguments, found before anything
 * was sent. Values 5-11 are errors the gateway answered with, by what to do about them. The
 * rest are failures to deliver or understand a call, of the token store, and panics.
 */
typedef enum iop_result {
  /**
   * Success.
   */
  IOP_RESULT_OK = 0,
  /**
   * A required pointer argument was NULL.
   */
  IOP_RESULT_NULL_ARGUMENT = 1,
  /**
   * A string argument was not valid UTF-8.
   */
  IOP_RESULT_INVALID_UTF8 = 2,
  /**
   * An argument was refused: a malformed API name or base URL, plain `http` to a host that
   * is not loopback, a zero timeout, an unknown sign method, …
   */
  IOP_RESULT_INVALID_ARGUMENT = 3,
  /**
   * The output buffer is too small (`iop_sign` needs 65 bytes).
   */
  IOP_RESULT_BUFFER_TOO_SMALL = 4,
  /**
   * The gateway rejected the signature (`IncompleteSignature`): wrong app secret, or a
   * signing mistake. Do not retry.
   */
  IOP_RESULT_SIGNATURE = 5,
  /**
   * The seller must authorize the app again (`InvalidCode`, `IllegalRefreshToken`,
   * `AUTH_TYPE_UNSUPPORTED`). Do not retry.
   */
  IOP_RESULT_REAUTHORIZE = 6,
  /**
   * The access token is invalid or expired (`IllegalAccessToken`): refresh it, then retry.
   */
  IOP_RESULT_ACCESS_TOKEN_INVALID = 7,
  /**
   * Rate limited (`ApiCallLimit`, `AppCallLimit`, …): wait `iop_error_retry_after_ms`.
   */
  IOP_RESULT_RATE_LIMITED = 8,
  /**
   * A transient platform failure (ISP or SYSTEM error, HTTP 5xx): retrying later may work.
   */
  IOP_RESULT_GATEWAY_RETRYABLE = 9,
  /**
   * The request or the app's set-up is wrong (`MissingParameter`, `InvalidAppKey`,
   * `InsufficientPermission`, …): fix it, do not retry.
   */
  IOP_RESULT_GATEWAY_CLIENT = 10,
  /**
   * A gateway error code this library does not know.
   */
  IOP_RESULT_GATEWAY_UNKNOWN = 11,
  /**
   * The answer was not the gateway's JSON (an HTML error page, empty, truncated), or held a
   * string C cannot represent.
   */
  IOP_RESULT_DECODE = 12,
  /**
   * The request could not be delivered or its answer not read (connection refused or reset).
   */
  IOP_RESULT_TRANSPORT = 13,
  /**
   * A connect or read timeout passed.
   */
  IOP_RESULT_TIMEOUT = 14,
  /**
   * The token store failed to load or save (unreadable directory, corrupted file, conflict,
   * a record of another app).
   */
  IOP_RESULT_STORE = 15,
  /**
   * The token manager found that the seller must authorize the app again (refresh token
   * dead or expired).
   */
  IOP_RESULT_REAUTHORIZATION_REQUIRED = 16,
  /**
   * A bug: the library panicked. The panic was caught; the library stays usable.
   */
  IOP_RESULT_PANIC = 17,
  /**
   * An error of a kind this version of the C binding does not name yet.
   */
  IOP_RESULT_OTHER = 18,
  /**
   * The redirect back from the authorization page was refused and no code was exchanged:
   * its `state` is missing or not the expected one (a forged or stale redirect), the
   * platform reported an error (the seller declined), or it has no code.
   */
  IOP_RESULT_AUTHORIZATION = 19,
  /**
   * The token manager holds no token set for the seller key asked for: the seller never
   * authorized the app here, or was removed. Nothing was sent. Store the seller's token set
   * first (`iop_manager_put`, `iop_manager_complete_authorization`).
   */
  IOP_RESULT_UNKNOWN_SELLER = 20,
} iop_result;

/**
 * What `iop_manager_handle_push` did with a push message. The numbers are part of the ABI.
 */
typedef enum iop_push_outcome {
  /**
   * Nothing for the token lifecycle: another message type, or a seller the store does not
   * hold.
   */
  IOP_PUSH_IGNORED = 0,
  /**
   * Type 8 for a due token (past half of its life, or within the margin): refreshed now.
   */
  IOP_PUSH_REFRESHED = 1,
  /**
   * Type 8 for a token that is not due: nothing was sent to the gateway.
   */
  IOP_PUSH_NOT_DUE = 2,
  /**
   * Type 8 for a due token that cannot be refreshed, or type 13 `close`: the seller must
   * authorize again (the reauthorization callback fired, once per stored token).
   */
  IOP_PUSH_REAUTHORIZATION_REQUIRED = 3,
  /**
   * The same message (same dedup key) was handled already within the window, by this
   * manager or another sharing the store: nothing was done.
   */
  IOP_PUSH_DUPLICATE = 4,
  /**
   * Refused: the message's timestamp is missing or further from now than the push window
   * (an old message replayed): nothing was done.
   */
  IOP_PUSH_STALE = 5,
} iop_push_outcome;

/**
 * How a request is signed (docs/src/concepts/protocol.md#signing).
 */
typedef enum iop_sign_method {
  /**
   * HMAC-SHA256: 64 uppercase hex characters. Valid for every API.
   */
  IOP_SIGN_METHOD_SHA256 = 0,
  /**
   * Legacy TOP scheme, MD5(secret + pairs + secret): 32 uppercase hex characters.
   */
  IOP_SIGN_METHOD_MD5 = 1,
} iop_sign_method;

/**
 * A client for one app on one gateway: app key, app secret, base URL, HTTP settings, a pool of
 * connections.
 *
 * Create with `iop_client_new`, free with `iop_client_free`. A `const iop_client *` may be used
 * by any number of threads at once (the type is `Send + Sync`): one client serves a whole
 * program. Only the `iop_client_set_*` functions and `iop_client_free` need the client to
 * yourself.
 */
typedef struct iop_client iop_client;

/**
 * The detail of a failure: its result, the gateway's code, message and request id, and how
 * long to wait before retrying.
 *
 * Written to the `err` out-parameter of functions that talk to the gateway, only when they
 * fail and only when `err` is not NULL; free with `iop_error_free`. Immutable: may be read by
 * several threads at once. Strings returned by its accessors live until `iop_error_free`.
 */
typedef struct iop_error iop_error;

/**
 * A token manager: keeps every seller's access token valid over a client and a token store
 * (in memory, a directory of files shared safely between processes, Redis or PostgreSQL
 * shared between hosts, or your own store).
 *
 * Create with `iop_manager_new` or `iop_manager_open` (memory, a directory, a Redis or
 * PostgreSQL URL) or `iop_manager_new_with_store` (your own store, as callbacks); free with
 * `iop_manager_free`. May be used by several threads at once: concurrent callers asking for
 * one seller share a single refresh.
 */
typedef struct iop_manager iop_manager;

/**
 * Where a keys callback puts the stored keys: pass it to `iop_store_keys_add`, once per key.
 * Lent by the library for the duration of one keys callback only.
 */
typedef struct iop_store_keys iop_store_keys;

/**
 * Where a load callback puts the token set it found: pass it to `iop_store_value_set`.
 * Lent by the library for the duration of one load callback only.
 */
typedef struct iop_store_value iop_store_value;

/**
 * A seller's token set (access token, refresh token, expiries, seller ids) as the gateway sent
 * it.
 *
 * Returned by `iop_client_create_token`, `iop_client_refresh_token` and `iop_token_from_json`;
 * free with `iop_token_free`. Immutable: a `const iop_token *` may be read by several threads
 * at once. Strings returned by its accessors belong to the token and live until
 * `iop_token_free`; a field holding a NUL byte (which a C string cannot carry) reads as NULL.
 */
typedef struct iop_token iop_token;

/**
 * Loads the token set of `key`. The callback either calls `iop_store_value_set(value, json)`
 * once (the token set is stored: `json` is the text `save` was given) or does not call it
 * (nothing is stored for `key`). Returns 0 on success, anything else on failure.
 */
typedef int (*iop_store_load_fn)(void *user, const char *key, struct iop_store_value *value);

/**
 * Stores `token_json` (a JSON object, NUL-terminated; it holds secrets) for `key`, replacing
 * what is there; returns 0 once it is stored, anything else on failure. Both strings are
 * borrowed for the duration of the call only: copy what you keep. The library zeroes its copy
 * of `token_json` after the call.
 */
typedef int (*iop_store_save_fn)(void *user, const char *key, const char *token_json);

/**
 * Lists every stored key by calling `iop_store_keys_add(keys, key)` once per key (any order;
 * duplicates are dropped). Returns 0 on success, anything else on failure.
 */
typedef int (*iop_store_keys_fn)(void *user, struct iop_store_keys *keys);

/**
 * Removes the token set of `key`, writing to `*removed` whether one was stored (it starts as
 * `false`). Returns 0 on success, anything else on failure.
 */
typedef int (*iop_store_remove_fn)(void *user, const char *key, bool *removed);

/**
 * A token store implemented by the caller, for `iop_manager_new_with_store`. The library adds
 * the versions, compare-and-swap saves and per-key locks; the callbacks only load, save, list
 * and (optionally) remove JSON text by key.
 *
 * Threads: the callbacks are called from any thread that uses the manager (several at once,
 * for different keys and for the same key), so they and `user` must be thread-safe. No lock of
 * the library is held during a callback: a callback may call into the library (also into the
 * manager over this store), except to write a key from inside its own save or remove of that
 * same key, which is refused with `IOP_RESULT_STORE`.
 *
 * Failures: a callback returning non-zero makes the operation fail with `IOP_RESULT_STORE`,
 * whose message names the key and the callback. A stored value that is not a JSON object is
 * also `IOP_RESULT_STORE` naming the key (never quoting the value), and is not overwritten:
 * remove it first.
 *
 * Versions live in this process: share one manager between the threads of a process rather
 * than building several managers over the same storage.
 */
typedef struct iop_store_callbacks {
  /**
   * Passed as the first argument to every callback; owned by the caller until a manager is
   * created successfully, then by the manager (see `free_user`).
   */
  void *user;
  /**
   * Required.
   */
  iop_store_load_fn load;
  /**
   * Required.
   */
  iop_store_save_fn save;
  /**
   * Required.
   */
  iop_store_keys_fn keys;
  /**
   * NULL: the store cannot remove keys (`iop_manager_remove` fails with `IOP_RESULT_STORE`).
   */
  iop_store_remove_fn remove;
  /**
   * Called once with `user` when the manager is freed (NULL: not called). Not called when
   * `iop_manager_new_with_store` fails: `user` stays the caller's then.
   */
  void (*free_user)(void *user);
} iop_store_callbacks;

/**
 * Called when the manager finds that a seller must authorize the app again: with the
 * `user_data` given at registration, the seller `key` and the error that said so. Both
 * pointers are borrowed for the duration of the call only; do not free them. Called at most
 * once per stored token, from whichever thread found out (a thread calling
 * `iop_manager_access_token` or a worker of `iop_manager_refresh_due`), so it must be
 * thread-safe; it must not call back into the same manager.
 */
typedef void (*iop_reauthorization_callback)(void *user_data,
                                             const char *key,
                                             const struct iop_error *error);

/**
 * What `iop_manager_refresh_due` did: how many sellers fell in each outcome.
 */
typedef struct iop_refresh_report {
  /**
   * Tokens refreshed and saved.
   */
  size_t refreshed;
  /**
   * Tokens not due yet.
   */
  size_t skipped;
  /**
   * Tokens whose refresh failed (transport, gateway, store errors); retry later.
   */
  size_t failed;
  /**
   * Sellers who must authorize the app again (refresh token dead or expiring).
   */
  size_t reauthorization_required;
} iop_refresh_report;

/**
 * Records `marker` (a handled push message) for `ttl_ms` milliseconds, in one atomic step that
 * fails when an unexpired record of it exists (an insert with a unique key and an expiry), and
 * writes to `*first` whether this call recorded it (`true`) or found a live record (`false`;
 * it starts as `false`). `marker` (printable text, at most 256 bytes) is borrowed for the
 * call only. Returns 0 on success, anything else on failure. Optional: set it with
 * `iop_manager_set_store_mark_seen` so that every host sharing your storage agrees on which
 * push messages were handled.
 */
typedef int (*iop_store_mark_seen_fn)(void *user, const char *marker, int64_t ttl_ms, bool *first);

#ifdef __cplusplus
extern "C" {
#endif // __cplusplus

/**
 * Writes the URL of the platform's authorization page to `*out` (free with
 * `iop_string_free`): `…/oauth/authorize?response_type=code&force_auth=true&redirect_uri=…&client_id=…&state=…`.
 *
 * - `platform`: `"aliexpress"` or `"lazada"`; NULL means `"aliexpress"`.
 * - `app_key`, `redirect_uri` (absolute http(s), registered in the app console), `state` (from
 *   `iop_new_state`, kept with the seller's session): not NULL.
 * - `country`: Lazada only (`sg`, `my`, `th`, `vn`, `ph`, `id`, `cb`); NULL for none.
 * - `uuid`: AliExpress only; NULL for none.
 * - `base_url`: the host serving the page (the emulator's URL in tests); NULL for the
 *   platform's own (`api-sg.aliexpress.com`, `auth.lazada.com`).
 *
 * `err` as for `iop_client_new`: the message says which argument is refused and why.
 *
 * Thread safety: none needed. Returns `IOP_RESULT_OK`; `IOP_RESULT_NULL_ARGUMENT`;
 * `IOP_RESULT_INVALID_UTF8`; `IOP_RESULT_INVALID_ARGUMENT` (unknown platform, empty app key or
 * state, a redirect URI that is not absolute http(s), a country for AliExpress or a uuid for
 * Lazada); `IOP_RESULT_PANIC`.
 */
enum iop_result iop_authorization_url(const char *platform,
                                      const char *app_key,
                                      const char *redirect_uri,
                                      const char *state,
                                      const char *country,
                                      const char *uuid,
                                      const char *base_url,
                                      char **out,
                                      struct iop_error **err);

/**
 * Calls any API and writes the JSON text of the answer's body to `*out_json` (free with
 * `iop_string_free`).
 *
 * - `api`: a GOP path (`"/seller/get"`, sent to `{base}/rest/seller/get`) or a TOP method name
 *   (`"aliexpress.solution.product.list.get"`, sent to `{base}/sync`); the name decides.
 * - `keys`, `values`, `count`: the business parameters (empty and whitespace-only values are
 *   not sent); with `count == 0` both arrays may be NULL.
 * - `access_token`: the seller's access token, or NULL for calls made for no seller.
 *
 * Gateway error envelopes are failures, not JSON. `err` as for `iop_client_create_token`.
 * Thread safety: `c` may be shared.
 *
 * Returns `IOP_RESULT_OK`; `IOP_RESULT_NULL_ARGUMENT`; `IOP_RESULT_INVALID_UTF8`;
 * `IOP_RESULT_INVALID_ARGUMENT` (malformed API name, a business parameter named like a system
 * one); `IOP_RESULT_ACCESS_TOKEN_INVALID` (refresh the token and retry); every other gateway
 * result; `IOP_RESULT_DECODE`; `IOP_RESULT_TRANSPORT`; `IOP_RESULT_TIMEOUT`; `IOP_RESULT_PANIC`.
 */
enum iop_result iop_client_call(const struct iop_client *c,
                                const char *api,
                                const char *const *keys,
                                const char *const *values,
                                size_t count,
                                const char *access_token,
                                char **out_json,
                                struct iop_error **err);

/**
 * `/auth/token/create`: exchanges an authorization code from the seller's OAuth redirect
 * (single use, valid 30 minutes) for a token set, written to `*out` (free with
 * `iop_token_free`).
 *
 * On failure, when `err` is not NULL, `*err` receives an `iop_error` (free with
 * `iop_error_free`); on success `*err` is not touched. Thread safety: `c` may be shared.
 *
 * Returns `IOP_RESULT_OK`; argument results (`IOP_RESULT_NULL_ARGUMENT`,
 * `IOP_RESULT_INVALID_UTF8`, `IOP_RESULT_INVALID_ARGUMENT` for an empty or blank code, refused
 * before anything is sent); gateway results (`IOP_RESULT_REAUTHORIZE` for a used, unknown
 * or expired code, `IOP_RESULT_SIGNATURE`, `IOP_RESULT_RATE_LIMITED`,
 * `IOP_RESULT_GATEWAY_RETRYABLE`, `IOP_RESULT_GATEWAY_CLIENT`, `IOP_RESULT_GATEWAY_UNKNOWN`);
 * `IOP_RESULT_DECODE`; `IOP_RESULT_TRANSPORT`; `IOP_RESULT_TIMEOUT`; `IOP_RESULT_PANIC`.
 */
enum iop_result iop_client_create_token(const struct iop_client *c,
                                        const char *code,
                                        struct iop_token **out,
                                        struct iop_error **err);

/**
 * Frees a client. NULL is a no-op. No other thread may be using it.
 */
void iop_client_free(struct iop_client *c);

/**
 * Creates a client for one app on one gateway and writes it to `*out`.
 *
 * - `base_url`: the gateway, e.g. `"https://api-sg.aliexpress.com"` (a vendor-style `/rest` or
 *   `/sync` suffix is accepted and stripped); NULL means AliExpress
 *   (`https://api-sg.aliexpress.com`). Only `https` is accepted, except plain `http` to a
 *   loopback address (the emulator).
 * - `app_key`, `app_secret`: the app's credentials (not NULL). The secret is copied; it never
 *   appears in errors or logs.
 *
 * Free the client with `iop_client_free`. The client may be shared by any number of threads
 * (see `iop_client`).
 *
 * On failure, when `err` is not NULL, `*err` receives an `iop_error` saying what is wrong with
 * which argument (free with `iop_error_free`); on success `*err` is not touched.
 *
 * Returns `IOP_RESULT_OK`; `IOP_RESULT_NULL_ARGUMENT`; `IOP_RESULT_INVALID_UTF8`;
 * `IOP_RESULT_INVALID_ARGUMENT` (malformed URL, plain `http` to a host that is not loopback);
 * `IOP_RESULT_TRANSPORT` (the HTTP stack could not be set up); `IOP_RESULT_PANIC`.
 */
enum iop_result iop_client_new(const char *base_url,
                               const char *app_key,
                               const char *app_secret,
                               struct iop_client **out,
                               struct iop_error **err);

/**
 * `/auth/token/refresh`: a new token set for `refresh_token`, written to `*out` (free with
 * `iop_token_free`). Store the new refresh token: the old one may stop working now.
 *
 * `err` as for `iop_client_create_token`. Thread safety: `c` may be shared.
 *
 * Returns `IOP_RESULT_OK`; `IOP_RESULT_NULL_ARGUMENT`; `IOP_RESULT_INVALID_UTF8`;
 * `IOP_RESULT_INVALID_ARGUMENT` (an empty or blank refresh token, refused before anything is
 * sent); `IOP_RESULT_REAUTHORIZE` (`IllegalRefreshToken`: the refresh token is dead, the seller must
 * authorize again); `IOP_RESULT_SIGNATURE`; `IOP_RESULT_RATE_LIMITED`;
 * `IOP_RESULT_GATEWAY_RETRYABLE`; `IOP_RESULT_GATEWAY_CLIENT`; `IOP_RESULT_GATEWAY_UNKNOWN`;
 * `IOP_RESULT_DECODE`; `IOP_RESULT_TRANSPORT`; `IOP_RESULT_TIMEOUT`; `IOP_RESULT_PANIC`.
 */
enum iop_result iop_client_refresh_token(const struct iop_client *c,
                                         const char *refresh_token,
                                         struct iop_token **out,
                                         struct iop_error **err);

/**
 * Trusts the certificates of the PEM file at `pem_path` beside the bundled roots (a private or
 * TLS-inspecting CA, for the gateway or for an `https://` proxy); NULL goes back to the
 * bundled roots alone. The file is read now (and again by later `iop_client_set_*` calls).
 * Certificate checks themselves cannot be turned off.
 *
 * Needs the client to yourself, like `iop_client_set_timeout_ms`. `err` as for
 * `iop_client_new`.
 *
 * Returns `IOP_RESULT_OK`; `IOP_RESULT_NULL_ARGUMENT` (`c`); `IOP_RESULT_INVALID_UTF8`;
 * `IOP_RESULT_INVALID_ARGUMENT` (the file cannot be read or holds no certificate: the message
 * says which); `IOP_RESULT_PANIC`. On failure the client is unchanged.
 */
enum iop_result iop_client_set_ca_file(struct iop_client *c,
                                       const char *pem_path,
                                       struct iop_error **err);

/**
 * Sets how many attempts a call may make in all (default 3; 1 disables retries). Retries
 * happen only where repeating is safe: connection failures before sending, HTTP 5xx, ISP and
 * SYSTEM errors, and short rate-limit bans; never for signature, authorization or client
 * errors.
 *
 * Needs the client to yourself, like `iop_client_set_timeout_ms`. `err` as for
 * `iop_client_new`.
 *
 * Returns `IOP_RESULT_OK`; `IOP_RESULT_NULL_ARGUMENT`; `IOP_RESULT_INVALID_ARGUMENT`
 * (`max_attempts` 0); `IOP_RESULT_TRANSPORT`; `IOP_RESULT_PANIC`.
 */
enum iop_result iop_client_set_max_attempts(struct iop_client *c,
                                            uint32_t max_attempts,
                                            struct iop_error **err);

/**
 * Sends every call through an HTTP `CONNECT` proxy: `proxy_url` is
 * `http://[user:password@]host:port` (or `https://…` for TLS to the proxy itself, checked like
 * any server); NULL removes the proxy. The URL is copied; its credentials never appear in
 * errors or logs.
 *
 * Needs the client to yourself, like `iop_client_set_timeout_ms`. `err` as for
 * `iop_client_new`.
 *
 * Returns `IOP_RESULT_OK`; `IOP_RESULT_NULL_ARGUMENT` (`c`); `IOP_RESULT_INVALID_UTF8`;
 * `IOP_RESULT_INVALID_ARGUMENT` (not an http or https proxy URL); `IOP_RESULT_PANIC`. On
 * failure the client is unchanged.
 */
enum iop_result iop_client_set_proxy(struct iop_client *c,
                                     const char *proxy_url,
                                     struct iop_error **err);

/**
 * Sets the connect and read timeouts of the client's HTTP connections, in milliseconds (both
 * greater than 0; the defaults are 10 s connect, 30 s read).
 *
 * Needs the client to yourself: no other thread may use `c` during this call. Token managers
 * made from `c` before keep the old settings. `err` as for `iop_client_new`.
 *
 * Returns `IOP_RESULT_OK`; `IOP_RESULT_NULL_ARGUMENT`; `IOP_RESULT_INVALID_ARGUMENT` (a zero
 * timeout; the CA file given earlier can no longer be read); `IOP_RESULT_TRANSPORT`;
 * `IOP_RESULT_PANIC`. On failure the client is unchanged.
 */
enum iop_result iop_client_set_timeout_ms(struct iop_client *c,
                                          uint32_t connect_ms,
                                          uint32_t read_ms,
                                          struct iop_error **err);

/**
 * With `trust_env` true, also reads the environment when settings are applied (now, and at
 * each later `iop_client_set_*` call): `HTTPS_PROXY` (else `https_proxy`, `ALL_PROXY`,
 * `all_proxy`) when no proxy was set, `NO_PROXY` (hosts reached directly) and `SSL_CERT_FILE`
 * (trusted beside the bundled roots) when no CA file was set. Off by default: the environment
 * is not read.
 *
 * Needs the client to yourself, like `iop_client_set_timeout_ms`. `err` as for
 * `iop_client_new`.
 *
 * Returns `IOP_RESULT_OK`; `IOP_RESULT_NULL_ARGUMENT`; `IOP_RESULT_INVALID_ARGUMENT` (the
 * environment names a malformed proxy or an unreadable CA file); `IOP_RESULT_PANIC`. On
 * failure the client is unchanged.
 */
enum iop_result iop_client_set_trust_env(struct iop_client *c,
                                         bool trust_env,
                                         struct iop_error **err);

/**
 * The gateway's error code, e.g. `"IllegalRefreshToken"`, `"ApiCallLimit"`; NULL when the
 * gateway did not answer with an error (transport, timeout, argument errors) or `e` is NULL.
 *
 * Borrowed: valid until `iop_error_free(e)`; do not free it.
 */
const char *iop_error_code(const struct iop_error *e);

/**
 * Frees an error and the strings borrowed from it. NULL is a no-op. Free each error once.
 */
void iop_error_free(struct iop_error *e);

/**
 * The HTTP status of the answer the error came from; 0 when there was no answer (transport,
 * timeout, argument errors) or `e` is NULL.
 */
uint16_t iop_error_http_status(const struct iop_error *e);

/**
 * A message in English saying what failed; never contains a secret. Never NULL unless `e` is
 * NULL.
 *
 * Borrowed: valid until `iop_error_free(e)`; do not free it.
 */
const char *iop_error_message(const struct iop_error *e);

/**
 * The gateway's `request_id` (quote it to the platform's support), NULL if none or `e` is
 * NULL.
 *
 * Borrowed: valid until `iop_error_free(e)`; do not free it.
 */
const char *iop_error_request_id(const struct iop_error *e);

/**
 * The result of the failed call this error describes (never `IOP_RESULT_OK`).
 *
 * NULL gives `IOP_RESULT_NULL_ARGUMENT`.
 */
enum iop_result iop_error_result(const struct iop_error *e);

/**
 * For `IOP_RESULT_RATE_LIMITED`: milliseconds to wait before retrying, as the gateway's ban
 * message said. -1 when unknown, for other errors, or when `e` is NULL.
 */
int64_t iop_error_retry_after_ms(const struct iop_error *e);

/**
 * The gateway's `sub_code` (TOP-style errors), NULL if none or `e` is NULL.
 *
 * Borrowed: valid until `iop_error_free(e)`; do not free it.
 */
const char *iop_error_sub_code(const struct iop_error *e);

/**
 * The gateway's error `type`: `"ISV"`, `"ISP"` or `"SYSTEM"`; NULL if none or `e` is NULL.
 *
 * Borrowed: valid until `iop_error_free(e)`; do not free it.
 */
const char *iop_error_type(const struct iop_error *e);

/**
 * Writes a valid access token for the seller `key` to `*out` (a secret; free with
 * `iop_string_free`, which also zeroes it), refreshing first when it expires within the
 * margin. Concurrent callers for one key share one refresh; the new refresh token is saved
 * before this returns.
 *
 * `err` as for `iop_client_create_token`.
 *
 * Returns `IOP_RESULT_OK`; `IOP_RESULT_NULL_ARGUMENT`; `IOP_RESULT_INVALID_UTF8`;
 * `IOP_RESULT_UNKNOWN_SELLER` (no token set is stored for `key`);
 * `IOP_RESULT_REAUTHORIZATION_REQUIRED` (the refresh token is dead or expired: the seller must
 * authorize the app again); `IOP_RESULT_STORE` (the store failed); the gateway, decode,
 * transport and timeout results of a failed refresh; `IOP_RESULT_PANIC`.
 */
enum iop_result iop_manager_access_token(struct iop_manager *m,
                                         const char *key,
                                         char **out,
                                         struct iop_error **err);

/**
 * Calls any API for the seller `key` and writes the JSON text of the answer's body to
 * `*out_json` (free with `iop_string_free`): a valid access token of the seller (refreshed
 * first when due, as `iop_manager_access_token`), the call, and when the gateway refuses that
 * access token as invalid or expired, one refresh and one retry. That refresh is shared by
 * every thread refused the same token (one per seller at a time); a dead refresh token
 * reaches the reauthorization callback and gives `IOP_RESULT_REAUTHORIZATION_REQUIRED`.
 *
 * `api`, `keys`, `values`, `count` as for `iop_client_call`. Gateway error envelopes are
 * failures, as for `iop_client_call` (`iop_manager_call_raw` returns them as JSON).
 * `err` as for `iop_client_create_token`. Thread safety: `m` may be shared.
 *
 * Returns `IOP_RESULT_OK`; `IOP_RESULT_NULL_ARGUMENT`; `IOP_RESULT_INVALID_UTF8`;
 * `IOP_RESULT_INVALID_ARGUMENT` (malformed API name, a business parameter named like a system
 * one); `IOP_RESULT_UNKNOWN_SELLER` (nothing stored for `key`: nothing was sent);
 * `IOP_RESULT_REAUTHORIZATION_REQUIRED`; `IOP_RESULT_ACCESS_TOKEN_INVALID` (refused again after
 * the refresh); every other gateway result; `IOP_RESULT_STORE`; `IOP_RESULT_DECODE`;
 * `IOP_RESULT_TRANSPORT`; `IOP_RESULT_TIMEOUT`; `IOP_RESULT_PANIC`.
 */
enum iop_result iop_manager_call(struct iop_manager *m,
                                 const char *key,
                                 const char *api,
                                 const char *const *keys,
                                 const char *const *values,
                                 size_t count,
                                 char **out_json,
                                 struct iop_error **err);

/**
 * `iop_manager_call`, returning a gateway error envelope as its JSON text instead of a
 * failure (what the vendor SDKs' `execute` does). A refusal of the access token is still
 * handled (one refresh, one retry) first.
 *
 * Returns as `iop_manager_call`, without the gateway results.
 */
enum iop_result iop_manager_call_raw(struct iop_manager *m,
                                     const char *key,
                                     const char *api,
                                     const char *const *keys,
                                     const char *const *values,
                                     size_t count,
                                     char **out_json,
                                     struct iop_error **err);

/**
 * Finishes a seller's authorization: checks `callback` (the redirect's full URL or its query
 * string) against `expected_state` first, in constant time, then exchanges its code with
 * `/auth/token/create` and stores the token set under `key` (NULL: the token's seller_id), and
 * writes the token set to `*out` (free with `iop_token_free`).
 *
 * `err` as for `iop_client_create_token`. Thread safety: `m` may be shared.
 *
 * Returns `IOP_RESULT_OK`; `IOP_RESULT_NULL_ARGUMENT`; `IOP_RESULT_INVALID_UTF8`;
 * `IOP_RESULT_AUTHORIZATION` (state missing or different, the platform's error, no code:
 * nothing was sent); the gateway, decode, transport and timeout results of the exchange;
 * `IOP_RESULT_STORE`; `IOP_RESULT_PANIC`.
 */
enum iop_result iop_manager_complete_authorization(const struct iop_manager *m,
                                                   const char *callback,
                                                   const char *expected_state,
                                                   const char *key,
                                                   struct iop_token **out,
                                                   struct iop_error **err);

/**
 * Frees a manager. NULL is a no-op. No other thread may be using it.
 */
void iop_manager_free(struct iop_manager *m);

/**
 * Writes the stored token set of `key` to `*out` (free with `iop_token_free`), or NULL when
 * none is stored. Does not refresh.
 *
 * `err` as for `iop_client_create_token`.
 *
 * Returns `IOP_RESULT_OK` (also when nothing is stored); `IOP_RESULT_NULL_ARGUMENT`;
 * `IOP_RESULT_INVALID_UTF8`; `IOP_RESULT_STORE`; `IOP_RESULT_PANIC`.
 */
enum iop_result iop_manager_get(struct iop_manager *m,
                                const char *key,
                                struct iop_token **out,
                                struct iop_error **err);

/**
 * Acts on a Lazada push for the token lifecycle and writes what it did to `*out` (written only
 * on success). Verify the push first with `iop_push_verify`, over the same bytes.
 *
 * - `body`, `body_len`: the raw request body (`body` may be NULL only when `body_len` is 0).
 * - Type 8 (the seller's authorization expires within 48 hours) refreshes the seller (its key
 *   is the message's `seller_id`) when its token is due: past half of its life, or within the
 *   manager's margin (`IOP_PUSH_REFRESHED`; else `IOP_PUSH_NOT_DUE`, nothing sent); a due
 *   token that cannot be refreshed reports the seller (`IOP_PUSH_REAUTHORIZATION_REQUIRED`,
 *   and the reauthorization callback). Type 13 `close` reports the seller.
 * - A message whose timestamp is missing or further from now than the push window
 *   (`iop_manager_set_push_window_ms`, default 15 minutes) is refused: `IOP_PUSH_STALE`.
 * - A message is recorded in the store before it is acted on, for twice the window: a repeat
 *   is `IOP_PUSH_DUPLICATE` and does nothing, on every manager sharing the store (every host
 *   for Redis and PostgreSQL; for a callback store, this process only unless
 *   `iop_manager_set_store_mark_seen` gave it a `mark_seen` callback).
 *
 * `err` as for `iop_client_create_token`. Thread safety: `m` may be shared.
 *
 * Returns `IOP_RESULT_OK`; `IOP_RESULT_NULL_ARGUMENT`; `IOP_RESULT_INVALID_ARGUMENT` (the body
 * is not a push message); `IOP_RESULT_STORE` (the store failed, the marker included); the
 * gateway, decode, transport and timeout results of a failed refresh; `IOP_RESULT_PANIC`.
 */
enum iop_result iop_manager_handle_push(const struct iop_manager *m,
                                        const uint8_t *body,
                                        size_t body_len,
                                        enum iop_push_outcome *out,
                                        struct iop_error **err);

/**
 * Creates a token manager over the client `c` and the token store named by `store`, and
 * writes it to `*out` (free with `iop_manager_free`).
 *
 * - `c`: the client used for refreshes; the manager keeps its own reference, so `c` may be
 *   freed before the manager. Later `iop_client_set_*` calls do not affect the manager.
 * - `store`: where the token sets are kept, named as everywhere in iop:
 *   - NULL or `"memory:"`: in this process's memory only;
 *   - a directory: an absolute path (`"/var/lib/app/tokens"`), a relative one starting with
 *     `"./"` or `"../"`, or `"file:PATH"`: one file per seller (created if missing, mode
 *     0700; files mode 0600, written atomically; safe to share between the processes of one
 *     machine). A bare name such as `"tokens"` is refused (write `"./tokens"`), and so is
 *     anything else that is none of these forms (a libpq `"host=… dbname=…"` string,
 *     `"redis:/host"`), with a message that shows no password;
 *   - `"redis://[user:password@]host[:port][/db]"`, or `"rediss://…"` for TLS (the server
 *     checked against the web PKI roots, the system's, and a CA file: the URL's `ca_file=`, or
 *     the environment variable `IOP_STORE_CA_FILE`): a Redis (or Valkey) server shared by
 *     every process and host using it, one refresh per seller at a time across all of them (a
 *     lease renewed while held). A server whose persistence may lose an acknowledged save
 *     (without `appendonly yes` and `appendfsync always`, or `WAITAOF`) is refused unless the
 *     URL has `durability=relaxed`;
 *   - `"postgres://user:password@host[:port]/db"` or `"postgresql://…"`: a PostgreSQL table
 *     (`iop_tokens`, created on first use), likewise shared, the per-seller lock dying with
 *     its holder's session. TLS by `sslmode=` (`prefer` by default; `verify-full`,
 *     `verify-ca`, `require`, `disable`) with the same roots and `ca_file=`; plain TCP to a
 *     host that is not this machine needs `insecure_plaintext=true`.
 *
 *   A server store is connected to here: a server that does not answer fails within the
 *   connect timeout (5 s), naming host and port, and a refused password fails too. The text
 *   is copied; free it when you like.
 * - `margin_ms`: refresh an access token when it expires within this many milliseconds; any
 *   negative value means the default, 3 days.
 *
 * The manager may be used by several threads at once.
 *
 * On failure, when `err` is not NULL, `*err` receives an error (free with `iop_error_free`)
 * whose message says what failed, e.g. which host and port did not answer. The message never
 * holds a password from `store`.
 *
 * Returns `IOP_RESULT_OK`; `IOP_RESULT_NULL_ARGUMENT`; `IOP_RESULT_INVALID_UTF8`;
 * `IOP_RESULT_STORE` (a store string of none of the forms above; the directory cannot be
 * created or opened; a URL that is malformed; a server that cannot be reached or refuses the
 * credentials);
 * `IOP_RESULT_PANIC`.
 */
enum iop_result iop_manager_new(const struct iop_client *c,
                                const char *store,
                                int64_t margin_ms,
                                struct iop_manager **out,
                                struct iop_error **err);

/**
 * Creates a token manager over the client `c` and a token store implemented by the caller's
 * callbacks (see `iop_store_callbacks`), and writes it to `*out` (free with
 * `iop_manager_free`).
 *
 * - `c`, `margin_ms`: as for `iop_manager_new`.
 * - `store`: copied; the struct itself need not outlive the call. On success the manager owns
 *   `store->user` and calls `store->free_user` (if not NULL) once when it is freed; on failure
 *   nothing is called and `user` stays yours.
 *
 * The manager may be used by several threads at once; the callbacks are then called from
 * those threads. `err` as for `iop_manager_new`.
 *
 * Returns `IOP_RESULT_OK`; `IOP_RESULT_NULL_ARGUMENT` (`c`, `store`, `out`, or one of the
 * `load`, `save`, `keys` callbacks NULL: the message names it); `IOP_RESULT_PANIC`.
 */
enum iop_result iop_manager_new_with_store(const struct iop_client *c,
                                           const struct iop_store_callbacks *store,
                                           int64_t margin_ms,
                                           struct iop_manager **out,
                                           struct iop_error **err);

/**
 * Registers `callback` (replacing any earlier one; NULL removes it), called with `user_data`
 * each time a seller is found to need authorizing again. See `iop_reauthorization_callback`.
 *
 * May be called at any time, also while other threads use `m`: calls that start after this
 * one returns use the new callback. A report already being delivered finishes with the
 * callback (and `user_data`) it started with, so keep an old `user_data` valid until the calls
 * on `m` that were running when you replaced it have returned.
 *
 * Returns `IOP_RESULT_OK`; `IOP_RESULT_NULL_ARGUMENT` (`m` NULL); `IOP_RESULT_PANIC`.
 */
enum iop_result iop_manager_on_reauthorization_required(struct iop_manager *m,
                                                        iop_reauthorization_callback callback,
                                                        void *user_data);

/**
 * The same as `iop_manager_new` (kept for code written when `iop_manager_new` had no `err`).
 *
 * Returns as `iop_manager_new`.
 */
enum iop_result iop_manager_open(const struct iop_client *c,
                                 const char *store,
                                 int64_t margin_ms,
                                 struct iop_manager **out,
                                 struct iop_error **err);

/**
 * Stores the token set `t` for the seller key `key` (any string, e.g. the seller id),
 * replacing what is there. `t` is copied: free it when you like.
 *
 * `err` as for `iop_client_create_token`: for `IOP_RESULT_STORE` its message says what failed
 * (the directory, the server, a record of another app naming the part that differs).
 *
 * Returns `IOP_RESULT_OK`; `IOP_RESULT_NULL_ARGUMENT`; `IOP_RESULT_INVALID_UTF8`;
 * `IOP_RESULT_STORE`; `IOP_RESULT_PANIC`.
 */
enum iop_result iop_manager_put(struct iop_manager *m,
                                const char *key,
                                const struct iop_token *t,
                                struct iop_error **err);

/**
 * Refreshes every stored token whose access token expires within `within_ms` milliseconds,
 * at most `concurrency` at a time (0: the default, 8), and writes the counts to `*out`.
 * Failures of single sellers are counted, not returned.
 *
 * Returns `IOP_RESULT_OK`; `IOP_RESULT_NULL_ARGUMENT`; `IOP_RESULT_INVALID_ARGUMENT`
 * (negative `within_ms`); `IOP_RESULT_PANIC`.
 */
enum iop_result iop_manager_refresh_due(struct iop_manager *m,
                                        int64_t within_ms,
                                        size_t concurrency,
                                        struct iop_refresh_report *out);

/**
 * Forgets the stored token set of the seller `key`: a seller who left, or a corrupted entry
 * to replace with `iop_manager_put`. When `removed` is not NULL, `*removed` receives `true`
 * if something was stored and `false` if nothing was, or if the call failed (the rule of every
 * `bool` out-parameter: written on every return, `false` unless `IOP_RESULT_OK`).
 *
 * `err` as for `iop_client_create_token`.
 *
 * Returns `IOP_RESULT_OK` (also when nothing was stored); `IOP_RESULT_NULL_ARGUMENT`;
 * `IOP_RESULT_INVALID_UTF8`; `IOP_RESULT_STORE` (the store failed); `IOP_RESULT_PANIC`.
 */
enum iop_result iop_manager_remove(struct iop_manager *m,
                                   const char *key,
                                   bool *removed,
                                   struct iop_error **err);

/**
 * Sets how far from now a push message's timestamp may be for `iop_manager_handle_push` to act
 * on it (default 15 minutes): `window_ms` from 1000 (1 second) to 43200000 (12 hours). Messages
 * are remembered for twice the window. May be called at any time, also while other threads use
 * `m`.
 *
 * Returns `IOP_RESULT_OK`; `IOP_RESULT_NULL_ARGUMENT`; `IOP_RESULT_INVALID_ARGUMENT` (out of
 * range); `IOP_RESULT_PANIC`.
 */
enum iop_result iop_manager_set_push_window_ms(const struct iop_manager *m, int64_t window_ms);

/**
 * Gives the callback store of `m` (made by `iop_manager_new_with_store`) a `mark_seen`
 * callback (NULL removes it), called with the store's `user` to record each push message the
 * manager acts on, so that every host sharing your storage acts on a message once. Without it
 * the markers are kept in this process's memory: each process (each host) then acts once on a
 * replayed message. Set it right after creating the manager; it may be replaced at any time.
 *
 * Returns `IOP_RESULT_OK`; `IOP_RESULT_NULL_ARGUMENT`; `IOP_RESULT_INVALID_ARGUMENT` (`m` was
 * not made by `iop_manager_new_with_store`); `IOP_RESULT_PANIC`.
 */
enum iop_result iop_manager_set_store_mark_seen(const struct iop_manager *m,
                                                iop_store_mark_seen_fn mark_seen);

/**
 * A secret as iop shows it to people, the same in every language: `…` and its last 4
 * characters (`…k3Fz`), or `…` alone for fewer than 12 characters. Tokens of one platform
 * share their first characters, so the end is what tells an old token from its replacement.
 *
 * Allocated: free with `iop_string_free`. NULL when `secret` is NULL or not UTF-8.
 */
char *iop_mask(const char *secret);

/**
 * Writes a fresh `state` to `out`: 192 bits from the operating system's random source as 48
 * lowercase hex digits and a NUL (`out_len` at least `IOP_STATE_BUFFER_LEN`, 49).
 *
 * Returns `IOP_RESULT_OK`; `IOP_RESULT_NULL_ARGUMENT`; `IOP_RESULT_BUFFER_TOO_SMALL`;
 * `IOP_RESULT_INVALID_ARGUMENT` (the OS gave no random bytes); `IOP_RESULT_PANIC`.
 */
enum iop_result iop_new_state(char *out, size_t out_len);

/**
 * Checks the `Authorization` header of a Lazada push against the body as received, and writes
 * the answer to `*out_valid`: `true` when the header is this app's signature of exactly these
 * bytes (lowercase hex of HMAC-SHA256, key = app secret, message = app key + body; either hex
 * case accepted; compared in constant time), `false` otherwise, including a missing (NULL),
 * short or non-hex header.
 *
 * - `app_key`, `app_secret`: the app's credentials (not NULL).
 * - `body`, `body_len`: the raw request body, exactly as received: never a re-serialised
 *   JSON (its bytes differ and it never verifies). `body` may be NULL only when `body_len` is 0.
 * - `authorization`: the header's value, NUL-terminated; NULL when the request had none.
 *
 * Answer HTTP 200 within 500 ms (Lazada retries otherwise) and do the work later.
 * Thread safety: none needed (no shared state).
 *
 * Returns `IOP_RESULT_OK` (then `*out_valid` says whether the push is genuine);
 * `IOP_RESULT_NULL_ARGUMENT`; `IOP_RESULT_INVALID_UTF8` (app key or secret); `IOP_RESULT_PANIC`.
 * A header that is not UTF-8 is not a valid signature: `IOP_RESULT_OK` with `false`. Whatever
 * it returns, a non-NULL `out_valid` is written: `false` on every result but `IOP_RESULT_OK`
 * (the rule of every `bool` out-parameter), so a caller that ignores the result fails closed.
 */
enum iop_result iop_push_verify(const char *app_key,
                                const char *app_secret,
                                const uint8_t *body,
                                size_t body_len,
                                const char *authorization,
                                bool *out_valid);

/**
 * The name of a result value as static text, e.g. `"IOP_RESULT_OK"`; for a number that is not
 * a result value, `"IOP_RESULT_UNKNOWN"`. Never returns NULL; never free the text.
 *
 * `r` is an `int` so that any number can be passed safely; pass an `iop_result`.
 */
const char *iop_result_name(int r);

/**
 * Computes the signature of `count` key/value pairs, exactly as given (sorted by key bytes,
 * nothing dropped), and writes it as uppercase hex with a terminating NUL to `out`.
 *
 * - `app_secret`: the HMAC key (not NULL).
 * - `api_path`: the prefix, i.e. the API path of a GOP call (`"/auth/token/refresh"`); NULL or
 *   `""` for a TOP call (no prefix).
 * - `keys`, `values`: two arrays of `count` strings each. With `count == 0` both may be NULL.
 * - `method`: an `iop_sign_method` value (taken as `int` so that any number is checked).
 * - `out`, `out_len`: the caller's buffer; at least `IOP_SIGN_BUFFER_LEN` (65) bytes.
 *
 * `out` is written only on success. Thread safety: none needed (no shared state).
 *
 * Returns `IOP_RESULT_OK`; `IOP_RESULT_NULL_ARGUMENT` (NULL `app_secret` or `out`, NULL array
 * with `count > 0`, NULL element); `IOP_RESULT_INVALID_UTF8`; `IOP_RESULT_INVALID_ARGUMENT`
 * (unknown `method`); `IOP_RESULT_BUFFER_TOO_SMALL` (`out_len < 65`); `IOP_RESULT_PANIC`.
 */
enum iop_result iop_sign(const char *app_secret,
                         const char *api_path,
                         const char *const *keys,
                         const char *const *values,
                         size_t count,
                         int method,
                         char *out,
                         size_t out_len);

/**
 * Adds one stored key (NUL-terminated UTF-8, copied) to the list a keys callback builds. Only
 * valid on the `keys` a keys callback received, during that callback. A key that is not valid
 * UTF-8 makes the whole listing fail with `IOP_RESULT_STORE`, even if the callback returns 0.
 *
 * Returns `IOP_RESULT_OK`; `IOP_RESULT_NULL_ARGUMENT`; `IOP_RESULT_INVALID_UTF8`;
 * `IOP_RESULT_PANIC`.
 */
enum iop_result iop_store_keys_add(struct iop_store_keys *keys, const char *key);

/**
 * Hands the token set found by a load callback to the library, which copies `token_json`
 * (NUL-terminated): free or wipe your copy when you like. Called again, the later value wins.
 * Only valid on the `value` a load callback received, during that callback.
 *
 * Returns `IOP_RESULT_OK`; `IOP_RESULT_NULL_ARGUMENT`; `IOP_RESULT_PANIC`.
 */
enum iop_result iop_store_value_set(struct iop_store_value *value, const char *token_json);

/**
 * Frees a string this library allocated (`iop_client_call`'s JSON, `iop_token_to_json`,
 * `iop_manager_access_token`), zeroing its bytes first since it may hold a secret. NULL is a
 * no-op. Never pass a borrowed string (from an accessor) or one you allocated.
 */
void iop_string_free(char *s);

/**
 * The access token (a secret: do not log it), NULL if the gateway sent none or `t` is NULL.
 *
 * Borrowed: valid until `iop_token_free(t)`; do not free it.
 */
const char *iop_token_access_token(const struct iop_token *t);

/**
 * `account` (the seller's login), NULL if absent or `t` is NULL. Borrowed until
 * `iop_token_free(t)`.
 */
const char *iop_token_account(const struct iop_token *t);

/**
 * `account_platform` (`seller_center`, `buyerApp`), NULL if absent or `t` is NULL. Borrowed
 * until `iop_token_free(t)`.
 */
const char *iop_token_account_platform(const struct iop_token *t);

/**
 * `country` (Lazada), NULL if absent or `t` is NULL. Borrowed until `iop_token_free(t)`.
 */
const char *iop_token_country(const struct iop_token *t);

/**
 * When the access token expires, in Unix epoch milliseconds (`expire_time`, else receive time
 * + `expires_in`); -1 when unknown or `t` is NULL.
 */
int64_t iop_token_expires_at_ms(const struct iop_token *t);

/**
 * Frees a token and the strings borrowed from it, zeroing its secrets. NULL is a no-op. Free
 * each token once.
 */
void iop_token_free(struct iop_token *t);

/**
 * Reads a token set from JSON text, as written by `iop_token_to_json` or as the gateway sent
 * it, and writes a new token to `*out` (free with `iop_token_free`). Use it to load a stored
 * token and hand it to `iop_manager_put`.
 *
 * `err` as for `iop_client_create_token`.
 *
 * Returns `IOP_RESULT_OK`; `IOP_RESULT_NULL_ARGUMENT`; `IOP_RESULT_INVALID_UTF8`;
 * `IOP_RESULT_DECODE` (not a JSON object); a gateway result when the JSON is a gateway error
 * envelope; `IOP_RESULT_PANIC`.
 */
enum iop_result iop_token_from_json(const char *json,
                                    struct iop_token **out,
                                    struct iop_error **err);

/**
 * `havana_id`, NULL if absent or `t` is NULL. Borrowed until `iop_token_free(t)`.
 */
const char *iop_token_havana_id(const struct iop_token *t);

/**
 * `locale`, NULL if absent or `t` is NULL. Borrowed until `iop_token_free(t)`.
 */
const char *iop_token_locale(const struct iop_token *t);

/**
 * When the refresh token expires, in Unix epoch milliseconds; -1 when unknown, when the token
 * cannot be refreshed (`refresh_expires_in` 0), or `t` is NULL.
 */
int64_t iop_token_refresh_expires_at_ms(const struct iop_token *t);

/**
 * The refresh token (a secret: store it, do not log it), NULL if absent or `t` is NULL.
 *
 * Borrowed: valid until `iop_token_free(t)`; do not free it.
 */
const char *iop_token_refresh_token(const struct iop_token *t);

/**
 * `request_id` of the answer that carried the token, NULL if absent or `t` is NULL. Borrowed
 * until `iop_token_free(t)`.
 */
const char *iop_token_request_id(const struct iop_token *t);

/**
 * `seller_id`, NULL if absent or `t` is NULL. Borrowed until `iop_token_free(t)`.
 */
const char *iop_token_seller_id(const struct iop_token *t);

/**
 * `sp` (`ae` on AliExpress), NULL if absent or `t` is NULL. Borrowed until
 * `iop_token_free(t)`.
 */
const char *iop_token_sp(const struct iop_token *t);

/**
 * The whole token set as JSON text with the gateway's field names (secrets included: keep it
 * where you keep secrets), suitable for `iop_token_from_json`. NULL when `t` is NULL.
 *
 * Allocated: free with `iop_string_free`.
 */
char *iop_token_to_json(const struct iop_token *t);

/**
 * `user_id`, NULL if absent or `t` is NULL. Borrowed until `iop_token_free(t)`.
 */
const char *iop_token_user_id(const struct iop_token *t);

/**
 * `user_nick`, NULL if absent or `t` is NULL. Borrowed until `iop_token_free(t)`.
 */
const char *iop_token_user_nick(const struct iop_token *t);

/**
 * The library version, e.g. `"0.1.0"`, as static text. Never free it.
 */
const char *iop_version(void);

#ifdef __cplusplus
}  // extern "C"
#endif  // __cplusplus

#endif  /* IOP_H */
