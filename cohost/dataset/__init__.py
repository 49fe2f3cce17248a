"""Training data for the twin: JSON lines that TRL and axolotl read without conversion.

Every text is rendered by `cohost.text.render` (the simulator's own renderer and
`prompts/chat.toml`), so the twin sees at inference exactly the format it was trained on.

Files and fields
----------------
- `cohost dataset build` and `cohost dataset cornell` write `{"text": ...}`: the header, then one
  `speaker: text` line per chat line, ending on (and including the newline of) a line of the
  twin. Multi-user chat and runs of lines from one user are kept as they are. This is plain text
  completion: TRL `SFTTrainer` (dataset_text_field "text", its default) and axolotl
  (`type: completion`, field `text`) read it as is. `build` also writes `OUT.report.json`: lines
  read and kept, and per cleaning rule the lines removed or changed.
- `cohost dataset dpo` writes `{"prompt", "chosen", "rejected"}`: the prompt is the window the
  reply answered, ending with the twin's turn left open (`render_prompt`); chosen and rejected
  are the rest of that line with its newline. That is TRL `DPOTrainer`'s standard preference
  format; axolotl (`rl: dpo`) reads it with its user-defined type naming the same three fields
  and `{prompt}`, `{chosen}`, `{rejected}` as formats. The pairing rule is in
  `cohost.dataset.dpo`.
- `cohost dataset seed` writes `{"prompt"}` (one viewer line, the twin's turn open), or with
  `--continue` `{"prompt", "completion"}`, TRL's prompt-completion format.

Cleaning rules of `build` (each counted; `--no-RULE` or `--rules a,b` to choose)
-------------------------------------------------------------------------------
bots, botlike (music bots, adverts, timers), commands, moderated (deleted lines and lines of
timed-out or banned users, found by bounded look-ahead), context (attachments, bare links,
"look at this"; more patterns in settings or `--context-pattern`), short, duplicates (lines and
whole examples), personal
(e-mail addresses, phone numbers, street addresses become `<email>`, `<phone>`, `<address>`).
"""

from cohost.dataset.build import BuildOptions, BuildReport, DatasetBuilder
from cohost.dataset.clean import RULES, LineRules, ModerationBuffer, Tally, scrub_personal
from cohost.dataset.cornell import CornellError, CornellFiles, Corpus, film_examples, resolve_film
from cohost.dataset.dpo import Feedback, PairReport, dpo_pairs, read_feedback
from cohost.dataset.seed import Opening, read_openings, seed_prompt

__all__ = [
    "RULES",
    "BuildOptions",
    "BuildReport",
    "CornellError",
    "CornellFiles",
    "Corpus",
    "DatasetBuilder",
    "Feedback",
    "LineRules",
    "ModerationBuffer",
    "Opening",
    "PairReport",
    "Tally",
    "dpo_pairs",
    "film_examples",
    "read_feedback",
    "read_openings",
    "resolve_film",
    "scrub_personal",
    "seed_prompt",
]
