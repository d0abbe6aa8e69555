"""The Python code blocks of the README, the book and the crates' READMEs, taken from the
Markdown (docs/check/blocks.py finds them) and run against the installed package: an example
that drifts from the code fails here. A block runs in a fresh namespace, in a temporary working
directory and HOME, inside the fixture its `<!-- check: fixture=NAME -->` comment names (see the
book's chapter "The test command"); every block also passes `mypy --strict`."""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import os
import queue
import re
import subprocess
import sys
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any, Callable, Dict, Iterator, List

import pytest

import iop
import iop.aio
import iop.testing

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "docs" / "check"))
import blocks as doc_blocks  # noqa: E402

BLOCKS = [b for b in doc_blocks.all_blocks() if b.lang == "python"]
README_BLOCKS = [b for b in BLOCKS if str(b.path) == "README.md"]


def test_the_docs_have_python_blocks() -> None:
    # A path mistake would otherwise pass with nothing collected.
    assert len(BLOCKS) >= 10, [b.where for b in BLOCKS]
    assert README_BLOCKS, "the README has no Python block"
    joined = "\n".join(b.code for b in BLOCKS)
    # The examples show what users reach for first.
    for needle in ("TokenManager(", ".call(", "proxy=", "ca_file=", "iop.aio", "Emulator", "LazopClient",
                   "iop.push.Outcome", "UnknownSeller", "answer("):
        assert needle in joined, needle


@contextlib.contextmanager
def sandbox(tmp_path: Path) -> Iterator[None]:
    """A temporary working directory and HOME for the block."""
    old_cwd, old_home = os.getcwd(), os.environ.get("HOME")
    home = tmp_path / "home"
    home.mkdir(mode=0o700)
    os.chdir(tmp_path)
    os.environ["HOME"] = str(home)
    try:
        yield
    finally:
        os.chdir(old_cwd)
        if old_home is None:
            os.environ.pop("HOME", None)
        else:
            os.environ["HOME"] = old_home


@contextlib.contextmanager
def patched(obj: Any, name: str, value: Any) -> Iterator[None]:
    old = getattr(obj, name)
    setattr(obj, name, value)
    try:
        yield
    finally:
        setattr(obj, name, old)


@contextlib.contextmanager
def gateway_fixture(namespace: Dict[str, Any]) -> Iterator[None]:
    """An emulator stands in for the real gateway: clients built for AliExpress (the default)
    talk to it, and the names the examples use for credentials and codes are defined."""
    with iop.testing.Emulator() as emulator:
        real_client, real_aio_client, real_iop_client = iop.Client, iop.aio.Client, iop.IopClient
        real_lazop_client = iop.LazopClient

        def client(app_key: str, app_secret: str, *, base_url: Any = None, **kw: Any) -> iop.Client:
            assert base_url in (None, iop.ALIEXPRESS), "examples meant for the emulator pass its URL"
            return real_client(app_key, app_secret, base_url=emulator.base_url, **kw)

        # iop.aio and iop._compat are Python classes, which the package checks with isinstance:
        # subclasses, so that those checks still hold.
        class aio_client(real_aio_client):  # type: ignore[misc,valid-type]
            __slots__ = ()

            def __init__(self, app_key: str, app_secret: str, *, base_url: Any = None, **kw: Any) -> None:
                assert base_url in (None, iop.ALIEXPRESS)
                super().__init__(app_key, app_secret, base_url=emulator.base_url, **kw)

        class iop_client(real_iop_client):  # type: ignore[misc,valid-type]
            def __init__(self, server_url: str, *args: Any, **kw: Any) -> None:
                assert server_url.startswith(iop.ALIEXPRESS), server_url
                super().__init__(emulator.base_url + server_url[len(iop.ALIEXPRESS):], *args, **kw)

        class lazop_client(real_lazop_client):  # type: ignore[misc,valid-type]
            def __init__(self, server_url: str, *args: Any, **kw: Any) -> None:
                path = urllib.parse.urlsplit(server_url).path          # /rest
                super().__init__(emulator.base_url + path, *args, **kw)

        # The onboarding example makes a state and receives a redirect carrying it: a fixed
        # state, and a real redirect of the emulator's authorization page with a real code.
        state = iop.new_state()
        page = iop.authorization_url(emulator.app_key, "https://app.example.com/iop/callback",
                                     state=state, base_url=emulator.base_url)
        request_url = follow_once(page + "&seller_id=shop-9")

        token = real_client(emulator.app_key, emulator.app_secret,
                            base_url=emulator.base_url).create_token(emulator.authorize("shop-0"))
        manager = iop.TokenManager(real_client(emulator.app_key, emulator.app_secret,
                                               base_url=emulator.base_url))
        namespace.update(
            app_key=emulator.app_key, app_secret=emulator.app_secret,
            appkey=emulator.app_key, appSecret=emulator.app_secret,
            APP_KEY=emulator.app_key, APP_SECRET=emulator.app_secret,
            code=emulator.authorize("shop-1"), access_token=token.access_token,
            manager=manager, request_url=request_url,
        )
        (Path.cwd() / "main.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really a JPEG")
        with patched(iop, "Client", client), patched(iop.aio, "Client", aio_client), \
                patched(iop, "IopClient", iop_client), patched(iop, "LazopClient", lazop_client), \
                patched(iop, "new_state", lambda: state):
            yield


