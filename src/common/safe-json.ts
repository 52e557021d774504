/** The parsed value, or undefined when the text is missing or not JSON: for answers that may be anything. */
export function parseJsonOrUndefined(text: string | null): unknown {
  if (text === null) return undefined;
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}
