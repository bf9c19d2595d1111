"""What a fault did to the writes: lost, unexpected, split-brain, and the recovery time."""

import itertools


def check(attempts, rows, fault_at):
    """Compare the client's ATTEMPTS with the ROWS read back after the fault healed.

    attempts: load.Attempt records; rows: {id: (addr, timeline, server time)};
    fault_at: when the fault was injected (client clock, seconds since the epoch).
    """
    acked = {a.id: a for a in attempts if a.outcome == "ack"}
    attempted = {a.id for a in attempts}
    present = set(rows)
    return {
        "attempts": len(attempts),
        "acked": len(acked),
        "failed": sum(a.outcome == "failed" for a in attempts),
        "indeterminate": sum(a.outcome == "indeterminate" for a in attempts),
        "lost": sorted(set(acked) - present),
        "unexpected": sorted(present - attempted),
        "split_brain": split_brain(acked.values()),
        "rto": rto(acked.values(), fault_at),
    }


def split_brain(acked):
    """Acknowledged writes that a superseded leader took after a newer one took writes.

    Timelines only grow; once a write is acknowledged on a newer timeline, any later
    acknowledgement on an older one came from a second leader. So did two servers
    acknowledging on the same timeline in overlapping periods.
    """
    found = []
    by_time = sorted(acked, key=lambda a: a.ended)
    newest = None
    for a in by_time:
        if newest is not None and (a.timeline < newest.timeline or (
                a.timeline == newest.timeline and a.addr != newest.addr
                and a.started < newest.ended)):
            found.append(f"{a.id} acked by {a.addr} (timeline {a.timeline}) after "
                         f"{newest.addr} acked on timeline {newest.timeline}")
        if newest is None or a.timeline >= newest.timeline:
            newest = a
    return found


def rto(acked, fault_at):
    """The longest wait between two consecutive acknowledged writes once the fault hit.

    That is the outage a client saw: from the last write acknowledged before it to the
    first acknowledged after it, wherever the injection's own delay put the fault. None
    when no write was acknowledged after the fault (the cluster did not recover).
    """
    ends = sorted(a.ended for a in acked)
    if not ends or ends[0] > fault_at:
        ends.insert(0, fault_at)  # nothing was acknowledged before: count from the fault
    gaps = [b - a for a, b in itertools.pairwise(ends) if b > fault_at]
    return max(gaps) if gaps else None
