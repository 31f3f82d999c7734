"""What a training prints while it runs: a tqdm bar on a terminal, plain lines in a log file."""

from __future__ import annotations

import sys
import time

from tqdm import tqdm

# Without a terminal, a progress line at most this often (seconds), plus one per epoch.
PLAIN_PROGRESS_SECONDS = 60.0


class TrainingProgress:
    """A tqdm bar on a terminal; otherwise plain lines on stderr, one a minute and one per epoch."""

    def __init__(self, total_examples: int, done_examples: int) -> None:
        self.bar = (
            tqdm(total=total_examples, initial=done_examples, unit="ex", unit_scale=True, dynamic_ncols=True)
            if sys.stderr.isatty()
            else None
        )
        self.last_line = time.monotonic()
        self.accuracy5: float | None = None

    def advance(self, examples: int) -> None:
        if self.bar is not None:
            self.bar.update(examples)

    def status(self, examples: int, loss: float, lr: float, accuracy5: float | None) -> None:
        """Latest loss and learning rate; validation accuracy at 5 % once there is one."""
        if accuracy5 is not None:
            self.accuracy5 = accuracy5
        if self.bar is not None:
            shown = {"loss": f"{loss:.4f}", "lr": f"{lr:.2e}"}
            if self.accuracy5 is not None:
                shown["acc5"] = f"{self.accuracy5:.3f}"
            self.bar.set_postfix(shown, refresh=False)
        elif time.monotonic() - self.last_line >= PLAIN_PROGRESS_SECONDS:
            self.line(f"examples {examples}  loss {loss:.4f}  lr {lr:.2e}")

    def line(self, text: str) -> None:
        self.last_line = time.monotonic()
        if self.bar is not None:
            self.bar.write(text, file=sys.stderr)
        else:
            print(f"mathformer train: {text}", file=sys.stderr, flush=True)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
