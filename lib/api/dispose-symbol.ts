// Symbol.asyncDispose: Node 20 defines it as Symbol.for('nodejs.asyncDispose'). Where a runtime lacks
// it, install that same registered symbol, as Node itself does, so `await using` and explicit
// `vm[Symbol.asyncDispose]()` calls agree. Imported for its side effect before classes use the symbol.
const symbolCtor = Symbol as unknown as { asyncDispose?: symbol };
if (typeof symbolCtor.asyncDispose !== 'symbol') {
  Object.defineProperty(Symbol, 'asyncDispose', { value: Symbol.for('nodejs.asyncDispose'), writable: false, enumerable: false, configurable: false });
}
export {};
