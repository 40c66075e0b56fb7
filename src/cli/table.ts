/** Prints rows under a header, columns padded to fit. */
export function printTable(head: string[], rows: string[][]): void {
  const w = head.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? "").length)));
  const fmt = (r: string[]) => r.map((c, i) => c.padEnd(w[i]!)).join("  ").trimEnd();
  process.stdout.write([fmt(head), ...rows.map(fmt)].join("\n") + "\n");
}
