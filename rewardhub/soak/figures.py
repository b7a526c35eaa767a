"""The figures `make soak` prints at the end (and the README's Reliability section quotes)."""

from collections import Counter
from dataclasses import dataclass, field

from rewardhub.soak.clients import Exchange


@dataclass
class Figures:
    answers: dict[str, Counter] = field(default_factory=dict)  # suite → Counter of status (None: no answer)
    seconds: dict[str, float] = field(default_factory=dict)  # suite → first request sent to last answer
    workers_killed: int = 0
    postgres_restarts: int = 0
    outages: list[float] = field(default_factory=list)  # seconds from each restart until the server answered 200
    lost: int = 0  # success answers whose event is not stored
    doubled: int = 0  # events stored, credited or answered as new more than once
    audits: int = 0  # ledger_audit runs after a suite, all clean (a failing one fails its test)
    context: str = ""  # how the server under test reaches the database, when not directly

    def record(self, suite: str, exchanges: list[Exchange]) -> None:
        suite += self.context
        self.answers.setdefault(suite, Counter()).update(exchange.status for exchange in exchanges)
        span = max(e.received_at for e in exchanges) - min(e.sent_at for e in exchanges)
        self.seconds[suite] = self.seconds.get(suite, 0) + span

    def add_findings(self, lost: int, doubled: int) -> None:
        self.lost += lost
        self.doubled += doubled

    def lines(self) -> list[str]:
        total = sum(sum(counter.values()) for counter in self.answers.values())
        lines = [f"requests: {total:,}"]
        for suite, counter in self.answers.items():
            answers = ", ".join(
                f"{'no answer' if status is None else status}: {count:,}"
                for status, count in sorted(counter.items(), key=lambda item: (item[0] is None, item[0] or 0))
            )
            count, seconds = sum(counter.values()), self.seconds[suite]
            lines.append(f"  {suite}: {count:,} in {seconds:.1f}s, {count / seconds:,.0f}/s ({answers})")
        outages = ", ".join(f"{seconds:.1f}s" for seconds in self.outages) or "none"
        lines += [
            f"faults injected: {self.workers_killed} gunicorn workers killed (SIGKILL), "
            f"{self.postgres_restarts} PostgreSQL restarts (back to 200 after: {outages})",
            f"server errors (5xx other than 503): {self.server_errors()}",
            f"lost (a success answer not stored): {self.lost}",
            f"doubled (stored or credited twice): {self.doubled}",
            f"ledger_audit runs after ledger suites: {self.audits}, all clean",
        ]
        return lines

    def server_errors(self) -> int:
        return sum(
            count
            for counter in self.answers.values()
            for status, count in counter.items()
            if status is not None and status >= 500 and status != 503
        )


FIGURES = Figures()
