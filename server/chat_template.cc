#include "server/chat_template.h"

#include <string>

#include "nlohmann/json.hpp"

namespace linspec::server {
namespace {

bool Contains(std::string_view s, std::string_view needle) {
  return s.find(needle) != std::string_view::npos;
}

std::string PlainRole(const std::string& role) {
  if (role == "system" || role == "developer") return "System";
  if (role == "assistant") return "Assistant";
  if (role == "tool") return "Tool";
  return "User";
}

std::string RenderPlain(const std::vector<ChatMessage>& messages) {
  std::string out;
  for (const auto& m : messages) out += PlainRole(m.role) + ": " + m.content + "\n\n";
  out += "Assistant:";
  return out;
}

std::string RenderChatMl(const std::vector<ChatMessage>& messages) {
  std::string out;
  for (const auto& m : messages) {
    out += "<|im_start|>" + m.role + "\n" + m.content + "<|im_end|>\n";
  }
  out += "<|im_start|>assistant\n";
  return out;
}

std::string RenderLlama3(const std::vector<ChatMessage>& messages) {
  std::string out = "<|begin_of_text|>";
  for (const auto& m : messages) {
    out += "<|start_header_id|>" + m.role + "<|end_header_id|>\n\n" + m.content + "<|eot_id|>";
  }
  out += "<|start_header_id|>assistant<|end_header_id|>\n\n";
  return out;
}

std::string RenderLlama2(const std::vector<ChatMessage>& messages) {
  std::string out;
  std::string system;
  bool first_user = true;
  for (const auto& m : messages) {
    if (m.role == "system" || m.role == "developer") {
      system += m.content;
    } else if (m.role == "assistant") {
      out += " " + m.content + " </s>";
    } else {
      std::string content = m.content;
      if (first_user && !system.empty()) {
        content = "<<SYS>>\n" + system + "\n<</SYS>>\n\n" + content;
      }
      first_user = false;
      out += "<s>[INST] " + content + " [/INST]";
    }
  }
  if (first_user)
    out +=
        "<s>[INST] " + (system.empty() ? "" : "<<SYS>>\n" + system + "\n<</SYS>>\n\n") + " [/INST]";
  return out;
}

std::string RenderZephyr(const std::vector<ChatMessage>& messages) {
  std::string out;
  for (const auto& m : messages) out += "<|" + m.role + "|>\n" + m.content + "</s>\n";
  out += "<|assistant|>\n";
  return out;
}

}  // namespace

ChatTemplate ChatTemplate::FromTokenizerConfig(std::string_view config_json) {
  if (config_json.empty()) return ChatTemplate();
  nlohmann::json config = nlohmann::json::parse(config_json, nullptr, /*allow_exceptions=*/false);
  if (!config.is_object()) return ChatTemplate();
  auto it = config.find("chat_template");
  if (it == config.end() || !it->is_string()) return ChatTemplate();
  const std::string t = it->get<std::string>();
  if (Contains(t, "<|im_start|>")) return ChatTemplate(ChatTemplateKind::kChatMl);
  if (Contains(t, "<|start_header_id|>")) return ChatTemplate(ChatTemplateKind::kLlama3);
  if (Contains(t, "[INST]")) return ChatTemplate(ChatTemplateKind::kLlama2);
  if (Contains(t, "<|user|>") && Contains(t, "<|assistant|>")) {
    return ChatTemplate(ChatTemplateKind::kZephyr);
  }
  return ChatTemplate();
}

const char* ChatTemplate::name() const {
  switch (kind_) {
    case ChatTemplateKind::kPlain:
      return "plain";
    case ChatTemplateKind::kChatMl:
      return "chatml";
    case ChatTemplateKind::kLlama3:
      return "llama3";
    case ChatTemplateKind::kLlama2:
      return "llama2";
    case ChatTemplateKind::kZephyr:
      return "zephyr";
  }
  return "plain";
}

std::string ChatTemplate::Render(const std::vector<ChatMessage>& messages) const {
  switch (kind_) {
    case ChatTemplateKind::kChatMl:
      return RenderChatMl(messages);
    case ChatTemplateKind::kLlama3:
      return RenderLlama3(messages);
    case ChatTemplateKind::kLlama2:
      return RenderLlama2(messages);
    case ChatTemplateKind::kZephyr:
      return RenderZephyr(messages);
    case ChatTemplateKind::kPlain:
      break;
  }
  return RenderPlain(messages);
}

bool ChatTemplate::add_special_tokens() const {
  return kind_ == ChatTemplateKind::kPlain || kind_ == ChatTemplateKind::kChatMl ||
         kind_ == ChatTemplateKind::kZephyr;
}

std::vector<std::string> ChatTemplate::end_of_turn_tokens() const {
  switch (kind_) {
    case ChatTemplateKind::kChatMl:
      return {"<|im_end|>"};
    case ChatTemplateKind::kLlama3:
      return {"<|eot_id|>"};
    default:
      return {};
  }
}

}  // namespace linspec::server
