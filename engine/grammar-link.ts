import { receiveMessageOnPort, type MessagePort } from 'node:worker_threads';
import { deserializeError, UnirError } from '../common/errors.js';
import type { EngineToGrammar, GrammarToEngine } from '../grammar/grammar-protocol.js';
import type { GrammarSpec } from '../grammar/grammar-spec.js';
import { RemoteGrammar } from './remote-grammar.js';

/**
 * The engine worker's end of the grammar worker's channel: opens a grammar per sequence, relays commits, and
 * routes masks back. `drain()` takes the messages already queued on the port without waiting for the event
 * loop, so a mask computed while the models ran is seen at once when the step samples.
 */
export class GrammarLink {
  private readonly grammars = new Map<number, RemoteGrammar>();
  private readonly opening = new Map<number, { resolve: (g: RemoteGrammar) => void; reject: (e: UnirError) => void }>();
  private closedWith: UnirError | null = null;
  /** The grammar worker is compiling (or starting a runtime): masks not yet sent wait behind it. */
  busy = false;

  constructor(
    private readonly port: MessagePort,
    /** Called when a mask arrives or the worker stops being busy (a waiting step loop may go on). */
    private readonly onChange: () => void,
  ) {
    port.on('message', (msg: GrammarToEngine) => this.dispatch(msg));
    port.on('close', () => this.fail(new UnirError('internal_error', 'the grammar worker stopped')));
  }

  /** Compiles (or finds) the spec in the grammar worker and makes the sequence's matcher; resolves with its first mask. */
  open(seqId: number, spec: GrammarSpec, stopTokenIds: number[]): Promise<RemoteGrammar> {
    if (this.closedWith) return Promise.reject(this.closedWith);
    return new Promise((resolve, reject) => {
      this.opening.set(seqId, { resolve, reject });
      this.post({ type: 'open', seqId, spec, stopTokenIds });
    });
  }

  commit(seqId: number, tokenId: number): void {
    this.post({ type: 'commit', seqId, tokenId });
  }

  close(seqId: number): void {
    this.grammars.delete(seqId);
    this.post({ type: 'close', seqId });
  }

  drain(): void {
    for (let m = receiveMessageOnPort(this.port); m; m = receiveMessageOnPort(this.port)) this.dispatch(m.message as GrammarToEngine);
  }

  /** Ends the link (a new grammar worker replaces it): every grammar on it fails. */
  detach(): void {
    this.fail(new UnirError('internal_error', 'the grammar worker was replaced'));
    this.port.close();
  }

  private post(msg: EngineToGrammar): void {
    if (!this.closedWith) this.port.postMessage(msg);
  }

  private dispatch(msg: GrammarToEngine): void {
    if (msg.type === 'busy') {
      this.busy = msg.busy;
    } else {
      const opening = this.opening.get(msg.seqId);
      this.opening.delete(msg.seqId);
      if (msg.type === 'failed') {
        const err = deserializeError(msg.error);
        if (opening) opening.reject(err);
        else this.grammars.get(msg.seqId)?.settle({ failure: err });
      } else if (opening && msg.type === 'mask') {
        const grammar = new RemoteGrammar(this, msg.seqId, msg.mask);
        this.grammars.set(msg.seqId, grammar);
        opening.resolve(grammar);
      } else {
        this.grammars.get(msg.seqId)?.settle(msg.type === 'mask' ? { mask: msg.mask } : { complete: true });
      }
    }
    this.onChange();
  }

  private fail(err: UnirError): void {
    if (this.closedWith) return;
    this.closedWith = err;
    for (const o of this.opening.values()) o.reject(err);
    this.opening.clear();
    for (const g of this.grammars.values()) g.settle({ failure: err });
    this.grammars.clear();
    this.onChange();
  }
}
