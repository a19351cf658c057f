"""Provenance: GS1 EPCIS events, content-addressed documents, Merkle anchoring and verification."""
