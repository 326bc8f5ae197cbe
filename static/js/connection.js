// The WebSocket to /ws with reconnects a user can trust: exponential backoff with jitter, resume
// from the last public id seen, and a state the page shows as connecting / live / reconnecting in
// N s / offline.

const BASE_DELAY_MS = 1000;
const MAX_DELAY_MS = 30000;
const QUIT_CLOSE_CODE = 1000; // the user typed /quit: stay out until they ask to rejoin
const POLICY_CLOSE_CODE = 1008; // the server refused this page (origin): retrying cannot help

export class Connection {
  /**
   * onFrame(events) gets each frame's events as an array; onState(state, detail) gets
   * "connecting", "live", "reconnecting" ({seconds}) and "offline" ({reason}).
   * resumeParams() returns {nick, since, token} for the next connect.
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
    window.addEventListener("online", () => this.socket || this.left || this.connectNow());
    window.addEventListener("offline", () => this.socket || this.goOffline("Your device is offline"));
  }

  url() {
    const params = new URLSearchParams();
    const { nick, since, token } = this.resumeParams();
    if (nick) params.set("nick", nick);
    if (token) params.set("token", token);
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
    socket.addEventListener("close", (close) => this.closed(socket, close.code));
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

  send(text) {
    if (!this.live || this.socket?.readyState !== WebSocket.OPEN) return false;
    this.socket.send(JSON.stringify({ type: "say", text }));
    return true;
  }

  closed(socket, code) {
    if (socket !== this.socket) return;
    this.socket = null;
    this.live = false;
    if (code === QUIT_CLOSE_CODE) {
      this.left = true;
      this.goOffline("You left the room");
    }
    else if (code === POLICY_CLOSE_CODE) this.goOffline("The server refused this page");
    else if (!navigator.onLine) this.goOffline("Your device is offline");
    else this.scheduleRetry();
  }

  /** Full-jitter-ish backoff: a random delay in the upper half of an exponentially growing window. */
  scheduleRetry() {
    const span = Math.min(MAX_DELAY_MS, BASE_DELAY_MS * 2 ** this.attempt);
    const delay = span / 2 + Math.random() * (span / 2);
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
