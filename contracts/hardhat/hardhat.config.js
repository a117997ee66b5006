// Hardhat is used only as a local JSON-RPC node for edgeshield.ledger's tests: no compilation,
// no network access. The hardfork matches the embedded py-evm backend (Prague) so gas agrees.
module.exports = {
  networks: {
    hardhat: {
      hardfork: "prague",
      chainId: 31337,
      mining: { auto: true, interval: 0 },
      initialBaseFeePerGas: 0,
    },
  },
};
