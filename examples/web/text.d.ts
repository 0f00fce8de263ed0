/** Text files bundled into the page by esbuild's `text` loader (see build.ts). */
declare module '*.txt' {
  const text: string;
  export default text;
}
