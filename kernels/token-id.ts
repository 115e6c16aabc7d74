/** True when `id` is an integer index into a row of `length` entries; processors skip other ids. */
export function isTokenIndex(id: number, length: number): boolean {
  return id >>> 0 === id && id < length;
}
