"""A write-load client: small committed transactions through the cluster's rw path.

Every attempt gets a unique id; the row records the server's address, its timeline and
the server's clock. Each attempt is classed as:

- ``ack``: the INSERT returned (autocommit: it is committed);
- ``failed``: refused before or without reaching a server that could commit it
  (no connection, a read-only server, any error the server reported);
- ``indeterminate``: the connection broke while the statement was in flight, so the
  client cannot know whether it committed.
"""

import contextlib
import dataclasses
import statistics
import threading
import time
import uuid

import psycopg

TABLE = "chaos_writes"
CREATE = (f"CREATE TABLE IF NOT EXISTS {TABLE} (id uuid PRIMARY KEY, addr inet NOT NULL, "
          "timeline text NOT NULL, at timestamptz NOT NULL DEFAULT clock_timestamp())")
# The current timeline is the first 8 hex digits of the WAL file being written.
INSERT = (f"INSERT INTO {TABLE} (id, addr, timeline) VALUES (%s, inet_server_addr(), "
          "substr(pg_walfile_name(pg_current_wal_lsn()), 1, 8)) RETURNING addr, timeline")


@dataclasses.dataclass
class Attempt:
    id: str
    started: float
    ended: float
    outcome: str  # ack | failed | indeterminate
    addr: str = ""
    timeline: str = ""
    error: str = ""


class Writer:
    """Commits one row every INTERVAL seconds until stopped, reconnecting as needed."""

    def __init__(self, conninfo, interval=0.05, connect_timeout=2):
        self.conninfo = conninfo
        self.interval = interval
        self.connect_timeout = connect_timeout
        self.attempts = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._conn = None

    def prepare(self):
        """An empty table: every row read back afterwards was written by this run."""
        with psycopg.connect(self.conninfo, autocommit=True,
                             connect_timeout=self.connect_timeout) as conn:
            conn.execute(CREATE)
            conn.execute(f"TRUNCATE {TABLE}")

    def start(self):
        self._thread.start()
        return self

    def bulk(self, rows):
        """Write ROWS padded rows in one transaction (about 100 bytes of WAL each), beside
        the steady load: a way to put a replica that cannot stream further behind."""
        with psycopg.connect(self.conninfo, autocommit=True,
                             connect_timeout=self.connect_timeout) as conn:
            conn.execute("CREATE TABLE IF NOT EXISTS chaos_bulk (pad text)")
            conn.execute("INSERT INTO chaos_bulk SELECT repeat('x', 100) "
                         "FROM generate_series(1, %s)", (rows,))

    def stop(self):
        self._stop.set()
        self._thread.join(30)
        if self._conn is not None:
            self._conn.close()
        return self.attempts

    def _run(self):
        while not self._stop.is_set():
            self.attempts.append(self._attempt())
            self._stop.wait(self.interval)

    def _attempt(self):
        ident = str(uuid.uuid4())
        started = time.time()
        try:
            if self._conn is None or self._conn.closed:
                self._conn = psycopg.connect(self.conninfo, autocommit=True,
                                             connect_timeout=self.connect_timeout)
        except psycopg.Error as exc:
            self._conn = None
            return Attempt(ident, started, time.time(), "failed", error=_first_line(exc))
        try:
            addr, timeline = self._conn.execute(INSERT, (ident,)).fetchone()
            return Attempt(ident, started, time.time(), "ack", str(addr), timeline)
        except psycopg.OperationalError as exc:
            # The server may have committed before the connection broke.
            self._conn.close()
            self._conn = None
            outcome = "failed" if _reported_by_server(exc) else "indeterminate"
            return Attempt(ident, started, time.time(), outcome, error=_first_line(exc))
        except psycopg.Error as exc:
            self._conn.close()
            self._conn = None
            return Attempt(ident, started, time.time(), "failed", error=_first_line(exc))


def _reported_by_server(exc):
    """An error with an SQLSTATE came from a server that answered (e.g. shutting down
    before it ran the statement), not from a connection lost mid-statement."""
    return getattr(exc, "sqlstate", None) not in (None, "08006", "08003", "08000")


def _first_line(exc):
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__


def read_back(conninfo, tries=10):
    """Every row the cluster holds now: {id: (addr, timeline, server time)}. A pooler may
    answer with a login error it cached during a failover for a while: tried again."""
    for attempt in range(tries):
        try:
            with psycopg.connect(conninfo, autocommit=True, connect_timeout=5) as conn:
                rows = conn.execute(
                    f"SELECT id, addr, timeline, extract(epoch FROM at) FROM {TABLE}")
                return {str(i): (str(a), t, float(at)) for i, a, t, at in rows.fetchall()}
        except psycopg.OperationalError:
            if attempt + 1 == tries:
                raise
            time.sleep(1)


@contextlib.contextmanager
def measured(conninfo, interval=0.05):
    """Write through CONNINFO for the block; the dict it yields gets the attempts, the
    failed ones' errors, the acknowledged writes the cluster does not hold (``lost``),
    and the longest and the median attempt in seconds."""
    writer = Writer(conninfo, interval=interval)
    writer.prepare()
    writer.start()
    time.sleep(1)
    outcome = {}
    try:
        yield outcome
    finally:
        time.sleep(1)
        attempts = writer.stop()
        held = read_back(conninfo)
        outcome["attempts"] = len(attempts)
        outcome["failed"] = [a.error for a in attempts if a.outcome != "ack"]
        outcome["lost"] = [a.id for a in attempts if a.outcome == "ack" and a.id not in held]
        durations = [a.ended - a.started for a in attempts]
        outcome["max_latency"] = round(max(durations), 3)
        outcome["median_latency"] = round(statistics.median(durations), 3)
