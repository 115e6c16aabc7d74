import { describe, expect, it } from 'vitest';
import { columnLabel, ConfigError, defaultConfig, generateMessage } from '../../../ui/src/column-config.js';

const modules = [{ name: 'add', default_weight: 1 }, { name: 'sort', default_weight: 0.5 }];

describe('playground column settings', () => {
  it('opens with base alone and base + every module at its default weight', () => {
    expect(columnLabel(defaultConfig(modules, false))).toBe('base');
    expect(columnLabel(defaultConfig(modules, true))).toBe('base + add ×1 + sort ×0.5');
  });

  it('sends an explicit empty module list for the base, so server defaults stay out of its column', () => {
    const msg = generateMessage('c1', 'add 1+2=', defaultConfig(modules, false), true);
    expect(msg).toEqual({ type: 'generate', id: 'c1', prompt: 'add 1+2=', reasoners: [], max_tokens: 64, temperature: 0, return_attribution: true });
  });

  it('sends modules with their weights, the seed and ignore_eos as set; blank fields are left to the server', () => {
    const config = { ...defaultConfig(modules, true), temperature: '', seed: '7', maxTokens: '5', ignoreEos: true };
    config.modules[1].weight = '-2.5';
    expect(generateMessage('c2', [1, 2], config, false)).toEqual({
      type: 'generate', id: 'c2', prompt: [1, 2], max_tokens: 5, seed: 7, ignore_eos: true,
      reasoners: [{ name: 'add', weight: 1 }, { name: 'sort', weight: -2.5 }],
    });
  });

  it('refuses what is not a number, naming the field; a number out of range is left to the server', () => {
    const config = defaultConfig(modules, true);
    config.modules[0].weight = '';
    expect(() => generateMessage('c3', 'x', config, false)).toThrow(new ConfigError('the weight of add is not a number', 'weight-add'));
    config.modules[0].weight = '50';
    expect(generateMessage('c3', 'x', config, false).reasoners[0]).toEqual({ name: 'add', weight: 50 });
    expect(() => generateMessage('c3', 'x', { ...config, maxTokens: 'lots' }, false)).toThrow('max tokens is not a number ("lots")');
  });
});
