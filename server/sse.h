// Server-sent-events framing and HTTP/1.1 chunked transfer framing. Pure functions.
#ifndef LINSPEC_SERVER_SSE_H_
#define LINSPEC_SERVER_SSE_H_

#include <string>
#include <string_view>

namespace linspec::server {

// "data: <payload>\n\n". A payload containing newlines is split into several data: lines,
// as the SSE spec requires (compact JSON never has any).
std::string SseData(std::string_view payload);
// "data: [DONE]\n\n", the OpenAI end-of-stream marker.
std::string SseDone();
// ": <text>\n\n", a comment line clients ignore (keep-alive).
std::string SseComment(std::string_view text);

// One chunk of a chunked body: "<hex size>\r\n<payload>\r\n". Empty payload -> "".
std::string HttpChunk(std::string_view payload);
// The terminating chunk "0\r\n\r\n".
std::string HttpLastChunk();

}  // namespace linspec::server

#endif  // LINSPEC_SERVER_SSE_H_
