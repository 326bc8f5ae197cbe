// The same nick gets the same colour for every viewer: a stable hash picks one of the palette
// classes defined in chat.css (each one readable in both themes).
export const PALETTE_SIZE = 12;

export function nickClass(nick) {
  let hash = 2166136261; // FNV-1a: cheap, and spreads short similar nicks apart
  for (const ch of nick.toLowerCase()) {
    hash ^= ch.codePointAt(0);
    hash = Math.imul(hash, 16777619) >>> 0;
  }
  return `nick-c${hash % PALETTE_SIZE}`;
}

/** A span showing a nick in its colour; the nick is inserted as text, never as markup. */
export function nickSpan(nick, extraClass = "") {
  const span = document.createElement("span");
  span.className = `nick ${nickClass(nick)} ${extraClass}`.trim();
  span.textContent = nick;
  return span;
}
