//! Cross-entry rules of SPEC §1: unique names, existing references, key columns.
