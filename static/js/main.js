// Wires the page together: connection, rooms (each with its log and people), nick editor,
// composer, title and layout.
import { Composer } from "./composer.js";
import { Connection } from "./connection.js";
import { $ } from "./dom.js";
import { linkedRoom, Rooms, storedRooms } from "./rooms.js";

const NICK_KEY = "chat.nick";
const TOKEN_KEY = "chat.token."; // + the nick's lower case: the token that proves a registered nick
const TITLE = document.title;
const PUBLIC = new Set(["message", "action", "join", "leave", "nick", "enter", "part", "topic"]);
const NOTEWORTHY = new Set(["message", "action", "private"]);
const SEEN_LIMIT = 5000; // events remembered for de-duplication, far more than any replay

const shell = $("app");
const state = {
  me: "",
  stored: readStoredNick(), // the nick asked for on first connect
  seen: new Set(), // "room id" of each public event shown: each room numbers its own events
  checkSequence: new Set(), // rooms whose next live event tells whether their sequence started over
  welcomes: 0,
  linked: linkedRoom(location), // the room the address asked for: shown once the server has us in it
  home: "", // the room the server puts everyone in (from the first welcome that asked for no room)
  asked: new Set(), // rooms whose people the page asked for itself, after a welcome
  unread: 0,
  reclaim: "", // our nick, still held by our previous connection until the server notices it is gone
};

function readStoredNick() {
  try {
    return localStorage.getItem(NICK_KEY) || "";
  } catch {
    return ""; // storage disabled: just start as a guest
  }
}

/** The token the server gave for a registered nick (never its password), or "". */
function readToken(nick) {
  try {
    return (nick && localStorage.getItem(TOKEN_KEY + nick.toLowerCase())) || "";
  } catch {
    return "";
  }
}

function storeToken(nick, token) {
  try {
    localStorage.setItem(TOKEN_KEY + nick.toLowerCase(), token);
  } catch {
    /* storage disabled: identify again next time */
  }
}

function storeNick(nick) {
  try {
    localStorage.setItem(NICK_KEY, nick);
  } catch {
    /* storage disabled: nothing to remember */
  }
}

const rooms = new Rooms({
  first: { scroller: $("log-scroll"), list: $("log") },
  jump: $("jump"),
  list: $("room-list"),
  form: $("room-join"),
  input: $("room-input"),
  topic: $("topic"),
  usersOptions: {
    list: $("user-list"),
    counts: [$("users-count"), $("users-toggle-count")],
    onPick: (nick) => {
      setUsersOpen(false); // first: the input cannot take focus while the drawer makes it inert
      composer.prefill(`/msg ${nick} `);
    },
  },
  onSwitch: () => setUsersOpen(false),
  onLeave: (name) => connection.send(`/part ${name}`, name),
});
rooms.onJoin = (name) => {
  if (rooms.get(name)) rooms.show(name);
  else connection.send(`/join ${name}`, rooms.current?.name);
};
/** The room an event belongs to: its own, else the one shown (replies, private messages). */
const roomOf = (event) => (event.room ? rooms.ensure(event.room) : rooms.current);
const connection = new Connection({
  onFrame: (events) => events.forEach(handle),
  onState: showState,
  resumeParams: () => {
    const nick = state.me || state.stored;
    const token = readToken(nick);
    // Only in the room everyone starts in: the URL of a page that knows nothing of rooms.
    if (rooms.rooms.size === 1 && rooms.current?.name === state.home) return { nick, token, since: rooms.current.lastId };
    if (rooms.current) return { nick, token, ...rooms.resumeParams() };
    const wanted = [...new Set([state.linked, ...storedRooms()].filter(Boolean))];
    return { nick, token, rooms: wanted.map((name) => name.slice(1)).join(","), since: "" };
  },
});
const composer = new Composer({
  form: $("composer"),
  input: $("input"),
  counter: $("counter"),
  suggestions: $("suggestions"),
  maxLength: Number(shell.dataset.maxMessage) || 2000,
  paste: { lines: Number(shell.dataset.pasteLines) || 0, size: Number(shell.dataset.pasteSize) || 0 },
  hint: $("composer-hint"),
  nicks: () => (rooms.current ? rooms.current.users.nicks() : []).filter((nick) => nick !== state.me),
  onSend: (text) => connection.send(text, rooms.current?.name),
});

// -- events ---------------------------------------------------------------------------------

/**
 * False for an event already shown (a server resuming from `since` may replay what we have).
 * Ids increase within a room (rooms shared by several servers number their own), so an event is
 * known by its room and id. The first live event of a room after a reconnect also tells whether
 * the room's sequence started over (a restart without stored history): then the ids seen there
 * before no longer identify anything.
 */
