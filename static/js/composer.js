// The input line: Enter sends, Up/Down walk your own earlier lines, a counter appears near the
// length limit, "/" offers the commands, and Tab completes nicks. A paste of several lines is sent
// as those lines, in order, as a terminal sends it: every door then shows each line as a message.
import { el } from "./dom.js";

export const COMMANDS = [
  { name: "/me", args: "ACTION", help: "say what you are doing" },
  { name: "/msg", args: "NICK TEXT", help: "private message to one person" },
  { name: "/nick", args: "NAME", help: "change your nick" },
  { name: "/who", args: "", help: "list everyone here" },
  { name: "/help", args: "", help: "list the commands" },
  { name: "/quit", args: "[REASON]", help: "leave the room" },
];

const HISTORY_SIZE = 100;
const COUNTER_FROM = 0.85; // show the counter once 85% of the limit is used

export class Composer {
  /** `paste` is the server's allowance for lines sent at once ({lines, size}; 0: no limit). */
  constructor({ form, input, counter, suggestions, maxLength, paste, hint, onSend, nicks }) {
    this.form = form;
    this.paste = paste;
    this.hint = hint;
    this.pasteNoted = false; // the hint shows a paste's outcome (cleared by typing)
    this.input = input;
    this.counter = counter;
    this.suggestions = suggestions;
    this.maxLength = maxLength;
    this.onSend = onSend;
    this.nicks = nicks;
    this.history = [];
    this.historyIndex = 0; // == history.length means "the line being typed"
    this.draft = "";
    this.matches = [];
    this.active = -1;
    this.completion = null; // {start, prefix, options, index} while cycling with Tab

    form.addEventListener("submit", (event) => {
      event.preventDefault();
      this.submit();
    });
    input.addEventListener("input", () => {
      this.completion = null;
      if (this.pasteNoted) this.note("");
      this.update();
    });
    input.addEventListener("keydown", (event) => this.keydown(event));
    input.addEventListener("paste", (event) => this.pasted(event));
    input.addEventListener("blur", () => setTimeout(() => this.closeSuggestions(), 150));
  }

  submit() {
    if (this.active >= 0) {
      this.choose(this.active);
      return;
    }
    const text = this.input.value;
    if (!text.trim() || text.length > this.maxLength) return;
    if (!this.onSend(text)) return; // not connected: keep the line
    if (this.history.at(-1) !== text) this.history.push(text);
    if (this.history.length > HISTORY_SIZE) this.history.shift();
    this.historyIndex = this.history.length;
    this.input.value = "";
    this.update();
  }

  /** Several pasted lines (with what was typed around them) are sent as lines, or not at all. */
  pasted(event) {
    const text = event.clipboardData?.getData("text/plain") ?? "";
    if (!/[\r\n]/.test(text.trim())) return; // one line: the input takes it as usual
    event.preventDefault();
    const { value, selectionStart, selectionEnd } = this.input;
    const whole = value.slice(0, selectionStart ?? value.length) + text + value.slice(selectionEnd ?? value.length);
    const lines = whole.split(/\r\n|\r|\n/).filter((line) => line.trim());
    const problem = this.pasteProblem(lines);
    if (problem) {
      this.note(`${problem} — nothing was sent.`);
      return;
    }
    if (!this.onSend(lines[0])) {
      this.note("Not connected — the paste was not sent.");
      return;
    }
    lines.slice(1).forEach((line) => this.onSend(line));
    this.input.value = "";
    this.note(`Sent ${lines.length} pasted lines.`);
    this.update();
  }

  /** What became of a paste, under the input until the next keystroke. */
  note(text) {
    this.hint.textContent = text;
    this.pasteNoted = Boolean(text);
  }

  pasteProblem(lines) {
    const { lines: most, size } = this.paste;
    const chars = lines.reduce((sum, line) => sum + line.length, 0);
    if (most && (lines.length > most || chars > size)) {
      return `That paste is ${lines.length} lines (${chars} characters); up to ${most} lines (${size} characters) go at once`;
    }
    const long = lines.findIndex((line) => line.length > this.maxLength);
    if (long >= 0) return `Line ${long + 1} of that paste is over the ${this.maxLength}-character limit`;
    return "";
  }

