import type { AttributionTooltip } from './attribution-tooltip.js';
import { el } from './dom.js';
import { isChanged, type Segment } from './token-segments.js';

/**
 * A column's output text. Plain text stays plain; text with attribution becomes a span, and a token the
 * modules changed becomes a <mark> (underlined and shaded, so it reads without colour) that takes keyboard
 * focus and explains itself in the tooltip.
 */
export class TokenView {
  constructor(
    readonly element: HTMLElement,
    private readonly tooltip: AttributionTooltip,
  ) {}

  clear(): void {
    this.element.replaceChildren();
  }

  append(segments: readonly Segment[]): void {
    for (const s of segments) {
      if (s.entries.length === 0) {
        this.element.append(s.text);
        continue;
      }
      const changed = isChanged(s);
      const token = changed ? el('mark', { class: 'tok changed', tabindex: 0 }, s.text) : el('span', { class: 'tok' }, s.text);
      this.tooltip.attach(token, s.entries);
      this.element.append(token);
    }
  }

  /** The text shown, as the API returns it. */
  get text(): string {
    return this.element.textContent ?? '';
  }
}
