"""The vendor's Python SDK (lazop-sdk on PyPI) against iop-emulator.

Proves the emulator accepts what real vendor code sends: lazop-sdk creates and refreshes a token,
calls an API with GET and with a file part, and with a wrong secret gets IncompleteSignature.

Usage: python lazop_against_emulator.py PATH/TO/iop-emulator
lazop-sdk writes log files under ~/logs when imported: HOME is pointed at a temporary directory
before the import. Exit status 0 when every check passed, 1 otherwise.
"""

import json
import os
import shutil
import subprocess
import sys
import tempfile
import urllib.request

APP_KEY = "vendor-app-key"
APP_SECRET = "vendor-app-secret"
SELLER = "vendor-seller-7"

failures = []


def check(what, ok, detail=""):
    print(("PASS " if ok else "FAIL ") + what + ("" if ok else "  -- " + str(detail)), flush=True)
    if not ok:
        failures.append(what)


def control(base, route):
    req = urllib.request.Request(base + "/_emulator/" + route, data=b"", method="POST")
    with urllib.request.urlopen(req, timeout=10) as resp:
        return json.loads(resp.read().decode("utf-8"))


def main():
    if len(sys.argv) != 2:
        print(__doc__)
        return 2
    binary = sys.argv[1]
    home = tempfile.mkdtemp(prefix="lazop-home-")
    os.environ["HOME"] = home
    import lazop_sdk as lazop  # creates $HOME/logs

    proc = subprocess.Popen(
        [binary, "--listen", "127.0.0.1:0", "--app-key", APP_KEY, "--app-secret", APP_SECRET],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        base = proc.stdout.readline().strip()
        check("emulator printed its URL first", base.startswith("http://127.0.0.1:"), base)
        run(lazop, base)
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        shutil.rmtree(home, ignore_errors=True)
    print()
    if failures:
        print("%d check(s) failed: %s" % (len(failures), ", ".join(failures)))
        return 1
    print("all vendor checks passed")
    return 0


def run(lazop, base):
    # The vendor SDK appends the API path to the server URL it is given.
    client = lazop.LazopClient(base + "/rest", APP_KEY, APP_SECRET)

    code = control(base, "authorize?seller_id=" + SELLER)["code"]
    req = lazop.LazopRequest("/auth/token/create")
    req.add_api_param("code", code)
    created = client.execute(req)
    body = created.body
    check("create: code 0", created.code == "0", body)
    check("create: seller_id", body.get("seller_id") == SELLER, body)
    for field in ("access_token", "refresh_token", "expires_in", "refresh_expires_in",
                  "expire_time", "refresh_token_valid_time", "request_id"):
        check("create: has " + field, body.get(field) not in (None, ""), body)

    req = lazop.LazopRequest("/auth/token/create")
    req.add_api_param("code", code)
    again = client.execute(req)
    check("create: a used code is InvalidCode", again.code == "InvalidCode", again.body)

    req = lazop.LazopRequest("/auth/token/refresh")
    req.add_api_param("refresh_token", body["refresh_token"])
    refreshed = client.execute(req)
    rbody = refreshed.body
    check("refresh: code 0", refreshed.code == "0", rbody)
    check("refresh: same seller", rbody.get("seller_id") == SELLER, rbody)
    check("refresh: new access token", rbody.get("access_token") not in (None, body["access_token"]), rbody)
    check("refresh: new refresh token", rbody.get("refresh_token") not in (None, body["refresh_token"]), rbody)

    req = lazop.LazopRequest("/auth/token/refresh")
    req.add_api_param("refresh_token", body["refresh_token"])
    rotated = client.execute(req)
    check("refresh: the used refresh token is IllegalRefreshToken",
          rotated.code == "IllegalRefreshToken", rotated.body)

    req = lazop.LazopRequest("/orders/get", "GET")
    req.add_api_param("status", "pending")
    req.add_api_param("note", "a b&c=\u4f60")
    call = client.execute(req, rbody["access_token"])
    check("GET call: code 0", call.code == "0", call.body)
    check("GET call: business parameters echoed",
          call.body.get("params") == {"status": "pending", "note": "a b&c=\u4f60"}, call.body)

    req = lazop.LazopRequest("/image/upload")
    req.add_api_param("title", "photo")
    req.add_file_param("image", b"\x89PNG fake image bytes")
    upload = client.execute(req, rbody["access_token"])
    check("multipart call: code 0", upload.code == "0", upload.body)
    check("multipart call: file part received, not signed",
          upload.body.get("files", {}).get("image", {}).get("size") == 21, upload.body)

    wrong = lazop.LazopClient(base + "/rest", APP_KEY, "not-the-secret")
    req = lazop.LazopRequest("/auth/token/create")
    req.add_api_param("code", control(base, "authorize?seller_id=" + SELLER)["code"])
    rejected = wrong.execute(req)
    check("wrong secret: IncompleteSignature", rejected.code == "IncompleteSignature", rejected.body)
    check("wrong secret: gateway message",
          rejected.message == "The request signature does not conform to platform standards",
          rejected.message)

    stats = json.loads(urllib.request.urlopen(base + "/_emulator/stats", timeout=10).read())
    check("emulator counted the requests",
          stats.get("/auth/token/create") == 3 and stats.get("/auth/token/refresh") == 2, stats)


if __name__ == "__main__":
    sys.exit(main())
