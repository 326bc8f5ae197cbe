// The rooms the page is in: each with its own log (and scroll position), its people, topic,
// unread count and mention marker, and the last id seen for resuming it. The list in the side
// panel switches between them without a reload; the URL (/#dev or /r/dev) names the room shown.
import { el } from "./dom.js";
import { MessageLog } from "./log.js";
import { UsersPanel } from "./users.js";

const ROOMS_KEY = "chat.rooms";
const NAME = /^#?([A-Za-z0-9_-]{1,32})$/;

/** "#Dev", "dev" -> "#dev"; null for what is not a room name. */
export function roomName(text) {
  const match = NAME.exec((text || "").trim());
  return match ? `#${match[1].toLowerCase()}` : null;
}

/** The room the address asks for: /#dev or /r/dev (null: none). */
export function linkedRoom(location) {
  const path = /^\/r\/([^/]+)\/?$/.exec(location.pathname);
  if (path) return roomName(decodeURIComponent(path[1]));
  return location.hash.length > 1 ? roomName(decodeURIComponent(location.hash.slice(1))) : null;
}

export function storedRooms() {
  try {
    const rooms = JSON.parse(localStorage.getItem(ROOMS_KEY) || "[]");
    return Array.isArray(rooms) ? rooms.map(roomName).filter(Boolean) : [];
  } catch {
    return [];
  }
}

function storeRooms(names) {
  try {
    localStorage.setItem(ROOMS_KEY, JSON.stringify(names));
  } catch {
    /* storage disabled: the page forgets its rooms on reload */
  }
}

class Room {
  constructor(name, scroller, list, jump, usersOptions) {
    this.name = name;
    this.scroller = scroller;
    this.log = new MessageLog(scroller, list, jump);
    this.users = new UsersPanel(usersOptions);
    this.topic = "";
    this.unread = 0;
    this.mention = false;
    this.lastId = 0; // the newest public id seen in this room: where a reconnect resumes it
    this.historyMarked = false;
    this.liveMarked = false;
  }
}

export class Rooms {
  /**
   * `first` is the log the page was served with ({scroller, list}); more rooms get logs of their
   * own next to it. `onSwitch(room)` is told when the room shown changes.
   */
  constructor({ first, jump, list, form, input, topic, usersOptions, onSwitch, onLeave }) {
    this.first = first;
    this.jump = jump;
    this.listElement = list;
    this.topicElement = topic;
    this.usersOptions = usersOptions;
    this.onSwitch = onSwitch;
    this.onLeave = onLeave;
    this.rooms = new Map();
    this.current = null;
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      const name = roomName(input.value);
      input.setCustomValidity(name ? "" : "A room name is # and 1 to 32 letters, digits, - or _");
      if (!name) {
        input.reportValidity();
        return;
      }
      input.value = "";
      this.onJoin?.(name);
    });
  }

  get(name) {
    return this.rooms.get(name) ?? null;
  }

  /** The room called `name`, made (with an empty log) if the page was not in it yet. */
  ensure(name) {
    let room = this.rooms.get(name);
    if (room) return room;
    let scroller = this.first.scroller;
    let list = this.first.list;
    if (this.rooms.size > 0 || this.first.taken) {
      scroller = this.first.scroller.cloneNode(false);
      scroller.removeAttribute("id");
      list = el("ol", "log");
      scroller.append(list);
      scroller.hidden = true;
      this.first.scroller.parentElement.insertBefore(scroller, this.jump);
    }
    this.first.taken = true;
    scroller.dataset.room = name;
    room = new Room(name, scroller, list, this.jump, this.usersOptions);
    room.users.active = false;
    this.rooms.set(name, room);
    this.render();
    this.save();
    return room;
  }

  /** Show `name`'s log, people and topic; its unread count and mention are cleared. */
  show(name) {
    const room = this.ensure(name);
    const before = this.current;
    if (before && before !== room) {
      before.log.hide();
      before.users.active = false;
    }
    this.current = room;
    room.unread = 0;
    room.mention = false;
    room.log.show();
    room.users.active = true;
    room.users.render();
    this.showTopic();
    this.render();
    this.save();
    const hash = `#${name.slice(1)}`;
    if (location.hash !== hash && !location.pathname.startsWith("/r/")) history.replaceState(null, "", hash);
    if (location.pathname.startsWith("/r/") && location.pathname !== `/r/${name.slice(1)}`) {
      history.replaceState(null, "", `/r/${name.slice(1)}`);
    }
    if (before !== room) this.onSwitch(room);
  }

  /** The page left the room: its log goes; another room is shown if it was this one. */
  remove(name) {
    const room = this.rooms.get(name);
    if (!room || this.rooms.size === 1) return;
    this.rooms.delete(name);
    if (room.scroller === this.first.scroller) room.log.list.replaceChildren();
    else room.scroller.remove();
    if (this.current === room) {
      this.current = null;
      room.scroller.hidden = true;
      this.show([...this.rooms.keys()].at(-1));
    }
    this.render();
    this.save();
  }

  setTopic(name, topic) {
    const room = this.ensure(name);
    room.topic = topic;
    if (room === this.current) this.showTopic();
    this.render();
  }

  showTopic() {
    const room = this.current;
    this.topicElement.textContent = room.topic ? `${room.name} — ${room.topic}` : room.name;
    this.topicElement.title = room.topic;
  }

  /** Something worth reading arrived in a room not shown: count it (and mark a mention). */
  noteUnread(name, mention) {
    const room = this.rooms.get(name);
    if (!room || room === this.current) return;
    room.unread += 1;
    room.mention ||= mention;
    this.render();
  }

  /** `rooms=` and `since=` for a reconnect: every room, the one shown first, each from its last id. */
  resumeParams() {
    const others = [...this.rooms.keys()].filter((name) => name !== this.current?.name);
    const names = this.current ? [this.current.name, ...others] : others;
    const since = names
      .map((name) => [name, this.rooms.get(name).lastId])
      .filter(([, id]) => id > 0)
      .map(([name, id]) => `${name.slice(1)}:${id}`);
    return { rooms: names.map((name) => name.slice(1)).join(","), since: since.join(",") };
  }

  save() {
    storeRooms([...this.rooms.keys()]);
  }

  render() {
    const items = [...this.rooms.values()].map((room) => {
      const item = el("li", room === this.current ? "room current" : "room");
      item.dataset.room = room.name;
      const button = el("button", "room-button");
      button.type = "button";
      if (room === this.current) button.setAttribute("aria-current", "true");
      button.append(el("span", "room-name", room.name));
      if (room.mention) button.append(el("span", "room-mention", "@"));
      if (room.unread) button.append(el("span", "room-unread", String(room.unread)));
      button.title = room.topic || room.name;
      button.addEventListener("click", () => this.show(room.name));
      item.append(button);
      if (this.rooms.size > 1) {
        const leave = el("button", "room-leave", "×");
        leave.type = "button";
        leave.setAttribute("aria-label", `Leave ${room.name}`);
        leave.addEventListener("click", () => this.onLeave(room.name));
        item.append(leave);
      }
      return item;
    });
    this.listElement.replaceChildren(...items);
  }
}
