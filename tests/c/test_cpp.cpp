// The header in a C++17 program: compiles with -Wall -Wextra -Wpedantic -Werror, links, runs.
#include "iop.h"

#include <cstdio>
#include <cstring>
#include <memory>
#include <string>

namespace {

struct ClientDeleter {
    void operator()(iop_client *c) const noexcept { iop_client_free(c); }
};
using ClientPtr = std::unique_ptr<iop_client, ClientDeleter>;

}  // namespace

int main() {
    int failed = 0;
    std::string version = iop_version();
    if (version.empty()) {
        ++failed;
    }
    const char *keys[] = {"app_key", "timestamp"};
    const char *values[] = {"123456", "1517820392000"};
    char out[IOP_SIGN_BUFFER_LEN] = {};
    iop_result r = iop_sign("helloworld", "/auth/token/create", keys, values, 2,
                            IOP_SIGN_METHOD_SHA256, out, sizeof out);
    if (r != IOP_RESULT_OK || std::strlen(out) != 64) {
        ++failed;
    }
    iop_client *raw = nullptr;
    if (iop_client_new(nullptr, "k", "s", &raw, nullptr) != IOP_RESULT_OK) {
        ++failed;
    }
    ClientPtr client(raw);
    if (std::string(iop_result_name(IOP_RESULT_TIMEOUT)) != "IOP_RESULT_TIMEOUT") {
        ++failed;
    }
    std::printf("c++ tests: %d passed, %d failed (libiop %s)\n", 4 - failed, failed,
                version.c_str());
    return failed == 0 ? 0 : 1;
}