function isNew(event) {
  if (typeof event.id !== "number") return true; // a welcome, a notice: before any room is made for it
  const room = roomOf(event);
  if (!room) return true;
  if (state.checkSequence.has(room.name) && !event.history) {
    state.checkSequence.delete(room.name);
    if (event.id <= room.lastId) {
      for (const key of state.seen) if (key.startsWith(`${room.name} `)) state.seen.delete(key);
      room.lastId = 0;
    }
  }
  const key = `${room.name} ${event.id}`;
  if (state.seen.has(key)) return false;
  state.seen.add(key);
  room.lastId = Math.max(room.lastId, event.id);
  if (state.seen.size > SEEN_LIMIT) {
    for (const old of state.seen) {
      state.seen.delete(old); // oldest first: events arrive in order
      if (state.seen.size <= SEEN_LIMIT / 2) break;
    }
  }
  return true;
}

function handle(event) {
  if (!isNew(event)) return;
  if (event.type === "welcome") {
    welcome(event);
    return;
  }
  const live = !event.history;
  const room = roomOf(event);
  if (!room) return;
  const { log, users } = room;
  switch (event.type) {
    case "gap":
      log.divider(event.text || `${event.missed} earlier messages are no longer available`, "gap");
      return;
    case "join":
    case "enter":
      if (live) users.join(event.nick, event.gateway);
      if (event.self) return; // the welcome, or the room frame, already said so
      break;
    case "leave":
      if (live) users.leave(event.nick);
      if (live && event.nick === state.reclaim) connection.send(`/nick ${state.reclaim}`);
      break;
    case "part":
      if (live && event.self) {
        rooms.remove(room.name);
        return;
      }
      if (live) users.leave(event.nick);
      break;
    case "nick":
      if (live) renamed(event);
      break;
    case "topic":
      if (live) rooms.setTopic(room.name, event.text);
      break;
    case "room":
      enteredRoom(event);
      return;
    case "rooms":
      log.add({ type: "system", text: roomsText(event) }, state.me);
      return;
    case "users":
      users.reset(event.users, state.me, event.total);
      if (state.asked.delete(room.name)) return;
      break;
    case "presence":
      if (event.code === "sample") users.resample(event.users, event.total);
      else users.apply(event.users, event.left, event.total);
      break;
    case "error":
      if (event.code === "nick_refused") showNickError(event.text);
      break;
    case "moderation":
      if (live && (event.code === "oper" || event.code === "op")) users.setOp(event.target, true);
      if (live && event.code === "deop") users.setOp(event.target, false);
      if (event.code === "redact") log.redact(Number(event.target));
      break;
    case "identified":
      if (event.token) storeToken(event.nick, event.token);
      break;
    case "system":
      if (event.code === "live") {
        markLive(room);
        return;
      }
      break;
  }
  if (event.history && PUBLIC.has(event.type) && !room.historyMarked) {
    room.historyMarked = true;
    log.divider(state.welcomes > 1 ? "Missed while you were away" : "Earlier messages", "history");
  }
  log.add(event, state.me);
  if (live && !event.self && NOTEWORTHY.has(event.type)) {
    countUnread();
    const mention = event.type === "message" && log.list.lastElementChild?.classList.contains("mention");
    rooms.noteUnread(room.name, Boolean(mention));
  }
}

/** The end of a room's replay on first arrival: a plain divider (times on the page are local ones). */
function markLive(room) {
  if (room.liveMarked || state.welcomes > 1) return;
  room.liveMarked = true;
  room.log.divider("Live", "live");
}

/** We are in a room (just joined, or the server made it current): its people, topic, and it is shown. */
function enteredRoom(event) {
  const room = rooms.ensure(event.room);
  room.users.reset(event.users, state.me, event.total);
  rooms.setTopic(event.room, event.topic || "");
  rooms.show(event.room);
}

function roomsText(event) {
  const listed = event.rooms.map((r) => `${r.name} (${r.members})${r.topic ? ` — ${r.topic}` : ""}`);
  return [`${event.total} rooms${event.rooms.length < event.total ? `, the ${event.rooms.length} biggest` : ""}:`, ...listed].join("\n");
}

