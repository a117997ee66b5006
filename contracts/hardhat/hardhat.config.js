// Hardhat is used only as a local JSON-RPC node for edgeshield.ledger's tests: no compilation,
// no network access. The hardfork matches the embedded py-evm backend (Prague), and the
// accounts are eth-tester's (private keys 1..10), so the same calls cost the same gas on both.
const keys = Array.from({ length: 10 }, (_, i) => "0x" + (i + 1).toString(16).padStart(64, "0"));

module.exports = {
  paths: {
    // Nothing is compiled here; keep any cache out of the source tree.
    cache: process.env.EDGESHIELD_HARDHAT_CACHE || require("os").tmpdir() + "/edgeshield-hardhat",
  },
  networks: {
    hardhat: {
      hardfork: "prague",
      chainId: 31337,
      mining: { auto: true, interval: 0 },
      accounts: keys.map((privateKey) => ({ privateKey, balance: "1000000000000000000000000" })),
    },
  },
};
