// The whole server layer (HTTP + gRPC + metrics) against a fake scheduler and tokenizer.
#include <chrono>
#include <memory>
#include <string>
#include <thread>

#include "boost/asio/connect.hpp"
#include "boost/asio/ip/tcp.hpp"
#include "boost/asio/read.hpp"
#include "boost/asio/write.hpp"
#include "boost/beast/core.hpp"
#include "boost/beast/http.hpp"
#include "grpcpp/grpcpp.h"
#include "gtest/gtest.h"
#include "linspec/v1/generation.grpc.pb.h"
#include "nlohmann/json.hpp"
#include "server/server.h"
#include "tests/unit/server/fakes.h"

namespace linspec::server {
namespace {

namespace beast = boost::beast;
namespace http = beast::http;
namespace net = boost::asio;
using json = nlohmann::json;
using tcp = net::ip::tcp;

struct HttpResult {
  int status = 0;
  http::response<http::string_body> res;
  std::string body;
};

HttpResult DoHttp(int port, http::verb verb, const std::string& target, const std::string& body,
                  const std::string& auth = "") {
  net::io_context ioc;
  tcp::socket sock(ioc);
  sock.connect(tcp::endpoint(net::ip::make_address("127.0.0.1"), port));
  http::request<http::string_body> req{verb, target, 11};
  req.set(http::field::host, "localhost");
  if (!auth.empty()) req.set(http::field::authorization, auth);
  if (!body.empty() || verb == http::verb::post) {
    req.set(http::field::content_type, "application/json");
    req.body() = body;
    req.prepare_payload();
  }
  http::write(sock, req);
  beast::flat_buffer buf;
  HttpResult r;
  http::read(sock, buf, r.res);
  r.status = r.res.result_int();
  r.body = r.res.body();
  return r;
}

// Waits (bounded) until pred holds; the bound only guards against hangs.
template <typename Pred>
bool WaitFor(Pred pred, int seconds = 20) {
  const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(seconds);
  while (!pred()) {
    if (std::chrono::steady_clock::now() > until) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return true;
}

class ServerFakeTest : public ::testing::Test {
 protected:
  void StartServer(const std::string& api_key = "", int max_queue = 64, int step_ms = 1,
                   size_t max_body = 4096) {
    ServerOptions o;
    o.serving.model_name = "fake";
    o.serving.max_prompt_tokens = 64;
    o.serving.limits.max_tokens_limit = 5000;
    o.serving.api_key = api_key;
    o.http.port = 0;
    o.http.session.max_body_bytes = max_body;
    o.http.session.sse_keepalive_seconds = 0.05;
    o.grpc.port = 0;
    o.drain_timeout_seconds = 5;
    auto s = Server::Start(o);
    ASSERT_TRUE(s.ok()) << s.status();
    server_ = std::move(*s);
    sched_ =
        std::make_unique<testing::FakeScheduler>(&server_->ctx().metrics(), max_queue, step_ms);
    ModelInfo info;
    info.vocab_size = tok_.vocab_size();
    info.num_state_slots = 4;
    server_->ctx().Attach(sched_.get(), &tok_, info, ChatTemplate(), nullptr);
  }
  void TearDown() override {
    if (server_) server_->Shutdown();
    server_.reset();
    sched_.reset();
  }
  int port() const { return server_->http_port(); }

  testing::ByteTokenizer tok_;
  std::unique_ptr<testing::FakeScheduler> sched_;
  std::unique_ptr<Server> server_;
};

TEST_F(ServerFakeTest, HealthFollowsServingState) {
  StartServer();
  EXPECT_EQ(DoHttp(port(), http::verb::get, "/health", "").status, 503);
  EXPECT_EQ(DoHttp(port(), http::verb::post, "/v1/completions", R"({"prompt":"x"})").status, 503);
  server_->SetReady();
  EXPECT_EQ(DoHttp(port(), http::verb::get, "/health", "").status, 200);
  server_->ctx().SetState(ServingState::kDraining);
  EXPECT_EQ(DoHttp(port(), http::verb::get, "/health", "").status, 503);
  auto r = DoHttp(port(), http::verb::post, "/v1/completions", R"({"prompt":"x"})");
  EXPECT_EQ(r.status, 503);
  EXPECT_EQ(json::parse(r.body)["error"]["type"], "service_unavailable_error");
}

TEST_F(ServerFakeTest, CompletionNonStreamingShape) {
  StartServer();
  server_->SetReady();
  auto r = DoHttp(port(), http::verb::post, "/v1/completions",
                  R"({"model":"fake","prompt":"abc","max_tokens":5,"seed":1})");
  ASSERT_EQ(r.status, 200) << r.body;
  auto j = json::parse(r.body);
  EXPECT_EQ(j["object"], "text_completion");
  EXPECT_EQ(j["model"], "fake");
  ASSERT_EQ(j["choices"].size(), 1u);
  // prompt = BOS + 3 bytes = 4 tokens; fake token i = 'a' + (1 + 4 + i) % 26.
  EXPECT_EQ(j["choices"][0]["text"], "fghij");
  EXPECT_EQ(j["choices"][0]["finish_reason"], "length");
  EXPECT_EQ(j["usage"]["prompt_tokens"], 4);
  EXPECT_EQ(j["usage"]["completion_tokens"], 5);
  EXPECT_EQ(j["usage"]["total_tokens"], 9);
}

TEST_F(ServerFakeTest, StreamingMatchesUnaryAndEndsWithDone) {
  StartServer();
  server_->SetReady();
  auto r = DoHttp(port(), http::verb::post, "/v1/completions",
                  R"({"prompt":"abc","max_tokens":5,"seed":1,"stream":true,
                      "stream_options":{"include_usage":true}})");
  ASSERT_EQ(r.status, 200);
  EXPECT_EQ(r.res[http::field::content_type], "text/event-stream; charset=utf-8");
  EXPECT_EQ(r.res[http::field::cache_control], "no-cache");
  EXPECT_EQ(r.res["X-Accel-Buffering"], "no");
  ASSERT_GE(r.body.size(), 14u);
  EXPECT_EQ(r.body.substr(r.body.size() - 14), "data: [DONE]\n\n");
  std::string text;
  bool saw_usage = false, saw_finish = false;
  size_t pos = 0;
  while (pos < r.body.size()) {
    const size_t end = r.body.find("\n\n", pos);
    ASSERT_NE(end, std::string::npos);
    const std::string ev = r.body.substr(pos, end - pos);
    pos = end + 2;
    if (ev[0] == ':') continue;  // keep-alive comment
    ASSERT_EQ(ev.substr(0, 6), "data: ");
    if (ev == "data: [DONE]") continue;
    auto j = json::parse(ev.substr(6));
    if (j["choices"].empty()) {
      saw_usage = true;
      EXPECT_EQ(j["usage"]["completion_tokens"], 5);
      continue;
    }
    text += j["choices"][0]["text"].get<std::string>();
    if (!j["choices"][0]["finish_reason"].is_null()) saw_finish = true;
  }
  EXPECT_EQ(text, "fghij");
  EXPECT_TRUE(saw_usage);
  EXPECT_TRUE(saw_finish);
}

TEST_F(ServerFakeTest, ChatAndNChoices) {
  StartServer();
  server_->SetReady();
  auto r = DoHttp(port(), http::verb::post, "/v1/chat/completions",
                  R"({"messages":[{"role":"user","content":"hi"}],"max_tokens":3,"n":3})");
  ASSERT_EQ(r.status, 200) << r.body;
  auto j = json::parse(r.body);
  EXPECT_EQ(j["object"], "chat.completion");
  ASSERT_EQ(j["choices"].size(), 3u);
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(j["choices"][i]["index"], i);
    EXPECT_EQ(j["choices"][i]["message"]["role"], "assistant");
    EXPECT_EQ(j["choices"][i]["message"]["content"].get<std::string>().size(), 3u);
  }
  EXPECT_EQ(j["usage"]["completion_tokens"], 9);
  // The plain template was applied.
  auto seen = sched_->seen();
  ASSERT_FALSE(seen.empty());
  std::string prompt;
  for (auto id : seen[0].prompt) {
    if (id < 256) prompt.push_back(static_cast<char>(id));
  }
  EXPECT_EQ(prompt, "User: hi\n\nAssistant:");
}

TEST_F(ServerFakeTest, ErrorTable) {
  StartServer();
  server_->SetReady();
  struct Case {
    http::verb verb;
    const char* target;
    std::string body;
    int status;
  };
  const Case cases[] = {
      {http::verb::post, "/v1/completions", R"({"prompt":)", 400},
      {http::verb::post, "/v1/completions", R"({"prompt":"x","max_tokens":"7"})", 400},
      {http::verb::post, "/v1/completions", R"({"prompt":""})", 400},
      {http::verb::post, "/v1/completions", R"({"prompt":"x","max_tokens":99999999})", 400},
      {http::verb::post, "/v1/completions", R"({"prompt":"x","n":9})", 400},
      {http::verb::post, "/v1/completions", R"({"prompt":"x","model":"gpt-4"})", 404},
      {http::verb::post, "/v1/completions", std::string(100, 'a'), 400},
      {http::verb::post, "/v1/completions", R"({"prompt":")" + std::string(5000, 'a') + "\"}", 413},
      {http::verb::post, "/v1/completions", R"({"prompt":")" + std::string(100, 'a') + "\"}",
       400},  // 101 tokens > max_prompt_tokens 64
      {http::verb::get, "/v1/completions", "", 405},
      {http::verb::get, "/nope", "", 404},
      {http::verb::delete_, "/health", "", 405},
  };
  for (const auto& c : cases) {
    auto r = DoHttp(port(), c.verb, c.target, c.body);
    EXPECT_EQ(r.status, c.status) << c.target << " " << c.body.substr(0, 60) << " -> " << r.body;
    auto j = json::parse(r.body, nullptr, false);
    ASSERT_TRUE(j.is_object()) << r.body;
    EXPECT_TRUE(j["error"]["message"].is_string());
    EXPECT_TRUE(j["error"]["type"].is_string());
  }
  EXPECT_EQ(DoHttp(port(), http::verb::get, "/health", "").status, 200);
}

