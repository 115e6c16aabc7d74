import { apiJson, errorText, listReasoners, type ReasonerInfo } from './api.js';
import { byId, el } from './dom.js';

/**
 * The admin panel: lists the modules (GET /v1/reasoners) and loads, replaces or unloads one through the admin
 * API (docs/admin-api.md), with the bearer token typed here (kept in this page only). `onChange` runs after
 * every change, so the columns show the modules that are loaded now.
 */
export class AdminView {
  private readonly rows = byId<HTMLTableSectionElement>('admin-rows');
  private readonly token = byId<HTMLInputElement>('admin-token');
  private readonly form = byId<HTMLFormElement>('load-form');
  private readonly status = byId<HTMLElement>('admin-status');
  private readonly error = byId<HTMLElement>('admin-error');

  constructor(private readonly onChange: (modules: ReasonerInfo[]) => void) {
    byId('admin-refresh').addEventListener('click', () => void this.refresh());
    // The token's own form only keeps the password field in a form (Enter there submits nothing).
    byId('token-form').addEventListener('submit', (e) => e.preventDefault());
    this.form.addEventListener('submit', (e) => {
      e.preventDefault();
      void this.load();
    });
  }

  async refresh(): Promise<ReasonerInfo[]> {
    try {
      // By name, then the version in service first: the server lists them in load order.
      const modules = (await listReasoners()).sort((a, b) => a.name.localeCompare(b.name) || Number(b.state === 'ready') - Number(a.state === 'ready'));
      this.rows.replaceChildren(...(modules.length ? modules.map((m) => this.row(m)) : [el('tr', {}, el('td', { colspan: 7 }, 'No modules are loaded.'))]));
      this.onChange(modules);
      return modules;
    } catch (err) {
      this.report(null, err);
      return [];
    }
  }

  private row(m: ReasonerInfo): HTMLTableRowElement {
    const actions = el('td', { class: 'row-actions' });
    if (m.state === 'ready') {
      const replace = el('button', { type: 'button', 'aria-label': `Replace ${m.name}` }, 'Replace…');
      const unload = el('button', { type: 'button', 'aria-label': `Unload ${m.name}` }, 'Unload');
      replace.addEventListener('click', () => this.prepareReplace(m));
      unload.addEventListener('click', () => void this.unload(m.name));
      actions.append(replace, unload);
    }
    return el(
      'tr',
      { 'data-module': m.name },
      el('th', { scope: 'row' }, m.name),
      el('td', {}, m.version ?? ''),
      el('td', { 'data-state': m.state }, m.state, m.error ? el('span', { class: 'module-error' }, `: ${m.error}`) : null),
      el('td', {}, String(m.default_weight ?? '')),
      el('td', {}, String(m.in_flight ?? 0)),
      el('td', {}, m.size_bytes ? `${(m.size_bytes / 1e6).toFixed(1)} MB` : ''),
      actions,
    );
  }

  private prepareReplace(m: ReasonerInfo): void {
    const fields = this.form.elements;
    (fields.namedItem('name') as HTMLInputElement).value = m.name;
    (fields.namedItem('path') as HTMLInputElement).value = m.path ?? m.name;
    (fields.namedItem('replace') as HTMLInputElement).checked = true;
    (fields.namedItem('path') as HTMLInputElement).focus();
    this.say(`Replacing ${m.name}: check the path of the new version, then press Load.`);
  }

  private async load(): Promise<void> {
    const data = new FormData(this.form);
    const body: Record<string, unknown> = { path: String(data.get('path') ?? '').trim() };
    const name = String(data.get('name') ?? '').trim();
    const weight = String(data.get('default_weight') ?? '').trim();
    if (name) body.name = name;
    if (weight) body.default_weight = Number(weight);
    if (data.get('replace')) body.replace = true;
    try {
      const info = await apiJson<ReasonerInfo & { replaced: boolean }>('/v1/reasoners', { method: 'POST', body, token: this.token.value });
      this.say(`${info.replaced ? 'Replaced' : 'Loaded'} ${info.name} ${info.version} (${info.load_ms ?? '?'} ms).`);
      (this.form.elements.namedItem('replace') as HTMLInputElement).checked = false;
    } catch (err) {
      this.report('Load failed', err);
    }
    await this.refresh();
  }

  private async unload(name: string): Promise<void> {
    try {
      await apiJson(`/v1/reasoners/${encodeURIComponent(name)}`, { method: 'DELETE', token: this.token.value });
      this.say(`Unloaded ${name} (requests in flight finish on it).`);
    } catch (err) {
      this.report(`Unload of ${name} failed`, err);
    }
    await this.refresh();
  }

  private say(text: string): void {
    this.error.hidden = true;
    this.status.textContent = text;
  }

  private report(what: string | null, err: unknown): void {
    this.status.textContent = '';
    this.error.hidden = false;
    this.error.textContent = `${what ? `${what}: ` : ''}${errorText(err)}`;
  }
}
