"""Third-party AliExpress SDKs from PyPI against iop-emulator with registered business answers.

python-aliexpress-api and py-aliexpress-affiliate parse the real answer shape
(`<method>_response.resp_result.result`), which the emulator's echo does not have: with answers
registered (the shipped set, `--answers common`, and per-parameter answers through
`POST /_emulator/answer`) their README calls run and return what was registered. Both sign
with MD5 on `/sync`, which the emulator checks like the gateway.

python-aliexpress-api has no setting for its gateway (it talks plain HTTP to
api-sg.aliexpress.com:80): the script points the default host and port of its request classes
at the emulator, nothing else. py-aliexpress-affiliate takes `base_url`.

Usage: python third_party_against_emulator.py PATH/TO/iop-emulator
Exit status 0 when every check passed, 1 otherwise.
"""

import asyncio
import json
import subprocess
import sys
import urllib.parse
import urllib.request

APP_KEY = "third-party-key"
APP_SECRET = "third-party-secret"
LINK = "https://www.aliexpress.com/item/1005004757833857.html"
PROMOTION_LINK = "https://s.click.aliexpress.com/e/_registered_for_this_url"

failures = []


def check(what, ok, detail=""):
    print(("PASS " if ok else "FAIL ") + what + ("" if ok else "  -- " + str(detail)), flush=True)
    if not ok:
        failures.append(what)


def control(base, route, **params):
    data = urllib.parse.urlencode(params).encode()
    req = urllib.request.Request(base + "/_emulator/" + route, data=data, method="POST")
    with urllib.request.urlopen(req, timeout=10) as resp:
        return json.loads(resp.read().decode("utf-8"))


def link_answer(source_value):
    return {"resp_result": {"resp_code": 200, "resp_msg": "Call succeeds", "result": {
        "total_result_count": 1, "tracking_id": "my-tracking-id",
        "promotion_links": {"promotion_link": [
            {"promotion_link": PROMOTION_LINK, "source_value": source_value}]}}}}


def python_aliexpress_api(base, port):
    from aliexpress_api import AliexpressApi, models
    from aliexpress_api.skd.api import rest

    # Its only gateway setting is the default host and port of each request class.
    for name in dir(rest):
        request_class = getattr(rest, name)
        if isinstance(request_class, type) and name.endswith("Request"):
            request_class.__init__.__defaults__ = ("127.0.0.1", port)

    # As its README: the client, affiliate links, product details, categories.
    aliexpress = AliexpressApi(APP_KEY, APP_SECRET, models.Language.EN, models.Currency.EUR, "my-tracking-id")
    affiliate_links = aliexpress.get_affiliate_links(LINK)
    check("python-aliexpress-api: get_affiliate_links parses the registered link",
          affiliate_links[0].promotion_link == PROMOTION_LINK, vars(affiliate_links[0]))
    products = aliexpress.get_products_details(["1005003091506814", LINK])
    check("python-aliexpress-api: get_products_details parses the shipped products",
          products[0].product_title.startswith("Emulator mechanical keyboard"), vars(products[0]))
    parents = aliexpress.get_parent_categories()
    check("python-aliexpress-api: get_parent_categories",
          [c.category_name for c in parents] == ["Computer & Office", "Consumer Electronics"],
          [vars(c) for c in parents])
    children = aliexpress.get_child_categories(parents[0].category_id)
    check("python-aliexpress-api: get_child_categories",
          [c.category_name for c in children] == ["Keyboards"], [vars(c) for c in children])

    # A gateway error envelope still reaches it as the gateway's error.
    wrong = AliexpressApi(APP_KEY, "not-the-secret", models.Language.EN, models.Currency.EUR, "t")
    try:
        wrong.get_categories()
        check("python-aliexpress-api: a wrong secret is refused", False, "no error")
    except Exception as error:  # noqa: BLE001 - its exception types wrap the gateway's
        check("python-aliexpress-api: a wrong secret is refused",
              "IncompleteSignature" in repr(error) or "IncompleteSignature" in str(error.__cause__),
              repr(error))


def py_aliexpress_affiliate(base):
    from aliexpress_affiliate import AliExpressClient, AsyncAliExpressClient, Currency, Language, LinkType

    # As its README's quick start, with base_url pointing at the emulator.
    with AliExpressClient(
        app_key=APP_KEY,
        app_secret=APP_SECRET,
        tracking_id="default",
        language=Language.EN,
        currency=Currency.USD,
        country="US",
        base_url=base,
        max_retries=0,
    ) as client:
        product = client.get_product_details("1005004757833857")
        check("py-aliexpress-affiliate: get_product_details",
              product.product_id == 1005003091506814 and product.product_title.startswith("Emulator"),
              product)
        link = client.generate_affiliate_link(LINK, promotion_link_type=LinkType.NORMAL)
        check("py-aliexpress-affiliate: generate_affiliate_link parses the registered link",
              link.promotion_link == PROMOTION_LINK and link.source_value == LINK, link)
        parents = client.get_parent_categories()
        check("py-aliexpress-affiliate: get_parent_categories",
              [c.category_id for c in parents] == [7, 44], parents)
        children = client.categories.get_child_categories(44)
        check("py-aliexpress-affiliate: get_child_categories",
              [c.category_name for c in children] == ["Cables"], children)

    async def run_async():
        async with AsyncAliExpressClient(
            app_key=APP_KEY, app_secret=APP_SECRET, tracking_id="default", base_url=base, max_retries=0
        ) as client:
            return await client.generate_affiliate_link(LINK)

    link = asyncio.run(run_async())
    check("py-aliexpress-affiliate: the async client too", link.promotion_link == PROMOTION_LINK, link)


def main():
    if len(sys.argv) != 2:
        print(__doc__)
        return 2
    proc = subprocess.Popen(
        [sys.argv[1], "--listen", "127.0.0.1:0", "--app-key", APP_KEY, "--app-secret-file", "-",
         "--answers", "common"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        proc.stdin.write(APP_SECRET + "\n")
        proc.stdin.close()
        base = proc.stdout.readline().strip()
        check("emulator printed its URL first", base.startswith("http://127.0.0.1:"), base)
        port = int(base.rsplit(":", 1)[1])
        # The link of one URL, per parameter: what the SDKs send as `source_values`.
        control(base, "answer", api="aliexpress.affiliate.link.generate",
                body=json.dumps(link_answer(LINK)), params=json.dumps({"source_values": LINK}))
        python_aliexpress_api(base, port)
        py_aliexpress_affiliate(base)
        stats = json.loads(urllib.request.urlopen(base + "/_emulator/stats", timeout=10).read())
        check("emulator counted the SDKs' calls",
              stats.get("aliexpress.affiliate.link.generate", 0) >= 3
              and stats.get("aliexpress.affiliate.category.get", 0) >= 2, stats)
    finally:
        proc.terminate()
        proc.wait(timeout=10)
    print()
    if failures:
        print("%d check(s) failed: %s" % (len(failures), ", ".join(failures)))
        return 1
    print("all third-party SDK checks passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