TEST_F(ServerFakeTest, ApiKeyRequiredExceptExempt) {
  StartServer("sk-test");
  server_->SetReady();
  EXPECT_EQ(DoHttp(port(), http::verb::get, "/v1/models", "").status, 401);
  EXPECT_EQ(DoHttp(port(), http::verb::get, "/v1/models", "", "Bearer wrong").status, 401);
  EXPECT_EQ(DoHttp(port(), http::verb::get, "/v1/models", "", "Bearer sk-test").status, 200);
  EXPECT_EQ(DoHttp(port(), http::verb::get, "/health", "").status, 200);
  EXPECT_EQ(DoHttp(port(), http::verb::get, "/metrics", "").status, 200);

  auto channel = grpc::CreateChannel("127.0.0.1:" + std::to_string(server_->grpc_port()),
                                     grpc::InsecureChannelCredentials());
  auto stub = linspec::v1::Generation::NewStub(channel);
  grpc::ClientContext c1;
  linspec::v1::ModelInfo info;
  EXPECT_EQ(stub->GetModelInfo(&c1, {}, &info).error_code(), grpc::StatusCode::UNAUTHENTICATED);
  grpc::ClientContext c2;
  c2.AddMetadata("authorization", "Bearer sk-test");
  EXPECT_TRUE(stub->GetModelInfo(&c2, {}, &info).ok());
  EXPECT_EQ(info.model_name(), "fake");
}

