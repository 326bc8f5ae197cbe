// The "Here now" panel: everyone in the room with their door's badge, kept current from
// welcome, join, leave, nick, presence and /who events. In a room of thousands the server
// lists a sample and the total; the count shown is then the total.
import { badge as doorBadge } from "./badge.js";
import { el } from "./dom.js";
import { nickSpan } from "./nickcolor.js";

export class UsersPanel {
  constructor({ list, counts, onPick }) {
    this.list = list;
    this.counts = counts;
    this.onPick = onPick;
    this.users = new Map(); // lower-cased nick -> {nick, gateway, op}
    this.me = "";
    this.total = 0; // the server's count when it listed only a sample
    this.active = true; // false while another room's people are shown in the shared list
  }

  reset(users, me, total = 0) {
    this.users.clear();
    for (const user of users) this.users.set(user.nick.toLowerCase(), user);
    this.me = me;
    this.total = total;
    this.render();
  }

  /** A summary of many comings and goings at once. */
  apply(joined, left, total) {
    for (const user of joined) this.users.set(user.nick.toLowerCase(), user);
    for (const user of left) this.users.delete(user.nick.toLowerCase());
    this.total = total;
    this.render();
  }

  /** A summary of more comings and goings than it could name: a sample of who is here now. */
  resample(users, total) {
    const me = this.users.get(this.me.toLowerCase());
    this.reset(users, this.me, total);
    if (me && !this.users.has(me.nick.toLowerCase())) this.users.set(me.nick.toLowerCase(), me);
    this.render();
  }

  join(nick, gateway) {
    if (!this.users.has(nick.toLowerCase())) this.total += 1;
    this.users.set(nick.toLowerCase(), { nick, gateway });
    this.render();
  }

  leave(nick) {
    this.total = Math.max(0, this.total - 1);
    this.users.delete(nick.toLowerCase());
    this.render();
  }

  rename(old, nick, isMe) {
    const user = this.users.get(old.toLowerCase());
    this.users.delete(old.toLowerCase());
    this.users.set(nick.toLowerCase(), { nick, gateway: user?.gateway ?? "web", op: user?.op ?? false });
    if (isMe) this.me = nick;
    this.render();
  }

  /** An operator gained or lost their badge. */
  setOp(nick, op) {
    const user = this.users.get(nick.toLowerCase());
    if (!user) return;
    user.op = op;
    this.render();
  }

  nicks() {
    return [...this.users.values()].map((user) => user.nick);
  }

  render() {
    if (this.active === false) return; // another room's people are shown
    const sorted = [...this.users.values()].sort((a, b) => a.nick.localeCompare(b.nick, undefined, { sensitivity: "base" }));
    const items = sorted.map((user) => {
      const isMe = user.nick === this.me;
      const item = el("li", isMe ? "user me" : "user");
      item.dataset.nick = user.nick;
      const badges = [doorBadge(user.gateway)];
      if (user.op) badges.unshift(el("span", "badge badge-op", "op"));
      if (isMe) {
        item.append(nickSpan(user.nick), el("span", "you", "you"), ...badges);
      } else {
        // The whole row is the button, so a thumb finds it on a phone.
        const button = el("button", "user-button");
        button.type = "button";
        button.title = `Send ${user.nick} a private message`;
        button.append(nickSpan(user.nick), ...badges);
        button.addEventListener("click", () => this.onPick(user.nick));
        item.append(button);
      }
      return item;
    });
    this.list.replaceChildren(...items);
    const shown = this.total > sorted.length ? this.total : sorted.length;
    for (const count of this.counts) count.textContent = String(shown);
  }
}
