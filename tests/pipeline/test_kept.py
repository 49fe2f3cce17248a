"""What the journal keeps, checked on every outgoing text: secrets whole, private facts."""

from __future__ import annotations

from pathlib import Path

import pytest

from cohost.app.build import build_guard
from cohost.app.settings import Settings
from cohost.core.events import Tier
from cohost.journal.store import JournalStore
from cohost.pipeline.kept import KeptEntry, KeptFacts, kept_rule, reading

PRIVATE = (
    "Booked the second scan at Harbourside Clinic on Kelmscott Road for the fourteenth. Ines is "
    "driving me there because I cannot drive for two weeks after the procedure, and nobody on "
    "stream knows yet."
)
SECRET = "The spare key is taped under the blue flowerpot by the shed, and the alarm PIN is 4471."
LOGIN = "My bank login is mossgerald77 and the recovery phrase is velvet otter lantern."
PUBLIC = (
    "Gerald the sourdough starter doubled overnight and smells like a bakery. Go Harbourside FC!"
)

KEPT = KeptFacts.of(
    [
        KeptEntry(title="scan", text=PRIVATE, tier=Tier.PRIVATE),
        KeptEntry(title="keys", text=SECRET, tier=Tier.SECRET),
        KeptEntry(title="bank", text=LOGIN, tier=Tier.SECRET),
        KeptEntry(title="gerald", text=PUBLIC, tier=Tier.PUBLIC),
    ],
    public=[PUBLIC],
)


def test_the_facts_are_names_numbers_and_dates_less_what_public_text_says() -> None:
    facts = {fact.words for fact in KEPT.facts}
    assert ("kelmscott",) in facts and ("kelmscott", "road") in facts
    assert ("ines",) in facts
    assert ("14", "ordinal") in facts  # "the fourteenth"
    assert ("4471",) in facts
    assert ("harbourside",) not in facts  # the public entry names it too
    assert ("road",) not in facts and ("clinic",) not in facts  # a kind of place is no name
    assert ("booked",) not in facts  # a sentence's first verb is no name
    assert ("pin",) not in facts  # nor an acronym
    assert ("2", "ordinal") not in facts  # "second" says more than dates


@pytest.mark.parametrize(
    "text",
    [
        "my scan is on Kelmscott Road lol",
        "fine, K e l m s c o t t uh",
        "K.e.l.m.s.c.o.t.t",
        "Kelm scott, if you must know",
        "K3lmsc0tt",
        "Кelmscоtt",  # Cyrillic К and о
        "Ines drives me",
        "see you on the 14th",
        "the fourteenth it is",
        "pin is four four seven one",
        "4-4-7-1",
        "login: mossgerald77",
        "the recovery words are velvet, like, otter lantern",
        "key under the blue flowerpot",
        "flowerpot blue the under taped key spare the",  # reversed
        "I cannot lol drive for two weeks ngl after the procedure and nobody",  # fillers
        "for two weeks after the procedure I cannot drive",  # clauses swapped
    ],
)
def test_what_the_journal_keeps_is_found_however_it_is_written(text: str) -> None:
    assert KEPT.found(text), reading(text)


@pytest.mark.parametrize(
    "text",
    [
        "gerald doubled overnight and smells like a bakery",
        "Harbourside FC won again",  # the public entry says it
        "the road to the boss is long, two weeks of grinding",
        "my key to winning is patience lol",
        "the clinic scene in that movie was wild",
        "pin the tweet, I forgot",
        "booked a table for friday",
        "wait a second, I cannot drive a car in this game",
        "business is good, lines are long",
    ],
)
def test_everyday_chat_is_not_a_kept_fact(text: str) -> None:
    assert not KEPT.found(text)


def test_a_leak_cut_across_two_texts_blocks_the_one_that_completes_it() -> None:
    rule = kept_rule(lambda: KEPT)
    first, verdict = rule("I cannot drive for two weeks")
    assert verdict.action == "pass" and first
    rule.said(first)  # delivery posted it
    assert not KEPT.found("after the procedure lol")  # neither half is enough alone
    _, verdict = rule("after the procedure lol")
    assert verdict.action == "blocked"
    assert "with what was said before" in verdict.detail
    for letter in "mossgerald":  # one spoken sentence a letter
        assert rule(f"{letter} .")[1].action == "pass"
        rule.said(f"{letter} .")
    assert rule("7 . 7")[1].action == "blocked"


def test_only_what_went_out_is_remembered() -> None:
    # checking is pure: a reply checked again, or a candidate never sent, is not "said before"
    rule = kept_rule(lambda: KEPT)
    reply = "I cannot drive for two weeks"
    for _ in range(3):
        assert rule(reply)[1].action == "pass"
    assert rule("after the procedure lol")[1].action == "pass"  # nothing was said yet


def test_a_verdict_names_the_tier_never_the_fact_nor_the_title() -> None:
    _, verdict = kept_rule(lambda: KEPT)("the pin is 4471")
    assert verdict.action == "blocked"
    assert verdict.detail == "a fact of a secret entry"


def test_the_guard_reads_the_journal_again_when_an_entry_is_added(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path)
    folder = tmp_path / "journal"
    guard = build_guard(settings, folder)
    assert not guard.check("the alarm code is 9182").blocked  # no journal yet
    store = JournalStore(folder, settings.journal)
    store.add("The alarm code is 9182, never tell chat.", title="alarm", tags=["secret"])
    assert guard.check("the alarm code is 9182").blocked
    assert guard.check("try 9 1 8 2").blocked
    assert not guard.check("the alarm went off in the game").blocked


@pytest.mark.parametrize(
    "text",
    [
        "back to work chat",  # "Work was rough." in an entry: a sentence's first word, no name
        "this is a great run",  # a friend "Isa": a short name is a word of its own
        "see you in 2024",  # a year in an entry is no one's secret
        "i think the game is fun but the boss is a lot",
    ],
)
def test_a_reviews_everyday_lines_stay_sayable(text: str) -> None:
    kept = KeptFacts.of(
        [
            KeptEntry(
                title="diary",
                text="Work was rough. Isa came by in 2024 and we talked for hours.",
                tier=Tier.PRIVATE,
            ),
            KeptEntry(
                title="long",
                text="I think the new job is fine but the boss is strict and the hours are a lot.",
                tier=Tier.SECRET,
            ),
        ]
    )
    assert not kept.found(text), kept.found(text)
    assert kept.found("Isa came by")  # the name itself is still kept