TEST_F(ServerFakeTest, QueueFullIs429) {
  StartServer("", /*max_queue=*/0);
  server_->SetReady();
  auto r = DoHttp(port(), http::verb::post, "/v1/completions", R"({"prompt":"x"})");
  EXPECT_EQ(r.status, 429);
  EXPECT_EQ(json::parse(r.body)["error"]["type"], "rate_limit_error");
}

TEST_F(ServerFakeTest, KeepAliveServesSeveralRequestsOnOneConnection) {
  StartServer();
  server_->SetReady();
  net::io_context ioc;
  tcp::socket sock(ioc);
  sock.connect(tcp::endpoint(net::ip::make_address("127.0.0.1"), port()));
  beast::flat_buffer buf;
  for (int i = 0; i < 3; ++i) {
    http::request<http::string_body> req{http::verb::post, "/v1/completions", 11};
    req.set(http::field::host, "x");
    req.body() =
        R"({"prompt":"ab","max_tokens":2,"stream":)" + std::string(i % 2 ? "true" : "false") + "}";
    req.prepare_payload();
    http::write(sock, req);
    http::response<http::string_body> res;
    http::read(sock, buf, res);
    EXPECT_EQ(res.result_int(), 200);
    EXPECT_TRUE(res.keep_alive());
  }
}

