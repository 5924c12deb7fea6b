// Chat prompt rendering. Jinja is not evaluated: tokenizer_config.json's "chat_template" is
// recognised when it is one of a few well-known simple forms (ChatML, Llama-3, Llama-2
// [INST], Zephyr); anything else (or no template) uses the documented plain template:
//
//   "System: {content}\n\n" / "User: {content}\n\n" / "Assistant: {content}\n\n" per message,
//   then "Assistant:" as the generation prompt (encoded with the tokenizer's BOS).
//
// Immutable after construction; thread-safe.
#ifndef LINSPEC_SERVER_CHAT_TEMPLATE_H_
#define LINSPEC_SERVER_CHAT_TEMPLATE_H_

#include <string>
#include <string_view>
#include <vector>

namespace linspec::server {

struct ChatMessage {
  std::string role;  // system | developer | user | assistant | tool
  std::string content;
};

enum class ChatTemplateKind { kPlain, kChatMl, kLlama3, kLlama2, kZephyr };

class ChatTemplate {
 public:
  ChatTemplate() = default;
  explicit ChatTemplate(ChatTemplateKind kind) : kind_(kind) {}
  // config_json: contents of tokenizer_config.json (may be empty or malformed: kPlain).
  static ChatTemplate FromTokenizerConfig(std::string_view config_json);

  ChatTemplateKind kind() const { return kind_; }
  const char* name() const;
  // The prompt text for messages followed by the assistant generation prompt.
  std::string Render(const std::vector<ChatMessage>& messages) const;
  // Whether the rendered text must be encoded with the tokenizer's special tokens (BOS):
  // templates that spell BOS themselves return false.
  bool add_special_tokens() const;
  // Special tokens that end an assistant turn (added as stop tokens when in the vocab).
  std::vector<std::string> end_of_turn_tokens() const;

 private:
  ChatTemplateKind kind_ = ChatTemplateKind::kPlain;
};

}  // namespace linspec::server

#endif  // LINSPEC_SERVER_CHAT_TEMPLATE_H_
