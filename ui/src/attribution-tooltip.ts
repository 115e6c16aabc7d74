import { el } from './dom.js';
import type { AttributionEntry } from './protocol.js';
import { showLogprob, showToken, signed } from './token-segments.js';

/**
 * The one tooltip that explains a token: the base's choice, the fused choice, and what each module added
 * (weight × its logit) at both. Shown on hover and on keyboard focus; Escape hides it. Tokens register
 * their entries with `attach`.
 */
export class AttributionTooltip {
  private readonly entries = new WeakMap<Element, readonly AttributionEntry[]>();
  private shownFor: HTMLElement | null = null;

  constructor(private readonly tip: HTMLElement) {
    tip.setAttribute('role', 'tooltip');
    tip.hidden = true;
    document.addEventListener('keydown', (e) => {
      if (e.key === 'Escape') this.hide();
    });
  }

  /** Makes `token` show its entries on hover and focus. */
  attach(token: HTMLElement, entries: readonly AttributionEntry[]): void {
    this.entries.set(token, entries);
    token.addEventListener('mouseenter', () => this.show(token));
    token.addEventListener('mouseleave', () => this.hide());
    token.addEventListener('focus', () => this.show(token));
    token.addEventListener('blur', () => this.hide());
  }

  private show(token: HTMLElement): void {
    const entries = this.entries.get(token);
    if (!entries) return;
    this.hide();
    this.tip.replaceChildren(...entries.map(describe));
    this.tip.hidden = false;
    token.setAttribute('aria-describedby', this.tip.id);
    this.shownFor = token;
    const box = token.getBoundingClientRect();
    const width = Math.min(this.tip.offsetWidth, window.innerWidth - 16);
    this.tip.style.left = `${Math.max(8, Math.min(box.left + window.scrollX, window.scrollX + window.innerWidth - width - 8))}px`;
    // Below the token, or above it where the window has no room below.
    const below = box.bottom + 6 + this.tip.offsetHeight <= window.innerHeight || box.top < this.tip.offsetHeight + 6;
    this.tip.style.top = `${(below ? box.bottom + 6 : box.top - 6 - this.tip.offsetHeight) + window.scrollY}px`;
  }

  private hide(): void {
    this.tip.hidden = true;
    this.shownFor?.removeAttribute('aria-describedby');
    this.shownFor = null;
  }
}

function describe(e: AttributionEntry): HTMLElement {
  const head = e.changed ? 'Changed by the modules' : 'Same as the base';
  const rows = e.modules.map((m) =>
    el(
      'tr',
      {},
      el('th', { scope: 'row' }, m.name),
      el('td', {}, String(m.weight)),
      ...(m.skipped ? [el('td', { colspan: 2 }, 'not run (entropy gate)')] : [el('td', {}, signed(m.chosen)), el('td', {}, signed(m.base_top))]),
    ),
  );
  return el(
    'div',
    { class: 'tip-entry' },
    el('p', { class: 'tip-head' }, `${head}: ${showToken(e.token)}`),
    el(
      'dl',
      {},
      el('dt', {}, 'Base chose'),
      el('dd', {}, `${showToken(e.base_top.token)} ${showLogprob(e.base_top.logprob)}`),
      el('dt', {}, 'Fused chose'),
      el('dd', {}, `${showToken(e.fused_top.token)} ${showLogprob(e.fused_top.logprob)}`),
      ...(typeof e.base_entropy === 'number' ? [el('dt', {}, 'Base entropy'), el('dd', {}, `${e.base_entropy.toFixed(2)} nats`)] : []),
    ),
    rows.length === 0
      ? null
      : el(
          'table',
          {},
          el('caption', {}, 'weight × module logit'),
          el(
            'thead',
            {},
            el('tr', {}, el('th', { scope: 'col' }, 'module'), el('th', { scope: 'col' }, 'weight'), el('th', { scope: 'col' }, `at ${showToken(e.token)}`), el('th', { scope: 'col' }, `at ${showToken(e.base_top.token)}`)),
          ),
          el('tbody', {}, ...rows),
        ),
  );
}
