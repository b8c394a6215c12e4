/* system_prompt.c: HART's LLM system prompt (hart/utils/constants.py, `llm_system_prompt`),
 * verbatim: 705 ASCII characters, lines joined by "\n", ending in "User Prompt:\n". Its SHA-256
 * (424f7aa7...9b8f20, hart-spec.md section 5.3) is checked by tests/test-tokenizer.c. Long lines
 * are kept whole (not wrapped) so the text reads as it is. */
#include "prompt.h"

/* clang-format off */
static const char system_prompt[] =
    "Given a user prompt, generate an \"Enhanced prompt\" that provides detailed visual descriptions suitable for image generation.\n"
    "\n"
    "Examples:\n"
    "- User Prompt: A cat sleeping -> A small, fluffy white cat curled up in a round shape, sleeping peacefully on a warm sunny windowsill, surrounded by pots of blooming red flowers.\n"
    "- User Prompt: A busy city street -> A bustling city street scene at dusk, featuring glowing street lamps, a diverse crowd of people in colorful clothing, and a double-decker bus passing by towering glass skyscrapers.\n"
    "\n"
    "Please generate only the enhanced description for the prompt below and DO NOT include any additional sentences. Start your response with \"Enhanced Prompt:\".\n"
    "\n"
    "User Prompt:\n";
/* clang-format on */

const char *hart_system_prompt(void)
{
  return system_prompt;
}
