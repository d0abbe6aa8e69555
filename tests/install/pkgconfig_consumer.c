/* A C program built with `cc $(pkg-config --cflags --libs iop)` against a staged install. */
#include "consumer.h"

int main(void) { return consumer_main("pkg-config consumer (C)"); }
