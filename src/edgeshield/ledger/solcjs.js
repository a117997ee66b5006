#!/usr/bin/env node
// A solc-compatible command backed by solc-js (the npm "solc" package).
// Answers `--version` and `--standard-json` (standard JSON on stdin, result on stdout), which is
// all that edgeshield.ledger and Slither's crytic-compile ask of a compiler. Other flags that
// crytic-compile passes (--allow-paths ...) are accepted and ignored. Sources given by "urls"
// (as crytic-compile does) are read from disk; imports are not resolved (generated contracts
// are self-contained).
// SMTChecker: when EDGESHIELD_SMT_SOLVER names a z3 binary and the input asks for the model
// checker, each SMT-LIB2 (CHC/Horn) query solc emits is answered by that z3, run synchronously
// with EDGESHIELD_SMT_TIMEOUT_S seconds per query (default 60) instead of solc-js's fixed 10 s;
// a timeout is answered "unknown", so solc reports the target as unproved, never as safe.
"use strict";
const childProcess = require("child_process");
const fs = require("fs");
const path = require("path");

function loadSolc() {
  const explicit = process.env.EDGESHIELD_SOLC_MODULE;
  if (explicit) return require(explicit);
  const searchFrom = [process.cwd(), __dirname, path.resolve(__dirname, "../../..")];
  return require(require.resolve("solc", { paths: searchFrom }));
}

function smtCallback(solver, timeoutS) {
  return function (query) {
    const started = Date.now();
    const done = childProcess.spawnSync(solver, ["-in", "-smt2", "-T:" + Math.max(1, Math.ceil(timeoutS))], {
      input: query,
      encoding: "utf8",
      maxBuffer: 1024 * 1024 * 1024,
      timeout: (timeoutS + 10) * 1000, // z3's own -T stops it first; this is the backstop
    });
    const out = (done.stdout || "").trimStart();
    let answer = out.split(/\s/, 1)[0];
    if (!["sat", "unsat", "unknown"].includes(answer)) {
      if (answer !== "timeout" && !done.signal && !(done.error && done.error.code === "ETIMEDOUT")) {
        const why = done.error ? String(done.error) : (done.stderr || out).slice(0, 500);
        process.stderr.write("edgeshield-smt: solver failed: " + why + "\n");
        return { error: "SMT solver failed: " + why };
      }
      answer = "unknown";
    }
    process.stderr.write(
      "edgeshield-smt: " + answer + " " + ((Date.now() - started) / 1000).toFixed(3) + "\n"
    );
    return { contents: answer === "unknown" && !out.startsWith("unknown") ? "unknown\n" : out };
  };
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
  const solver = process.env.EDGESHIELD_SMT_SOLVER;
  if (solver && input.settings && input.settings.modelChecker) {
    const timeoutS = Number(process.env.EDGESHIELD_SMT_TIMEOUT_S || "60");
    const callbacks = { smtSolver: smtCallback(solver, timeoutS) };
    process.stdout.write(solc.compile(JSON.stringify(input), callbacks));
  } else {
    process.stdout.write(solc.compile(JSON.stringify(input)));
  }
});
