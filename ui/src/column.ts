import { errorText } from './api.js';
import type { AttributionTooltip } from './attribution-tooltip.js';
import { columnLabel, ConfigError, generateMessage, type ColumnConfig, type ModuleSetting } from './column-config.js';
import { ColumnEditor } from './column-editor.js';
import { el, uid } from './dom.js';
import type { ApiErrorBody, AttributionEntry, DoneFrame, GenerateMessage, TokenFrame } from './protocol.js';
import { RunStats } from './run-stats.js';
import { refusesField, type StreamClient } from './stream-client.js';
import { AttributionTally, SegmentBuilder } from './token-segments.js';
import { TokenView } from './token-view.js';

/** What columns share: the socket, the tooltip, and whether the server takes `return_attribution`. */
export interface ColumnHost {
  client: StreamClient;
  tooltip: AttributionTooltip;
  /** Ask for attribution (true until the server refuses the field). */
  wantAttribution: boolean;
  attributionRefused(): void;
  attributionSeen(): void;
  /** The server no longer has a module a column named: read the list again (columns drop it). */
  modulesChanged(): void;
  remove(column: Column): void;
}

/** One configuration's generation: its settings, its streamed output, its timing and finish reason. */
export class Column {
  readonly element: HTMLElement;
  private readonly editor: ColumnEditor;
  private readonly heading: HTMLElement;
  private readonly view: TokenView;
  private readonly errorBox: HTMLElement;
  private readonly note: HTMLElement;
  private readonly stats: Record<'ttft' | 'speed' | 'tokens' | 'finish' | 'changed', HTMLElement>;
  private readonly runButton: HTMLButtonElement;
  private readonly stopButton: HTMLButtonElement;
  private readonly removeButton: HTMLButtonElement;
  private runs = 0;
  /** The id of the generation in flight, or null. */
  private current: string | null = null;

  constructor(
    readonly number: number,
    config: ColumnConfig,
    private readonly host: ColumnHost,
    onRun: (column: Column) => void,
  ) {
    const headingId = uid('column-title');
    this.heading = el('span', { class: 'column-label' });
    this.editor = new ColumnEditor(config, () => this.relabel());
    this.view = new TokenView(el('div', { class: 'output', role: 'region', 'aria-label': `Output of column ${number}`, 'aria-live': 'off', tabindex: 0 }), host.tooltip);
    this.errorBox = el('p', { class: 'error', role: 'alert', hidden: true });
    this.note = el('p', { class: 'hint column-note', role: 'status' });
    this.stats = { ttft: stat(), speed: stat(), tokens: stat(), finish: stat(), changed: stat() };
    this.runButton = el('button', { type: 'button', class: 'run' }, 'Run');
    this.stopButton = el('button', { type: 'button', class: 'stop', disabled: true }, 'Stop');
    const removeButton = (this.removeButton = el('button', { type: 'button', class: 'remove', 'aria-label': `Remove column ${number}` }, 'Remove'));
    this.runButton.addEventListener('click', () => onRun(this));
    this.stopButton.addEventListener('click', () => this.stop());
    removeButton.addEventListener('click', () => host.remove(this));
    this.element = el(
      'section',
      { class: 'column', 'aria-labelledby': headingId, 'data-column': number },
      el('header', {}, el('h2', { id: headingId }, `Column ${number}: `, this.heading), removeButton),
      this.editor.element,
      el('div', { class: 'actions' }, this.runButton, this.stopButton),
      this.view.element,
      this.note,
      this.errorBox,
      el(
        'dl',
        { class: 'stats' },
        pair('First token', this.stats.ttft, 'ttft'),
        pair('Tokens/s', this.stats.speed, 'speed'),
        pair('Tokens', this.stats.tokens, 'tokens'),
        pair('Finish', this.stats.finish, 'finish'),
        pair('Changed by modules', this.stats.changed, 'changed'),
      ),
    );
    this.showChanged(null);
    this.relabel();
  }

  get config(): ColumnConfig {
    return this.editor.config;
  }

  get running(): boolean {
    return this.current !== null;
  }

  /** The last column stays: its Remove button is disabled. */
  set removable(yes: boolean) {
    this.removeButton.disabled = !yes;
  }

  setModules(modules: readonly ModuleSetting[]): void {
    this.editor.setModules(modules);
    this.relabel();
  }

  focus(): void {
    this.element.querySelector<HTMLElement>('h2')?.setAttribute('tabindex', '-1');
    this.element.querySelector<HTMLElement>('h2')?.focus();
  }

  /** Starts this column's generation of `prompt` (a running one is cancelled first). */
  run(prompt: string | number[]): void {
    this.stop();
    this.view.clear();
    this.showError(null);
    for (const s of Object.values(this.stats)) s.textContent = '–';
    this.showChanged(null);
    const id = `column-${this.number}-run-${++this.runs}`;
    let msg: GenerateMessage;
    try {
      msg = generateMessage(id, prompt, this.config, this.host.wantAttribution);
    } catch (err) {
      if (!(err instanceof ConfigError)) throw err;
      this.showError(`Settings: ${err.message}`);
      this.editor.focusField(err.field);
      return;
    }
    this.start(msg);
  }

