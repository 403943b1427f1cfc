#include "peergate/cli/run.h"

int main(int argc, char** argv) { return peergate::cli::run(argc, argv); }
