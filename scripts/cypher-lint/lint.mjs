#!/usr/bin/env node
// Offline check of every cypher/**/*.cypher file with Neo4j's own Cypher parser and semantic
// front-end (@neo4j-cypher/language-support: the ANTLR grammar of the server plus the server's
// semantic analysis compiled to JavaScript). No Neo4j server is needed.
//
//   cd scripts/cypher-lint && npm install      # once (needs the npm registry)
//   node scripts/cypher-lint/lint.mjs          # from the repository root
//   node scripts/cypher-lint/lint.mjs --json   # machine-readable (used by tests/test_cypher_files.py)
//   node scripts/cypher-lint/lint.mjs --strict # warnings (deprecations, ...) fail too
//
// Every file is linted as Cypher 5 (the default language of Neo4j 5.26 and 2025.x) and as
// Cypher 25, against the function/procedure signatures the package ships for a Neo4j server
// with GDS installed (so gds.* calls are type-checked too). Parameters are not checked here:
// nifgraph.cypher.load() already checks them against the '// params:' header.
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Worker, isMainThread, parentPort, workerData } from 'node:worker_threads';

const here = dirname(fileURLToPath(import.meta.url));
const VERSIONS = ['CYPHER 5', 'CYPHER 25'];

// One worker thread per Cypher version (the parser is CPU-bound; this halves the wall time).
function lintAll(version, files) {
  return import('@neo4j-cypher/language-support').then(({ lintCypherQuery, isNotParamError, testData }) => {
    // Functions and procedures (built-ins and GDS 2.x) of a real server, as shipped with the
    // package for its own tests; labels/properties are left out so no "not in the database"
    // warnings appear for a database that does not exist here.
    const schema = {
      functions: testData.mockSchema.functions,
      procedures: testData.mockSchema.procedures,
      defaultLanguage: version,
    };
    // Self-check: the package swallows exceptions of its semantic analysis (and asks for a newer
    // Node than 20), so make sure both the parser and the semantic pass really report here.
    const probe = (q) => lintCypherQuery(q, schema, { consoleCommandsEnabled: false }).diagnostics.map((d) => d.message);
    const syntax = probe('MATCH (n) RETRN n');
    const semantic = probe('MATCH (n) RETURN m');
    const signature = probe('RETURN gds.version(1) AS v');
    if (
      !syntax.some((m) => m.includes("Invalid input 'RETRN'")) ||
      !semantic.some((m) => m.includes('Variable `m` not defined')) ||
      !signature.some((m) => m.includes('gds.version has signature'))
    ) {
      throw new Error(
        `the Cypher checks do not work in this Node.js (${process.version}): ` +
          JSON.stringify({ syntax, semantic, signature }),
      );
    }
    const out = [];
    for (const file of files) {
      const text = readFileSync(file, 'utf8');
      const { diagnostics } = lintCypherQuery(text, schema, { consoleCommandsEnabled: false });
      for (const d of diagnostics.filter(isNotParamError)) {
        out.push({
          file,
          line: d.range.start.line + 1,
          column: d.range.start.character + 1,
          severity: d.severity === 1 ? 'error' : 'warning',
          message: d.message.replace(/\s+/g, ' ').trim(),
        });
      }
    }
    return out;
  });
}

if (!isMainThread) {
  lintAll(workerData.version, workerData.files).then(
    (r) => parentPort.postMessage({ ok: true, diagnostics: r }),
    (e) => parentPort.postMessage({ ok: false, error: String(e) }),
  );
} else {
  await main();
}

async function main() {
  const args = process.argv.slice(2);
  const json = args.includes('--json');
  const strict = args.includes('--strict');
  const positional = args.filter((a) => !a.startsWith('--'));
  const root = resolve(positional[0] ?? join(here, '..', '..', 'cypher'));

  function walk(dir) {
    const out = [];
    for (const name of readdirSync(dir).sort()) {
      const p = join(dir, name);
      if (statSync(p).isDirectory()) out.push(...walk(p));
      else if (name.endsWith('.cypher')) out.push(p);
    }
    return out;
  }
  const files = walk(root);

  let perVersion;
  try {
    perVersion = await Promise.all(
      VERSIONS.map(
        (version) =>
          new Promise((ok, fail) => {
            const w = new Worker(fileURLToPath(import.meta.url), { workerData: { version, files } });
            w.once('message', (m) => (m.ok ? ok(m.diagnostics) : fail(new Error(m.error))));
            w.once('error', fail);
          }),
      ),
    );
  } catch (e) {
    const missing = /Cannot find (module|package)|ERR_MODULE_NOT_FOUND/.test(String(e));
    console.error(
      (missing
        ? 'cannot load @neo4j-cypher/language-support; run `npm install` in scripts/cypher-lint first\n'
        : 'the Cypher checker failed\n') + String(e),
    );
    process.exit(3);
  }

  const seen = new Map();
  const report = [];
  let errors = 0;
  let warnings = 0;
  VERSIONS.forEach((version, k) => {
    for (const d of perVersion[k]) {
      const key = `${d.file}:${d.line}:${d.column}:${d.message}`;
      if (seen.has(key)) {
        seen.get(key).versions.push(version);
        continue;
      }
      const item = { ...d, file: relative(process.cwd(), d.file), versions: [version] };
      seen.set(key, item);
      report.push(item);
      if (item.severity === 'error') errors += 1;
      else warnings += 1;
    }
  });
  report.sort((a, b) => a.file.localeCompare(b.file) || a.line - b.line || a.column - b.column);


  if (json) {
    console.log(JSON.stringify({ files: files.length, errors, warnings, diagnostics: report }, null, 1));
  } else {
    for (const d of report) {
      console.log(
        `${d.file}:${d.line}:${d.column}: ${d.severity}: ${d.message} [${d.versions.join(', ')}]`,
      );
    }
    console.log(`${files.length} files checked: ${errors} error(s), ${warnings} warning(s)`);
  }
  process.exit(errors > 0 || (strict && warnings > 0) ? 1 : 0);
}
