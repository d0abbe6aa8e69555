/* See emu.h. POSIX only (fork/exec, sockets). */
#define _POSIX_C_SOURCE 200809L
#include "emu.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

int emu_start(emu *e, const char *emulator_path, const char *app_key, const char *app_secret,
              const char *const *extra) {
    const char *argv[32];
    size_t n = 0;
    int fds[2];
    memset(e, 0, sizeof *e);
    argv[n++] = emulator_path;
    argv[n++] = "--listen";
    argv[n++] = "127.0.0.1:0";
    argv[n++] = "--app-key";
    argv[n++] = app_key;
    argv[n++] = "--app-secret";
    argv[n++] = app_secret;
    while (extra != NULL && *extra != NULL && n < 31) {
        argv[n++] = *extra++;
    }
    argv[n] = NULL;
    if (pipe(fds) != 0) {
        return -1;
    }
    e->pid = fork();
    if (e->pid < 0) {
        close(fds[0]);
        close(fds[1]);
        return -1;
    }
    if (e->pid == 0) {
        /* Linux: the emulator dies with the test even if the test crashes. */
        prctl(PR_SET_PDEATHSIG, SIGTERM);
        dup2(fds[1], STDOUT_FILENO);
        close(fds[0]);
        close(fds[1]);
        execv(emulator_path, (char *const *)argv);
        _exit(127);
    }
    close(fds[1]);
    /* Read the first line: the URL. */
    {
        size_t len = 0;
        char c;
        while (len + 1 < sizeof e->url) {
            ssize_t r = read(fds[0], &c, 1);
            if (r < 0 && errno == EINTR) {
                continue;
            }
            if (r <= 0 || c == '\n') {
                break;
            }
            e->url[len++] = c;
        }
        e->url[len] = '\0';
    }
    close(fds[0]);
    {
        const char *colon = strrchr(e->url, ':');
        if (strncmp(e->url, "http://127.0.0.1:", 17) != 0 || colon == NULL) {
            emu_stop(e);
            return -1;
        }
        e->port = atoi(colon + 1);
    }
    return e->port > 0 ? 0 : -1;
}

void emu_stop(emu *e) {
    if (e->pid > 0) {
        kill(e->pid, SIGTERM);
        waitpid(e->pid, NULL, 0);
        e->pid = 0;
    }
}

int emu_request(const emu *e, const char *method, const char *path, char *body, size_t body_len) {
    char request[1024];
    char answer[65536];
    size_t got = 0;
    int status = -1;
    struct sockaddr_in addr;
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0) {
        return -1;
    }
    memset(&addr, 0, sizeof addr);
    addr.sin_family = AF_INET;
    addr.sin_port = htons((unsigned short)e->port);
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(fd, (struct sockaddr *)&addr, sizeof addr) != 0) {
        close(fd);
        return -1;
    }
    snprintf(request, sizeof request,
             "%s %s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
             method, path, e->port);
    if (write(fd, request, strlen(request)) != (ssize_t)strlen(request)) {
        close(fd);
        return -1;
    }
    while (got + 1 < sizeof answer) {
        ssize_t r = read(fd, answer + got, sizeof answer - 1 - got);
        if (r < 0 && errno == EINTR) {
            continue;
        }
        if (r <= 0) {
            break;
        }
        got += (size_t)r;
    }
    close(fd);
    answer[got] = '\0';
    if (sscanf(answer, "HTTP/1.%*d %d", &status) != 1) {
        return -1;
    }
    if (body != NULL && body_len > 0) {
        const char *start = strstr(answer, "\r\n\r\n");
        start = start != NULL ? start + 4 : "";
        snprintf(body, body_len, "%s", start);
    }
    return status;
}

int emu_authorize(const emu *e, const char *seller, char *code, size_t code_len) {
    char path[256];
    char body[1024];
    const char *start;
    const char *end;
    snprintf(path, sizeof path, "/_emulator/authorize?seller_id=%s", seller);
    if (emu_request(e, "POST", path, body, sizeof body) != 200) {
        return -1;
    }
    start = strstr(body, "\"code\":\"");
    if (start == NULL) {
        return -1;
    }
    start += 8;
    end = strchr(start, '"');
    if (end == NULL || (size_t)(end - start) + 1 > code_len) {
        return -1;
    }
    memcpy(code, start, (size_t)(end - start));
    code[end - start] = '\0';
    return 0;
}

long emu_count(const emu *e, const char *api) {
    char body[8192];
    char needle[256];
    const char *at;
    if (emu_request(e, "GET", "/_emulator/stats", body, sizeof body) != 200) {
        return -1;
    }
    snprintf(needle, sizeof needle, "\"%s\":", api);
    at = strstr(body, needle);
    return at == NULL ? 0 : strtol(at + strlen(needle), NULL, 10);
}

int emu_post(const emu *e, const char *route_and_query) {
    char path[512];
    snprintf(path, sizeof path, "/_emulator/%s", route_and_query);
    return emu_request(e, "POST", path, NULL, 0) == 200 ? 0 : -1;
}
