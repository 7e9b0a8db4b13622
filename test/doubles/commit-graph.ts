/** The commits reachable from `start` (itself included), newest first along first parents: what both git-host doubles compare with. */
export function reachable(start: string, parentsOf: (id: string) => string[]): string[] {
  const seen: string[] = [];
  const todo = [start];
  while (todo.length) {
    const id = todo.pop()!;
    if (seen.includes(id)) continue;
    seen.push(id);
    todo.push(...parentsOf(id));
  }
  return seen;
}
