// linspec-server: serves a linear_llama model over gRPC and HTTP (see server/README.md).
#include "server/server_main.h"

int main(int argc, char** argv) { return linspec::server::ServerMain(argc, argv); }
