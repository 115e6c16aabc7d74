import { closeSync, existsSync, openSync, readSync, statSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { UnirError } from '../common/errors.js';
import { ENTRY_KEY, ENTRY_VALUE, GRAPH_INITIALIZER, GRAPH_NODE, MODEL_GRAPH, NODE_DOMAIN, NODE_OP_TYPE, TENSOR_EXTERNAL_DATA } from './onnx-field-numbers.js';

/** What the logs and the runtime need to know of an ONNX file before ONNX Runtime loads it. */
export interface OnnxFileInfo {
  path: string;
  bytes: number;
  /** Files holding weights outside the graph (`location` of external tensors), relative to the graph's folder. */
  externalData: { file: string; bytes: number }[];
  /** The graph's operators as domain.op_type ("com.microsoft.GroupQueryAttention"; the default domain bare). */
  operators: string[];
}


/**
 * Reads an ONNX file's operators and external data files without loading it: a walk over the protobuf that reads
 * only the graph's node headers and initializer metadata and skips every weight (positioned reads), so it costs
 * milliseconds even for a graph with its weights inside. A missing external data file is an error naming it
 * (ONNX Runtime's own message does not).
 */
export function readOnnxFileInfo(path: string): OnnxFileInfo {
  const fd = openSync(path, 'r');
  try {
    const size = statSync(path).size;
    const reader = new ProtoReader(fd, size);
    const operators = new Set<string>();
    const locations = new Set<string>();
    reader.fields(0, size, (field, start, end) => {
      if (field !== MODEL_GRAPH) return;
      reader.fields(start, end, (gField, gStart, gEnd) => {
        if (gField === GRAPH_NODE) {
          let op = '';
          let domain = '';
          reader.fields(gStart, gEnd, (nField, nStart, nEnd) => {
            if (nField === NODE_OP_TYPE) op = reader.text(nStart, nEnd);
            else if (nField === NODE_DOMAIN) domain = reader.text(nStart, nEnd);
          });
          operators.add(domain && domain !== 'ai.onnx' ? `${domain}.${op}` : op);
        } else if (gField === GRAPH_INITIALIZER) {
          reader.fields(gStart, gEnd, (tField, tStart, tEnd) => {
            if (tField !== TENSOR_EXTERNAL_DATA) return;
            let key = '';
            let value = '';
            reader.fields(tStart, tEnd, (eField, eStart, eEnd) => {
              if (eField === ENTRY_KEY) key = reader.text(eStart, eEnd);
              else if (eField === ENTRY_VALUE) value = reader.text(eStart, eEnd);
            });
            if (key === 'location') locations.add(value);
          });
        }
      });
    });
    const externalData = [...locations].sort().map((file) => {
      const full = join(dirname(path), file);
      if (!existsSync(full)) {
        throw new UnirError('invalid_model_dir', `${path} keeps its weights in ${file}, which is missing beside it (${full})`);
      }
      return { file, bytes: statSync(full).size };
    });
    return { path, bytes: size, externalData, operators: [...operators].sort() };
  } catch (err) {
    if (err instanceof UnirError) throw err;
    throw new UnirError('invalid_model_dir', `${path} is not a readable ONNX file: ${(err as Error).message}`);
  } finally {
    closeSync(fd);
  }
}

/** "model.onnx (12.0 MiB) + model.onnx.data (1.9 GiB)": a file and its weights, for logs. */
export function describeOnnxFile(info: OnnxFileInfo): string {
  const parts = [`${basename(info.path)} (${formatBytes(info.bytes)})`, ...info.externalData.map((d) => `${d.file} (${formatBytes(d.bytes)})`)];
  return parts.join(' + ');
}

export function formatBytes(n: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let v = n;
  let u = 0;
  while (v >= 1024 && u < units.length - 1) {
    v /= 1024;
    u++;
  }
  return u === 0 ? `${n} B` : `${v.toFixed(1)} ${units[u]}`;
}

/** Protocol-buffer fields of a byte range, read with positioned reads (nothing outside the fields visited). */
class ProtoReader {
  private readonly buf = Buffer.alloc(64 * 1024);
  private bufStart = 0;
  private bufEnd = 0;

  constructor(
    private readonly fd: number,
    private readonly size: number,
  ) {}

  /** Calls `visit` for each length-delimited field of [start, end); other wire types are skipped. */
  fields(start: number, end: number, visit: (field: number, start: number, end: number) => void): void {
    let pos = start;
    while (pos < end) {
      const [tag, afterTag] = this.varint(pos);
      const field = Math.floor(tag / 8);
      const wire = tag % 8;
      pos = afterTag;
      if (wire === 0) pos = this.varint(pos)[1];
      else if (wire === 1) pos += 8;
      else if (wire === 5) pos += 4;
      else if (wire === 2) {
        const [length, afterLength] = this.varint(pos);
        const fieldEnd = afterLength + length;
        if (fieldEnd > end) throw new Error(`a field runs past its message (at byte ${pos})`);
        visit(field, afterLength, fieldEnd);
        pos = fieldEnd;
      } else throw new Error(`unsupported wire type ${wire} at byte ${pos}`);
    }
  }

  text(start: number, end: number): string {
    const out = Buffer.alloc(end - start);
    readSync(this.fd, out, 0, out.length, start);
    return out.toString('utf8');
  }

  private byte(pos: number): number {
    if (pos < this.bufStart || pos >= this.bufEnd) {
      if (pos >= this.size) throw new Error('unexpected end of file');
      this.bufStart = pos;
      this.bufEnd = pos + readSync(this.fd, this.buf, 0, this.buf.length, pos);
    }
    return this.buf[pos - this.bufStart];
  }

  /** A varint (as a double: exact up to 2^53, far beyond any offset here) and the position after it. */
  private varint(pos: number): [number, number] {
    let value = 0;
    let scale = 1;
    for (let i = 0; i < 10; i++) {
      const b = this.byte(pos++);
      value += (b & 0x7f) * scale;
      if (b < 0x80) return [value, pos];
      scale *= 128;
    }
    throw new Error(`a varint longer than 10 bytes at byte ${pos}`);
  }
}
