#!/usr/bin/env python3
"""An independent subscriber of vLLM-style KV-cache events (pyzmq + msgpack), for checking Swerve's.

Written from vLLM's wire format, not from Swerve's code: a ZMQ SUB socket receives multipart messages
(topic, 8-byte big-endian sequence number, msgpack KVEventBatch = [ts, events, (data_parallel_rank)]),
whose events are BlockStored / BlockRemoved / AllBlocksCleared, either as maps with a "type" key or as
positional arrays led by the type name. A ROUTER replay socket, asked with [b"", start] from a DEALER,
answers [b"", topic, seq, payload] for every kept batch from `start`, then seq -1.

It replays every event into a set of cached block hashes. On SIGINT/SIGTERM (or when --stop-file appears)
it drains what is left, asks the server for its cached-block set (GET /kv_events/cached_blocks), and prints
one JSON summary line; exit status 1 if a batch could not be decoded, a sequence gap was not filled, or the
two sets differ.

    scripts/kv-events-subscriber.py --endpoint tcp://127.0.0.1:5557 --replay tcp://127.0.0.1:5558 \
        --server http://127.0.0.1:8000 --replay-from 0
"""
import argparse
import json
import os
import signal
import sys
import time
import urllib.request

import msgpack
import zmq

END = -1
FNV_OFFSET, FNV_PRIME, MASK = 0xCBF29CE484222325, 0x100000001B3, (1 << 64) - 1


def swerve_block_hash(parent, tokens):
    """Swerve's documented block hash: FNV-1a (64-bit) continued from the parent's hash (the FNV offset basis
    for a sequence's first block) over each token id as 8 little-endian bytes of its 32-bit two's complement,
    then the extra key (none: 0xFFFFFFFFFFFFFFFF) the same way."""
    h = FNV_OFFSET if parent is None else parent
    for value in [t & 0xFFFFFFFF for t in tokens] + [MASK]:
        for shift in range(0, 64, 8):
            h = ((h ^ ((value >> shift) & 0xFF)) * FNV_PRIME) & MASK
    return h


def decode_event(event):
    """(type, fields) from either encoding."""
    if isinstance(event, dict):
        fields = dict(event)
        return fields.pop("type"), fields
    kind, rest = event[0], list(event[1:])
    names = {
        "BlockStored": ["block_hashes", "parent_block_hash", "token_ids", "block_size", "lora_id", "medium",
                        "lora_name", "extra_keys"],
        "BlockRemoved": ["block_hashes", "medium"],
        "AllBlocksCleared": [],
    }[kind]
    return kind, dict(zip(names, rest))


class Mirror:
    def __init__(self, check_hashes=False):
        self.check_hashes = check_hashes
        self.hashes_checked = 0
        self.cached = set()
        self.counts = {"BlockStored": 0, "BlockRemoved": 0, "AllBlocksCleared": 0}
        self.stored_blocks = 0
        self.removed_blocks = 0
        self.batches = 0
        self.problems = []
        self.last_seq = -1
        self.replayed = 0
        self.tiers = {}

    def apply(self, seq, payload):
        if seq <= self.last_seq:
            return
        batch = msgpack.unpackb(payload, raw=False, strict_map_key=False)
        if not isinstance(batch, list) or len(batch) not in (2, 3) or not isinstance(batch[0], float):
            self.problems.append(f"batch {seq} is not [ts, events, (rank)]: {batch!r:.200}")
            return
        for event in batch[1]:
            kind, fields = decode_event(event)
            self.counts[kind] += 1
            medium = fields.get("medium") or "GPU"
            if kind != "AllBlocksCleared" and medium != "GPU":
                # A lower KV tier's block ("CPU", "DISK"): kept apart from the pool's, which the server lists.
                held = self.tiers.setdefault(medium, set())
                if kind == "BlockStored":
                    held.update(fields["block_hashes"])
                else:
                    held.difference_update(fields["block_hashes"])
                continue
            if kind == "BlockStored":
                hashes, size, tokens = fields["block_hashes"], fields["block_size"], fields["token_ids"]
                if len(tokens) != len(hashes) * size:
                    self.problems.append(f"batch {seq}: {len(hashes)} blocks of {size} but {len(tokens)} tokens")
                self.cached.update(hashes)
                self.stored_blocks += len(hashes)
                if self.check_hashes:
                    parent = fields["parent_block_hash"]
                    for i, h in enumerate(hashes):
                        if swerve_block_hash(parent, tokens[i * size:(i + 1) * size]) != h:
                            self.problems.append(f"batch {seq}: block {h} does not hash from its parent and tokens")
                        parent = h
                        self.hashes_checked += 1
            elif kind == "BlockRemoved":
                for h in fields["block_hashes"]:
                    if h not in self.cached:
                        self.problems.append(f"batch {seq}: removed block {h} was never stored")
                    self.cached.discard(h)
                self.removed_blocks += len(fields["block_hashes"])
            else:
                self.cached.clear()
        self.batches += 1
        self.last_seq = seq


