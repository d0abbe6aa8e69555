"""Writes a C table of the signing vectors in sign.json (argv[1]) and any further vector files
(argv[2:], from IOP_EXTRA_VECTORS) to stdout."""
import json
import sys


def c_string(text):
    out = '"'
    for byte in text.encode("utf-8"):
        ch = chr(byte)
        if ch in '"\\':
            out += "\\" + ch
        elif 32 <= byte < 127 and ch != "?":
            out += ch
        else:
            out += "\\%03o" % byte
    return out + '"'


def main():
    with open(sys.argv[1], encoding="utf-8") as f:
        data = json.load(f)
    for extra in sys.argv[2:]:
        with open(extra, encoding="utf-8") as f:
            more = json.load(f)
        for key in ("vectors", "must_not_match"):
            data.setdefault(key, []).extend(more.get(key) or [])
    print("/* Generated from sign.json by gen_vectors.py: do not edit. */")
    print("#include <stddef.h>")
    print("typedef struct vector { const char *name; const char *secret; const char *prefix;")
    print("    int md5; size_t count; const char *keys[64]; const char *values[64];")
    print("    const char *expected; } vector;")
    print("static const vector VECTORS[] = {")
    for v in data["vectors"]:
        params = v["params"]
        if v.get("empty_value_policy") == "skip":
            params = {k: x for k, x in params.items() if x.strip() != ""}
        keys = list(params.keys())
        assert len(keys) <= 64
        print("  { %s, %s, %s, %d, %d," % (
            c_string(v["name"]), c_string(v["secret"]),
            c_string(v["sign_prefix"]) if v.get("sign_prefix") else "NULL",
            1 if v["sign_method"] == "md5" else 0, len(keys)))
        print("    { %s }," % ", ".join(c_string(k) for k in keys) if keys else "    { NULL },")
        print("    { %s }," % ", ".join(c_string(params[k]) for k in keys) if keys else "    { NULL },")
        print("    %s }," % c_string(v["expected_sign"]))
    print("};")
    print("static const size_t VECTOR_COUNT = sizeof VECTORS / sizeof VECTORS[0];")
    wrong = data.get("must_not_match") or []
    print("/* Signatures of wrong implementations of vector %s: none may come out. */"
          % data.get("must_not_match_base"))
    print("static const char *const MUST_NOT_MATCH_BASE = %s;" % c_string(data.get("must_not_match_base") or ""))
    print("static const char *const MUST_NOT_MATCH[] = { %s NULL };"
          % "".join(c_string(w["sign"]) + ", " for w in wrong))


main()
