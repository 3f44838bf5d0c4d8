// Placeholder until this command lands.
export function run(_argv: string[]): Promise<number> {
  process.stderr.write(`k8s-ee: this command is not built yet\n`);
  return Promise.resolve(1);
}
