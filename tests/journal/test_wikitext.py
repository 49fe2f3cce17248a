"""WikiText and HTML to the words a reader of the tiddler sees."""

from __future__ import annotations

import pytest

from cohost.journal.wikitext import plain_text


@pytest.mark.parametrize(
    ("text", "words"),
    [
        (
            '<a href="https://gr.com/b/1" style="x"><img src="c.jpg" /></a><a href="u">Rogue '
            'Protocol</a> by <a href="v">Martha Wells</a><br/>My rating: 4 of 5 stars',
            "Rogue Protocol by Martha Wells\nMy rating: 4 of 5 stars",
        ),
        ("Yep.\n\n{{||$:/jab/viewtemplate/book}}", "Yep."),
        ("[[The macro|Dictionary Macro]] by [[S.S.]]", "The macro by S.S."),
        ("[ext[my blog|https://jack.baty.net/]] and [img[pic.png]]", "my blog and"),
        ("<<list-links filter:'[tag[x]]'>> the rest", "the rest"),
        ("`<$macrocall $name=x word={{{ [<t>] }}} />` call", "call"),
        ("''bold'', //italic//, __under__ and ~~gone~~", "bold, italic, under and gone"),
        ("! Heading\n* one\n# two\n> quoted\n---", "Heading\none\ntwo\nquoted"),
        ("Tom &amp; Jerry &lt;3", "Tom & Jerry <3"),
        # text without markup is left as it is
        ("see https://example.com/a//b now", "see https://example.com/a//b now"),
        ("a < b and c > d, <3 chat", "a < b and c > d, <3 chat"),
        ("plain words.\n\nA second paragraph.", "plain words.\n\nA second paragraph."),
    ],
)
def test_markup_goes_and_the_words_stay(text: str, words: str) -> None:
    assert plain_text(text) == words
