/* The one check both install consumers run: the installed library loads, says its version, and
 * signs one vendor vector byte for byte. VEC_* come from vector.h, which gen_vector.py writes from
 * tests/data/vectors/sign.json. Returns the process exit status. */
#ifndef IOP_INSTALL_CONSUMER_H
#define IOP_INSTALL_CONSUMER_H
#include <stdio.h>
#include <string.h>
#include <iop.h>
#include "vector.h"

static int consumer_main(const char *who) {
    static const char *const keys[] = {VEC_KEYS};
    static const char *const values[] = {VEC_VALUES};
    char out[65];
    iop_result r = iop_sign(VEC_SECRET, VEC_PREFIX, keys, values, sizeof keys / sizeof keys[0],
                            IOP_SIGN_METHOD_SHA256, out, sizeof out);
    if (r != IOP_RESULT_OK) {
        fprintf(stderr, "%s: iop_sign gave %s\n", who, iop_result_name(r));
        return 1;
    }
    if (strcmp(out, VEC_EXPECTED) != 0) {
        fprintf(stderr, "%s: signature %s, expected %s\n", who, out, VEC_EXPECTED);
        return 1;
    }
    printf("%s: libiop %s signs as the vendor SDKs do\n", who, iop_version());
    return 0;
}
#endif
