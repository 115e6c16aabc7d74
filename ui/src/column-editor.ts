import type { ColumnConfig, ModuleSetting } from './column-config.js';
import { el, uid } from './dom.js';

/** The weight slider's span; the number box beside it takes any value (the server allows -10..10). */
const SLIDER = { min: -2, max: 4, step: 0.05 };

/**
 * A column's settings form: a checkbox, a weight slider and a weight box per module; temperature, seed,
 * max tokens, ignore EOS. `onChange` runs on every edit.
 */
export class ColumnEditor {
  readonly element: HTMLElement;
  private readonly moduleList: HTMLElement;
  private modules: ModuleSetting[] = [];
  private readonly fields: { temperature: HTMLInputElement; seed: HTMLInputElement; maxTokens: HTMLInputElement; ignoreEos: HTMLInputElement };

  constructor(
    config: ColumnConfig,
    private readonly onChange: () => void,
  ) {
    this.moduleList = el('div', { class: 'module-list' });
    this.fields = {
      temperature: el('input', { type: 'number', min: 0, max: 2, step: 0.1, value: config.temperature, 'data-field': 'temperature' }),
      seed: el('input', { type: 'number', step: 1, placeholder: 'random', value: config.seed, 'data-field': 'seed' }),
      maxTokens: el('input', { type: 'number', min: 1, step: 1, value: config.maxTokens, 'data-field': 'max-tokens' }),
      ignoreEos: el('input', { type: 'checkbox', 'data-field': 'ignore-eos' }),
    };
    this.fields.ignoreEos.checked = config.ignoreEos;
    for (const input of Object.values(this.fields)) input.addEventListener('input', onChange);
    this.element = el(
      'details',
      { class: 'settings', open: true },
      el('summary', {}, 'Settings'),
      el('fieldset', { class: 'modules' }, el('legend', {}, 'Reasoning modules (weight × module logits)'), this.moduleList),
      el(
        'fieldset',
        { class: 'sampling' },
        el('legend', {}, 'Sampling'),
        labelled('Temperature', this.fields.temperature),
        labelled('Seed', this.fields.seed),
        labelled('Max tokens', this.fields.maxTokens),
        el('label', { class: 'check' }, this.fields.ignoreEos, ' Ignore EOS'),
      ),
    );
    this.setModules(config.modules);
  }

  get config(): ColumnConfig {
    return {
      modules: this.modules.map((m) => ({ ...m })),
      temperature: this.fields.temperature.value,
      seed: this.fields.seed.value,
      maxTokens: this.fields.maxTokens.value,
      ignoreEos: this.fields.ignoreEos.checked,
    };
  }

  /** Shows these modules (kept settings for names already here; new names as given). */
  setModules(modules: readonly ModuleSetting[]): void {
    const old = new Map(this.modules.map((m) => [m.name, m]));
    this.modules = modules.map((m) => ({ ...(old.get(m.name) ?? m) }));
    this.moduleList.replaceChildren(
      ...(this.modules.length === 0 ? [el('p', { class: 'hint' }, 'No reasoning modules are loaded: this column runs the base alone.')] : this.modules.map((m) => this.moduleRow(m))),
    );
  }

  /** Puts keyboard focus on a setting (data-field name), e.g. the one an error names. */
  focusField(field: string): void {
    this.element.querySelector<HTMLInputElement>(`[data-field="${CSS.escape(field)}"]`)?.focus();
  }

  private moduleRow(m: ModuleSetting): HTMLElement {
    const id = uid('module');
    const enabled = el('input', { type: 'checkbox', id, 'data-field': `use-${m.name}` });
    enabled.checked = m.enabled;
    const slider = el('input', { type: 'range', ...SLIDER, value: m.weight, 'aria-label': `${m.name} weight (slider)` });
    const box = el('input', { type: 'number', step: 'any', value: m.weight, 'aria-label': `${m.name} weight`, 'data-field': `weight-${m.name}` });
    enabled.addEventListener('change', () => {
      m.enabled = enabled.checked;
      this.onChange();
    });
    slider.addEventListener('input', () => {
      m.weight = box.value = slider.value;
      this.onChange();
    });
    box.addEventListener('input', () => {
      m.weight = box.value;
      if (box.value !== '') slider.value = box.value;
      this.onChange();
    });
    return el('div', { class: 'module-row' }, enabled, el('label', { for: id }, m.name), slider, box);
  }
}

function labelled(text: string, input: HTMLInputElement): HTMLElement {
  return el('label', {}, el('span', {}, text), input);
}
