#!/usr/bin/env node
'use strict';
/**
 * Bundles berth-oci's compiled CommonJS modules (dist/src/cli/berth-oci.js and every relative module
 * it requires, lazily loaded command modules included) into one file plus a V8 code cache, so that
 * bin/berth-oci starts with one file read and no compilation (bench/oci-startup.md has the numbers).
 * No bundler dependency: tsc's output only uses `require('<literal>')`, which is all this follows.
 *
 *   node scripts/bundle-oci.js          (after tsc; `npm run build` and scripts/setup.sh run it)
 *
 * Writes, next to dist/src:
 *   dist/berth-oci.bundle.js     `(function (nodeRequire, repo) { ... })`: returns the CLI module
 *   dist/berth-oci.bundle.cache  V8 code cache of that script (after loading every module once)
 *   dist/berth-oci.bundle.json   manifest: each bundled file with its mtime and size; the launcher
 *                                falls back to dist/src when any of them changed (a stale bundle)
 * Modules keep their own __filename/__dirname (launch.ts finds native/build from it); anything not
 * bundled (node: builtins, packages) is required the normal way, relative to the module's file.
 */
const fs = require('fs');
const path = require('path');
const vm = require('vm');

const repo = path.resolve(__dirname, '..');
const dist = path.join(repo, 'dist');
const entry = path.join(dist, 'src', 'cli', 'berth-oci.js');
const out = path.join(dist, 'berth-oci.bundle.js');

function resolveFile(from, spec) {
  const base = path.resolve(path.dirname(from), spec);
  for (const c of [base, `${base}.js`, path.join(base, 'index.js')]) {
    try {
      if (fs.statSync(c).isFile()) return c;
    } catch {
      // next candidate
    }
  }
  throw new Error(`bundle-oci: cannot resolve ${spec} from ${from}`);
}

function main() {
  const ids = new Map(); // absolute file -> id
  const mods = []; // { file, src, deps: {spec: id} }
  const queue = [entry];
  ids.set(entry, 0);
  mods.push(null);
  while (queue.length > 0) {
    const file = queue.shift();
    const src = fs.readFileSync(file, 'utf8');
    const deps = {};
    for (const m of src.matchAll(/\brequire\((["'])(\.{1,2}\/[^"']*)\1\)/g)) {
      const spec = m[2];
      const target = resolveFile(file, spec);
      if (!ids.has(target)) {
        ids.set(target, mods.length);
        mods.push(null);
        queue.push(target);
      }
      deps[spec] = ids.get(target);
    }
    mods[ids.get(file)] = { file, src, deps };
  }

  const parts = [];
  parts.push('(function (nodeRequire, repo) {\n"use strict";\n');
  parts.push('const path = nodeRequire("path");\n');
  parts.push('const defs = [\n');
  for (const m of mods) {
    const rel = path.relative(repo, m.file);
    // The module source, wrapped like Node's own CommonJS wrapper; a trailing newline ends any comment.
    parts.push(
      `[${JSON.stringify(rel)}, ${JSON.stringify(m.deps)}, function (exports, require, module, __filename, __dirname) {\n${m.src}\n}],\n`,
    );
  }
  parts.push('];\n');
  parts.push(`const cache = new Array(defs.length);
function load(id) {
  const hit = cache[id];
  if (hit !== undefined) return hit.exports;
  const [rel, deps, fn] = defs[id];
  const filename = path.join(repo, rel);
  const module = { id: filename, filename, exports: {}, loaded: false };
  cache[id] = module;
  let own;
  const req = (spec) => {
    const dep = deps[spec];
    if (dep !== undefined) return load(dep);
    if (own === undefined) own = nodeRequire("module").createRequire(filename);
    return own(spec);
  };
  fn.call(module.exports, module.exports, req, module, filename, path.dirname(filename));
  module.loaded = true;
  return module.exports;
}
const cli = load(0);
cli.__loadAllBundled = () => { for (let i = 0; i < defs.length; i++) load(i); };
return cli;
})`);
  const code = parts.join('');
  const manifest = {
    node: process.version,
    files: mods.map((m) => {
      const st = fs.statSync(m.file);
      return [path.relative(repo, m.file), st.mtimeMs, st.size];
    }),
  };

  // Code cache: compile, load every module once (their top levels and what they run at load time get
  // compiled), then serialise. Module top levels must be side-effect free enough for this (they are:
  // constants, tables, function definitions).
  const script = new vm.Script(code, { filename: out });
  const cli = script.runInThisContext()(require, repo);
  cli.__loadAllBundled();
  const cacheData = script.createCachedData();

  const writeAtomic = (file, data) => {
    const tmp = `${file}.${process.pid}.tmp`;
    fs.writeFileSync(tmp, data);
    fs.renameSync(tmp, file);
  };
  // The manifest last: a bundle without a matching manifest is never used.
  try {
    fs.unlinkSync(`${out.slice(0, -3)}.json`);
  } catch {
    // none yet
  }
  writeAtomic(out, code);
  writeAtomic(`${out.slice(0, -3)}.cache`, cacheData);
  writeAtomic(`${out.slice(0, -3)}.json`, JSON.stringify(manifest));
  process.stderr.write(`bundle-oci: ${mods.length} modules, ${(code.length / 1024).toFixed(0)} KiB, code cache ${(cacheData.length / 1024).toFixed(0)} KiB\n`);
}

main();