TEST_F(ServerFakeTest, ExpectContinueGetsInterimResponse) {
  StartServer();
  server_->SetReady();
  net::io_context ioc;
  tcp::socket sock(ioc);
  sock.connect(tcp::endpoint(net::ip::make_address("127.0.0.1"), port()));
  const std::string body = R"({"prompt":"ab","max_tokens":2})";
  const std::string head =
      "POST /v1/completions HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\n"
      "Content-Length: " +
      std::to_string(body.size()) + "\r\n\r\n";
  net::write(sock, net::buffer(head));
  std::string interim(25, '\0');
  net::read(sock, net::buffer(interim));  // the body is not sent until this arrives
  EXPECT_EQ(interim, "HTTP/1.1 100 Continue\r\n\r\n");
  net::write(sock, net::buffer(body));
  beast::flat_buffer buf;
  http::response<http::string_body> res;
  http::read(sock, buf, res);
  EXPECT_EQ(res.result_int(), 200) << res.body();
}

TEST_F(ServerFakeTest, DisconnectCancelsStreamingRequest) {
  StartServer("", 64, /*step_ms=*/5);
  server_->SetReady();
  {
    net::io_context ioc;
    tcp::socket sock(ioc);
    sock.connect(tcp::endpoint(net::ip::make_address("127.0.0.1"), port()));
    http::request<http::string_body> req{http::verb::post, "/v1/completions", 11};
    req.set(http::field::host, "x");
    req.body() = R"({"prompt":"ab","max_tokens":4000,"stream":true})";
    req.prepare_payload();
    http::write(sock, req);
    char first[64];
    boost::system::error_code ec;
    sock.read_some(net::buffer(first), ec);  // headers have arrived: the request is running
    ASSERT_FALSE(ec);
  }  // socket closed mid-stream
  EXPECT_TRUE(WaitFor([&] { return sched_->cancelled_count() == 1; }));
  EXPECT_TRUE(WaitFor([&] { return sched_->Stats().running == 0; }));
  EXPECT_EQ(DoHttp(port(), http::verb::get, "/health", "").status, 200);
}

TEST_F(ServerFakeTest, GrpcUnaryStreamAndHttpAgree) {
  StartServer();
  server_->SetReady();
  auto channel = grpc::CreateChannel("127.0.0.1:" + std::to_string(server_->grpc_port()),
                                     grpc::InsecureChannelCredentials());
  auto stub = linspec::v1::Generation::NewStub(channel);
  linspec::v1::GenerateRequest req;
  req.set_text("abc");
  req.set_add_special_tokens(true);
  req.mutable_sampling()->set_max_tokens(6);
  req.mutable_sampling()->set_seed(1);
  grpc::ClientContext c1;
  linspec::v1::GenerateResponse unary;
  ASSERT_TRUE(stub->Generate(&c1, req, &unary).ok());
  EXPECT_EQ(unary.text(), "fghijk");
  EXPECT_EQ(unary.token_ids_size(), 6);
  EXPECT_EQ(unary.finish_reason(), linspec::v1::FINISH_REASON_LENGTH);
  EXPECT_EQ(unary.usage().completion_tokens(), 6);

  grpc::ClientContext c2;
  auto reader = stub->GenerateStream(&c2, req);
  linspec::v1::GenerateStreamResponse msg;
  std::string text;
  linspec::v1::FinishReason last = linspec::v1::FINISH_REASON_UNSPECIFIED;
  while (reader->Read(&msg)) {
    text += msg.text();
    last = msg.finish_reason();
  }
  ASSERT_TRUE(reader->Finish().ok());
  EXPECT_EQ(text, unary.text());
  EXPECT_EQ(last, linspec::v1::FINISH_REASON_LENGTH);

  auto r = DoHttp(port(), http::verb::post, "/v1/completions",
                  R"({"prompt":"abc","max_tokens":6,"seed":1})");
  EXPECT_EQ(json::parse(r.body)["choices"][0]["text"], unary.text());

  linspec::v1::TokenizeRequest treq;
  treq.set_text("hi");
  linspec::v1::TokenizeResponse tres;
  grpc::ClientContext c3;
  ASSERT_TRUE(stub->Tokenize(&c3, treq, &tres).ok());
  EXPECT_EQ(tres.token_ids_size(), 2);
}