  keydown(event) {
    if (event.isComposing) return;
    const open = !this.suggestions.hidden;
    if (event.key === "Tab" && !event.shiftKey && !event.altKey && !event.ctrlKey) {
      if (open && this.matches.length) {
        event.preventDefault();
        this.choose(this.active >= 0 ? this.active : 0);
      } else if (this.completeNick()) {
        event.preventDefault();
      }
      return;
    }
    if (event.key === "Escape" && open) {
      event.preventDefault();
      this.closeSuggestions();
      return;
    }
    if (event.key === "ArrowUp" || event.key === "ArrowDown") {
      const step = event.key === "ArrowUp" ? -1 : 1;
      if (open) {
        event.preventDefault();
        const next = this.active + step; // -1 is "no suggestion chosen", between last and first
        this.highlight(next < -1 ? this.matches.length - 1 : next >= this.matches.length ? -1 : next);
      } else if (this.walkHistory(step)) {
        event.preventDefault();
      }
    }
  }

  /** Up/Down through your own earlier lines; the line being typed is kept as a draft. */
  walkHistory(step) {
    const next = this.historyIndex + step;
    if (next < 0 || next > this.history.length) return false;
    if (this.historyIndex === this.history.length) this.draft = this.input.value;
    this.historyIndex = next;
    this.input.value = next === this.history.length ? this.draft : this.history[next];
    const end = this.input.value.length;
    this.input.setSelectionRange(end, end);
    this.update();
    return true;
  }

  /** Complete the nick before the caret; repeated Tab cycles through the candidates. */
  completeNick() {
    const value = this.input.value;
    const caret = this.input.selectionStart ?? value.length;
    let state = this.completion;
    if (!state) {
      const start = value.slice(0, caret).search(/[^\s]*$/);
      const prefix = value.slice(start, caret);
      if (!prefix || prefix.startsWith("/")) return false;
      const options = this.nicks().filter((nick) => nick.toLowerCase().startsWith(prefix.toLowerCase()));
      if (!options.length) return false;
      options.sort((a, b) => a.localeCompare(b, undefined, { sensitivity: "base" }));
      state = { start, end: caret, options, index: -1 };
    }
    state.index = (state.index + 1) % state.options.length;
    const nick = state.options[state.index];
    const suffix = state.start === 0 ? ": " : " ";
    const before = value.slice(0, state.start);
    const after = value.slice(state.end);
    this.input.value = before + nick + suffix + after;
    state.end = state.start + nick.length + suffix.length;
    this.input.setSelectionRange(state.end, state.end);
    this.completion = state;
    this.update(false);
    return true;
  }

  update(suggest = true) {
    const value = this.input.value;
    const remaining = this.maxLength - value.length;
    const near = value.length >= this.maxLength * COUNTER_FROM;
    this.counter.textContent = near ? String(remaining) : "";
    this.counter.title = near ? `${remaining} characters left` : "";
    this.counter.classList.toggle("over", remaining < 0);
    if (suggest) this.suggest(value);
  }

  suggest(value) {
    const word = /^\/\S*$/.test(value) ? value.toLowerCase() : null;
    this.matches = word === null ? [] : COMMANDS.filter((command) => command.name.startsWith(word));
    if (!this.matches.length || (this.matches.length === 1 && this.matches[0].name === word && !this.matches[0].args)) {
      this.closeSuggestions();
      return;
    }
    const items = this.matches.map((command, index) => {
      const item = el("li", "suggestion");
      item.id = `suggestion-${index}`;
      item.setAttribute("role", "option");
      item.setAttribute("aria-selected", "false");
      item.append(el("span", "command", command.name));
      if (command.args) item.append(el("span", "args", ` ${command.args}`));
      item.append(el("span", "help", command.help));
      item.addEventListener("mousedown", (event) => {
        event.preventDefault();
        this.choose(index);
      });
      return item;
    });
    this.suggestions.replaceChildren(...items);
    this.suggestions.hidden = false;
    this.input.setAttribute("aria-expanded", "true");
    this.highlight(-1);
  }

  highlight(index) {
    this.active = index;
    [...this.suggestions.children].forEach((item, i) => item.setAttribute("aria-selected", String(i === index)));
    if (index >= 0) this.input.setAttribute("aria-activedescendant", `suggestion-${index}`);
    else this.input.removeAttribute("aria-activedescendant");
  }

  choose(index) {
    const command = this.matches[index];
    if (!command) return;
    this.input.value = command.args ? `${command.name} ` : command.name;
    this.closeSuggestions();
    this.input.focus();
    this.update(false);
  }

  closeSuggestions() {
    this.matches = [];
    this.suggestions.hidden = true;
    this.suggestions.replaceChildren();
    this.input.setAttribute("aria-expanded", "false");
    this.highlight(-1);
  }

  /** Put text in the input (e.g. "/msg nick ") and focus it, caret at the end. */
  prefill(text) {
    this.input.value = text;
    this.input.focus();
    this.input.setSelectionRange(text.length, text.length);
    this.update();
  }
}
