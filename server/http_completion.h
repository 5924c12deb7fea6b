// POST /v1/completions and /v1/chat/completions: turns a parsed OpenAI request into one
// scheduler request per (prompt, n) choice and answers with one JSON body or an SSE stream.
//
// Scheduler sinks run on the scheduler thread; they only post to the session's strand, where
// all response work happens. A client disconnect cancels every choice of the request; an
// error after the stream began is sent as `data: {"error":...}` followed by `data: [DONE]`.
#ifndef LINSPEC_SERVER_HTTP_COMPLETION_H_
#define LINSPEC_SERVER_HTTP_COMPLETION_H_

#include <memory>
#include <string>

#include "server/http_session.h"
#include "server/openai_request.h"

namespace linspec::server {

void StartCompletion(std::shared_ptr<HttpSession> session, CompletionRequest request,
                     const std::string& route);

}  // namespace linspec::server

#endif  // LINSPEC_SERVER_HTTP_COMPLETION_H_
