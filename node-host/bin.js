#!/usr/bin/env node
// Entry point of the `infermesh` command. Plain JavaScript on purpose: it must run on any
// Node to say clearly when the Node in use is too old to run the TypeScript sources.
const [major, minor] = process.versions.node.split('.').map(Number);
if (major < 22 || (major === 22 && minor < 18)) {
  process.stderr.write(
    `infermesh needs Node.js >= 22.18 (it runs its TypeScript sources directly); this is ${process.version}.\n`
    + 'Inside the project, `npx infermesh` and `npm start` use the Node 24 that `npm install` provides.\n');
  process.exit(1);
}
const { main } = await import('./cli.ts');
process.exitCode = await main(process.argv.slice(2));
