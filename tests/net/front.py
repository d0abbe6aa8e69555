"""A gateway behind TLS with a private CA, and a real forward proxy, on loopback: what the network
settings of every binding (proxy, CA file, trust_env) are tested against.

- A private CA and a server certificate for 127.0.0.1 / localhost, made with the `openssl`
  command (installed with apt-get when missing, as root).
- A TLS front: HTTPS on 127.0.0.1 with that certificate, relaying the bytes to the gateway
  (an iop-emulator, plain HTTP on loopback).
- tinyproxy, Debian's forward proxy (installed with apt-get when missing), with Basic
  credentials, allowed to CONNECT to any port; its log tells which targets went through it.
- A second TLS front in front of tinyproxy: the same proxy as an `https://` proxy.

Standard library only. Three ways to use it:

    with Front(("127.0.0.1", emulator_port), workdir) as front:      # from Python (pytest)
        front.https_url, front.ca_file, front.proxy_url, front.connects()

    python3 front.py --emulator PATH [--app-key K --app-secret S] -- CMD ARGS...
        runs CMD with IOP_NET_* in its environment (see `Front.environment`), then stops all

    python3 front.py --emulator PATH --serve
        prints the same settings as one JSON line, serves until stdin closes

`--upstream http://127.0.0.1:PORT` instead of `--emulator PATH` fronts a gateway that runs
already (an emulator inside the test process).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import selectors
import shutil
import socket
import ssl
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Dict, List, Optional, Tuple

PROXY_USER = "iop-proxy-user"


def ensure_command(command: str, package: str) -> str:
    """The path of `command`, installing the Debian `package` first when it is missing."""
    found = shutil.which(command)
    if found:
        return found
    if os.geteuid() != 0 or not shutil.which("apt-get"):
        raise RuntimeError(f"{command} is missing: install the {package} package (apt-get install {package})")
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    subprocess.run(["apt-get", "update", "-qq"], check=True, env=env, stdout=subprocess.DEVNULL)
    subprocess.run(
        ["apt-get", "install", "-y", "-qq", package], check=True, env=env, stdout=subprocess.DEVNULL
    )
    found = shutil.which(command)
    if not found:
        raise RuntimeError(f"{command} is still missing after installing {package}")
    return found


def make_certificates(directory: Path) -> Tuple[Path, Path, Path]:
    """A private CA and a server certificate for 127.0.0.1 and localhost signed by it:
    (ca.pem, server.pem, server.key)."""
    openssl = ensure_command("openssl", "openssl")
    ca_key, ca_pem = directory / "ca.key", directory / "ca.pem"
    key, csr, pem = directory / "server.key", directory / "server.csr", directory / "server.pem"
    ext = directory / "server.ext"
    ext.write_text(
        "basicConstraints=critical,CA:FALSE\n"
        "keyUsage=critical,digitalSignature\n"
        "extendedKeyUsage=serverAuth\n"
        "subjectAltName=IP:127.0.0.1,DNS:localhost\n"
    )
    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]

    def run(*args: str) -> None:
        subprocess.run([openssl, *args], check=True, capture_output=True, cwd=directory)

    run("req", "-x509", *ec, "-keyout", str(ca_key), "-out", str(ca_pem), "-days", "2",
        "-subj", "/CN=iop test private CA",
        "-addext", "basicConstraints=critical,CA:TRUE",
        "-addext", "keyUsage=critical,keyCertSign,cRLSign")
    run("req", *ec, "-keyout", str(key), "-out", str(csr), "-subj", "/CN=127.0.0.1")
    run("x509", "-req", "-in", str(csr), "-CA", str(ca_pem), "-CAkey", str(ca_key),
        "-set_serial", str(int(time.time())), "-days", "2", "-extfile", str(ext), "-out", str(pem))
    return ca_pem, pem, key


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class TlsRelay:
    """HTTPS on 127.0.0.1 (a free port) with `cert`/`key`, relaying each connection's bytes to
    `upstream` in plain TCP."""

    def __init__(self, cert: Path, key: Path, upstream: Tuple[str, int]) -> None:
        self._context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self._context.load_cert_chain(str(cert), str(key))
        self._upstream = upstream
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = int(self._listener.getsockname()[1])
        self.handshakes = 0
        self._closed = threading.Event()
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()

    def _accept(self) -> None:
        while not self._closed.is_set():
            try:
                conn, _ = self._listener.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        try:
            conn.settimeout(30)
            tls = self._context.wrap_socket(conn, server_side=True)
        except (OSError, ssl.SSLError):
            conn.close()  # e.g. the client refused our certificate
            return
        self.handshakes += 1
        try:
            upstream = socket.create_connection(self._upstream, timeout=30)
        except OSError:
            tls.close()
            return
        pump(tls, upstream)

    def close(self) -> None:
        self._closed.set()
        self._listener.close()


def pump(a: socket.socket, b: socket.socket) -> None:
    """Copies bytes both ways until either side closes."""
    selector = selectors.DefaultSelector()
    for sock in (a, b):
        sock.setblocking(False)
        selector.register(sock, selectors.EVENT_READ)
    try:
        while True:
            for key, _ in selector.select(timeout=60):
                source = key.fileobj
                target = b if source is a else a
                try:
                    data = source.recv(65536)  # type: ignore[union-attr]
                except (ssl.SSLWantReadError, BlockingIOError):
                    continue
                except OSError:
                    return
                if not data:
                    return
                target.setblocking(True)
                target.sendall(data)
                target.setblocking(False)
    finally:
        selector.close()
        a.close()
        b.close()


class Front:
    """The TLS fronts and the proxy for the gateway at `upstream` (see the module docs)."""

    def __init__(self, upstream: Tuple[str, int], workdir: Path) -> None:
        self.workdir = workdir
        self.proxy_password = "pw-" + os.urandom(6).hex()
        self.ca_file, cert, key = make_certificates(workdir)
        self._gateway = TlsRelay(cert, key, upstream)
        self.https_url = f"https://127.0.0.1:{self._gateway.port}"
        self.https_localhost_url = f"https://localhost:{self._gateway.port}"
        tinyproxy = ensure_command("tinyproxy", "tinyproxy")
        self.proxy_port = free_port()
        self.proxy_log = workdir / "tinyproxy.log"
        config = workdir / "tinyproxy.conf"
        lines = [
            f"Port {self.proxy_port}",
            "Listen 127.0.0.1",
            "Timeout 60",
            "MaxClients 64",
            f'LogFile "{self.proxy_log}"',
            "LogLevel Info",
            f'PidFile "{workdir / "tinyproxy.pid"}"',
            "Allow 127.0.0.1",
            f"BasicAuth {PROXY_USER} {self.proxy_password}",
        ]
        # No User/Group: it runs as the test's own user (as root it warns and goes on), so it can
        # write its log wherever the test's temporary directory is.
        config.write_text("\n".join(lines) + "\n")
        self._tinyproxy = subprocess.Popen(
            [tinyproxy, "-d", "-c", str(config)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        self._wait_listening(self.proxy_port)
        self._proxy_front = TlsRelay(cert, key, ("127.0.0.1", self.proxy_port))
        credentials = f"{PROXY_USER}:{self.proxy_password}"
        self.proxy_url = f"http://{credentials}@127.0.0.1:{self.proxy_port}"
        self.proxy_url_wrong_password = f"http://{PROXY_USER}:wrong-pw-SECRET@127.0.0.1:{self.proxy_port}"
        self.https_proxy_url = f"https://{credentials}@127.0.0.1:{self._proxy_front.port}"

    def _wait_listening(self, port: int) -> None:
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            if self._tinyproxy.poll() is not None:
                raise RuntimeError(f"tinyproxy exited: {self.proxy_log.read_text()[-2000:]}")
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("tinyproxy does not listen")

    def connects(self, target: Optional[str] = None) -> int:
        """How many CONNECT requests tinyproxy logged (to `target`, `host:port`, when given)."""
        text = self.proxy_log.read_text(errors="replace")
        found = re.findall(r"CONNECT (\S+) HTTP", text)
        return len([t for t in found if target is None or t == target])

    @property
    def gateway_target(self) -> str:
        """`127.0.0.1:PORT` of the TLS front, as a CONNECT through the proxy names it."""
        return f"127.0.0.1:{self._gateway.port}"

    @property
    def gateway_handshakes(self) -> int:
        """TLS handshakes the gateway front completed."""
        return self._gateway.handshakes

    def environment(self) -> Dict[str, str]:
        """The settings as IOP_NET_* variables."""
        return {
            "IOP_NET_HTTPS_URL": self.https_url,
            "IOP_NET_CA_FILE": str(self.ca_file),
            "IOP_NET_PROXY": self.proxy_url,
            "IOP_NET_PROXY_WRONG_PASSWORD": self.proxy_url_wrong_password,
            "IOP_NET_PROXY_PASSWORD": self.proxy_password,
            "IOP_NET_HTTPS_PROXY": self.https_proxy_url,
            "IOP_NET_PROXY_LOG": str(self.proxy_log),
            "IOP_NET_GATEWAY_TARGET": self.gateway_target,
        }

    def close(self) -> None:
        self._gateway.close()
        self._proxy_front.close()
        if self._tinyproxy.poll() is None:
            self._tinyproxy.terminate()
            try:
                self._tinyproxy.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._tinyproxy.kill()
                self._tinyproxy.wait()

    def __enter__(self) -> "Front":
        return self

    def __exit__(self, *_: object) -> None:
        self.close()


def start_emulator(binary: str, app_key: str, app_secret: str) -> Tuple[subprocess.Popen, str]:
    """Starts an iop-emulator on a free loopback port; answers the process and its URL."""
    proc = subprocess.Popen(
        [binary, "--listen", "127.0.0.1:0", "--app-key", app_key, "--app-secret-file", "-"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdin is not None and proc.stdout is not None
    proc.stdin.write(app_secret + "\n")
    proc.stdin.close()
    url = proc.stdout.readline().strip()
    if not url.startswith("http://127.0.0.1:"):
        proc.kill()
        raise RuntimeError(f"the emulator printed {url!r}")
    return proc, url


def main(argv: List[str]) -> int:
    if "--" in argv:
        at = argv.index("--")
        argv, command = argv[:at], argv[at + 1:]
    else:
        command = []
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--emulator", help="path of the iop-emulator binary to start")
    source.add_argument("--upstream", help="URL of a running gateway, http://127.0.0.1:PORT")
    parser.add_argument("--app-key", default="test-app-key")
    parser.add_argument("--app-secret", default="test-app-secret")
    parser.add_argument("--serve", action="store_true", help="print the settings, serve until stdin closes")
    args = parser.parse_args(argv)
    if not command and not args.serve:
        parser.error("give -- CMD ARGS... or --serve")
    emulator: Optional[subprocess.Popen] = None
    if args.emulator:
        emulator, url = start_emulator(args.emulator, args.app_key, args.app_secret)
    else:
        url = args.upstream.rstrip("/")
    workdir = Path(tempfile.mkdtemp(prefix="iop-net-"))
    try:
        with Front(("127.0.0.1", int(url.rsplit(":", 1)[1])), workdir) as front:
            settings = dict(front.environment(), IOP_NET_EMULATOR_URL=url)
            if args.serve:
                print(json.dumps(settings), flush=True)
                sys.stdin.read()
                return 0
            return subprocess.run(command, env=dict(os.environ, **settings)).returncode
    finally:
        if emulator is not None:
            emulator.terminate()
            emulator.wait(timeout=10)
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
