/**
 * A small terminal picker: a list the user walks with the arrow keys (or by typing its number)
 * and confirms with Enter. Built on node:readline's keypress events and raw mode, no packages.
 * The state machine and the drawing are pure functions; only pickInTerminal touches the tty.
 */
import { emitKeypressEvents } from 'node:readline';

export interface PickerItem {
  /** One line in the list, e.g. "2026-11-20  3 of 4 services change". */
  label: string;
  /** Lines shown under the list while this item is highlighted (its plan). */
  detail: string[];
}

export interface PickerState {
  cursor: number;
  /** Digits typed so far (a number picks the item with that number). */
  typed: string;
}

/** The subset of readline's keypress `key` the picker reads. */
export interface Key {
  name?: string;
  sequence?: string;
  ctrl?: boolean;
}

export type KeyOutcome =
  | { kind: 'move'; state: PickerState }
  | { kind: 'choose'; index: number }
  | { kind: 'cancel'; why: string };

/** What a key does (pure). */
export function reduceKey(state: PickerState, key: Key, count: number): KeyOutcome {
  const name = key.name ?? '';
  if ((key.ctrl && (name === 'c' || name === 'd')) || name === 'escape' || name === 'q') {
    return { kind: 'cancel', why: key.ctrl ? `Ctrl-${name.toUpperCase()}` : name === 'q' ? 'q' : 'Esc' };
  }
  if (name === 'return' || name === 'enter') return { kind: 'choose', index: state.cursor };
  const move = (cursor: number): KeyOutcome => ({ kind: 'move', state: { cursor: Math.min(count - 1, Math.max(0, cursor)), typed: '' } });
  switch (name) {
    case 'up':
    case 'k':
      return move(state.cursor - 1);
    case 'down':
    case 'j':
      return move(state.cursor + 1);
    case 'home':
    case 'pageup':
      return move(0);
    case 'end':
    case 'pagedown':
      return move(count - 1);
    case 'backspace': {
      const typed = state.typed.slice(0, -1);
      const n = Number(typed);
      return { kind: 'move', state: { cursor: typed && n >= 1 && n <= count ? n - 1 : state.cursor, typed } };
    }
  }
  const ch = key.sequence ?? '';
  if (/^[0-9]$/.test(ch)) {
    // Typing "1" then "2" means 12 when there are 12 items; otherwise start again from this digit.
    let typed = state.typed + ch;
    if (!(Number(typed) >= 1 && Number(typed) <= count)) typed = ch;
    const n = Number(typed);
    return { kind: 'move', state: { cursor: n >= 1 && n <= count ? n - 1 : state.cursor, typed: n >= 1 && n <= count ? typed : '' } };
  }
  return { kind: 'move', state };
}

export interface DrawOptions {
  title: string;
  /** Terminal size (0 or absent: unknown, 80x24 assumed); the list is windowed and lines cut so nothing wraps. */
  rows?: number;
  columns?: number;
  color: boolean;
  /** Omit the key help (the final drawing, after the choice). */
  final?: boolean;
}

/** The lines of the picker (pure). */
export function drawPicker(items: PickerItem[], state: PickerState, options: DrawOptions): string[] {
  const width = Math.max(20, (options.columns || 80) - 1);
  const cut = (line: string) => (line.length > width ? line.slice(0, width - 1) + '…' : line);
  const bold = (s: string) => (options.color ? `\x1b[1m${s}\x1b[22m` : s);
  const dim = (s: string) => (options.color ? `\x1b[2m${s}\x1b[22m` : s);
  const detail = items[state.cursor]?.detail ?? [];
  // Room for the list: the terminal's height minus the title, the plan and the help line.
  const room = Math.max(3, (options.rows || 24) - detail.length - 5);
  let first = 0;
  if (items.length > room) first = Math.min(Math.max(0, state.cursor - Math.floor(room / 2)), items.length - room);
  const last = Math.min(items.length, first + room);
  const numberWidth = String(items.length).length;
  const lines = [bold(cut(options.title))];
  if (first > 0) lines.push(dim(`   … ${first} newer`));
  for (let i = first; i < last; i++) {
    const mark = i === state.cursor ? '>' : ' ';
    const text = cut(`${mark} ${String(i + 1).padStart(numberWidth)}  ${items[i].label}`);
    lines.push(i === state.cursor ? bold(text) : text);
  }
  if (last < items.length) lines.push(dim(`   … ${items.length - last} older`));
  lines.push('');
  for (const d of detail) lines.push(cut(`    ${d}`));
  if (!options.final) {
    lines.push(dim(cut(`↑/↓ or a number to move, Enter to choose, Esc or q to cancel${state.typed ? `   (typed ${state.typed})` : ''}`)));
  }
  return lines;
}

export interface TerminalIn extends NodeJS.ReadableStream {
  isTTY?: boolean;
  setRawMode?: (mode: boolean) => unknown;
}

export interface TerminalOut {
  write(text: string): unknown;
  isTTY?: boolean;
  rows?: number;
  columns?: number;
}

export type PickResult = { chosen: number } | { cancelled: string };

/**
 * Shows the picker and resolves with the chosen index, or the key that cancelled.
 * Raw mode is always restored, whatever happens (a terminal left raw is unusable).
 */
export function pickInTerminal(input: TerminalIn, output: TerminalOut, items: PickerItem[], options: Omit<DrawOptions, 'rows' | 'columns' | 'final'>): Promise<PickResult> {
  return new Promise((resolve) => {
    let state: PickerState = { cursor: 0, typed: '' };
    let drawn = 0;
    const render = (final = false) => {
      const lines = drawPicker(items, state, { ...options, rows: output.rows, columns: output.columns, final });
      // Back to the top of the previous drawing, erase to the end of the screen, draw again.
      const up = drawn > 1 ? `\x1b[${drawn - 1}A` : '';
      output.write(`${drawn ? `\r${up}\x1b[J` : ''}${lines.join('\n')}`);
      drawn = lines.length;
    };
    emitKeypressEvents(input);
    const wasRaw = (input as { isRaw?: boolean }).isRaw ?? false;
    input.setRawMode?.(true);
    output.write('\x1b[?25l');
    const finish = (result: PickResult) => {
      input.removeListener('keypress', onKey);
      input.setRawMode?.(wasRaw);
      input.pause();
      render(true);
      output.write('\n\x1b[?25h');
      resolve(result);
    };
    const onKey = (_s: string | undefined, key: Key | undefined) => {
      const outcome = reduceKey(state, key ?? {}, items.length);
      if (outcome.kind === 'cancel') return finish({ cancelled: outcome.why });
      if (outcome.kind === 'choose') return finish({ chosen: outcome.index });
      state = outcome.state;
      render();
    };
    input.on('keypress', onKey);
    input.resume();
    render();
  });
}
