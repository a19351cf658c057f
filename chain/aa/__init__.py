"""Passkey accounts (ERC-4337, EntryPoint v0.8): consumers without a wallet.

- :mod:`chain.aa.entrypoint` — EntryPoint v0.8 from the pinned npm package, at its canonical
  CREATE2 address;
- :mod:`chain.aa.deploy` — the factory and the sponsoring paymaster, hooked into ``deploy_all``;
- :mod:`chain.aa.userop` — user operations: fields, packing, EIP-712 userOpHash, ERC-7821 batches,
  preVerificationGas;
- :mod:`chain.aa.webauthn` — WebAuthn assertions (browser or software passkey) in the on-chain
  format, low-s normalisation;
- :mod:`chain.aa.erc7739` — ERC-1271 signatures of accounts (nested typed data);
- :mod:`chain.aa.clients` — the stack's contracts and the operations an account sends.
"""
