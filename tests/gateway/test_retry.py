"""gateway.retry.Backoff: full jitter under an exponential, capped ceiling; reset on success."""

from __future__ import annotations

import asyncio

import pytest

from gateway.retry import Backoff


class Rand:
    """A scripted random(): returns the given values in turn, then the last one."""

    def __init__(self, *values: float) -> None:
        self.values = list(values)

    def __call__(self) -> float:
        return self.values.pop(0) if len(self.values) > 1 else self.values[0]


def test_ceiling_doubles_up_to_the_cap() -> None:
    b = Backoff(0.5, 30.0, rand=Rand(0.999999))
    ceilings = []
    for _ in range(10):
        ceilings.append(b.ceiling)
        b.next_delay()
    assert ceilings == [0.5, 1.0, 2.0, 4.0, 8.0, 16.0, 30.0, 30.0, 30.0, 30.0]
    assert b.attempts == 10


def test_full_jitter_draws_below_the_ceiling() -> None:
    b = Backoff(1.0, 100.0, rand=Rand(0.0, 0.5, 0.25))
    assert b.next_delay() == 0.0  # ceiling 1
    assert b.next_delay() == 1.0  # half of 2
    assert b.next_delay() == 1.0  # a quarter of 4


def test_real_random_stays_within_bounds() -> None:
    b = Backoff(0.2, 3.0)
    for _ in range(200):
        ceiling = b.ceiling
        d = b.next_delay()
        assert 0.0 <= d < ceiling <= 3.0


def test_reset_after_a_success_starts_over() -> None:
    b = Backoff(0.5, 30.0, rand=Rand(0.5))
    for _ in range(5):
        b.next_delay()
    assert b.ceiling == 16.0 and b.attempts == 5
    b.reset()
    assert b.ceiling == 0.5 and b.attempts == 0
    assert b.next_delay() == 0.25


def test_server_hint_lengthens_the_wait_but_never_past_the_cap() -> None:
    b = Backoff(0.1, 5.0, rand=Rand(0.5))
    assert b.next_delay(at_least=2.0) == 2.0
    assert b.next_delay(at_least=60.0) == 5.0  # Retry-After: 60 is capped
    assert b.next_delay(at_least=0.0) == 0.2  # no hint: the jitter (0.5 of 0.4)
    assert b.next_delay(at_least=None) == 0.4


def test_many_failures_never_overflow() -> None:
    b = Backoff(1e-3, 1e300, factor=10.0, rand=Rand(0.5))
    for _ in range(2000):
        d = b.next_delay()
    assert d == 0.5e300 and b.ceiling == 1e300


def test_wait_and_sleep_use_the_injected_sleep() -> None:
    slept: list[float] = []

    async def fake_sleep(seconds: float) -> None:
        slept.append(seconds)

    b = Backoff(1.0, 8.0, rand=Rand(0.5), sleep=fake_sleep)

    async def main() -> None:
        assert await b.wait() == 0.5
        assert await b.wait() == 1.0
        d = b.next_delay()
        await b.sleep(d)

    asyncio.run(main())
    assert slept == [0.5, 1.0, 2.0]


def test_default_sleep_is_asyncio_sleep() -> None:
    b = Backoff(0.001, 0.002)

    async def main() -> float:
        loop = asyncio.get_running_loop()
        t0 = loop.time()
        d = await b.wait()
        assert loop.time() - t0 >= d * 0.5  # it did sleep (event-loop clock resolution)
        return d

    assert 0.0 <= asyncio.run(main()) < 0.001


@pytest.mark.parametrize(("initial", "factor"), [(0.0, 2.0), (-1.0, 2.0), (1.0, 0.5)])
def test_bad_parameters(initial: float, factor: float) -> None:
    with pytest.raises(ValueError):
        Backoff(initial, 10.0, factor=factor)


def test_cap_below_initial_is_the_initial() -> None:
    b = Backoff(2.0, 1.0, rand=Rand(0.999))
    assert b.max_s == 2.0 and b.ceiling == 2.0
    b.next_delay()
    assert b.ceiling == 2.0