  stop(): void {
    if (this.current) this.host.client.cancel(this.current);
  }

  private start(msg: GenerateMessage): void {
    let stats = new RunStats(performance.now());
    const segments = new SegmentBuilder();
    const tally = new AttributionTally();
    this.setRunning(msg.id);
    const live = () => this.current === msg.id;
    void this.host.client.generate(msg, {
      waiting: () => {
        if (live()) this.note.textContent = 'Waiting: the server runs a limited number of generations per socket (--ws-max-generations); this column starts when one ends.';
      },
      sent: (at: number) => {
        if (!live()) return;
        // Timing starts when the generate goes out (again, after waiting for a slot).
        stats = new RunStats(at);
        this.note.textContent = '';
      },
      token: (f: TokenFrame) => {
        if (!live()) return;
        stats.token(performance.now());
        this.addText(segments, tally, f.text, f.attribution);
        this.showStats(stats, tally);
      },
      done: (f: DoneFrame) => {
        if (!live()) return;
        const { entries, summary } = doneAttribution(f);
        this.addText(segments, tally, f.text, entries);
        this.view.appendEnd(segments.finish());
        this.showStats(stats, tally);
        this.stats.finish.textContent = f.finish_reason;
        if (summary) this.showChanged(summary);
        this.setRunning(null);
      },
      error: (e: ApiErrorBody) => {
        if (!live()) return;
        if (stats.tokens === 0 && msg.return_attribution && refusesField(e, 'return_attribution')) {
          // A server that checks unknown fields and has no attribution: ask again without it, once for the page.
          this.host.client.forget(msg.id);
          this.host.attributionRefused();
          const { return_attribution: _dropped, ...rest } = msg;
          this.start({ ...rest, id: `${msg.id}-plain` });
          return;
        }
        this.showError(errorText(e));
        if (e.code === 'reasoner_not_found') this.host.modulesChanged();
        // A refused generate gets no done, nor does one whose connection closed; a generation that failed after
        // starting gets one (it updates Finish).
        if (stats.tokens === 0 || e.type === 'network_error') {
          this.host.client.forget(msg.id);
          this.stats.finish.textContent = 'error';
          this.setRunning(null);
        }
      },
    });
  }

  private addText(segments: SegmentBuilder, tally: AttributionTally, text: string, entries: TokenFrame['attribution']): void {
    if (entries?.length) this.host.attributionSeen();
    tally.add(entries);
    this.view.append(segments.push(text, entries));
  }

  private showStats(stats: RunStats, tally: AttributionTally): void {
    const ttft = stats.timeToFirstTokenMs;
    const speed = stats.tokensPerSecond;
    this.stats.ttft.textContent = ttft === null ? '–' : `${ttft.toFixed(0)} ms`;
    this.stats.speed.textContent = speed === null ? '–' : speed.toFixed(speed >= 100 ? 0 : 1);
    this.stats.tokens.textContent = String(stats.tokens);
    if (tally.tokens > 0) this.showChanged(tally);
  }

  /** "3 of 40": tokens whose choice the modules changed; hidden where the server sends no attribution. */
  private showChanged(counts: { changed: number; tokens: number } | null): void {
    this.stats.changed.parentElement!.hidden = counts === null;
    this.stats.changed.textContent = counts ? `${counts.changed} of ${counts.tokens}` : '–';
  }

  private setRunning(id: string | null): void {
    this.current = id;
    this.note.textContent = '';
    this.runButton.disabled = false;
    // Disabling the focused Stop would drop keyboard focus out of the column: it moves to Run.
    if (id === null && document.activeElement === this.stopButton) this.runButton.focus();
    this.stopButton.disabled = id === null;
    this.view.element.setAttribute('aria-busy', String(id !== null));
    this.element.classList.toggle('is-running', id !== null);
  }

  private showError(text: string | null): void {
    this.errorBox.hidden = text === null;
    this.errorBox.textContent = text ?? '';
  }

  private relabel(): void {
    this.heading.textContent = columnLabel(this.config);
  }
}

/** A done frame's attribution entries and summary, wherever the server put the summary (usage, or the frame). */
function doneAttribution(f: DoneFrame): { entries?: AttributionEntry[]; summary?: { tokens: number; changed: number } } {
  const a = f.attribution;
  if (Array.isArray(a)) return { entries: a, summary: f.usage?.attribution };
  return { summary: f.usage?.attribution ?? a };
}

function stat(): HTMLElement {
  return el('dd', {}, '–');
}

/** One statistic: a <div> holding its <dt> and <dd> (HTML allows div groups in a dl). */
function pair(label: string, value: HTMLElement, key: string): HTMLElement {
  value.dataset.stat = key;
  return el('div', {}, el('dt', {}, label), value);
}
