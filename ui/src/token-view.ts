import type { AttributionTooltip } from './attribution-tooltip.js';
import { el } from './dom.js';
import type { AttributionEntry } from './protocol.js';
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
    if (segments.length === 0) return;
    // Follow the newest tokens while the reader is at the end; leave the view alone once they scrolled up.
    const box = this.element;
    const atEnd = box.scrollHeight - box.scrollTop - box.clientHeight <= 4;
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
    if (atEnd) box.scrollTop = box.scrollHeight;
  }

  /**
   * The tokens that ended the text without text of their own (EOS, a stop string), where the modules chose them:
   * a marker after the text (its label drawn by CSS, so the text stays exactly the API's), focusable like a token.
   */
  appendEnd(entries: readonly AttributionEntry[]): void {
    if (!entries.some((e) => e.changed)) return;
    const end = el('mark', { class: 'tok changed end', tabindex: 0, 'aria-label': 'end of the text, chosen by the modules' });
    this.tooltip.attach(end, entries);
    this.element.append(end);
  }

  /** The text shown, as the API returns it. */
  get text(): string {
    return this.element.textContent ?? '';
  }
}
