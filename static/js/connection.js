// The WebSocket to /ws with reconnects a user can trust: the server's goodbye says when to come
// back, otherwise exponential backoff with jitter; resume from the last public id seen, and a
// state the page shows as connecting / live / reconnecting in N s / offline.

const BASE_DELAY_MS = 1000;
const MAX_DELAY_MS = 30000;
const QUIT_CLOSE_CODE = 1000; // the user typed /quit: stay out until they ask to rejoin
export const TOO_SLOW_CLOSE_CODE = 4000;
const AT_ONCE_AGAIN_MS = 10000; // a second "come back now" this soon backs off instead

// What each close code of the server's goodbyes (app/domain/goodbye.py; a test checks that the two
// agree) tells the page to do: "now" reconnect at once and resume where it left off, "soon" after
// a moment, "later" after a while, "never" stay out and say why.
export const GOODBYES = {
  1000: { retry: "never", why: "You left the room" },
  1008: { retry: "never", why: "The server refused this page" },
  1011: { retry: "now" },
  1012: { retry: "soon" },
  1013: { retry: "later" },
  4000: { retry: "now" },
  4001: { retry: "later" },
  4002: { retry: "later" },
  4003: { retry: "now" },
  4010: { retry: "later" },
  4011: { retry: "never", why: "You are banned from this room" },
};
export const RETRY_SECONDS = { now: 0, soon: 2, later: 60 };

export class Connection {
  /**
   * onFrame(events) gets each frame's events as an array; onState(state, detail) gets
   * "connecting", "live", "reconnecting" ({seconds}) and "offline" ({reason}).
   * resumeParams() returns {nick, token, rooms, since} for the next connect.
   */
  constructor({ onFrame, onState, resumeParams }) {
    this.onFrame = onFrame;
    this.onState = onState;
    this.resumeParams = resumeParams;
    this.socket = null;
    this.attempt = 0;
    this.retryTimer = null;
    this.countdown = null;
    this.live = false;
    this.left = false; // the user quit: only they bring the page back
    this.fellBehind = false; // this connection replaces one the server cut as too slow
    this.atOnceAt = 0; // when the last immediate reconnect was made
    window.addEventListener("online", () => this.socket || this.left || this.connectNow());
    window.addEventListener("offline", () => this.socket || this.goOffline("Your device is offline"));
  }

  url() {
    const params = new URLSearchParams();
    const { nick, token, rooms, since } = this.resumeParams();
    if (nick) params.set("nick", nick);
    if (token) params.set("token", token);
    if (rooms) params.set("rooms", rooms);
    this.askedRooms = Boolean(rooms); // the welcome then lists the rooms asked for, not the default one
    if (since) params.set("since", String(since));
    const scheme = location.protocol === "https:" ? "wss:" : "ws:";
    const query = params.toString();
    return `${scheme}//${location.host}/ws${query ? `?${query}` : ""}`;
  }

  connectNow() {
    this.clearTimers();
    this.left = false;
    if (this.socket) return;
    this.onState("connecting");
    const socket = new WebSocket(this.url());
    this.socket = socket;
    socket.addEventListener("message", (message) => this.receive(message.data));
    socket.addEventListener("close", (close) => this.closed(socket, close.code, close.reason));
  }

  receive(data) {
    let frame;
    try {
      frame = JSON.parse(data);
    } catch {
      frame = { type: "system", text: String(data) };
    }
    const events = (Array.isArray(frame) ? frame : [frame]).filter((event) => event && typeof event === "object");
    if (!this.live && events.some((event) => event.type === "welcome")) {
      this.live = true;
      this.attempt = 0;
      this.onState("live");
    }
    this.onFrame(events);
  }

  /** Say a line (or a command) in `room` (the server's current room for the page when not given). */
  send(text, room) {
    if (!this.live || this.socket?.readyState !== WebSocket.OPEN) return false;
    this.socket.send(JSON.stringify(room ? { type: "say", text, room } : { type: "say", text }));
    return true;
  }

  closed(socket, code, reason) {
    if (socket !== this.socket) return;
    this.socket = null;
    this.live = false;
    this.fellBehind = code === TOO_SLOW_CLOSE_CODE;
    const goodbye = GOODBYES[code];
    if (goodbye?.retry === "never") {
      this.left = code === QUIT_CLOSE_CODE;
      // The close reason's detail after its short reason, e.g. a ban's "spamming; 2 hours left".
      const detail = reason.includes(": ") ? reason.slice(reason.indexOf(": ") + 2) : "";
      this.goOffline(goodbye.why && detail ? `${goodbye.why} (${detail})` : goodbye.why || reason);
    } else if (!navigator.onLine) this.goOffline("Your device is offline");
    else if (goodbye?.retry === "now" && Date.now() - this.atOnceAt > AT_ONCE_AGAIN_MS) {
      this.atOnceAt = Date.now();
      this.connectNow();
    } else if (goodbye && goodbye.retry !== "now") this.scheduleRetry(RETRY_SECONDS[goodbye.retry] * 1000);
    else this.scheduleRetry();
  }

  /** After the ``after`` ms a goodbye asked for, plus up to half again (so a crowd told the same does
   * not come back at once); else full-jitter-ish backoff: a random delay in the upper half of an
   * exponentially growing window. */
  scheduleRetry(after) {
    const span = Math.min(MAX_DELAY_MS, BASE_DELAY_MS * 2 ** this.attempt);
    const delay = after === undefined ? span / 2 + (Math.random() * span) / 2 : after + (Math.random() * after) / 2;
    this.attempt += 1;
    const due = Date.now() + delay;
    const tick = () => this.onState("reconnecting", { seconds: Math.max(1, Math.ceil((due - Date.now()) / 1000)) });
    tick();
    this.countdown = setInterval(tick, 250);
    this.retryTimer = setTimeout(() => this.connectNow(), delay);
  }

  goOffline(reason) {
    this.clearTimers();
    this.onState("offline", { reason });
  }

  clearTimers() {
    clearTimeout(this.retryTimer);
    clearInterval(this.countdown);
    this.retryTimer = null;
    this.countdown = null;
  }
}