TEST_F(ServerFakeTest, GrpcCancellationAndBadInput) {
  StartServer("", 64, /*step_ms=*/5);
  server_->SetReady();
  auto channel = grpc::CreateChannel("127.0.0.1:" + std::to_string(server_->grpc_port()),
                                     grpc::InsecureChannelCredentials());
  auto stub = linspec::v1::Generation::NewStub(channel);
  linspec::v1::GenerateRequest req;
  req.set_text("abc");
  req.mutable_sampling()->set_max_tokens(4000);
  grpc::ClientContext ctx;
  auto reader = stub->GenerateStream(&ctx, req);
  linspec::v1::GenerateStreamResponse msg;
  ASSERT_TRUE(reader->Read(&msg));
  ctx.TryCancel();
  while (reader->Read(&msg)) {
  }
  EXPECT_EQ(reader->Finish().error_code(), grpc::StatusCode::CANCELLED);
  EXPECT_TRUE(WaitFor([&] { return sched_->cancelled_count() == 1; }));

  linspec::v1::GenerateRequest bad;
  bad.set_text("abc");
  bad.mutable_sampling()->set_temperature(-1);
  grpc::ClientContext c2;
  linspec::v1::GenerateResponse res;
  EXPECT_EQ(stub->Generate(&c2, bad, &res).error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  grpc::ClientContext c3;
  linspec::v1::GenerateRequest empty;
  EXPECT_EQ(stub->Generate(&c3, empty, &res).error_code(), grpc::StatusCode::INVALID_ARGUMENT);

  // A deadline reaches the scheduler as the request deadline.
  grpc::ClientContext c4;
  c4.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
  linspec::v1::GenerateRequest small;
  small.set_text("a");
  small.mutable_sampling()->set_max_tokens(1);
  ASSERT_TRUE(stub->Generate(&c4, small, &res).ok());
  auto seen = sched_->seen();
  ASSERT_FALSE(seen.empty());
  EXPECT_TRUE(seen.back().deadline.has_value());
}

TEST_F(ServerFakeTest, MetricsEndpointReflectsWorkload) {
  StartServer();
  server_->SetReady();
  for (int i = 0; i < 3; ++i) {
    ASSERT_EQ(
        DoHttp(port(), http::verb::post, "/v1/completions", R"({"prompt":"abc","max_tokens":4})")
            .status,
        200);
  }
  DoHttp(port(), http::verb::post, "/v1/completions", R"({"prompt":""})");
  auto r = DoHttp(port(), http::verb::get, "/metrics", "");
  ASSERT_EQ(r.status, 200);
  EXPECT_EQ(r.res[http::field::content_type], "text/plain; version=0.0.4; charset=utf-8");
  EXPECT_NE(r.body.find(R"(linspec_requests_total{model_name="fake",status="length"} 3)"),
            std::string::npos)
      << r.body;
  EXPECT_NE(r.body.find(R"(linspec_requests_total{model_name="fake",status="rejected"} 1)"),
            std::string::npos);
  EXPECT_NE(r.body.find(R"(linspec_generation_tokens_total{model_name="fake"} 12)"),
            std::string::npos);
  EXPECT_NE(r.body.find(R"(linspec_prompt_tokens_total{model_name="fake"} 12)"), std::string::npos);
}

TEST_F(ServerFakeTest, ShutdownLetsRunningStreamsFinish) {
  StartServer("", 64, /*step_ms=*/2);
  server_->SetReady();
  std::thread client([&] {
    auto r = DoHttp(port(), http::verb::post, "/v1/completions",
                    R"({"prompt":"ab","max_tokens":200,"stream":true})");
    EXPECT_EQ(r.status, 200);
    EXPECT_NE(r.body.find("data: [DONE]"), std::string::npos);
    EXPECT_NE(r.body.find(R"("finish_reason":"length")"), std::string::npos);
  });
  ASSERT_TRUE(WaitFor([&] { return sched_->Stats().running == 1; }));
  server_->Shutdown();
  client.join();
}

}  // namespace
}  // namespace linspec::server