def follow_once(url: str) -> str:
    """The Location of the emulator's authorization page: the redirect a browser would follow."""

    class NoRedirect(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *args: Any, **kwargs: Any) -> None:
            return None

    opener = urllib.request.build_opener(NoRedirect)
    try:
        opener.open(url, timeout=10)
    except urllib.error.HTTPError as e:
        if e.code == 302:
            location: str = e.headers["Location"]
            assert "code=" in location and "state=" in location, location
            return location
        raise
    raise AssertionError("the authorization page did not redirect")


@contextlib.contextmanager
def push_fixture(namespace: Dict[str, Any]) -> Iterator[Callable[[], None]]:
    work: "queue.Queue[Any]" = queue.Queue()
    namespace.update(APP_KEY="app-key", APP_SECRET="app-secret", work_queue=work)

    def after() -> None:
        body = b'{"seller_id":"1001","message_type":0,"data":{"trade_order_id":"42"},"timestamp":1700000000000,"site":"lazada_sg"}'
        genuine = hmac.new(b"app-secret", b"app-key" + body, hashlib.sha256).hexdigest()
        receive = namespace["receive"]
        assert receive(body, genuine) == 200
        assert work.get_nowait().seller_id == "1001"
        assert receive(body.replace(b"42", b"43"), genuine) == 401, "a changed body must be refused"
        assert receive(body, None) == 401
        assert work.empty()

    yield after


@pytest.mark.parametrize("block", BLOCKS, ids=[b.where for b in BLOCKS])
def test_block(block: doc_blocks.Block, tmp_path: Path) -> None:
    code = compile(block.code, block.where, "exec")
    if block.syntax_only:
        return
    if block.pytest:
        module = tmp_path / f"test_doc_block_{block.line}.py"
        module.write_text(block.code)
        done = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(module)],
                              cwd=tmp_path, capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, done.stdout + done.stderr
        assert " passed" in done.stdout and "skipped" not in done.stdout, done.stdout
        return
    namespace: Dict[str, Any] = {"__name__": "__doc_block__"}
    with sandbox(tmp_path):
        if block.fixture == "gateway":
            with gateway_fixture(namespace):
                exec(code, namespace)
        elif block.fixture == "push":
            with push_fixture(namespace) as after:
                exec(code, namespace)
                after()
        else:
            assert block.fixture is None, block.fixture
            exec(code, namespace)


# What each fixture defines, declared for mypy: a block is type-checked as a module of its own
# with these lines before it (the same names the fixtures above put in its namespace).
MYPY_PREAMBLES = {
    "gateway": (
        "import iop\n"
        "app_key: str\napp_secret: str\nappkey: str\nappSecret: str\nAPP_KEY: str\nAPP_SECRET: str\n"
        "code: str\naccess_token: str\nmanager: iop.TokenManager\nrequest_url: str\n"
    ),
    "push": (
        "import queue\nimport iop.push\n"
        "APP_KEY: str\nAPP_SECRET: str\nwork_queue: \"queue.Queue[iop.push.Message]\"\n"
    ),
}


def test_every_python_block_passes_mypy_strict(tmp_path: Path) -> None:
    """Every Python block of the README, the book and the crates' READMEs (run, pytest or
    syntax-only alike) passes `mypy --strict` against the installed package."""
    files: List[str] = []
    where: Dict[str, tuple[doc_blocks.Block, int]] = {}
    for n, block in enumerate(BLOCKS):
        preamble = MYPY_PREAMBLES.get(block.fixture or "", "")
        name = f"doc_block_{n}.py"
        (tmp_path / name).write_text(preamble + block.code)
        files.append(name)
        where[name] = (block, preamble.count("\n"))
    done = subprocess.run([sys.executable, "-m", "mypy", "--strict", "--no-incremental",
                           "--cache-dir=/dev/null", *files], capture_output=True, text=True,
                          cwd=tmp_path, timeout=600)

    def located(match: "re.Match[str]") -> str:
        block, offset = where[match.group(1)]
        return f"{block.path}:{block.first_code_line + int(match.group(2)) - 1 - offset}:"

    report = re.sub(r"(doc_block_\d+\.py):(\d+):", located, done.stdout + done.stderr)
    assert done.returncode == 0, report
