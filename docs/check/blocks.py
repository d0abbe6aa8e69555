#!/usr/bin/env python3
"""The code blocks of the README, the book (docs/src) and the crates' READMEs, taken from the
Markdown and checked, so that an example that drifts from the code fails `make test`.

    blocks.py inventory                         every block and how it is checked; fails on a block
                                                with no language or one this file does not know
    blocks.py static                            toml and json parsed, cron lines and shell blocks
                                                through `bash -n`, Rust blocks reached by rustdoc
    blocks.py sh --bin DIR                      shell blocks with a fixture, run in a temporary
                                                directory (DIR holds `iop` and `iop-emulator`)
    blocks.py c --lib DIR --emulator PATH       C blocks compiled against include/iop.h and
                                                libiop in DIR, and run against the emulator
    blocks.py cmake --prefix PREFIX             CMake blocks built against an installed iop
    blocks.py links BOOK_DIR                    every link and anchor of the built book, of the
                                                Markdown files and of the code's references into
                                                the book

Rust blocks run as doctests of the crate in this folder (lib.rs includes the Markdown files);
Python blocks run in tests/python/test_docs.py against the installed wheel. How a block is run
can be said in an HTML comment on the line before its fence, which GitHub and mdBook do not
show: `<!-- check: fixture=NAME -->`, `<!-- check: syntax (why it cannot run) -->`,
`<!-- check: pytest -->`. The book's chapter "The test command" describes the fixtures.
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import html.parser
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import tomllib
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, Iterator, List, Optional, Tuple

ROOT = Path(__file__).resolve().parents[2]
CHECK_DIR = ROOT / "docs" / "check"
BOOK_SRC = ROOT / "docs" / "src"

# Folders that hold no docs of ours: build output, the built book, fuzz inputs, virtualenvs.
SKIP_DIRS = {".git", "target", "book", "corpus", "regressions", "artifacts", "node_modules",
             "__pycache__", ".venv", "venv"}

LANGUAGES = {"rust", "python", "c", "sh", "toml", "json", "cron", "cmake", "text"}
ALIASES = {"bash": "sh", "shell": "sh", "console": None}
RUST_ATTRIBUTES = {"no_run"}
DIRECTIVE_KEYS = {"fixture", "syntax", "pytest"}
FIXTURES = {
    "python": {"gateway", "push"},
    "c": {"client", "push", "store"},
    "sh": {"cli", "emulator"},
}

APP_KEY = "test-app-key"
APP_SECRET = "test-app-secret"


@dataclass
class Block:
    path: Path  # relative to ROOT
    line: int  # line of the opening fence, from 1
    lang: str
    attributes: List[str]
    code: str
    fixture: Optional[str] = None
    syntax_only: bool = False
    pytest: bool = False
    problems: List[str] = field(default_factory=list)

    @property
    def where(self) -> str:
        return f"{self.path}:{self.line}"

    @property
    def first_code_line(self) -> int:
        return self.line + 1

    def handling(self) -> str:
        """How the block is checked, in a few words."""
        if self.lang == "rust":
            return "doctest, compiled only" if "no_run" in self.attributes else "doctest, run"
        if self.lang == "python":
            if self.syntax_only:
                return "python: compiled only"
            if self.pytest:
                return "python: run by pytest"
            return f"python: run ({self.fixture or 'no fixture'})"
        if self.lang == "c":
            return f"c: compiled and run ({self.fixture or 'own main'})"
        if self.lang == "sh":
            return f"sh: run ({self.fixture})" if self.fixture else "sh: bash -n"
        return {"toml": "parsed", "json": "parsed", "cron": "cron fields, bash -n",
                "cmake": "built against make install", "text": "not code"}[self.lang]


def markdown_files() -> List[Path]:
    found = []
    for dirpath, dirnames, filenames in os.walk(ROOT):
        dirnames[:] = sorted(d for d in dirnames if d not in SKIP_DIRS and not d.startswith("."))
        for name in sorted(filenames):
            if name.endswith(".md"):
                found.append(Path(dirpath, name).relative_to(ROOT))
    return found


FENCE = re.compile(r"^( {0,3})(`{3,}|~{3,})\s*([^`]*?)\s*$")
DIRECTIVE = re.compile(r"^\s*<!--\s*check:\s*(.*?)\s*-->\s*$")


def parse(path: Path) -> List[Block]:
    lines = (ROOT / path).read_text(encoding="utf-8").split("\n")
    blocks: List[Block] = []
    i = 0
    while i < len(lines):
        m = FENCE.match(lines[i])
        # Fences inside list items are indented further; accept any indentation there.
        if not m:
            m = re.match(r"^(\s*)(`{3,}|~{3,})\s*([^`]*?)\s*$", lines[i])
        if not m:
            i += 1
            continue
        indent, fence, info = len(m.group(1)), m.group(2), m.group(3)
        start = i
        body: List[str] = []
        i += 1
        while i < len(lines):
            close = re.match(r"^\s*(`{3,}|~{3,})\s*$", lines[i])
            if close and close.group(1)[0] == fence[0] and len(close.group(1)) >= len(fence):
                break
            line = lines[i]
            body.append(line[indent:] if line[:indent].strip() == "" else line.lstrip())
            i += 1
        i += 1
        words = [w for w in re.split(r"[,\s]+", info) if w]
        lang = words[0] if words else ""
        block = Block(path, start + 1, lang, words[1:], "\n".join(body) + "\n")
        if not lang:
            block.problems.append("a code block needs a language (rust, python, c, sh, toml, json, "
                                  "cron, cmake, or text for what is not code)")
        elif lang in ALIASES:
            if ALIASES[lang] is None:
                block.problems.append(f"`{lang}` is not checked: use sh (commands) or text (output)")
            else:
                block.lang = ALIASES[lang]
        elif lang not in LANGUAGES:
            block.problems.append(f"unknown language `{lang}` (known: {', '.join(sorted(LANGUAGES))})")
        read_directive(block, lines, start)
        blocks.append(block)
    return blocks


def read_directive(block: Block, lines: List[str], fence_index: int) -> None:
    j = fence_index - 1
    while j >= 0 and not lines[j].strip():
        j -= 1
    if j < 0:
        return
    m = DIRECTIVE.match(lines[j])
    if not m:
        return
    text = re.sub(r"\(.*\)", "", m.group(1))
    for word in text.split():
        key, _, value = word.partition("=")
        if key not in DIRECTIVE_KEYS:
            block.problems.append(f"unknown check directive `{word}`")
        elif key == "fixture":
            block.fixture = value
        elif key == "syntax":
            block.syntax_only = True
            if "(" not in m.group(1):
                block.problems.append("`syntax` says why the block cannot run, in parentheses")
        elif key == "pytest":
            block.pytest = True
    if block.fixture is not None:
        allowed = FIXTURES.get(block.lang, set())
        if block.fixture not in allowed:
            block.problems.append(f"no {block.lang} fixture `{block.fixture}` "
                                  f"(known: {', '.join(sorted(allowed)) or 'none'})")
        if block.syntax_only:
            block.problems.append("a block is either run with a fixture or syntax-checked, not both")


def all_blocks() -> List[Block]:
    blocks: List[Block] = []
    for path in markdown_files():
        blocks.extend(parse(path))
    return blocks


CALLS_IOP = re.compile(r"(^|[\s;&|(`$])iop(\s|$)")


def lint(block: Block) -> None:
    """Problems that make a block unfit whatever runs it."""
    if block.lang == "rust":
        for attribute in block.attributes:
            if attribute not in RUST_ATTRIBUTES:
                block.problems.append(f"rust block attribute `{attribute}` is not allowed: a "
                                      "block compiles (no_run) or runs")
    if block.lang == "sh" and not block.fixture and not block.syntax_only:
        for line in block.code.splitlines():
            code = line.split("#", 1)[0]
            if CALLS_IOP.search(code):
                block.problems.append("this block calls `iop`: run it with a fixture "
                                      "(`<!-- check: fixture=cli -->`) or say why it cannot run "
                                      "(`<!-- check: syntax (why) -->`)")
                break
    if block.lang == "c" and not block.fixture and not HAS_MAIN.search(block.code):
        block.problems.append("a C block without main needs a fixture (client, push, store)")
    if block.lang == "python" and block.fixture and block.pytest:
        block.problems.append("a pytest block brings its own fixtures")
    if block.lang in ("toml", "json", "cron", "cmake", "text") and (block.fixture or block.pytest):
        block.problems.append(f"a {block.lang} block takes no fixture")


def rust_included_files() -> List[Path]:
    """The Markdown files the doctest crate includes (lib.rs's include_str! paths)."""
    lib = (CHECK_DIR / "lib.rs").read_text(encoding="utf-8")
    return [(CHECK_DIR / p).resolve().relative_to(ROOT) for p in re.findall(r'include_str!\("([^"]+)"\)', lib)]


def cmd_inventory(_: argparse.Namespace) -> int:
    blocks = all_blocks()
    included = set(rust_included_files())
    problems = 0
    counts: Dict[str, int] = {}
    for block in blocks:
        lint(block)
        if block.lang == "rust" and block.path not in included:
            block.problems.append(f"docs/check/lib.rs does not include {block.path}: its Rust "
                                  "blocks would not be tested")
        counts[block.handling() if not block.problems else "problem"] = (
            counts.get(block.handling() if not block.problems else "problem", 0) + 1)
        for problem in block.problems:
            print(f"{block.where}: {problem}")
            problems += 1
    for path in sorted(included):
        if not (ROOT / path).is_file():
            print(f"docs/check/lib.rs includes {path}, which does not exist")
            problems += 1
    files = len({b.path for b in blocks})
    print(f"{len(blocks)} code blocks in {files} Markdown files:")
    for handling, n in sorted(counts.items()):
        print(f"  {n:4d}  {handling}")
    if problems:
        print(f"{problems} problems")
    return 1 if problems else 0


def cmd_static(_: argparse.Namespace) -> int:
    failures = 0
    checked = 0
    for block in all_blocks():
        error: Optional[str] = None
        if block.lang == "toml":
            try:
                tomllib.loads(block.code)
            except tomllib.TOMLDecodeError as e:
                error = f"TOML: {e}"
        elif block.lang == "json":
            try:
                json.loads(block.code)
            except json.JSONDecodeError as e:
                error = f"JSON: {e}"
        elif block.lang == "cron":
            error = check_cron(block.code)
        elif block.lang == "sh":
            error = bash_syntax(block.code)
        else:
            continue
        checked += 1
        if error:
            print(f"{block.where}: {error}")
            failures += 1
    print(f"static: {checked - failures} passed, {failures} failed")
    return 1 if failures else 0


def bash_syntax(code: str) -> Optional[str]:
    done = subprocess.run(["bash", "-n"], input=code, text=True, capture_output=True)
    return None if done.returncode == 0 else f"bash -n: {done.stderr.strip()}"


CRON_FIELD = re.compile(r"^[\d*/,\-]+$|^[A-Za-z]{3}$")


def check_cron(code: str) -> Optional[str]:
    entries = 0
    for line in code.splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        fields = line.split(None, 5)
        if len(fields) < 6 or not all(CRON_FIELD.match(f) for f in fields[:5]):
            return f"not a crontab line (five time fields, then the command): {line!r}"
        error = bash_syntax(fields[5])
        if error:
            return error
        entries += 1
    return None if entries else "no crontab line"


# ---- running blocks against the emulator -------------------------------------------------------

class Emulator:
    """An iop-emulator binary on a free loopback port, for the fixtures."""

    def __init__(self, binary: Path) -> None:
        env = dict(os.environ, IOP_EMULATOR_APP_SECRET=APP_SECRET)
        self.process = subprocess.Popen(
            [str(binary), "--listen", "127.0.0.1:0", "--app-key", APP_KEY],
            stdout=subprocess.PIPE, stdin=subprocess.DEVNULL, env=env, text=True)
        assert self.process.stdout is not None
        self.url = self.process.stdout.readline().strip()
        if not self.url.startswith("http://"):
            self.stop()
            raise RuntimeError(f"{binary} printed no URL")

    def control(self, route: str, **params: str) -> Dict[str, object]:
        query = urllib.parse.urlencode(params)
        request = urllib.request.Request(f"{self.url}/_emulator/{route}?{query}", method="POST")
        with urllib.request.urlopen(request, timeout=10) as answer:
            result: Dict[str, object] = json.loads(answer.read())
            return result

    def authorize(self, seller: str) -> str:
        return str(self.control("authorize", seller_id=seller)["code"])

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def run_in_group(args: List[str], cwd: Path, env: Dict[str, str], timeout: float) -> Tuple[int, str, str]:
    """Runs a command in a process group of its own and kills whatever it left running."""
    process = subprocess.Popen(args, cwd=cwd, env=env, stdin=subprocess.DEVNULL,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               start_new_session=True)
    try:
        out, err = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        out, err = process.communicate()
        return -1, out, err + f"\n(killed after {timeout:.0f} s)"
    finally:
        try:
            os.killpg(process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    return process.returncode, out, err


def cmd_sh(args: argparse.Namespace) -> int:
    bin_dir = Path(args.bin).resolve()
    for tool in ("iop", "iop-emulator"):
        if not (bin_dir / tool).is_file():
            print(f"{bin_dir / tool} is missing: build it first")
            return 1
    if shutil.which("curl") is None:
        print("curl is missing (the emulator's shell examples use it)")
        return 1
    blocks = [b for b in all_blocks() if b.lang == "sh" and b.fixture]
    failures = 0
    for block in blocks:
        with tempfile.TemporaryDirectory(prefix="iop-doc-sh-") as tmp:
            work = Path(tmp)
            env = {k: v for k, v in os.environ.items() if not k.startswith("IOP_")}
            env.update(HOME=str(work / "home"), PATH=f"{bin_dir}:{env.get('PATH', '/usr/bin:/bin')}")
            (work / "home").mkdir(mode=0o700)
            emulator = Emulator(bin_dir / "iop-emulator") if block.fixture == "cli" else None
            try:
                if emulator:
                    prepare_cli(work, env, bin_dir, emulator)
                script = work / "block.sh"
                script.write_text(block.code)
                code, out, err = run_in_group(["bash", "-e", "-o", "pipefail", str(script)],
                                              work, env, timeout=180)
            finally:
                if emulator:
                    emulator.stop()
        if code != 0:
            failures += 1
            print(f"{block.where}: exit status {code}\n--- stdout\n{out}--- stderr\n{err}")
        else:
            print(f"{block.where}: ok ({block.fixture})")
            if args.verbose:
                print(out + err)
    print(f"sh blocks: {len(blocks) - failures} passed, {failures} failed")
    return 1 if failures else 0


def prepare_cli(work: Path, env: Dict[str, str], bin_dir: Path, emulator: Emulator) -> None:
    """~/.iop/env for the emulator, code.txt (an authorization code), rt.txt (a refresh token)."""
    iop_dir = Path(env["HOME"], ".iop")
    iop_dir.mkdir(mode=0o700)
    env_file = iop_dir / "env"
    env_file.write_text(f"IOP_APP_KEY={APP_KEY}\nIOP_APP_SECRET={APP_SECRET}\nIOP_BASE_URL={emulator.url}\n")
    env_file.chmod(0o600)
    (work / "code.txt").write_text(emulator.authorize("shop-1") + "\n")
    other = dict(env, IOP_APP_KEY=APP_KEY, IOP_APP_SECRET=APP_SECRET, IOP_BASE_URL=emulator.url)
    created = subprocess.run([str(bin_dir / "iop"), "token", "create", "--code", "-"],
                             input=emulator.authorize("shop-2"), text=True, capture_output=True,
                             env=other, check=True)
    (work / "rt.txt").write_text(json.loads(created.stdout)["refresh_token"] + "\n")


# ---- C -----------------------------------------------------------------------------------------

C_HEADERS = """#define _POSIX_C_SOURCE 200809L
#include <iop.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "emu.h"
"""

# Starts the emulator, makes `client` and a token set for seller-42, then runs the block.
C_CLIENT_BEGIN = """
int main(void) {
    const char *app_key = "test-app-key", *app_secret = "test-app-secret";
    emu e;
    if (emu_start(&e, getenv("IOP_EMULATOR"), app_key, app_secret, NULL) != 0) return 90;
    iop_client *client = NULL;
    if (iop_client_new(e.url, app_key, app_secret, &client, NULL) != IOP_RESULT_OK) return 91;
    char code[256];
    if (emu_authorize(&e, "seller-42", code, sizeof code) != 0) return 92;
    iop_token *token = NULL;
    iop_error *err = NULL;
    if (iop_client_create_token(client, code, &token, &err) != IOP_RESULT_OK) return 93;
    {
"""
C_CLIENT_END = """
    }
    iop_token_free(token);
    iop_client_free(client);
    emu_stop(&e);
    return 0;
}
"""

C_PUSH_BEGIN = """
int main(void) {
    const char *app_key = getenv("IOP_PUSH_APP_KEY"), *app_secret = getenv("IOP_PUSH_APP_SECRET");
    const char *text = getenv("IOP_PUSH_BODY");
    const char *authorization_header = getenv("IOP_PUSH_AUTHORIZATION");
    if (app_key == NULL || app_secret == NULL || text == NULL || authorization_header == NULL) return 90;
    const uint8_t *body = (const uint8_t *)text;
    size_t body_len = strlen(text);
    iop_client *client = NULL;
    iop_manager *m = NULL;
    iop_error *err = NULL;
    if (iop_client_new(NULL, app_key, app_secret, &client, NULL) != IOP_RESULT_OK) return 91;
    if (iop_manager_new(client, NULL, -1, &m, NULL) != IOP_RESULT_OK) return 92;
"""
C_PUSH_END = """
    iop_error_free(err);
    iop_manager_free(m);
    iop_client_free(client);
    if (!genuine) {
        fprintf(stderr, "a genuine push was not found genuine\\n");
        return 1;
    }
    return 0;
}
"""

# An in-memory table for the callbacks of the block, which is at file scope.
C_STORE_PRELUDE = """
struct my_db { size_t count; char *keys[16]; char *values[16]; };
static const char *my_db_get(void *user, const char *key) {
    struct my_db *db = user;
    for (size_t i = 0; i < db->count; i++) if (strcmp(db->keys[i], key) == 0) return db->values[i];
    return NULL;
}
static int my_db_put(void *user, const char *key, const char *json) {
    struct my_db *db = user;
    for (size_t i = 0; i < db->count; i++) {
        if (strcmp(db->keys[i], key) == 0) { free(db->values[i]); db->values[i] = strdup(json); return 0; }
    }
    if (db->count == 16) return 1;
    db->keys[db->count] = strdup(key);
    db->values[db->count++] = strdup(json);
    return 0;
}
static size_t my_db_count(void *user) { return ((struct my_db *)user)->count; }
static const char *my_db_key(void *user, size_t i) { return ((struct my_db *)user)->keys[i]; }
"""
C_STORE_MAIN = """
int main(void) {
    const char *app_key = "test-app-key", *app_secret = "test-app-secret";
    emu e;
    if (emu_start(&e, getenv("IOP_EMULATOR"), app_key, app_secret, NULL) != 0) return 90;
    iop_client *client = NULL;
    if (iop_client_new(e.url, app_key, app_secret, &client, NULL) != IOP_RESULT_OK) return 91;
    char code[256];
    if (emu_authorize(&e, "seller-42", code, sizeof code) != 0) return 92;
    iop_token *token = NULL;
    if (iop_client_create_token(client, code, &token, NULL) != IOP_RESULT_OK) return 93;
    struct my_db db = {0};
    iop_manager *m = open_manager(client, &db);
    if (m == NULL) return 94;
    if (iop_manager_put(m, "seller-42", token, NULL) != IOP_RESULT_OK) return 95;
    char *access = NULL;
    if (iop_manager_access_token(m, "seller-42", &access, NULL) != IOP_RESULT_OK) return 96;
    iop_string_free(access);
    if (db.count != 1 || strcmp(db.keys[0], "seller-42") != 0 || strstr(db.values[0], "refresh_token") == NULL) {
        fprintf(stderr, "the callbacks did not store the token set\\n");
        return 97;
    }
    iop_manager_free(m);
    for (size_t i = 0; i < db.count; i++) { free(db.keys[i]); free(db.values[i]); }
    iop_token_free(token);
    iop_client_free(client);
    emu_stop(&e);
    return 0;
}
"""

HAS_MAIN = re.compile(r"\bint\s+main\s*\(")


def c_source(block: Block) -> str:
    line = f'#line {block.first_code_line} "{block.path}"\n'
    if HAS_MAIN.search(block.code) and block.fixture is None:
        return line + block.code
    if block.fixture == "client":
        return C_HEADERS + C_CLIENT_BEGIN + line + block.code + C_CLIENT_END
    if block.fixture == "push":
        return C_HEADERS + C_PUSH_BEGIN + line + block.code + C_PUSH_END
    if block.fixture == "store":
        return C_HEADERS + C_STORE_PRELUDE + line + block.code + C_STORE_MAIN
    raise ValueError(f"{block.where}: a C block without main needs a fixture")


def push_signature(body: str) -> str:
    return hmac.new(APP_SECRET.encode(), (APP_KEY + body).encode(), hashlib.sha256).hexdigest()


def cmd_c(args: argparse.Namespace) -> int:
    lib = Path(args.lib).resolve()
    emulator = Path(args.emulator).resolve()
    build = Path(args.build or (lib / "doc-blocks")).resolve()
    build.mkdir(parents=True, exist_ok=True)
    cc = os.environ.get("CC", "cc")
    # libiop.so carries the soname libiop.so.0: the loader looks for that name.
    soname = build / "libiop.so.0"
    if soname.is_symlink() or soname.exists():
        soname.unlink()
    soname.symlink_to(lib / "libiop.so")
    blocks = [b for b in all_blocks() if b.lang == "c"]
    failures = 0
    for n, block in enumerate(blocks):
        try:
            source = c_source(block)
        except ValueError as e:
            print(e)
            failures += 1
            continue
        src = build / f"block{n}.c"
        exe = build / f"block{n}"
        src.write_text(source)
        compiled = subprocess.run(
            [cc, "-std=c11", "-Wall", "-Wextra", "-Werror", f"-I{ROOT / 'include'}",
             f"-I{ROOT / 'tests' / 'c'}", "-o", str(exe), str(src), str(ROOT / "tests" / "c" / "emu.c"),
             f"-L{lib}", f"-Wl,-rpath,{build}", "-liop", "-lpthread"],
            capture_output=True, text=True)
        if compiled.returncode != 0:
            failures += 1
            print(f"{block.where}: does not compile\n{compiled.stderr}")
            continue
        with tempfile.TemporaryDirectory(prefix="iop-doc-c-") as tmp:
            env = {k: v for k, v in os.environ.items() if not k.startswith("IOP_")}
            env.update(IOP_EMULATOR=str(emulator), IOP_STORE=str(Path(tmp) / "tokens"), HOME=tmp)
            running: Optional[Emulator] = None
            if HAS_MAIN.search(block.code) and block.fixture is None:
                running = Emulator(emulator)
                body_env = dict(env, IOP_APP_KEY=APP_KEY, IOP_APP_SECRET=APP_SECRET, IOP_BASE_URL=running.url)
                created = subprocess.run(
                    [str(Path(args.bin or lib) / "iop"), "token", "create", "--code", "-"],
                    input=running.authorize("seller-42"), text=True, capture_output=True, env=body_env)
                if created.returncode != 0:
                    running.stop()
                    print(f"{block.where}: the fixture could not create a token: {created.stderr}")
                    failures += 1
                    continue
                env = dict(body_env, IOP_REFRESH_TOKEN=json.loads(created.stdout)["refresh_token"])
            if block.fixture == "push":
                body = '{"seller_id":"1001","message_type":0,"data":{"trade_order_id":"42"},"timestamp":1700000000000,"site":"lazada_sg"}'
                env.update(IOP_PUSH_APP_KEY=APP_KEY, IOP_PUSH_APP_SECRET=APP_SECRET,
                           IOP_PUSH_BODY=body, IOP_PUSH_AUTHORIZATION=push_signature(body))
            try:
                code, out, err = run_in_group([str(exe)], Path(tmp), env, timeout=120)
            finally:
                if running:
                    running.stop()
        if code != 0 or err.strip():
            failures += 1
            print(f"{block.where}: exit status {code}\n--- stdout\n{out}--- stderr\n{err}")
        else:
            print(f"{block.where}: ok ({block.fixture or 'own main'})")
    print(f"c blocks: {len(blocks) - failures} passed, {failures} failed")
    return 1 if failures else 0


def cmd_cmake(args: argparse.Namespace) -> int:
    prefix = Path(args.prefix).resolve()
    blocks = [b for b in all_blocks() if b.lang == "cmake"]
    failures = 0
    for n, block in enumerate(blocks):
        with tempfile.TemporaryDirectory(prefix="iop-doc-cmake-") as tmp:
            project = Path(tmp)
            (project / "app.c").write_text(
                '#include <iop.h>\n#include <stdio.h>\nint main(void) { printf("%s\\n", iop_version()); return 0; }\n')
            (project / "CMakeLists.txt").write_text(
                "cmake_minimum_required(VERSION 3.16)\nproject(doc_block C)\nadd_executable(app app.c)\n"
                + block.code)
            steps = [["cmake", "-S", str(project), "-B", str(project / "build"), f"-DCMAKE_PREFIX_PATH={prefix}"],
                     ["cmake", "--build", str(project / "build")]]
            for step in steps:
                done = subprocess.run(step, capture_output=True, text=True)
                if done.returncode != 0:
                    failures += 1
                    print(f"{block.where}: {' '.join(step[:2])} failed\n{done.stdout}{done.stderr}")
                    break
            else:
                print(f"{block.where}: ok (built against {prefix})")
    print(f"cmake blocks: {len(blocks) - failures} passed, {failures} failed")
    return 1 if failures else 0


# ---- links -------------------------------------------------------------------------------------

class _Anchors(html.parser.HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.ids: set[str] = set()
        self.links: List[str] = []

    def handle_starttag(self, tag: str, attrs: List[Tuple[str, Optional[str]]]) -> None:
        for name, value in attrs:
            if name in ("id", "name") and value:
                self.ids.add(value)
            if name in ("href", "src") and value is not None and tag in ("a", "img", "link", "script"):
                self.links.append(value)


def github_slug(heading: str) -> str:
    text = re.sub(r"`|\*\*|\*|\[|\]\([^)]*\)", "", heading.strip()).lower()
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


def markdown_anchors(path: Path) -> set[str]:
    anchors: set[str] = set()
    seen: Dict[str, int] = {}
    in_code = False
    for line in (ROOT / path).read_text(encoding="utf-8").splitlines():
        if re.match(r"^\s*(```|~~~)", line):
            in_code = not in_code
        if in_code:
            continue
        m = re.match(r"^#{1,6}\s+(.*?)\s*#*\s*$", line)
        if m:
            slug = github_slug(m.group(1))
            n = seen.get(slug, 0)
            seen[slug] = n + 1
            anchors.add(slug if n == 0 else f"{slug}-{n}")
    return anchors


def is_external(link: str) -> bool:
    return bool(re.match(r"^[a-z][a-z0-9+.-]*:", link, re.I)) and not link.startswith("file:")


def cmd_links(args: argparse.Namespace) -> int:
    book = Path(args.book).resolve()
    problems: List[str] = []
    parsed: Dict[Path, _Anchors] = {}

    def page(path: Path) -> _Anchors:
        if path not in parsed:
            parser = _Anchors()
            parser.feed(path.read_text(encoding="utf-8", errors="replace"))
            parsed[path] = parser
        return parsed[path]

    html_files = sorted(book.rglob("*.html"))
    if not html_files:
        print(f"no HTML under {book}: build the book first")
        return 1
    links = 0
    # 1. The built book: every relative link and anchor resolves. A link that leaves the book
    # (to a source file of the repository) is checked against the repository.
    for html_file in html_files:
        if html_file.name in ("print.html", "404.html", "toc.html"):
            continue  # print.html repeats every page; 404.html and toc.html are mdBook's own
        for link in page(html_file).links:
            if is_external(link) or link.startswith("#") and link == "#":
                continue
            links += 1
            target, _, anchor = link.partition("#")
            target = urllib.parse.unquote(target.split("?", 1)[0])
            if not target:
                resolved = html_file
            else:
                resolved = (html_file.parent / target).resolve()
            if book not in resolved.parents and resolved != book:
                # Outside the book: relative to where the page's Markdown is.
                source = (BOOK_SRC / html_file.relative_to(book)).parent / target
                resolved = source.resolve()
                if not resolved.exists():
                    problems.append(f"{html_file.relative_to(book)}: {link}: no such file in the repository")
                continue
            if not resolved.exists():
                problems.append(f"{html_file.relative_to(book)}: {link}: no such file")
                continue
            if anchor and resolved.suffix == ".html" and anchor not in page(resolved).ids:
                problems.append(f"{html_file.relative_to(book)}: {link}: no anchor #{anchor}")
    # 2. Markdown files outside the book (the README, the crates' READMEs): links to files of
    # the repository and to anchors in them or in the book.
    md_link = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")
    for path in markdown_files():
        if BOOK_SRC in (ROOT / path).resolve().parents:
            continue
        text = (ROOT / path).read_text(encoding="utf-8")
        text = re.sub(r"```.*?```", "", text, flags=re.S)
        for link in md_link.findall(text):
            if is_external(link):
                continue
            links += 1
            problem = check_repo_link(path.parent, link, book, page)
            if problem:
                problems.append(f"{path}: {link}: {problem}")
    # 3. The code's references into the book (docs/src/…md#anchor in comments and doc comments).
    ref = re.compile(r"docs/src/[\w/.-]+\.md(?:#[\w-]+)?")
    for source in code_files():
        for n, line in enumerate(source.read_text(encoding="utf-8", errors="replace").splitlines(), 1):
            for link in ref.findall(line):
                links += 1
                problem = check_repo_link(Path("."), link, book, page)
                if problem:
                    problems.append(f"{source.relative_to(ROOT)}:{n}: {link}: {problem}")
    for problem in problems:
        print(problem)
    print(f"links: {links - len(problems)} passed, {len(problems)} failed")
    return 1 if problems else 0


def check_repo_link(base: Path, link: str, book: Path, page) -> Optional[str]:  # type: ignore[no-untyped-def]
    target, _, anchor = link.partition("#")
    resolved = (ROOT / base / target).resolve() if target else None
    if resolved is not None and not resolved.exists():
        return "no such file"
    if not anchor:
        return None
    if resolved is None:
        return None if anchor in markdown_anchors(base / "README.md") else f"no anchor #{anchor}"
    if BOOK_SRC in resolved.parents and resolved.suffix == ".md":
        built = book / resolved.relative_to(BOOK_SRC).with_suffix(".html")
        if not built.exists():
            return "not a chapter of the book (missing from SUMMARY.md?)"
        return None if anchor in page(built).ids else f"no anchor #{anchor} in the book"
    if resolved.suffix == ".md":
        return None if anchor in markdown_anchors(resolved.relative_to(ROOT)) else f"no anchor #{anchor}"
    return None


def code_files() -> Iterator[Path]:
    suffixes = {".rs", ".py", ".pyi", ".h", ".c", ".cpp", ".toml", ".sh"}
    for dirpath, dirnames, filenames in os.walk(ROOT):
        dirnames[:] = [d for d in dirnames if d not in SKIP_DIRS and not d.startswith(".")]
        for name in filenames:
            if Path(name).suffix in suffixes or name in ("Makefile",) or Path(dirpath).name == "scripts":
                yield Path(dirpath, name)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("inventory").set_defaults(run=cmd_inventory)
    sub.add_parser("static").set_defaults(run=cmd_static)
    p = sub.add_parser("sh")
    p.add_argument("--bin", required=True)
    p.add_argument("-v", "--verbose", action="store_true", help="show what each block printed")
    p.set_defaults(run=cmd_sh)
    p = sub.add_parser("c")
    p.add_argument("--lib", required=True)
    p.add_argument("--emulator", required=True)
    p.add_argument("--bin", help="the folder of the iop command (default: --lib)")
    p.add_argument("--build", help="where the programs are built (default: LIB/doc-blocks)")
    p.set_defaults(run=cmd_c)
    p = sub.add_parser("cmake")
    p.add_argument("--prefix", required=True)
    p.set_defaults(run=cmd_cmake)
    p = sub.add_parser("links")
    p.add_argument("book")
    p.set_defaults(run=cmd_links)
    args = parser.parse_args()
    started = time.monotonic()
    status: int = args.run(args)
    print(f"({args.command}: {time.monotonic() - started:.1f} s)")
    return status


if __name__ == "__main__":
    sys.exit(main())
