// The message log: renders events as list items, keeps the view where the reader left it, and
// offers a "N new messages" jump instead of yanking the view while they read older lines. Runs of
// joins and leaves (and the renames among them) fold into one expandable line ("5 people joined,
// 2 left"), so the conversation stands out.
import { badge } from "./badge.js";
import { el } from "./dom.js";
import { nickSpan } from "./nickcolor.js";

const MAX_ITEMS = 1500; // a long-running tab keeps memory bounded
const NEAR_BOTTOM_PX = 48;
const COUNTED = new Set(["message", "action", "private"]); // notices do not make a "new message"
const PRESENCE = new Set(["join", "leave"]);
const URL_PATTERN = /\bhttps?:\/\/[^\s<>"']+[^\s<>"'.,;:!?)\]]/g;

const clock = new Intl.DateTimeFormat(undefined, { hour: "numeric", minute: "2-digit" });
const fullDate = new Intl.DateTimeFormat(undefined, { dateStyle: "full", timeStyle: "medium" });
const dayName = new Intl.DateTimeFormat(undefined, { weekday: "long", month: "long", day: "numeric" });

function timeElement(date) {
  const time = el("time", "ts", clock.format(date));
  time.dateTime = date.toISOString();
  time.title = fullDate.format(date);
  return time;
}

/** Message text with http(s) links made clickable; everything else stays plain text. */
function richText(text) {
  const span = el("span", "text");
  let last = 0;
  for (const match of text.matchAll(URL_PATTERN)) {
    span.append(text.slice(last, match.index));
    const link = el("a", "", match[0]);
    link.href = match[0];
    link.rel = "noopener noreferrer nofollow";
    link.target = "_blank";
    span.append(link);
    last = match.index + match[0].length;
  }
  span.append(text.slice(last));
  return span;
}

function removed() {
  return el("span", "text removed", "message removed");
}

function mentions(text, nick) {
  if (!nick) return false;
  const escaped = nick.replace(/[.*+?^${}()|[\]\\-]/g, "\\$&");
  return new RegExp(`(^|[^\\w-])${escaped}($|[^\\w-])`, "i").test(text);
}

/** One list item for an event, or null for events the log does not show. */
export function renderEvent(event, myNick) {
  const kind = event.type;
  const item = el("li", `item item-${kind}`);
  if (event.history) item.classList.add("from-history");
  if (event.self && (kind === "message" || kind === "action")) item.classList.add("own");
  const body = el("div", "body");
  if (event.id) item.dataset.id = String(event.id);

  switch (kind) {
    case "message":
    case "action":
      if (event.code === "redacted") {
        body.append(nickSpan(event.nick), removed());
        break;
      }
      if (kind === "action") {
        body.append(el("span", "star", "*"), nickSpan(event.nick), " ", richText(event.text));
        break;
      }
      body.append(nickSpan(event.nick), richText(event.text));
      if (!event.self && mentions(event.text, myNick)) item.classList.add("mention");
      break;
    case "private": {
      const label = el("span", "private-label", "private");
      const route = el("span", "route");
      if (event.self) route.append("you → ", nickSpan(event.to));
      else route.append(nickSpan(event.nick), " → you");
      body.append(label, route, richText(event.text));
      break;
    }
    case "join":
      body.append(el("span", "arrow", "→"), nickSpan(event.nick), " joined ", badge(event.gateway));
      break;
    case "leave":
      body.append(el("span", "arrow", "←"), nickSpan(event.nick), " left");
      if (event.text) body.append(el("span", "reason", ` (${event.text})`));
      break;
    case "nick":
      body.append(nickSpan(event.old), " is now known as ", nickSpan(event.nick));
      break;
    case "users":
      body.append(`Here now (${Math.max(event.total ?? 0, event.users.length)}):`);
      for (const user of event.users) body.append(" ", nickSpan(user.nick), " ", badge(user.gateway));
      break;
    case "system":
    case "welcome":
    case "presence":
    case "moderation":
    case "identified":
      body.append(el("span", "text", event.text ?? ""));
      break;
    case "error":
      body.append(el("span", "error-mark", "!"), el("span", "text", event.text ?? "Error"));
      break;
    default:
      return null;
  }
  const time = timeElement(event.ts ? new Date(event.ts) : new Date());
  if (event.id) time.title += ` · #${event.id}`; // what an operator types to /redact it
  item.append(time, body);
  return item;
}

/** "5 people joined, 2 left" */
export function runSummary(joined, left) {
  const people = (n) => `${n} ${n === 1 ? "person" : "people"}`;
  if (!left) return `${people(joined)} joined`;
  if (!joined) return `${people(left)} left`;
  return `${people(joined)} joined, ${left} left`;
}

export class MessageLog {
  /** `scroller` is the scrolling live region, `list` the <ol> of items inside it. */
  constructor(scroller, list, jumpButton) {
    this.scroller = scroller;
    this.list = list;
    this.jump = jumpButton;
    this.unseen = 0;
    this.lastDay = null;
    scroller.addEventListener("scroll", () => this.atBottom() && this.clearUnseen(), { passive: true });
    jumpButton.addEventListener("click", () => {
      this.scrollToEnd();
      this.scroller.focus({ preventScroll: true });
    });
  }

  atBottom() {
    const { scrollHeight, scrollTop, clientHeight } = this.scroller;
    return scrollHeight - scrollTop - clientHeight < NEAR_BOTTOM_PX;
  }

  /** Show an event; returns the item, or null if it is not shown. */
  add(event, myNick) {
    const item = renderEvent(event, myNick);
    if (!item) return null;
    this.insertDay(event.ts ? new Date(event.ts) : new Date());
    // A rename right after a join (a guest taking their name) belongs to the run; one on its own does not.
    if (PRESENCE.has(event.type) || (event.type === "nick" && this.list.lastElementChild?.dataset.presence)) {
      item.dataset.presence = event.type;
      if (this.fold(item)) return item;
    }
    this.append(item, Boolean(event.self), COUNTED.has(event.type));
    return item;
  }

  /** Add a join or leave to the run of them just above, if there is one; false if there is none. */
  fold(item) {
    const last = this.list.lastElementChild;
    if (!last?.dataset.presence) return false;
    const stick = this.atBottom() && !this.scroller.hidden;
    const run = last.classList.contains("presence-run") ? last : this.startRun(last);
    run.querySelector(".run-list").append(item);
    const count = (kind) => run.querySelectorAll(`.run-list > [data-presence="${kind}"]`).length;
    run.querySelector("summary").textContent = runSummary(count("join"), count("leave"));
    if (stick) this.scrollToEnd();
    return true;
  }

  /** Replace a lone join or leave with a folded run holding it. */
  startRun(first) {
    const run = el("li", "item presence-run");
    run.dataset.presence = "run";
    if (first.classList.contains("from-history")) run.classList.add("from-history");
    const details = el("details", "run");
    details.append(el("summary", ""), el("ol", "run-list"));
    run.append(first.querySelector(".ts").cloneNode(true), el("div", "body"));
    run.lastElementChild.append(details);
    first.replaceWith(run);
    details.lastElementChild.append(first);
    return run;
  }

  /** An operator removed message ``id``: whoever has it on screen sees only that it was removed. */
  redact(id) {
    const item = this.list.querySelector(`li[data-id="${id}"]`);
    if (!item || !item.matches(".item-message, .item-action")) return;
    const body = item.querySelector(".body");
    body.replaceChildren(body.querySelector(".nick") ?? "", removed());
    item.classList.remove("mention");
  }

  /** A centred divider line (history, gaps, reconnects, days). */
  divider(text, className = "") {
    const item = el("li", `divider ${className}`.trim());
    item.append(el("span", "", text));
    this.append(item, false, false);
    return item;
  }

  insertDay(date) {
    const day = date.toDateString();
    if (day === this.lastDay) return;
    this.lastDay = day;
    const today = new Date().toDateString() === day;
    this.divider(today ? "Today" : dayName.format(date), "day");
  }

  append(item, own, counts = true) {
    const stick = own || this.atBottom();
    this.list.append(item);
    while (this.list.childElementCount > MAX_ITEMS) this.list.firstElementChild.remove();
    if (this.scroller.hidden) return; // another room is shown: this one keeps its place for later
    if (stick) this.scrollToEnd();
    else if (counts) {
      this.unseen += 1;
      this.jump.textContent = `${this.unseen} new message${this.unseen === 1 ? "" : "s"} ↓`;
      this.jump.hidden = false;
    }
  }

  scrollToEnd() {
    this.scroller.scrollTop = this.scroller.scrollHeight;
    this.clearUnseen();
  }

  clearUnseen() {
    this.unseen = 0;
    if (!this.scroller.hidden) this.jump.hidden = true; // the jump button belongs to the room shown
  }

  /** Another room is shown instead: remember where the reader was. */
  hide() {
    this.wasAtBottom = this.atBottom();
    this.savedTop = this.scroller.scrollTop;
    this.scroller.hidden = true;
  }

  /** Shown again: back where the reader left it (at the end if they were following it). */
  show() {
    this.scroller.hidden = false;
    this.jump.hidden = true;
    this.unseen = 0;
    if (this.wasAtBottom === false) this.scroller.scrollTop = this.savedTop;
    else this.scrollToEnd();
  }
}
