// js-tiktoken publishes its rank tables through package `exports` only, which TypeScript's node10
// resolution (module: commonjs) does not read; Node and jest resolve them at run time.
declare module 'js-tiktoken/ranks/cl100k_base' {
  import type { TiktokenBPE } from 'js-tiktoken/lite';
  const ranks: TiktokenBPE;
  export default ranks;
}
