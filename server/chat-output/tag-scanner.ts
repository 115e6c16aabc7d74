/**
 * Finds `tag` in streamed text. Returns the text before it (safe to emit), whether it was found, and the rest:
 * after the tag when found, else the longest tail that could still be the start of the tag (held back until
 * the next chunk decides).
 */
export function scanForTag(buffer: string, tag: string): { before: string; found: boolean; rest: string } {
  const at = buffer.indexOf(tag);
  if (at !== -1) return { before: buffer.slice(0, at), found: true, rest: buffer.slice(at + tag.length) };
  for (let keep = Math.min(tag.length - 1, buffer.length); keep > 0; keep--) {
    if (tag.startsWith(buffer.slice(buffer.length - keep))) return { before: buffer.slice(0, buffer.length - keep), found: false, rest: buffer.slice(buffer.length - keep) };
  }
  return { before: buffer, found: false, rest: '' };
}