def replay(context, endpoint, mirror, start):
    dealer = context.socket(zmq.DEALER)
    dealer.setsockopt(zmq.LINGER, 0)
    dealer.connect(endpoint)
    dealer.send_multipart([b"", start.to_bytes(8, "big")])
    deadline = time.time() + 5
    while time.time() < deadline:
        if not dealer.poll(100):
            continue
        frames = dealer.recv_multipart()
        seq = int.from_bytes(frames[-2], "big", signed=True)
        if seq == END:
            dealer.close()
            return True
        before = mirror.batches
        mirror.apply(seq, frames[-1])
        mirror.replayed += mirror.batches - before
    dealer.close()
    return False


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--endpoint", required=True, help="the server's PUB endpoint")
    parser.add_argument("--replay", help="the server's replay (ROUTER) endpoint")
    parser.add_argument("--topic", default="")
    parser.add_argument("--server", help="the server's HTTP address, to compare its cached-block set")
    parser.add_argument("--replay-from", type=int, help="replay from this sequence number on start")
    parser.add_argument("--stop-file", help="stop when this file exists")
    parser.add_argument("--ready-file", help="create this file once subscribed")
    parser.add_argument("--check-hashes", action="store_true",
                        help="recompute every stored block's hash by Swerve's documented scheme")
    args = parser.parse_args()

    stopping = []
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stopping.append(True))
    context = zmq.Context()
    sub = context.socket(zmq.SUB)
    sub.setsockopt(zmq.LINGER, 0)
    sub.connect(args.endpoint)
    sub.setsockopt(zmq.SUBSCRIBE, args.topic.encode())
    mirror = Mirror(args.check_hashes)
    gaps = 0
    unfilled = 0
    time.sleep(0.3)  # the subscription reaches the publisher asynchronously
    if args.replay and args.replay_from is not None:
        if not replay(context, args.replay, mirror, args.replay_from):
            mirror.problems.append("the initial replay did not end with seq -1")
    if args.ready_file:
        open(args.ready_file, "w").close()

    def receive(timeout_ms):
        nonlocal gaps, unfilled
        if not sub.poll(timeout_ms):
            return False
        topic, seq_bytes, payload = sub.recv_multipart()
        seq = int.from_bytes(seq_bytes, "big", signed=True)
        if mirror.last_seq >= 0 and seq > mirror.last_seq + 1:
            gaps += 1
            if args.replay:
                replay(context, args.replay, mirror, mirror.last_seq + 1)
            if seq > mirror.last_seq + 1:
                unfilled += 1
                mirror.problems.append(f"gap before {seq} not filled (last {mirror.last_seq})")
        mirror.apply(seq, payload)
        return True

    while not stopping and not (args.stop_file and os.path.exists(args.stop_file)):
        receive(100)
    drained_at = time.time()
    while time.time() - drained_at < 0.5:
        if receive(100):
            drained_at = time.time()

    summary = {
        "batches": mirror.batches,
        "last_seq": mirror.last_seq,
        "replayed_batches": mirror.replayed,
        "events": mirror.counts,
        "stored_blocks": mirror.stored_blocks,
        "removed_blocks": mirror.removed_blocks,
        "gaps": gaps,
        "cached_blocks": len(mirror.cached),
        "hashes_checked": mirror.hashes_checked,
        "tier_blocks": {medium: len(held) for medium, held in mirror.tiers.items()},
    }
    ok = not mirror.problems
    if args.server:
        with urllib.request.urlopen(args.server.rstrip("/") + "/kv_events/cached_blocks") as response:
            server = set(json.load(response)["block_hashes"])
        summary["server_cached_blocks"] = len(server)
        summary["only_in_events"] = len(mirror.cached - server)
        summary["only_in_server"] = len(server - mirror.cached)
        summary["sets_equal"] = mirror.cached == server
        ok = ok and mirror.cached == server
    summary["problems"] = mirror.problems[:10]
    print(json.dumps(summary), flush=True)
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
