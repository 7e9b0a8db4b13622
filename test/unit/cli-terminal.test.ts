import { drawPicker, reduceKey, type PickerItem, type PickerState } from '../../src/cli/terminal';

const s = (cursor: number, typed = ''): PickerState => ({ cursor, typed });

describe('reduceKey', () => {
  it('moves with the arrows and stays inside the list', () => {
    expect(reduceKey(s(0), { name: 'down' }, 3)).toEqual({ kind: 'move', state: s(1) });
    expect(reduceKey(s(2), { name: 'down' }, 3)).toEqual({ kind: 'move', state: s(2) });
    expect(reduceKey(s(0), { name: 'up' }, 3)).toEqual({ kind: 'move', state: s(0) });
    expect(reduceKey(s(1), { name: 'end' }, 3)).toEqual({ kind: 'move', state: s(2) });
  });

  it('chooses the highlighted item on Enter', () => {
    expect(reduceKey(s(2), { name: 'return' }, 3)).toEqual({ kind: 'choose', index: 2 });
  });

  it('jumps to a typed number, two digits when the list is that long', () => {
    expect(reduceKey(s(0), { name: '3', sequence: '3' }, 12)).toEqual({ kind: 'move', state: s(2, '3') });
    expect(reduceKey(s(0, '1'), { name: '2', sequence: '2' }, 12)).toEqual({ kind: 'move', state: s(11, '12') });
    // 13 does not exist: start again from 3.
    expect(reduceKey(s(0, '1'), { name: '3', sequence: '3' }, 12)).toEqual({ kind: 'move', state: s(2, '3') });
    // 9 does not exist in a list of 3: nothing moves.
    expect(reduceKey(s(1), { name: '9', sequence: '9' }, 3)).toEqual({ kind: 'move', state: s(1, '') });
  });

  it('cancels on Esc, q and Ctrl-C', () => {
    expect(reduceKey(s(0), { name: 'escape' }, 3)).toEqual({ kind: 'cancel', why: 'Esc' });
    expect(reduceKey(s(0), { name: 'q', sequence: 'q' }, 3)).toEqual({ kind: 'cancel', why: 'q' });
    expect(reduceKey(s(0), { name: 'c', ctrl: true }, 3)).toEqual({ kind: 'cancel', why: 'Ctrl-C' });
  });
});

describe('drawPicker', () => {
  const items: PickerItem[] = ['2026-11-20', '2026-11-17', '2026-11-13'].map((d, i) => ({ label: `${d}  ${3 - i} change`, detail: [`Plan for ${d}:`, `orders  x -> y${i}`] }));

  it('marks the highlighted date and shows its plan under the list', () => {
    const lines = drawPicker(items, s(1), { title: 'Which date?', color: false });
    expect(lines[0]).toBe('Which date?');
    expect(lines.filter((l) => l.startsWith('>'))).toEqual(['> 2  2026-11-17  2 change']);
    expect(lines).toContain('    Plan for 2026-11-17:');
    expect(lines).toContain('    orders  x -> y1');
    expect(lines.join('\n')).not.toContain('y0');
    expect(lines[lines.length - 1]).toMatch(/Enter to choose/);
  });

  it('windows a long list around the cursor and cuts lines to the width', () => {
    const many: PickerItem[] = Array.from({ length: 40 }, (_, i) => ({ label: `day ${i + 1} ${'x'.repeat(100)}`, detail: [] }));
    const lines = drawPicker(many, s(20), { title: 't', color: false, rows: 15, columns: 40 });
    expect(lines.length).toBeLessThanOrEqual(15);
    expect(lines.some((l) => l.startsWith('> 21'))).toBe(true);
    expect(lines.some((l) => /newer/.test(l)) && lines.some((l) => /older/.test(l))).toBe(true);
    expect(lines.every((l) => l.length <= 39)).toBe(true);
  });

  it('drops the key help once chosen', () => {
    expect(drawPicker(items, s(0), { title: 't', color: false, final: true }).join('\n')).not.toMatch(/Enter/);
  });
});
