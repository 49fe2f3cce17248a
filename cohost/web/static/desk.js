// The twin's desk: talk with the twin in private (its reply streams in, its voice plays here),
// and teach it by choosing among candidates with the keyboard. Everything shown goes in through
// textContent: no text is ever parsed as HTML.
"use strict";
(() => {
  const $ = (id) => document.getElementById(id);
  const csrf = document.querySelector('meta[name="csrf"]').content;
  let lesson = null; // {candidates, source} of the prompt shown, until it is decided
  let source = "typed";
  let busy = false;
  let twinName = "twin";

  function el(tag, cls, text) {
    const node = document.createElement(tag);
    if (cls) node.className = cls;
    if (text !== undefined) node.textContent = text;
    return node;
  }

  function notice(text, error) {
    const box = $("notice");
    box.textContent = text;
    box.classList.toggle("error", !!error);
    box.hidden = !text;
  }

  async function call(path, body) {
    const response = await fetch(path, {
      method: body === undefined ? "GET" : "POST",
      headers: body === undefined ? {} : { "content-type": "application/json", "x-csrf-token": csrf },
      body: body === undefined ? undefined : JSON.stringify(body),
      credentials: "same-origin",
    });
    let data = {};
    try { data = await response.json(); } catch (_) { /* an empty or broken body */ }
    if (!response.ok) throw new Error(data.error || response.status + " " + response.statusText);
    return data;
  }

  function renderCounts(c) {
    if (!c) return;
    const box = $("counts");
    box.replaceChildren();
    const add = (id, n, what) => {
      const span = el("span");
      span.id = id;
      span.append(el("b", "", String(n)), document.createTextNode(" " + what));
      box.append(span);
    };
    add("count-pairs", c.pairs, "pairs");
    add("count-examples", c.examples, "examples");
    add("count-choices", c.choices, `choices (${c.picked} picked, ${c.bad} all bad, ${c.written} written)`);
    document.body.dataset.pairs = c.pairs;
    document.body.dataset.examples = c.examples;
  }

  // ---- the voice: each piece's WAV, one after another, in one <audio> -------------------------

  const voice = $("voice");
  const queue = [];
  let played = 0;
  function playNext() {
    if (!voice.paused && !voice.ended && voice.currentSrc) return;
    const next = queue.shift();
    if (!next) return;
    voice.src = next;
    voice.play().catch((err) => notice("The voice could not play here: " + err.message, true));
  }
  voice.addEventListener("loadedmetadata", () => {
    played += 1;
    document.body.dataset.audioPieces = played;
    document.body.dataset.audioSeconds = String(voice.duration);
  });
  voice.addEventListener("ended", playNext);
  function say(url) {
    queue.push(url);
    if (voice.paused || voice.ended) playNext();
  }

  // ---- talking ------------------------------------------------------------------------------

  function renderHits(hits) {
    const box = $("recalled");
    box.replaceChildren();
    if (!hits.length) box.append(el("li", "quiet", "nothing recalled"));
    for (const h of hits) {
      const chip = el("li", "hit " + h.tier, `${h.title} · ${h.tier}`);
      chip.title = "score " + Number(h.score).toFixed(2);
      box.append(chip);
    }
  }

  function renderSimulated(lines) {
    const box = $("simulated");
    box.replaceChildren();
    if (!lines.length) box.append(el("li", "quiet", "nothing simulated"));
    for (const line of lines) {
      const li = el("li", line.is_twin ? "twin" : "");
      li.append(el("b", "", line.speaker + ": "), document.createTextNode(line.text));
      box.append(li);
    }
  }

  function said(login, text, cls) {
    const li = el("li", cls || "");
    li.append(el("b", "", login), el("span", "text", text));
    $("conversation").append(li);
    li.scrollIntoView({ block: "nearest" });
    return li;
  }

  async function talk(text, as) {
    said(as || "you", text);
    const reply = said(twinName, "", "twin streaming");
    const response = await fetch("/desk/api/talk", {
      method: "POST",
      headers: { "content-type": "application/json", "x-csrf-token": csrf },
      body: JSON.stringify({ text, as }),
      credentials: "same-origin",
    });
    if (!response.ok) {
      let why = response.statusText;
      try { why = (await response.json()).error || why; } catch (_) { /* not JSON */ }
      reply.remove();
      throw new Error(why);
    }
    const reader = response.body.getReader();
    const decoder = new TextDecoder();
    let buffer = "";
    for (;;) {
      const { value, done } = await reader.read();
      if (value) buffer += decoder.decode(value, { stream: true });
      let end;
      while ((end = buffer.indexOf("\n")) >= 0) {
        const line = buffer.slice(0, end);
        buffer = buffer.slice(end + 1);
        if (line.trim()) handle(JSON.parse(line), reply);
      }
      if (done) break;
    }
  }

  function handle(event, reply) {
    const data = event.data;
    const text = reply.querySelector(".text");
    switch (event.topic) {
      case "turn/start":
        reply.dataset.turn = data.turn_id;
        break;
      case "turn/hits":
        renderHits(data.hits || []);
        break;
      case "turn/simulated":
        renderSimulated(data.lines || []);
        break;
      case "desk/piece":
        text.textContent = (text.textContent ? text.textContent + " " : "") + data.text;
        reply.dataset.pieces = String(Number(reply.dataset.pieces || 0) + 1);
        if (data.audio) say(data.audio);
        break;
      case "desk/reply":
        reply.classList.remove("streaming");
        reply.dataset.outcome = data.outcome;
        if (data.outcome === "answered") {
          text.textContent = data.reply; // the whole reply, as the guard let it out
        } else {
          reply.classList.add("silent");
          text.textContent = `no reply (${data.outcome}): ${data.reason}`;
        }
        break;
    }
  }

  $("talk-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    const input = $("message");
    const text = input.value.trim();
    if (!text || busy) return;
    busy = true;
    input.value = "";
    notice("");
    try {
      await talk(text, $("as").value.trim());
    } catch (err) {
      notice(err.message, true);
    } finally {
      busy = false;
      input.focus();
    }
  });

  // ---- teaching -----------------------------------------------------------------------------

  function renderLesson(data) {
    renderCounts(data.counts);
    const lines = $("prompt-lines");
    const list = $("candidates");
    lines.replaceChildren();
    list.replaceChildren();
    if (data.done) {
      lesson = null;
      $("progress").textContent = "No more prompts in the file.";
      return;
    }
    lesson = data;
    $("progress").textContent = `Prompt ${data.number} · ${data.where || data.source}`;
    for (const line of data.lines) {
      const li = el("li");
      li.append(el("b", "", line.login + ": "), document.createTextNode(line.text));
      lines.append(li);
    }
    if (!data.candidates.length) list.append(el("li", "quiet", "The twin has no reply to this one: n for the next, w to write one."));
    data.candidates.forEach((c, i) => {
      const li = el("li", "candidate");
      li.dataset.index = String(i);
      li.append(el("span", "key", String(i + 1)), el("span", "text", c.text), el("span", "model", c.model));
      list.append(li);
    });
    document.body.dataset.candidates = String(data.candidates.length);
  }

  async function next(text) {
    if (busy) return;
    busy = true;
    notice("");
    lesson = null; // the last prompt's candidates go: keys now wait for the new ones
    $("candidates").replaceChildren();
    $("prompt-lines").replaceChildren();
    $("progress").textContent = "Making candidates…";
    try {
      const body = text ? { text, as: $("as").value.trim() } : {};
      renderLesson(await call("/desk/api/teach/next", body));
      document.activeElement.blur(); // the keys are for choosing now
    } catch (err) {
      $("progress").textContent = "";
      notice(err.message, true);
    } finally {
      busy = false;
    }
  }

  async function choose(body, mark) {
    if (!lesson || busy) return;
    busy = true;
    try {
      const done = await call("/desk/api/teach/choose", body);
      mark();
      renderCounts(done.counts);
      const what = done.kind === "written" ? "your answer" : done.kind === "bad" ? "all bad" : "your pick";
      notice(`Stored ${what}: ${done.pairs} pair(s)` + (done.example ? " and an example." : "."));
      lesson = null;
    } catch (err) {
      notice(err.message, true);
    } finally {
      busy = false;
    }
    if (!lesson && source !== "typed") await next("");
    else if (!lesson) $("prompt").focus();
  }

  function openWrite() {
    if (!lesson) return;
    $("write-form").hidden = false;
    $("answer").value = "";
    $("answer").focus();
  }

  $("write-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    const answer = $("answer").value.trim();
    if (!answer) return;
    $("write-form").hidden = true;
    await choose({ action: "write", text: answer }, () => {
      for (const li of $("candidates").children) li.classList.add("bad");
    });
  });
  $("answer").addEventListener("keydown", (event) => {
    if (event.key === "Escape") {
      $("write-form").hidden = true;
      $("answer").blur();
    }
  });

  $("prompt-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    const text = $("prompt").value.trim();
    $("prompt").value = "";
    if (text === "n" || !text) await next("");
    else await next(text);
  });

  $("source-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    const kind = $("source-kind").value;
    const path = $("source-path").value.trim();
    try {
      const body = kind === "typed" ? {} : { [kind]: path };
      const done = await call("/desk/api/teach/source", body);
      source = kind;
      notice("Prompts from " + done.source);
      if (kind !== "typed") await next("");
    } catch (err) {
      notice(err.message, true);
    }
  });

  document.addEventListener("keydown", async (event) => {
    const typing = event.target instanceof HTMLInputElement || event.target instanceof HTMLSelectElement;
    if (typing || event.ctrlKey || event.metaKey || event.altKey) return;
    const key = event.key.toLowerCase();
    if (/^[1-4]$/.test(key) && lesson && Number(key) <= lesson.candidates.length) {
      event.preventDefault();
      const index = Number(key) - 1;
      await choose({ action: "pick", index }, () => {
        for (const li of $("candidates").children) {
          li.classList.add(li.dataset.index === String(index) ? "chosen" : "bad");
        }
      });
    } else if (key === "b" && lesson && lesson.candidates.length) {
      event.preventDefault();
      await choose({ action: "bad" }, () => {
        for (const li of $("candidates").children) li.classList.add("bad");
      });
    } else if (key === "w" && lesson) {
      event.preventDefault();
      openWrite();
    } else if (key === "u") {
      event.preventDefault();
      try {
        const done = await call("/desk/api/teach/undo", {});
        renderCounts(done.counts);
        notice(done.undone ? `Took back the last choice (${done.undone}).` : "Nothing to undo.");
      } catch (err) {
        notice(err.message, true);
      }
    } else if (key === "n") {
      event.preventDefault();
      if (source === "typed") $("prompt").focus();
      else await next("");
    }
  });

  call("/desk/api/counts")
    .then((data) => {
      renderCounts(data.counts);
      twinName = data.twin;
      $("who").textContent = `${data.twin}, for ${data.streamer} · ${data.models}`;
      document.body.dataset.ready = "1";
    })
    .catch((err) => notice(err.message, true));
})();
