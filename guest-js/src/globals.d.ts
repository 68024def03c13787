/** The few globals the SDK and a function may use that exist both in componentize-js (StarlingMonkey) and in Node. */

declare class TextEncoder {
  encode(input?: string): Uint8Array;
}

declare class TextDecoder {
  constructor(label?: string, options?: { fatal?: boolean });
  decode(input?: Uint8Array): string;
}

declare const console: {
  log(...data: unknown[]): void;
  error(...data: unknown[]): void;
};

declare const performance: {
  now(): number;
};
