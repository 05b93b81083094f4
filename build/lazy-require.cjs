// Put at the top of the CLI bundle by build/bundle-cli.mjs (PIGEON_LAZY is
// defined just above it there): the bundle's `require` of each module named
// in PIGEON_LAZY returns a stand-in that loads the real module on first use
// (a property read, a call, `new`), through Node's own require.
// Why: a `pigeon peer` start loaded node:http, https, zlib, worker_threads,
// child_process, readline and the ws package (with what they load) for code
// that runs only with a relay, the web UI, LocalSend, a file transfer or
// `pigeon chat`: about a fifth of the built-in modules a start loaded.
// The bundler's interop (__toESM) makes an object whose prototype is the
// required module's: the stand-in answers that with a forwarding object, so
// named imports read through it load the module only when first read, and
// reading `__esModule` loads nothing.
// tests/integration/cli-bundle.test.ts checks that a peer start loads none of
// them and that the stand-ins behave as the modules.
/* global PIGEON_LAZY */
var require = ((nodeRequire) => {
  const lazy = new Set(PIGEON_LAZY);
  const standIn = (id) => {
    let real;
    const load = () => (real ??= nodeRequire(id));
    const forward = new Proxy(Object.create(null), { get: (_, key) => Reflect.get(load(), key) });
    const stand = new Proxy(function () {}, {
      get: (_, key) => (key === '__esModule' && real === undefined ? undefined : Reflect.get(load(), key)),
      set: (_, key, value) => Reflect.set(load(), key, value),
      has: (_, key) => Reflect.has(load(), key),
      getPrototypeOf: () => forward,
      apply: (_, self, args) => Reflect.apply(load(), self, args),
      // `new Stand()` makes the real class's object; a subclass's super() call keeps the subclass.
      construct: (_, args, newTarget) => Reflect.construct(load(), args, newTarget === stand ? load() : newTarget),
    });
    return stand;
  };
  return Object.assign((id) => (lazy.has(id.replace(/^node:/, '')) ? standIn(id) : nodeRequire(id)), nodeRequire);
})(require);
