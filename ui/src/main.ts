import { AdminView } from './admin-view.js';
import { ApiError, apiJson, errorText, type ReasonerInfo } from './api.js';
import { initApiKeyField, keyEntered, streamProtocols } from './api-key.js';
import { AttributionTooltip } from './attribution-tooltip.js';
import { Column, type ColumnHost } from './column.js';
import { defaultConfig, type ModuleSetting } from './column-config.js';
import { byId } from './dom.js';
import { initPromptForm, readPrompt } from './prompt-form.js';
import { StreamClient, type ConnectionState } from './stream-client.js';

/** The playground: wires the prompt form, the columns, the admin panel and the one WebSocket together. */
const columnsBox = byId('columns');
const formError = byId('form-error');
const columns: Column[] = [];
const admin = new AdminView(showModules);
let readyModules: ReasonerInfo[] = [];
let columnNumber = 0;

/** The socket's state as the header says it (it opens on the first run, and again on the run after a close). */
const CONNECTION_TEXT: Record<ConnectionState, string> = { connecting: 'connecting…', open: 'open', closed: 'closed: reconnects on the next run' };

const wsUrl = new URL('/v1/stream', location.href);
wsUrl.protocol = location.protocol === 'https:' ? 'wss:' : 'ws:';

const host: ColumnHost = {
  client: new StreamClient(wsUrl.href, connectionChanged, streamProtocols),
  tooltip: new AttributionTooltip(byId('attribution-tip')),
  wantAttribution: true,
  attributionRefused() {
    this.wantAttribution = false;
    byId('attribution-note').textContent = 'This server does not return attribution (return_attribution was refused): columns show text only.';
  },
  attributionSeen() {
    byId('attribution-legend').hidden = false;
  },
  modulesChanged() {
    void admin.refresh();
  },
  remove(column) {
    if (columns.length === 1) return;
    column.stop();
    columns.splice(columns.indexOf(column), 1);
    column.element.remove();
    updateRemovable();
    columns[0].focus();
  },
};

function connectionChanged(state: ConnectionState): void {
  byId('connection').textContent = CONNECTION_TEXT[state];
  // A browser does not see why an upgrade failed: a request of ours shows the API key note if it was a 401.
  if (state === 'closed') void apiJson('/v1/models').catch(() => {});
}

function moduleSettings(withModules: boolean): ModuleSetting[] {
  return defaultConfig(readyModules, withModules).modules;
}

function addColumn(withModules: boolean, copyLast = false): Column {
  const last = columns[columns.length - 1];
  const config = copyLast && last ? last.config : defaultConfig(readyModules, withModules);
  const column = new Column(++columnNumber, config, host, (c) => void runColumns([c]));
  columns.push(column);
  columnsBox.append(column.element);
  updateRemovable();
  return column;
}

function updateRemovable(): void {
  for (const c of columns) c.removable = columns.length > 1;
}

async function runColumns(which: readonly Column[]): Promise<void> {
  formError.hidden = true;
  let prompt: string | number[];
  try {
    prompt = await readPrompt();
  } catch (err) {
    formError.hidden = false;
    formError.textContent = errorText(err);
    return;
  }
  for (const column of which) column.run(prompt);
}

function showModules(modules: ReasonerInfo[]): void {
  readyModules = readyOf(modules);
  for (const column of columns) column.setModules(moduleSettings(false));
}

/** Modules a request may name now, by name. */
function readyOf(modules: readonly ReasonerInfo[]): ReasonerInfo[] {
  return modules.filter((m) => m.state === 'ready').sort((a, b) => a.name.localeCompare(b.name));
}

/** Waits for the model (GET /v1/models answers 503 while it loads, 401 until the API key is entered). */
async function modelId(): Promise<string> {
  for (;;) {
    try {
      const models = await apiJson<{ data: { id: string }[] }>('/v1/models');
      return models.data[0].id;
    } catch (err) {
      if (err instanceof ApiError && err.status === 401) {
        byId('model').textContent = 'needs an API key';
        await keyEntered();
        continue;
      }
      byId('model').textContent = `not ready (${errorText(err)}); retrying`;
      await new Promise((r) => setTimeout(r, 1000));
    }
  }
}

async function start(): Promise<void> {
  initApiKeyField();
  initPromptForm();
  byId('prompt-form').addEventListener('submit', (e) => {
    e.preventDefault();
    void runColumns(columns);
  });
  byId('prompt-form').addEventListener('keydown', (e) => {
    if (e.key === 'Enter' && (e.ctrlKey || e.metaKey)) {
      e.preventDefault();
      void runColumns(columns);
    }
  });
  byId('stop-all').addEventListener('click', () => columns.forEach((c) => c.stop()));
  byId('add-column').addEventListener('click', () => addColumn(true, true).focus());
  const adminToggle = byId<HTMLButtonElement>('admin-toggle');
  adminToggle.addEventListener('click', () => {
    const panel = byId('admin');
    panel.hidden = !panel.hidden;
    adminToggle.setAttribute('aria-expanded', String(!panel.hidden));
    if (!panel.hidden) void admin.refresh();
  });

  byId('model').textContent = await modelId();
  readyModules = readyOf(await admin.refresh());
  addColumn(false);
  if (readyModules.length > 0) addColumn(true);
  document.body.dataset.ready = 'true';
}

void start();
