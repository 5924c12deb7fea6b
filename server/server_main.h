// The linspec-server program: flags (CLI11), model loading, warm-up, signal handling and
// graceful shutdown. Returns the process exit code (0 after a clean SIGTERM/SIGINT drain).
#ifndef LINSPEC_SERVER_SERVER_MAIN_H_
#define LINSPEC_SERVER_SERVER_MAIN_H_

namespace linspec::server {

int ServerMain(int argc, char** argv);

}  // namespace linspec::server

#endif  // LINSPEC_SERVER_SERVER_MAIN_H_
