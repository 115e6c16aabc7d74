import { Template } from '@huggingface/jinja';
import { UnirError } from '../common/errors.js';

export interface ChatMessage {
  role: string;
  content: string;
  name?: string;
}

/** A model's chat template (tokenizer_config.json, or --chat-template), rendered with @huggingface/jinja. */
export class ChatTemplate {
  private readonly template: Template;

  constructor(
    readonly source: string,
    private readonly specials: { bos_token: string | null; eos_token: string | null },
  ) {
    try {
      this.template = new Template(source);
    } catch (err) {
      throw new UnirError('invalid_model_dir', `the chat template does not parse: ${(err as Error).message}`);
    }
  }

  render(messages: readonly ChatMessage[], addGenerationPrompt: boolean): string {
    try {
      return this.template.render({
        messages,
        add_generation_prompt: addGenerationPrompt,
        bos_token: this.specials.bos_token ?? '',
        eos_token: this.specials.eos_token ?? '',
      });
    } catch (err) {
      throw new UnirError('invalid_request', `the model's chat template rejected these messages: ${(err as Error).message}`, 'messages');
    }
  }
}
