// HTTP routing: path + method -> handler, API-key check, readiness check. Simple endpoints
// (/health, /metrics, /v1/models, /tokenize, /detokenize) are answered here; completions go
// to http_completion.h. Runs on the session's strand.
//
// Unknown path -> 404, known path with another method -> 405 (with Allow), missing or wrong
// key -> 401 (paths in --auth-exempt need none), not ready -> 503.
#ifndef LINSPEC_SERVER_HTTP_ROUTER_H_
#define LINSPEC_SERVER_HTTP_ROUTER_H_

#include <memory>

#include "server/http_session.h"

namespace linspec::server {

void RouteHttpRequest(std::shared_ptr<HttpSession> session, HttpSession::Request request);

}  // namespace linspec::server

#endif  // LINSPEC_SERVER_HTTP_ROUTER_H_
