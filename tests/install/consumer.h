/* The one check both install consumers run: the installed library loads, says the version its
 * header says (IOP_VERSION, and IOP_VERSION_MAJOR.MINOR.PATCH), and signs one vendor vector byte
 * for byte. It prints the version; the test script compares it with the workspace's. VEC_* come from vector.h, which gen_vector.py writes from
 * tests/data/vectors/sign.json. Returns the process exit status. */
#ifndef IOP_INSTALL_CONSUMER_H
#define IOP_INSTALL_CONSUMER_H
#include <stdio.h>
#include <string.h>
#include <iop.h>
#include "vector.h"

#if !defined(IOP_VERSION) || !defined(IOP_VERSION_MAJOR) || !defined(IOP_VERSION_MINOR) || \
    !defined(IOP_VERSION_PATCH)
#error "iop.h does not define IOP_VERSION and IOP_VERSION_MAJOR/MINOR/PATCH"
#endif

static int consumer_main(const char *who) {
    static const char *const keys[] = {VEC_KEYS};
    static const char *const values[] = {VEC_VALUES};
    char out[65];
    char parts[48];
    snprintf(parts, sizeof parts, "%d.%d.%d", IOP_VERSION_MAJOR, IOP_VERSION_MINOR, IOP_VERSION_PATCH);
    if (strcmp(iop_version(), IOP_VERSION) != 0 || strcmp(parts, IOP_VERSION) != 0) {
        fprintf(stderr, "%s: iop_version() is %s, the header says %s (%s)\n", who, iop_version(),
                IOP_VERSION, parts);
        return 1;
    }
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
