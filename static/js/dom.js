// Tiny helpers for building elements; text always goes in through textContent.

export function el(tag, className = "", text = null) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== null) node.textContent = text;
  return node;
}

export function $(id) {
  return document.getElementById(id);
}