function welcome(event) {
  const had = state.me; // before this connection; empty on the first one
  state.welcomes += 1;
  state.historyMarked = false;
  state.checkSequence = new Set(state.welcomes > 1 ? rooms.rooms.keys() : []);
  setMe(event.nick);
  shell.classList.add("joined");
  $("unreachable").hidden = true;
  const names = (event.rooms ?? []).map((info) => info.name);
  const here = event.room || names.at(-1) || "#main";
  if (state.welcomes === 1 && !connection.askedRooms) state.home = here;
  for (const info of event.rooms ?? []) {
    rooms.ensure(info.name);
    rooms.setTopic(info.name, info.topic || "");
  }
  for (const name of [...rooms.rooms.keys()]) if (!names.includes(name) && names.length) rooms.remove(name);
  const shown = rooms.current && names.includes(rooms.current.name) ? rooms.current.name : here;
  rooms.show(shown);
  const room = rooms.ensure(here);
  room.users.reset(event.users, event.nick, event.total);
  for (const name of names) {
    if (name === here) continue;
    state.asked.add(name); // their people, for the list (the reply is not shown in the log)
    connection.send(`/who ${name}`, name);
  }
  if (state.welcomes === 1) room.log.add(event, state.me);
  else rooms.current.log.divider(connection.fellBehind ? "You fell behind for a moment; caught up" : "Reconnected", "reconnected");
  // Back after a blip, the server may not have noticed our old connection go yet, so our nick
  // still looks taken: ask for it again as soon as that connection leaves.
  state.reclaim = had && event.nick !== had ? had : "";
  if (state.reclaim) {
    rooms.current.log.add({ type: "system", text: `You will get ${had} back as soon as your previous connection times out.` });
  }
}

function renamed(event) {
  const isMe = Boolean(event.self) || event.old === state.me;
  // Shown once, in one room; the people lists of every room we share with them change.
  for (const room of rooms.rooms.values()) {
    if (room.users.users.has(event.old.toLowerCase())) room.users.rename(event.old, event.nick, isMe);
  }
  if (!isMe) return;
  setMe(event.nick);
  storeNick(event.nick);
  state.reclaim = "";
  closeNickEditor(false);
  showNickError("");
}

// -- nick editor ----------------------------------------------------------------------------

const nickButton = $("nick-button");
const nickForm = $("nick-form");
const nickInput = $("nick-input");

function setMe(nick) {
  state.me = nick;
  $("nick-current").textContent = nick;
}

const NICK_ERROR_MS = 12000;
let nickErrorTimer = null;

/** The reason a nick was refused, next to the nick; it fades once read, so it does not cover the page. */
function showNickError(text) {
  $("nick-error").textContent = text;
  clearTimeout(nickErrorTimer);
  if (text) nickErrorTimer = setTimeout(() => showNickError(""), NICK_ERROR_MS);
}

function openNickEditor() {
  nickButton.hidden = true;
  nickForm.hidden = false;
  nickInput.value = state.me;
  nickInput.focus();
  nickInput.select();
}

function closeNickEditor(focusButton = true) {
  if (nickForm.hidden) return;
  nickForm.hidden = true;
  nickButton.hidden = false;
  if (focusButton) nickButton.focus();
}

nickButton.addEventListener("click", openNickEditor);
$("nick-cancel").addEventListener("click", () => {
  showNickError("");
  closeNickEditor();
});
nickForm.addEventListener("keydown", (event) => {
  if (event.key === "Escape") {
    event.preventDefault();
    showNickError("");
    closeNickEditor();
  }
});
nickForm.addEventListener("submit", (event) => {
  event.preventDefault();
  const nick = nickInput.value.trim();
  if (!nick || nick === state.me) {
    closeNickEditor();
    return;
  }
  if (!connection.send(`/nick ${nick}`)) showNickError("Not connected — try again when live");
});

// -- status, title, layout ------------------------------------------------------------------

const STATUS_TEXT = {
  connecting: () => "Connecting…",
  live: () => "Live",
  reconnecting: ({ seconds }) => `Reconnecting in ${seconds} s`,
  offline: ({ reason }) => `Offline — ${reason}`,
};

function showState(name, detail = {}) {
  const status = $("status");
  const text = STATUS_TEXT[name](detail);
  if (status.dataset.state !== name) {
    status.dataset.state = name;
    // Announced once per change of state, not on every tick of the countdown.
    $("status-announce").textContent = name === "reconnecting" ? "Connection lost, reconnecting" : text;
  }
  $("status-text").textContent = text;
  shell.classList.toggle("disconnected", name !== "live");
  const retry = $("retry");
  retry.hidden = name !== "reconnecting" && name !== "offline";
  retry.textContent = name === "offline" ? "Rejoin" : "Retry now";
  $("send").disabled = name !== "live";
  const cut = name === "reconnecting" || name === "offline";
  $("composer-hint").textContent = cut ? "Not connected — what you type is kept until you can send it." : "";
  if (state.welcomes === 0) showUnreachable(name, detail);
}

