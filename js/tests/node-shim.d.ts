// Minimal typings for the Node built-ins the tests use (the project does not
// depend on @types/node).
declare module "node:fs" {
  export function readFileSync(path: string | URL): Uint8Array;
  export function readFileSync(path: string | URL, encoding: "utf8"): string;
  export function existsSync(path: string | URL): boolean;
  export function readdirSync(path: string | URL, options: { recursive: true }): string[];
}
