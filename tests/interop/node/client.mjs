// Usage: node client.mjs ws://HOST:PORT/ws
// Two users on the chat's /ws, spoken to by the ws library: a message sent in fragments with
// pings between them and a multibyte character split across fragments, then a close started by
// the client and one started by the server. Prints one JSON line per thing seen.
import WebSocket from "ws";

const url = process.argv[2];
const TEXT = "fragments → ünïcödé 😀 done";
const print = (record) => console.log(JSON.stringify(record));

function open(nick) {
  return new Promise((resolve, reject) => {
    const socket = new WebSocket(`${url}?nick=${nick}`, { perMessageDeflate: false });
    const events = [];
    const waiters = [];
    socket.on("message", (data, isBinary) => {
      for (const event of [JSON.parse(data.toString("utf8"))].flat()) {
        events.push(event);
        for (const waiter of waiters.splice(0)) waiter();
      }
    });
    socket.on("error", reject);
    socket.on("open", () => resolve({ socket, events, waiters }));
  });
}

async function expect(user, match) {
  for (;;) {
    const found = user.events.find(match);
    if (found) return found;
    await new Promise((resolve) => user.waiters.push(resolve));
  }
}

const closed = (socket) => new Promise((resolve) => socket.on("close", (code, reason) => resolve({ code, reason: reason.toString() })));

const sender = await open("nodeA");
const reader = await open("nodeB");
await expect(sender, (e) => e.type === "join" && e.nick === "nodeB");

let pongs = 0;
sender.socket.on("pong", () => pongs++);
const payload = Buffer.from(JSON.stringify({ type: "say", text: TEXT }), "utf8");
const arrow = payload.indexOf(Buffer.from("→", "utf8"));
const smiley = payload.indexOf(Buffer.from("😀", "utf8"));
const cuts = [0, arrow + 1, smiley + 2, payload.length]; // inside a 3-byte and a 4-byte character
for (let i = 0; i < cuts.length - 1; i++) {
  const fin = i === cuts.length - 2;
  sender.socket.send(payload.subarray(cuts[i], cuts[i + 1]), { binary: false, fin });
  if (!fin) sender.socket.ping(Buffer.from(`between ${i}`));
}
const heard = await expect(reader, (e) => e.type === "message" && e.nick === "nodeA");
print({ step: "fragmented", text: heard.text });
const own = await expect(sender, (e) => e.type === "message" && e.self);
print({ step: "own", text: own.text, pongs });

const senderClosed = closed(sender.socket);
sender.socket.close(1000, "bye from node");
print({ step: "client close", ...(await senderClosed) });

const left = await expect(reader, (e) => e.type === "leave" && e.nick === "nodeA");
print({ step: "left", nick: left.nick });
const readerClosed = closed(reader.socket);
reader.socket.send(JSON.stringify({ type: "say", text: "/quit" }));
print({ step: "server close", ...(await readerClosed) });
