-- A short lease instead of a row lock held across the OAuth call: at most one
-- refresh per account at a time across every process, without keeping a
-- transaction (and, on the embedded engine, the whole database) open while
-- the auth server answers. A lease of a process that died expires.
ALTER TABLE upstream_accounts
  ADD COLUMN refresh_lease_owner text,
  ADD COLUMN refresh_lease_until timestamptz;
