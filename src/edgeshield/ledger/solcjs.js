#!/usr/bin/env node
// A solc-compatible command backed by solc-js (the npm "solc" package).
// Answers `--version` and `--standard-json` (standard JSON on stdin, result on stdout), which is
// all that edgeshield.ledger and Slither's crytic-compile ask of a compiler. Other flags that
// crytic-compile passes (--allow-paths ...) are accepted and ignored. Sources given by "urls"
// (as crytic-compile does) are read from disk; imports are not resolved (generated contracts
// are self-contained).
"use strict";
const fs = require("fs");
const path = require("path");

function loadSolc() {
  const explicit = process.env.EDGESHIELD_SOLC_MODULE;
  if (explicit) return require(explicit);
  const searchFrom = [process.cwd(), __dirname, path.resolve(__dirname, "../../..")];
  return require(require.resolve("solc", { paths: searchFrom }));
}

const solc = loadSolc();
const args = process.argv.slice(2);
if (args.includes("--version")) {
  process.stdout.write(
    "solc, the solidity compiler commandline interface\nVersion: " + solc.version() + "\n"
  );
  process.exit(0);
}
if (!args.includes("--standard-json")) {
  process.stderr.write("solcjs.js: only --version and --standard-json are supported\n");
  process.exit(2);
}
const chunks = [];
process.stdin.on("data", (chunk) => chunks.push(chunk));
process.stdin.on("end", () => {
  const input = JSON.parse(Buffer.concat(chunks).toString("utf8"));
  // crytic-compile cannot pass an EVM version in standard-JSON mode: take it from the env.
  const evm = process.env.EDGESHIELD_EVM_VERSION;
  if (evm) {
    input.settings = input.settings || {};
    if (!input.settings.evmVersion) input.settings.evmVersion = evm;
  }
  for (const source of Object.values(input.sources || {})) {
    if (source.content === undefined && Array.isArray(source.urls) && source.urls.length > 0) {
      source.content = fs.readFileSync(source.urls[0], "utf8");
      delete source.urls;
    }
  }
  process.stdout.write(solc.compile(JSON.stringify(input)));
});
