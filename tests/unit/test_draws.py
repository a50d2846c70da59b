"""DoubleStream: a random.Random's own doubles, read ahead in blocks, and event ids drawn
in one go: the same values, in the same order, as the generator gives one by one."""

from __future__ import annotations

import random

import pytest

from widget_factory.core.draws import DoubleStream, event_id_text
from widget_factory.core.ids import IdSource


def _mixed(rng: random.Random, steps: int, choices: random.Random) -> list[float]:
    """random, uniform and gauss in a random order (gauss keeps half a pair between calls)."""
    out = []
    for _ in range(steps):
        kind = choices.randrange(3)
        if kind == 0:
            out.append(rng.random())
        elif kind == 1:
            out.append(rng.uniform(-5.0, 50.0))
        else:
            out.append(rng.gauss(10.0, 3.0))
    return out


@pytest.mark.parametrize("seed", [0, 1, 7, 2**40 + 3])
def test_a_stream_gives_its_generators_doubles_in_order(seed: int) -> None:
    source = random.Random(seed)
    source.random()  # a state part-way through the twister's block
    source.gauss(0.0, 1.0)  # and half a gauss pair kept
    reference = random.Random()
    reference.setstate(source.getstate())
    stream = DoubleStream(source)
    # across several refills of the stream's block
    assert _mixed(stream, 150_000, random.Random(seed)) == _mixed(
        reference, 150_000, random.Random(seed)
    )


def test_peek_reads_ahead_and_seek_takes_what_was_read() -> None:
    reference = random.Random(5)
    stream = DoubleStream(random.Random(5))
    first = stream.random()
    ahead = stream.peek(100_000).tolist()  # more than a block: the stream refills
    assert first == reference.random()
    assert ahead == [reference.random() for _ in range(100_000)]
    start = stream.position
    stream.seek(start + 10)
    assert stream.random() == ahead[10]
    stream.seek(start)  # given back: read again
    assert stream.random() == ahead[0]


def test_the_generator_given_is_left_untouched() -> None:
    source = random.Random(9)
    before = source.getstate()
    stream = DoubleStream(source)
    stream.random()
    assert source.getstate() == before


def test_a_stream_refuses_what_it_cannot_draw_the_same() -> None:
    stream = DoubleStream(random.Random(1))
    with pytest.raises(NotImplementedError):
        stream.getrandbits(32)
    with pytest.raises(NotImplementedError):
        stream.randrange(10)
    with pytest.raises(NotImplementedError):
        stream.seed(3)
    with pytest.raises(NotImplementedError):
        stream.getstate()


@pytest.mark.parametrize("seed", range(20))
def test_event_ids_drawn_together_are_the_ids_drawn_one_by_one(seed: int) -> None:
    rng, alone = random.Random(seed), IdSource(random.Random(seed))
    for count in (1, 2, 0, 7, 520, 3):
        text = event_id_text(rng, count).decode()
        assert [text[i : i + 36] for i in range(0, 36 * count, 36)] == [
            alone.event_id() for _ in range(count)
        ]
    assert IdSource(rng).event_id() == alone.event_id()  # the generator is where it was
