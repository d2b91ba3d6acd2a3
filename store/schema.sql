-- SPDX-License-Identifier: Apache-2.0
--
-- The schema of the agent's store, as versioned migrations. This file is compiled into the
-- binary (the C string qtd_schema_sql in the generated store_schema.h); store.c splits it at
-- the lines "-- migration N" (N = 1, 2, ... in order, no gaps) and applies every block whose N
-- is greater than the database's PRAGMA user_version, each in its own transaction that also
-- sets user_version = N. Blocks are append-only: never edit a released block, add a new one.
-- Not here: pragmas (journal mode, synchronous, busy timeout are set by store.c at open).

-- migration 1
-- Settings and identity (the device secret among them; the file is created 0600).
CREATE TABLE kv (
    key   TEXT PRIMARY KEY,
    value BLOB NOT NULL
);

-- Store and forward: uplinks with mode >= 1, deleted when the platform acknowledges them.
-- id grows monotonically and is never reused (AUTOINCREMENT), so replay "id > last acked"
-- is safe even after the table was emptied. created: unix time in seconds.
CREATE TABLE outbox (
    id      INTEGER PRIMARY KEY AUTOINCREMENT,
    created INTEGER,
    topic   TEXT NOT NULL,
    qos     INTEGER NOT NULL,
    payload BLOB NOT NULL
);

-- migration 2
-- Persistent counters. outbox_dropped: rows deleted by the disk cap (drop-oldest) since the
-- database was created. The outbox byte total is not stored: store.c computes it at open
-- and keeps it in memory.
CREATE TABLE meta (
    key   TEXT PRIMARY KEY,
    value INTEGER NOT NULL
) WITHOUT ROWID;

INSERT INTO meta (key, value) VALUES ('outbox_dropped', 0);
