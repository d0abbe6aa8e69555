// A C++ program built through `find_package(iop CONFIG REQUIRED)` against a staged install,
// linked once with iop::iop (shared) and once with iop::iop_static.
#include <string>

#include "consumer.h"

int main() {
    const std::string who = std::string("cmake consumer (C++, ") + CONSUMER_LINK + ")";
    return consumer_main(who.c_str());
}