/**
 * A page that has never got into the room says so where the conversation would be: why (as far
 * as the page can tell), when it tries again, and what else to try.
 */
function showUnreachable(name, detail) {
  const panel = $("unreachable");
  const failed = name === "reconnecting" || name === "offline";
  if (failed && panel.hidden) diagnose();
  panel.hidden = !failed;
  $("unreachable-when").textContent = name === "reconnecting" ? `Trying again in ${detail.seconds} s.` : `${detail.reason ?? ""}.`;
}

/** The WebSocket API does not say why a connection failed; asking the server's health check does. */
async function diagnose() {
  const why = $("unreachable-why");
  let up = false;
  try {
    up = (await fetch("/healthz", { cache: "no-store" })).ok;
  } catch {
    up = false;
  }
  why.textContent = up
    ? "The server is running, but the live connection to it (a WebSocket) did not open: a proxy, firewall or browser extension may be blocking it."
    : "The server did not answer: it may be restarting or down, or this device may be offline.";
}

$("retry").addEventListener("click", () => connection.connectNow());
$("unreachable-now").addEventListener("click", () => connection.connectNow());

function countUnread() {
  if (!document.hidden) return;
  state.unread += 1;
  document.title = `(${state.unread}) ${TITLE}`;
}

document.addEventListener("visibilitychange", () => {
  if (document.hidden) return;
  state.unread = 0;
  document.title = TITLE;
});

// On a phone the people panel is a drawer over the page: while it is open the rest of the page is
// inert and Tab cycles inside it, so keyboard and screen-reader users cannot get lost behind it.
const usersToggle = $("users-toggle");
const drawer = $("users");
const behindDrawer = [".topbar", ".conversation", ".composer"].map((selector) => document.querySelector(selector));
const narrow = window.matchMedia("(max-width: 720px)");

function setUsersOpen(open, returnFocus = false) {
  shell.classList.toggle("users-open", open);
  usersToggle.setAttribute("aria-expanded", String(open));
  if (open) $("users-close").focus(); // before the page behind turns inert, which would drop the focus
  for (const region of behindDrawer) region.inert = open;
  if (!open && returnFocus) usersToggle.focus();
}
usersToggle.addEventListener("click", (event) => {
  event.stopPropagation();
  setUsersOpen(!shell.classList.contains("users-open"));
});
$("users-close").addEventListener("click", () => setUsersOpen(false, true));
narrow.addEventListener("change", () => narrow.matches || setUsersOpen(false));
drawer.addEventListener("keydown", (event) => {
  if (event.key !== "Tab" || !shell.classList.contains("users-open")) return;
  const stops = [...drawer.querySelectorAll("button")].filter((button) => button.offsetParent !== null);
  const edge = event.shiftKey ? stops[0] : stops.at(-1);
  if (document.activeElement === edge) {
    event.preventDefault();
    (event.shiftKey ? stops.at(-1) : stops[0]).focus();
  }
});
// A tap outside the drawer (on the dimmed page) closes it.
document.addEventListener("click", (event) => {
  if (shell.classList.contains("users-open") && !drawer.contains(event.target)) setUsersOpen(false);
});
document.addEventListener("keydown", (event) => {
  if (event.key === "Escape" && shell.classList.contains("users-open")) {
    setUsersOpen(false, true);
    return;
  }
  // Typing while the log has focus goes to the input, as in other chat tools.
  const target = event.target;
  if ((target === document.body || target === $("log-scroll")) && event.key.length === 1 && !event.ctrlKey && !event.metaKey && !event.altKey) {
    $("input").focus();
  }
});

// Phones: size the page to the visual viewport so the on-screen keyboard never covers the input.
if (window.visualViewport) {
  const fit = () => {
    if (Math.abs(window.visualViewport.scale - 1) > 0.01) return; // pinch-zoom, not a keyboard
    const log = rooms.current?.log;
    const stick = log?.atBottom();
    document.documentElement.style.setProperty("--app-height", `${window.visualViewport.height}px`);
    if (stick) requestAnimationFrame(() => log.scrollToEnd());
  };
  window.visualViewport.addEventListener("resize", fit);
  fit();
}

const tcpHost = $("tcp-host");
if (tcpHost) tcpHost.textContent = location.hostname;

// A link to another room while the page is open: join it (or show it, if we are in it).
window.addEventListener("hashchange", () => {
  const name = linkedRoom(location);
  if (name && name !== rooms.current?.name) rooms.onJoin(name);
});

connection.connectNow();
$("input").focus();
