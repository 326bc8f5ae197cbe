// The door badge next to a nick: which front door (web, telnet, tls, ssh) the person came in by.
import { el } from "./dom.js";

const DOORS = new Set(["web", "telnet", "tls", "ssh"]);

/** A badge for a door the server named; anything unknown shows as "web", the page's own door. */
export function badge(gateway) {
  const door = DOORS.has(gateway) ? gateway : "web";
  return el("span", `badge badge-${door}`, door);
}
