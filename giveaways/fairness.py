"""The provably fair draw, as pure functions so `verify_draw` and anyone else can recompute it.

- Commitment: SHA-256 (hex) of the server seed (64 hex characters, as ASCII), published at creation.
- Entrants: for each eligible participant, SHA-256 (hex) of their track_id; sorted; one per line
  (joined with "\\n", no trailing newline); the entrants digest is the SHA-256 (hex) of that text.
- Random numbers: HMAC-SHA256 keyed with the server seed (ASCII) over "<entrants digest>:<counter>",
  counter = 0, 1, 2, … across the whole draw; each output is a 256-bit big-endian integer.
- A pick among n remaining entrants takes the next number x, rejects it while x >= n * floor(2^256 / n)
  (so every index is equally likely: no modulo bias) and uses x mod n. The winner leaves the pool, so
  nobody wins twice. Rewards are drawn in their published order, each for its number of winners, until
  the pool is empty.
"""

import hashlib
import hmac
import secrets
from dataclasses import dataclass

_SPACE = 1 << 256


def new_server_seed() -> str:
    return secrets.token_hex(32)


def commitment(server_seed: str) -> str:
    return hashlib.sha256(server_seed.encode()).hexdigest()


def entrant_hash(track_id: str) -> str:
    return hashlib.sha256(track_id.encode()).hexdigest()


def entrants_digest(entrants: list[str]) -> str:
    return hashlib.sha256("\n".join(entrants).encode()).hexdigest()


class _Numbers:
    def __init__(self, server_seed: str, digest: str):
        self.key, self.digest, self.counter = server_seed.encode(), digest, 0

    def next(self) -> int:
        message = f"{self.digest}:{self.counter}".encode()
        self.counter += 1
        return int.from_bytes(hmac.new(self.key, message, hashlib.sha256).digest(), "big")

    def below(self, n: int) -> int:
        limit = _SPACE - _SPACE % n
        while True:
            x = self.next()
            if x < limit:
                return x % n


@dataclass(frozen=True)
class Pick:
    reward_tag: str
    entrant: str  # the winner's entrant hash


def draw_winners(*, server_seed: str, entrants: list[str], rewards: list[tuple[str, int]]) -> list[Pick]:
    """`entrants` in published (sorted) order; `rewards` as (tag, number of winners) in draw order."""
    numbers = _Numbers(server_seed, entrants_digest(entrants))
    pool = list(entrants)
    picks = []
    for tag, winners in rewards:
        for _ in range(winners):
            if not pool:
                return picks
            picks.append(Pick(tag, pool.pop(numbers.below(len(pool)))))
    return picks
